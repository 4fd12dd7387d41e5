//! 1 Inbox: the conversation list beside the open chat and its composer.
//!
//! The list is virtualised: only the rows in view are built each frame, and pages are fetched by keyset
//! cursor as the selection nears the end of what is loaded. New messages and status changes arrive as
//! live events and reload only the conversation row and chat they concern.

use std::cell::Cell;
use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use wacrm_core::{ContactId, Stage};

use self::actions::InboxPopup;
use self::opening::Opening;
use self::reading::ChatSearch;
use crate::intent::{ConversationFilter, Intent, Queue, Update};
use crate::panes::{Env, KeyHint, PaletteCommand, Pane, command, contains, step};
use crate::popups::template_send::RenderWanted;
use crate::text;
use crate::view::{CannedRow, ChatMessage, ContactPanel, ConversationCursor, ConversationRow, Teammate};
use crate::widgets::input::{Edit, TextInput};

/// Ask for the next page when the selection is this close to the last loaded row.
const PREFETCH: usize = 20;
/// Each conversation takes two lines: name and badges, then the last message.
const ROW_LINES: u16 = 2;
/// PageUp/PageDown in the chat; the chat is laid out this far beyond the view, so a page up is there.
const CHAT_PAGE_LINES: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    List,
    Chat,
    Composer,
}

#[derive(Debug, Clone, PartialEq)]
struct Chat {
    contact: ContactId,
    messages: Vec<ChatMessage>,
    loading: bool,
    /// Cursor of the messages before the loaded ones, and whether that page is on its way.
    older: Option<ConversationCursor>,
    loading_older: bool,
}

#[derive(Debug)]
pub struct Inbox {
    rows: Vec<ConversationRow>,
    next: Option<ConversationCursor>,
    /// A page request is in flight (at most one at a time).
    loading: bool,
    started: bool,
    selected: usize,
    offset: Cell<usize>,
    list_area: Cell<Rect>,
    filter: ConversationFilter,
    search: Option<String>,
    chat: Option<Chat>,
    /// Lines scrolled up from the newest message, at most `chat_scroll_max` (known after a draw).
    chat_scroll: usize,
    chat_scroll_max: Cell<usize>,
    focus: Focus,
    /// The open chat's draft; the other chats' drafts wait in `drafts`.
    composer: TextInput,
    drafts: BTreeMap<ContactId, String>,
    /// Text sent but not yet confirmed, put back as that chat's draft if the send fails.
    unconfirmed: Option<(ContactId, String)>,
    popup: Option<InboxPopup>,
    /// Loaded when the assign picker first opens.
    teammates: Vec<Teammate>,
    canned: Vec<CannedRow>,
    /// Why the list could not be loaded (shown instead of a list that would not match its title).
    list_error: Option<String>,
    /// The contact panel is shown (`p`), with the open chat's contact once loaded.
    show_panel: bool,
    panel: Option<ContactPanel>,
    /// A search within the open chat (`/` while the chat has focus).
    chat_search: Option<ChatSearch>,
    /// Messages that arrived below the view while the agent was scrolled up.
    unseen_below: usize,
    /// The chat body's width and height at the last draw (where a search hit lands depends on them).
    chat_view: Cell<(u16, u16)>,
    /// The clock and offset of the last draw: `/` reaches the pane without them.
    last_env: Cell<Option<Env>>,
    /// A conversation another dashboard asked for, not shown yet.
    opening: Option<Opening>,
}

impl Default for Inbox {
    fn default() -> Inbox {
        Inbox {
            rows: Vec::new(),
            next: None,
            loading: false,
            started: false,
            selected: 0,
            offset: Cell::new(0),
            list_area: Cell::new(Rect::default()),
            filter: ConversationFilter::All,
            search: None,
            chat: None,
            chat_scroll: 0,
            chat_scroll_max: Cell::new(0),
            focus: Focus::List,
            composer: TextInput::multi(),
            drafts: BTreeMap::new(),
            unconfirmed: None,
            popup: None,
            teammates: Vec::new(),
            canned: Vec::new(),
            list_error: None,
            show_panel: false,
            panel: None,
            chat_search: None,
            unseen_below: 0,
            chat_view: Cell::new((0, 0)),
            last_env: Cell::new(None),
            opening: None,
        }
    }
}

