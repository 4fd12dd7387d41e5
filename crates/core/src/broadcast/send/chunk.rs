//! One chunk of claimed recipients through the send path's steps (gate and reserve, call, record),
//! and what Meta's answer means for each recipient.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Duration, Utc};
use futures::{StreamExt, stream};
use sqlx::{PgConnection, PgPool};

use super::super::CampaignId;
use super::super::audience::{self, Fields, Template};
use super::{Claimed, Running, TickOptions};
use crate::auth::Scope;
use crate::error::{Error, Result};
use crate::events::Cause;
use crate::inbox::send::{self as inbox_send, Bulk, Compose, Origin, Outgoing, Sender, reserve_many};
use crate::templates;
use crate::types::BusinessId;

/// Attempts per recipient before a retryable error counts as final.
pub const MAX_ATTEMPTS: i32 = 5;

/// How often recording a chunk of sends Meta answered is tried before the tick fails (its rows then
/// stay `sending` and are settled after the reconcile window).
const RECORD_ATTEMPTS: u64 = 3;

/// What happened to one recipient.
pub(super) enum Outcome {
    Sent {
        message: i32,
        wamid: String,
    },
    Failed {
        code: Option<i64>,
        detail: String,
    },
    Skipped(String),
    /// Meta refused it for now: try again at the time, with a fresh ref.
    Retry {
        code: Option<i64>,
        detail: String,
        at: DateTime<Utc>,
    },
    /// Back to pending unchanged and stop: the campaign pauses (`Some`) or the number is throttled.
    Stop {
        pause: Option<String>,
    },
    /// The outcome is not known (a lost answer, a reservation already made): the row stays `sending`
    /// and is settled later.
    Unknown,
}

/// The message for one recipient, or why it is skipped without a send.
fn prepare(campaign: &Running, template: &Template, row: &Claimed) -> std::result::Result<Outgoing, Outcome> {
    // Opt-outs are checked again at send time (the send path refuses marketing to them too).
    if row.opted_out {
        return Err(Outcome::Skipped("opted out".into()));
    }
    let fields = Fields { name: row.name.clone(), phone: row.phone.clone() };
    let rendered = audience::values(&campaign.params, &fields)
        .and_then(|values| {
            templates::render(&template.spec, &values).map_err(|e| match e {
                Error::Invalid { message, .. } => message,
                other => other.to_string(),
            })
        })
        // The one render path's reason: a recipient without a value is skipped, never sent a blank.
        .map_err(Outcome::Skipped)?;
    Ok(Outgoing {
        contact: row.contact,
        compose: Compose::Rendered { rendered: Box::new(rendered), category: template.category },
        account: None,
    })
}

