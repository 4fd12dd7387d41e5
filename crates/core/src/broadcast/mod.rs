//! The broadcast dashboard (seed Broadcast): campaigns that send one approved template to a filtered
//! audience, exactly once per recipient, on the job queue.
//!
//! A campaign is made as a draft with its template, parameter mapping and audience filter (the
//! contacts' own filter, stored). Starting it snapshots the audience into `campaign_recipients`, one
//! UNIQUE row per (campaign, contact), opted-out contacts and contacts without a number kept as
//! `skipped` with the reason; from then on the rows are the truth and [`send`] works them off.

mod audience;
mod followup;
mod pausing;
mod plan;
mod prices;
mod replies;
mod send;
mod stats;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use crate::auth::{Area, Scope};
use crate::error::{Error, Result, op};
use crate::jobs::{self, Schedule};
use crate::templates::TemplateRef;
use crate::types::{BusinessId, ContactId};

pub use audience::{Audience, AudienceCount, Param, Params, phones_from_csv};
pub use followup::{Retarget, contacts_by_phone, retarget};
pub use pausing::pause_for_template_on;
pub use plan::{Cost, MarketCost, Plan, TierHeadroom, plan};
pub use prices::{MarketPrice, PriceTable};
pub use replies::{InboundReply, attribute_replies_on, mark_delivered_on};
pub use send::{CampaignTick, Tick, TickOptions, tick};
pub use stats::{FailureCount, Progress, Stats, progress, stats};

/// A campaign's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[sqlx(transparent)]
#[serde(transparent)]
pub struct CampaignId(pub i32);

impl fmt::Display for CampaignId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for CampaignId {
    type Err = Error;
    fn from_str(s: &str) -> Result<CampaignId> {
        s.trim().parse::<i32>().ok().filter(|id| *id > 0).map(CampaignId).ok_or_else(|| {
            Error::invalid(
                format!("{s:?} is not a valid campaign id"),
                format!("campaign ids are shown by {}", op("broadcast list")),
            )
        })
    }
}

/// Where a campaign is in its life (`campaigns.status`, text checked by the database).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CampaignStatus {
    Draft,
    Scheduled,
    Running,
    Paused,
    Completed,
    Cancelled,
}

impl CampaignStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Draft => "draft",
            CampaignStatus::Scheduled => "scheduled",
            CampaignStatus::Running => "running",
            CampaignStatus::Paused => "paused",
            CampaignStatus::Completed => "completed",
            CampaignStatus::Cancelled => "cancelled",
        }
    }
}

impl FromStr for CampaignStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<CampaignStatus> {
        use CampaignStatus::*;
        [Draft, Scheduled, Running, Paused, Completed, Cancelled]
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| Error::internal(format!("{s:?} is not a campaign status")))
    }
}

// Stored as text (the seed's column), so it reads and binds as text.
impl sqlx::Type<sqlx::Postgres> for CampaignStatus {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <String as sqlx::Type<sqlx::Postgres>>::type_info()
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for CampaignStatus {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> std::result::Result<Self, sqlx::error::BoxDynError> {
        Ok(<&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?.parse()?)
    }
}

impl fmt::Display for CampaignStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A recipient row's state (`campaign_recipient_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "campaign_recipient_state", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum RecipientState {
    /// Waiting for its send (or for a retry at `next_attempt_at`).
    Pending,
    /// Claimed by a sender; its outcome is not recorded yet.
    Sending,
    /// Meta accepted it (delivery and reads are on the message).
    Sent,
    /// Meta refused it for good, with its code.
    Failed,
    /// Never sent: opted out, no number, or the campaign was cancelled.
    Skipped,
}

impl FromStr for RecipientState {
    type Err = Error;
    fn from_str(s: &str) -> Result<RecipientState> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pending" => Ok(RecipientState::Pending),
            "sending" => Ok(RecipientState::Sending),
            "sent" => Ok(RecipientState::Sent),
            "failed" => Ok(RecipientState::Failed),
            "skipped" => Ok(RecipientState::Skipped),
            _ => Err(Error::invalid(
                format!("{s:?} is not a recipient state"),
                "use one of: pending, sending, sent, failed, skipped",
            )),
        }
    }
}

/// How long after its campaign message a customer's message counts as a reply, unless the campaign
/// says otherwise (Interakt's "replied within 72 h").
pub const DEFAULT_REPLY_WINDOW_HOURS: i32 = 72;

/// A new campaign.
#[derive(Debug, Clone)]
pub struct NewCampaign {
    pub name: String,
    /// An approved template of the business; its language and category are the campaign's.
    pub template: TemplateRef,
    /// The template's parameters by key; named ones may also come from each recipient's fields.
    pub params: Params,
    pub audience: Audience,
    /// Replies within this many hours of a recipient's message count for the campaign (1 to 720).
    pub reply_window_hours: i32,
}

