//! Sending a campaign, exactly once per recipient across crashes and concurrent runners.
//!
//! A tick (the job `campaign:{id}:tick`) first settles rows left `sending` by a run that died, then
//! claims a batch of `pending` rows (`FOR UPDATE SKIP LOCKED`, so runners never share a row) and marks
//! them `sending` before anything is sent, then sends them by chunks through the one send path's steps
//! with each row's `send_ref` as the idempotency key: a chunk is gated and reserved in one transaction
//! (the billing gate counted once for it, exactly), its calls run concurrently under the number's
//! pacer, and its outcomes (messages, events, the recipients' rows, the campaign log) are recorded in
//! one transaction. Three chunks are in progress at once, so the pacer does not wait for the database.
//!
//! Policy for a row left `sending` (its runner died, or Meta's answer was lost): it is settled from
//! the message its `send_ref` reserved, once `reconcile_after` has passed so a status webhook (which
//! carries the ref as `biz_opaque_callback_data`) has had time to arrive:
//! - no reservation: nothing was sent; it is sent again with the same ref;
//! - the message has a wamid or a delivery status: it went out; the row becomes `sent`;
//! - the message failed with Meta's code: the row fails with it;
//! - the message is still pending after the window: Meta never confirmed it, so it is sent again with
//!   a fresh ref (the window is the documented trade-off between a late duplicate and a missed one).
//!
//! Meta's errors (shared/whatsapp-cloud-api.md §5): 131048 (spam rate limit) and 132015/132016 (template
//! paused or disabled) pause the campaign; throughput limits (4, 80007, 130429) end the tick and come
//! back later; other retryable codes (131056 pair rate, 5xx) retry that recipient with backoff, at most
//! [`MAX_ATTEMPTS`] times; every other code fails the recipient for good with Meta's text.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Duration, Utc};
use futures::{StreamExt, stream};
use graphile_worker::{IntoTaskHandlerResult, TaskHandler, WorkerContext};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::audience::{self, Fields, Params, Template};
use super::{CampaignId, CampaignStatus, pausing};
use crate::auth::Scope;
use crate::config::{Overrides, Settings};
use crate::error::{Error, Result};
use crate::events::Cause;
use crate::inbox::send::{self as inbox_send, Bulk, Compose, Origin, Outgoing, Sender, reserve_many};
use crate::jobs;
use crate::templates::{self, TemplateRef};
use crate::types::{BusinessId, ContactId, TemplateId};
use crate::whatsapp::pacing::Pacer;

/// Attempts per recipient before a retryable error counts as final.
pub const MAX_ATTEMPTS: i32 = 5;

/// Chunks of a batch in progress at once: one chunk's calls are in flight while another is gated and
/// reserved and a third recorded, so the pacer does not wait for the database.
const CHUNKS_IN_FLIGHT: usize = 3;

/// How often recording a chunk of sends Meta answered is tried before the tick fails (its rows then
/// stay `sending` and are settled after the reconcile window).
const RECORD_ATTEMPTS: u64 = 3;

/// The campaign's job key: one live tick per campaign.
pub(super) fn key(id: CampaignId) -> String {
    format!("campaign:{id}:tick")
}

/// How a tick works.
#[derive(Debug, Clone)]
pub struct TickOptions {
    /// Recipients claimed per tick.
    pub batch: i64,
    /// How long a row left `sending` waits for a status webhook before it is settled.
    pub reconcile_after: Duration,
    /// Recipients gated, reserved and recorded together (one transaction each way per chunk).
    pub chunk: usize,
    /// Graph API calls in flight at once per chunk (no database connection is held during a call).
    pub concurrency: usize,
    /// Each number's token bucket; `None` sends as fast as Meta answers (tests).
    pub pacer: Option<Pacer>,
    /// The campaign pauses itself when more than this share of its last [`TickOptions::failure_window`]
    /// finished sends failed (a bad list, a blocked number): 0.0 to 1.0.
    pub failure_share: f64,
    pub failure_window: i64,
}

impl Default for TickOptions {
    fn default() -> TickOptions {
        TickOptions {
            batch: 200,
            reconcile_after: Duration::minutes(10),
            chunk: 100,
            concurrency: 8,
            pacer: None,
            failure_share: 0.5,
            failure_window: 100,
        }
    }
}

