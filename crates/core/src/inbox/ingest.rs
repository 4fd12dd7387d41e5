//! Inbound WhatsApp traffic (seed Inbox FLOW 1, against the real Cloud API wire format).
//!
//! Durable first: [`store_raw`] commits the POST body to `webhook_events` before the daemon answers 200.
//! Processing then reads it from there: [`process_events`] for what the acks just queued (the fast
//! path) and [`process_pending`] for anything left behind (a crash, a busy daemon). The events still to
//! process are queued in `webhook_pending` (stored in the same statement as the body); a worker claims
//! them by deleting their queue rows (`FOR UPDATE SKIP LOCKED`, and a rollback puts them back), so any
//! number of daemons can sweep the same log; and every item in them is idempotent on its own (unique
//! wamid, monotonic statuses, pricing once per wamid), so a replay or a crash never stores anything
//! twice.
//!
//! A batch of up to [`BATCH`] events is one transaction with one commit: per-item transactions spent
//! more on BEGIN/COMMIT round trips than on the work itself. Each status and preference gets its own
//! savepoint; the batch's messages are stored together under one (contacts, messages, usage and outbox
//! events in a handful of set statements) and one by one when that fails, so a failing item is rolled
//! back alone. Items take their locks in one global order ([`Item::lock_order`],
//! [`MessageItem::lock_order`]), so two batches holding many contact locks rarely deadlock each other.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

use crate::billing;
use crate::config::Settings;
use crate::contacts;
use crate::error::{Error, Result};
use crate::events::{self, Cause, Event};
use crate::pipeline;
use crate::types::{AccountId, BusinessId, ContactId, MessageId, MessageStatus, Phone};
use crate::whatsapp::webhook::{
    self, ChangeValue, Contact, Lenient, Message, MessagesValue, Status, UserPreference, UserPreferencesValue,
};

/// After this many attempts that failed for want of a database, an event is marked `failed` instead of
/// being retried by every sweep (`wacrm webhook replay` still picks it up).
const MAX_ATTEMPTS: i32 = 5;

/// The quick-reply button Meta's sample marketing templates carry; a tap opts the contact out.
const STOP_BUTTON: &str = "Stop promotions";

/// How far after its event's receipt an item's `timestamp` may lie (clock skew between Meta and us).
/// Beyond it the time is not trusted: the receipt time is used instead ([`trusted_time`]).
const FUTURE_TOLERANCE: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// What processing needs from the settings.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Logged in `usage_logs` when a message opens a conversation window.
    pub conversation_price: Decimal,
    /// Whole-message texts (case-insensitive, trimmed) that opt a contact out of marketing.
    pub opt_out_keywords: Vec<String>,
}

impl IngestConfig {
    pub fn from_settings(settings: &Settings) -> IngestConfig {
        IngestConfig {
            conversation_price: settings.conversation_price(),
            opt_out_keywords: settings.opt_out_keywords(),
        }
    }
}

impl Default for IngestConfig {
    fn default() -> IngestConfig {
        IngestConfig::from_settings(&Settings::default())
    }
}

/// Commits a POST body to the raw log (outcome `pending`, queued for processing) and returns its id.
/// Only after this returns may the daemon acknowledge the POST.
pub async fn store_raw(pool: &PgPool, body: &[u8]) -> Result<i64> {
    store_raw_many(pool, &[body]).await?.pop().ok_or(Error::Database(sqlx::Error::RowNotFound))
}

/// Commits several POST bodies to the raw log in one statement and one commit (the daemon groups the
/// POSTs that arrive together) and returns their ids, in no particular order. Only after this returns
/// may the daemon acknowledge any of them.
pub async fn store_raw_many(pool: &PgPool, bodies: &[&[u8]]) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar!(
        r#"WITH stored AS (
               INSERT INTO webhook_events (body) SELECT body FROM unnest($1::bytea[]) AS b(body) RETURNING id
           ), queued AS (
               INSERT INTO webhook_pending (event_id) SELECT id FROM stored
           )
           SELECT id AS "id!" FROM stored"#,
        bodies as &[&[u8]]
    )
    .fetch_all(pool)
    .await?)
}

/// The outcome of a raw event (`webhook_events.outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Stored, not processed yet (or to be retried after a database outage).
    Pending,
    /// Every routed item was handled.
    Processed,
    /// No change was for an active number of ours: nothing was written for any business.
    Orphan,
    /// An item failed for a reason other than an outage, or nothing in the event had its documented
    /// shape; see `error`. Replay after the fix.
    Failed,
    /// Nothing in it concerns us (fields we do not handle).
    Ignored,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pending => "pending",
            Outcome::Processed => "processed",
            Outcome::Orphan => "orphan",
            Outcome::Failed => "failed",
            Outcome::Ignored => "ignored",
        }
    }
}

/// What processing one raw event did; stored as `webhook_events.summary`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The businesses its changes were routed to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub business_ids: Vec<BusinessId>,
    #[serde(default)]
    pub messages_stored: u32,
    /// Messages whose wamid was already stored (Meta's at-least-once delivery, or a replay).
    #[serde(default)]
    pub duplicates: u32,
    #[serde(default)]
    pub statuses_applied: u32,
    /// Statuses that changed nothing: older than what the message already has, or repeated.
    #[serde(default)]
    pub statuses_unchanged: u32,
    /// Statuses for wamids no outbound message of the business has (sent elsewhere, or not recorded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown_statuses: Vec<String>,
    #[serde(default)]
    pub pricing_recorded: u32,
    #[serde(default)]
    pub opt_outs: u32,
    #[serde(default)]
    pub opt_ins: u32,
    /// Template status and category updates (applied by `templates::apply_update_on`).
    #[serde(default)]
    pub template_updates: u32,
    /// phone_number_ids (or WABA ids) with no active account: their changes were dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub orphans: Vec<String>,
    /// `field`s we do not handle.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored_fields: Vec<String>,
    /// Items that do not have their documented shape, with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invalid: Vec<String>,
    /// Items whose `timestamp` lay more than a few minutes after the event's receipt: the receipt time
    /// was used instead (for ordering, the conversation window and billing); the stored payload keeps
    /// the original.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub future_timestamps: Vec<String>,
    /// Value-level errors Meta reported (`value.errors[]`), as `code: detail`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub meta_errors: Vec<String>,
    /// Items that failed to be written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl Summary {
    /// `handled`: how many of its items (messages, statuses, preferences, template updates) were
    /// handled, duplicates and unknown wamids included. An event whose routed items were all invalid is
    /// `failed` (replay it once the parser knows their shape); one good item makes it `processed`, with
    /// the invalid ones listed.
    fn outcome(&self, routed: bool, handled: u32) -> Outcome {
        if !self.errors.is_empty() {
            Outcome::Failed
        } else if routed && (handled > 0 || self.invalid.is_empty()) {
            Outcome::Processed
        } else if routed {
            Outcome::Failed
        } else if !self.orphans.is_empty() {
            Outcome::Orphan
        } else if !self.invalid.is_empty() {
            // Nothing usable in it: visible as failed, and replayable once the parser knows the shape.
            Outcome::Failed
        } else {
            Outcome::Ignored
        }
    }

    fn add_business(&mut self, business: BusinessId) {
        if !self.business_ids.contains(&business) {
            self.business_ids.push(business);
        }
    }

    /// The summary as the raw log keeps it: without its zero counts (empty lists are never serialized).
    /// Marking an event grows its row by this, and the grown row must still fit on the row's page for
    /// the mark to stay a HOT update (migration 0012); reading it back restores the zeros.
    fn stored(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(fields) = &mut value {
            fields.retain(|_, field| field.as_u64() != Some(0));
        }
        value
    }
}

/// One raw event after processing.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessedEvent {
    pub id: i64,
    pub received_at: DateTime<Utc>,
    pub outcome: Outcome,
    pub business_id: Option<BusinessId>,
    pub summary: Summary,
    /// Set when the outcome is `failed`, or when an outage left the event pending for a retry.
    pub error: Option<String>,
}

/// Whether writes are kept: a dry-run replay rolls its transaction back and leaves the log untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Write,
    DryRun,
}

/// Events claimed per processing transaction. Every status and preference in it gets a savepoint (and
/// every message, when the batch's messages have to be stored one by one), and each savepoint that
/// writes takes a subtransaction id: past 64 in one transaction PostgreSQL's per-backend cache overflows
/// and every snapshot in the cluster slows down. A batch of single-item events stays within that: the
/// messages' shared savepoint is taken only when there are messages (so at most 63 statuses beside it),
/// and when it is rolled back for the one-by-one retry its id leaves the cache.
///
/// 64 rather than 32: each batch pays about ten statements whatever its size, and at 32 the workers
/// under load always ran full batches (A/B at 64 connections: +4% to +11% end to end, 6-10% less
/// daemon CPU per message).
pub const BATCH: usize = 64;

