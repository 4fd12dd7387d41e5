//! Sending a campaign, exactly once per recipient across crashes and concurrent runners.
//!
//! A tick (the job `campaign:{id}:tick`) first settles rows left `sending` by a run that died, then
//! claims a batch of `pending` rows (`FOR UPDATE SKIP LOCKED`, so runners never share a row) and marks
//! them `sending` before anything is sent, then sends each through the one send path with the row's
//! `send_ref` as the idempotency key and records the outcome on the row.
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

use chrono::{DateTime, Duration, Utc};
use graphile_worker::{IntoTaskHandlerResult, TaskHandler, WorkerContext};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::audience::{self, Fields, Param};
use super::{CampaignId, CampaignStatus};
use crate::auth::Scope;
use crate::config::{Overrides, Settings};
use crate::error::{Error, Result};
use crate::events::Cause;
use crate::inbox::send::{Compose, Origin, Outgoing, Sender, TemplateCategory, send_as};
use crate::jobs;
use crate::types::{BusinessId, ContactId};

/// Attempts per recipient before a retryable error counts as final.
pub const MAX_ATTEMPTS: i32 = 5;

/// Sends between two looks at the campaign's status during a batch.
const STEER_EVERY: usize = 10;

/// The campaign's job key: one live tick per campaign.
pub(super) fn key(id: CampaignId) -> String {
    format!("campaign:{id}:tick")
}

/// How a tick works.
#[derive(Debug, Clone, Copy)]
pub struct TickOptions {
    /// Recipients claimed per tick.
    pub batch: i64,
    /// How long a row left `sending` waits for a status webhook before it is settled.
    pub reconcile_after: Duration,
}

impl Default for TickOptions {
    fn default() -> TickOptions {
        TickOptions { batch: 200, reconcile_after: Duration::minutes(10) }
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
    template_id: i32,
    language: String,
    category: TemplateCategory,
    params: Vec<Param>,
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
        audience::template_by_id(&mut conn, business, campaign.template_id).await
    };
    let template = match template {
        Ok(t) => t,
        Err(e) => {
            pause(pool, business, id, &format!("its template can no longer be sent: {e}")).await?;
            report.paused = Some(e.to_string());
            report.status = status(pool, business, id).await?;
            return Ok(report);
        }
    };
    let claimed = claim(pool, business, id, options.batch).await?;
    let mut rest = claimed.iter();
    let mut stopped_at = None;
    let mut tried = 0;
    for row in rest.by_ref() {
        let outcome = send_one(pool, &scope, sender, id, &campaign, &template.name, row).await;
        match &outcome {
            Outcome::Sent { .. } => report.sent += 1,
            Outcome::Failed { .. } => report.failed += 1,
            Outcome::Skipped(_) => report.skipped += 1,
            Outcome::Retry { .. } => report.retrying += 1,
            Outcome::Unknown => {}
            Outcome::Stop { pause: reason } => {
                if let Some(reason) = reason {
                    pause(pool, business, id, reason).await?;
                    report.paused = Some(reason.clone());
                }
                stopped_at = Some(row.id);
            }
        }
        record(pool, business, row, &outcome).await?;
        if stopped_at.is_some() {
            break;
        }
        // A pause or cancel takes effect within a few sends, not at the end of the batch.
        tried += 1;
        if tried % STEER_EVERY == 0 && status(pool, business, id).await? != Some(CampaignStatus::Running) {
            break;
        }
    }
    // Rows claimed but not tried go back (or are skipped, if the campaign was cancelled meanwhile): no
    // reservation was made with their ref.
    let untried: Vec<i64> = rest.map(|r| r.id).collect();
    release(pool, business, &untried).await?;
    report.next = finish(pool, business, id, options, stopped_at.is_some()).await?;
    report.status = status(pool, business, id).await?;
    Ok(report)
}

