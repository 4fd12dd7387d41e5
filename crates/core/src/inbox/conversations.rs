//! The conversation list, chat history and conversation state (read, assignment, resolution): seed
//! Inbox FLOWS 2 and 3 and the inbox's working state.
//!
//! One conversation per contact, as in the seed. Its state lives on the contact row (`last_message_*`,
//! `last_inbound_at`, `unread_count`, `assigned_user_id`, `resolved_at`), so the list is an index scan of
//! `idx_contacts_inbox` in keyset order instead of the seed's `DISTINCT ON` over every message.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::auth::{Area, Scope};
use crate::error::{Error, Result, input, op};
use crate::events::{self, Cause, ConversationAction, Event};
use crate::inbox::send::sending_account;
use crate::types::{ContactId, Direction, MessageId, MessageStatus, Stage, UserId};
use crate::whatsapp::client::GraphClient;

/// The most rows one page may ask for.
pub const MAX_PAGE: i64 = 500;

/// A position in a keyset-ordered list: the (time, id) of the last row seen. Printed as
/// `<unix microseconds>.<id>` so scripts can pass it back verbatim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: DateTime<Utc>,
    pub id: i32,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.at.timestamp_micros(), self.id)
    }
}

impl FromStr for Cursor {
    type Err = Error;
    fn from_str(s: &str) -> Result<Cursor> {
        s.trim()
            .split_once('.')
            .and_then(|(micros, id)| {
                let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
                Some(Cursor { at, id: id.parse().ok()? })
            })
            .ok_or_else(|| {
                Error::invalid(
                    format!("{s:?} is not a page cursor"),
                    "pass the cursor exactly as the previous page printed it (e.g. 1718000000123456.42)",
                )
            })
    }
}

impl Serialize for Cursor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One page of conversations or of a chat; `next` is `None` on the last page.
pub type Page<T> = crate::listing::Page<T, Cursor>;

fn check_limit(limit: i64) -> Result<i64> {
    crate::listing::limit(limit, MAX_PAGE)
}

/// Whose conversations to show (the views mine / unassigned / all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Assignee {
    #[default]
    Anyone,
    Unassigned,
    /// The acting user (a logged-in agent's "mine").
    Me,
    User(UserId),
}

/// Where a conversation stands in the workflow. Snoozed is read at query time (see
/// [`crate::inbox::workflow::snooze`]): a snooze whose time passed, or that the customer answered, is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Neither resolved nor snoozed.
    Open,
    Resolved,
    Snoozed,
}

impl Resolution {
    fn as_str(self) -> &'static str {
        match self {
            Resolution::Open => "open",
            Resolution::Resolved => "resolved",
            Resolution::Snoozed => "snoozed",
        }
    }
}

/// Filters of the conversation list; the default shows every conversation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub unread_only: bool,
    pub stage: Option<Stage>,
    /// A tag, case-insensitive.
    pub tag: Option<String>,
    pub assignee: Assignee,
    pub resolution: Option<Resolution>,
    /// Only conversations whose 24-hour window is open and closes within this many hours.
    pub closing_within_hours: Option<f64>,
    /// A substring of the contact's name, WhatsApp profile name or phone, or of any message in the chat.
    pub search: Option<String>,
}

/// A row of the conversation list.
#[derive(Debug, Clone, Serialize)]
pub struct Conversation {
    pub contact_id: ContactId,
    /// The CRM name, else the WhatsApp profile name, else the phone.
    pub name: String,
    pub phone: Option<String>,
    pub stage: Stage,
    pub unread_count: i32,
    pub assigned_user_id: Option<UserId>,
    pub assigned_to: Option<String>,
    pub last_message_id: Option<MessageId>,
    pub last_message_at: DateTime<Utc>,
    pub last_direction: Option<Direction>,
    pub last_status: Option<MessageStatus>,
    pub last_kind: Option<String>,
    /// The start of the last message (at most 120 characters).
    pub preview: String,
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// When the customer-service window closes (last inbound message + 24 h); free text until then.
    pub window_open_until: Option<DateTime<Utc>>,
    /// Seconds until the window closes; 0 when it is closed.
    pub window_seconds_left: i64,
    pub resolved_at: Option<DateTime<Utc>>,
    /// When a snoozed conversation comes back (`None` unless it is snoozed now).
    pub snoozed_until: Option<DateTime<Utc>>,
}

