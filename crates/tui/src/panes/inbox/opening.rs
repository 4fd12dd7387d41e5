//! Another dashboard asked for a contact's conversation (Enter on a Pipeline card): select it and show
//! the chat. A row the list has not loaded (older than the loaded pages, or outside the filter) is
//! fetched first; a contact without a conversation gets the template form, the only way a business may
//! start one.

use wacrm_core::ContactId;

use super::actions::InboxPopup;
use super::{Focus, Inbox};
use crate::intent::{InboxRequest, Intent, Queue};
use crate::popups::template_send::TemplateSend;
use crate::view::ConversationRow;

/// A conversation asked for and not shown yet.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Opening {
    contact: ContactId,
    /// Name and phone, for the template form when there is no conversation.
    who: String,
    /// Core's row, once it came (it waits for a first page on its way, which would replace the list).
    row: Option<ConversationRow>,
}

impl Inbox {
    /// Selects `contact`'s conversation and focuses its chat, fetching the row when it is not loaded.
    pub fn open_contact(&mut self, contact: ContactId, who: &str, queue: &mut Queue) {
        self.popup = None;
        if let Some(index) = self.rows.iter().position(|r| r.contact == contact) {
            self.opening = None;
            self.show_opened(index, queue);
        } else {
            self.opening = Some(Opening { contact, who: who.to_string(), row: None });
            queue.load(InboxRequest::Open(contact));
        }
    }

    /// Whether a conversation asked for from elsewhere is still on its way.
    pub fn opening(&self) -> bool {
        self.opening.is_some()
    }

    /// Core's answer to [`InboxRequest::Open`]: the row, or `None` when the contact has no conversation.
    pub(super) fn take_opened(&mut self, contact: ContactId, row: Option<&ConversationRow>, queue: &mut Queue) {
        let Some(opening) = self.opening.as_mut().filter(|o| o.contact == contact) else { return };
        match row {
            Some(row) => {
                opening.row = Some(row.clone());
                self.finish_opening(queue);
            }
            None => {
                let who = opening.who.clone();
                self.opening = None;
                queue.push(Intent::Notify(format!(
                    "{who} has no conversation yet: WhatsApp lets a business start one only with an approved template"
                )));
                self.popup = Some(InboxPopup::Template { contact, send: TemplateSend::new(who) });
                queue.load(InboxRequest::Templates);
            }
        }
    }

    /// Shows the fetched row once no page of the list is on its way (a first page replaces the list).
    pub(super) fn finish_opening(&mut self, queue: &mut Queue) {
        if self.loading || self.opening.as_ref().is_none_or(|o| o.row.is_none()) {
            return;
        }
        let Some(Opening { row: Some(row), .. }) = self.opening.take() else { return };
        let index = match self.rows.iter().position(|r| r.contact == row.contact) {
            Some(index) => index,
            // Where it sorts among the loaded rows, else after them (its page will not repeat it).
            None => {
                let at = self
                    .rows
                    .iter()
                    .position(|r| (r.last_at, r.contact) < (row.last_at, row.contact))
                    .unwrap_or(self.rows.len());
                self.rows.insert(at, row);
                at
            }
        };
        self.show_opened(index, queue);
    }

    /// The agent opened it to read it: the chat gets focus and its messages count as read.
    fn show_opened(&mut self, index: usize, queue: &mut Queue) {
        self.focus = Focus::List;
        self.select(index, queue);
        self.focus = Focus::Chat;
        if let Some(row) = self.selected().filter(|r| r.unread > 0) {
            queue.load(InboxRequest::MarkRead(row.contact));
        }
    }
}
