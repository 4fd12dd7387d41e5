//! `wacrm automation`: the Automation dashboard from the shell. Rules are JSON (the seed's trigger,
//! condition, action and delay, with a name, priority and stop-processing), checked on save; they
//! live in git through `export` and `import`, and `test` says what a message would set off.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Subcommand;
use wacrm_core::Scope;
use wacrm_core::automation::{self, RuleSpec, RunFilter};
use wacrm_core::contacts;
use wacrm_core::db::Pool;
use wacrm_core::inbox::send::Sender;

use crate::cmd::rows;
use crate::context::Context;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the rules in evaluation order (priority, then id).
    ///
    /// Example: wacrm automation list --json
    List,
    /// Show one rule (by id or name) as JSON, as `export` writes it.
    ///
    /// Example: wacrm automation show pricing
    Show { rule: String },
    /// Add a rule from a JSON file (`-` for stdin); it is checked first, and refused with the JSON path
    /// and the fix when something is wrong.
    ///
    /// Example: echo '{"name": "pricing", "trigger": "message_received", "condition": {"contains":
    /// ["price", "cost"]}, "action": {"send_message": "pricing", "move_stage": "Interested"}}' |
    /// wacrm automation add -
    Add {
        /// The rule's JSON file, or - for stdin.
        file: PathBuf,
    },
    /// Edit a rule (by id or name) as JSON in $VISUAL or $EDITOR (vi by default). Saving checks it: a
    /// problem is printed with its JSON path and the editor opens again on the text as written; saving
    /// it unchanged again, or saving an empty file, gives up without changing the rule.
    ///
    /// Example: EDITOR=nano wacrm automation edit pricing
    Edit { rule: String },
    /// Turn a rule on.
    ///
    /// Example: wacrm automation enable pricing
    Enable { rule: String },
    /// Turn a rule off; its armed delays are cancelled.
    ///
    /// Example: wacrm automation disable pricing
    Disable { rule: String },
    /// Remove a rule with its run log.
    ///
    /// Example: wacrm automation rm pricing
    Rm { rule: String },
    /// Print every rule as a JSON list, for git: `wacrm automation export > rules.json`.
    ///
    /// Example: wacrm automation export > rules.json
    Export,
    /// Create or replace rules by name from a JSON list (all or nothing); importing the same file again
    /// changes nothing.
    ///
    /// Example: wacrm automation import rules.json --dry-run
    Import {
        /// The JSON list of rules, or - for stdin.
        file: PathBuf,
        /// Check and report what would change, without changing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Find unreachable rules, stage rules that cycle, conflicting moves and invalid rules: in a file,
    /// else in the business's rules.
    ///
    /// Example: wacrm automation lint rules.json
    Lint { file: Option<PathBuf> },
    /// A dry run: which rules a customer's message would fire, in order, and what each would do.
    /// Nothing is sent or changed.
    ///
    /// Example: wacrm automation test --message "what's the price?" --contact 42
    Test {
        #[arg(long)]
        message: String,
        /// Contact id, or its phone starting with +.
        #[arg(long)]
        contact: String,
    },
    /// The run log, newest first: each rule that matched an event (or a guard held back), with its
    /// actions' results.
    ///
    /// Example: wacrm automation runs --failed --json
    Runs {
        /// Only this rule's runs (id or name).
        #[arg(long)]
        rule: Option<String>,
        /// Only runs for this contact (id, or phone starting with +).
        #[arg(long)]
        contact: Option<String>,
        /// Only runs with a failed action.
        #[arg(long)]
        failed: bool,
        /// At most this many runs (1-10000).
        #[arg(long, default_value_t = 50, value_parser = rows(automation::MAX_RUNS))]
        limit: i64,
    },
    /// One pass of the engine over every business: new events, due delays, claimed sends. The job
    /// runner does this every minute; this is for cron-driven installations and tests.
    ///
    /// Example: wacrm automation run-once
    RunOnce,
}

fn read(file: &PathBuf) -> Result<String> {
    let mut text = String::new();
    if file.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text)?;
    } else {
        text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    }
    Ok(text)
}

/// Runs $VISUAL or $EDITOR (a command line, run by the shell) on `path` and waits for it.
fn open_editor(path: &std::path::Path) -> Result<()> {
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|e| !e.trim().is_empty()))
        .unwrap_or_else(|| "vi".into());
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("wacrm-editor")
        .arg(path)
        .status()
        .with_context(|| format!("cannot start the editor {editor:?}"))?;
    anyhow::ensure!(status.success(), "the editor {editor:?} failed ({status}); the rule is not changed");
    Ok(())
}

/// The acting business's pool and scope.
async fn scoped(ctx: &Context) -> Result<(&Pool, Scope)> {
    let scope = ctx.scope().await?;
    Ok((ctx.pool().await?, scope))
}