/// `%…%` for `LIKE`, with the user's own `%`, `_` and `\` taken literally.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The inbox, newest conversation first, `limit` rows after `after` (seed Inbox FLOW 2).
pub async fn list(
    pool: &PgPool,
    scope: &Scope,
    filter: &Filter,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Page<Conversation>> {
    scope.require(Area::Inbox)?;
    let limit = check_limit(limit)?;
    let (unassigned, assignee) = match filter.assignee {
        Assignee::Anyone => (false, None),
        Assignee::Unassigned => (true, None),
        Assignee::User(user) => (false, Some(user)),
        Assignee::Me => (
            false,
            Some(scope.user().ok_or_else(|| {
                Error::invalid(
                    "\"mine\" needs a logged-in user, and this command acts for the business as a whole",
                    format!("log in ({}), or name the agent ({})", op("login"), input("assigned")),
                )
            })?),
        ),
    };
    let closing_secs = match filter.closing_within_hours {
        Some(h) if !(h > 0.0 && h <= 24.0) => {
            return Err(Error::invalid(
                format!("{h} hours is not a window length"),
                format!("the window lasts 24 hours: give {} between 0 and 24, e.g. 2", input("closing-within")),
            ));
        }
        other => other.map(|h| h * 3600.0),
    };
    let search = filter.search.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(contains_pattern);
    let tag = filter.tag.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let mut rows = fetch(
        pool,
        scope,
        Query {
            contact: None,
            after,
            unread_only: filter.unread_only,
            stage: filter.stage,
            tag,
            unassigned,
            assignee,
            resolution: filter.resolution,
            closing_secs,
            search: search.as_deref(),
            limit: limit + 1,
        },
    )
    .await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|c| Cursor { at: c.last_message_at, id: c.contact_id.0 })
    } else {
        None
    };
    Ok(Page { items: rows, next })
}

/// One contact's conversation row (NotFound if the contact has no messages yet).
pub async fn get(pool: &PgPool, scope: &Scope, contact: ContactId) -> Result<Conversation> {
    scope.require(Area::Inbox)?;
    let query = Query { contact: Some(contact), limit: 1, ..Query::default() };
    fetch(pool, scope, query)
        .await?
        .pop()
        .ok_or_else(|| Error::not_found(format!("conversation with contact {contact}")))
}

#[derive(Default)]
struct Query<'a> {
    contact: Option<ContactId>,
    after: Option<Cursor>,
    unread_only: bool,
    stage: Option<Stage>,
    tag: Option<&'a str>,
    unassigned: bool,
    assignee: Option<UserId>,
    resolution: Option<Resolution>,
    closing_secs: Option<f64>,
    search: Option<&'a str>,
    limit: i64,
}