/// A campaign as listed and shown.
#[derive(Debug, Clone, Serialize)]
pub struct Campaign {
    pub id: CampaignId,
    pub name: String,
    pub template: String,
    pub language: String,
    pub category: String,
    pub params: serde_json::Value,
    pub audience: serde_json::Value,
    pub status: CampaignStatus,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub paused_reason: Option<String>,
    pub reply_window_hours: i32,
    /// The campaign this one follows up (`retarget`).
    pub retarget_of: Option<CampaignId>,
    pub recipients: i64,
    pub sent: i64,
    pub failed: i64,
    pub skipped: i64,
}

/// Creates a draft campaign. The template must be one of the business's approved templates, and the
/// parameters must fill every placeholder (from the recipient's fields where they name one).
pub async fn create(pool: &PgPool, scope: &Scope, new: &NewCampaign) -> Result<Campaign> {
    scope.require(Area::Broadcast)?;
    let mut tx = pool.begin().await?;
    let id = insert_on(&mut tx, scope, new, None).await?;
    tx.commit().await?;
    get(pool, scope, id).await
}

pub(super) async fn insert_on(
    conn: &mut PgConnection,
    scope: &Scope,
    new: &NewCampaign,
    retarget_of: Option<CampaignId>,
) -> Result<CampaignId> {
    let name = new.name.trim();
    if name.is_empty() {
        return Err(Error::invalid("the campaign has no name", "name it, e.g. \"Spring sale\""));
    }
    if !(1..=720).contains(&new.reply_window_hours) {
        return Err(Error::invalid(
            format!("a reply window of {} hours is outside 1 to 720", new.reply_window_hours),
            format!("give the hours after a send in which a reply counts (default {DEFAULT_REPLY_WINDOW_HOURS})"),
        ));
    }
    let template = audience::template_on(conn, scope.business(), &new.template).await?;
    audience::check_params(&template, &new.params)?;
    let id = sqlx::query_scalar!(
        r#"INSERT INTO campaigns (business_id, template_id, name, language, category, params, audience, created_by,
                                  reply_window_hours, retarget_of)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id AS "id: CampaignId""#,
        scope.business().0,
        template.id.0,
        name,
        template.spec.language,
        template.category.as_str(),
        serde_json::to_value(&new.params).map_err(|e| Error::internal(format!("campaign params: {e}")))?,
        serde_json::to_value(&new.audience).map_err(|e| Error::internal(format!("campaign audience: {e}")))?,
        scope.user().map(|u| u.0),
        new.reply_window_hours,
        retarget_of.map(|c| c.0)
    )
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// What [`create`] would make, changing nothing (`--dry-run`): the template and parameters are
/// checked, and the audience counted as a start would snapshot it now.
pub async fn dry_run(pool: &PgPool, scope: &Scope, new: &NewCampaign) -> Result<AudienceCount> {
    scope.require(Area::Broadcast)?;
    let mut conn = pool.acquire().await?;
    let template = audience::template_on(&mut conn, scope.business(), &new.template).await?;
    audience::check_params(&template, &new.params)?;
    drop(conn);
    audience::count(pool, scope, &new.audience, template.category).await
}

/// The business's campaigns, newest first.
pub async fn list(pool: &PgPool, scope: &Scope) -> Result<Vec<Campaign>> {
    scope.require(Area::Broadcast)?;
    select(pool, scope.business(), None).await
}

/// One campaign of the business.
pub async fn get(pool: &PgPool, scope: &Scope, id: CampaignId) -> Result<Campaign> {
    scope.require(Area::Broadcast)?;
    select(pool, scope.business(), Some(id)).await?.pop().ok_or_else(|| Error::not_found(format!("campaign {id}")))
}

async fn select(pool: &PgPool, business: BusinessId, id: Option<CampaignId>) -> Result<Vec<Campaign>> {
    Ok(sqlx::query_as!(
        Campaign,
        r#"SELECT c.id AS "id: CampaignId", c.name, t.name AS template, c.language, c.category, c.params, c.audience,
                  coalesce(c.status, 'draft') AS "status!: CampaignStatus", c.scheduled_at, c.created_at, c.started_at, c.finished_at,
                  c.paused_reason, c.reply_window_hours, c.retarget_of AS "retarget_of: CampaignId",
                  count(r.id) AS "recipients!",
                  count(r.id) FILTER (WHERE r.state = 'sent') AS "sent!",
                  count(r.id) FILTER (WHERE r.state = 'failed') AS "failed!",
                  count(r.id) FILTER (WHERE r.state = 'skipped') AS "skipped!"
           FROM campaigns c
           JOIN message_templates t ON t.business_id = c.business_id AND t.id = c.template_id
           LEFT JOIN campaign_recipients r ON r.business_id = c.business_id AND r.campaign_id = c.id
           WHERE c.business_id = $1 AND ($2::int IS NULL OR c.id = $2)
           GROUP BY c.id, t.name
           ORDER BY c.id DESC"#,
        business.0,
        id.map(|i| i.0)
    )
    .fetch_all(pool)
    .await?)
}

