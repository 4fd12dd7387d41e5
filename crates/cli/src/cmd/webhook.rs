//! `wacrm webhook`: the raw webhook log that wacrm-webhookd commits every POST to.
//!
//! The log is not tenant data until an event is routed, so these commands need no acting business;
//! they are for whoever runs the installation, and refused to a logged-in user.

use anyhow::{Result, anyhow, bail};
use chrono::{DateTime, Datelike, Duration, Utc};
use clap::Subcommand;
use serde::Serialize;
use wacrm_core::inbox::ingest::{self, IngestConfig, ProcessedEvent};
use wacrm_core::{BusinessId, MAX_LISTED_ROWS};

use crate::cmd::{contacts, rows};
use crate::context::Context;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List recent raw webhook events with their outcome, newest first.
    ///
    /// Outcomes: pending (not processed yet), processed, orphan (for no active number of ours: nothing
    /// stored), failed (see the error; replay after the fix), ignored (fields wacrm does not handle).
    ///
    /// Example: wacrm webhook events --limit 20 --json
    Events {
        /// How many events to show (1-10000).
        #[arg(long, default_value_t = 50, value_parser = rows(MAX_LISTED_ROWS))]
        limit: i64,
    },
    /// Process stored raw events again, e.g. after a fix or after connecting a number whose traffic
    /// arrived first. Each message is still stored once: known ones count as duplicates.
    ///
    /// Example: wacrm webhook replay --since 2h --dry-run
    Replay {
        /// Events received since this time: RFC 3339 (2026-05-01T10:00:00Z) or a duration back from
        /// now (90s, 30m, 2h, 3d, 1w).
        #[arg(long, value_parser = parse_since)]
        since: DateTime<Utc>,
        /// Show what would be stored and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(ctx: &Context, command: Command) -> Result<()> {
    ctx.require_operator("the raw webhook log")?;
    let pool = ctx.pool().await?;
    match command {
        Command::Events { limit } => {
            let events = ingest::recent_events(pool, limit).await?;
            ctx.out.list(&events, &["id", "received_at", "outcome", "business_id", "attempts", "bytes", "error"])
        }
        Command::Replay { since, dry_run } => {
            let config = IngestConfig::from_settings(&ctx.settings);
            let done = ingest::replay(pool, &config, since, dry_run).await?;
            let rows: Vec<ReplayRow> = done.iter().map(ReplayRow::from).collect();
            ctx.out.list(
                &rows,
                &["id", "received_at", "outcome", "business_id", "messages_stored", "duplicates", "statuses_applied"],
            )?;
            if ctx.out.interactive {
                let stored: u32 = rows.iter().map(|r| r.messages_stored).sum();
                let verb = if dry_run { "would store" } else { "stored" };
                eprintln!("{} event(s) replayed; {verb} {stored} new message(s)", rows.len());
            }
            Ok(())
        }
    }
}

/// One replayed event, flattened for a table (`--json` carries the same fields).
#[derive(Debug, Serialize)]
struct ReplayRow {
    id: i64,
    received_at: DateTime<Utc>,
    outcome: &'static str,
    business_id: Option<BusinessId>,
    messages_stored: u32,
    duplicates: u32,
    statuses_applied: u32,
    unknown_statuses: usize,
    error: Option<String>,
}

impl From<&ProcessedEvent> for ReplayRow {
    fn from(e: &ProcessedEvent) -> ReplayRow {
        ReplayRow {
            id: e.id,
            received_at: e.received_at,
            outcome: e.outcome.as_str(),
            business_id: e.business_id,
            messages_stored: e.summary.messages_stored,
            duplicates: e.summary.duplicates,
            statuses_applied: e.summary.statuses_applied,
            unknown_statuses: e.summary.unknown_statuses.len(),
            error: e.error.clone(),
        }
    }
}

/// RFC 3339, a date (midnight UTC), or a duration back from now; not before 2000.
fn parse_since(input: &str) -> Result<DateTime<Utc>> {
    let input = input.trim();
    let neither = || {
        anyhow!(
            "{input:?} is neither a time (2026-05-01 or 2026-05-01T10:00:00Z) nor a duration back from now \
             (30m, 2h, 3d, 1w)"
        )
    };
    let at = if let Ok(at) = contacts::parse_time(input) {
        at
    } else {
        let split = input.find(|c: char| !c.is_ascii_digit()).unwrap_or(input.len());
        let (number, unit) = input.split_at(split);
        let n = number.parse::<i64>().map_err(|_| neither())?;
        let back = match unit.trim() {
            "s" => Duration::try_seconds(n),
            "m" => Duration::try_minutes(n),
            "h" => Duration::try_hours(n),
            "d" => Duration::try_days(n),
            "w" => Duration::try_weeks(n),
            _ => return Err(neither()),
        };
        back.and_then(|d| Utc::now().checked_sub_signed(d)).ok_or_else(|| anyhow!("{input:?} reaches back too far"))?
    };
    if at.year() < 2000 {
        bail!("{input:?} reaches back before 2000: there are no webhooks from then; pass a later time");
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_rfc3339_or_a_duration() {
        assert_eq!(parse_since("2026-05-01T10:00:00Z").unwrap().to_rfc3339(), "2026-05-01T10:00:00+00:00");
        let two_hours = Utc::now() - parse_since("2h").unwrap();
        assert!((two_hours.num_seconds() - 7200).abs() < 5);
        assert!(parse_since("2 fortnights").is_err());
        assert!(parse_since("yesterday").is_err());
        assert_eq!(parse_since("2026-05-01").unwrap().to_rfc3339(), "2026-05-01T00:00:00+00:00");
        for odd in ["2026-13-01T00:00:00Z", "9999999d", "1999-12-31"] {
            assert!(parse_since(odd).is_err(), "{odd}");
        }
        assert!(parse_since("2026-13-01T00:00:00Z").unwrap_err().to_string().contains("neither a time"));
    }
}