/// The one list query. The cursor is always a row comparison (a missing cursor reads as "after the
/// end of time"), so the position is an index condition on `idx_contacts_inbox` even in a generic
/// plan; every optional filter is `$n IS NULL OR …` in the same statement.
async fn fetch(pool: &PgPool, scope: &Scope, q: Query<'_>) -> Result<Vec<Conversation>> {
    let rows = sqlx::query!(
        r#"SELECT c.id AS "contact_id: ContactId",
                  COALESCE(c.name, c.profile_name, c.phone, c.username, c.bsuid, '#' || c.id) AS "name!",
                  c.phone, c.stage AS "stage!: Stage", c.unread_count,
                  c.assigned_user_id AS "assigned_user_id: UserId", u.name AS "assigned_to?",
                  c.last_message_id AS "last_message_id: MessageId", c.last_message_at AS "last_message_at!",
                  m.direction AS "last_direction?: Direction", m.status AS "last_status?: MessageStatus",
                  m.kind AS "last_kind?", COALESCE(left(m.content, 120), '') AS "preview!",
                  c.last_inbound_at, c.last_inbound_at + INTERVAL '24 hours' AS window_open_until,
                  GREATEST(0, floor(EXTRACT(EPOCH FROM c.last_inbound_at + INTERVAL '24 hours' - NOW())))::int8
                      AS "window_seconds_left!",
                  c.resolved_at,
                  CASE WHEN c.snoozed_until > NOW() AND (c.last_inbound_at IS NULL OR c.last_inbound_at <= c.snoozed_at)
                       THEN c.snoozed_until END AS snoozed_until
           FROM contacts c
           LEFT JOIN messages m ON m.business_id = c.business_id AND m.id = c.last_message_id
           LEFT JOIN users u ON u.business_id = c.business_id AND u.id = c.assigned_user_id
           WHERE c.business_id = $1 AND c.last_message_at IS NOT NULL
             AND ($2::int IS NULL OR c.id = $2)
             AND (c.last_message_at, c.id) < (COALESCE($3::timestamptz, 'infinity'), COALESCE($4::int, 2147483647))
             AND (NOT $5::bool OR c.unread_count > 0)
             AND ($6::text IS NULL OR c.stage::text = $6)
             AND ($7::text IS NULL OR EXISTS (
                     SELECT 1 FROM contact_tags t
                     WHERE t.business_id = $1 AND t.contact_id = c.id AND lower(t.tag) = lower($7)))
             AND (NOT $8::bool OR c.assigned_user_id IS NULL)
             AND ($9::int IS NULL OR c.assigned_user_id = $9)
             AND ($10::text IS NULL OR $10 = CASE
                     WHEN c.resolved_at IS NOT NULL THEN 'resolved'
                     WHEN c.snoozed_until > NOW() AND (c.last_inbound_at IS NULL OR c.last_inbound_at <= c.snoozed_at)
                          THEN 'snoozed'
                     ELSE 'open' END)
             AND ($11::float8 IS NULL OR (c.last_inbound_at > NOW() - INTERVAL '24 hours'
                  AND c.last_inbound_at <= NOW() - INTERVAL '24 hours' + make_interval(secs => $11)))
             AND ($12::text IS NULL
                  OR lower(coalesce(c.name, '') || ' ' || coalesce(c.phone, '')) LIKE $12
                  OR lower(c.profile_name) LIKE $12
                  OR c.id IN (SELECT s.contact_id FROM messages s WHERE s.business_id = $1 AND s.content ILIKE $12))
           ORDER BY c.last_message_at DESC, c.id DESC
           LIMIT $13"#,
        scope.business().0,
        q.contact.map(|c| c.0),
        q.after.map(|c| c.at),
        q.after.map(|c| c.id),
        q.unread_only,
        q.stage.map(Stage::as_str),
        q.tag,
        q.unassigned,
        q.assignee.map(|u| u.0),
        q.resolution.map(Resolution::as_str),
        q.closing_secs,
        q.search,
        q.limit
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Conversation {
            contact_id: r.contact_id,
            name: r.name,
            phone: r.phone,
            stage: r.stage,
            unread_count: r.unread_count,
            assigned_user_id: r.assigned_user_id,
            assigned_to: r.assigned_to,
            last_message_id: r.last_message_id,
            last_message_at: r.last_message_at,
            last_direction: r.last_direction,
            last_status: r.last_status,
            last_kind: r.last_kind,
            preview: r.preview,
            last_inbound_at: r.last_inbound_at,
            window_open_until: r.window_open_until,
            window_seconds_left: r.window_seconds_left,
            resolved_at: r.resolved_at,
            snoozed_until: r.snoozed_until,
        })
        .collect())
}

