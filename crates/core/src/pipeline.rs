//! Sales pipeline dashboard: the stage-change path every caller shares, the business's move and keyword
//! rules, the board, history and metrics.
//!
//! There is exactly one way a contact's stage changes: [`move_stage_on`] (seed Pipeline FLOW 2). Manual
//! moves, bulk moves, keyword rules, imports and automation all go through it, so all of them lock the
//! contact, obey the business's rules, write `pipeline_history` only on a real change and emit
//! `stage_changed`.

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use crate::auth::{Area, Scope};
use crate::contacts::{self, Contact, ContactFilter, Page, Sort};
use crate::error::{Error, Result};
use crate::events::{self, Cause, Event};
use crate::types::{BusinessId, ContactId, MAX_LISTED_ROWS, Stage, UserId, plain_name};

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
    // A keyword move is the customer's doing: their message named the stage.
    let cause = if source == MoveSource::Keyword { Cause::customer() } else { Cause::of(scope) };
    let event = Event::StageChanged { contact_id: contact, from, to, source, history_id, user_id: scope.user() };
    events::emit(conn, business, Some(contact), event, cause).await?;
    result.outcome = MoveOutcome::Moved;
    Ok(result)
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
            "move it through another stage first, or allow the transition with `wacrm pipeline rules allow {} {}`",
            moved.from, moved.to
        ),
    )
}

/// A keyword rule: inbound text containing `keyword` (whole words, any case) moves the contact to `stage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeywordRule {
    pub keyword: String,
    pub stage: Stage,
}

/// The stage the text asks for under `rules`, if any. Whole words only ("unpaid" does not say "paid");
/// when several keywords occur, the longest phrase wins ("not interested" beats "interested"), then the
/// one said last.
pub fn keyword_stage(rules: &[KeywordRule], text: &str) -> Option<Stage> {
    let words = words(text);
    rules
        .iter()
        .filter_map(|rule| {
            let phrase = self::words(&rule.keyword);
            if phrase.is_empty() || phrase.len() > words.len() {
                return None;
            }
            let last = words.windows(phrase.len()).rposition(|w| w == phrase.as_slice())?;
            Some((phrase.len(), last, rule.stage))
        })
        .max_by_key(|(len, last, _)| (*len, *last))
        .map(|(.., stage)| stage)
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// Keyword stage updates for an inbound message (seed Pipeline FLOW 5), on the inbound message's own
/// transaction. Does nothing when the business switched keyword rules off, no keyword matches, or the
/// move is blocked by the business's transition rules; otherwise moves through [`move_stage_on`].
pub async fn apply_keyword_rules(
    conn: &mut PgConnection,
    business: BusinessId,
    contact: ContactId,
    text: &str,
) -> Result<()> {
    let rules = active_keyword_rules(conn, business).await?;
    if let Some(stage) = keyword_stage(&rules, text) {
        let moved = move_stage_on(conn, &Scope::system(business), contact, stage, MoveSource::Keyword).await?;
        if moved.outcome == MoveOutcome::Blocked {
            tracing::debug!(%contact, from = %moved.from, to = %moved.to, "keyword stage update blocked by rules");
        }
    }
    Ok(())
}

/// The business's keyword rules when they are switched on, none otherwise.
pub(crate) async fn active_keyword_rules(conn: &mut PgConnection, business: BusinessId) -> Result<Vec<KeywordRule>> {
    Ok(sqlx::query_as!(
        KeywordRule,
        r#"SELECT r.keyword, r.stage AS "stage: Stage"
           FROM pipeline_keyword_rules r
           JOIN pipeline_settings s ON s.business_id = r.business_id
           WHERE r.business_id = $1 AND s.keyword_rules_enabled
           ORDER BY r.id"#,
        business.0
    )
    .fetch_all(conn)
    .await?)
}

/// A blocked move: from one stage to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Transition {
    pub from: Stage,
    pub to: Stage,
}

/// A business's pipeline rules: blocked transitions (everything else is allowed) and keyword rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rules {
    pub keyword_rules_enabled: bool,
    pub blocked: Vec<Transition>,
    pub keywords: Vec<KeywordRule>,
}

