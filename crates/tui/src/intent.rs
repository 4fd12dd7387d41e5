//! The one-way flow's vocabulary. Panes turn keys into [`Intent`]s on a [`Queue`] (they never call each
//! other); the app handles the ones about itself and hands [`Request`]s to the worker, whose answers and
//! the LISTEN stream's events come back as [`Update`]s.

use std::path::PathBuf;

use wacrm_core::events::Recorded as Event;
use wacrm_core::inbox::workflow::SnoozeUntil;
use wacrm_core::{ContactId, MessageId, Stage, UserId};

pub use crate::panes::analytics::{AnalyticsRequest, AnalyticsUpdate};
pub use crate::panes::automation::{AutomationRequest, AutomationUpdate};
pub use crate::panes::billing::{BillingRequest, BillingUpdate};
pub use crate::panes::broadcast::{BroadcastRequest, BroadcastUpdate};
pub use crate::panes::templates::{TemplatesRequest, TemplatesUpdate};
pub use crate::popups::notifications::{NotificationsRequest, NotificationsUpdate};
use crate::view::{
    CannedRow, ChatMessage, Column, ContactPanel, ContactRow, ConversationCursor, ConversationPage, ConversationRow,
    DbState, HistoryRow, Teammate, TemplateRow,
};

/// The tabs are the dashboards, in core's one list (keys 1–8).
pub use wacrm_core::Dashboard as Tab;

/// Which conversations the Inbox lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConversationFilter {
    #[default]
    All,
    Unread,
    Mine,
    Unassigned,
    Snoozed,
    Resolved,
}

impl ConversationFilter {
    pub const ALL: [ConversationFilter; 6] = [
        ConversationFilter::All,
        ConversationFilter::Unread,
        ConversationFilter::Mine,
        ConversationFilter::Unassigned,
        ConversationFilter::Snoozed,
        ConversationFilter::Resolved,
    ];

    pub fn next(self) -> ConversationFilter {
        let at = ConversationFilter::ALL.iter().position(|f| *f == self).unwrap_or(0);
        ConversationFilter::ALL[(at + 1) % ConversationFilter::ALL.len()]
    }

    pub fn label(self) -> &'static str {
        match self {
            ConversationFilter::All => "all",
            ConversationFilter::Unread => "unread",
            ConversationFilter::Mine => "mine",
            ConversationFilter::Unassigned => "unassigned",
            ConversationFilter::Snoozed => "snoozed",
            ConversationFilter::Resolved => "resolved",
        }
    }

    pub fn parse(text: &str) -> Option<ConversationFilter> {
        ConversationFilter::ALL.into_iter().find(|f| f.label().eq_ignore_ascii_case(text.trim()))
    }
}

/// The Contacts table's orders: core's keyset orders, so every page continues the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContactSort {
    #[default]
    LastActive,
    Name,
    Created,
}

impl ContactSort {
    pub fn next(self) -> ContactSort {
        match self {
            ContactSort::LastActive => ContactSort::Name,
            ContactSort::Name => ContactSort::Created,
            ContactSort::Created => ContactSort::LastActive,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ContactSort::LastActive => "last active ↓",
            ContactSort::Name => "name A→Z",
            ContactSort::Created => "newest ↓",
        }
    }
}

/// The Contacts table's filter and order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContactQuery {
    pub search: Option<String>,
    pub stage: Option<Stage>,
    pub tag: Option<String>,
    pub sort: ContactSort,
}

/// A contact as the create/edit form submits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactDraft {
    /// `None` creates a contact.
    pub id: Option<ContactId>,
    pub name: String,
    pub phone: String,
    pub stage: Option<Stage>,
    pub tags: Vec<String>,
}

/// Database work, done off the render loop by the worker: the app's own, and each pane's in its own
/// type, handled by that pane's module of the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Identity,
    UnreadTotal,
    Inbox(InboxRequest),
    Contacts(ContactsRequest),
    Pipeline(PipelineRequest),
    Automation(AutomationRequest),
    Broadcast(BroadcastRequest),
    Templates(TemplatesRequest),
    Analytics(AnalyticsRequest),
    Billing(BillingRequest),
    Notifications(NotificationsRequest),
}

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

