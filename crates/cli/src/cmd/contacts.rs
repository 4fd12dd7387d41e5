//! `wacrm contacts`: the Contacts dashboard from the shell.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use wacrm_core::contacts::import::{ImportOptions, ImportReport};
use wacrm_core::contacts::{self, ContactChanges, ContactFilter, FileFormat, NewContact, Sort};
use wacrm_core::{Error, Stage};

use crate::cmd::rows;
use crate::context::Context;
use crate::output::Format;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a contact; the phone is normalised to E.164 (numbers without a country code are read in
    /// the business's region).
    ///
    /// Example: wacrm contacts add --phone "+1 415 555 2671" --name "Ann Lee" --tag vip
    Add {
        /// Phone number, with or without the country code.
        #[arg(long)]
        phone: String,
        #[arg(long)]
        name: Option<String>,
        /// Starting stage (default New).
        #[arg(long)]
        stage: Option<Stage>,
        /// A tag; repeat for several.
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
    },
    /// Change a contact's name or phone.
    ///
    /// Example: wacrm contacts edit 42 --name "Ann Lee-Smith" --phone +14155550000
    Edit {
        /// Contact id, or its phone starting with +.
        contact: String,
        /// New name; an empty string clears it.
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        phone: Option<String>,
    },
    /// Delete a contact with its messages, tags and history (asks first on a terminal).
    ///
    /// Example: wacrm contacts rm 42 --yes
    Rm {
        /// Contact id, or its phone starting with +.
        contact: String,
        /// Do not ask; required when stdin is not a terminal.
        #[arg(long)]
        yes: bool,
    },
    /// Show one contact.
    ///
    /// Example: wacrm contacts show +14155552671
    Show {
        /// Contact id, or its phone starting with +.
        contact: String,
    },
    /// List contacts, filtered and sorted, one page at a time.
    ///
    /// Example: wacrm contacts list --stage Interested --tag vip --sort name --limit 20
    List(ListArgs),
    /// Search contacts by a piece of their name or phone.
    ///
    /// Example: wacrm contacts search "lee" --stage New
    Search {
        /// A substring of the name or phone (any case; phone punctuation is ignored).
        query: String,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Add tags to a contact (a tag it has in any case is kept once).
    ///
    /// Example: wacrm contacts tag 42 vip "hot lead"
    Tag {
        /// Contact id, or its phone starting with +.
        contact: String,
        #[arg(required = true)]
        tags: Vec<String>,
    },
    /// Remove tags from a contact.
    ///
    /// Example: wacrm contacts untag 42 vip
    Untag {
        /// Contact id, or its phone starting with +.
        contact: String,
        #[arg(required = true)]
        tags: Vec<String>,
    },
    /// List the business's tags with counts, or rename or delete one everywhere.
    ///
    /// Example: wacrm contacts tags rename "hot lead" hot
    Tags {
        #[command(subcommand)]
        action: Option<TagsCommand>,
    },
    /// Import contacts from CSV (header `phone,name,stage,tags`, tags `;`-separated) or JSON lines.
    ///
    /// Rows with a bad phone, a bad stage or a phone already seen in the file are reported with their
    /// line numbers; the rest are created, or merged into the existing contacts.
    ///
    /// Example: wacrm contacts import leads.csv --dry-run
    Import {
        /// The file, or - for stdin.
        file: PathBuf,
        /// csv or jsonl (default: from the file's extension; csv for stdin).
        #[arg(long)]
        format: Option<FileFormat>,
        /// Overwrite existing contacts' names and stages with the file's (tags are always added).
        #[arg(long)]
        update: bool,
        /// Validate and report what would happen; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Rows per database batch.
        #[arg(long, default_value_t = contacts::import::DEFAULT_CHUNK)]
        chunk_size: usize,
    },
    /// Export contacts (all, or a filtered set) as CSV or JSON lines; the file imports back unchanged.
    ///
    /// Example: wacrm contacts export --tag vip --format jsonl --output vip.jsonl
    Export {
        #[command(flatten)]
        filter: FilterArgs,
        /// csv or jsonl (default: from --output's extension, else csv).
        #[arg(long)]
        format: Option<FileFormat>,
        /// Where to write (default stdout).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Mark a contact as opted out of marketing (broadcasts skip it).
    ///
    /// Example: wacrm contacts opt-out 42
    OptOut {
        /// Contact id, or its phone starting with +.
        contact: String,
    },
    /// Make an opted-out contact reachable again.
    ///
    /// Example: wacrm contacts opt-in 42
    OptIn {
        /// Contact id, or its phone starting with +.
        contact: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TagsCommand {
    /// Rename a tag (any case) on every contact.
    ///
    /// Example: wacrm contacts tags rename "hot lead" hot
    Rename { from: String, to: String },
    /// Remove a tag from every contact.
    ///
    /// Example: wacrm contacts tags delete expo-2024
    Delete { tag: String },
}

/// Which contacts: every flag narrows the set.
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// Only this stage.
    #[arg(long)]
    pub stage: Option<Stage>,
    /// Contacts with any of these tags; repeat for several.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags_any: Vec<String>,
    /// Contacts with all of these tags; repeat for several.
    #[arg(long = "all-tags", value_name = "TAG")]
    pub tags_all: Vec<String>,
    /// Last active on or after (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub active_after: Option<DateTime<Utc>>,
    /// Last active before (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub active_before: Option<DateTime<Utc>>,
    /// Created on or after (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub created_after: Option<DateTime<Utc>>,
    /// Created before (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub created_before: Option<DateTime<Utc>>,
    /// Only opted-out contacts.
    #[arg(long, conflicts_with = "reachable")]
    pub opted_out: bool,
    /// Only contacts that have not opted out.
    #[arg(long)]
    pub reachable: bool,
}

impl FilterArgs {
    pub fn filter(&self, query: Option<String>) -> ContactFilter {
        ContactFilter {
            query,
            stage: self.stage,
            tags_any: self.tags_any.clone(),
            tags_all: self.tags_all.clone(),
            active_after: self.active_after,
            active_before: self.active_before,
            created_after: self.created_after,
            created_before: self.created_before,
            opted_out: match (self.opted_out, self.reachable) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            },
        }
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    filter: FilterArgs,
    /// Order: active (most recent first), name, created (newest first) or id.
    #[arg(long, default_value = "active")]
    sort: Sort,
    /// Rows per page (1-1000).
    #[arg(long, default_value_t = 50, value_parser = rows(contacts::MAX_PAGE))]
    limit: i64,
    /// Start after this cursor (the `next` of the previous page).
    #[arg(long, value_name = "CURSOR")]
    after: Option<String>,
}

/// `2025-01-31` (midnight UTC) or a full RFC 3339 time.
pub fn parse_time(input: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(input) {
        return Ok(time.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(input, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| format!("{input:?} is not a date: use YYYY-MM-DD or RFC 3339 (2025-01-31T09:00:00Z)"))
}

const COLUMNS: &[&str] = &["id", "phone", "name", "stage", "tags", "last_active", "opted_out_at"];

pub async fn run(ctx: &Context, command: Command) -> Result<()> {
    let scope = ctx.scope().await?;
    let pool = ctx.pool().await?;
    match command {
        Command::Add { phone, name, stage, tags } => {
            let contact = contacts::create(pool, &scope, &NewContact { phone, name, stage, tags }).await?;
            ctx.out.done(&format!("created contact {} ({})", contact.id, label(&contact)), &contact)
        }
        Command::Edit { contact, name, phone } => {
            let id = contacts::resolve(pool, &scope, &contact).await?;
            let contact = contacts::update(pool, &scope, id, &ContactChanges { name, phone }).await?;
            ctx.out.done(&format!("updated contact {} ({})", contact.id, label(&contact)), &contact)
        }
        Command::Rm { contact, yes } => {
            let id = contacts::resolve(pool, &scope, &contact).await?;
            let shown = contacts::get(pool, &scope, id).await?;
            if !yes {
                confirm(&format!(
                    "Delete contact {} ({}) with its messages, tags and history?",
                    shown.id,
                    label(&shown)
                ))?;
            }
            let deleted = contacts::delete(pool, &scope, id).await?;
            ctx.out.done(&format!("deleted contact {} ({})", deleted.id, label(&deleted)), &deleted)
        }
        Command::Show { contact } => {
            let id = contacts::resolve(pool, &scope, &contact).await?;
            ctx.out.record(&contacts::get(pool, &scope, id).await?)
        }
        Command::List(list) => print_page(ctx, &scope, pool, None, list).await,
        Command::Search { query, list } => print_page(ctx, &scope, pool, Some(query), list).await,
        Command::Tag { contact, tags } => {
            let id = contacts::resolve(pool, &scope, &contact).await?;
            let contact = contacts::add_tags(pool, &scope, id, &tags).await?;
            ctx.out.done(&format!("contact {} tags: {}", contact.id, contact.tags.join(", ")), &contact)
        }
        Command::Untag { contact, tags } => {
            let id = contacts::resolve(pool, &scope, &contact).await?;
            let contact = contacts::remove_tags(pool, &scope, id, &tags).await?;
            ctx.out.done(&format!("contact {} tags: {}", contact.id, contact.tags.join(", ")), &contact)
        }
        Command::Tags { action: None } => ctx.out.list(&contacts::tags(pool, &scope).await?, &["tag", "contacts"]),
        Command::Tags { action: Some(TagsCommand::Rename { from, to }) } => {
            let n = contacts::rename_tag(pool, &scope, &from, &to).await?;
            ctx.out.done(
                &format!("renamed {from:?} to {to:?} on {n} contacts"),
                &serde_json::json!({ "from": from, "to": to, "contacts": n }),
            )
        }
        Command::Tags { action: Some(TagsCommand::Delete { tag }) } => {
            let n = contacts::delete_tag(pool, &scope, &tag).await?;
            ctx.out
                .done(&format!("removed {tag:?} from {n} contacts"), &serde_json::json!({ "tag": tag, "contacts": n }))
        }
        Command::Import { file, format, update, dry_run, chunk_size } => {
            let format = format.unwrap_or_else(|| format_of(&file));
            let options = ImportOptions { format, update, dry_run, chunk_size };
            let report = import(ctx, &scope, pool, &file, &options).await?;
            print_import(ctx, &report)
        }
        Command::Export { filter, format, output } => {
            let format = format.unwrap_or_else(|| output.as_deref().map_or(FileFormat::Csv, format_of));
            let filter = filter.filter(None);
            let written = match &output {
                Some(path) => {
                    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
                    contacts::export::export(pool, &scope, &filter, format, file).await?
                }
                None => contacts::export::export(pool, &scope, &filter, format, std::io::stdout().lock()).await?,
            };
            if let Some(path) = output {
                eprintln!("exported {written} contacts to {}", path.display());
            }
            Ok(())
        }
        Command::OptOut { contact } => {
            let id = contacts::resolve(pool, &scope, &contact).await?;
            let contact = contacts::set_opted_out(pool, &scope, id, true, "manual").await?;
            ctx.out.done(&format!("contact {} ({}) opted out", contact.id, label(&contact)), &contact)
        }
        Command::OptIn { contact } => {
            let id = contacts::resolve(pool, &scope, &contact).await?;
            let contact = contacts::set_opted_out(pool, &scope, id, false, "manual").await?;
            ctx.out.done(&format!("contact {} ({}) can be messaged again", contact.id, label(&contact)), &contact)
        }
    }
}

fn label(contact: &contacts::Contact) -> String {
    match (&contact.name, &contact.phone) {
        (Some(name), Some(phone)) => format!("{name}, {phone}"),
        (Some(name), None) => name.clone(),
        (None, Some(phone)) => phone.clone(),
        (None, None) => "no name".into(),
    }
}

fn format_of(path: &std::path::Path) -> FileFormat {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("jsonl" | "ndjson" | "json") => FileFormat::Jsonl,
        _ => FileFormat::Csv,
    }
}

async fn print_page(
    ctx: &Context,
    scope: &wacrm_core::Scope,
    pool: &wacrm_core::db::Pool,
    query: Option<String>,
    list: ListArgs,
) -> Result<()> {
    let filter = list.filter.filter(query);
    let page = contacts::list(pool, scope, &filter, list.sort, list.after.as_deref(), list.limit).await?;
    if ctx.out.format == Format::Json {
        return ctx.out.record(&page);
    }
    ctx.out.list(&page.items, COLUMNS)?;
    if let Some(next) = &page.next {
        eprintln!("more: --after '{next}'");
    }
    Ok(())
}

/// Asks on a terminal; refuses without `--yes` when nobody can answer (scripts, cron).
pub fn confirm(question: &str) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::invalid(
            "refusing to delete without confirmation: stdin is not a terminal",
            "pass --yes to confirm in scripts",
        )
        .into());
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(Error::invalid("not confirmed; nothing was deleted", "answer y to delete, or pass --yes").into())
    }
}

async fn import(
    ctx: &Context,
    scope: &wacrm_core::Scope,
    pool: &wacrm_core::db::Pool,
    file: &std::path::Path,
    options: &ImportOptions,
) -> Result<ImportReport> {
    let (input, size): (Box<dyn std::io::Read + Send>, Option<u64>) = if file.as_os_str() == "-" {
        (Box::new(std::io::stdin()), None)
    } else {
        let opened = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        let size = opened.metadata().ok().map(|m| m.len());
        (Box::new(opened), size)
    };
    let bar = ctx.out.progress().then(|| {
        let bar = match size {
            Some(len) => ProgressBar::new(len).with_style(
                ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg} ({eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            ),
            None => ProgressBar::new_spinner(),
        };
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    });
    let show = |r: &ImportReport| {
        let line = format!(
            "{} rows: {} created, {} updated, {} unchanged, {} rejected",
            r.rows, r.created, r.updated, r.unchanged, r.rejected
        );
        match &bar {
            Some(bar) => {
                bar.set_position(r.bytes_read);
                bar.set_message(line);
            }
            // Progress lines are for people: with --json or --csv stderr carries errors only.
            None if ctx.out.format == Format::Table => eprintln!("{line}"),
            None => {}
        }
    };
    let report = contacts::import::import(pool, scope, input, options, show).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(report?)
}

fn print_import(ctx: &Context, report: &ImportReport) -> Result<()> {
    match ctx.out.format {
        Format::Json => ctx.out.record(report),
        Format::Csv => ctx.out.list(&report.rejected_rows, &["line", "phone", "reason"]),
        Format::Table => {
            println!(
                "{}{} rows: {} accepted ({} created, {} updated, {} unchanged), {} rejected; {} stage changes",
                if report.dry_run { "dry run, nothing written — " } else { "" },
                report.rows,
                report.accepted,
                report.created,
                report.updated,
                report.unchanged,
                report.rejected,
                report.stage_changes
            );
            if !report.rejected_rows.is_empty() {
                println!("rejected rows:");
                ctx.out.list(&report.rejected_rows, &["line", "phone", "reason"])?;
                if report.rejected > report.rejected_rows.len() as u64 {
                    println!("(first {} of {} shown)", report.rejected_rows.len(), report.rejected);
                }
            }
            if !report.stage_blocked.is_empty() {
                println!("stage changes blocked by the pipeline rules:");
                ctx.out.list(&report.stage_blocked, &["line", "phone", "reason"])?;
            }
            Ok(())
        }
    }
}