/// The business's rules. New businesses start with the seed's: Lost → Paid blocked; "interested",
/// "paid" and "not now" as keywords, switched on.
pub async fn rules(pool: &PgPool, scope: &Scope) -> Result<Rules> {
    scope.require(Area::Pipeline)?;
    let business = scope.business().0;
    let enabled =
        sqlx::query_scalar!("SELECT keyword_rules_enabled FROM pipeline_settings WHERE business_id = $1", business)
            .fetch_optional(pool)
            .await?
            .unwrap_or(false);
    let blocked = sqlx::query_as!(
        Transition,
        r#"SELECT from_stage AS "from: Stage", to_stage AS "to: Stage" FROM pipeline_blocked_transitions
           WHERE business_id = $1 ORDER BY from_stage, to_stage"#,
        business
    )
    .fetch_all(pool)
    .await?;
    let keywords = sqlx::query_as!(
        KeywordRule,
        r#"SELECT keyword, stage AS "stage: Stage" FROM pipeline_keyword_rules WHERE business_id = $1 ORDER BY id"#,
        business
    )
    .fetch_all(pool)
    .await?;
    Ok(Rules { keyword_rules_enabled: enabled, blocked, keywords })
}

/// Forbids moving contacts from `from` to `to` (admins only).
pub async fn block_transition(pool: &PgPool, scope: &Scope, from: Stage, to: Stage) -> Result<Rules> {
    scope.require(Area::Admin)?;
    if from == to {
        return Err(Error::invalid(format!("{from} → {to} is not a move"), "name two different stages"));
    }
    sqlx::query!(
        r#"INSERT INTO pipeline_blocked_transitions (business_id, from_stage, to_stage) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING"#,
        scope.business().0,
        from as Stage,
        to as Stage
    )
    .execute(pool)
    .await?;
    rules(pool, scope).await
}

/// Allows a transition blocked before (admins only); allowing an allowed one is `NotFound`.
pub async fn allow_transition(pool: &PgPool, scope: &Scope, from: Stage, to: Stage) -> Result<Rules> {
    scope.require(Area::Admin)?;
    let done = sqlx::query!(
        "DELETE FROM pipeline_blocked_transitions WHERE business_id = $1 AND from_stage = $2 AND to_stage = $3",
        scope.business().0,
        from as Stage,
        to as Stage
    )
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found(format!("blocked transition {from} → {to}")));
    }
    rules(pool, scope).await
}

/// Adds a keyword rule, or points an existing keyword (any case) at another stage (admins only).
pub async fn set_keyword(pool: &PgPool, scope: &Scope, keyword: &str, stage: Stage) -> Result<Rules> {
    scope.require(Area::Admin)?;
    let keyword = words(&plain_name("keyword", keyword)?).join(" ");
    if keyword.is_empty() {
        return Err(Error::invalid("the keyword has no letters or digits", "give a word or phrase, e.g. \"not now\""));
    }
    sqlx::query!(
        r#"INSERT INTO pipeline_keyword_rules (business_id, keyword, stage) VALUES ($1, $2, $3)
           ON CONFLICT (business_id, lower(keyword)) DO UPDATE SET stage = EXCLUDED.stage"#,
        scope.business().0,
        keyword,
        stage as Stage
    )
    .execute(pool)
    .await?;
    rules(pool, scope).await
}

/// Removes a keyword rule (admins only).
pub async fn remove_keyword(pool: &PgPool, scope: &Scope, keyword: &str) -> Result<Rules> {
    scope.require(Area::Admin)?;
    let keyword = words(keyword).join(" ");
    let done = sqlx::query!(
        "DELETE FROM pipeline_keyword_rules WHERE business_id = $1 AND lower(keyword) = $2",
        scope.business().0,
        keyword
    )
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found(format!("keyword rule {keyword:?}")));
    }
    rules(pool, scope).await
}