/// A processing transaction. Its commit does not wait for the disk: the raw events were flushed before
/// the ack, and commits reach the WAL in order, so a crash that loses a batch's commit loses the marks
/// of its events too. They are then still pending, and their items (idempotent) are processed again.
///
/// Its statements use the connection's cached plans, and those must stay right as the tables grow:
/// a generic plan made while the raw log or contacts were small (a fresh install, statistics autovacuum
/// has not refreshed) once scanned them whole for every batch. Every statement here is a handful of
/// key look-ups, so the transaction plans index look-ups only (no sequential scans, no hash or merge
/// joins) and finds rows by their unique keys. Forcing a fresh plan per statement instead also
/// re-planned every foreign-key check the inserts fire: a quarter of the database's time.
async fn begin(pool: &PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
    let mut tx = pool.begin().await?;
    sqlx::query!(
        r#"SELECT set_config('synchronous_commit', 'off', true) AS durability,
                  set_config('enable_seqscan', 'off', true) AS no_seqscan,
                  set_config('enable_hashjoin', 'off', true) AS no_hashjoin,
                  set_config('enable_mergejoin', 'off', true) AS no_mergejoin"#
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(tx)
}

/// A raw event locked by the transaction processing it.
///
/// Both claims lock their queue rows in an `ARRAY(SELECT … FOR UPDATE SKIP LOCKED)`, which PostgreSQL
/// runs once, before the delete. Written as `IN (SELECT …)`, it became a semi-join once the queue's
/// statistics were taken while it was empty (its usual state): the whole queue on the outer side, the
/// locking sub-select rescanned for every row, and each rescan, skipping the rows the statement had
/// already deleted, locked the next ones. A backlog of 65,000 events was then one claim of 447 s, with
/// `LIMIT 32` on it.
struct Claimed {
    id: i64,
    received_at: DateTime<Utc>,
    body: Vec<u8>,
    attempts: i32,
}

/// Processes the event `id` if it is still pending and nobody else is processing it. `None`: another
/// worker has it, or had it.
pub async fn process_event(pool: &PgPool, config: &IngestConfig, id: i64) -> Result<Option<ProcessedEvent>> {
    Ok(process_events(pool, config, &[id]).await?.pop())
}

/// Processes those of the events `ids` that are still pending and not held by another worker, in one
/// transaction (the fast path after [`store_raw`]: a worker takes whatever the acks queued meanwhile).
pub async fn process_events(pool: &PgPool, config: &IngestConfig, ids: &[i64]) -> Result<Vec<ProcessedEvent>> {
    let mut tx = begin(pool).await?;
    let claimed = sqlx::query_as!(
        Claimed,
        r#"WITH claimed AS (
               DELETE FROM webhook_pending WHERE event_id = ANY(ARRAY(
                   SELECT event_id FROM webhook_pending WHERE event_id = ANY($1) FOR UPDATE SKIP LOCKED
               ))
               RETURNING event_id
           )
           SELECT e.id, e.received_at, e.body, e.attempts
           FROM claimed c JOIN webhook_events e ON e.id = c.event_id ORDER BY e.id"#,
        ids
    )
    .fetch_all(&mut *tx)
    .await?;
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    let done = process_claimed(&mut tx, config, claimed, Mode::Write).await?;
    tx.commit().await?;
    Ok(done)
}

/// Processes up to `limit` pending events, oldest first, [`BATCH`] per transaction, skipping those
/// another worker holds. Stops early (with the events done so far) when the database is failing, so a
/// sweep does not spin.
pub async fn process_pending(pool: &PgPool, config: &IngestConfig, limit: usize) -> Result<Vec<ProcessedEvent>> {
    let mut done = Vec::new();
    // Each claim starts after the last one: the queue keeps the entries of events processed since the
    // last vacuum, and a backlog's every claim used to walk through all of them from the start again
    // (a 64-connection burst took 21 s to drain). Events skipped here (another worker held them) or
    // left pending for a retry are found by the next call, which starts from the beginning.
    let mut after = 0;
    while done.len() < limit {
        let mut tx = begin(pool).await?;
        let claimed = sqlx::query_as!(
            Claimed,
            r#"WITH claimed AS (
                   DELETE FROM webhook_pending WHERE event_id = ANY(ARRAY(
                       SELECT event_id FROM webhook_pending WHERE event_id > $2
                       ORDER BY event_id LIMIT $1 FOR UPDATE SKIP LOCKED
                   ))
                   RETURNING event_id
               )
               SELECT e.id, e.received_at, e.body, e.attempts
               FROM claimed c JOIN webhook_events e ON e.id = c.event_id ORDER BY e.id"#,
            (limit - done.len()).min(BATCH) as i64,
            after
        )
        .fetch_all(&mut *tx)
        .await?;
        let Some(last) = claimed.last() else { break };
        after = last.id;
        let events = process_claimed(&mut tx, config, claimed, Mode::Write).await?;
        tx.commit().await?;
        let retry_later = events.iter().any(|e| e.outcome == Outcome::Pending);
        done.extend(events);
        if retry_later {
            break;
        }
    }
    Ok(done)
}

/// Re-processes every stored event received since `since`, oldest first, whatever its outcome (after a
/// fix, or for numbers connected after their traffic arrived). Items stay exactly-once: a stored wamid
/// is a duplicate, an applied status changes nothing. `dry_run` reports what would happen and writes
/// nothing.
pub async fn replay(
    pool: &PgPool,
    config: &IngestConfig,
    since: DateTime<Utc>,
    dry_run: bool,
) -> Result<Vec<ProcessedEvent>> {
    let mode = if dry_run { Mode::DryRun } else { Mode::Write };
    let ids = sqlx::query_scalar!("SELECT id FROM webhook_events WHERE received_at >= $1 ORDER BY id", since)
        .fetch_all(pool)
        .await?;
    let mut done = Vec::with_capacity(ids.len());
    for id in ids {
        let mut tx = begin(pool).await?;
        // Waits for a worker that is processing the event right now, instead of skipping it, and takes
        // it off the queue if it is still there.
        let claimed = sqlx::query_as!(
            Claimed,
            r#"WITH dequeued AS (DELETE FROM webhook_pending WHERE event_id = $1)
               SELECT id, received_at, body, attempts FROM webhook_events WHERE id = $1 FOR UPDATE"#,
            id
        )
        .fetch_all(&mut *tx)
        .await?;
        done.extend(process_claimed(&mut tx, config, claimed, mode).await?);
        match mode {
            Mode::Write => tx.commit().await?,
            Mode::DryRun => tx.rollback().await?,
        }
    }
    Ok(done)
}

/// A raw event as `wacrm webhook events` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct RawEvent {
    pub id: i64,
    pub received_at: DateTime<Utc>,
    pub outcome: String,
    pub business_id: Option<BusinessId>,
    pub attempts: i32,
    pub processed_at: Option<DateTime<Utc>>,
    pub bytes: i32,
    pub error: Option<String>,
    pub summary: Option<Summary>,
}

/// The newest raw events first. The raw log is not tenant data (it is routed only when processed), so
/// this is an administrator's view across businesses.
pub async fn recent_events(pool: &PgPool, limit: i64) -> Result<Vec<RawEvent>> {
    let rows = sqlx::query!(
        r#"SELECT id, received_at, outcome, business_id AS "business_id: BusinessId", attempts, processed_at,
                  length(body) AS "bytes!", error, summary AS "summary: sqlx::types::Json<Summary>"
           FROM webhook_events ORDER BY id DESC LIMIT $1"#,
        crate::listing::limit(limit, crate::types::MAX_LISTED_ROWS)?
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| RawEvent {
            id: row.id,
            received_at: row.received_at,
            outcome: row.outcome,
            business_id: row.business_id,
            attempts: row.attempts,
            processed_at: row.processed_at,
            bytes: row.bytes,
            error: row.error,
            summary: row.summary.map(|summary| summary.0),
        })
        .collect())
}

/// What the raw log holds after event `after`: for measuring a run of the daemon (how many messages it
/// stored, from the first receipt to the last processing) without reading its tables directly.
#[derive(Debug, Clone, Serialize)]
pub struct LogProgress {
    /// The newest event id (the `after` of the next measurement).
    pub last_event_id: i64,
    pub events: i64,
    pub messages_stored: i64,
    pub duplicates: i64,
    pub first_received: Option<DateTime<Utc>>,
    pub last_processed: Option<DateTime<Utc>>,
}

pub async fn progress_since(pool: &PgPool, after: i64) -> Result<LogProgress> {
    Ok(sqlx::query_as!(
        LogProgress,
        r#"SELECT COALESCE(max(id), $1) AS "last_event_id!", count(*) AS "events!",
                  COALESCE(sum((summary->>'messages_stored')::bigint), 0)::bigint AS "messages_stored!",
                  COALESCE(sum((summary->>'duplicates')::bigint), 0)::bigint AS "duplicates!",
                  min(received_at) AS first_received, max(processed_at) AS last_processed
           FROM webhook_events WHERE id > $1"#,
        after
    )
    .fetch_one(pool)
    .await?)
}

