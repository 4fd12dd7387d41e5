//! The Pipeline board's requests: the board and a contact's history.

use wacrm_core::contacts::Contact;
use wacrm_core::{Error, pipeline};

use super::{BOARD_CARDS, Worker};
use crate::intent::{PipelineRequest, PipelineUpdate, Update};
use crate::view::{Card, Column, HistoryRow};

impl Worker {
    pub(super) async fn pipeline(&self, request: PipelineRequest) -> Result<Update, Error> {
        let (pool, scope) = (&self.pool, &self.scope);
        Ok(match request {
            PipelineRequest::Board => {
                let columns = pipeline::board(pool, scope, BOARD_CARDS).await?;
                Update::Pipeline(PipelineUpdate::Board(
                    columns
                        .into_iter()
                        .map(|c| Column {
                            stage: c.stage,
                            count: c.count,
                            cards: c.contacts.into_iter().map(card).collect(),
                        })
                        .collect(),
                ))
            }
            PipelineRequest::History(contact) => {
                let mut rows: Vec<HistoryRow> = pipeline::history(pool, scope, Some(contact), 50)
                    .await?
                    .into_iter()
                    .filter_map(|h| Some(HistoryRow { from: h.from, to: h.to?, at: h.changed_at?, source: h.source }))
                    .collect();
                rows.reverse();
                Update::Pipeline(PipelineUpdate::History { contact, rows })
            }
        })
    }
}

fn card(c: Contact) -> Card {
    let phone = c.phone.unwrap_or_default();
    Card {
        contact: c.id,
        name: c.name.or(c.profile_name).unwrap_or_else(|| phone.clone()),
        phone,
        last_active: c.last_active,
    }
}
