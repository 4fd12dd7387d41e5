//! The one-way flow's vocabulary. Panes turn keys into [`Intent`]s on a [`Queue`] (they never call each
//! other); the app handles the ones about itself and hands [`Request`]s to the worker, whose answers and
//! the LISTEN stream's events come back as [`Update`]s.

use wacrm_core::ContactId;
use wacrm_core::events::Recorded as Event;

pub use crate::panes::analytics::{AnalyticsRequest, AnalyticsUpdate};
pub use crate::panes::automation::{AutomationRequest, AutomationUpdate};
pub use crate::panes::billing::{BillingRequest, BillingUpdate};
pub use crate::panes::broadcast::{BroadcastRequest, BroadcastUpdate};
pub use crate::panes::contacts::{ContactDraft, ContactQuery, ContactSort, ContactsRequest, ContactsUpdate};
pub use crate::panes::inbox::{InboxRequest, InboxUpdate};
pub use crate::panes::pipeline::{PipelineRequest, PipelineUpdate};
pub use crate::panes::templates::{TemplatesRequest, TemplatesUpdate};
pub use crate::popups::notifications::{NotificationsRequest, NotificationsUpdate};
use crate::view::DbState;

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

/// `impl From<PaneRequest> for Request`: each pane's types live beside it.
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
    Inbox(InboxRequest),
    Contacts(ContactsRequest),
    Pipeline(PipelineRequest),
    Automation(AutomationRequest),
    Broadcast(BroadcastRequest),
    Templates(TemplatesRequest),
    Analytics(AnalyticsRequest),
    Billing(BillingRequest),
    Notifications(NotificationsRequest),
);

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
    /// Show this contact's conversation in the Inbox (asked from another dashboard); `who` names them
    /// (name and phone) for the template form when they have no conversation yet.
    OpenChat {
        contact: ContactId,
        who: String,
    },
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
    Inbox(InboxUpdate),
    Contacts(ContactsUpdate),
    Pipeline(PipelineUpdate),
    /// Lines for the message log only (e.g. each rejected row of an import).
    Notices(Vec<String>),
    Automation(AutomationUpdate),
    Broadcast(BroadcastUpdate),
    Templates(TemplatesUpdate),
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