/// How many events wait to be processed (also the daemon's health probe: it needs the database).
pub async fn pending_count(pool: &PgPool) -> Result<i64> {
    Ok(sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM webhook_pending"#).fetch_one(pool).await?)
}

/// What a claimed event came to, while its items are processed.
#[derive(Default)]
struct Progress {
    summary: Summary,
    /// Whether any change was for one of our active numbers.
    routed: bool,
    /// Items handled without an error (see [`Summary::outcome`]).
    handled: u32,
    /// Why the body is not a webhook at all.
    unreadable: Option<String>,
    /// An outage or a deadlock hit one of its items: the event stays pending for a retry.
    retry: Option<Error>,
}

/// A change routed to a business, parsed from its event's body; the items borrow from it.
enum Routed {
    Messages(Box<MessagesValue>),
    Preferences(UserPreferencesValue),
}

/// A status or preference: what one savepoint covers.
struct Item<'a> {
    event: usize,
    route: Route,
    work: Work<'a>,
    /// Its `timestamp`, or the receipt time when that lies in the future ([`trusted_time`]).
    at: DateTime<Utc>,
}

enum Work<'a> {
    Status(&'a Status),
    Preference { contacts: &'a [Lenient<Contact>], preference: &'a UserPreference },
}

/// An inbound message: all of a batch's are stored together ([`store_messages`]).
struct MessageItem<'a> {
    event: usize,
    route: Route,
    contacts: &'a [Lenient<Contact>],
    message: &'a Message,
    raw: &'a Value,
    /// Its `timestamp`, or the receipt time when that lies in the future ([`trusted_time`]).
    at: DateTime<Utc>,
}

impl MessageItem<'_> {
    /// Senders in identity order (see [`Item::lock_order`]).
    fn lock_order(&self) -> (BusinessId, &str) {
        let key = self.message.from.as_deref().or(self.message.from_user_id.as_deref());
        (self.route.business, key.unwrap_or_default())
    }
}

impl Item<'_> {
    /// The batch's lock order. Statuses lock their message rows before anything locks a contact, as
    /// the send path does when it records a send (message, then contact); contacts are then locked in
    /// identity order, so two batches sharing customers rarely wait on each other in a cycle. When they
    /// do (a contact reached by its BSUID in one batch and by its phone in another, or a preference
    /// here and a message there), PostgreSQL breaks the deadlock and the item is retried.
    fn lock_order(&self) -> (u8, BusinessId, &str) {
        match &self.work {
            Work::Status(status) => (0, self.route.business, &status.id),
            Work::Preference { preference, .. } => {
                let key = preference.wa_id.as_deref().or(preference.user_id.as_deref());
                (1, self.route.business, key.unwrap_or_default())
            }
        }
    }

    fn label(&self) -> String {
        match &self.work {
            Work::Status(status) => format!("status {} of {}", status.status, status.id),
            Work::Preference { preference, .. } => format!("user_preference {}", preference.value),
        }
    }
}

/// What one status or preference did.
enum Applied {
    Status(StatusApplied),
    /// A marketing opt-out (`Some(true)`), opt-in (`Some(false)`), or another preference.
    Preference(Option<bool>),
}

impl Applied {
    fn count(self, summary: &mut Summary, item: &Item<'_>) {
        match self {
            Applied::Status(applied) => {
                match applied.change {
                    StatusChange::Applied => summary.statuses_applied += 1,
                    StatusChange::Unchanged => summary.statuses_unchanged += 1,
                    StatusChange::UnknownMessage => {
                        if let Work::Status(status) = item.work {
                            summary.unknown_statuses.push(status.id.clone());
                        }
                    }
                }
                summary.pricing_recorded += u32::from(applied.pricing_recorded);
            }
            Applied::Preference(Some(true)) => summary.opt_outs += 1,
            Applied::Preference(Some(false)) => summary.opt_ins += 1,
            Applied::Preference(None) => {}
        }
    }
}

/// Processes claimed events on their claim's transaction and records each one's outcome on its row
/// (the caller commits, or rolls back a dry run). The whole batch is one transaction, one commit. Each
/// status and preference runs under its own savepoint, the messages together ([`store_messages`]): a
/// failing item is rolled back alone and recorded, the rest of the batch goes on. An outage or deadlock
/// on an item leaves its event pending for the next sweep.
async fn process_claimed(
    conn: &mut PgConnection,
    config: &IngestConfig,
    events: Vec<Claimed>,
    mode: Mode,
) -> Result<Vec<ProcessedEvent>> {
    let mut progress: Vec<Progress> = events.iter().map(|_| Progress::default()).collect();
    let mut routes = HashMap::new();
    let mut changes = Vec::new();
    for (index, event) in events.iter().enumerate() {
        match webhook::parse(&event.body) {
            Ok(envelope) => {
                route_changes(conn, &mut routes, &envelope, index, &mut progress[index], &mut changes).await?
            }
            Err(e) => progress[index].unreadable = Some(e.to_string()),
        }
    }
    let (mut items, mut messages) = (Vec::new(), Vec::new());
    for (event, route, change) in &changes {
        let (event, route) = (*event, *route);
        let received = events[event].received_at;
        let summary = &mut progress[event].summary;
        match change {
            Routed::Messages(value) => {
                for message in &value.messages {
                    match message {
                        Lenient::Parsed { item, raw } => {
                            let what = || format!("message {}", item.id);
                            let at = trusted_time(summary, what, item.timestamp, received);
                            messages.push(MessageItem {
                                event,
                                route,
                                contacts: &value.contacts,
                                message: item,
                                raw,
                                at,
                            })
                        }
                        Lenient::Invalid { reason, .. } => summary.invalid.push(format!("message: {reason}")),
                    }
                }
                for status in &value.statuses {
                    match status {
                        Lenient::Parsed { item, .. } => {
                            let what = || format!("status {} of {}", item.status, item.id);
                            let at = trusted_time(summary, what, item.timestamp, received);
                            items.push(Item { event, route, work: Work::Status(item), at })
                        }
                        Lenient::Invalid { reason, .. } => summary.invalid.push(format!("status: {reason}")),
                    }
                }
            }
            Routed::Preferences(value) => {
                for preference in &value.user_preferences {
                    match preference {
                        Lenient::Parsed { item, .. } => {
                            let what = || format!("user_preference {}", item.value);
                            let at = trusted_time(summary, what, item.timestamp, received);
                            items.push(Item {
                                event,
                                route,
                                work: Work::Preference { contacts: &value.contacts, preference: item },
                                at,
                            })
                        }
                        Lenient::Invalid { reason, .. } => summary.invalid.push(format!("user_preference: {reason}")),
                    }
                }
            }
        }
    }
    // Stable: one customer's messages keep their delivery order.
    items.sort_by(|a, b| a.lock_order().cmp(&b.lock_order()));
    messages.sort_by(|a, b| a.lock_order().cmp(&b.lock_order()));

    for item in &items {
        let mut savepoint = Connection::begin(&mut *conn).await?;
        let applied = match &item.work {
            Work::Status(status) => {
                apply_status(&mut savepoint, item.route, status, item.at).await.map(Applied::Status)
            }
            Work::Preference { contacts, preference } => {
                apply_preference(&mut savepoint, item.route, contacts, preference, item.at)
                    .await
                    .map(Applied::Preference)
            }
        };
        let progress = &mut progress[item.event];
        match applied {
            Ok(applied) => {
                savepoint.commit().await?;
                progress.handled += 1;
                applied.count(&mut progress.summary, item);
            }
            Err(e) => {
                savepoint.rollback().await?;
                item_failed(progress, item.label(), e);
            }
        }
    }
    store_messages(conn, config, &messages, &mut progress).await?;

    let mut done = Vec::with_capacity(events.len());
    for (event, progress) in events.iter().zip(progress) {
        let (outcome, summary, error) = match progress {
            Progress { unreadable: Some(reason), .. } => (Outcome::Failed, Summary::default(), Some(reason)),
            Progress { retry: Some(e), summary, .. } => {
                if mode == Mode::DryRun {
                    return Err(e);
                }
                let attempts = event.attempts + 1;
                tracing::warn!(event = event.id, attempts, error = %e, "webhook event not processed; will retry");
                let outcome = if attempts >= MAX_ATTEMPTS { Outcome::Failed } else { Outcome::Pending };
                (outcome, summary, Some(e.to_string()))
            }
            Progress { summary, routed, handled, .. } => {
                let outcome = summary.outcome(routed, handled);
                let problems = if summary.errors.is_empty() { &summary.invalid } else { &summary.errors };
                let error = (outcome == Outcome::Failed).then(|| problems.join("; "));
                (outcome, summary, error)
            }
        };
        if outcome == Outcome::Orphan {
            tracing::warn!(event = event.id, numbers = ?summary.orphans, "webhook for no active WhatsApp account; dropped");
        }
        let business_id = match summary.business_ids.as_slice() {
            [only] => Some(*only),
            _ => None,
        };
        done.push(ProcessedEvent {
            id: event.id,
            received_at: event.received_at,
            outcome,
            business_id,
            summary,
            error,
        });
    }
    if mode == Mode::Write {
        record_outcomes(conn, &done).await?;
    }
    Ok(done)
}

