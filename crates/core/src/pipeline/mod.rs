//! Sales pipeline dashboard: the stage-change path every caller shares, the business's move and keyword
//! rules, the board, history and metrics.
//!
//! There is exactly one way a contact's stage changes: [`move_stage_on`] (seed Pipeline FLOW 2). Manual
//! moves, bulk moves, keyword rules, imports and automation all go through it, so all of them lock the
//! contact, obey the business's rules, write `pipeline_history` only on a real change and emit
//! `stage_changed`.

mod reports;
mod rules;

pub use reports::*;
pub use rules::*;

use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use crate::auth::{Area, Scope};
use crate::contacts::{self, ContactFilter, Sort};
use crate::error::{Error, Result, input, op};
use crate::events::{self, Cause, Event};
use crate::types::{ContactId, Stage};

/// Who or what asked for a stage change; stored in `pipeline_history.source` and the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MoveSource {
    Manual,
    Bulk,
    Keyword,
    Import,
    Automation,
}

impl MoveSource {
    pub fn as_str(self) -> &'static str {
        match self {
            MoveSource::Manual => "manual",
            MoveSource::Bulk => "bulk",
            MoveSource::Keyword => "keyword",
            MoveSource::Import => "import",
            MoveSource::Automation => "automation",
        }
    }
}

/// What a stage change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MoveOutcome {
    /// The stage changed; history and event were written.
    Moved,
    /// The contact already was in the target stage: nothing written.
    Unchanged,
    /// The business's rules forbid this transition: nothing written.
    Blocked,
}

/// The result of one stage change.
#[derive(Debug, Clone, Serialize)]
pub struct StageMove {
    pub contact: ContactId,
    pub from: Stage,
    pub to: Stage,
    pub outcome: MoveOutcome,
}

/// Moves a contact to `to` on the caller's connection or transaction: locks the contact row (so
/// concurrent moves of one contact queue up and each sees its predecessor's stage), checks the
/// business's blocked transitions, updates, and writes history and the `stage_changed` event only
/// when the stage really changes. A blocked move is reported as [`MoveOutcome::Blocked`], not as an
/// error, so batch callers can count it; a contact outside the scope's business is `NotFound`.
///
/// Run it inside a transaction: the lock lasts until the caller commits.
pub async fn move_stage_on(
    conn: &mut PgConnection,
    scope: &Scope,
    contact: ContactId,
    to: Stage,
    source: MoveSource,
) -> Result<StageMove> {
    // A keyword move is the customer's doing: their message named the stage.
    let cause = if source == MoveSource::Keyword { Cause::customer() } else { Cause::of(scope) };
    move_stage_as_on(conn, scope, contact, to, source, cause).await
}

/// [`move_stage_on`] with the caller's cause on the event: an automation rule's, so the engine's loop
/// guard sees which rule moved the contact and how deep the chain is.
pub async fn move_stage_as_on(
    conn: &mut PgConnection,
    scope: &Scope,
    contact: ContactId,
    to: Stage,
    source: MoveSource,
    cause: Cause,
) -> Result<StageMove> {
    scope.require(Area::Pipeline)?;
    let business = scope.business();
    let from = sqlx::query_scalar!(
        r#"SELECT coalesce(stage, 'New') AS "stage!: Stage" FROM contacts
           WHERE business_id = $1 AND id = $2 FOR UPDATE"#,
        business.0,
        contact.0
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::not_found(format!("contact {contact}")))?;
    let mut result = StageMove { contact, from, to, outcome: MoveOutcome::Unchanged };
    if from == to {
        return Ok(result);
    }
    let blocked = sqlx::query_scalar!(
        r#"SELECT EXISTS (
               SELECT 1 FROM pipeline_blocked_transitions
               WHERE business_id = $1 AND from_stage = $2 AND to_stage = $3
           ) AS "blocked!""#,
        business.0,
        from as Stage,
        to as Stage
    )
    .fetch_one(&mut *conn)
    .await?;
    if blocked {
        result.outcome = MoveOutcome::Blocked;
        return Ok(result);
    }
    sqlx::query!(
        "UPDATE contacts SET stage = $3 WHERE business_id = $1 AND id = $2",
        business.0,
        contact.0,
        to as Stage
    )
    .execute(&mut *conn)
    .await?;
    // clock_timestamp, not NOW(): moves queued on the row lock commit in lock order, and NOW() (the
    // transaction's start) could date a later move before an earlier one.
    let history_id = sqlx::query_scalar!(
        r#"INSERT INTO pipeline_history (business_id, contact_id, from_stage, to_stage, changed_at, source, user_id)
           VALUES ($1, $2, $3, $4, clock_timestamp(), $5, $6)
           RETURNING id"#,
        business.0,
        contact.0,
        from as Stage,
        to as Stage,
        source.as_str(),
        scope.user().map(|u| u.0)
    )
    .fetch_one(&mut *conn)
    .await?;
    let event = Event::StageChanged { contact_id: contact, from, to, source, history_id, user_id: scope.user() };
    events::emit(conn, business, Some(contact), event, cause).await?;
    result.outcome = MoveOutcome::Moved;
    Ok(result)
}

