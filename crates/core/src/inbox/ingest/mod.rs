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
//!
//! The concerns have a file each: the raw log and its queue (`log`), routing a change to its business
//! (`routing`), who a contact is (`identity`), inbound messages (`messages`), delivery statuses
//! (`statuses`) and marketing preferences (`preferences`); this file claims events and runs them.

mod identity;
mod log;
mod messages;
mod preferences;
mod routing;
mod statuses;

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

use identity::*;
pub use log::*;
pub use messages::*;
use preferences::*;
use routing::*;
use statuses::*;

/// After this many attempts that failed for want of a database, an event is marked `failed` instead of
/// being retried by every sweep (`wacrm webhook replay` still picks it up).
const MAX_ATTEMPTS: i32 = 5;

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
