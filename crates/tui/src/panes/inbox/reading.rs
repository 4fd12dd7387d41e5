//! Reading a chat: search within it (`/` while the chat has focus, `n`/`N`, Esc clears), the "new
//! messages below" marker when the agent has scrolled up, and `o` on the files customers sent.

use wacrm_core::{ContactId, MessageId};

use super::Inbox;
use super::actions::InboxPopup;
use super::draw::chat_blocks;
use crate::intent::{InboxRequest, Intent, Queue};
use crate::panes::Env;
use crate::popups::picker::{Item, Picker};
use crate::view::{ChatMessage, ConversationCursor};

/// A search within the open chat, over its loaded messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ChatSearch {
    pub term: String,
    /// The matching messages, oldest first.
    pub hits: Vec<MessageId>,
    /// The hit shown now (the newest at first, as a reader scrolls back from the end).
    pub current: usize,
}

impl ChatSearch {
    pub fn current(&self) -> Option<MessageId> {
        self.hits.get(self.current).copied()
    }

    /// `term 2/5`, or `term: no match`.
    pub fn label(&self) -> String {
        if self.hits.is_empty() {
            format!("/{}: no match", self.term)
        } else {
            format!("/{} {}/{}", self.term, self.current + 1, self.hits.len())
        }
    }
}

fn hits(messages: &[ChatMessage], term: &str) -> Vec<MessageId> {
    let term = term.to_lowercase();
    messages.iter().filter(|m| m.body.to_lowercase().contains(&term)).map(|m| m.id).collect()
}

impl Inbox {
    /// `/` with the chat focused: find `text` in the loaded messages and show the newest hit.
    pub(super) fn search_chat(&mut self, text: &str, env: &Env, queue: &mut Queue) {
        let Some(chat) = &self.chat else { return };
        let term = text.trim();
        if term.is_empty() {
            self.chat_search = None;
            return;
        }
        let hits = hits(&chat.messages, term);
        let current = hits.len().saturating_sub(1);
        if hits.is_empty() {
            queue.push(Intent::Notify(format!("no message in this chat contains {term:?} (loaded messages only)")));
        }
        self.chat_search = Some(ChatSearch { term: term.to_string(), hits, current });
        self.show_hit(env);
    }

    /// `n` (older, `delta` -1) and `N` (newer, +1): the next hit, wrapping around.
    pub(super) fn next_hit(&mut self, delta: isize, env: &Env) {
        let Some(search) = self.chat_search.as_mut().filter(|s| !s.hits.is_empty()) else { return };
        let len = search.hits.len() as isize;
        search.current = (search.current as isize + delta).rem_euclid(len) as usize;
        self.show_hit(env);
    }

    /// Scrolls so the current hit sits a third of the way up the view.
    fn show_hit(&mut self, env: &Env) {
        let (Some(chat), Some(target)) = (&self.chat, self.chat_search.as_ref().and_then(ChatSearch::current)) else {
            return;
        };
        let (width, height) = self.chat_view.get();
        let Some(from_end) = chat.messages.iter().rev().position(|m| m.id == target) else { return };
        let blocks = chat_blocks(&chat.messages, width.max(1) as usize, usize::MAX, None, env);
        let below: usize = blocks.iter().take(from_end).map(Vec::len).sum();
        self.chat_scroll = below.saturating_sub(height as usize / 3);
    }

    /// The open chat's newest page arrived (first, or again after a live event). Pages loaded before it
    /// by scrolling up stay; while the agent reads further up, the view stays on the same messages:
    /// the scroll counts lines from the newest message, so it grows by the lines of what arrived below.
    pub(super) fn take_chat(
        &mut self,
        contact: ContactId,
        page: &[ChatMessage],
        older: Option<ConversationCursor>,
        env: &Env,
    ) {
        let Some(chat) = self.chat.as_mut().filter(|c| c.contact == contact) else { return };
        let first = page.first().map(|m| (m.at, m.id));
        let earlier: Vec<ChatMessage> =
            chat.messages.iter().take_while(|m| first.is_some_and(|f| (m.at, m.id) < f)).cloned().collect();
        if earlier.is_empty() {
            chat.older = older;
        }
        let before = std::mem::replace(&mut chat.messages, [earlier, page.to_vec()].concat());
        chat.loading = false;
        let Some(last) = before.last().map(|m| (m.at, m.id)) else { return };
        if self.chat_scroll > 0 {
            let arrived = chat.messages.iter().rev().take_while(|m| (m.at, m.id) > last).count();
            if arrived > 0 {
                let width = self.chat_view.get().0.max(1) as usize;
                let blocks = chat_blocks(&chat.messages, width, usize::MAX, None, env);
                self.chat_scroll += blocks.iter().take(arrived).map(Vec::len).sum::<usize>();
            }
        }
        let after = chat.messages.clone();
        self.count_unseen(&before, &after);
    }

    /// A chat's messages were loaded again: count the new ones the agent has not scrolled down to.
    fn count_unseen(&mut self, before: &[ChatMessage], after: &[ChatMessage]) {
        if self.chat_scroll == 0 {
            self.unseen_below = 0;
            return;
        }
        let last = before.iter().rfind(|m| !m.note).map(|m| (m.at, m.id));
        self.unseen_below += after.iter().filter(|m| !m.note && last.is_none_or(|l| (m.at, m.id) > l)).count();
    }

    /// `o`: the open chat's file; with several, a picker of them, newest first.
    pub(super) fn open_media(&mut self, queue: &mut Queue, env: &Env) {
        let Some(chat) = &self.chat else { return };
        let files: Vec<&ChatMessage> = chat.messages.iter().rev().filter(|m| m.media && !m.note).collect();
        match files.as_slice() {
            [] => queue.push(Intent::Notify(
                "no image, document, audio or video among the loaded messages of this chat".into(),
            )),
            [one] => queue.load(InboxRequest::Media(one.id)),
            many => {
                let items = many
                    .iter()
                    .map(|m| {
                        let when = crate::text::relative(m.at, env.now, env.offset);
                        Item::new(crate::text::truncate(&m.body, 40), when)
                    })
                    .collect();
                let ids = many.iter().map(|m| m.id).collect();
                self.popup = Some(InboxPopup::Media { picker: Picker::new("Open a file", items), messages: ids });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use wacrm_core::{Direction, MessageStatus};

    use super::*;

    fn message(id: i32, body: &str) -> ChatMessage {
        ChatMessage {
            id: MessageId(id),
            direction: Direction::In,
            body: body.into(),
            status: MessageStatus::Delivered,
            at: Utc.with_ymd_and_hms(2026, 3, 1, 10, id as u32, 0).unwrap(),
            error: None,
            sender: None,
            note: false,
            media: false,
        }
    }

    #[test]
    fn search_is_case_blind_and_labels_its_position() {
        let messages = [message(1, "Espresso beans?"), message(2, "thanks"), message(3, "more ESPRESSO")];
        let found = hits(&messages, "espresso");
        assert_eq!(found, [MessageId(1), MessageId(3)]);
        let search = ChatSearch { term: "espresso".into(), hits: found, current: 1 };
        assert_eq!(search.label(), "/espresso 2/2");
        assert_eq!(search.current(), Some(MessageId(3)));
        let none = ChatSearch { term: "tea".into(), hits: Vec::new(), current: 0 };
        assert_eq!(none.label(), "/tea: no match");
    }
}