/// The time to keep for an item that says it happened at `claimed`, in an event received at `received`:
/// `claimed`, unless it lies more than [`FUTURE_TOLERANCE`] after the receipt. Meta stamps an item
/// before it posts it, so such a time is wrong (a clock, a test tool, a forged replay), and trusted it
/// would pin the contact's 24-hour window open and sort the conversation above everything until then.
/// The receipt time is used instead and the summary says so; the raw log and the stored payload keep
/// the original. A time from the past is kept: late deliveries and replays are normal.
fn trusted_time(
    summary: &mut Summary,
    what: impl FnOnce() -> String,
    claimed: DateTime<Utc>,
    received: DateTime<Utc>,
) -> DateTime<Utc> {
    if claimed <= received + FUTURE_TOLERANCE {
        return claimed;
    }
    summary.future_timestamps.push(format!(
        "{}: timestamp {} is after the receipt at {}; the receipt time is used",
        what(),
        claimed.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        received.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    ));
    received
}

/// Marks a batch's events with their outcomes, in one statement, and queues those left pending (an
/// outage: to retry) again; their claim took them off the queue.
async fn record_outcomes(conn: &mut PgConnection, done: &[ProcessedEvent]) -> Result<()> {
    let ids: Vec<i64> = done.iter().map(|e| e.id).collect();
    let outcomes: Vec<&str> = done.iter().map(|e| e.outcome.as_str()).collect();
    let businesses: Vec<Option<i32>> = done.iter().map(|e| e.business_id.map(|b| b.0)).collect();
    let errors: Vec<Option<&str>> = done.iter().map(|e| e.error.as_deref()).collect();
    let summaries: Vec<Value> = done.iter().map(|e| e.summary.stored()).collect();
    sqlx::query!(
        r#"WITH marked AS (
               UPDATE webhook_events w
               SET outcome = u.outcome, business_id = u.business_id, attempts = w.attempts + 1, error = u.error,
                   summary = u.summary,
                   processed_at = CASE WHEN u.outcome = 'pending' THEN w.processed_at ELSE NOW() END
               FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[], $5::jsonb[])
                    AS u(id, outcome, business_id, error, summary)
               WHERE w.id = u.id
               RETURNING w.id, w.outcome
           )
           INSERT INTO webhook_pending (event_id) SELECT id FROM marked WHERE outcome = 'pending'
           ON CONFLICT DO NOTHING"#,
        &ids,
        &outcomes as &[&str],
        &businesses as &[Option<i32>],
        &errors as &[Option<&str>],
        &summaries
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Where a change goes: the business and the number that received it.
#[derive(Debug, Clone, Copy)]
struct Route {
    business: BusinessId,
    account: AccountId,
}

/// Routes every change of one event, noting in its summary what is not ours. `Err` only for an outage.
async fn route_changes(
    conn: &mut PgConnection,
    routes: &mut HashMap<String, Option<Route>>,
    envelope: &webhook::Envelope,
    index: usize,
    progress: &mut Progress,
    changes: &mut Vec<(usize, Route, Routed)>,
) -> Result<()> {
    let summary = &mut progress.summary;
    let mut template_failures = Vec::new();
    let mut orphans = BTreeSet::new();
    let mut ignored = BTreeSet::new();
    for entry in &envelope.entry {
        for change in &entry.changes {
            let value = match change.value() {
                Ok(value) => value,
                Err(reason) => {
                    summary.invalid.push(reason);
                    continue;
                }
            };
            match value {
                ChangeValue::Messages(value) => {
                    let Some(route) = route_number(conn, routes, &value.metadata.phone_number_id).await? else {
                        orphans.insert(value.metadata.phone_number_id.clone());
                        continue;
                    };
                    progress.routed = true;
                    summary.add_business(route.business);
                    for error in value.errors.iter() {
                        match error {
                            Lenient::Parsed { item, .. } => {
                                tracing::warn!(business = %route.business, code = item.code, detail = item.detail(),
                                    "Meta reported an error");
                                summary.meta_errors.push(format!("{}: {}", item.code, item.detail().unwrap_or("")));
                            }
                            Lenient::Invalid { raw, .. } => summary.meta_errors.push(raw.to_string()),
                        }
                    }
                    changes.push((index, route, Routed::Messages(value)));
                }
                ChangeValue::UserPreferences(value) => {
                    let Some(route) = route_number(conn, routes, &value.metadata.phone_number_id).await? else {
                        orphans.insert(value.metadata.phone_number_id.clone());
                        continue;
                    };
                    progress.routed = true;
                    summary.add_business(route.business);
                    changes.push((index, route, Routed::Preferences(value)));
                }
                ChangeValue::Template(update) => {
                    let Some(business) = route_waba(conn, &entry.id).await? else {
                        orphans.insert(format!("waba:{}", entry.id));
                        continue;
                    };
                    progress.routed = true;
                    summary.add_business(business);
                    summary.template_updates += 1;
                    match crate::templates::apply_update_on(conn, business, entry.time, &update).await {
                        Ok(_) => progress.handled += 1,
                        Err(e) => template_failures.push((update.label(), e)),
                    }
                }
                ChangeValue::Other(field) => {
                    ignored.insert(field);
                }
            }
        }
    }
    summary.orphans = orphans.into_iter().collect();
    summary.ignored_fields = ignored.into_iter().collect();
    for (what, error) in template_failures {
        item_failed(progress, what, error);
    }
    Ok(())
}

/// The active account that owns `phone_number_id`, looked up once per batch in the batch's transaction:
/// a number deactivated before the batch began gets nothing, and no cache outlives the batch.
async fn route_number(
    conn: &mut PgConnection,
    cache: &mut HashMap<String, Option<Route>>,
    phone_number_id: &str,
) -> Result<Option<Route>> {
    if let Some(known) = cache.get(phone_number_id) {
        return Ok(*known);
    }
    let route = sqlx::query!(
        "SELECT id, business_id FROM whatsapp_accounts WHERE phone_number_id = $1 AND status = 'active'",
        phone_number_id
    )
    .fetch_optional(conn)
    .await?
    .map(|r| Route { business: BusinessId(r.business_id), account: AccountId(r.id) });
    cache.insert(phone_number_id.to_string(), route);
    Ok(route)
}

/// The business of an active account of the WhatsApp Business Account `waba_id`.
async fn route_waba(conn: &mut PgConnection, waba_id: &str) -> Result<Option<BusinessId>> {
    Ok(sqlx::query_scalar!(
        "SELECT business_id FROM whatsapp_accounts WHERE waba_id = $1 AND status = 'active' ORDER BY id LIMIT 1",
        waba_id
    )
    .fetch_optional(conn)
    .await?
    .map(BusinessId))
}

/// Records an item's failure on its event: an outage or deadlock has it retried, bad input is
/// invalid, anything else an error (the event is `failed`, replayable after a fix).
fn item_failed(progress: &mut Progress, what: String, error: Error) {
    match error {
        Error::Unavailable { .. } => {
            if progress.retry.is_none() {
                progress.retry = Some(error);
            }
        }
        Error::Invalid { message, .. } => progress.summary.invalid.push(format!("{what}: {message}")),
        other => {
            tracing::error!(item = %what, error = %other, "webhook item failed");
            progress.summary.errors.push(format!("{what}: {other}"));
        }
    }
}

/// The keyword rules of the batch's businesses, read once per batch, so a message that cannot move a
/// stage (most of them) costs no pipeline query. A match is applied by
/// [`pipeline::apply_keyword_rules`], which reads the rules again under the contact's lock.
#[derive(Default)]
struct KeywordRules {
    by_business: HashMap<BusinessId, Vec<pipeline::KeywordRule>>,
}

impl KeywordRules {
    /// Read on the processing transaction's own connection: one from the pool would, with every
    /// connection held by a processor, wait for one to come free.
    async fn may_match(&mut self, conn: &mut PgConnection, business: BusinessId, text: &str) -> Result<bool> {
        let rules = match self.by_business.entry(business) {
            std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(pipeline::active_keyword_rules(conn, business).await?)
            }
        };
        Ok(pipeline::keyword_stage(rules, text).is_some())
    }
}

/// Who a contact is on WhatsApp. The BSUID is matched first: it survives a username hiding the number.
struct Identity<'a> {
    phone: Option<Phone>,
    /// The phone's other spelling (Mexico's "1", Argentina's "9", Brazil's ninth digit).
    alias: Option<Phone>,
    wa_id: Option<&'a str>,
    bsuid: Option<&'a str>,
    parent_bsuid: Option<&'a str>,
    username: Option<&'a str>,
}

impl<'a> Identity<'a> {
    fn new(
        wa_id: Option<&'a str>,
        bsuid: Option<&'a str>,
        parent_bsuid: Option<&'a str>,
        username: Option<&'a str>,
    ) -> Result<Identity<'a>> {
        let wa_id = wa_id.map(str::trim).filter(|w| !w.is_empty());
        let bsuid = bsuid.map(str::trim).filter(|b| !b.is_empty());
        let phone = wa_id.and_then(|w| Phone::from_wa_id(w).ok());
        if phone.is_none() && bsuid.is_none() {
            return Err(Error::invalid(
                format!("the sender has neither a usable wa_id ({wa_id:?}) nor a user_id"),
                "nothing to do: WhatsApp sent no identity for this user",
            ));
        }
        let alias = phone.as_ref().and_then(contacts::identity::alias);
        Ok(Identity { phone, alias, wa_id, bsuid, parent_bsuid, username })
    }
}

