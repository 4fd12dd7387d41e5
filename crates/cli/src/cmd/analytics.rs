//! `wacrm analytics`: the Analytics dashboard from the shell. Alone it prints a one-screen summary;
//! each report prints its headline figures and its series (`--csv` the series, `--json` everything).

use anyhow::Result;
use chrono::{Days, NaiveDate};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use serde_json::{Value, json};
use wacrm_core::analytics::messages::MessagesReport;
use wacrm_core::analytics::outcomes::SendOutcomes;
use wacrm_core::analytics::pipeline::{DEFAULT_STUCK_DAYS, PipelineReport};
use wacrm_core::analytics::range::parse_date;
use wacrm_core::analytics::summary::Summary;
use wacrm_core::analytics::{
    self, Granularity, Range, RangeRequest, automation, campaigns, leads, messages, pipeline, templates, usage, verify,
};

use crate::context::Context;
use crate::output::Format;

/// The range every report takes.
#[derive(Debug, Clone, Args)]
pub struct RangeArgs {
    /// First day, included, in the business's timezone (YYYY-MM-DD; default: the 1st of this month).
    #[arg(long, global = true, value_name = "DATE", value_parser = date)]
    from: Option<NaiveDate>,
    /// Last day, included (YYYY-MM-DD; default: today).
    #[arg(long, global = true, value_name = "DATE", value_parser = date)]
    to: Option<NaiveDate>,
    /// One row per local day, ISO week (from Monday) or calendar month.
    #[arg(long, global = true, value_enum, default_value_t = By::Day)]
    by: By,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum By {
    Day,
    Week,
    Month,
}

fn date(input: &str) -> Result<NaiveDate, String> {
    parse_date(input).map_err(|e| format!("{e} ({})", crate::wording::hint(&e).unwrap_or_default()))
}

/// Lead growth, pipeline, messaging, campaign, template, automation and usage figures, over local days of the business's timezone
/// (`wacrm business timezone`). Without a report: a one-screen summary of this month.
///
/// Example: wacrm analytics
///
/// Example: wacrm analytics messages --from 2026-01-01 --to 2026-03-31 --by week --csv
#[derive(Debug, Args)]
pub struct Command {
    #[command(flatten)]
    range: RangeArgs,
    #[command(subcommand)]
    report: Option<Report>,
}

#[derive(Debug, Subcommand)]
pub enum Report {
    /// New leads per period and by source (inbound, import, manual), active leads (7 days).
    ///
    /// Example: wacrm analytics leads --by week
    Leads,
    /// Leads per stage, funnel, win rate, time in stage and stuck leads, now or as of a past day.
    ///
    /// Example: wacrm analytics pipeline --as-of 2026-03-31
    Pipeline {
        /// Stage counts, win rate and stuck leads as they were at the end of this day (YYYY-MM-DD).
        #[arg(long, value_name = "DATE", value_parser = date)]
        as_of: Option<NaiveDate>,
        /// Leads in an open stage for more than this many days are stuck.
        #[arg(long, value_name = "DAYS", default_value_t = DEFAULT_STUCK_DAYS)]
        stuck_days: u32,
    },
    /// Messages sent and received per period, response times (overall, first, per agent), unanswered.
    ///
    /// Example: wacrm analytics messages --json
    Messages,
    /// Conversations and their cost per period, this month against the plan with a forecast, spend.
    ///
    /// Example: wacrm analytics usage --by month --from 2026-01-01
    Usage,
    /// Campaign delivery, read and reply rates, sends limited by Meta and conversions after a reply,
    /// per campaign and per template, for the campaign messages sent in the range.
    ///
    /// Example: wacrm analytics campaigns --from 2026-01-01 --json
    Campaigns,
    /// Per template, its sends in the range by anyone (inbox, campaigns, rules): delivered, read,
    /// replied and conversions after a reply.
    ///
    /// Example: wacrm analytics templates --csv
    Templates,
    /// Per automation rule: runs, messages sent and their replies, stage moves, and contacts that moved
    /// to Paid after one of its actions.
    ///
    /// Example: wacrm analytics automation
    Automation,
    /// Recompute the rollups from the raw messages and conversations and report any difference
    /// (exit 4 when there is one, unless --repair rebuilt them).
    ///
    /// Example: wacrm analytics verify --repair
    Verify {
        /// Rebuild the rollups from the raw rows when they differ (owners and admins).
        #[arg(long)]
        repair: bool,
    },
    /// Fold the rollups' delta rows into one per bucket (figures unchanged; run it from cron).
    ///
    /// Example: wacrm analytics compact
    Compact,
    /// Store the response-time waits and sends' reply times of contacts whose messages changed
    /// (figures unchanged, reports faster; the job runner does it every 5 minutes).
    ///
    /// Example: wacrm analytics refresh
    Refresh,
}

pub async fn run(ctx: &Context, command: Command) -> Result<()> {
    let scope = ctx.scope().await?;
    let pool = ctx.pool().await?;
    let by = match command.range.by {
        By::Day => Granularity::Day,
        By::Week => Granularity::Week,
        By::Month => Granularity::Month,
    };
    let request = RangeRequest { from: command.range.from, to: command.range.to, by };
    let range = analytics::resolve(pool, &scope, request).await?;
    match command.report {
        None => print_summary(ctx, &analytics::summary::summary(pool, &scope, &range).await?),
        Some(Report::Leads) => {
            let r = leads::report(pool, &scope, &range).await?;
            let t = &r.totals;
            let headline = vec![
                ("new leads", format!("{} (inbound {}, import {}, manual {})", t.new, t.inbound, t.import, t.manual)),
                ("active in 7 days", t.active_7_days.to_string()),
                ("all leads", t.total.to_string()),
            ];
            show(ctx, &r, &range, headline, &r.periods, &["period", "new", "inbound", "import", "manual"])
        }
        Some(Report::Pipeline { as_of, stuck_days }) => {
            // The end of the named local day.
            let as_of = as_of.and_then(|d| d.checked_add_days(Days::new(1))).map(|d| range.timezone.start_of_day(d));
            let r = pipeline::report(pool, &scope, &range, as_of, stuck_days).await?;
            print_pipeline(ctx, &r)
        }
        Some(Report::Messages) => print_messages(ctx, &messages::report(pool, &scope, &range).await?),
        Some(Report::Usage) => {
            let r = usage::report(pool, &scope, &range).await?;
            let m = &r.headline.this_month;
            let plan = match (&m.plan, m.conversation_limit) {
                (Some(plan), Some(limit)) => {
                    format!("{} of {limit} ({}, {plan} plan)", m.conversations, m.used.map(percent).unwrap_or_default())
                }
                _ => format!("{} (no active plan)", m.conversations),
            };
            let headline = vec![
                ("conversations in range", format!("{}, cost {}", r.conversations, r.cost)),
                ("this month", plan),
                ("month-end forecast", format!("{} conversations, cost {}", m.forecast_conversations, m.forecast_cost)),
                ("cost this month", m.cost.to_string()),
                ("total spend", r.headline.total_spend.to_string()),
                ("Meta billable by category", categories(&r)),
            ];
            show(ctx, &r, &range, headline, &r.periods, &["period", "conversations", "cost"])
        }
        Some(Report::Campaigns) => {
            let r = campaigns::report(pool, &scope, &range).await?;
            let mut headline = outcome_lines(&r.total, r.reply_window_hours, r.conversion_window_days);
            for t in &r.per_template {
                headline.push((
                    "template",
                    format!(
                        "{}: {} campaigns, {} sent, {} delivered, {} replied, {} converted",
                        t.template_name,
                        t.campaigns,
                        t.outcomes.sent,
                        t.outcomes.delivered,
                        t.outcomes.replied,
                        t.outcomes.converted
                    ),
                ));
            }
            show(
                ctx,
                &r,
                &range,
                headline,
                &r.campaigns,
                &[&["campaign", "name", "status", "template_name"], OUTCOME_COLUMNS].concat(),
            )
        }
        Some(Report::Templates) => {
            let r = templates::report(pool, &scope, &range).await?;
            let headline = outcome_lines(&r.total, r.reply_window_hours, r.conversion_window_days);
            show(
                ctx,
                &r,
                &range,
                headline,
                &r.templates,
                &[&["template", "name", "language", "campaign_messages"], OUTCOME_COLUMNS].concat(),
            )
        }
        Some(Report::Automation) => {
            let r = automation::report(pool, &scope, &range).await?;
            let headline = vec![
                ("rule runs", r.runs.to_string()),
                (
                    "messages sent by rules",
                    format!("{} ({} replied within {} h)", r.messages_sent, r.replied, r.reply_window_hours),
                ),
                ("stage moves by rules", r.stage_moves.to_string()),
                (
                    "conversions after an automated action",
                    format!(
                        "{} of {} contacts ({}; Paid within {} days)",
                        r.conversions,
                        r.contacts,
                        r.conversion_rate.map(percent).unwrap_or_else(|| "n/a".into()),
                        r.conversion_window_days
                    ),
                ),
            ];
            show(
                ctx,
                &r,
                &range,
                headline,
                &r.rules,
                &[
                    "rule",
                    "name",
                    "enabled",
                    "runs",
                    "held_back",
                    "messages_sent",
                    "messages_not_sent",
                    "delivered",
                    "replied",
                    "stage_moves",
                    "contacts",
                    "conversions",
                ],
            )
        }
        Some(Report::Verify { repair }) => {
            let v = verify::verify(pool, &scope, repair).await?;
            if ctx.out.format == Format::Table {
                ctx.out.list(&v.differences, &["bucket", "figure", "raw", "rollup"])?;
                let stored: Vec<String> =
                    v.stored_differences().iter().map(|(what, n)| format!("{n} {what}")).collect();
                println!(
                    "{} buckets compared, {} differences; differing: {}{}; {} conversation ids on more than one \
                     usage row",
                    v.buckets,
                    v.differences.len(),
                    stored.join(", "),
                    if v.repaired { " (rollups rebuilt from the raw rows)" } else { "" },
                    v.shared_conversation_ids
                );
            } else {
                ctx.out.record(&v)?;
            }
            let differing = v.differing();
            if differing == 0 || v.repaired {
                return Ok(());
            }
            Err(wacrm_core::Error::conflict(
                format!("the rollups differ from the raw rows in {differing} places"),
                "rebuild them with `wacrm analytics verify --repair`, and report it: it is a bug",
            )
            .into())
        }
        Some(Report::Refresh) => {
            let contacts = verify::refresh(pool, &scope).await?;
            ctx.out.done(
                &format!("waits and reply times refreshed for {contacts} contacts"),
                &json!({ "contacts": contacts }),
            )
        }
        Some(Report::Compact) => {
            let c = verify::compact(pool, &scope).await?;
            ctx.out.done(&format!("rollup rows: {} before, {} after", c.rows_before, c.rows_after), &c)
        }
    }
}

/// A report: `--json` the whole of it, `--csv` its series, for people its headline and series.
fn show<T: Serialize, R: Serialize>(
    ctx: &Context,
    report: &T,
    range: &Range,
    headline: Vec<(&str, String)>,
    rows: &[R],
    columns: &[&str],
) -> Result<()> {
    match ctx.out.format {
        Format::Json => ctx.out.record(report),
        Format::Csv => ctx.out.list(rows, columns),
        Format::Table => {
            print_headline(ctx, range, headline)?;
            ctx.out.list(rows, columns)
        }
    }
}

fn print_headline(ctx: &Context, range: &Range, headline: Vec<(&str, String)>) -> Result<()> {
    ctx.out.line(format_args!("{} to {} ({}, by {})", range.from, range.to, range.timezone, range.by))?;
    let rows: Vec<Value> =
        headline.into_iter().map(|(figure, value)| json!({ "figure": figure, "value": value })).collect();
    ctx.out.list(&rows, &["figure", "value"])
}

fn print_pipeline(ctx: &Context, report: &PipelineReport) -> Result<()> {
    let r = &report.headline;
    let rows: Vec<Value> = r
        .per_stage
        .iter()
        .map(|s| {
            let step = r.funnel.iter().find(|f| f.stage == s.stage);
            let time = report.time_in_stage.iter().find(|t| t.stage == s.stage);
            json!({
                "stage": s.stage,
                "contacts": s.contacts,
                "stuck": s.stuck,
                "reached_in_range": step.map(|f| f.reached),
                "conversion": step.and_then(|f| f.from_previous).map(percent),
                "stays_ended": time.map(|t| t.stays),
                "median_hours": time.and_then(|t| t.median_hours).map(|h| format!("{h:.1}")),
                "p90_hours": time.and_then(|t| t.p90_hours).map(|h| format!("{h:.1}")),
            })
        })
        .collect();
    let headline = vec![
        ("as of", r.as_of.to_rfc3339()),
        ("leads", r.leads.to_string()),
        ("win rate (Paid / leads)", r.win_rate.map(percent).unwrap_or_else(|| "n/a".into())),
        ("lost in range", r.lost.to_string()),
        (
            "stuck",
            format!("{} (open stage for over {} days)", r.per_stage.iter().map(|s| s.stuck).sum::<i64>(), r.stuck_days),
        ),
    ];
    show(
        ctx,
        report,
        &report.range,
        headline,
        &rows,
        &["stage", "contacts", "stuck", "reached_in_range", "conversion", "stays_ended", "median_hours", "p90_hours"],
    )
}

fn print_messages(ctx: &Context, r: &MessagesReport) -> Result<()> {
    let (t, a) = (&r.response, &r.response.averages);
    let mut headline = vec![
        ("received / sent", format!("{} / {}", r.received, r.sent)),
        (
            "response time",
            format!("{} average, {} median ({} replies)", secs(a.average_seconds), secs(t.median_seconds), a.replies),
        ),
        (
            "first response time",
            format!(
                "{} average, {} median ({} conversations)",
                secs(a.first_response_average_seconds),
                secs(t.first_response_median_seconds),
                a.first_replies
            ),
        ),
        ("unanswered", format!("{} waits from the range, {} conversations now", a.unanswered, r.unanswered_now)),
    ];
    for agent in &r.per_agent {
        headline.push((
            "agent",
            format!(
                "{}: {} replies, {} average, {} median",
                agent.name.clone().unwrap_or_else(|| "no user (API, scripts)".into()),
                agent.replies,
                secs(agent.average_seconds),
                secs(agent.median_seconds)
            ),
        ));
    }
    show(ctx, r, &r.range, headline, &r.periods, &["period", "received", "sent"])
}

/// The table columns of a row of send outcomes.
const OUTCOME_COLUMNS: &[&str] =
    &["messages", "sent", "failed", "limited_by_meta", "delivered", "read", "replied", "converted"];

/// The headline of a set of sends: counts with their rates.
fn outcome_lines(o: &SendOutcomes, reply_hours: i32, conversion_days: i32) -> Vec<(&'static str, String)> {
    let rate = |r: Option<f64>| r.map(percent).unwrap_or_else(|| "n/a".into());
    vec![
        (
            "messages",
            format!("{} ({} sent, {} failed, {} limited by Meta)", o.messages, o.sent, o.failed, o.limited_by_meta),
        ),
        ("delivered", format!("{} ({} of sent)", o.delivered, rate(o.delivery_rate))),
        ("read", format!("{} ({} of delivered)", o.read, rate(o.read_rate))),
        ("replied", format!("{} ({} of delivered, within {reply_hours} h)", o.replied, rate(o.reply_rate))),
        (
            "converted",
            format!("{} ({} of replied, Paid within {conversion_days} days)", o.converted, rate(o.conversion_rate)),
        ),
    ]
}

fn print_summary(ctx: &Context, s: &Summary) -> Result<()> {
    if ctx.out.format == Format::Json {
        return ctx.out.record(s);
    }
    let stages: Vec<String> = s.pipeline.per_stage.iter().map(|p| format!("{} {}", p.stage, p.contacts)).collect();
    let m = &s.usage.this_month;
    let t = &s.messages.response;
    let headline = vec![
        (
            "new leads",
            format!(
                "{} (inbound {}, import {}, manual {})",
                s.leads.new, s.leads.inbound, s.leads.import, s.leads.manual
            ),
        ),
        ("active leads (7 days)", format!("{} of {}", s.leads.active_7_days, s.leads.total)),
        ("pipeline", stages.join(" · ")),
        (
            "win rate / stuck",
            format!(
                "{} / {} stuck over {} days",
                s.pipeline.win_rate.map(percent).unwrap_or_else(|| "n/a".into()),
                s.pipeline.per_stage.iter().map(|p| p.stuck).sum::<i64>(),
                s.pipeline.stuck_days
            ),
        ),
        ("messages received / sent", format!("{} / {}", s.messages.received, s.messages.sent)),
        (
            "response time (avg / first)",
            format!("{} / {}", secs(t.average_seconds), secs(t.first_response_average_seconds)),
        ),
        ("unanswered now", s.messages.unanswered_now.to_string()),
        (
            "conversations this month",
            match m.conversation_limit {
                Some(limit) => format!("{} of {limit} ({})", m.conversations, m.used.map(percent).unwrap_or_default()),
                None => format!("{} (no active plan)", m.conversations),
            },
        ),
        ("forecast / cost this month", format!("{} conversations / {}", m.forecast_conversations, m.cost)),
        ("total spend", s.usage.total_spend.to_string()),
        (
            "campaigns",
            format!(
                "{} messages, {} delivered, {} replied, {} converted",
                s.campaigns.messages, s.campaigns.delivered, s.campaigns.replied, s.campaigns.converted
            ),
        ),
        (
            "automation",
            format!(
                "{} runs, {} messages, {} stage moves, {} conversions",
                s.automation.runs, s.automation.messages_sent, s.automation.stage_moves, s.automation.conversions
            ),
        ),
    ];
    if ctx.out.format == Format::Csv {
        let rows: Vec<Value> =
            headline.into_iter().map(|(figure, value)| json!({ "figure": figure, "value": value })).collect();
        return ctx.out.list(&rows, &["figure", "value"]);
    }
    print_headline(ctx, &s.range, headline)
}

fn categories(r: &usage::UsageReport) -> String {
    if r.categories.is_empty() {
        return "none recorded".into();
    }
    r.categories
        .iter()
        .map(|c| format!("{} {} (+{} free)", c.category, c.billable, c.free))
        .collect::<Vec<_>>()
        .join(", ")
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// A duration for people: `45s`, `12m 05s`, `3h 20m`, `2d 4h`; `n/a` when there is none.
fn secs(seconds: Option<f64>) -> String {
    let Some(seconds) = seconds else { return "n/a".into() };
    let s = seconds.round() as i64;
    match s {
        ..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::secs;

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(secs(None), "n/a");
        assert_eq!(secs(Some(44.6)), "45s");
        assert_eq!(secs(Some(725.0)), "12m 05s");
        assert_eq!(secs(Some(12_000.0)), "3h 20m");
        assert_eq!(secs(Some(187_200.0)), "2d 4h");
    }
}