impl Inbox {
    pub fn focus(&self) -> Focus {
        self.focus
    }

    pub fn selected(&self) -> Option<&ConversationRow> {
        self.rows.get(self.selected)
    }

    pub fn rows(&self) -> &[ConversationRow] {
        &self.rows
    }

    pub fn composer_text(&self) -> String {
        self.composer.text()
    }

    /// Every unsent draft, the open chat's included (what is saved for the next start).
    pub fn drafts(&self) -> BTreeMap<ContactId, String> {
        let mut drafts = self.drafts.clone();
        if let Some(chat) = &self.chat
            && !self.composer.is_blank()
        {
            drafts.insert(chat.contact, self.composer.text());
        }
        drafts
    }

    /// The names of the conversations with a draft (the quit warning lists them).
    pub fn draft_names(&self) -> Vec<String> {
        self.drafts()
            .keys()
            .map(|c| self.rows.iter().find(|r| r.contact == *c).map_or_else(|| format!("#{c}"), |r| r.name.clone()))
            .collect()
    }

    /// Drafts saved by an earlier run.
    pub fn restore_drafts(&mut self, drafts: BTreeMap<ContactId, String>) {
        self.drafts = drafts;
        self.drafts.retain(|_, text| !text.trim().is_empty());
        if let Some(contact) = self.chat.as_ref().map(|c| c.contact)
            && self.composer.is_blank()
        {
            self.load_draft(contact);
        }
    }

    /// Keeps the composer's text as the draft of the chat it was typed for.
    fn stash_draft(&mut self, contact: ContactId) {
        if self.composer.is_blank() {
            self.drafts.remove(&contact);
        } else {
            self.drafts.insert(contact, self.composer.text());
        }
        self.composer.clear();
    }

    fn load_draft(&mut self, contact: ContactId) {
        let text = self.drafts.remove(&contact).unwrap_or_default();
        self.composer.set_text(&text);
    }

    /// Unread messages over the loaded conversations (the status bar prefers core's total).
    pub fn loaded_unread(&self) -> i64 {
        self.rows.iter().map(|r| i64::from(r.unread)).sum()
    }

    fn reload(&mut self, queue: &mut Queue) {
        self.loading = true;
        queue.load(InboxRequest::Conversations { filter: self.filter, search: self.search.clone(), after: None });
    }

    fn open_selected_chat(&mut self, queue: &mut Queue) {
        let previous = self.chat.as_ref().map(|c| c.contact);
        let Some(contact) = self.selected().map(|r| r.contact) else {
            if let Some(previous) = previous {
                self.stash_draft(previous);
            }
            self.chat = None;
            return;
        };
        if previous == Some(contact) {
            return;
        }
        if let Some(previous) = previous {
            self.stash_draft(previous);
        }
        self.load_draft(contact);
        self.chat = Some(Chat { contact, messages: Vec::new(), loading: true, older: None, loading_older: false });
        self.chat_scroll = 0;
        self.unseen_below = 0;
        self.chat_search = None;
        queue.load(InboxRequest::Chat(contact));
        if self.show_panel {
            queue.load(InboxRequest::Panel(contact));
        }
    }

    fn select(&mut self, index: usize, queue: &mut Queue) {
        self.selected = step(index, 0, self.rows.len());
        if self.selected + PREFETCH >= self.rows.len()
            && !self.loading
            && let Some(after) = self.next
        {
            self.loading = true;
            queue.load(InboxRequest::Conversations {
                filter: self.filter,
                search: self.search.clone(),
                after: Some(after),
            });
        }
        self.open_selected_chat(queue);
    }

    fn page_rows(&self) -> usize {
        (self.list_area.get().height / ROW_LINES).max(1) as usize
    }

    fn window_open(&self, env: &Env) -> bool {
        self.selected().is_some_and(|r| r.window_left(env.now).is_some())
    }

