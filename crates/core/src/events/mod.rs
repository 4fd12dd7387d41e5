//! The transactional outbox. Domain events are written in the caller's transaction (so an event exists
//! exactly when its change does) and announced with `NOTIFY`, which PostgreSQL delivers only on commit.
//!
//! Only core constructs events: each is one variant of [`Event`], stored as its kind (`events.kind`) and
//! its fields plus a payload version and its [`Cause`] (`events.payload`). Open terminals follow the
//! notifications ([`subscribe`]); durable consumers ([`consume`]) and `wacrm events tail` read in a
//! commit-safe order ([`after`]).

mod cause;
mod consume;
pub(crate) mod live;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::pipeline::MoveSource;
use crate::types::{AccountId, BusinessId, ContactId, MessageId, MessageStatus, Stage, UserId};

pub use cause::{ActorKind, Cause};
pub use consume::{Consumer, Position, after, after_now, consume, consume_unless_busy, position, position_of};
pub use live::{CHANNEL, list_since, subscribe};

/// The version of the stored payload's shape, kept in its `v` field; readers of older rows may branch
/// on it when a variant's fields change.
pub const PAYLOAD_VERSION: u32 = 1;

/// Something that happened in a business, with the fields its consumers need. The variant names are the
/// stored kinds (`message_received`, `status_changed`, ...): scripts match on them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A customer's message was stored (seed Inbox FLOW 1 step 5).
    MessageReceived {
        message_id: MessageId,
        wamid: String,
        account_id: AccountId,
        kind: String,
        text: String,
        context_wamid: Option<String>,
        sent_at: DateTime<Utc>,
    },
    /// Meta accepted a message the business sent (seed Inbox FLOW 4 step 4).
    MessageSent {
        message_id: MessageId,
        wamid: String,
        kind: String,
        client_ref: Uuid,
        account_id: AccountId,
        sender_user_id: Option<UserId>,
        opened_conversation: Option<String>,
    },
    /// An outbound message's delivery status moved (a status webhook, or a send that failed).
    StatusChanged {
        message_id: MessageId,
        status: MessageStatus,
        wamid: Option<String>,
        /// The status as Meta reported it, when it came from a webhook.
        reported: Option<String>,
        at: Option<DateTime<Utc>>,
        campaign_id: Option<i32>,
        error_code: Option<i64>,
        error_title: Option<String>,
        error_detail: Option<String>,
        /// Our reference of a send that failed before Meta gave it a wamid.
        client_ref: Option<Uuid>,
    },
    /// A contact moved between pipeline stages; written only on a real change.
    StageChanged {
        contact_id: ContactId,
        from: Stage,
        to: Stage,
        source: MoveSource,
        history_id: i32,
        user_id: Option<UserId>,
    },
    ContactCreated {},
    /// A contact's name or phone was edited.
    ContactUpdated {},
    ContactDeleted {},
    /// An import created or updated contacts (one event per import, not per row).
    ContactsImported {
        created: u64,
        updated: u64,
    },
    TagAdded {
        tags: Vec<String>,
    },
    TagRemoved {
        tags: Vec<String>,
    },
    /// The contact stopped marketing messages: a STOP keyword, WhatsApp's preference or a person.
    OptedOut {
        source: String,
        message_id: Option<MessageId>,
        detail: Option<String>,
    },
    OptedIn {
        source: String,
        detail: Option<String>,
    },
    /// A conversation was read, assigned, resolved, reopened, snoozed or got a private note.
    ConversationUpdated {
        action: ConversationAction,
        /// Read: how many messages were marked read.
        messages: Option<i64>,
        /// Assigned: to whom.
        assigned_user_id: Option<UserId>,
        /// Noted: the note.
        note_id: Option<i64>,
        /// Snoozed: until when.
        until: Option<DateTime<Utc>>,
    },
    /// Meta moved a message template's review status.
    TemplateStatusChanged {
        template_id: i32,
        name: String,
        status: String,
        reason: Option<String>,
    },
    /// A recipient of a campaign wrote back within the campaign's attribution window (the seed's
    /// `message_received_after_campaign` automation trigger); written with the `message_received` it
    /// follows.
    MessageReceivedAfterCampaign {
        campaign_id: i32,
        message_id: MessageId,
        text: String,
    },
    /// An in-app notification was written (`crate::notifications`).
    Notified {
        notification_id: i64,
        /// The one team member it is for; none: everyone.
        user_id: Option<UserId>,
        source: String,
        title: String,
    },
}

/// The kinds that change how a contact shows in a list (name, stage, tags, opt-out): live panes reload
/// the contact on these.
pub const CONTACT_CHANGES: &[&str] = &[
    "contact_created",
    "contact_updated",
    "contact_deleted",
    "tag_added",
    "tag_removed",
    "opted_out",
    "opted_in",
    "stage_changed",
];

/// What changed on a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationAction {
    Read,
    Assigned,
    Unassigned,
    Resolved,
    Reopened,
    Snoozed,
    Noted,
}

impl ConversationAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationAction::Read => "read",
            ConversationAction::Assigned => "assigned",
            ConversationAction::Unassigned => "unassigned",
            ConversationAction::Resolved => "resolved",
            ConversationAction::Reopened => "reopened",
            ConversationAction::Snoozed => "snoozed",
            ConversationAction::Noted => "noted",
        }
    }
}