/// Recomputes every stage change's previous change (`previous_changed_at`, migration 0076: a statement
/// trigger keeps it) from the business's history: the repair of `wacrm analytics verify --repair`.
pub async fn store_previous_changes_on(conn: &mut PgConnection, business: i32) -> Result<()> {
    sqlx::query_scalar!(
        r#"WITH k AS (SELECT DISTINCT business_id, contact_id FROM pipeline_history WHERE business_id = $1),
                done AS (SELECT wacrm_pipeline_previous_changes(array_agg(contact_id), array_agg(business_id)) FROM k)
           SELECT count(*) AS "n!" FROM done"#,
        business
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(())
}

/// A manual move (drag and drop, `wacrm pipeline move`) in its own transaction. A transition the
/// business's rules forbid is a `Conflict` naming the rule.
pub async fn move_stage(pool: &PgPool, scope: &Scope, contact: ContactId, to: Stage) -> Result<StageMove> {
    let mut tx = pool.begin().await?;
    let moved = move_stage_on(&mut tx, scope, contact, to, MoveSource::Manual).await?;
    if moved.outcome == MoveOutcome::Blocked {
        return Err(blocked_error(&moved));
    }
    tx.commit().await?;
    Ok(moved)
}

fn blocked_error(moved: &StageMove) -> Error {
    Error::conflict(
        format!(
            "contact {} cannot move from {} to {}: this business's rules block that transition",
            moved.contact, moved.from, moved.to
        ),
        format!(
            "move it through another stage first, or allow the transition ({})",
            op(&format!("pipeline rules allow {} {}", moved.from, moved.to))
        ),
    )
}

/// What a bulk move did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BulkMoveReport {
    pub matched: u64,
    pub moved: u64,
    pub unchanged: u64,
    /// Contacts the business's rules kept where they were.
    pub blocked: Vec<ContactId>,
}

/// Whether a bulk move without any filter is meant: moving a whole business is never an accident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkCoverage {
    /// Only what the filter narrows to; an empty filter is refused.
    Filtered,
    /// Every contact of the business, when the filter is empty on purpose.
    EveryContact,
}

/// Moves every contact matching `filter` to `to`, in one transaction, each through [`move_stage_on`]
/// (rules, history, events). Blocked contacts stay and are listed; a contact deleted meanwhile is
/// skipped.
pub async fn bulk_move(
    pool: &PgPool,
    scope: &Scope,
    filter: &ContactFilter,
    to: Stage,
    coverage: BulkCoverage,
) -> Result<BulkMoveReport> {
    scope.require(Area::Pipeline)?;
    if filter.is_empty() && coverage != BulkCoverage::EveryContact {
        return Err(Error::invalid(
            "no filter given: this would move every contact",
            format!(
                "narrow it ({}, {}, {}, ...) or say it is meant for all ({})",
                input("stage"),
                input("tag"),
                input("query"),
                input("all")
            ),
        ));
    }
    let ids: Vec<ContactId> = contacts::stream(pool, scope, filter, Sort::Id).map_ok(|c| c.id).try_collect().await?;
    let mut report = BulkMoveReport { matched: ids.len() as u64, ..BulkMoveReport::default() };
    let mut tx = pool.begin().await?;
    for id in ids {
        match move_stage_on(&mut tx, scope, id, to, MoveSource::Bulk).await {
            Ok(StageMove { outcome: MoveOutcome::Moved, .. }) => report.moved += 1,
            Ok(StageMove { outcome: MoveOutcome::Unchanged, .. }) => report.unchanged += 1,
            Ok(StageMove { outcome: MoveOutcome::Blocked, .. }) => report.blocked.push(id),
            Err(Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    tx.commit().await?;
    Ok(report)
}