    /// Enter on a conversation: read it and start writing (a draft, when the window is closed).
    fn enter_chat(&mut self, env: &Env, queue: &mut Queue) {
        let Some(row) = self.selected() else { return };
        let contact = row.contact;
        if row.unread > 0 {
            queue.load(InboxRequest::MarkRead(contact));
        }
        self.open_selected_chat(queue);
        self.start_reply(env, queue);
    }

    /// Typing always goes into the composer, whatever the window: keys typed as text never act.
    fn start_reply(&mut self, _env: &Env, queue: &mut Queue) {
        if self.selected().is_none() {
            return;
        }
        self.open_selected_chat(queue);
        self.focus = Focus::Composer;
    }

    fn send(&mut self, env: &Env, queue: &mut Queue) {
        let Some(contact) = self.chat.as_ref().map(|c| c.contact) else { return };
        if self.composer.is_blank() {
            return;
        }
        if !self.window_open(env) {
            queue.push(Intent::Notify("window closed: send a template (draft kept)".into()));
            self.open_templates(queue);
            return;
        }
        let text = self.composer.text().trim_end().to_string();
        self.composer.clear();
        self.unconfirmed = Some((contact, text.clone()));
        queue.load(InboxRequest::Send { contact, text });
    }

    /// Keys shared by the list and the chat history: act on the selected conversation.
    fn conversation_key(&mut self, key: KeyEvent, env: &Env, queue: &mut Queue) -> bool {
        let Some(contact) = self.selected().map(|r| r.contact) else { return false };
        match key.code {
            KeyCode::Char('r') => queue.load(InboxRequest::MarkRead(contact)),
            KeyCode::Char('a') => self.assign_to_me(env, queue),
            KeyCode::Char('A') => self.open_assign(queue),
            KeyCode::Char('s') => self.open_stage_picker(),
            KeyCode::Char('t') => self.open_templates(queue),
            KeyCode::Char('x') => self.toggle_resolved(queue),
            KeyCode::Char('z') => self.open_snooze(),
            KeyCode::Char('n') => self.open_note(),
            KeyCode::Char('p') => {
                self.show_panel = !self.show_panel;
                if self.show_panel {
                    queue.load(InboxRequest::Panel(contact));
                }
            }
            KeyCode::Char('i') => self.start_reply(env, queue),
            KeyCode::Char('o') => self.open_media(queue, env),
            _ => return false,
        }
        true
    }

