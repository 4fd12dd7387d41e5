//! The Broadcast pane's requests: thin calls of `core::broadcast`.

use wacrm_core::Error;
use wacrm_core::broadcast::{self, Campaign, RecipientState};

use super::Worker;
use crate::intent::{BroadcastRequest, BroadcastUpdate, Update};
use crate::panes::broadcast::{CampaignDetail, CampaignRow, Failure};

/// Failed recipients shown under a campaign.
const FAILURES: i64 = 50;

impl Worker {
    pub(super) async fn broadcast(&self, request: BroadcastRequest) -> Result<Update, Error> {
        let (pool, scope) = (&self.pool, &self.scope);
        let changed = |verb: &str, c: Campaign| BroadcastUpdate::Changed(format!("campaign {} {verb}", c.name));
        Ok(Update::Broadcast(match request {
            BroadcastRequest::List => {
                BroadcastUpdate::List(broadcast::list(pool, scope).await?.into_iter().map(row).collect())
            }
            BroadcastRequest::Detail(id) => {
                let stats = broadcast::stats(pool, scope, id).await?;
                let failures = broadcast::recipients(pool, scope, id, Some(RecipientState::Failed), FAILURES).await?;
                BroadcastUpdate::Detail(CampaignDetail {
                    id,
                    pending: stats.pending + stats.sending,
                    delivered: stats.delivered,
                    read: stats.read,
                    replied: stats.replied,
                    failures: failures
                        .into_iter()
                        .map(|r| Failure {
                            name: r.name.unwrap_or_default(),
                            phone: r.phone.unwrap_or_default(),
                            code: r.error_code,
                            detail: r.detail,
                        })
                        .collect(),
                })
            }
            BroadcastRequest::Pause(id) => changed("paused", broadcast::pause(pool, scope, id).await?),
            BroadcastRequest::Resume(id) => changed("resumed", broadcast::resume(pool, scope, id).await?),
            BroadcastRequest::Cancel(id) => changed("cancelled", broadcast::cancel(pool, scope, id).await?),
        }))
    }
}

fn row(c: Campaign) -> CampaignRow {
    CampaignRow {
        id: c.id,
        name: c.name,
        template: c.template,
        status: c.status,
        recipients: c.recipients,
        sent: c.sent,
        failed: c.failed,
        skipped: c.skipped,
        paused_reason: c.paused_reason,
    }
}