/// Some of a batch's identities as the array parameters of a statement, always bound in this order.
struct IdentityColumns<'w> {
    businesses: Vec<i32>,
    bsuids: Vec<Option<&'w str>>,
    phones: Vec<Option<&'w str>>,
    aliases: Vec<Option<&'w str>>,
    parents: Vec<Option<&'w str>>,
    usernames: Vec<Option<&'w str>>,
    wa_ids: Vec<Option<&'w str>>,
}

impl<'w> IdentityColumns<'w> {
    fn of(who: &[(BusinessId, &'w Identity<'w>)], rows: &[usize]) -> IdentityColumns<'w> {
        let column = |field: fn(&'w Identity<'w>) -> Option<&'w str>| rows.iter().map(|&i| field(who[i].1)).collect();
        IdentityColumns {
            businesses: rows.iter().map(|&i| who[i].0.0).collect(),
            bsuids: column(|w| w.bsuid),
            phones: column(|w| w.phone.as_ref().map(Phone::as_str)),
            aliases: column(|w| w.alias.as_ref().map(Phone::as_str)),
            parents: column(|w| w.parent_bsuid),
            usernames: column(|w| w.username),
            wa_ids: column(|w| w.wa_id),
        }
    }
}

/// The contacts with these identities, created where missing, each locked until the caller's
/// transaction ends (the conversation window check relies on that lock); one id per identity, in order.
/// Identities that match the same contact get the same id, and what each adds is kept (the newest value
/// of each field).
async fn upsert_contacts<'w>(
    conn: &mut PgConnection,
    who: &[(BusinessId, &'w Identity<'w>)],
) -> Result<Vec<ContactId>> {
    let mut resolved: Vec<Option<ContactId>> = vec![None; who.len()];
    // Two deliveries of a new contact's first messages can race: the loser's insert does nothing (it
    // waits for the winner's commit) and the next lookup finds the winner's row.
    for _ in 0..3 {
        let pending: Vec<usize> = (0..who.len()).filter(|&i| resolved[i].is_none()).collect();
        if pending.is_empty() {
            break;
        }
        let columns = IdentityColumns::of(who, &pending);
        // One statement for the usual case, locking in the callers' (identity) order. The identity is
        // written only when it adds something (most messages come from a known contact with nothing new
        // to say), and a phone is only attached if no other contact of the business already has it (the
        // two would have to be merged by a person).
        let found = sqlx::query!(
            r#"WITH input AS (
                   SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                        $7::text[])
                       WITH ORDINALITY AS i(business_id, bsuid, phone, parent_bsuid, username, wa_id, alias, ord)
               ), found AS (
                   SELECT i.*, f.id, f.bsuid AS had_bsuid, f.parent_bsuid AS had_parent, f.username AS had_username,
                          f.wa_id AS had_wa_id, f.phone AS had_phone
                   FROM input i
                   CROSS JOIN LATERAL (
                       SELECT id, bsuid, parent_bsuid, username, wa_id, phone FROM contacts
                       WHERE business_id = i.business_id
                         AND id = COALESCE(
                                 (SELECT id FROM contacts WHERE business_id = i.business_id AND bsuid = i.bsuid),
                                 (SELECT id FROM contacts WHERE business_id = i.business_id AND phone = i.phone),
                                 (SELECT id FROM contacts WHERE business_id = i.business_id AND phone = i.alias))
                       FOR UPDATE
                   ) f
               ), merged AS (
                   -- One row per contact (UPDATE ... FROM applies only one joined row per target row):
                   -- the newest of each identity field the batch says about it.
                   SELECT business_id, id, had_bsuid, had_parent, had_username, had_wa_id, had_phone,
                          (array_agg(bsuid ORDER BY ord DESC) FILTER (WHERE bsuid IS NOT NULL))[1] AS bsuid,
                          (array_agg(parent_bsuid ORDER BY ord DESC) FILTER (WHERE parent_bsuid IS NOT NULL))[1]
                              AS parent_bsuid,
                          (array_agg(username ORDER BY ord DESC) FILTER (WHERE username IS NOT NULL))[1] AS username,
                          (array_agg(wa_id ORDER BY ord DESC) FILTER (WHERE wa_id IS NOT NULL))[1] AS wa_id,
                          (array_agg(phone ORDER BY ord DESC) FILTER (WHERE phone IS NOT NULL))[1] AS phone
                   FROM found
                   GROUP BY business_id, id, had_bsuid, had_parent, had_username, had_wa_id, had_phone
               ), linked AS (
                   UPDATE contacts c SET
                       bsuid = COALESCE(c.bsuid, m.bsuid),
                       parent_bsuid = COALESCE(m.parent_bsuid, c.parent_bsuid),
                       username = COALESCE(m.username, c.username),
                       wa_id = COALESCE(m.wa_id, c.wa_id),
                       phone = CASE WHEN c.phone IS NULL AND NOT EXISTS (
                                        SELECT 1 FROM contacts o WHERE o.business_id = m.business_id
                                                                   AND o.phone = m.phone)
                                    THEN m.phone ELSE c.phone END
                   FROM merged m
                   WHERE c.business_id = m.business_id AND c.id = m.id
                     AND ((m.had_bsuid IS NULL AND m.bsuid IS NOT NULL)
                          OR m.had_parent IS DISTINCT FROM COALESCE(m.parent_bsuid, m.had_parent)
                          OR m.had_username IS DISTINCT FROM COALESCE(m.username, m.had_username)
                          OR m.had_wa_id IS DISTINCT FROM COALESCE(m.wa_id, m.had_wa_id)
                          OR (m.had_phone IS NULL AND m.phone IS NOT NULL))
               )
               SELECT ord AS "ord!", id AS "id!" FROM found"#,
            &columns.businesses,
            &columns.bsuids as &[Option<&str>],
            &columns.phones as &[Option<&str>],
            &columns.parents as &[Option<&str>],
            &columns.usernames as &[Option<&str>],
            &columns.wa_ids as &[Option<&str>],
            &columns.aliases as &[Option<&str>]
        )
        .fetch_all(&mut *conn)
        .await?;
        for row in found {
            resolved[pending[row.ord as usize - 1]] = Some(ContactId(row.id));
        }
        let missing: Vec<usize> = pending.into_iter().filter(|&i| resolved[i].is_none()).collect();
        if missing.is_empty() {
            break;
        }
        let columns = IdentityColumns::of(who, &missing);
        let inserted = sqlx::query!(
            r#"INSERT INTO contacts (business_id, bsuid, phone, parent_bsuid, username, wa_id)
               SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
               ON CONFLICT DO NOTHING
               RETURNING id, business_id, phone, bsuid"#,
            &columns.businesses,
            &columns.bsuids as &[Option<&str>],
            &columns.phones as &[Option<&str>],
            &columns.parents as &[Option<&str>],
            &columns.usernames as &[Option<&str>],
            &columns.wa_ids as &[Option<&str>]
        )
        .fetch_all(&mut *conn)
        .await?;
        for row in inserted {
            for &i in &missing {
                let (business, identity) = who[i];
                let same = match identity.bsuid {
                    Some(bsuid) => row.bsuid.as_deref() == Some(bsuid),
                    None => row.phone.as_deref() == identity.phone.as_ref().map(Phone::as_str),
                };
                if business.0 == row.business_id && same {
                    resolved[i] = Some(ContactId(row.id));
                }
            }
        }
    }
    resolved.into_iter().collect::<Option<Vec<_>>>().ok_or_else(|| {
        Error::conflict(
            "a contact could not be found or created (concurrent changes to the same identity)",
            "replay the event with `wacrm webhook replay`",
        )
    })
}

/// The contact entry describing the sender of `message`: matched by BSUID or wa_id, never by position
/// (a batch can hold several customers).
fn sender_of<'a>(
    contacts: &'a [Lenient<Contact>],
    from: Option<&str>,
    from_user_id: Option<&str>,
) -> Option<&'a Contact> {
    contacts.iter().find_map(|c| match c {
        Lenient::Parsed { item, .. } => {
            let by_bsuid = from_user_id.is_some() && item.user_id.as_deref() == from_user_id;
            let by_wa_id = from.is_some() && item.wa_id.as_deref() == from;
            (by_bsuid || by_wa_id).then_some(item)
        }
        Lenient::Invalid { .. } => None,
    })
}

/// How an inbound message is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Described {
    /// The message type, or `unknown` for types (or shapes) we do not know.
    pub kind: String,
    /// The text or caption byte for byte, else a readable placeholder.
    pub content: String,
    /// Media references for a later download.
    pub media: Option<Value>,
    /// The quoted wamid of a reply, or the wamid a reaction is about.
    pub context_wamid: Option<String>,
}