    fn list_key(&mut self, key: KeyEvent, env: &Env, queue: &mut Queue) -> bool {
        let page = self.page_rows() as isize;
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('j') | KeyCode::Down => self.select(step(self.selected, 1, self.rows.len()), queue),
            KeyCode::Char('k') | KeyCode::Up => self.select(step(self.selected, -1, self.rows.len()), queue),
            KeyCode::Char('d') if ctrl => self.select(step(self.selected, page / 2, self.rows.len()), queue),
            KeyCode::Char('u') if ctrl => self.select(step(self.selected, -page / 2, self.rows.len()), queue),
            KeyCode::PageDown => self.select(step(self.selected, page, self.rows.len()), queue),
            KeyCode::PageUp => self.select(step(self.selected, -page, self.rows.len()), queue),
            KeyCode::Char('g') | KeyCode::Home => self.select(0, queue),
            KeyCode::Char('G') | KeyCode::End => self.select(self.rows.len().saturating_sub(1), queue),
            KeyCode::Enter | KeyCode::Char('l') | KeyCode::Right => self.enter_chat(env, queue),
            KeyCode::Tab => self.focus = Focus::Chat,
            KeyCode::Esc if self.search.is_some() => {
                self.search = None;
                self.reload(queue);
            }
            KeyCode::Char('f') => {
                self.filter = self.filter.next();
                queue.push(Intent::Notify(format!("showing {} conversations", self.filter.label())));
                self.reload(queue);
            }
            _ => return self.conversation_key(key, env, queue),
        }
        true
    }

    /// Scrolls the chat up by `lines`; at the oldest loaded message, asks for the page before it.
    fn scroll_up(&mut self, lines: usize, queue: &mut Queue) {
        let max = self.chat_scroll_max.get();
        self.chat_scroll = (self.chat_scroll + lines).min(max);
        if self.chat_scroll == max
            && let Some(chat) = self.chat.as_mut()
            && !chat.loading_older
            && let Some(before) = chat.older
        {
            chat.loading_older = true;
            queue.load(InboxRequest::OlderChat { contact: chat.contact, before });
        }
    }

    fn chat_key(&mut self, key: KeyEvent, env: &Env, queue: &mut Queue) -> bool {
        let page = (self.chat_view.get().1 as usize).saturating_sub(2).max(CHAT_PAGE_LINES);
        let searching = self.chat_search.is_some();
        match key.code {
            KeyCode::Char('k') | KeyCode::Up => self.scroll_up(1, queue),
            KeyCode::Char('j') | KeyCode::Down => self.chat_scroll = self.chat_scroll.saturating_sub(1),
            KeyCode::PageUp => self.scroll_up(page, queue),
            KeyCode::PageDown => self.chat_scroll = self.chat_scroll.saturating_sub(page),
            KeyCode::Char('G') | KeyCode::End => self.chat_scroll = 0,
            KeyCode::Char('n') if searching => self.next_hit(-1, env),
            KeyCode::Char('N') if searching => self.next_hit(1, env),
            KeyCode::Esc if searching => self.chat_search = None,
            KeyCode::Enter => self.start_reply(env, queue),
            KeyCode::Esc | KeyCode::Char('h') | KeyCode::Left | KeyCode::Tab => self.focus = Focus::List,
            _ => return self.conversation_key(key, env, queue),
        }
        if self.chat_scroll == 0 {
            self.unseen_below = 0;
        }
        true
    }

    fn composer_key(&mut self, key: KeyEvent, env: &Env, queue: &mut Queue) -> bool {
        match self.composer.handle_key(key) {
            // A lone `/shortcut` is expanded, never sent as it is.
            Edit::Submit => {
                if !self.expand_canned(queue) {
                    self.send(env, queue);
                }
            }
            Edit::Cancel => self.focus = Focus::Chat,
            Edit::External => queue.push(Intent::OpenEditor(self.composer.text())),
            Edit::Changed | Edit::Moved => {}
            Edit::Ignored if key.code == KeyCode::Tab => {
                if !self.expand_canned(queue) {
                    self.focus = Focus::List;
                }
            }
            Edit::Ignored => return false,
        }
        true
    }
}

fn stage_index(stage: Stage) -> usize {
    Stage::ALL.iter().position(|s| *s == stage).unwrap_or(0)
}

impl Pane for Inbox {
    fn keys(&self) -> Vec<KeyHint> {
        if let Some(popup) = &self.popup {
            return popup.keys();
        }
        keys::hints(self.focus)
    }

    fn captures_keys(&self) -> bool {
        self.focus == Focus::Composer || self.popup.is_some()
    }

    fn handle_key(&mut self, key: KeyEvent, env: &Env, queue: &mut Queue) -> bool {
        if self.popup.is_some() {
            self.popup_key(key, env, queue);
            return true;
        }
        match self.focus {
            Focus::List => self.list_key(key, env, queue),
            Focus::Chat => self.chat_key(key, env, queue),
            Focus::Composer => self.composer_key(key, env, queue),
        }
    }

    fn handle_mouse(&mut self, mouse: MouseEvent, _env: &Env, queue: &mut Queue) -> bool {
        let area = self.list_area.get();
        if !contains(area, mouse.column, mouse.row) {
            return false;
        }
        match mouse.kind {
            MouseEventKind::ScrollDown => self.select(step(self.selected, 3, self.rows.len()), queue),
            MouseEventKind::ScrollUp => self.select(step(self.selected, -3, self.rows.len()), queue),
            MouseEventKind::Down(MouseButton::Left) => {
                let index = self.offset.get() + ((mouse.row - area.y) / ROW_LINES) as usize;
                if index < self.rows.len() {
                    self.focus = Focus::List;
                    self.select(index, queue);
                }
            }
            _ => return false,
        }
        true
    }

