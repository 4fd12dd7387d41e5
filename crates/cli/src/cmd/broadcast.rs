//! `wacrm broadcast`: campaigns that send one approved template to a filtered audience (seed
//! Broadcast). Sending runs on the job queue (`wacrm-webhookd` or `wacrm jobs run`), exactly once per
//! recipient; these verbs create, schedule, start, steer and inspect campaigns.

use std::path::PathBuf;

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use wacrm_core::Stage;
use wacrm_core::broadcast::{
    self, Audience, AudienceCount, CampaignId, NewCampaign, Param, Params, RecipientState, Retarget,
};
use wacrm_core::templates::{TemplateRef, Values};

use crate::cmd::contacts::parse_time;
use crate::cmd::rows;
use crate::context::Context;
use crate::output::Format;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a draft campaign from an approved template and a contact filter or list (nothing is sent
    /// until `start` or `schedule`). With --dry-run, check it and count its audience without creating it.
    ///
    /// The message is the template rendered for each recipient (`wacrm templates render` shows it); a
    /// recipient lacking a value is skipped with the reason, never sent a blank.
    ///
    /// Example: wacrm broadcast create --name "Spring sale" --template spring_sale --tag vip --param 1=@first_name
    Create {
        /// The campaign's name, as lists show it.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        message: Message,
        #[command(flatten)]
        audience: AudienceArgs,
        /// Check and count only; create nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Create a draft follow-up campaign for some recipients of an earlier one: those whose message
    /// failed, was not read, or got no reply within the campaign's window.
    ///
    /// Example: wacrm broadcast retarget 7 --not-replied --name "Spring sale, reminder" --template spring_reminder
    Retarget {
        /// The earlier campaign.
        id: CampaignId,
        #[command(flatten)]
        who: Who,
        /// The follow-up's name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        message: Message,
    },
    /// List the business's campaigns, newest first, with their progress.
    ///
    /// Example: wacrm broadcast list --json
    List,
    /// A campaign's sending progress: on a terminal a live bar, refreshed until the campaign completes or is
    /// cancelled (Ctrl-C stops watching, not the campaign); otherwise (piped, --json, --csv) one record.
    ///
    /// Example: wacrm broadcast status 7
    Status { id: CampaignId },
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
    /// What a draft or scheduled campaign would do now, changing nothing: run it before `start`. Who it
    /// reaches and why the others are left out (opted out, no number, US numbers for a MARKETING
    /// template); Meta's estimated cost by market (the `meta_prices` table in the config); the plan's
    /// conversations left this month against those it would open; the messaging limit (unique customers
    /// outside a customer-service window per 24 hours) against the recipients outside their window.
    ///
    /// Example: wacrm broadcast plan 7 --json
    Plan { id: CampaignId },
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

/// What a campaign sends.
#[derive(Debug, Args)]
pub struct Message {
    /// The approved template, by name or id.
    #[arg(long)]
    template: TemplateRef,
    /// The template's language, when its name exists in several.
    #[arg(long = "lang")]
    language: Option<String>,
    /// A template parameter, KEY=VALUE: 1=… for {{1}}, first_name=… for {{first_name}}, header.1=…,
    /// button.0=…. A value @name, @first_name or @phone takes the recipient's field; anything else is the
    /// same text for everyone. Named parameters left out come from the recipient's field of that name.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// Replies within this many hours of a recipient's message count for the campaign.
    #[arg(long, value_name = "HOURS", default_value_t = broadcast::DEFAULT_REPLY_WINDOW_HOURS)]
    reply_window: i32,
}

/// Who a campaign reaches.
#[derive(Debug, Args)]
pub struct AudienceArgs {
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
    /// Only the contacts with the phones of this CSV file (a `phone` column, or the first one).
    #[arg(long, value_name = "FILE.csv")]
    list: Option<PathBuf>,
}

/// Which recipients a follow-up targets (one of).
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Who {
    /// Those Meta refused.
    #[arg(long)]
    failed: bool,
    /// Those who did not read it.
    #[arg(long)]
    unread: bool,
    /// Those who did not reply within the campaign's window.
    #[arg(long)]
    not_replied: bool,
}

impl Message {
    fn into_campaign(self, name: String, audience: Audience) -> Result<NewCampaign> {
        let mut params = Params::new();
        for (key, value) in Values::parse_pairs(&self.params)? {
            params.insert(key, value.parse::<Param>()?);
        }
        Ok(NewCampaign {
            name,
            template: self.template.with_language(self.language),
            params,
            audience,
            reply_window_hours: self.reply_window,
        })
    }
}

async fn audience(ctx: &Context, args: AudienceArgs) -> Result<Audience> {
    let contacts = match &args.list {
        Some(path) => {
            let file = std::fs::File::open(path).with_context(|| format!("cannot open the list {}", path.display()))?;
            let phones = broadcast::phones_from_csv(std::io::BufReader::new(file))?;
            broadcast::contacts_by_phone(ctx.pool().await?, &ctx.scope().await?, &phones).await?
        }
        None => Vec::new(),
    };
    Ok(Audience {
        query: args.query,
        stage: args.stage,
        tags_any: args.tags_any,
        tags_all: args.tags_all,
        active_after: args.active_after,
        contacts,
    })
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
        "{what}: {} of {} matching contacts ({} opted out, {} without a number, {} US numbers for a marketing \
         template: excluded)",
        count.reachable, count.matched, count.opted_out, count.no_phone, count.us_marketing
    )
}

/// The plan for people: the audience, the cost by market, then the two limits with what to do.
fn planned(plan: &broadcast::Plan) -> String {
    let mut lines = vec![counted("would reach", &plan.audience)];
    let cost = &plan.cost;
    lines.push(format!(
        "estimated Meta cost ({} template, if every message is delivered): {} {:.4}{}",
        plan.category.as_str(),
        cost.currency,
        cost.total,
        if cost.free > 0 {
            format!(" ({} free inside their customer-service window)", cost.free)
        } else {
            String::new()
        }
    ));
    let width = cost.markets.iter().map(|m| m.market.len()).max().unwrap_or(0);
    for market in &cost.markets {
        let code = market.calling_code.as_deref().map(|c| format!("+{c}")).unwrap_or_else(|| "other".into());
        lines.push(format!(
            "  {:<width$}  {code:>6}  {:>7} × {:.4} = {:.4}",
            market.market, market.charged, market.rate, market.cost
        ));
    }
    lines.push(match &plan.billing {
        Some(b) => format!(
            "billing: {} of {} conversations left this month on plan {}; the campaign opens {}{}",
            b.left,
            b.conversation_limit,
            b.plan,
            b.would_open,
            if b.fits() {
                String::new()
            } else {
                " — MORE than left: it pauses at the limit (billing upgrade)".into()
            }
        ),
        None => "billing: no subscription, so nothing can be sent (billing subscribe)".into(),
    });
    let tier = &plan.messaging_limit;
    lines.push(match (tier.tier, tier.left, tier.fits()) {
        (None, _, _) => format!(
            "messaging limit: not recorded (accounts edit ID --messaging-tier TIER); {} recipients are outside \
             their window and not messaged in the last 24 h",
            tier.needed
        ),
        (Some(t), None, _) => {
            format!("messaging limit: {} (unlimited); {} recipients outside their window", t.as_str(), tier.needed)
        }
        (Some(t), Some(left), fits) => format!(
            "messaging limit: {} per 24 h, {} used, {left} left; the campaign needs {}{}",
            t.as_str(),
            tier.used_last_24h,
            tier.needed,
            if fits == Some(true) {
                String::new()
            } else {
                " — MORE than left: Meta holds the rest back until the 24 h window moves on".into()
            }
        ),
    });
    lines.join("\n")
}

pub async fn run(ctx: &Context, command: Command) -> Result<()> {
    let scope = ctx.scope().await?;
    let pool = ctx.pool().await?;
    match command {
        Command::Create { name, message, audience: args, dry_run } => {
            let new = message.into_campaign(name, audience(ctx, args).await?)?;
            if dry_run {
                let count = broadcast::dry_run(pool, &scope, &new).await?;
                return ctx.out.done(&counted("would reach", &count), &count);
            }
            let campaign = broadcast::create(pool, &scope, &new).await?;
            ctx.out.done(&format!("campaign {} created as a draft", campaign.id), &campaign)
        }
        Command::Retarget { id, who, name, message } => {
            let target = match (who.failed, who.unread) {
                (true, _) => Retarget::Failed,
                (_, true) => Retarget::Unread,
                _ => Retarget::NotReplied,
            };
            let new = message.into_campaign(name, Audience::default())?;
            let campaign = broadcast::retarget(pool, &scope, id, target, &new).await?;
            ctx.out.done(&format!("campaign {} created as a draft follow-up of {id}", campaign.id), &campaign)
        }
        Command::List => ctx.out.list(&broadcast::list(pool, &scope).await?, COLUMNS),
        Command::Status { id } => {
            if ctx.out.interactive && ctx.out.format == Format::Table {
                watch(pool, &scope, id).await
            } else {
                ctx.out.record(&broadcast::progress(pool, &scope, id).await?)
            }
        }
        Command::Show { id } => {
            let campaign = broadcast::get(pool, &scope, id).await?;
            let stats = broadcast::stats(pool, &scope, id).await?;
            ctx.out.record(&Shown { campaign, stats })
        }
        Command::Schedule { id, at } => {
            let campaign = broadcast::schedule(pool, &scope, id, at).await?;
            ctx.out.done(&format!("campaign {id} starts at {}", at.format("%Y-%m-%d %H:%M UTC")), &campaign)
        }
        Command::Plan { id } => {
            let prices = broadcast::PriceTable::from_settings(&ctx.settings)?;
            let plan = broadcast::plan(pool, &scope, id, &prices).await?;
            ctx.out.done(&planned(&plan), &plan)
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

/// How often `status` polls the campaign on a terminal.
const REFRESH: Duration = Duration::from_secs(1);

/// A live bar of the campaign's progress on stdout, until it completes or is cancelled, or Ctrl-C.
async fn watch(pool: &wacrm_core::db::Pool, scope: &wacrm_core::Scope, id: CampaignId) -> Result<()> {
    let mut progress = broadcast::progress(pool, scope, id).await?;
    let bar = ProgressBar::with_draw_target(Some(progress.recipients.max(0) as u64), ProgressDrawTarget::stdout())
        .with_style(
            ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        )
        .with_prefix(format!("campaign {id} ({})", progress.name));
    // The send rate over the last poll: what is being sent now, not the average since the start.
    let mut last = (Instant::now(), progress.done());
    let mut rate = 0.0;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        bar.set_length(progress.recipients.max(0) as u64);
        bar.set_position(progress.done().max(0) as u64);
        bar.set_message(describe(&progress, rate));
        if progress.is_over() || progress.status == broadcast::CampaignStatus::Draft {
            bar.finish();
            return Ok(());
        }
        tokio::select! {
            _ = &mut ctrl_c => {
                bar.abandon();
                return Ok(());
            }
            _ = tokio::time::sleep(REFRESH) => {}
        }
        progress = broadcast::progress(pool, scope, id).await?;
        let now = (Instant::now(), progress.done());
        rate = (now.1 - last.1) as f64 / now.0.duration_since(last.0).as_secs_f64().max(0.001);
        last = now;
    }
}

fn describe(progress: &broadcast::Progress, rate: f64) -> String {
    let mut text = format!(
        "{} · sent {} · failed {} · skipped {} · {rate:.0} msg/s",
        progress.status, progress.sent, progress.failed, progress.skipped
    );
    if let Some(reason) = &progress.paused_reason {
        text.push_str(&format!(" · paused: {reason}"));
    }
    text
}
