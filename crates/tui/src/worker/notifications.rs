//! The notification list's requests: thin calls of `core::notifications`.

use wacrm_core::{Error, notifications};

use super::Worker;
use crate::intent::{NotificationsRequest, NotificationsUpdate, Update};
use crate::popups::notifications::{LIMIT, NotificationRow};

impl Worker {
    pub(super) async fn notifications(&self, request: NotificationsRequest) -> Result<Update, Error> {
        let (pool, scope) = (&self.pool, &self.scope);
        if request == NotificationsRequest::MarkAllRead {
            notifications::mark_read(pool, scope, None).await?;
        }
        let rows = notifications::list(pool, scope, false, LIMIT).await?;
        Ok(Update::Notifications(NotificationsUpdate::List(
            rows.into_iter()
                .map(|n| NotificationRow {
                    id: n.id,
                    source: n.source,
                    title: n.title,
                    body: n.body,
                    at: n.created_at,
                    read: n.read_at.is_some(),
                })
                .collect(),
        )))
    }
}