async fn running(pool: &PgPool, business: BusinessId, id: CampaignId) -> Result<Option<Running>> {
    let Some(row) = sqlx::query!(
        r#"SELECT template_id, language, category, params FROM campaigns
           WHERE business_id = $1 AND id = $2 AND status = 'running'"#,
        business.0,
        id.0
    )
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let params: Vec<Param> = serde_json::from_value(row.params)
        .map_err(|e| Error::internal(format!("campaign {id} has unreadable parameters: {e}")))?;
    Ok(Some(Running { template_id: row.template_id, language: row.language, category: row.category.parse()?, params }))
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
    sqlx::query!(
        "UPDATE campaigns SET status = 'paused', paused_reason = $3 WHERE business_id = $1 AND id = $2 AND status = 'running'",
        business.0,
        id.0,
        reason
    )
    .execute(pool)
    .await?;
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
               ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
           UPDATE campaign_recipients r
           SET state = 'sending', claimed_at = NOW(), attempts = r.attempts + 1, updated_at = NOW()
           FROM due, contacts c
           WHERE r.id = due.id AND r.business_id = $1 AND c.business_id = $1 AND c.id = r.contact_id
           RETURNING r.id, r.contact_id, r.send_ref, r.attempts,
                     coalesce(c.name, c.profile_name) AS name, c.phone, c.opted_out_at IS NOT NULL AS "opted_out!""#,
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

async fn send_one(
    pool: &PgPool,
    scope: &Scope,
    sender: &Sender,
    id: CampaignId,
    campaign: &Running,
    template: &str,
    row: &Claimed,
) -> Outcome {
    // Opt-outs are checked again at send time (the send path refuses marketing to them too).
    if row.opted_out {
        return Outcome::Skipped("opted out".into());
    }
    let fields = Fields { name: row.name.clone(), phone: row.phone.clone() };
    let mut params = Vec::with_capacity(campaign.params.len());
    for (n, param) in campaign.params.iter().enumerate() {
        match param.value(&fields) {
            Some(value) => params.push(value),
            None => return Outcome::Skipped(format!("parameter {{{{{}}}}} has no value for this contact", n + 1)),
        }
    }
    let outgoing = Outgoing {
        contact: row.contact,
        compose: Compose::Template {
            name: template.to_string(),
            language: campaign.language.clone(),
            params,
            category: campaign.category,
        },
        account: None,
    };
    let origin = Origin { cause: Some(Cause::campaign(id.0)), campaign: Some(id.0), client_ref: Some(row.send_ref) };
    match send_as(pool, scope, sender, &outgoing, &origin).await {
        Ok(sent) => Outcome::Sent { message: sent.id.0, wamid: sent.wamid },
        Err(e) => classify(e, row.attempts),
    }
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

async fn record(pool: &PgPool, business: BusinessId, row: &Claimed, outcome: &Outcome) -> Result<()> {
    let (state, message, wamid, code, detail, next, fresh_ref) = match outcome {
        Outcome::Sent { message, wamid } => ("sent", Some(*message), Some(wamid.as_str()), None, None, None, false),
        Outcome::Failed { code, detail } => ("failed", None, None, *code, Some(detail.as_str()), None, false),
        Outcome::Skipped(detail) => ("skipped", None, None, None, Some(detail.as_str()), None, false),
        // Meta answered with an error: it did not take the message, so a fresh ref is safe.
        Outcome::Retry { code, detail, at } => ("pending", None, None, *code, Some(detail.as_str()), Some(*at), true),
        Outcome::Stop { .. } => ("pending", None, None, None, None, None, true),
        Outcome::Unknown => return Ok(()),
    };
    let code = code.and_then(|c| i32::try_from(c).ok());
    sqlx::query!(
        r#"UPDATE campaign_recipients
           SET state = $3::text::campaign_recipient_state, message_id = $4, wamid = $5, error_code = $6, detail = $7,
               next_attempt_at = $8, send_ref = CASE WHEN $9 THEN gen_random_uuid() ELSE send_ref END,
               attempts = CASE WHEN $3 = 'pending' AND $8::timestamptz IS NULL THEN attempts - 1 ELSE attempts END,
               updated_at = NOW()
           WHERE business_id = $1 AND id = $2 AND state = 'sending'"#,
        business.0,
        row.id,
        state,
        message,
        wamid,
        code,
        detail,
        next,
        fresh_ref
    )
    .execute(pool)
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
    options: TickOptions,
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
            let sender = Sender::from_settings(&Settings::load(&Overrides::default())?);
            let report = match tick(pool, &sender, self.business_id, self.campaign_id, TickOptions::default()).await {
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