/// One message of a chat.
#[derive(Debug, Clone, Serialize)]
pub struct ChatMessage {
    pub id: MessageId,
    pub direction: Direction,
    /// text, template, image, reaction, … (as stored by ingest and send).
    pub kind: String,
    pub content: String,
    pub status: Option<MessageStatus>,
    pub wamid: Option<String>,
    /// The quoted message's wamid, for replies.
    pub context_wamid: Option<String>,
    pub sent_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub read_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub error_code: Option<i32>,
    pub error_title: Option<String>,
    pub error_detail: Option<String>,
    /// The team member who sent it (outbound messages from the dashboard).
    pub sender_user_id: Option<UserId>,
    pub sender_name: Option<String>,
    /// A file came with it (image, document, audio, video, sticker): [`crate::inbox::media::download`].
    pub has_media: bool,
}

/// A chat's messages in chronological order (seed Inbox FLOW 3): the newest `limit` before `before`
/// (none: the latest). `next` is the cursor of the page of older messages.
pub async fn history(
    pool: &PgPool,
    scope: &Scope,
    contact: ContactId,
    before: Option<Cursor>,
    limit: i64,
) -> Result<Page<ChatMessage>> {
    scope.require(Area::Inbox)?;
    let limit = check_limit(limit)?;
    ensure_contact(pool, scope, contact).await?;
    let mut items = sqlx::query_as!(
        ChatMessage,
        r#"SELECT m.id AS "id: MessageId", m.direction AS "direction: Direction", m.kind, m.content,
                  m.status AS "status: MessageStatus", m.wamid, m.context_wamid, m.sent_at AS "sent_at!",
                  m.delivered_at, m.read_at, m.failed_at, m.error_code, m.error_title, m.error_detail,
                  m.sender_user_id AS "sender_user_id: UserId", u.name AS "sender_name?",
                  m.media IS NOT NULL AS "has_media!"
           FROM messages m
           LEFT JOIN users u ON u.business_id = m.business_id AND u.id = m.sender_user_id
           WHERE m.business_id = $1 AND m.contact_id = $2
             AND (m.sent_at, m.id) < (COALESCE($3::timestamptz, 'infinity'), COALESCE($4::int, 2147483647))
           ORDER BY m.sent_at DESC, m.id DESC
           LIMIT $5"#,
        scope.business().0,
        contact.0,
        before.map(|c| c.at),
        before.map(|c| c.id),
        limit + 1
    )
    .fetch_all(pool)
    .await?;
    let next = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|m| Cursor { at: m.sent_at, id: m.id.0 })
    } else {
        None
    };
    items.reverse();
    Ok(Page { items, next })
}

/// NotFound unless the contact exists in the acting business (even without messages yet).
pub(crate) async fn ensure_contact(pool: &PgPool, scope: &Scope, contact: ContactId) -> Result<()> {
    let exists = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM contacts WHERE business_id = $1 AND id = $2) AS "e!""#,
        scope.business().0,
        contact.0
    )
    .fetch_one(pool)
    .await?;
    if exists { Ok(()) } else { Err(no_conversation(contact)) }
}

/// The contact a person named — an id, or a phone starting with `+` (see [`crate::contacts::resolve`],
/// the one place that reads references) — checked to exist in this business.
pub async fn find_contact(pool: &PgPool, scope: &Scope, reference: &str) -> Result<ContactId> {
    scope.require(Area::Inbox)?;
    let id = crate::contacts::resolve(pool, scope, reference).await?;
    let exists = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM contacts WHERE business_id = $1 AND id = $2) AS "exists!""#,
        scope.business().0,
        id.0
    )
    .fetch_one(pool)
    .await?;
    if exists { Ok(id) } else { Err(Error::not_found(format!("contact {}", reference.trim()))) }
}

