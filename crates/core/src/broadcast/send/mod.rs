//! Sending a campaign, exactly once per recipient across crashes and concurrent runners.
//!
//! A tick (the job `campaign:{id}:tick`) first settles rows left `sending` by a run that died, then
//! sends up to a batch of recipients by chunks: each chunk claims its `pending` rows (`FOR UPDATE SKIP
//! LOCKED`, so runners never share a row) and marks them `sending` before anything is sent, then sends
//! them through the one send path's steps with each row's `send_ref` as the idempotency key: a chunk is
//! gated and reserved in one transaction
//! (the billing gate counted once for it, exactly), its calls run concurrently under the number's
//! pacer, and its outcomes (messages, events, the recipients' rows, the campaign log) are recorded in
//! one transaction. Four chunks are in progress at once, so the pacer does not wait for the database.
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
//! [`chunk::MAX_ATTEMPTS`] times; every other code fails the recipient for good with Meta's text.

mod chunk;
mod claims;

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Duration, Utc};
use futures::{StreamExt, stream};
use graphile_worker::{IntoTaskHandlerResult, TaskHandler, WorkerContext};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use super::audience::{self, Params};
use super::{CampaignId, CampaignStatus, pausing};
use crate::auth::Scope;
use crate::config::{Overrides, Settings};
use crate::error::{Error, Result};
use crate::inbox::send::Sender;
use crate::jobs;
use crate::templates::TemplateRef;
use crate::types::{BusinessId, TemplateId};
use crate::whatsapp::pacing::Pacer;

use chunk::{Outcome, send_chunk};
use claims::{Claimed, claim, release, settle};

/// Chunks in progress at once: one chunk's calls are in flight while another is claimed, gated and
/// reserved and a third recorded, and a fourth absorbs the database's slower moments (at 100,000
/// recipients three sustained 910 msg/s of 1,000, four 986: docs/benchmarks.md).
const CHUNKS_IN_FLIGHT: usize = 4;

/// The campaign's job key: one live tick per campaign.
pub(super) fn key(id: CampaignId) -> String {
    format!("campaign:{id}:tick")
}

/// How a tick works.
#[derive(Debug, Clone)]
pub struct TickOptions {
    /// Recipients a tick sends at most (claimed a chunk at a time as chunks start).
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

struct Running {
    template_id: TemplateId,
    params: Params,
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
    let stop = AtomicBool::new(false);
    let exhausted = AtomicBool::new(false);
    let size = options.chunk.max(1);
    let batch = usize::try_from(options.batch).unwrap_or(0);
    // Each chunk claims its rows when it starts, so the next chunk is claimed and reserved while the
    // others' calls are in flight: no pause at batch boundaries, and only the chunks in flight are
    // `sending` if the runner dies.
    let chunks = (0..batch).step_by(size).map(|start| {
        let wanted = size.min(batch - start);
        let (scope, template, campaign, options, stop, exhausted) =
            (&scope, &template, &campaign, &options, &stop, &exhausted);
        async move {
            if stop.load(Ordering::Relaxed) || exhausted.load(Ordering::Relaxed) {
                return Ok((Vec::new(), None));
            }
            let rows = claim(pool, business, id, wanted as i64).await?;
            if rows.len() < wanted {
                exhausted.store(true, Ordering::Relaxed);
            }
            if rows.is_empty() {
                return Ok((Vec::new(), None));
            }
            let done = send_chunk(pool, scope, sender, id, campaign, template, &rows, options, stop).await?;
            // Steered here, inside the chunk, so the other chunks' calls go on meanwhile.
            let paused = steer(pool, business, id, &done, options, stop).await?;
            let done: Vec<(i64, Option<Outcome>)> = done.into_iter().map(|(row, outcome)| (row.id, outcome)).collect();
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
                // Claimed, but the campaign stopped before its call: it goes back below.
                None => untried.push(row),
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

/// Completes the campaign when no row is left to send, else says when the next tick is due. Per tick,
/// so it reads what the partial indexes give without a pass over the campaign: whether a row is due now,
/// the oldest row in flight and, only when nothing is due now, the pending rows (then all waiting for a
/// retry, so few). An aggregate over every row made each tick slower as the campaign grew.
async fn finish(
    pool: &PgPool,
    business: BusinessId,
    id: CampaignId,
    options: &TickOptions,
    throttled: bool,
) -> Result<Option<DateTime<Utc>>> {
    let now_left = sqlx::query!(
        r#"SELECT EXISTS (SELECT 1 FROM campaign_recipients
                          WHERE business_id = $1 AND campaign_id = $2 AND state = 'pending'
                            AND next_attempt_at IS NULL) AS "due_now!",
                  (SELECT min(claimed_at) FROM campaign_recipients
                   WHERE business_id = $1 AND campaign_id = $2 AND state = 'sending') AS oldest_in_flight"#,
        business.0,
        id.0
    )
    .fetch_one(pool)
    .await?;
    let now = Utc::now();
    if now_left.due_now {
        return Ok(Some(if throttled { now + Duration::seconds(30) } else { now }));
    }
    let retries = sqlx::query!(
        r#"SELECT count(*) AS "pending!", min(next_attempt_at) AS due_retry FROM campaign_recipients
           WHERE business_id = $1 AND campaign_id = $2 AND state = 'pending'"#,
        business.0,
        id.0
    )
    .fetch_one(pool)
    .await?;
    if retries.pending == 0 && now_left.oldest_in_flight.is_none() {
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
    let next = if throttled {
        now + Duration::seconds(30)
    } else {
        [retries.due_retry, now_left.oldest_in_flight.map(|t| t + options.reconcile_after)]
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