/// Locks the campaign's row and returns its status; "not found" for another business's ids.
pub(super) async fn lock(conn: &mut PgConnection, business: BusinessId, id: CampaignId) -> Result<CampaignStatus> {
    sqlx::query_scalar!(
        r#"SELECT coalesce(status, 'draft') AS "status!: CampaignStatus" FROM campaigns
           WHERE business_id = $1 AND id = $2 FOR UPDATE"#,
        business.0,
        id.0
    )
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| Error::not_found(format!("campaign {id}")))
}

async fn set_status(
    conn: &mut PgConnection,
    business: BusinessId,
    id: CampaignId,
    status: CampaignStatus,
    reason: Option<&str>,
) -> Result<()> {
    sqlx::query!(
        r#"UPDATE campaigns
           SET status = $3, paused_reason = $4,
               started_at = CASE WHEN $3 = 'running' THEN coalesce(started_at, NOW()) ELSE started_at END,
               finished_at = CASE WHEN $3 IN ('completed', 'cancelled')
                                  THEN NOW() ELSE finished_at END
           WHERE business_id = $1 AND id = $2"#,
        business.0,
        id.0,
        status.as_str(),
        reason
    )
    .execute(conn)
    .await?;
    Ok(())
}

fn refused(id: CampaignId, status: CampaignStatus, action: &str, hint: &str) -> Error {
    Error::conflict(format!("campaign {id} is {status}, so it cannot be {action}"), hint)
}

/// Queues the campaign's tick at `at` (now when `None`) under its key: one live tick per campaign.
async fn wake(conn: &mut PgConnection, business: BusinessId, id: CampaignId, at: Option<DateTime<Utc>>) -> Result<()> {
    let task = CampaignTick { business_id: business, campaign_id: id };
    jobs::enqueue_on(conn, &task, &Schedule { run_at: at, key: Some(send::key(id)), ..Schedule::default() }).await?;
    Ok(())
}

/// Schedules a draft (or re-schedules a scheduled) campaign to start at `at`.
pub async fn schedule(pool: &PgPool, scope: &Scope, id: CampaignId, at: DateTime<Utc>) -> Result<Campaign> {
    scope.require(Area::Broadcast)?;
    let mut tx = pool.begin().await?;
    let status = lock(&mut tx, scope.business(), id).await?;
    if !matches!(status, CampaignStatus::Draft | CampaignStatus::Scheduled) {
        return Err(refused(id, status, "scheduled", "only draft and scheduled campaigns can be (re)scheduled"));
    }
    sqlx::query!(
        "UPDATE campaigns SET status = 'scheduled', scheduled_at = $3 WHERE business_id = $1 AND id = $2",
        scope.business().0,
        id.0,
        at
    )
    .execute(&mut *tx)
    .await?;
    wake(&mut tx, scope.business(), id, Some(at)).await?;
    tx.commit().await?;
    get(pool, scope, id).await
}

/// Who a draft or scheduled campaign would reach now, without changing anything (`--dry-run`).
pub async fn preview(pool: &PgPool, scope: &Scope, id: CampaignId) -> Result<AudienceCount> {
    scope.require(Area::Broadcast)?;
    let campaign = get(pool, scope, id).await?;
    let category = campaign.category.parse()?;
    audience::count(pool, scope, &stored_audience(&campaign)?, category).await
}

fn stored_audience(campaign: &Campaign) -> Result<Audience> {
    serde_json::from_value(campaign.audience.clone())
        .map_err(|e| Error::internal(format!("campaign {} has an unreadable audience: {e}", campaign.id)))
}

/// Recipients from which a snapshot refreshes the table's statistics.
const LARGE_SNAPSHOT: usize = 10_000;