/// Sends a chunk of claimed rows through the send path's steps: gate and reserve them in one
/// transaction, call Meta for each (concurrently, paced), then record the messages, the recipients'
/// rows and the campaign's log in one transaction. Rows whose reservation was not called because the
/// campaign stopped meanwhile are withdrawn and come back as untried (`None`).
#[allow(clippy::too_many_arguments)]
pub(super) async fn send_chunk<'a>(
    pool: &PgPool,
    scope: &Scope,
    sender: &Sender,
    id: CampaignId,
    campaign: &Running,
    template: &Template,
    rows: &'a [Claimed],
    options: &TickOptions,
    stop: &AtomicBool,
) -> Result<Vec<(&'a Claimed, Option<Outcome>)>> {
    let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(rows.len());
    let mut outgoing = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        match prepare(campaign, template, row) {
            Ok(message) => {
                outgoing.push((i, message));
                outcomes.push(None);
            }
            Err(skipped) => outcomes.push(Some(skipped)),
        }
    }
    let sends: Vec<Bulk> =
        outgoing.iter().map(|(i, message)| Bulk { outgoing: message, client_ref: Some(rows[*i].send_ref) }).collect();
    let origin = Origin { cause: Some(Cause::campaign(id.0)), campaign: Some(id.0), ..Origin::default() };
    let reserved = match reserve_many(pool, scope, sender, &sends, &origin).await {
        Ok(reserved) => reserved,
        Err(e @ (Error::Database(_) | Error::Internal { .. } | Error::Unavailable { .. })) => return Err(e),
        // The whole chunk was refused (no live subscription, no usable number): the campaign pauses and
        // every row goes back as it was.
        Err(e) => {
            let why = e.to_string();
            let pause = match classify(e, 0) {
                stop_all @ Outcome::Stop { .. } => stop_all,
                _ => Outcome::Stop { pause: Some(why) },
            };
            stop.store(true, Ordering::Relaxed);
            let mut first = Some(pause);
            for &(i, _) in &outgoing {
                outcomes[i] = Some(first.take().unwrap_or(Outcome::Stop { pause: None }));
            }
            return Ok(rows.iter().zip(outcomes).collect());
        }
    };
    let mut gate_stopped = false;
    let mut to_call = Vec::new();
    for (&(i, _), reservation) in outgoing.iter().zip(reserved) {
        match reservation {
            Ok(reservation) => to_call.push((i, reservation)),
            Err(e) => {
                let outcome = classify(e, rows[i].attempts);
                gate_stopped |= matches!(outcome, Outcome::Stop { .. });
                outcomes[i] = Some(outcome);
            }
        }
    }
    let calls = to_call.into_iter().map(|(i, reservation)| async move {
        if stop.load(Ordering::Relaxed) {
            return (i, Err(reservation));
        }
        let called = reservation.call(sender, options.pacer.as_ref()).await;
        if let Err(e) = &called.outcome
            && matches!(classify(e.clone().into(), rows[i].attempts), Outcome::Stop { .. })
        {
            stop.store(true, Ordering::Relaxed);
        }
        (i, Ok(called))
    });
    let mut called = Vec::new();
    let mut unsent = Vec::new();
    for (i, result) in stream::iter(calls).buffer_unordered(options.concurrency.max(1)).collect::<Vec<_>>().await {
        match result {
            Ok(c) => {
                outcomes[i] = Some(match &c.outcome {
                    Ok(accepted) => Outcome::Sent { message: c.reservation.message().0, wamid: accepted.wamid.clone() },
                    Err(e) => classify(e.clone().into(), rows[i].attempts),
                });
                called.push(c);
            }
            Err(reservation) => unsent.push(reservation),
        }
    }
    // The gate's refusals (the billing limit) stop the next chunks, not this chunk's admitted sends.
    if gate_stopped {
        stop.store(true, Ordering::Relaxed);
    }
    let finished: Vec<(&Claimed, &Outcome)> =
        rows.iter().zip(&outcomes).filter_map(|(row, outcome)| outcome.as_ref().map(|o| (row, o))).collect();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let recorded = async {
            let mut tx = pool.begin().await?;
            inbox_send::record_on(&mut tx, scope, &called).await?;
            inbox_send::withdraw_on(&mut tx, scope, &unsent).await?;
            record(&mut tx, scope.business(), &finished).await?;
            tx.commit().await?;
            Ok::<_, Error>(())
        };
        match recorded.await {
            Ok(()) => break,
            // Meta has these messages now: a lost record would read as "never sent" after the reconcile window.
            Err(e) if attempt < RECORD_ATTEMPTS => {
                tracing::warn!(error = %e, campaign = %id, "recording a chunk of sends failed; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(rows.iter().zip(outcomes).collect())
}

pub(super) fn classify(error: Error, attempts: i32) -> Outcome {
    match error {
        Error::WhatsApp { code: 131048, message, .. } => {
            Outcome::Stop { pause: Some(format!("Meta's spam rate limit: {message}")) }
        }
        Error::WhatsApp { code: code @ (132015 | 132016), message, .. } => {
            Outcome::Stop { pause: Some(format!("the template is paused or disabled by Meta ({code}): {message}")) }
        }
        Error::WhatsApp { code: 4 | 80007 | 130429, .. } => Outcome::Stop { pause: None },
        Error::WhatsApp { code, message, retryable: true } if attempts < MAX_ATTEMPTS => {
            Outcome::Retry { code: Some(code), detail: message, at: Utc::now() + backoff(attempts) }
        }
        Error::WhatsApp { code, message, .. } => Outcome::Failed { code: Some(code), detail: message },
        Error::LimitReached { message, .. } => Outcome::Stop { pause: Some(format!("billing: {message}")) },
        Error::NotFound { what } => Outcome::Skipped(format!("{what} not found")),
        // A reservation with this ref exists, or Meta's answer was lost: settled later from the message.
        Error::Conflict { .. } | Error::WhatsAppUnreachable { .. } => Outcome::Unknown,
        // A contact the gate refuses (no usable number, opted out since the claim) is skipped; a problem of
        // the business (no active number) would refuse every recipient, so it pauses the campaign.
        Error::Invalid { message, .. }
            if message.contains("no active WhatsApp number") || message.contains("WhatsApp account") =>
        {
            Outcome::Stop { pause: Some(message) }
        }
        Error::Invalid { message, .. } | Error::Forbidden { message, .. } => Outcome::Skipped(message),
        other => Outcome::Failed { code: None, detail: other.to_string() },
    }
}

fn backoff(attempts: i32) -> Duration {
    Duration::seconds(15 << attempts.clamp(0, 6))
}

/// Writes the recipients' outcomes on their rows (one statement), and the campaign log of those sent.
async fn record(conn: &mut PgConnection, business: BusinessId, finished: &[(&Claimed, &Outcome)]) -> Result<()> {
    let mut ids = Vec::new();
    let mut states = Vec::new();
    let mut messages = Vec::new();
    let mut wamids = Vec::new();
    let mut codes = Vec::new();
    let mut details = Vec::new();
    let mut nexts = Vec::new();
    let mut fresh_refs = Vec::new();
    for (row, outcome) in finished {
        let (state, message, wamid, code, detail, next, fresh_ref) = match outcome {
            Outcome::Sent { message, wamid } => ("sent", Some(*message), Some(wamid.as_str()), None, None, None, false),
            Outcome::Failed { code, detail } => ("failed", None, None, *code, Some(detail.as_str()), None, false),
            Outcome::Skipped(detail) => ("skipped", None, None, None, Some(detail.as_str()), None, false),
            // Meta answered with an error: it did not take the message, so a fresh ref is safe.
            Outcome::Retry { code, detail, at } => {
                ("pending", None, None, *code, Some(detail.as_str()), Some(*at), true)
            }
            Outcome::Stop { .. } => ("pending", None, None, None, None, None, true),
            Outcome::Unknown => continue,
        };
        ids.push(row.id);
        states.push(state);
        messages.push(message);
        wamids.push(wamid);
        codes.push(code.and_then(|c| i32::try_from(c).ok()));
        details.push(detail);
        nexts.push(next);
        fresh_refs.push(fresh_ref);
    }
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        r#"WITH o AS (
               SELECT * FROM unnest($2::bigint[], $3::text[], $4::int[], $5::text[], $6::int[], $7::text[],
                                    $8::timestamptz[], $9::bool[])
                   AS o(id, state, message_id, wamid, code, detail, next, fresh_ref)
           ), recorded AS (
               UPDATE campaign_recipients r
               SET state = o.state::campaign_recipient_state, message_id = o.message_id, wamid = o.wamid,
                   error_code = o.code, detail = o.detail, next_attempt_at = o.next,
                   send_ref = CASE WHEN o.fresh_ref THEN gen_random_uuid() ELSE r.send_ref END,
                   attempts = CASE WHEN o.state = 'pending' AND o.next IS NULL THEN r.attempts - 1 ELSE r.attempts END,
                   sent_at = CASE WHEN o.state = 'sent' THEN NOW() END,
                   updated_at = NOW()
               FROM o
               WHERE r.business_id = $1 AND r.id = o.id AND r.state = 'sending'
               RETURNING r.campaign_id, r.contact_id, r.state
           )
           INSERT INTO campaign_logs (campaign_id, contact_id, sent_at)
           SELECT r.campaign_id, r.contact_id, NOW() FROM recorded r
           JOIN campaigns c ON c.business_id = $1 AND c.id = r.campaign_id
           WHERE r.state = 'sent'"#,
        business.0,
        &ids,
        &states as &[&str],
        &messages as &[Option<i32>],
        &wamids as &[Option<&str>],
        &codes as &[Option<i32>],
        &details as &[Option<&str>],
        &nexts as &[Option<DateTime<Utc>>],
        &fresh_refs
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(code: i64, retryable: bool) -> Error {
        Error::WhatsApp { code, message: format!("({code})"), retryable }
    }

    #[test]
    fn meta_errors_pause_hold_retry_or_fail() {
        assert!(matches!(classify(meta(131048, false), 1), Outcome::Stop { pause: Some(_) }));
        assert!(matches!(classify(meta(132015, false), 1), Outcome::Stop { pause: Some(_) }));
        assert!(matches!(classify(meta(130429, true), 1), Outcome::Stop { pause: None }));
        assert!(matches!(classify(meta(131056, true), 1), Outcome::Retry { code: Some(131056), .. }));
        assert!(matches!(classify(meta(131056, true), MAX_ATTEMPTS), Outcome::Failed { code: Some(131056), .. }));
        assert!(matches!(classify(meta(131026, false), 1), Outcome::Failed { code: Some(131026), .. }));
        assert!(matches!(classify(Error::limit("the plan's limit", "upgrade"), 1), Outcome::Stop { pause: Some(_) }));
        assert!(matches!(classify(Error::conflict("sent already", "look it up"), 1), Outcome::Unknown));
        assert!(matches!(
            classify(Error::invalid("the business has no active WhatsApp number to send from", "connect"), 1),
            Outcome::Stop { pause: Some(_) }
        ));
        assert!(matches!(classify(Error::invalid("Ann has no usable phone number", "add it"), 1), Outcome::Skipped(_)));
    }
}