impl TickOptions {
    /// The options of the job queue's ticks, from the settings (`broadcast_rate`, `broadcast_failure_share`,
    /// `broadcast_failure_window`, `broadcast_reconcile_minutes`).
    pub fn from_settings(settings: &Settings) -> Result<TickOptions> {
        Ok(TickOptions {
            pacer: Some(Pacer::shared(settings.broadcast_rate())?),
            reconcile_after: Duration::minutes(settings.broadcast_reconcile_minutes()),
            failure_share: settings.broadcast_failure_share(),
            failure_window: settings.broadcast_failure_window(),
            ..TickOptions::default()
        })
    }
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tick {
    pub sent: u32,
    pub failed: u32,
    pub skipped: u32,
    /// Recipients put back for a later attempt.
    pub retrying: u32,
    /// Rows settled from an earlier, interrupted run.
    pub settled: u64,
    /// Why the campaign paused itself during this tick.
    pub paused: Option<String>,
    /// The campaign's status after the tick.
    pub status: Option<CampaignStatus>,
    /// When the next tick should run (`None`: the campaign is not running any more).
    pub next: Option<DateTime<Utc>>,
}

/// A claimed recipient with what its send needs.
struct Claimed {
    id: i64,
    contact: ContactId,
    send_ref: Uuid,
    attempts: i32,
    name: Option<String>,
    phone: Option<String>,
    opted_out: bool,
}

struct Running {
    template_id: TemplateId,
    params: Params,
}

/// What happened to one recipient.
enum Outcome {
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

/// One tick of a running (or due scheduled) campaign.
pub async fn tick(
    pool: &PgPool,
    sender: &Sender,
    business: BusinessId,
    id: CampaignId,
    options: TickOptions,
) -> Result<Tick> {
    let scope = Scope::for_business(pool, business).await?;
    let mut report = Tick::default();
    let due_start = sqlx::query_scalar!(
        r#"SELECT coalesce(status = 'scheduled' AND coalesce(scheduled_at <= NOW(), true), false) AS "due!" FROM campaigns
           WHERE business_id = $1 AND id = $2"#,
        business.0,
        id.0
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| Error::not_found(format!("campaign {id}")))?;
    if due_start {
        // Started by the schedule; a user who started it first already did (the start is refused).
        match super::start(pool, &scope, id).await {
            Ok(_) | Err(Error::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let Some(campaign) = running(pool, business, id).await? else {
        report.status = status(pool, business, id).await?;
        return Ok(report);
    };
    report.settled = settle(pool, business, id, Utc::now() - options.reconcile_after).await?;
    let template = {
        let mut conn = pool.acquire().await?;
        audience::template_on(&mut conn, business, &TemplateRef::Id(campaign.template_id)).await
    };
    let template = match template {
        Ok(t) => t,
        Err(e) => {
            let reason = format!("its template can no longer be sent: {e}");
            pause(pool, business, id, &reason).await?;
            report.paused = Some(reason);
            report.status = status(pool, business, id).await?;
            return Ok(report);
        }
    };
    let claimed = claim(pool, business, id, options.batch).await?;
    let stop = AtomicBool::new(false);
    let size = options.chunk.max(1);
    // By index: a closure taking `&[Claimed]` would not be general enough for the job's `Send` future.
    let chunks = (0..claimed.len()).step_by(size).map(|start| {
        let rows = &claimed[start..(start + size).min(claimed.len())];
        let (scope, template, campaign, options, stop) = (&scope, &template, &campaign, &options, &stop);
        async move {
            // Chunks not started when the campaign stops go back untouched: no reservation used their refs.
            if stop.load(Ordering::Relaxed) {
                return Ok((rows.iter().map(|row| (row, None)).collect(), None));
            }
            let done = send_chunk(pool, scope, sender, id, campaign, template, rows, options, stop).await?;
            // Steered here, inside the chunk, so the other chunk's calls go on meanwhile.
            let paused = steer(pool, business, id, &done, options, stop).await?;
            Ok::<_, Error>((done, paused))
        }
    });
    let mut done = stream::iter(chunks).buffer_unordered(CHUNKS_IN_FLIGHT);
    let mut untried = Vec::new();
    let mut throttled = false;
    while let Some(result) = done.next().await {
        let (rows, paused) = result?;
        for (row, outcome) in rows {
            match outcome {
                None => untried.push(row.id),
                Some(Outcome::Sent { .. }) => report.sent += 1,
                Some(Outcome::Failed { .. }) => report.failed += 1,
                Some(Outcome::Skipped(_)) => report.skipped += 1,
                Some(Outcome::Retry { .. }) => report.retrying += 1,
                Some(Outcome::Unknown) => {}
                Some(Outcome::Stop { .. }) => throttled = true,
            }
        }
        if report.paused.is_none() {
            report.paused = paused;
        }
    }
    drop(done);
    // Rows claimed but not tried go back (or are skipped, if the campaign was cancelled meanwhile).
    release(pool, business, &untried).await?;
    report.next = finish(pool, business, id, &options, throttled).await?;
    report.status = status(pool, business, id).await?;
    Ok(report)
}

async fn running(pool: &PgPool, business: BusinessId, id: CampaignId) -> Result<Option<Running>> {
    let Some(row) = sqlx::query!(
        r#"SELECT template_id AS "template_id: TemplateId", params FROM campaigns
           WHERE business_id = $1 AND id = $2 AND status = 'running'"#,
        business.0,
        id.0
    )
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let params: Params = serde_json::from_value(row.params)
        .map_err(|e| Error::internal(format!("campaign {id} has unreadable parameters: {e}")))?;
    Ok(Some(Running { template_id: row.template_id, params }))
}

async fn status(pool: &PgPool, business: BusinessId, id: CampaignId) -> Result<Option<CampaignStatus>> {
    Ok(sqlx::query_scalar!(
        r#"SELECT coalesce(status, 'draft') AS "status!: CampaignStatus" FROM campaigns WHERE business_id = $1 AND id = $2"#,
        business.0,
        id.0
    )
    .fetch_optional(pool)
    .await?)
}

async fn pause(pool: &PgPool, business: BusinessId, id: CampaignId, reason: &str) -> Result<()> {
    let mut tx = pool.begin().await?;
    pausing::auto_pause_on(&mut tx, business, Some(id), None, reason).await?;
    tx.commit().await?;
    Ok(())
}

/// Settles rows left `sending` since before `before` from the message their ref reserved (the policy
/// in the module's comment). Concurrent settlers are safe: a row another one changed no longer matches.
async fn settle(pool: &PgPool, business: BusinessId, id: CampaignId, before: DateTime<Utc>) -> Result<u64> {
    let done = sqlx::query!(
        r#"UPDATE campaign_recipients r
           SET state = CASE WHEN m.id IS NULL THEN 'pending'::campaign_recipient_state
                            WHEN m.wamid IS NOT NULL OR m.status IN ('sent', 'delivered', 'read') THEN 'sent'
                            WHEN m.status = 'failed' AND m.error_code IS NOT NULL THEN 'failed'
                            ELSE 'pending' END,
               send_ref = CASE WHEN m.id IS NULL OR m.wamid IS NOT NULL OR m.status <> 'pending'
                               THEN r.send_ref ELSE gen_random_uuid() END,
               message_id = m.id, wamid = m.wamid, error_code = m.error_code,
               detail = coalesce(m.error_detail, m.error_title), updated_at = NOW()
           FROM campaign_recipients o
           LEFT JOIN messages m ON m.business_id = o.business_id AND m.client_ref = o.send_ref
           WHERE o.id = r.id AND r.business_id = $1 AND r.campaign_id = $2 AND r.state = 'sending'
             AND r.claimed_at <= $3"#,
        business.0,
        id.0,
        before
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Claims up to `batch` due recipients: marked `sending` and committed before any is sent.
async fn claim(pool: &PgPool, business: BusinessId, id: CampaignId, batch: i64) -> Result<Vec<Claimed>> {
    let rows = sqlx::query!(
        r#"WITH due AS (
               SELECT id FROM campaign_recipients
               WHERE business_id = $1 AND campaign_id = $2 AND state = 'pending'
                 AND (next_attempt_at IS NULL OR next_attempt_at <= NOW())
               ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED
           ), claimed AS (
               -- By primary key from the claimed ids: a join here was planned as a loop over every row of
               -- the campaign (quadratic in its size) whenever the statistics predate the snapshot.
               UPDATE campaign_recipients r
               SET state = 'sending', claimed_at = NOW(), attempts = r.attempts + 1, updated_at = NOW()
               WHERE r.business_id = $1 AND r.id = ANY(ARRAY(SELECT id FROM due))
               RETURNING r.id, r.contact_id, r.send_ref, r.attempts
           )
           SELECT k.id, k.contact_id, k.send_ref, k.attempts, coalesce(c.name, c.profile_name) AS name, c.phone,
                  c.opted_out_at IS NOT NULL AS "opted_out!"
           FROM claimed k JOIN contacts c ON c.business_id = $1 AND c.id = k.contact_id"#,
        business.0,
        id.0,
        batch
    )
    .fetch_all(pool)
    .await?;
    let mut claimed: Vec<Claimed> = rows
        .into_iter()
        .map(|r| Claimed {
            id: r.id,
            contact: ContactId(r.contact_id),
            send_ref: r.send_ref,
            attempts: r.attempts,
            name: r.name,
            phone: r.phone,
            opted_out: r.opted_out,
        })
        .collect();
    claimed.sort_by_key(|c| c.id);
    Ok(claimed)
}

/// After a chunk: pauses the campaign for the first reason its outcomes gave (Meta's spam limit, a paused
/// template, the billing limit), or for a run of failures, and stops the tick's next chunks when the
/// campaign is no longer running (paused or cancelled by anyone). Returns the reason it paused for.
async fn steer(
    pool: &PgPool,
    business: BusinessId,
    id: CampaignId,
    done: &[(&Claimed, Option<Outcome>)],
    options: &TickOptions,
    stop: &AtomicBool,
) -> Result<Option<String>> {
    let mut paused = done.iter().find_map(|(_, outcome)| match outcome {
        Some(Outcome::Stop { pause: Some(reason) }) => Some(reason.clone()),
        _ => None,
    });
    if paused.is_none() {
        paused = pausing::too_many_failures(pool, business, id, options.failure_window, options.failure_share).await?;
    }
    if let Some(reason) = &paused {
        pause(pool, business, id, reason).await?;
    }
    if status(pool, business, id).await? != Some(CampaignStatus::Running) {
        stop.store(true, Ordering::Relaxed);
    }
    Ok(paused)
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
async fn send_chunk<'a>(
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

fn classify(error: Error, attempts: i32) -> Outcome {
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

async fn release(pool: &PgPool, business: BusinessId, rows: &[i64]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        r#"UPDATE campaign_recipients r
           SET state = CASE WHEN c.status = 'cancelled' THEN 'skipped'::campaign_recipient_state ELSE 'pending' END,
               detail = CASE WHEN c.status = 'cancelled' THEN 'campaign cancelled' END,
               attempts = r.attempts - 1, claimed_at = NULL, updated_at = NOW()
           FROM campaigns c
           WHERE r.business_id = $1 AND r.id = ANY($2) AND r.state = 'sending'
             AND c.business_id = r.business_id AND c.id = r.campaign_id"#,
        business.0,
        rows
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Completes the campaign when no row is left to send, else says when the next tick is due.
async fn finish(
    pool: &PgPool,
    business: BusinessId,
    id: CampaignId,
    options: &TickOptions,
    throttled: bool,
) -> Result<Option<DateTime<Utc>>> {
    let left = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE state = 'pending') AS "pending!",
                  min(next_attempt_at) FILTER (WHERE state = 'pending') AS due_retry,
                  bool_or(state = 'pending' AND next_attempt_at IS NULL) AS due_now,
                  min(claimed_at) FILTER (WHERE state = 'sending') AS oldest_in_flight
           FROM campaign_recipients WHERE business_id = $1 AND campaign_id = $2"#,
        business.0,
        id.0
    )
    .fetch_one(pool)
    .await?;
    if left.pending == 0 && left.oldest_in_flight.is_none() {
        sqlx::query!(
            r#"UPDATE campaigns SET status = 'completed', finished_at = NOW()
               WHERE business_id = $1 AND id = $2 AND status = 'running'"#,
            business.0,
            id.0
        )
        .execute(pool)
        .await?;
        return Ok(None);
    }
    let now = Utc::now();
    let next = if throttled {
        now + Duration::seconds(30)
    } else if left.due_now == Some(true) {
        now
    } else {
        [left.due_retry, left.oldest_in_flight.map(|t| t + options.reconcile_after)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now)
            .max(now)
    };
    Ok(Some(next))
}

/// The job: one tick, then the next one queued under the campaign's key while it runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CampaignTick {
    pub business_id: BusinessId,
    pub campaign_id: CampaignId,
}

impl TaskHandler for CampaignTick {
    const IDENTIFIER: &'static str = "broadcast.campaign_tick";

    async fn run(self, ctx: WorkerContext) -> impl IntoTaskHandlerResult {
        let pool = ctx.pg_pool();
        let result = async {
            let settings = Settings::load(&Overrides::default())?;
            let sender = Sender::from_settings(&settings);
            let options = TickOptions::from_settings(&settings)?;
            let report = match tick(pool, &sender, self.business_id, self.campaign_id, options).await {
                Ok(report) => report,
                // The campaign (or its business) was deleted: nothing is left to do, and retrying cannot help.
                Err(Error::NotFound { .. }) => return Ok(()),
                Err(e) => return Err(e),
            };
            if report.status == Some(CampaignStatus::Running)
                && let Some(at) = report.next
            {
                let mut conn = pool.acquire().await?;
                requeue(&mut conn, &self, at).await?;
            }
            Ok::<_, Error>(())
        };
        result.await.map_err(|e| jobs::failure(Self::IDENTIFIER, &e))
    }
}

async fn requeue(conn: &mut PgConnection, task: &CampaignTick, at: DateTime<Utc>) -> Result<()> {
    let schedule = jobs::Schedule { run_at: Some(at), key: Some(key(task.campaign_id)), ..jobs::Schedule::default() };
    jobs::enqueue_on(conn, task, &schedule).await?;
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
