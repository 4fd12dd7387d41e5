//! Database work off the render loop: each request runs as its own task against core and reports back
//! as an [`Update`]. The only place the TUI touches core's operations.

use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;
use wacrm_core::db::Pool;
use wacrm_core::inbox::conversations as inbox;
use wacrm_core::inbox::send::Sender;
use wacrm_core::{Error, Scope, auth};

use crate::intent::{Request, Update};
use crate::view::DbState;

mod analytics;
mod automation;
mod billing;
mod broadcast;
mod contacts;
mod inbox_requests;
mod notifications;
mod pipeline;
mod templates;

/// The seed's templates carry no language; Meta needs one, so the picker sends this one.
const DEFAULT_TEMPLATE_LANGUAGE: &str = "en_US";

/// Conversations per page: a few screens' worth, so scrolling rarely waits.
pub const CONVERSATION_PAGE: i64 = 200;
/// Messages of a chat loaded when it opens.
pub const CHAT_PAGE: i64 = 100;
/// Contacts per page of the table.
pub const CONTACT_PAGE: i64 = 200;
/// Cards per board column.
pub const BOARD_CARDS: i64 = 100;

/// What every task needs.
pub struct Worker {
    pub pool: Pool,
    /// Reports read here: the read replica when one is configured, else `pool`.
    pub read: Pool,
    pub scope: Scope,
    pub sender: Sender,
    pub updates: UnboundedSender<Update>,
}

impl Worker {
    /// Runs `request` in the background; its outcome arrives on the update channel.
    pub fn spawn(self: &Arc<Self>, request: Request) {
        let worker = Arc::clone(self);
        tokio::spawn(async move {
            let what = request_name(&request);
            let update = match worker.perform(request).await {
                Ok(update) => update,
                Err(error) => {
                    tracing::warn!(what, "request failed: {error}");
                    if matches!(error, Error::Unavailable { .. }) {
                        let _ = worker.updates.send(Update::Db(DbState::Reconnecting));
                    }
                    failure(what, &error)
                }
            };
            let _ = worker.updates.send(update);
        });
    }

    /// Does one request now (the benches time this; the event loop goes through [`Worker::spawn`]).
    pub async fn perform(&self, request: Request) -> Result<Update, Error> {
        let (pool, scope) = (&self.pool, &self.scope);
        Ok(match request {
            Request::Identity => {
                let who = auth::identity(pool, scope).await?;
                Update::Identity { user: who.label(), business: who.business_name, user_id: who.user }
            }
            Request::UnreadTotal => Update::UnreadTotal { count: inbox::unread_total(pool, scope).await? },
            Request::Inbox(request) => self.inbox(request).await?,
            Request::Contacts(request) => self.contacts(request).await?,
            Request::Pipeline(request) => self.pipeline(request).await?,
            Request::Automation(request) => self.automation(request).await?,
            Request::Broadcast(request) => self.broadcast(request).await?,
            Request::Templates(request) => self.templates(request).await?,
            Request::Analytics(request) => self.analytics(request).await?,
            Request::Billing(request) => self.billing(request).await?,
            Request::Notifications(request) => self.notifications(request).await?,
        })
    }
}

/// The name a failed request goes by in the status bar (and that panes match on).
fn request_name(request: &Request) -> &'static str {
    match request {
        Request::Identity => "identity",
        Request::UnreadTotal => "unread",
        Request::Inbox(request) => request.what(),
        Request::Contacts(request) => request.what(),
        Request::Pipeline(request) => request.what(),
        Request::Automation(request) => request.what(),
        Request::Broadcast(request) => request.what(),
        Request::Templates(request) => request.what(),
        Request::Analytics(request) => request.what(),
        Request::Billing(request) => request.what(),
        Request::Notifications(request) => request.what(),
    }
}

fn failure(what: &'static str, error: &Error) -> Update {
    Update::Failed { what, message: crate::wording::explain(error) }
}
