//! What the Inbox asks the worker for and what comes back (handled by `worker/inbox_requests.rs`).

use std::path::PathBuf;

use wacrm_core::inbox::workflow::SnoozeUntil;
use wacrm_core::{ContactId, MessageId, Stage, UserId};

use crate::intent::ConversationFilter;
use crate::view::{
    CannedRow, ChatMessage, ContactPanel, ConversationCursor, ConversationPage, ConversationRow, Teammate, TemplateRow,
};

/// What the Inbox asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxRequest {
    Conversations {
        filter: ConversationFilter,
        search: Option<String>,
        after: Option<ConversationCursor>,
    },
    /// One conversation row again (after a live event), moved to where it now sorts.
    Conversation(ContactId),
    /// The conversation another dashboard asked to show (whether or not the list has it).
    Open(ContactId),
    Chat(ContactId),
    /// The page of a chat's messages before `before` (scrolling up past the loaded ones).
    OlderChat {
        contact: ContactId,
        before: ConversationCursor,
    },
    Send {
        contact: ContactId,
        text: String,
    },
    /// A template with the parameters the agent filled in and confirmed.
    SendTemplate {
        contact: ContactId,
        name: String,
        language: String,
        params: Vec<String>,
    },
    MarkRead(ContactId),
    AssignToMe(ContactId),
    Assign {
        contact: ContactId,
        user: UserId,
    },
    Unassign(ContactId),
    Resolve(ContactId),
    /// Reopens a resolved or snoozed conversation.
    Reopen(ContactId),
    Snooze {
        contact: ContactId,
        until: SnoozeUntil,
    },
    AddNote {
        contact: ContactId,
        body: String,
    },
    /// Who conversations can be assigned to.
    Teammates,
    Canned,
    /// The contact panel's details.
    Panel(ContactId),
    SetStage {
        contact: ContactId,
        stage: Stage,
    },
    Templates,
    /// Core's rendering of a template with these values for the contact (the send form's preview).
    RenderTemplate {
        contact: ContactId,
        name: String,
        params: Vec<String>,
    },
    /// Download a message's file (image, document, audio, video) and open it.
    Media(MessageId),
}

impl InboxRequest {
    /// The name a failed request goes by in the status bar (and that the pane matches on).
    pub fn what(&self) -> &'static str {
        match self {
            InboxRequest::Conversations { .. } => "conversations",
            InboxRequest::Conversation(_) => "conversation",
            InboxRequest::Open(_) => "open chat",
            InboxRequest::Chat(_) | InboxRequest::OlderChat { .. } => "chat",
            InboxRequest::Send { .. } | InboxRequest::SendTemplate { .. } => "send",
            InboxRequest::MarkRead(_) => "mark read",
            InboxRequest::AssignToMe(_) | InboxRequest::Assign { .. } | InboxRequest::Unassign(_) => "assign",
            InboxRequest::Resolve(_) => "resolve",
            InboxRequest::Reopen(_) => "reopen",
            InboxRequest::Snooze { .. } => "snooze",
            InboxRequest::AddNote { .. } => "note",
            InboxRequest::Teammates => "teammates",
            InboxRequest::Canned => "canned replies",
            InboxRequest::Panel(_) => "contact panel",
            InboxRequest::SetStage { .. } => "stage",
            InboxRequest::Templates => "templates",
            InboxRequest::Media(_) => "media",
            InboxRequest::RenderTemplate { .. } => "template preview",
        }
    }
}

/// The Inbox's answers.
#[derive(Debug, Clone, PartialEq)]
pub enum InboxUpdate {
    /// A page of the list for this filter and search (a late answer to an earlier filter is dropped).
    Conversations {
        page: ConversationPage,
        appended: bool,
        filter: ConversationFilter,
        search: Option<String>,
    },
    Conversation(ConversationRow),
    /// The answer to [`InboxRequest::Open`]: `None` when the contact has no conversation yet.
    Opened {
        contact: ContactId,
        row: Option<ConversationRow>,
    },
    /// A chat's newest messages; `older` is the cursor of the page before them, if any.
    Chat {
        contact: ContactId,
        messages: Vec<ChatMessage>,
        older: Option<ConversationCursor>,
    },
    /// Messages before those loaded, oldest first.
    OlderChat {
        contact: ContactId,
        messages: Vec<ChatMessage>,
        older: Option<ConversationCursor>,
    },
    Sent {
        contact: ContactId,
    },
    Templates(Vec<TemplateRow>),
    /// The text the contact would get, or why core cannot render it.
    TemplatePreview {
        contact: ContactId,
        name: String,
        params: Vec<String>,
        result: Result<String, String>,
    },
    Teammates(Vec<Teammate>),
    Canned(Vec<CannedRow>),
    Panel(ContactPanel),
    NoteAdded {
        contact: ContactId,
    },
    /// A message's file is saved at `path`; `opened` when the system opener was started on it.
    Media {
        path: PathBuf,
        opened: bool,
    },
}
