//! `wacrm broadcast`: campaigns that send one approved template to a filtered audience (seed
//! Broadcast). Sending runs on the job queue (`wacrm-webhookd` or `wacrm jobs run`), exactly once per
//! recipient; these verbs create, schedule, start, steer and inspect campaigns.

use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::Subcommand;
use serde::Serialize;
use wacrm_core::Stage;
use wacrm_core::broadcast::{self, Audience, AudienceCount, CampaignId, NewCampaign, Param, RecipientState};
use wacrm_core::inbox::send::TemplateCategory;

use crate::cmd::contacts::parse_time;
use crate::cmd::rows;
use crate::context::Context;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a draft campaign from an approved template and a contact filter (nothing is sent until
    /// `start` or `schedule`). With --dry-run, check it and count its audience without creating it.
    ///
    /// Each template parameter is mapped with --param N=VALUE: @name, @first_name or @phone take the
    /// recipient's field, anything else is the same text for everyone.
    ///
    /// Example: wacrm broadcast create --name "Spring sale" --template spring_sale --tag vip --param 1=@first_name
    Create {
        /// The campaign's name, as lists show it.
        #[arg(long)]
        name: String,
        /// The approved template's name.
        #[arg(long)]
        template: String,
        /// The template's language code.
        #[arg(long = "lang", default_value = "en_US")]
        language: String,
        /// The template's category: marketing (never sent to opted-out contacts), utility, authentication.
        #[arg(long, default_value = "marketing")]
        category: TemplateCategory,
        /// A template parameter, N=VALUE; one per {{N}} of the body.
        #[arg(long = "param", value_name = "N=VALUE", value_parser = parse_param)]
        params: Vec<(usize, String)>,
        /// Only contacts in this stage.
        #[arg(long)]
        stage: Option<Stage>,
        /// Contacts with any of these tags; repeat for several.
        #[arg(long = "tag", value_name = "TAG")]
        tags_any: Vec<String>,
        /// Contacts with all of these tags; repeat for several.
        #[arg(long = "all-tags", value_name = "TAG")]
        tags_all: Vec<String>,
        /// A substring of the name or the phone.
        #[arg(long)]
        query: Option<String>,
        /// Contacts last active on or after (YYYY-MM-DD or RFC 3339).
        #[arg(long, value_parser = parse_time, value_name = "TIME")]
        active_after: Option<DateTime<Utc>>,
        /// Check and count only; create nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// List the business's campaigns, newest first, with their progress.
    ///
    /// Example: wacrm broadcast list --json
    List,
    /// One campaign with its delivery funnel: sent, delivered, read, replied, failed, skipped.
    ///
    /// Example: wacrm broadcast show 7 --json
    Show { id: CampaignId },
    /// Start a draft campaign at a time (YYYY-MM-DD or RFC 3339); a runner starts it then.
    ///
    /// Example: wacrm broadcast schedule 7 --at 2026-12-24T09:00:00Z
    Schedule {
        id: CampaignId,
        #[arg(long, value_parser = parse_time, value_name = "TIME")]
        at: DateTime<Utc>,
    },
    /// Start a draft or scheduled campaign now: its recipients are fixed (opted-out contacts and contacts
    /// without a number are skipped) and a runner sends. With --dry-run, count only.
    ///
    /// Example: wacrm broadcast start 7 --dry-run
    Start {
        id: CampaignId,
        /// Count who it would reach now; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Pause a running campaign (sends in flight finish).
    ///
    /// Example: wacrm broadcast pause 7
    Pause { id: CampaignId },
    /// Resume a paused campaign where it stopped.
    ///
    /// Example: wacrm broadcast resume 7
    Resume { id: CampaignId },
    /// Cancel a campaign that has not finished; recipients not yet sent are skipped.
    ///
    /// Example: wacrm broadcast cancel 7
    Cancel { id: CampaignId },
    /// A campaign's recipients with their state, Meta's error code and detail.
    ///
    /// Example: wacrm broadcast recipients 7 --state failed --json
    Recipients {
        id: CampaignId,
        /// Only this state: pending, sending, sent, failed, skipped.
        #[arg(long)]
        state: Option<RecipientState>,
        /// How many rows (1-10000).
        #[arg(long, default_value_t = 100, value_parser = rows(10_000))]
        limit: i64,
    },
}

fn parse_param(input: &str) -> Result<(usize, String), String> {
    let (n, value) = input.split_once('=').ok_or_else(|| format!("{input:?} is not N=VALUE, e.g. 1=@first_name"))?;
    let n =
        n.trim().parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| format!("{n:?} is not a parameter number"))?;
    Ok((n, value.to_string()))
}

/// The parameters in order; each of 1..=N exactly once.
fn ordered(mut params: Vec<(usize, String)>) -> Result<Vec<Param>> {
    params.sort_by_key(|(n, _)| *n);
    let mut out = Vec::with_capacity(params.len());
    for (i, (n, value)) in params.into_iter().enumerate() {
        if n != i + 1 {
            anyhow::bail!(wacrm_core::Error::invalid(
                format!("parameter {{{{{}}}}} is missing or given twice", i + 1),
                "give each --param N=VALUE once, numbered from 1",
            ));
        }
        out.push(value.parse::<Param>()?);
    }
    Ok(out)
}

const COLUMNS: &[&str] =
    &["id", "name", "template", "status", "scheduled_at", "recipients", "sent", "failed", "skipped", "paused_reason"];
const RECIPIENT_COLUMNS: &[&str] = &["contact_id", "name", "phone", "state", "attempts", "error_code", "detail"];

#[derive(Serialize)]
struct Shown {
    #[serde(flatten)]
    campaign: broadcast::Campaign,
    stats: broadcast::Stats,
}

fn counted(what: &str, count: &AudienceCount) -> String {
    format!(
        "{what}: {} of {} matching contacts ({} opted out, {} without a number, excluded)",
        count.reachable, count.matched, count.opted_out, count.no_phone
    )
}

pub async fn run(ctx: &Context, command: Command) -> Result<()> {
    let scope = ctx.scope().await?;
    let pool = ctx.pool().await?;
    match command {
        Command::Create {
            name,
            template,
            language,
            category,
            params,
            stage,
            tags_any,
            tags_all,
            query,
            active_after,
            dry_run,
        } => {
            let new = NewCampaign {
                name,
                template,
                language,
                category,
                params: ordered(params)?,
                audience: Audience { query, stage, tags_any, tags_all, active_after },
            };
            if dry_run {
                let count = broadcast::dry_run(pool, &scope, &new).await?;
                return ctx.out.done(&counted("would reach", &count), &count);
            }
            let campaign = broadcast::create(pool, &scope, &new).await?;
            ctx.out.done(&format!("campaign {} created as a draft", campaign.id), &campaign)
        }
        Command::List => ctx.out.list(&broadcast::list(pool, &scope).await?, COLUMNS),
        Command::Show { id } => {
            let campaign = broadcast::get(pool, &scope, id).await?;
            let stats = broadcast::stats(pool, &scope, id).await?;
            ctx.out.record(&Shown { campaign, stats })
        }
        Command::Schedule { id, at } => {
            let campaign = broadcast::schedule(pool, &scope, id, at).await?;
            ctx.out.done(&format!("campaign {id} starts at {}", at.format("%Y-%m-%d %H:%M UTC")), &campaign)
        }
        Command::Start { id, dry_run: true } => {
            let count = broadcast::preview(pool, &scope, id).await?;
            ctx.out.done(&counted("would reach", &count), &count)
        }
        Command::Start { id, dry_run: false } => {
            let count = broadcast::start(pool, &scope, id).await?;
            ctx.out.done(&counted(&format!("campaign {id} started; sending to"), &count), &count)
        }
        Command::Pause { id } => {
            ctx.out.done(&format!("campaign {id} paused"), &broadcast::pause(pool, &scope, id).await?)
        }
        Command::Resume { id } => {
            ctx.out.done(&format!("campaign {id} resumed"), &broadcast::resume(pool, &scope, id).await?)
        }
        Command::Cancel { id } => {
            ctx.out.done(&format!("campaign {id} cancelled"), &broadcast::cancel(pool, &scope, id).await?)
        }
        Command::Recipients { id, state, limit } => {
            ctx.out.list(&broadcast::recipients(pool, &scope, id, state, limit).await?, RECIPIENT_COLUMNS)
        }
    }
}