/// Records a conversation change in the outbox (the terminal's live inbox follows these).
pub(crate) async fn announce(conn: &mut PgConnection, scope: &Scope, contact: ContactId, change: Event) -> Result<()> {
    events::emit(conn, scope.business(), Some(contact), change, Cause::of(scope)).await?;
    Ok(())
}

/// Marks a conversation read: unread count to zero and the customer's messages `read`. With a client,
/// also sends WhatsApp's read receipt for the newest of them (blue ticks); a failed receipt is logged,
/// not returned, since the inbox itself is already read.
pub async fn mark_read(
    pool: &PgPool,
    scope: &Scope,
    contact: ContactId,
    receipts: Option<&GraphClient>,
) -> Result<Conversation> {
    scope.require(Area::Inbox)?;
    let business = scope.business();
    let mut tx = pool.begin().await?;
    let before = sqlx::query_scalar!(
        r#"UPDATE contacts c SET unread_count = 0
           FROM (SELECT id, unread_count FROM contacts
                 WHERE business_id = $1 AND id = $2 AND last_message_at IS NOT NULL FOR UPDATE) old
           WHERE c.business_id = $1 AND c.id = old.id
           RETURNING old.unread_count"#,
        business.0,
        contact.0
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| no_conversation(contact))?;
    let newest = sqlx::query!(
        r#"WITH marked AS (
               UPDATE messages SET status = 'read', read_at = COALESCE(read_at, NOW())
               WHERE business_id = $1 AND contact_id = $2 AND direction = 'in'
                 AND status IN ('pending', 'sent', 'delivered')
               RETURNING wamid, sent_at
           )
           SELECT (SELECT count(*) FROM marked) AS "count!",
                  (SELECT wamid FROM marked WHERE wamid IS NOT NULL ORDER BY sent_at DESC LIMIT 1) AS newest_wamid"#,
        business.0,
        contact.0
    )
    .fetch_one(&mut *tx)
    .await?;
    // Without a usable number there is no receipt to send, but the inbox is still read.
    let account = match (receipts, &newest.newest_wamid) {
        (Some(_), Some(_)) => match sending_account(&mut tx, business, None, contact).await {
            Ok(account) => Some(account),
            Err(e @ (Error::Invalid { .. } | Error::NotFound { .. })) => {
                tracing::warn!(%contact, "no read receipt: {e}");
                None
            }
            Err(e) => return Err(e),
        },
        _ => None,
    };
    if before > 0 || newest.count > 0 {
        let read = Event::ConversationUpdated {
            action: ConversationAction::Read,
            messages: Some(newest.count),
            assigned_user_id: None,
            note_id: None,
            until: None,
        };
        announce(&mut tx, scope, contact, read).await?;
    }
    tx.commit().await?;
    if let (Some(client), Some(account), Some(wamid)) = (receipts, account, newest.newest_wamid)
        && let Err(e) = client.mark_read(&account.endpoint, &wamid).await
    {
        tracing::warn!(%contact, wamid, "the read receipt was not sent: {e}");
    }
    get(pool, scope, contact).await
}

/// Unread messages across all of the business's conversations (the terminal's status bar).
pub async fn unread_total(pool: &PgPool, scope: &Scope) -> Result<i64> {
    scope.require(Area::Inbox)?;
    Ok(sqlx::query_scalar!(
        r#"SELECT COALESCE(sum(unread_count), 0)::bigint AS "total!" FROM contacts
           WHERE business_id = $1 AND unread_count > 0"#,
        scope.business().0
    )
    .fetch_one(pool)
    .await?)
}

/// A contact without messages has no conversation to act on (and another business's has none either).
pub(crate) fn no_conversation(contact: ContactId) -> Error {
    Error::not_found(format!("conversation with contact {contact}"))
}

/// Assigns the conversation to a team member of the same business.
pub async fn assign(pool: &PgPool, scope: &Scope, contact: ContactId, user: UserId) -> Result<Conversation> {
    let mut tx = pool.begin().await?;
    assign_as_on(&mut tx, scope, contact, user, Cause::of(scope)).await?;
    tx.commit().await?;
    get(pool, scope, contact).await
}