/// Starts a draft or scheduled campaign now: snapshots its recipients and queues its first tick, in one
/// transaction. Returns who it reaches.
pub async fn start(pool: &PgPool, scope: &Scope, id: CampaignId) -> Result<AudienceCount> {
    scope.require(Area::Broadcast)?;
    let campaign = get(pool, scope, id).await?;
    let ids = audience::matching(pool, scope, &stored_audience(&campaign)?).await?;
    let mut tx = pool.begin().await?;
    let status = lock(&mut tx, scope.business(), id).await?;
    if !matches!(status, CampaignStatus::Draft | CampaignStatus::Scheduled) {
        return Err(refused(id, status, "started", "a running or paused campaign continues with `resume`"));
    }
    let counted = audience::snapshot(&mut tx, scope.business(), id, &ids, campaign.category.parse()?).await?;
    set_status(&mut tx, scope.business(), id, CampaignStatus::Running, None).await?;
    wake(&mut tx, scope.business(), id, None).await?;
    tx.commit().await?;
    // A large snapshot changes the table's shape at once: fresh statistics keep the tick's statements on
    // their indexes instead of waiting for autovacuum to notice.
    if ids.len() >= LARGE_SNAPSHOT {
        sqlx::query("ANALYZE campaign_recipients").execute(pool).await?;
    }
    Ok(counted)
}

/// Pauses a running campaign: sends in flight finish, no new ones start.
pub async fn pause(pool: &PgPool, scope: &Scope, id: CampaignId) -> Result<Campaign> {
    scope.require(Area::Broadcast)?;
    let mut tx = pool.begin().await?;
    let status = lock(&mut tx, scope.business(), id).await?;
    if status != CampaignStatus::Running {
        return Err(refused(id, status, "paused", "only a running campaign can be paused"));
    }
    set_status(&mut tx, scope.business(), id, CampaignStatus::Paused, Some("paused by a user")).await?;
    tx.commit().await?;
    get(pool, scope, id).await
}

/// Resumes a paused campaign where it stopped.
pub async fn resume(pool: &PgPool, scope: &Scope, id: CampaignId) -> Result<Campaign> {
    scope.require(Area::Broadcast)?;
    let mut tx = pool.begin().await?;
    let status = lock(&mut tx, scope.business(), id).await?;
    if status != CampaignStatus::Paused {
        return Err(refused(id, status, "resumed", "only a paused campaign can be resumed"));
    }
    set_status(&mut tx, scope.business(), id, CampaignStatus::Running, None).await?;
    wake(&mut tx, scope.business(), id, None).await?;
    tx.commit().await?;
    get(pool, scope, id).await
}

/// Cancels a campaign that has not finished: recipients not yet sent are skipped for good.
pub async fn cancel(pool: &PgPool, scope: &Scope, id: CampaignId) -> Result<Campaign> {
    scope.require(Area::Broadcast)?;
    let mut tx = pool.begin().await?;
    let status = lock(&mut tx, scope.business(), id).await?;
    if matches!(status, CampaignStatus::Completed | CampaignStatus::Cancelled) {
        return Err(refused(id, status, "cancelled", "it has already finished"));
    }
    sqlx::query!(
        r#"UPDATE campaign_recipients SET state = 'skipped', detail = 'campaign cancelled', updated_at = NOW()
           WHERE business_id = $1 AND campaign_id = $2 AND state = 'pending'"#,
        scope.business().0,
        id.0
    )
    .execute(&mut *tx)
    .await?;
    set_status(&mut tx, scope.business(), id, CampaignStatus::Cancelled, None).await?;
    tx.commit().await?;
    get(pool, scope, id).await
}

/// One recipient row.
#[derive(Debug, Clone, Serialize)]
pub struct Recipient {
    pub contact_id: ContactId,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub state: RecipientState,
    pub attempts: i32,
    pub wamid: Option<String>,
    pub error_code: Option<i32>,
    pub detail: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// The campaign's recipients, optionally in one state, in snapshot order.
pub async fn recipients(
    pool: &PgPool,
    scope: &Scope,
    id: CampaignId,
    state: Option<RecipientState>,
    limit: i64,
) -> Result<Vec<Recipient>> {
    scope.require(Area::Broadcast)?;
    let limit = crate::listing::limit(limit, 10_000)?;
    get(pool, scope, id).await?;
    Ok(sqlx::query_as!(
        Recipient,
        r#"SELECT r.contact_id AS "contact_id: ContactId", c.name, c.phone, r.state AS "state: RecipientState",
                  r.attempts, r.wamid, r.error_code, r.detail, r.updated_at
           FROM campaign_recipients r
           JOIN contacts c ON c.business_id = r.business_id AND c.id = r.contact_id
           WHERE r.business_id = $1 AND r.campaign_id = $2 AND ($3::campaign_recipient_state IS NULL OR r.state = $3)
           ORDER BY r.id LIMIT $4"#,
        scope.business().0,
        id.0,
        state as Option<RecipientState>,
        limit
    )
    .fetch_all(pool)
    .await?)
}