impl Event {
    /// A conversation change with no detail beyond its action.
    pub fn conversation(action: ConversationAction) -> Event {
        Event::ConversationUpdated { action, messages: None, assigned_user_id: None, note_id: None, until: None }
    }

    /// A conversation assigned to `user`.
    pub fn assigned(user: UserId) -> Event {
        Event::ConversationUpdated {
            action: ConversationAction::Assigned,
            messages: None,
            assigned_user_id: Some(user),
            note_id: None,
            until: None,
        }
    }

    /// The stored kind: the variant's name in snake case.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::MessageReceived { .. } => "message_received",
            Event::MessageSent { .. } => "message_sent",
            Event::StatusChanged { .. } => "status_changed",
            Event::StageChanged { .. } => "stage_changed",
            Event::ContactCreated {} => "contact_created",
            Event::ContactUpdated {} => "contact_updated",
            Event::ContactDeleted {} => "contact_deleted",
            Event::ContactsImported { .. } => "contacts_imported",
            Event::TagAdded { .. } => "tag_added",
            Event::TagRemoved { .. } => "tag_removed",
            Event::OptedOut { .. } => "opted_out",
            Event::OptedIn { .. } => "opted_in",
            Event::ConversationUpdated { .. } => "conversation_updated",
            Event::TemplateStatusChanged { .. } => "template_status_changed",
            Event::MessageReceivedAfterCampaign { .. } => "message_received_after_campaign",
            Event::Notified { .. } => "notified",
        }
    }

    /// The stored payload: the variant's fields, the payload version and the cause.
    fn payload(&self, cause: &Cause) -> Result<serde_json::Value> {
        let mut value = serde_json::to_value(self).map_err(|e| Error::internal(format!("event payload: {e}")))?;
        let fields = value.as_object_mut().ok_or_else(|| Error::internal("an event is not a JSON object"))?;
        fields.remove("type");
        fields.insert("v".into(), PAYLOAD_VERSION.into());
        fields.insert("cause".into(), serde_json::to_value(cause).map_err(|e| Error::internal(e.to_string()))?);
        Ok(value)
    }
}

/// An event to write.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub business: BusinessId,
    pub contact: Option<ContactId>,
    pub event: Event,
    pub cause: Cause,
}

/// Writes an event in the caller's transaction and queues its notification for commit.
pub async fn emit(
    conn: &mut PgConnection,
    business: BusinessId,
    contact: Option<ContactId>,
    event: Event,
    cause: Cause,
) -> Result<i64> {
    let ids = emit_all(conn, &[NewEvent { business, contact, event, cause }]).await?;
    ids.first().copied().ok_or_else(|| Error::internal("the event was not written"))
}

/// Writes events in the caller's transaction, in order, with one statement, and returns their ids. One
/// notification announces each business's events of the statement (a batch of inbound messages is
/// one, not one per message), in chunks that stay far below `NOTIFY`'s 8,000-byte payload limit.
pub async fn emit_all(conn: &mut PgConnection, events: &[NewEvent]) -> Result<Vec<i64>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let businesses: Vec<i32> = events.iter().map(|e| e.business.0).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e.event.kind()).collect();
    let contacts: Vec<Option<i32>> = events.iter().map(|e| e.contact.map(|c| c.0)).collect();
    let payloads = events.iter().map(|e| e.event.payload(&e.cause)).collect::<Result<Vec<_>>>()?;
    Ok(sqlx::query_scalar!(
        r#"WITH e AS (
               INSERT INTO events (business_id, kind, contact_id, payload)
               SELECT business_id, kind, contact_id, payload
               FROM unnest($1::int[], $2::text[], $3::int[], $4::jsonb[]) WITH ORDINALITY
                    AS i(business_id, kind, contact_id, payload, ord)
               ORDER BY ord
               RETURNING id, business_id
           ), chunked AS (
               SELECT id, business_id, (row_number() OVER (PARTITION BY business_id ORDER BY id) - 1) / $5 AS chunk
               FROM e
           ), announced AS (
               SELECT pg_notify('wacrm_events',
                                json_build_object('business_id', business_id, 'ids', json_agg(id ORDER BY id))::text)
               FROM chunked GROUP BY business_id, chunk
           )
           SELECT e.id AS "id!" FROM e, (SELECT count(*) FROM announced) AS notices ORDER BY e.id"#,
        &businesses,
        &kinds as &[&str],
        &contacts as &[Option<i32>],
        &payloads,
        NOTICE_IDS
    )
    .fetch_all(conn)
    .await?)
}

/// Event ids one notification carries at most (ids of up to 19 digits: ~4 KB of payload).
const NOTICE_IDS: i64 = 200;

/// A stored event, as `wacrm events tail` prints it: one JSON object per line with a `type` field.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recorded {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub business_id: BusinessId,
    pub contact_id: Option<ContactId>,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl Recorded {
    /// The typed event; `None` for a kind or shape this version does not know (a newer writer's).
    pub fn event(&self) -> Option<Event> {
        let mut value = self.payload.clone();
        let fields = value.as_object_mut()?;
        fields.insert("type".into(), self.kind.clone().into());
        serde_json::from_value(value).ok()
    }

    /// Who or what caused it; events written before causes were recorded count as the system's.
    pub fn cause(&self) -> Cause {
        self.payload.get("cause").and_then(|c| serde_json::from_value(c.clone()).ok()).unwrap_or_default()
    }
}