/// [`assign`] in the caller's transaction with the caller's cause (an automation rule's).
pub async fn assign_as_on(
    conn: &mut PgConnection,
    scope: &Scope,
    contact: ContactId,
    user: UserId,
    cause: Cause,
) -> Result<()> {
    scope.require(Area::Inbox)?;
    let business = scope.business();
    sqlx::query_scalar!("SELECT id FROM users WHERE business_id = $1 AND id = $2", business.0, user.0)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::not_found(format!("user {user}")))?;
    let done = sqlx::query!(
        "UPDATE contacts SET assigned_user_id = $3 WHERE business_id = $1 AND id = $2 AND last_message_at IS NOT NULL",
        business.0,
        contact.0,
        user.0
    )
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(no_conversation(contact));
    }
    events::emit(conn, business, Some(contact), Event::assigned(user), cause).await?;
    Ok(())
}

/// Which conversation field a state change sets.
enum StateChange {
    Unassign,
    Resolve,
    Reopen,
}

impl StateChange {
    fn action(&self) -> ConversationAction {
        match self {
            StateChange::Unassign => ConversationAction::Unassigned,
            StateChange::Resolve => ConversationAction::Resolved,
            StateChange::Reopen => ConversationAction::Reopened,
        }
    }
}

async fn change_state(pool: &PgPool, scope: &Scope, contact: ContactId, change: StateChange) -> Result<Conversation> {
    scope.require(Area::Inbox)?;
    let business = scope.business();
    let mut tx = pool.begin().await?;
    let done = sqlx::query!(
        r#"UPDATE contacts
           SET assigned_user_id = CASE WHEN $3 = 'unassigned' THEN NULL ELSE assigned_user_id END,
               resolved_at = CASE $3 WHEN 'resolved' THEN COALESCE(resolved_at, NOW())
                                     WHEN 'reopened' THEN NULL
                                     ELSE resolved_at END,
               snoozed_until = CASE WHEN $3 IN ('resolved', 'reopened') THEN NULL ELSE snoozed_until END,
               snoozed_at = CASE WHEN $3 IN ('resolved', 'reopened') THEN NULL ELSE snoozed_at END
           WHERE business_id = $1 AND id = $2 AND last_message_at IS NOT NULL"#,
        business.0,
        contact.0,
        change.action().as_str()
    )
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(no_conversation(contact));
    }
    announce(&mut tx, scope, contact, Event::conversation(change.action())).await?;
    tx.commit().await?;
    get(pool, scope, contact).await
}

/// Takes the conversation off whoever had it (back to the unassigned view).
pub async fn unassign(pool: &PgPool, scope: &Scope, contact: ContactId) -> Result<Conversation> {
    change_state(pool, scope, contact, StateChange::Unassign).await
}

/// Marks the conversation resolved (done for now); a new customer message reopens it.
pub async fn resolve(pool: &PgPool, scope: &Scope, contact: ContactId) -> Result<Conversation> {
    change_state(pool, scope, contact, StateChange::Resolve).await
}

/// Reopens a resolved or snoozed conversation.
pub async fn reopen(pool: &PgPool, scope: &Scope, contact: ContactId) -> Result<Conversation> {
    change_state(pool, scope, contact, StateChange::Reopen).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_to_the_microsecond() {
        let at = DateTime::from_timestamp_micros(1_718_000_000_123_456).unwrap();
        let cursor = Cursor { at, id: 42 };
        assert_eq!(cursor.to_string(), "1718000000123456.42");
        assert_eq!("1718000000123456.42".parse::<Cursor>().unwrap(), cursor);
        assert!("yesterday".parse::<Cursor>().is_err());
        assert!("12.x".parse::<Cursor>().is_err());
    }

    #[test]
    fn search_patterns_take_wildcards_literally() {
        assert_eq!(contains_pattern("Ana"), "%ana%");
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