/// The stored form of an inbound message.
pub fn describe(message: &Message) -> Described {
    let kind = message.kind.as_str();
    let mut context_wamid = message.context.as_ref().and_then(|c| c.id.clone());
    let mut media = None;
    let unreadable = || (String::from("unknown"), format!("[unreadable {kind} message]"));
    let media_of = |m: &webhook::Media, placeholder: String| {
        (m.caption.clone().filter(|c| !c.is_empty()).unwrap_or(placeholder), serde_json::to_value(m).ok())
    };
    let (kind, content) = match kind {
        "text" => match &message.text {
            Some(text) => (kind.to_string(), text.body.clone()),
            None => unreadable(),
        },
        "image" | "video" | "audio" | "sticker" | "document" => {
            let object = match kind {
                "image" => &message.image,
                "video" => &message.video,
                "audio" => &message.audio,
                "sticker" => &message.sticker,
                _ => &message.document,
            };
            match object {
                Some(m) => {
                    let placeholder = match kind {
                        "audio" if m.voice == Some(true) => "[voice message]".to_string(),
                        "sticker" if m.animated == Some(true) => "[animated sticker]".to_string(),
                        "document" => match &m.filename {
                            Some(name) => format!("[document: {name}]"),
                            None => "[document]".to_string(),
                        },
                        other => format!("[{other}]"),
                    };
                    let (content, refs) = media_of(m, placeholder);
                    media = refs;
                    (kind.to_string(), content)
                }
                None => unreadable(),
            }
        }
        "location" => match &message.location {
            Some(l) => {
                let label = [l.name.as_deref(), l.address.as_deref()]
                    .into_iter()
                    .flatten()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(", ");
                let content = if label.is_empty() {
                    format!("📍 location ({}, {})", l.latitude, l.longitude)
                } else {
                    format!("📍 location: {label} ({}, {})", l.latitude, l.longitude)
                };
                (kind.to_string(), content)
            }
            None => unreadable(),
        },
        "contacts" => match &message.contacts {
            Some(cards) => {
                let names: Vec<String> = cards
                    .iter()
                    .filter_map(|c| {
                        c.name
                            .as_ref()
                            .and_then(|n| n.formatted_name.clone())
                            .or_else(|| c.phones.first().and_then(|p| p.phone.clone().or(p.wa_id.clone())))
                    })
                    .collect();
                (kind.to_string(), format!("[contact: {}]", names.join(", ")))
            }
            None => unreadable(),
        },
        "button" => match &message.button {
            Some(b) => {
                let label = b.text.clone().or(b.payload.clone()).unwrap_or_default();
                (kind.to_string(), label)
            }
            None => unreadable(),
        },
        "interactive" => match &message.interactive {
            Some(i) => {
                let reply = i.button_reply.as_ref().or(i.list_reply.as_ref());
                let content = match (reply, &i.nfm_reply) {
                    (Some(r), _) => r.title.clone().unwrap_or_else(|| r.id.clone()),
                    (None, Some(nfm)) => nfm.body.clone().unwrap_or_else(|| "[form response]".to_string()),
                    (None, None) => format!("[interactive {}]", i.kind),
                };
                (kind.to_string(), content)
            }
            None => unreadable(),
        },
        "reaction" => match &message.reaction {
            Some(r) => {
                context_wamid = Some(r.message_id.clone());
                let content = match r.emoji.as_deref().filter(|e| !e.is_empty()) {
                    Some(emoji) => format!("[reaction {emoji} to {}]", r.message_id),
                    None => format!("[reaction removed from {}]", r.message_id),
                };
                (kind.to_string(), content)
            }
            None => unreadable(),
        },
        "order" => match &message.order {
            Some(o) => {
                let items = o.product_items.len();
                let content = match o.text.as_deref().filter(|t| !t.is_empty()) {
                    Some(text) => format!("[order: {items} item(s)] {text}"),
                    None => format!("[order: {items} item(s)]"),
                };
                (kind.to_string(), content)
            }
            None => unreadable(),
        },
        "system" => {
            let body = message.system.as_ref().and_then(|s| s.body.clone());
            (kind.to_string(), body.unwrap_or_else(|| "[system message]".to_string()))
        }
        "request_welcome" => (kind.to_string(), "[conversation opened]".to_string()),
        "unsupported" => {
            let content = match message.errors.first() {
                Some(e) => format!(
                    "[unsupported message: {} ({})]",
                    e.detail().or(e.title.as_deref()).unwrap_or("unknown type"),
                    e.code
                ),
                None => "[unsupported message]".to_string(),
            };
            (kind.to_string(), content)
        }
        other => ("unknown".to_string(), format!("[unknown message type: {other}]")),
    };
    Described { kind, content, media, context_wamid }
}

/// Why a new message opts its sender out of marketing, if it does.
fn opt_out_source(config: &IngestConfig, message: &Message) -> Option<&'static str> {
    match message.kind.as_str() {
        "text" => {
            let text = message.text.as_ref()?.body.trim().to_lowercase();
            config.opt_out_keywords.iter().any(|k| k.trim().to_lowercase() == text).then_some("keyword")
        }
        "button" => {
            let b = message.button.as_ref()?;
            let tapped = [b.payload.as_deref(), b.text.as_deref()].into_iter().flatten();
            tapped.into_iter().any(|t| t.trim().eq_ignore_ascii_case(STOP_BUTTON)).then_some("button")
        }
        _ => None,
    }
}

/// An inbound message, read and ready to be written.
struct Inbound<'a> {
    item: &'a MessageItem<'a>,
    who: Identity<'a>,
    described: Described,
    profile_name: Option<&'a str>,
    opt_out: Option<&'static str>,
}

impl<'a> Inbound<'a> {
    fn read(config: &IngestConfig, item: &'a MessageItem<'a>) -> Result<Inbound<'a>> {
        let message = item.message;
        let sender = sender_of(item.contacts, message.from.as_deref(), message.from_user_id.as_deref());
        let profile = sender.and_then(|c| c.profile.as_ref());
        let who = Identity::new(
            message.from.as_deref().or(sender.and_then(|c| c.wa_id.as_deref())),
            message.from_user_id.as_deref().or(sender.and_then(|c| c.user_id.as_deref())),
            message.from_parent_user_id.as_deref().or(sender.and_then(|c| c.parent_user_id.as_deref())),
            profile.and_then(|p| p.username.as_deref()),
        )?;
        Ok(Inbound {
            item,
            who,
            described: describe(message),
            profile_name: profile.and_then(|p| p.name.as_deref()).filter(|n| !n.is_empty()),
            opt_out: opt_out_source(config, message),
        })
    }

    fn business(&self) -> BusinessId {
        self.item.route.business
    }

    fn wamid(&self) -> &str {
        &self.item.message.id
    }

    fn at(&self) -> DateTime<Utc> {
        self.item.at
    }
}

