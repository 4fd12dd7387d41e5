//! Keeping the list and the open chat current: pages of the list, a refreshed row moved to where it now
//! sorts, and what each live event reloads.

use wacrm_core::ContactId;
use wacrm_core::events::{self, Recorded as Event};

use super::{Focus, Inbox};
use crate::intent::{ConversationFilter, InboxRequest, Intent, Queue};
use crate::panes::{Env, step};
use crate::view::{ConversationPage, ConversationRow};

impl Inbox {
    pub(super) fn take_page(&mut self, page: &ConversationPage, appended: bool, queue: &mut Queue) {
        self.list_error = None;
        let keep = self.selected().map(|r| r.contact);
        if appended {
            let fresh: Vec<ConversationRow> =
                page.rows.iter().filter(|r| !self.rows.iter().any(|have| have.contact == r.contact)).cloned().collect();
            self.rows.extend(fresh);
        } else {
            self.rows = page.rows.clone();
        }
        self.next = page.next;
        self.loading = false;
        self.selected = keep.and_then(|c| self.rows.iter().position(|r| r.contact == c)).unwrap_or(if appended {
            self.selected
        } else {
            0
        });
        self.selected = step(self.selected, 0, self.rows.len());
        self.open_selected_chat(queue);
        self.finish_opening(queue);
    }

    /// Puts a refreshed row where it now sorts (newest first), or drops it when it left the filter.
    pub(super) fn take_row(&mut self, row: &ConversationRow, env: &Env, queue: &mut Queue) {
        let keep = self.selected().map(|r| r.contact);
        self.rows.retain(|r| r.contact != row.contact);
        let belongs = match self.filter {
            ConversationFilter::All => true,
            ConversationFilter::Unread => row.unread > 0 || keep == Some(row.contact),
            ConversationFilter::Mine => row.assigned_id.is_some() && row.assigned_id == env.me,
            ConversationFilter::Unassigned => row.assigned_id.is_none(),
            ConversationFilter::Snoozed => row.snoozed_until.is_some(),
            ConversationFilter::Resolved => row.resolved,
        };
        if belongs {
            let at = self.rows.iter().position(|r| (r.last_at, r.contact) < (row.last_at, row.contact));
            // Beyond the loaded pages it will come with a later page.
            match at {
                Some(i) => self.rows.insert(i, row.clone()),
                None if self.next.is_none() => self.rows.push(row.clone()),
                None => {}
            }
        }
        self.selected = keep.and_then(|c| self.rows.iter().position(|r| r.contact == c)).unwrap_or(self.selected);
        self.selected = step(self.selected, 0, self.rows.len());
        self.open_selected_chat(queue);
    }

    pub(super) fn on_live(&mut self, event: &Event, contact: ContactId, queue: &mut Queue) {
        let open = self.chat.as_ref().is_some_and(|c| c.contact == contact);
        match event.kind.as_str() {
            "message_received" => {
                queue.load(InboxRequest::Conversation(contact));
                if open {
                    queue.load(InboxRequest::Chat(contact));
                    // The agent is in this chat: what arrives is read, not counted unread.
                    if self.focus != Focus::List {
                        queue.load(InboxRequest::MarkRead(contact));
                    }
                } else {
                    queue.push(Intent::Bell);
                }
            }
            "message_sent" | "status_changed" => {
                queue.load(InboxRequest::Conversation(contact));
                if open {
                    queue.load(InboxRequest::Chat(contact));
                }
            }
            kind if kind == "conversation_updated" || events::CONTACT_CHANGES.contains(&kind) => {
                queue.load(InboxRequest::Conversation(contact));
                if open && self.show_panel {
                    queue.load(InboxRequest::Panel(contact));
                }
                if open && event.payload["action"] == "noted" {
                    queue.load(InboxRequest::Chat(contact));
                }
            }
            _ => {}
        }
    }
}