/// Switches keyword stage updates on or off, keeping the keywords (admins only).
pub async fn set_keyword_rules_enabled(pool: &PgPool, scope: &Scope, enabled: bool) -> Result<Rules> {
    scope.require(Area::Admin)?;
    sqlx::query!(
        r#"INSERT INTO pipeline_settings (business_id, keyword_rules_enabled) VALUES ($1, $2)
           ON CONFLICT (business_id) DO UPDATE SET keyword_rules_enabled = EXCLUDED.keyword_rules_enabled"#,
        scope.business().0,
        enabled
    )
    .execute(pool)
    .await?;
    rules(pool, scope).await
}

/// Puts back the default rules (admins only).
pub async fn reset_rules(pool: &PgPool, scope: &Scope) -> Result<Rules> {
    scope.require(Area::Admin)?;
    sqlx::query!("SELECT wacrm_pipeline_default_rules($1)", scope.business().0).execute(pool).await?;
    rules(pool, scope).await
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
            "narrow it (--stage, --tag, --query, ...) or pass --all",
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

/// One board column.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub stage: Stage,
    /// Contacts in the stage (all of them, not just this page).
    pub count: i64,
    /// Most recently active first.
    pub contacts: Vec<Contact>,
    /// Cursor of the column's next page (see [`column`]).
    pub next: Option<String>,
}

/// The board (seed Pipeline FLOW 1): the five stages in order, each with its count and first page.
pub async fn board(pool: &PgPool, scope: &Scope, per_column: i64) -> Result<Vec<Column>> {
    let counts = stage_counts(pool, scope).await?;
    let mut columns = Vec::with_capacity(counts.len());
    for StageCount { stage, count } in counts {
        let page = column(pool, scope, stage, None, per_column).await?;
        columns.push(Column { stage, count, contacts: page.items, next: page.next });
    }
    Ok(columns)
}

/// A further page of one board column, `after` being the column's `next`.
pub async fn column(
    pool: &PgPool,
    scope: &Scope,
    stage: Stage,
    after: Option<&str>,
    limit: i64,
) -> Result<Page<Contact>> {
    scope.require(Area::Pipeline)?;
    let filter = ContactFilter { stage: Some(stage), ..ContactFilter::default() };
    contacts::list(pool, scope, &filter, Sort::Active, after, limit).await
}

/// How many contacts are in a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StageCount {
    pub stage: Stage,
    pub count: i64,
}

/// Leads per stage (seed Pipeline FLOW 3), every stage listed, in pipeline order.
pub async fn stage_counts(pool: &PgPool, scope: &Scope) -> Result<Vec<StageCount>> {
    scope.require(Area::Pipeline)?;
    Ok(sqlx::query_as!(
        StageCount,
        r#"SELECT s.stage AS "stage!: Stage", count(c.id) AS "count!"
           FROM unnest(enum_range(NULL::pipeline_stage)) AS s(stage)
           LEFT JOIN contacts c ON c.business_id = $1 AND coalesce(c.stage, 'New') = s.stage
           GROUP BY s.stage ORDER BY s.stage"#,
        scope.business().0
    )
    .fetch_all(pool)
    .await?)
}

/// A row of the pipeline history.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub id: i32,
    pub contact: ContactId,
    pub contact_name: Option<String>,
    pub from: Option<Stage>,
    pub to: Option<Stage>,
    pub changed_at: Option<DateTime<Utc>>,
    /// manual, bulk, keyword, import or automation.
    pub source: String,
    pub user_id: Option<UserId>,
}

/// Stage changes, newest first: one contact's, or the whole business's.
pub async fn history(
    pool: &PgPool,
    scope: &Scope,
    contact: Option<ContactId>,
    limit: i64,
) -> Result<Vec<HistoryEntry>> {
    scope.require(Area::Pipeline)?;
    if let Some(id) = contact {
        contacts::get(pool, scope, id).await?;
    }
    Ok(sqlx::query_as!(
        HistoryEntry,
        r#"SELECT h.id, h.contact_id AS "contact: ContactId", c.name AS contact_name,
                  h.from_stage AS "from: Stage", h.to_stage AS "to: Stage", h.changed_at, h.source,
                  h.user_id AS "user_id: UserId"
           FROM pipeline_history h
           JOIN contacts c ON c.business_id = h.business_id AND c.id = h.contact_id
           WHERE h.business_id = $1 AND ($2::int IS NULL OR h.contact_id = $2)
           ORDER BY h.id DESC LIMIT $3"#,
        scope.business().0,
        contact.map(|c| c.0),
        limit.clamp(1, MAX_LISTED_ROWS)
    )
    .fetch_all(pool)
    .await?)
}