/// Stores a batch's inbound messages together: a handful of statements for the whole batch instead of
/// a handful per message. When that fails, each message is stored on its own, so one bad message is
/// rolled back alone and recorded on its event.
async fn store_messages(
    conn: &mut PgConnection,
    config: &IngestConfig,
    items: &[MessageItem<'_>],
    progress: &mut [Progress],
) -> Result<()> {
    let mut inbound = Vec::with_capacity(items.len());
    for item in items {
        match Inbound::read(config, item) {
            Ok(message) => inbound.push(message),
            Err(e) => item_failed(&mut progress[item.event], format!("message {}", item.message.id), e),
        }
    }
    if inbound.is_empty() {
        return Ok(());
    }
    let keywords = &mut KeywordRules::default();
    let mut savepoint = Connection::begin(&mut *conn).await?;
    let together = ingest_messages(&mut savepoint, config, keywords, &inbound).await;
    let outcomes = match together {
        Ok(stored) => {
            savepoint.commit().await?;
            inbound.iter().zip(stored).map(|(message, stored)| (message, Ok(stored))).collect()
        }
        Err(e) if inbound.len() == 1 => {
            savepoint.rollback().await?;
            vec![(&inbound[0], Err(e))]
        }
        Err(e) => {
            savepoint.rollback().await?;
            tracing::debug!(error = %e, messages = inbound.len(), "storing a batch together failed; one by one");
            let mut outcomes = Vec::with_capacity(inbound.len());
            for message in &inbound {
                let mut savepoint = Connection::begin(&mut *conn).await?;
                match ingest_messages(&mut savepoint, config, keywords, std::slice::from_ref(message)).await {
                    Ok(stored) => {
                        savepoint.commit().await?;
                        outcomes.push((message, Ok(stored[0])));
                    }
                    Err(e) => {
                        savepoint.rollback().await?;
                        outcomes.push((message, Err(e)));
                    }
                }
            }
            outcomes
        }
    };
    for (message, outcome) in outcomes {
        let progress = &mut progress[message.item.event];
        progress.handled += u32::from(outcome.is_ok());
        match outcome {
            Ok(true) => progress.summary.messages_stored += 1,
            Ok(false) => progress.summary.duplicates += 1,
            Err(e) => item_failed(progress, format!("message {}", message.wamid()), e),
        }
    }
    Ok(())
}

/// Stores inbound messages with everything they imply: the contact (created or linked), the message,
/// the conversation state, the conversation window and its usage, keyword stage rules, and the
/// outbox events. Returns, per message, whether it was stored (`false`: its wamid already was, and
/// nothing was changed for it).
async fn ingest_messages(
    conn: &mut PgConnection,
    config: &IngestConfig,
    keywords: &mut KeywordRules,
    inbound: &[Inbound<'_>],
) -> Result<Vec<bool>> {
    // Duplicates first (a repeat inside the batch, or a wamid stored before), so a duplicate delivery
    // changes nothing at all, not even the contact's identity.
    let known: BTreeSet<(i32, String)> = sqlx::query!(
        r#"SELECT u.business_id AS "business_id!", u.wamid AS "wamid!"
           FROM unnest($1::int[], $2::text[]) AS u(business_id, wamid)
           WHERE (SELECT true FROM messages m WHERE m.business_id = u.business_id AND m.wamid = u.wamid)"#,
        &inbound.iter().map(|m| m.business().0).collect::<Vec<_>>(),
        &inbound.iter().map(Inbound::wamid).collect::<Vec<_>>() as &[&str]
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|row| (row.business_id, row.wamid))
    .collect();
    // Positions in `inbound` of the first delivery of each wamid not stored before.
    let mut seen = BTreeSet::new();
    let positions: Vec<usize> = (0..inbound.len())
        .filter(|&i| {
            let (business, wamid) = (inbound[i].business(), inbound[i].wamid());
            !known.contains(&(business.0, wamid.to_string())) && seen.insert((business, wamid))
        })
        .collect();
    let mut stored_here = vec![false; inbound.len()];
    if positions.is_empty() {
        return Ok(stored_here);
    }
    let fresh: Vec<&Inbound<'_>> = positions.iter().map(|&i| &inbound[i]).collect();

    let who: Vec<(BusinessId, &Identity<'_>)> = fresh.iter().map(|m| (m.business(), &m.who)).collect();
    let contacts = upsert_contacts(conn, &who).await?;
    // The messages and the conversation state in one statement. Webhooks arrive out of order: the
    // profile name is taken only from a newer message, and the activity times only move forward.
    let at: Vec<DateTime<Utc>> = fresh.iter().map(|m| m.at()).collect();
    let stored = sqlx::query!(
        r#"WITH input AS (
               SELECT * FROM unnest($1::int[], $2::int[], $3::int[], $4::text[], $5::timestamptz[], $6::text[],
                                    $7::text[], $8::jsonb[], $9::jsonb[], $10::text[], $11::text[], $12::text[])
                   WITH ORDINALITY AS i(business_id, account_id, contact_id, content, at, wamid, kind, media, payload,
                                        context_wamid, profile_name, opt_out, ord)
           ), stored AS (
               INSERT INTO messages (business_id, whatsapp_account_id, contact_id, direction, content, status,
                                     sent_at, wamid, kind, media, payload, context_wamid)
               SELECT business_id, account_id, contact_id, 'in', content, 'delivered', at, wamid, kind, media,
                      payload, context_wamid
               FROM input ORDER BY ord
               ON CONFLICT (business_id, wamid) WHERE wamid IS NOT NULL DO NOTHING
               RETURNING id, business_id, wamid
           ), new AS (
               SELECT i.*, s.id AS message_id FROM input i JOIN stored s USING (business_id, wamid)
           ), per_contact AS (
               SELECT business_id, contact_id, count(*)::int AS n, max(at) AS last_at,
                      (array_agg(message_id ORDER BY at DESC, ord DESC))[1] AS last_id,
                      (array_agg(profile_name ORDER BY at DESC, ord DESC)
                           FILTER (WHERE profile_name IS NOT NULL))[1] AS profile_name,
                      max(at) FILTER (WHERE profile_name IS NOT NULL) AS profile_at,
                      (array_agg(opt_out ORDER BY at, ord) FILTER (WHERE opt_out IS NOT NULL))[1] AS opt_out,
                      min(at) FILTER (WHERE opt_out IS NOT NULL) AS opt_out_at,
                      max(at) FILTER (WHERE opt_out IS NOT NULL) AS opt_out_last
               FROM new GROUP BY business_id, contact_id
           ), choice AS (
               -- A STOP message is a marketing choice like a user_preferences stop: it counts only when
               -- newer than the last choice applied (a later resume wins, whatever the delivery order).
               SELECT p.*, p.opt_out IS NOT NULL
                           AND (c.marketing_preference_at IS NULL OR c.marketing_preference_at < p.opt_out_last)
                           AS opts_out
               FROM per_contact p JOIN contacts c ON c.business_id = p.business_id AND c.id = p.contact_id
           ), touched AS (
               UPDATE contacts c SET
                   profile_name = CASE WHEN p.profile_name IS NOT NULL
                                            AND (c.profile_name_at IS NULL OR c.profile_name_at < p.profile_at)
                                       THEN p.profile_name ELSE c.profile_name END,
                   profile_name_at = CASE WHEN p.profile_name IS NOT NULL
                                               AND (c.profile_name_at IS NULL OR c.profile_name_at < p.profile_at)
                                          THEN p.profile_at ELSE c.profile_name_at END,
                   last_active = GREATEST(c.last_active, p.last_at),
                   last_inbound_at = GREATEST(c.last_inbound_at, p.last_at),
                   last_message_id = CASE WHEN c.last_message_at IS NULL OR c.last_message_at <= p.last_at
                                          THEN p.last_id ELSE c.last_message_id END,
                   last_message_at = GREATEST(c.last_message_at, p.last_at),
                   unread_count = c.unread_count + p.n,
                   resolved_at = NULL,
                   opted_out_at = CASE WHEN p.opts_out THEN COALESCE(c.opted_out_at, p.opt_out_at)
                                       ELSE c.opted_out_at END,
                   opt_out_source = CASE WHEN p.opts_out AND c.opted_out_at IS NULL
                                         THEN p.opt_out ELSE c.opt_out_source END,
                   marketing_preference_at = CASE WHEN p.opts_out THEN p.opt_out_last
                                                  ELSE c.marketing_preference_at END
               FROM choice p
               WHERE c.business_id = p.business_id AND c.id = p.contact_id
           )
           SELECT n.ord AS "ord!", n.message_id AS "message_id!", ch.opts_out AS "opts_out!"
           FROM new n JOIN choice ch ON ch.business_id = n.business_id AND ch.contact_id = n.contact_id"#,
        &fresh.iter().map(|m| m.business().0).collect::<Vec<_>>(),
        &fresh.iter().map(|m| m.item.route.account.0).collect::<Vec<_>>(),
        &contacts.iter().map(|c| c.0).collect::<Vec<_>>(),
        &fresh.iter().map(|m| m.described.content.as_str()).collect::<Vec<_>>() as &[&str],
        &at,
        &fresh.iter().map(|m| m.wamid()).collect::<Vec<_>>() as &[&str],
        &fresh.iter().map(|m| m.described.kind.as_str()).collect::<Vec<_>>() as &[&str],
        &fresh.iter().map(|m| m.described.media.as_ref()).collect::<Vec<_>>() as &[Option<&Value>],
        &fresh.iter().map(|m| m.item.raw).collect::<Vec<_>>() as &[&Value],
        &fresh.iter().map(|m| m.described.context_wamid.as_deref()).collect::<Vec<_>>() as &[Option<&str>],
        &fresh.iter().map(|m| m.profile_name).collect::<Vec<_>>() as &[Option<&str>],
        &fresh.iter().map(|m| m.opt_out).collect::<Vec<_>>() as &[Option<&str>]
    )
    .fetch_all(&mut *conn)
    .await?;
    // (index in `fresh`, message id) of what this call stored; the rest lost a race to a concurrent
    // delivery of the same wamid.
    let new: Vec<(usize, MessageId)> =
        stored.iter().map(|row| (row.ord as usize - 1, MessageId(row.message_id))).collect();
    // Contacts a STOP message of this batch opted out (it was newer than their last marketing choice).
    let opted_out: BTreeSet<usize> = stored.iter().filter(|row| row.opts_out).map(|row| row.ord as usize - 1).collect();

    let windows: Vec<(BusinessId, ContactId, DateTime<Utc>)> =
        new.iter().map(|&(i, _)| (fresh[i].business(), contacts[i], fresh[i].at())).collect();
    billing::open_windows_if_closed(conn, &windows, config.conversation_price).await?;
    let mut outbox = Vec::with_capacity(new.len());
    for &(i, message_id) in &new {
        let (message, contact) = (fresh[i], contacts[i]);
        let text = &message.described.content;
        outbox.push(events::NewEvent {
            business: message.business(),
            contact: Some(contact),
            event: Event::MessageReceived {
                message_id,
                wamid: message.wamid().to_string(),
                account_id: message.item.route.account,
                kind: message.described.kind.clone(),
                text: text.clone(),
                context_wamid: message.described.context_wamid.clone(),
                sent_at: message.at(),
            },
            cause: Cause::customer(),
        });
        if let Some(source) = message.opt_out.filter(|_| opted_out.contains(&i)) {
            outbox.push(events::NewEvent {
                business: message.business(),
                contact: Some(contact),
                event: Event::OptedOut { source: source.to_string(), message_id: Some(message_id), detail: None },
                cause: Cause::customer(),
            });
        }
    }
    events::emit_all(conn, &outbox).await?;
    // After the messages' events, so a consumer reading in order sees a stage move after its cause.
    for &(i, _) in &new {
        let (message, contact) = (fresh[i], contacts[i]);
        let text = &message.described.content;
        if message.described.kind == "text" && keywords.may_match(conn, message.business(), text).await? {
            pipeline::apply_keyword_rules(conn, message.business(), contact, text).await?;
        }
    }

    for &(i, _) in &new {
        stored_here[positions[i]] = true;
    }
    Ok(stored_here)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusChange {
    Applied,
    Unchanged,
    UnknownMessage,
}

struct StatusApplied {
    change: StatusChange,
    pricing_recorded: bool,
}

/// Applies one status to the outbound message it is about in the routed business: the status only
/// moves forward (`MessageStatus::rank`; failed is terminal), each status keeps its own time.
///
/// The message is found by wamid, or else by the `client_ref` the send path reserved it with and sent
/// as `biz_opaque_callback_data`: a status can overtake the sender's recording of the wamid, which is
/// then set here.
///
/// `at` is the status's time as [`trusted_time`] accepted it.
async fn apply_status(
    conn: &mut PgConnection,
    route: Route,
    status: &Status,
    at: DateTime<Utc>,
) -> Result<StatusApplied> {
    let business = route.business;
    // Meta bills per delivered message: the first status of a wamid that carries pricing is recorded,
    // whether or not the message was sent through wacrm (it is this number's cost either way).
    let pricing_recorded = match &status.pricing {
        Some(pricing) => billing::record_pricing_on(conn, business, &status.id, pricing).await?,
        None => false,
    };
    // Anything else in the callback data is not ours to interpret.
    let client_ref = status.biz_opaque_callback_data.as_deref().and_then(|d| Uuid::parse_str(d.trim()).ok());
    let row = sqlx::query!(
        r#"SELECT id, contact_id, status AS "status: MessageStatus", campaign_id,
                  delivered_at, read_at, failed_at, wamid IS NULL AS "wamid_missing!"
           FROM messages
           WHERE business_id = $1 AND direction = 'out'
             AND (wamid = $2 OR (wamid IS NULL AND client_ref = $3))
           ORDER BY wamid IS NULL
           LIMIT 1
           FOR UPDATE"#,
        business.0,
        status.id,
        client_ref
    )
    .fetch_optional(&mut *conn)
    .await?;
    let (Some(row), Some(reported)) = (row, status.message_status()) else {
        let change = if status.message_status().is_none() {
            tracing::debug!(wamid = %status.id, status = %status.status, "status value not tracked");
            StatusChange::Unchanged
        } else {
            tracing::info!(business = %business, wamid = %status.id, status = %status.status,
                "status for a message this business has no record of");
            StatusChange::UnknownMessage
        };
        return Ok(StatusApplied { change, pricing_recorded });
    };
    let current = row.status.unwrap_or(MessageStatus::Pending);
    let advances = current != MessageStatus::Failed && reported.rank() > current.rank();
    let new_status = if advances { reported } else { current };
    let delivered_at = (reported == MessageStatus::Delivered && row.delivered_at.is_none()).then_some(at);
    let read_at = (reported == MessageStatus::Read && row.read_at.is_none()).then_some(at);
    let failed = reported == MessageStatus::Failed && row.failed_at.is_none();
    if !advances && delivered_at.is_none() && read_at.is_none() && !failed && !row.wamid_missing {
        return Ok(StatusApplied { change: StatusChange::Unchanged, pricing_recorded });
    }
    let error = if failed { status.errors.first() } else { None };
    sqlx::query!(
        r#"UPDATE messages SET
               status = $3,
               delivered_at = COALESCE(delivered_at, $4),
               read_at = COALESCE(read_at, $5),
               failed_at = COALESCE(failed_at, $6),
               error_code = COALESCE($7, error_code),
               error_title = COALESCE($8, error_title),
               error_detail = COALESCE($9, error_detail),
               wamid = COALESCE(wamid, $10)
           WHERE business_id = $1 AND id = $2"#,
        business.0,
        row.id,
        new_status as MessageStatus,
        delivered_at,
        read_at,
        failed.then_some(at),
        error.and_then(|e| i32::try_from(e.code).ok()),
        error.and_then(|e| e.title.as_deref()),
        error.and_then(|e| e.detail()),
        status.id
    )
    .execute(&mut *conn)
    .await?;
    let event = Event::StatusChanged {
        message_id: MessageId(row.id),
        status: new_status,
        wamid: Some(status.id.clone()),
        reported: Some(status.status.clone()),
        at: Some(at),
        campaign_id: row.campaign_id,
        error_code: error.map(|e| e.code),
        error_title: error.and_then(|e| e.title.clone()),
        error_detail: error.and_then(|e| e.detail()).map(str::to_string),
        client_ref: None,
    };
    events::emit(conn, business, Some(ContactId(row.contact_id)), event, Cause::meta()).await?;
    Ok(StatusApplied { change: StatusChange::Applied, pricing_recorded })
}

/// A user stopped (`Some(true)`) or resumed (`Some(false)`) marketing messages from the number; other
/// categories are not ours (`None`). The contact is created if needed, so the choice is not lost.
async fn apply_preference(
    conn: &mut PgConnection,
    route: Route,
    contacts: &[Lenient<Contact>],
    preference: &UserPreference,
    at: DateTime<Utc>,
) -> Result<Option<bool>> {
    if preference.category != "marketing_messages" {
        return Ok(None);
    }
    let stop = match preference.value.to_ascii_lowercase().as_str() {
        "stop" => true,
        "resume" => false,
        _ => return Ok(None),
    };
    let sender = sender_of(contacts, preference.wa_id.as_deref(), preference.user_id.as_deref());
    let who = Identity::new(
        preference.wa_id.as_deref().or(sender.and_then(|c| c.wa_id.as_deref())),
        preference.user_id.as_deref().or(sender.and_then(|c| c.user_id.as_deref())),
        sender.and_then(|c| c.parent_user_id.as_deref()),
        sender.and_then(|c| c.profile.as_ref()).and_then(|p| p.username.as_deref()),
    )?;
    let contact = upsert_contacts(conn, &[(route.business, &who)]).await?[0];
    let choice = contacts::MarketingChoice {
        stop,
        source: "user_preferences",
        detail: preference.detail.clone(),
        at,
        cause: Cause::customer(),
    };
    contacts::apply_marketing_choice_on(conn, route.business, contact, &choice).await?;
    Ok(Some(stop))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message(json: Value) -> Message {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn placeholders_for_types_without_text() {
        let location = message(json!({"id": "w", "timestamp": "1", "type": "location",
            "location": {"latitude": 38.9, "longitude": -77.03, "name": "Philz Coffee"}}));
        assert_eq!(describe(&location).content, "📍 location: Philz Coffee (38.9, -77.03)");
        let reaction = message(json!({"id": "w", "timestamp": "1", "type": "reaction",
            "reaction": {"message_id": "wamid.X", "emoji": "👍"}}));
        let d = describe(&reaction);
        assert_eq!((d.content.as_str(), d.context_wamid.as_deref()), ("[reaction 👍 to wamid.X]", Some("wamid.X")));
        let unreaction = message(json!({"id": "w", "timestamp": "1", "type": "reaction",
            "reaction": {"message_id": "wamid.X", "emoji": ""}}));
        assert_eq!(describe(&unreaction).content, "[reaction removed from wamid.X]");
        let voice = message(json!({"id": "w", "timestamp": "1", "type": "audio",
            "audio": {"id": "m1", "mime_type": "audio/ogg; codecs=opus", "sha256": "h", "voice": true}}));
        let d = describe(&voice);
        assert_eq!(d.content, "[voice message]");
        assert_eq!(
            d.media,
            Some(json!({"id": "m1", "mime_type": "audio/ogg; codecs=opus", "sha256": "h", "voice": true}))
        );
        let future = message(json!({"id": "w", "timestamp": "1", "type": "hologram"}));
        assert_eq!(describe(&future).kind, "unknown");
        let broken = message(json!({"id": "w", "timestamp": "1", "type": "image", "image": {"no_id": 1}}));
        assert_eq!(
            describe(&broken),
            Described {
                kind: "unknown".into(),
                content: "[unreadable image message]".into(),
                media: None,
                context_wamid: None
            }
        );
    }

    #[test]
    fn opt_out_keywords_match_whole_messages_only() {
        let config = IngestConfig::default();
        let text = |body: &str| message(json!({"id": "w", "timestamp": "1", "type": "text", "text": {"body": body}}));
        assert_eq!(opt_out_source(&config, &text("  stop ")), Some("keyword"));
        assert_eq!(opt_out_source(&config, &text("Unsubscribe")), Some("keyword"));
        assert_eq!(opt_out_source(&config, &text("please stop")), None);
        let button = message(json!({"id": "w", "timestamp": "1", "type": "button",
            "button": {"payload": "Stop promotions", "text": "Stop promotions"}}));
        assert_eq!(opt_out_source(&config, &button), Some("button"));
    }
}
