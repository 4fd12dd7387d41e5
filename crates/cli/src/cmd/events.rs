//! `wacrm events tail`: the business's live events (LISTEN/NOTIFY), for people and for scripts.

use std::io::Write;

use anyhow::Result;
use clap::Subcommand;
use futures::StreamExt;
use wacrm_core::events::{self, Recorded as Event};

use crate::context::Context;
use crate::output::Format;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Follow new inbox, status and stage events as they are committed, until interrupted.
    ///
    /// With --json, or when piped, each event is one JSON object per line with a `type` field
    /// (message_received, message_sent, status_changed, stage_changed, contact_created, contact_updated,
    /// contact_deleted, contacts_imported, tag_added, tag_removed, opted_out, opted_in,
    /// conversation_updated, template_status_changed); each payload carries `v` (its version) and
    /// `cause` (actor: customer, user, automation, campaign, meta or system; user_id, rule_id,
    /// campaign_id, depth) and `id`, `business_id`, `contact_id`, `payload`, `created_at`.
    /// Events are printed in commit order. `--since ID` first replays the stored events that committed
    /// after event ID, so a tail restarted from the last id it printed misses nothing.
    ///
    /// Example: wacrm --business demo@wacrm.test events tail --json | jq 'select(.type == "message_received")'
    ///
    /// Example: wacrm events tail --since 1200
    Tail {
        /// Replay stored events with an id above this before following live ones.
        #[arg(long, value_name = "ID")]
        since: Option<i64>,
    },
}

/// Events are read in pages of this size.
const PAGE: i64 = 500;

/// How often the tail looks again when no notification came: an event waits below the horizon while an
/// older transaction is still open, and that transaction's end sends no notification of its own.
const RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

pub async fn run(ctx: &Context, command: Command) -> Result<()> {
    let Command::Tail { since } = command;
    let scope = ctx.scope().await?;
    let pool = ctx.pool().await?;
    let as_json = ctx.out.format == Format::Json || !ctx.out.interactive;
    // Listen before the first read, so nothing committed in between goes unnoticed. Notifications only
    // wake the tail up: it prints in the outbox's commit-safe order (events::after), so the last id it
    // printed is a safe --since for a restarted tail.
    let mut wake = Box::pin(events::subscribe(pool, &scope).await?);
    let mut at = match since {
        Some(id) => events::position_of(pool, &scope, id).await?,
        None => events::after_now(pool).await?,
    };
    if !as_json {
        eprintln!("following events of business {} (Ctrl-C to stop)", scope.business());
    }
    loop {
        loop {
            let (page, next) = events::after(pool, &scope, at, PAGE).await?;
            for event in &page {
                print(event, as_json, ctx.out.color)?;
            }
            at = next;
            if (page.len() as i64) < PAGE {
                break;
            }
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = tokio::time::sleep(RECHECK) => {}
            next = wake.next() => match next {
                Some(event) => { event?; }
                None => return Ok(()),
            },
        }
    }
}

fn print(event: &Event, as_json: bool, color: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if as_json {
        serde_json::to_writer(&mut out, event)?;
        writeln!(out)?;
    } else {
        writeln!(out, "{}", readable(event, color))?;
    }
    out.flush()?;
    Ok(())
}

/// `14:03:07  message_received  contact 12  "Do you ship to Lisbon?"`.
fn readable(event: &Event, color: bool) -> String {
    let time = event.created_at.with_timezone(&chrono::Local).format("%H:%M:%S");
    let kind = if color { format!("\x1b[1m{:<20}\x1b[0m", event.kind) } else { format!("{:<20}", event.kind) };
    let contact = event.contact_id.map(|c| format!("contact {c}")).unwrap_or_default();
    format!("{time}  {kind}  {contact:<14} {}", summary(&event.payload))
}

/// The payload's telling fields, in a fixed order, so lines stay short and comparable.
fn summary(payload: &serde_json::Value) -> String {
    const FIELDS: &[&str] = &["body", "text", "status", "from", "to", "stage", "error", "assigned_user_id"];
    FIELDS
        .iter()
        .filter_map(|field| {
            payload.get(*field).filter(|v| !v.is_null()).map(|v| match v {
                serde_json::Value::String(s) if *field == "body" || *field == "text" => format!("{s:?}"),
                serde_json::Value::String(s) => format!("{field}={s}"),
                other => format!("{field}={other}"),
            })
        })
        .collect::<Vec<_>>()
        .join("  ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(payload: serde_json::Value) -> Event {
        Event {
            id: 7,
            kind: "message_received".into(),
            business_id: wacrm_core::BusinessId(1),
            contact_id: Some(wacrm_core::ContactId(12)),
            payload,
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn json_lines_carry_a_type_field() {
        let line = serde_json::to_value(event(serde_json::json!({"body": "hi"}))).unwrap();
        assert_eq!(line["type"], "message_received");
        assert_eq!(line["contact_id"], 12);
    }

    #[test]
    fn readable_lines_have_no_escape_codes_without_colour() {
        let line = readable(&event(serde_json::json!({"body": "Do you ship?", "status": "read"})), false);
        assert!(line.contains("message_received"), "{line}");
        assert!(line.contains("contact 12"), "{line}");
        assert!(line.contains("\"Do you ship?\"  status=read"), "{line}");
        assert!(!line.contains('\x1b'));
    }
}