/// Contacts who reached a stage of the New → Engaged → Interested → Paid ladder (or a later one).
#[derive(Debug, Clone, Serialize)]
pub struct FunnelStep {
    pub stage: Stage,
    pub reached: i64,
    /// Share of the previous step's contacts that got this far.
    pub from_previous: Option<f64>,
}

/// How long contacts stayed in a stage before leaving it, in hours.
#[derive(Debug, Clone, Serialize)]
pub struct StageTime {
    pub stage: Stage,
    /// Completed stays measured.
    pub stays: i64,
    pub median_hours: Option<f64>,
    pub p90_hours: Option<f64>,
}

/// Pipeline metrics (seed Pipeline FLOWS 3-4).
#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    pub contacts: i64,
    pub per_stage: Vec<StageCount>,
    pub funnel: Vec<FunnelStep>,
    /// Paid / all contacts.
    pub win_rate: Option<f64>,
    pub time_in_stage: Vec<StageTime>,
}

pub async fn metrics(pool: &PgPool, scope: &Scope) -> Result<Metrics> {
    let per_stage = stage_counts(pool, scope).await?;
    let business = scope.business().0;
    let contacts: i64 = per_stage.iter().map(|s| s.count).sum();
    let paid = per_stage.iter().find(|s| s.stage == Stage::Paid).map_or(0, |s| s.count);
    // A contact reached every ladder stage up to the furthest one it was ever in.
    let furthest = sqlx::query!(
        r#"WITH visited AS (
               SELECT id AS contact_id, coalesce(stage, 'New') AS stage FROM contacts WHERE business_id = $1
               UNION ALL SELECT contact_id, from_stage FROM pipeline_history WHERE business_id = $1
               UNION ALL SELECT contact_id, to_stage FROM pipeline_history WHERE business_id = $1
           ), furthest AS (
               SELECT v.contact_id, coalesce(max(v.stage) FILTER (WHERE v.stage <> 'Lost'), 'New') AS stage
               FROM visited v JOIN contacts c ON c.business_id = $1 AND c.id = v.contact_id
               GROUP BY v.contact_id
           )
           SELECT s.stage AS "stage!: Stage", count(f.contact_id) AS "reached!"
           FROM unnest(enum_range(NULL::pipeline_stage, 'Paid')) AS s(stage)
           LEFT JOIN furthest f ON f.stage >= s.stage
           GROUP BY s.stage ORDER BY s.stage"#,
        business
    )
    .fetch_all(pool)
    .await?;
    let mut funnel: Vec<FunnelStep> = Vec::with_capacity(furthest.len());
    for step in furthest {
        let from_previous = funnel.last().map(|p: &FunnelStep| ratio(step.reached, p.reached)).unwrap_or(None);
        funnel.push(FunnelStep { stage: step.stage, reached: step.reached, from_previous });
    }
    // Each history row ends a stay in its from_stage, which began at the contact's previous change in
    // time (ids only break ties: rows written out of order must not measure a stay backwards) or, for
    // the first, at its creation.
    let time_in_stage = sqlx::query_as!(
        StageTime,
        r#"WITH stays AS (
               SELECT h.from_stage AS stage,
                      extract(epoch FROM h.changed_at - coalesce(
                          lag(h.changed_at) OVER (PARTITION BY h.contact_id ORDER BY h.changed_at, h.id),
                          c.created_at)) / 3600.0
                          AS hours
               FROM pipeline_history h JOIN contacts c ON c.business_id = h.business_id AND c.id = h.contact_id
               WHERE h.business_id = $1
           )
           SELECT s.stage AS "stage!: Stage", count(t.hours) AS "stays!",
                  percentile_cont(0.5) WITHIN GROUP (ORDER BY t.hours::float8) AS median_hours,
                  percentile_cont(0.9) WITHIN GROUP (ORDER BY t.hours::float8) AS p90_hours
           FROM unnest(enum_range(NULL::pipeline_stage)) AS s(stage)
           LEFT JOIN stays t ON t.stage = s.stage AND t.hours IS NOT NULL
           GROUP BY s.stage ORDER BY s.stage"#,
        business
    )
    .fetch_all(pool)
    .await?;
    Ok(Metrics { contacts, per_stage, funnel, win_rate: ratio(paid, contacts), time_in_stage })
}

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// A contact that has sat in its stage too long.
#[derive(Debug, Clone, Serialize)]
pub struct StuckContact {
    pub id: ContactId,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub stage: Stage,
    pub since: DateTime<Utc>,
    pub days: f64,
}