/// What the Contacts table asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactsRequest {
    /// A page of the table; `after` is the previous page's cursor.
    Page {
        query: ContactQuery,
        after: Option<String>,
    },
    Save(ContactDraft),
    Tags {
        contact: ContactId,
        add: Vec<String>,
        remove: Vec<String>,
    },
    Import(PathBuf),
}

impl From<InboxRequest> for Request {
    fn from(request: InboxRequest) -> Request {
        Request::Inbox(request)
    }
}

impl From<ContactsRequest> for Request {
    fn from(request: ContactsRequest) -> Request {
        Request::Contacts(request)
    }
}

impl From<PipelineRequest> for Request {
    fn from(request: PipelineRequest) -> Request {
        Request::Pipeline(request)
    }
}

/// `impl From<PaneRequest> for Request` for the panes whose types live beside them.
macro_rules! nested_request {
    ($($pane:ident($request:ty)),* $(,)?) => {$(
        impl From<$request> for Request {
            fn from(request: $request) -> Request {
                Request::$pane(request)
            }
        }
    )*};
}

nested_request!(
    Automation(AutomationRequest),
    Broadcast(BroadcastRequest),
    Templates(TemplatesRequest),
    Analytics(AnalyticsRequest),
    Billing(BillingRequest),
    Notifications(NotificationsRequest),
);

/// What the Pipeline board asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipelineRequest {
    Board,
    History(ContactId),
}

/// What a component asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    Load(Request),
    SwitchTab(Tab),
    /// A short message in the status bar.
    Notify(String),
    /// Ring the terminal bell.
    Bell,
    /// Suspend the screen and edit this text in `$EDITOR`.
    OpenEditor(String),
    Quit,
}

/// The queue components push onto; the app drains it after every event.
#[derive(Debug, Default)]
pub struct Queue(Vec<Intent>);

impl Queue {
    pub fn push(&mut self, intent: Intent) {
        self.0.push(intent);
    }

    pub fn load(&mut self, request: impl Into<Request>) {
        self.0.push(Intent::Load(request.into()));
    }

    pub fn drain(&mut self) -> Vec<Intent> {
        std::mem::take(&mut self.0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Results of background work and live events, fed back into the state.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    Identity {
        business: String,
        user: String,
        user_id: Option<wacrm_core::UserId>,
    },
    /// Unread messages across the business's conversations.
    UnreadTotal {
        count: i64,
    },
    /// A page of the list for this filter and search (a late answer to an earlier filter is dropped).
    Conversations {
        page: ConversationPage,
        appended: bool,
        filter: ConversationFilter,
        search: Option<String>,
    },
    Conversation(ConversationRow),
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
    Contacts {
        rows: Vec<ContactRow>,
        next: Option<String>,
        appended: bool,
    },
    ContactSaved(ContactRow),
    /// The form was refused; core's message, shown inline.
    FormError(String),
    ImportProgress {
        done: u64,
        total: Option<u64>,
    },
    ImportDone(String),
    /// Lines for the message log only (e.g. each rejected row of an import).
    Notices(Vec<String>),
    Board(Vec<Column>),
    History {
        contact: ContactId,
        rows: Vec<HistoryRow>,
    },
    Automation(AutomationUpdate),
    Broadcast(BroadcastUpdate),
    /// The Templates pane's (the Inbox's approved templates are [`Update::Templates`]).
    TemplatesPane(TemplatesUpdate),
    Analytics(AnalyticsUpdate),
    Billing(BillingUpdate),
    Notifications(NotificationsUpdate),
    /// A committed event from the LISTEN stream.
    Live(Event),
    Db(DbState),
    /// The editor closed; `None` when it was left without saving or could not start.
    Edited(Option<String>),
    /// A request failed; `what` names it for the status bar.
    Failed {
        what: &'static str,
        message: String,
    },
}