    fn apply(&mut self, update: &Update, env: &Env, queue: &mut Queue) {
        match update {
            // Only the answer for what the list shows now: `f` pressed twice quickly sends two requests.
            Update::Inbox(InboxUpdate::Conversations { page, appended, filter, search })
                if *filter == self.filter && *search == self.search =>
            {
                self.take_page(page, *appended, queue);
            }
            Update::Inbox(InboxUpdate::Conversation(row)) => self.take_row(row, env, queue),
            Update::Inbox(InboxUpdate::Chat { contact, messages, older }) => {
                self.take_chat(*contact, messages, *older, env);
            }
            // Lines are counted from the newest message, so putting older ones on top keeps the view still.
            Update::Inbox(InboxUpdate::OlderChat { contact, messages, older }) => {
                if let Some(chat) = self.chat.as_mut().filter(|c| c.contact == *contact) {
                    chat.messages.splice(0..0, messages.iter().cloned());
                    chat.older = *older;
                    chat.loading_older = false;
                }
            }
            Update::Inbox(InboxUpdate::Sent { contact })
                if self.unconfirmed.as_ref().is_some_and(|(c, _)| c == contact) =>
            {
                self.unconfirmed = None;
            }
            Update::Failed { what: "send", .. } => {
                if let Some((contact, text)) = self.unconfirmed.take() {
                    let open = self.chat.as_ref().is_some_and(|c| c.contact == contact);
                    if open && self.composer.is_blank() {
                        self.composer.set_text(&text);
                        self.focus = Focus::Composer;
                    } else if !open {
                        self.drafts.entry(contact).or_insert(text);
                    }
                }
            }
            Update::Failed { what: "conversations", message } => {
                self.loading = false;
                self.list_error = Some(message.clone());
                self.finish_opening(queue);
            }
            Update::Inbox(InboxUpdate::Opened { contact, row }) => self.take_opened(*contact, row.as_ref(), queue),
            // The app shows why; the chat asked for is no longer on its way.
            Update::Failed { what: "open chat", .. } => self.opening = None,
            Update::Inbox(InboxUpdate::Templates(templates)) => {
                if let Some(InboxPopup::Template { send, .. }) = self.popup.as_mut() {
                    send.set_templates(templates);
                }
            }
            Update::Inbox(InboxUpdate::TemplatePreview { contact, name, params, result }) => {
                if let Some(InboxPopup::Template { send, contact: open }) = self.popup.as_mut()
                    && open == contact
                {
                    let wanted = RenderWanted { name: name.clone(), params: params.clone() };
                    send.set_preview(&wanted, result.clone());
                }
            }
            Update::Edited(Some(text)) => {
                self.composer.set_text(text.trim_end_matches('\n'));
                self.focus = Focus::Composer;
            }
            Update::Live(event) => {
                if let Some(contact) = event.contact_id {
                    self.on_live(event, contact, queue);
                }
            }
            Update::Inbox(InboxUpdate::Teammates(teammates)) => {
                self.teammates = teammates.clone();
                self.take_teammates();
            }
            Update::Inbox(InboxUpdate::Canned(canned)) => self.canned = canned.clone(),
            Update::Inbox(InboxUpdate::Panel(panel))
                if self.chat.as_ref().is_some_and(|c| c.contact == panel.contact) =>
            {
                self.panel = Some(panel.clone());
            }
            Update::Inbox(InboxUpdate::Media { path, opened }) => {
                let what = if *opened { "opened" } else { "saved (no display or opener here to open it with)" };
                queue.push(Intent::Notify(format!("{what}: {}", path.display())));
            }
            Update::Inbox(InboxUpdate::NoteAdded { contact })
                if self.chat.as_ref().is_some_and(|c| c.contact == *contact) =>
            {
                queue.load(InboxRequest::Chat(*contact));
            }
            _ => {}
        }
    }

    fn loaded(&self) -> bool {
        self.started
    }