pub async fn run(ctx: &Context, command: Command) -> Result<()> {
    match command {
        Command::List => {
            let (pool, scope) = scoped(ctx).await?;
            let rules = automation::list(pool, &scope).await?;
            ctx.out.list(&rules, &["id", "name", "trigger", "priority", "enabled", "stop_processing", "delay_minutes"])
        }
        Command::Show { rule } => {
            let (pool, scope) = scoped(ctx).await?;
            ctx.out.record(&automation::get(pool, &scope, &rule).await?.spec())
        }
        Command::Add { file } => {
            let spec = RuleSpec::from_json(&read(&file)?).map_err(wacrm_core::Error::from)?;
            let (pool, scope) = scoped(ctx).await?;
            let rule = automation::add(pool, &scope, &spec).await?;
            ctx.out.done(&format!("added rule {} ({})", rule.id, rule.name), &rule)
        }
        Command::Edit { rule } => {
            let (pool, scope) = scoped(ctx).await?;
            let current = automation::get(pool, &scope, &rule).await?;
            let original = serde_json::to_string_pretty(&current.spec())? + "\n";
            let path = std::env::temp_dir().join(format!("wacrm-rule-{}-{}.json", current.id, std::process::id()));
            let mut text = original.clone();
            let mut failed: Option<String> = None;
            let outcome = loop {
                std::fs::write(&path, &text).with_context(|| format!("cannot write {}", path.display()))?;
                open_editor(&path)?;
                let edited =
                    std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
                if edited.trim().is_empty() || edited == original || failed.as_deref() == Some(edited.as_str()) {
                    break None;
                }
                let saved = match RuleSpec::from_json(&edited) {
                    Ok(spec) => automation::update(pool, &scope, &current.id.to_string(), &spec).await,
                    Err(problem) => Err(problem.into()),
                };
                match saved {
                    Ok(rule) => break Some(rule),
                    Err(e) => {
                        eprintln!("{e}");
                        if let Some(hint) = crate::wording::hint(&e) {
                            eprintln!("hint: {hint}");
                        }
                        eprintln!("(the editor opens again; save it unchanged or empty to give up)");
                        failed = Some(edited.clone());
                        text = edited;
                    }
                }
            };
            let _ = std::fs::remove_file(&path);
            match outcome {
                Some(rule) => ctx.out.done(&format!("rule {} ({}) saved", rule.id, rule.name), &rule),
                None => ctx.out.done(&format!("rule {} ({}) not changed", current.id, current.name), &current),
            }
        }
        Command::Enable { rule } => {
            let (pool, scope) = scoped(ctx).await?;
            let rule = automation::set_enabled(pool, &scope, &rule, true).await?;
            ctx.out.done(&format!("rule {} ({}) enabled", rule.id, rule.name), &rule)
        }
        Command::Disable { rule } => {
            let (pool, scope) = scoped(ctx).await?;
            let rule = automation::set_enabled(pool, &scope, &rule, false).await?;
            ctx.out.done(&format!("rule {} ({}) disabled", rule.id, rule.name), &rule)
        }
        Command::Rm { rule } => {
            let (pool, scope) = scoped(ctx).await?;
            let rule = automation::remove(pool, &scope, &rule).await?;
            ctx.out.done(&format!("removed rule {} ({})", rule.id, rule.name), &rule)
        }
        Command::Export => {
            let (pool, scope) = scoped(ctx).await?;
            ctx.out.line(serde_json::to_string_pretty(&automation::export(pool, &scope).await?)?)
        }
        Command::Import { file, dry_run } => {
            let specs = RuleSpec::list_from_json(&read(&file)?).map_err(wacrm_core::Error::from)?;
            let (pool, scope) = scoped(ctx).await?;
            let report = automation::import(pool, &scope, &specs, dry_run).await?;
            let verb = if dry_run { "would be" } else { "were" };
            let message = format!(
                "{} created, {} updated, {} unchanged ({verb})",
                report.created.len(),
                report.updated.len(),
                report.unchanged.len()
            );
            ctx.out.done(&message, &report)
        }
        Command::Lint { file } => {
            let specs = match file {
                Some(file) => RuleSpec::list_from_json(&read(&file)?).map_err(wacrm_core::Error::from)?,
                None => {
                    let (pool, scope) = scoped(ctx).await?;
                    automation::export(pool, &scope).await?
                }
            };
            let mut findings = automation::lint(&specs);
            for finding in &mut findings {
                finding.fix = wacrm_core::error::word(&finding.fix, &crate::wording::Shell);
            }
            ctx.out.list(&findings, &["rule", "problem", "fix"])
        }
        Command::Test { message, contact } => {
            let (pool, scope) = scoped(ctx).await?;
            let contact = contacts::resolve(pool, &scope, &contact).await?;
            let fired = automation::dry_run(pool, &scope, contact, &message).await?;
            ctx.out.list(&fired, &["rule_id", "rule", "held_back", "delay_minutes", "actions"])
        }
        Command::Runs { rule, contact, failed, limit } => {
            let (pool, scope) = scoped(ctx).await?;
            let rule = match rule {
                Some(r) => Some(automation::get(pool, &scope, &r).await?.id),
                None => None,
            };
            let contact = match contact {
                Some(c) => Some(contacts::resolve(pool, &scope, &c).await?),
                None => None,
            };
            let runs =
                automation::runs(ctx.read_pool().await?, &scope, &RunFilter { rule, contact, failed }, limit).await?;
            ctx.out.list(&runs, &["id", "created_at", "rule", "contact_id", "matched", "reason", "actions"])
        }
        Command::RunOnce => {
            ctx.require_operator("automation run-once")?;
            let options = automation::Options::from_settings(&ctx.settings);
            let tick = automation::run_once(ctx.pool().await?, &Sender::from_settings(&ctx.settings), &options).await?;
            let message = format!(
                "{} events, {} delays, {} schedules, {} carried out, {} failed",
                tick.events, tick.delays, tick.schedules, tick.sent, tick.failed
            );
            ctx.out.done(&message, &tick)
        }
    }
}
