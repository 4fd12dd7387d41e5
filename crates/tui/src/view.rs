//! What the panes show: plain data, filled in by the worker from core's results and by tests and
//! benches directly, so rendering never depends on a database.

use chrono::{DateTime, Duration, Utc};
use wacrm_core::{ContactId, Direction, MessageId, MessageStatus, Stage, UserId};

/// WhatsApp's customer-service window: free-form replies are allowed this long after the customer's
/// last message; after it only approved templates.
pub const SERVICE_WINDOW: Duration = Duration::hours(24);

/// One row of the Inbox's conversation list (one conversation per contact).
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationRow {
    pub contact: ContactId,
    pub name: String,
    pub phone: String,
    pub stage: Stage,
    pub unread: i32,
    pub last_message: String,
    pub last_direction: Option<Direction>,
    pub last_at: Option<DateTime<Utc>>,
    pub last_inbound_at: Option<DateTime<Utc>>,
    pub assigned: Option<String>,
    pub assigned_id: Option<UserId>,
    pub resolved: bool,
    /// When a snoozed conversation comes back (`None`: not snoozed).
    pub snoozed_until: Option<DateTime<Utc>>,
}

impl ConversationRow {
    /// Time left to reply freely; `None` when the window is closed.
    pub fn window_left(&self, now: DateTime<Utc>) -> Option<Duration> {
        let left = self.last_inbound_at? + SERVICE_WINDOW - now;
        (left > Duration::zero()).then_some(left)
    }
}

/// Where the next page of conversations starts (keyset: the last row's time and id), as core gave it.
pub type ConversationCursor = wacrm_core::inbox::conversations::Cursor;

/// One page of the conversation list.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationPage {
    pub rows: Vec<ConversationRow>,
    /// Present when more rows follow.
    pub next: Option<ConversationCursor>,
}

/// One message of a chat.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    pub id: MessageId,
    pub direction: Direction,
    pub body: String,
    pub status: MessageStatus,
    pub at: DateTime<Utc>,
    /// Why a send failed, as WhatsApp reported it.
    pub error: Option<String>,
    /// The team member who sent it (outbound only), or who wrote the note.
    pub sender: Option<String>,
    /// A private note of the team, never sent: shown among the messages, marked.
    pub note: bool,
    /// A file came with it (`o` downloads and opens it).
    pub media: bool,
}

/// The contact panel beside a chat (`p`); window and assignee come from the conversation row.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactPanel {
    pub contact: ContactId,
    pub profile_name: Option<String>,
    pub stage: Stage,
    pub tags: Vec<String>,
    /// How they opted out of marketing, when they did.
    pub opted_out: Option<String>,
    pub last_campaign: Option<(String, DateTime<Utc>)>,
    pub notes: i64,
}

/// A canned reply: `/shortcut` in the composer.
#[derive(Debug, Clone, PartialEq)]
pub struct CannedRow {
    pub shortcut: String,
    pub body: String,
    /// Its `{{name}}` fields, filled in before the text goes into the composer.
    pub fields: Vec<String>,
}

/// Someone a conversation can be assigned to.
#[derive(Debug, Clone, PartialEq)]
pub struct Teammate {
    pub id: UserId,
    pub name: String,
}

/// An approved template offered when the service window is closed.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateRow {
    pub name: String,
    pub language: String,
    pub preview: String,
}

/// One row of the Contacts table.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactRow {
    pub id: ContactId,
    pub name: String,
    pub phone: String,
    pub stage: Stage,
    pub tags: Vec<String>,
    pub last_active: Option<DateTime<Utc>>,
}

/// A card on the Pipeline board.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    pub contact: ContactId,
    pub name: String,
    pub phone: String,
    pub last_active: Option<DateTime<Utc>>,
}

/// One column of the board: the stage's total count and the cards loaded for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub stage: Stage,
    pub count: i64,
    pub cards: Vec<Card>,
}

/// A stage change in a contact's history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    pub from: Option<Stage>,
    pub to: Stage,
    pub at: DateTime<Utc>,
    pub source: String,
}

/// How the status bar describes the database connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbState {
    Connecting,
    Live,
    /// The LISTEN connection dropped; the runtime reconnects and reloads what is on screen.
    Reconnecting,
}