    fn load(&mut self, queue: &mut Queue) {
        self.started = true;
        self.reload(queue);
        queue.load(InboxRequest::Canned);
    }

    /// The list and the open chat again (the open chat stays open, so loading the list alone would not
    /// bring the messages that arrived during the outage).
    fn refresh(&mut self, queue: &mut Queue) {
        if self.started {
            self.reload(queue);
            if let Some(chat) = &self.chat {
                queue.load(InboxRequest::Chat(chat.contact));
            }
        }
    }

    fn searches(&self) -> bool {
        true
    }

    fn search(&mut self, text: &str, queue: &mut Queue) {
        if self.focus == Focus::Chat
            && let Some(env) = self.last_env.get()
        {
            return self.search_chat(text, &env, queue);
        }
        self.search = text::search_term(text);
        self.focus = Focus::List;
        self.reload(queue);
    }

    fn commands(&self) -> Vec<PaletteCommand> {
        vec![
            command("filter", Some("all|unread|mine|unassigned|snoozed|resolved"), "which conversations to list"),
            command("read", None, "mark the selected conversation read"),
            command("assign", None, "assign the selected conversation to me"),
            command("assign-to", None, "assign the selected conversation to a teammate"),
            command("resolve", None, "resolve the selected conversation"),
            command("reopen", None, "reopen a resolved or snoozed conversation"),
            command("snooze", None, "snooze the selected conversation until a time"),
            command("note", None, "add a private note (never sent)"),
            command("stage", Some("New|Engaged|Interested|Paid|Lost"), "move the selected contact"),
            command("template", None, "send a template to the selected contact"),
        ]
    }

    fn run_command(&mut self, name: &str, arg: &str, env: &Env, queue: &mut Queue) -> bool {
        let contact = self.selected().map(|r| r.contact);
        match (name, contact) {
            ("filter", _) => {
                self.filter = ConversationFilter::parse(arg).unwrap_or_default();
                self.reload(queue);
            }
            ("assign-to", Some(_)) => self.open_assign(queue),
            ("resolve", Some(contact)) => queue.load(InboxRequest::Resolve(contact)),
            ("reopen", Some(contact)) => queue.load(InboxRequest::Reopen(contact)),
            ("snooze", Some(_)) => self.open_snooze(),
            ("note", Some(_)) => self.open_note(),
            ("read", Some(contact)) => queue.load(InboxRequest::MarkRead(contact)),
            ("assign", Some(_)) => self.assign_to_me(env, queue),
            ("stage", Some(contact)) => match arg.parse::<Stage>() {
                Ok(stage) => queue.load(InboxRequest::SetStage { contact, stage }),
                Err(e) => queue.push(Intent::Notify(e.to_string())),
            },
            ("template", Some(_)) => self.open_templates(queue),
            (
                "read" | "assign" | "assign-to" | "resolve" | "reopen" | "snooze" | "note" | "stage" | "template",
                None,
            ) => {
                queue.push(Intent::Notify("select a conversation first".into()));
            }
            _ => return false,
        }
        true
    }

    fn draw(&self, frame: &mut Frame, area: Rect, env: &Env) {
        self.last_env.set(Some(*env));
        // Narrow terminals show one side at a time: the list, or the chat once a chat has focus.
        if area.width < 80 {
            if self.focus == Focus::List {
                self.draw_list(frame, area, env);
            } else {
                self.list_area.set(Rect::default());
                self.draw_chat_and_panel(frame, area, env);
            }
        } else {
            let list_width = (area.width * 2 / 5).clamp(32, 56);
            let [list, chat] = Layout::horizontal([Constraint::Length(list_width), Constraint::Min(0)]).areas(area);
            self.draw_list(frame, list, env);
            self.draw_chat_and_panel(frame, chat, env);
        }
        self.draw_popup(frame, area, env);
    }
}

#[cfg(test)]
mod tests;

mod actions;
mod draw;
mod keys;
mod opening;
mod reading;
mod updates;

mod requests;
pub use requests::{InboxRequest, InboxUpdate};