/// The furthest back [`stuck`] looks: beyond it the cut-off would precede any date a contact can have.
pub const MAX_STUCK_DAYS: u32 = 36_500;

/// Contacts in their current stage for more than `days` days, longest first (seed Pipeline FLOW 4's
/// bottlenecks). Without `stage`, the open stages only: Paid and Lost are where leads are meant to stay.
pub async fn stuck(
    pool: &PgPool,
    scope: &Scope,
    days: u32,
    stage: Option<Stage>,
    limit: i64,
) -> Result<Vec<StuckContact>> {
    scope.require(Area::Pipeline)?;
    if days > MAX_STUCK_DAYS {
        return Err(Error::invalid(
            format!("--stuck-days {days} reaches back further than wacrm keeps history for"),
            format!("pass at most {MAX_STUCK_DAYS} days (100 years)"),
        ));
    }
    Ok(sqlx::query_as!(
        StuckContact,
        r#"SELECT c.id AS "id: ContactId", c.name, c.phone, coalesce(c.stage, 'New') AS "stage!: Stage",
                  e.since AS "since!", extract(epoch FROM NOW() - e.since)::float8 / 86400 AS "days!"
           FROM contacts c
           CROSS JOIN LATERAL (
               SELECT coalesce((SELECT max(h.changed_at) FROM pipeline_history h
                                WHERE h.business_id = $1 AND h.contact_id = c.id),
                               c.created_at, NOW()) AS since
           ) e
           WHERE c.business_id = $1
             AND (CASE WHEN $2::pipeline_stage IS NULL THEN coalesce(c.stage, 'New') NOT IN ('Paid', 'Lost')
                       ELSE c.stage = $2 END)
             AND e.since < NOW() - make_interval(days => $3)
           ORDER BY e.since, c.id LIMIT $4"#,
        scope.business().0,
        stage as Option<Stage>,
        days as i32,
        limit.clamp(1, MAX_LISTED_ROWS)
    )
    .fetch_all(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Vec<KeywordRule> {
        [("interested", Stage::Interested), ("paid", Stage::Paid), ("not now", Stage::Lost)]
            .into_iter()
            .map(|(k, s)| KeywordRule { keyword: k.into(), stage: s })
            .collect()
    }

    #[test]
    fn keywords_match_whole_words_in_any_case() {
        let rules = defaults();
        assert_eq!(keyword_stage(&rules, "I'm INTERESTED!"), Some(Stage::Interested));
        assert_eq!(keyword_stage(&rules, "Paid, thanks"), Some(Stage::Paid));
        assert_eq!(keyword_stage(&rules, "Not   now, sorry"), Some(Stage::Lost));
        assert_eq!(keyword_stage(&rules, "unpaid invoice"), None);
        assert_eq!(keyword_stage(&rules, "now not"), None);
        assert_eq!(keyword_stage(&rules, ""), None);
    }

    #[test]
    fn longer_phrase_then_later_mention_wins() {
        let rules = defaults();
        assert_eq!(keyword_stage(&rules, "interested, but not now"), Some(Stage::Lost));
        assert_eq!(keyword_stage(&rules, "paid? yes, interested"), Some(Stage::Interested));
    }
}
