//! 1 Inbox: the conversation list beside the open chat and its composer.
//!
//! The list is virtualised: only the rows in view are built each frame, and pages are fetched by keyset
//! cursor as the selection nears the end of what is loaded. New messages and status changes arrive as
//! live events and reload only the conversation row and chat they concern.

use std::cell::Cell;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use wacrm_core::{ContactId, Direction, MessageStatus, Stage};

use crate::intent::{ConversationFilter, Intent, Queue, Request, Update};
use crate::panes::{Env, KeyHint, PaletteCommand, Pane, command, contains, hint, scroll_to, step};
use crate::popups::Outcome;
use crate::popups::confirm::Confirm;
use crate::popups::picker::{Item, Picker};
use crate::popups::template_send::TemplateSend;
use crate::text::{self, relative, span_of, spread, wrap};
use crate::theme::Theme;
use crate::view::{ChatMessage, ConversationCursor, ConversationPage, ConversationRow};
use crate::widgets::input::{Edit, TextInput};
use crate::widgets::popup::draw_input;

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

/// The Inbox's popups; each acts on the conversation it was opened for, even if the list moves.
#[derive(Debug)]
enum InboxPopup {
    Template { contact: ContactId, send: TemplateSend },
    Stage { contact: ContactId, current: Stage, picker: Picker },
    TakeOver { contact: ContactId, confirm: Confirm },
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
        queue.load(Request::Conversations { filter: self.filter, search: self.search.clone(), after: None });
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
        queue.load(Request::Chat(contact));
    }

    fn select(&mut self, index: usize, queue: &mut Queue) {
        self.selected = step(index, 0, self.rows.len());
        if self.selected + PREFETCH >= self.rows.len()
            && !self.loading
            && let Some(after) = self.next
        {
            self.loading = true;
            queue.load(Request::Conversations { filter: self.filter, search: self.search.clone(), after: Some(after) });
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
            queue.load(Request::MarkRead(contact));
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

    fn open_templates(&mut self, queue: &mut Queue) {
        let Some(row) = self.selected() else { return };
        let send = TemplateSend::new(format!("{} {}", row.name, row.phone).trim().to_string());
        self.popup = Some(InboxPopup::Template { contact: row.contact, send });
        queue.load(Request::Templates);
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
        queue.load(Request::Send { contact, text });
    }

    /// `a`: the conversation becomes mine; taking it from another agent asks first.
    fn assign_to_me(&mut self, env: &Env, queue: &mut Queue) {
        let Some(row) = self.selected() else { return };
        match (&row.assigned, row.assigned_id) {
            (Some(agent), Some(id)) if Some(id) != env.me => {
                let lines = vec![
                    format!("{agent} is assigned to the conversation with {}.", row.name),
                    "Take it over? They will no longer see it under \"mine\".".into(),
                ];
                let confirm = Confirm::new("Take over", lines, "take it over");
                self.popup = Some(InboxPopup::TakeOver { contact: row.contact, confirm });
            }
            _ => queue.load(Request::AssignToMe(row.contact)),
        }
    }

    fn open_stage_picker(&mut self) {
        let Some(row) = self.selected() else { return };
        let items =
            Stage::ALL.iter().map(|s| Item::new(s.as_str(), if *s == row.stage { "(now)" } else { "" })).collect();
        let picker = Picker::new("Move to stage", items).numbered().selecting(stage_index(row.stage));
        self.popup = Some(InboxPopup::Stage { contact: row.contact, current: row.stage, picker });
    }

    /// Every key goes to the open popup; its answer becomes a request.
    fn popup_key(&mut self, key: KeyEvent, queue: &mut Queue) {
        let Some(popup) = self.popup.as_mut() else { return };
        let close = match popup {
            InboxPopup::Template { contact, send } => match send.handle_key(key) {
                Outcome::Done(choice) => {
                    queue.load(Request::SendTemplate {
                        contact: *contact,
                        name: choice.name,
                        language: choice.language,
                        params: choice.params,
                    });
                    true
                }
                Outcome::Cancelled => true,
                Outcome::Open => false,
            },
            InboxPopup::Stage { contact, current, picker } => match picker.handle_key(key) {
                Outcome::Done(index) => {
                    if let Some(stage) = Stage::ALL.get(index).filter(|s| *s != current) {
                        queue.load(Request::SetStage { contact: *contact, stage: *stage });
                    }
                    true
                }
                Outcome::Cancelled => true,
                Outcome::Open => false,
            },
            InboxPopup::TakeOver { contact, confirm } => match confirm.handle_key(key) {
                Outcome::Done(()) => {
                    queue.load(Request::AssignToMe(*contact));
                    true
                }
                Outcome::Cancelled => true,
                Outcome::Open => false,
            },
        };
        if close {
            self.popup = None;
        }
    }

    /// Keys shared by the list and the chat history: act on the selected conversation.
    fn conversation_key(&mut self, key: KeyEvent, env: &Env, queue: &mut Queue) -> bool {
        let Some(contact) = self.selected().map(|r| r.contact) else { return false };
        match key.code {
            KeyCode::Char('r') => queue.load(Request::MarkRead(contact)),
            KeyCode::Char('a') => self.assign_to_me(env, queue),
            KeyCode::Char('s') => self.open_stage_picker(),
            KeyCode::Char('t') => self.open_templates(queue),
            KeyCode::Char('i') => self.start_reply(env, queue),
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
            queue.load(Request::OlderChat { contact: chat.contact, before });
        }
    }

    fn chat_key(&mut self, key: KeyEvent, env: &Env, queue: &mut Queue) -> bool {
        match key.code {
            KeyCode::Char('k') | KeyCode::Up => self.scroll_up(1, queue),
            KeyCode::Char('j') | KeyCode::Down => self.chat_scroll = self.chat_scroll.saturating_sub(1),
            KeyCode::PageUp => self.scroll_up(CHAT_PAGE_LINES, queue),
            KeyCode::PageDown => self.chat_scroll = self.chat_scroll.saturating_sub(CHAT_PAGE_LINES),
            KeyCode::Char('G') | KeyCode::End => self.chat_scroll = 0,
            KeyCode::Enter => self.start_reply(env, queue),
            KeyCode::Esc | KeyCode::Char('h') | KeyCode::Left | KeyCode::Tab => self.focus = Focus::List,
            _ => return self.conversation_key(key, env, queue),
        }
        true
    }

    fn composer_key(&mut self, key: KeyEvent, env: &Env, queue: &mut Queue) -> bool {
        match self.composer.handle_key(key) {
            Edit::Submit => self.send(env, queue),
            Edit::Cancel => self.focus = Focus::Chat,
            Edit::External => queue.push(Intent::OpenEditor(self.composer.text())),
            Edit::Changed | Edit::Moved => {}
            Edit::Ignored if key.code == KeyCode::Tab => self.focus = Focus::List,
            Edit::Ignored => return false,
        }
        true
    }

    fn take_page(&mut self, page: &ConversationPage, appended: bool, queue: &mut Queue) {
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
    }

    /// Puts a refreshed row where it now sorts (newest first), or drops it when it left the filter.
    fn take_row(&mut self, row: &ConversationRow, env: &Env, queue: &mut Queue) {
        let keep = self.selected().map(|r| r.contact);
        self.rows.retain(|r| r.contact != row.contact);
        let belongs = match self.filter {
            ConversationFilter::All => true,
            ConversationFilter::Unread => row.unread > 0 || keep == Some(row.contact),
            ConversationFilter::Mine => row.assigned_id.is_some() && row.assigned_id == env.me,
            ConversationFilter::Unassigned => row.assigned_id.is_none(),
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

    fn on_live(&mut self, kind: &str, contact: ContactId, queue: &mut Queue) {
        let open = self.chat.as_ref().is_some_and(|c| c.contact == contact);
        match kind {
            "message_received" => {
                queue.load(Request::Conversation(contact));
                if open {
                    queue.load(Request::Chat(contact));
                } else {
                    queue.push(Intent::Bell);
                }
            }
            "message_sent" | "message_status" => {
                queue.load(Request::Conversation(contact));
                if open {
                    queue.load(Request::Chat(contact));
                }
            }
            "conversation_updated" | "stage_changed" | "contact_updated" => {
                queue.load(Request::Conversation(contact));
            }
            _ => {}
        }
    }

    fn draw_list(&self, frame: &mut Frame, area: Rect, env: &Env) {
        let theme = env.theme;
        let more = if self.next.is_some() { "+" } else { "" };
        let mut title = format!(" Conversations · {}", self.filter.label());
        if let Some(search) = &self.search {
            title.push_str(&format!(" · /{search}"));
        }
        title.push(' ');
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.focus_border(self.focus == Focus::List))
            .title(Span::styled(title, theme.bold()))
            .title_bottom(Line::from(format!(" {}{more} ", self.rows.len())).right_aligned());
        let inner = block.inner(area);
        frame.render_widget(block, area);
        self.list_area.set(inner);
        if self.rows.is_empty() {
            let note = if self.loading || !self.started { "loading…" } else { "No conversations." };
            frame.render_widget(Paragraph::new(Span::styled(note, theme.dim())), inner);
            return;
        }
        let visible = (inner.height / ROW_LINES) as usize;
        let offset = scroll_to(self.selected, self.offset.get(), visible);
        self.offset.set(offset);
        let width = inner.width as usize;
        let mut lines = Vec::with_capacity(visible * ROW_LINES as usize);
        for (i, row) in self.rows.iter().enumerate().skip(offset).take(visible) {
            let [first, second] = conversation_lines(row, width, env);
            let style = if i == self.selected { theme.selected() } else { Style::new() };
            lines.push(first.patch_style(style));
            lines.push(second.patch_style(style));
        }
        if self.loading && offset + visible >= self.rows.len() && lines.len() < inner.height as usize {
            lines.push(Line::styled("loading more…", theme.dim()));
        }
        frame.render_widget(Paragraph::new(lines), inner);
    }

    fn draw_chat(&self, frame: &mut Frame, area: Rect, env: &Env) {
        let theme = env.theme;
        let Some(row) = self.selected() else {
            let block = Block::default().borders(Borders::ALL).border_style(theme.dim());
            let inner = block.inner(area);
            frame.render_widget(block, area);
            frame.render_widget(Paragraph::new(Span::styled("Select a conversation.", theme.dim())), inner);
            return;
        };
        let window = row.window_left(env.now);
        let composer_lines = self.composer.lines().len().clamp(1, 4) as u16;
        let [history_area, composer_area] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(composer_lines + 2)]).areas(area);

        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.focus_border(self.focus == Focus::Chat))
            .title(Line::from(vec![
                Span::styled(format!(" {} ", row.name), theme.bold()),
                Span::styled(format!("{} ", row.phone), theme.dim()),
            ]));
        let inner = block.inner(history_area);
        frame.render_widget(block, history_area);
        let [header, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);

        let mut badges = vec![Span::styled(format!("[{}]", row.stage), theme.accent()), Span::raw("  ")];
        match &row.assigned {
            Some(agent) => badges.push(Span::raw(format!("assigned: {agent}"))),
            None => badges.push(Span::styled("unassigned", theme.dim())),
        }
        badges.push(Span::raw("  ·  "));
        badges.push(match window {
            Some(left) => Span::styled(format!("window: {} left", span_of(left)), theme.good()),
            None => Span::styled("window closed: templates only (t)", theme.warn()),
        });
        frame.render_widget(Paragraph::new(Line::from(badges)), header);

        match &self.chat {
            Some(chat) if chat.contact == row.contact && !chat.messages.is_empty() => {
                let want = body.height as usize + self.chat_scroll + CHAT_PAGE_LINES;
                let lines = chat_lines(&chat.messages, body.width as usize, want, env);
                self.chat_scroll_max.set(lines.len().saturating_sub(body.height as usize));
                let skip = lines.len().saturating_sub(body.height as usize + self.chat_scroll);
                let shown: Vec<Line> = lines.into_iter().skip(skip).take(body.height as usize).collect();
                // The newest message sits just above the composer, as in every chat.
                let top = body.height.saturating_sub(shown.len() as u16);
                frame.render_widget(Paragraph::new(shown), Rect { y: body.y + top, height: body.height - top, ..body });
            }
            Some(chat) if chat.contact == row.contact && chat.loading => {
                frame.render_widget(Paragraph::new(Span::styled("loading…", theme.dim())), body);
            }
            _ => frame.render_widget(Paragraph::new(Span::styled("No messages yet.", theme.dim())), body),
        }

        let composing = self.focus == Focus::Composer;
        let title = if window.is_some() {
            " Reply · Enter send · Alt-Enter newline · Ctrl-E editor "
        } else {
            " Window closed · draft only · Enter: choose a template "
        };
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.focus_border(composing))
            .title(Span::styled(title, if composing { theme.bold() } else { theme.dim() }));
        let inner = block.inner(composer_area);
        frame.render_widget(block, composer_area);
        draw_input(frame, inner, &self.composer, composing, "");
        if self.composer.is_blank() && !composing {
            let note = if window.is_some() { "i or Enter to reply" } else { "i: write a draft · t: send a template" };
            frame.render_widget(Paragraph::new(Span::styled(note, theme.dim())), inner);
        }
    }

    fn draw_popup(&self, frame: &mut Frame, area: Rect, env: &Env) {
        match &self.popup {
            Some(InboxPopup::Template { send, .. }) => send.draw(frame, area, env.theme),
            Some(InboxPopup::Stage { picker, .. }) => picker.draw(frame, area, env.theme),
            Some(InboxPopup::TakeOver { confirm, .. }) => confirm.draw(frame, area, env.theme),
            None => {}
        }
    }
}

fn stage_index(stage: Stage) -> usize {
    Stage::ALL.iter().position(|s| *s == stage).unwrap_or(0)
}

/// The two lines of one conversation in the list.
fn conversation_lines<'a>(row: &ConversationRow, width: usize, env: &Env) -> [Line<'a>; 2] {
    let theme = env.theme;
    let unread = row.unread > 0;
    let when = row.last_at.map(|at| relative(at, env.now, env.offset)).unwrap_or_default();
    let first = spread(
        vec![
            Span::styled(if unread { "● " } else { "  " }, theme.accent()),
            Span::styled(row.name.clone(), if unread { theme.bold() } else { Style::new() }),
        ],
        vec![
            Span::styled(format!("[{}]", row.stage), theme.accent()),
            Span::styled(format!(" {when:>6}"), theme.dim()),
        ],
        width,
    );
    let mut right = Vec::new();
    if unread {
        right.push(Span::styled(format!("({})", row.unread), theme.bold()));
    }
    if let Some(agent) = &row.assigned {
        right.push(Span::styled(format!(" @{}", first_name(agent)), theme.dim()));
    }
    let mut preview = String::from("  ");
    if row.last_direction == Some(Direction::Out) {
        preview.push_str("you: ");
    }
    preview.push_str(&row.last_message);
    let second = spread(vec![Span::styled(preview, theme.dim())], right, width);
    [first, second]
}

fn first_name(name: &str) -> &str {
    name.split_whitespace().next().unwrap_or(name)
}

/// The status marks of an outbound message.
fn marks(status: MessageStatus, theme: Theme) -> Span<'static> {
    match status {
        MessageStatus::Pending => Span::styled("…", theme.dim()),
        MessageStatus::Sent => Span::raw("✓"),
        MessageStatus::Delivered => Span::raw("✓✓"),
        MessageStatus::Read => Span::styled("✓✓", theme.read()),
        MessageStatus::Failed => Span::styled("✗", theme.bad()),
    }
}

/// The chat as display lines, oldest first, built from the newest message back until `want` lines
/// exist (older messages are never laid out).
fn chat_lines<'a>(messages: &[ChatMessage], width: usize, want: usize, env: &Env) -> Vec<Line<'a>> {
    let theme = env.theme;
    let bubble = (width * 3 / 4).max(10);
    let mut blocks: Vec<Vec<Line<'a>>> = Vec::new();
    let mut count = 0;
    let day = |at: DateTime<Utc>| at.with_timezone(&env.offset).date_naive();
    for (i, m) in messages.iter().enumerate().rev() {
        let mut lines = Vec::new();
        let time = m.at.with_timezone(&env.offset).format("%H:%M").to_string();
        match m.direction {
            Direction::In => {
                for (n, part) in wrap(&m.body, bubble.saturating_sub(7)).into_iter().enumerate() {
                    let lead = if n == 0 { format!("{time}  ") } else { " ".repeat(7) };
                    lines.push(Line::from(vec![Span::styled(lead, theme.dim()), Span::raw(part)]));
                }
            }
            Direction::Out => {
                let parts = wrap(&m.body, bubble.saturating_sub(10));
                let last = parts.len() - 1;
                for (n, part) in parts.into_iter().enumerate() {
                    let mut spans = vec![Span::styled(part, theme.bold())];
                    if n == last {
                        let by = m.sender.as_deref().map(|s| format!("  {}", first_name(s))).unwrap_or_default();
                        spans.push(Span::styled(format!("{by}  {time} "), theme.dim()));
                        spans.push(marks(m.status, theme));
                    }
                    lines.push(Line::from(spans).alignment(Alignment::Right));
                }
                if m.status == MessageStatus::Failed {
                    let reason = m.error.as_deref().unwrap_or("no reason given");
                    for part in wrap(&format!("✗ failed: {reason}"), bubble) {
                        lines.push(Line::styled(part, theme.bad()).alignment(Alignment::Right));
                    }
                }
            }
        }
        let new_day = i == 0 || day(messages[i - 1].at) != day(m.at);
        if new_day {
            let label = m.at.with_timezone(&env.offset).format("%a %d %b %Y").to_string();
            lines.insert(0, Line::styled(format!("── {label} ──"), theme.dim()).alignment(Alignment::Center));
        }
        count += lines.len();
        blocks.push(lines);
        if count >= want {
            break;
        }
    }
    blocks.into_iter().rev().flatten().collect()
}

impl Pane for Inbox {
    fn keys(&self) -> Vec<KeyHint> {
        match &self.popup {
            Some(InboxPopup::Template { .. }) => {
                return vec![
                    hint("j/k Enter", "choose a template"),
                    hint("Tab Enter", "next parameter; on the last: preview"),
                    hint("y", "send what the preview shows"),
                    hint("Esc", "back a step / close"),
                ];
            }
            Some(InboxPopup::Stage { .. }) => {
                return vec![
                    hint("j/k", "choose a stage"),
                    hint("1-5 Enter", "move to that stage"),
                    hint("Esc", "close"),
                ];
            }
            Some(InboxPopup::TakeOver { .. }) => return vec![hint("y", "take it over"), hint("n Esc", "leave it")],
            None => {}
        }
        match self.focus {
            Focus::List => vec![
                hint("j/k ↑/↓", "next / previous conversation"),
                hint("PgDn/PgUp Ctrl-d/u", "page down / up"),
                hint("g/G", "first / last loaded conversation"),
                hint("Enter l →", "open the chat and reply (marks it read)"),
                hint("Tab", "focus the chat history"),
                hint("f", "filter: all, unread, mine, unassigned"),
                hint("r", "mark read"),
                hint("a", "assign to me"),
                hint("s", "change stage"),
                hint("t", "send a template"),
                hint("/", "search by name or phone"),
            ],
            Focus::Chat => vec![
                hint("k/j ↑/↓", "scroll older / newer"),
                hint("PgUp/PgDn", "scroll a page"),
                hint("G End", "newest message"),
                hint("i Enter", "reply"),
                hint("r", "mark read"),
                hint("a", "assign to me"),
                hint("s", "change stage"),
                hint("t", "send a template"),
                hint("Esc h ← Tab", "back to the list"),
            ],
            Focus::Composer => vec![
                hint("Enter", "send"),
                hint("Alt-Enter Ctrl-J", "new line"),
                hint("Ctrl-E", "edit in $EDITOR"),
                hint("Ctrl-W Ctrl-U", "delete word / to start of line"),
                hint("Esc", "stop typing"),
                hint("Tab", "back to the list"),
            ],
        }
    }

    fn captures_keys(&self) -> bool {
        self.focus == Focus::Composer || self.popup.is_some()
    }

    fn handle_key(&mut self, key: KeyEvent, env: &Env, queue: &mut Queue) -> bool {
        if self.popup.is_some() {
            self.popup_key(key, queue);
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
            Update::Conversations { page, appended } => self.take_page(page, *appended, queue),
            Update::Conversation(row) => self.take_row(row, env, queue),
            Update::Chat { contact, messages, older } => {
                if let Some(chat) = self.chat.as_mut().filter(|c| c.contact == *contact) {
                    chat.messages = messages.clone();
                    chat.loading = false;
                    chat.older = *older;
                }
            }
            // Lines are counted from the newest message, so putting older ones on top keeps the view still.
            Update::OlderChat { contact, messages, older } => {
                if let Some(chat) = self.chat.as_mut().filter(|c| c.contact == *contact) {
                    chat.messages.splice(0..0, messages.iter().cloned());
                    chat.older = *older;
                    chat.loading_older = false;
                }
            }
            Update::Sent { contact } => {
                if self.unconfirmed.as_ref().is_some_and(|(c, _)| c == contact) {
                    self.unconfirmed = None;
                }
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
            Update::Failed { what: "conversations", .. } => self.loading = false,
            Update::Templates(templates) => {
                if let Some(InboxPopup::Template { send, .. }) = self.popup.as_mut() {
                    send.set_templates(templates);
                }
            }
            Update::Edited(Some(text)) => {
                self.composer.set_text(text.trim_end_matches('\n'));
                self.focus = Focus::Composer;
            }
            Update::Live(event) => {
                if let Some(contact) = event.contact_id {
                    self.on_live(&event.kind, contact, queue);
                }
            }
            _ => {}
        }
    }

    fn activate(&mut self, queue: &mut Queue) {
        if !self.started {
            self.started = true;
            self.reload(queue);
        }
    }

    fn search(&mut self, text: &str, queue: &mut Queue) {
        self.search = text::search_term(text);
        self.focus = Focus::List;
        self.reload(queue);
    }

    fn commands(&self) -> Vec<PaletteCommand> {
        vec![
            command("filter", Some("all|unread|mine|unassigned"), "which conversations to list"),
            command("read", None, "mark the selected conversation read"),
            command("assign", None, "assign the selected conversation to me"),
            command("stage", Some("New|Engaged|Interested|Paid|Lost"), "move the selected contact"),
            command("template", None, "send a template to the selected contact"),
        ]
    }

    fn run_command(&mut self, name: &str, arg: &str, env: &Env, queue: &mut Queue) -> bool {
        let contact = self.selected().map(|r| r.contact);
        match (name, contact) {
            ("filter", _) => {
                self.filter = match arg.trim().to_ascii_lowercase().as_str() {
                    "unread" => ConversationFilter::Unread,
                    "mine" => ConversationFilter::Mine,
                    "unassigned" => ConversationFilter::Unassigned,
                    _ => ConversationFilter::All,
                };
                self.reload(queue);
            }
            ("read", Some(contact)) => queue.load(Request::MarkRead(contact)),
            ("assign", Some(_)) => self.assign_to_me(env, queue),
            ("stage", Some(contact)) => match arg.parse::<Stage>() {
                Ok(stage) => queue.load(Request::SetStage { contact, stage }),
                Err(e) => queue.push(Intent::Notify(e.to_string())),
            },
            ("template", Some(_)) => self.open_templates(queue),
            ("read" | "assign" | "stage" | "template", None) => {
                queue.push(Intent::Notify("select a conversation first".into()));
            }
            _ => return false,
        }
        true
    }

    fn draw(&self, frame: &mut Frame, area: Rect, env: &Env) {
        // Narrow terminals show one side at a time: the list, or the chat once a chat has focus.
        if area.width < 80 {
            if self.focus == Focus::List {
                self.draw_list(frame, area, env);
            } else {
                self.list_area.set(Rect::default());
                self.draw_chat(frame, area, env);
            }
        } else {
            let list_width = (area.width * 2 / 5).clamp(32, 56);
            let [list, chat] = Layout::horizontal([Constraint::Length(list_width), Constraint::Min(0)]).areas(area);
            self.draw_list(frame, list, env);
            self.draw_chat(frame, chat, env);
        }
        self.draw_popup(frame, area, env);
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use wacrm_core::{ContactId, Stage, UserId};

    use super::*;
    use crate::fixtures::{ch, chat, conversation, conversations, env, key, live, loads};
    use crate::view::TemplateRow;

    fn loaded() -> (Inbox, Queue) {
        let mut inbox = Inbox::default();
        let mut queue = Queue::default();
        inbox.activate(&mut queue);
        let page = ConversationPage { rows: conversations(), next: None };
        inbox.apply(&Update::Conversations { page, appended: false }, &env(), &mut queue);
        let cursor = wacrm_core::inbox::conversations::Cursor { at: fixtures_now(), id: 1 };
        inbox.apply(&Update::Chat { contact: ContactId(1), messages: chat(), older: Some(cursor) }, &env(), &mut queue);
        queue.drain();
        (inbox, queue)
    }

    fn keys(inbox: &mut Inbox, queue: &mut Queue, keys: &[KeyEvent]) -> Vec<Request> {
        for k in keys {
            inbox.handle_key(*k, &env(), queue);
        }
        loads(&queue.drain())
    }

    #[test]
    fn first_activation_loads_the_first_page_once() {
        let mut inbox = Inbox::default();
        let mut queue = Queue::default();
        inbox.activate(&mut queue);
        inbox.activate(&mut queue);
        assert_eq!(
            loads(&queue.drain()),
            vec![Request::Conversations { filter: ConversationFilter::All, search: None, after: None }]
        );
    }

    #[test]
    fn moving_the_selection_opens_that_chat() {
        let (mut inbox, mut queue) = loaded();
        assert_eq!(keys(&mut inbox, &mut queue, &[ch('j')]), vec![Request::Chat(ContactId(2))]);
        assert_eq!(inbox.selected().map(|r| r.contact), Some(ContactId(2)));
        assert_eq!(keys(&mut inbox, &mut queue, &[ch('G')]), vec![Request::Chat(ContactId(4))]);
        assert!(keys(&mut inbox, &mut queue, &[ch('j')]).is_empty(), "the last row stays selected");
    }

    #[test]
    fn nearing_the_end_fetches_the_next_page_once_by_cursor() {
        let mut inbox = Inbox::default();
        let mut queue = Queue::default();
        let rows: Vec<ConversationRow> = (1..=30).map(|i| conversation(i, "C", i64::from(i))).collect();
        let cursor = wacrm_core::inbox::conversations::Cursor { at: fixtures_now(), id: 30 };
        inbox.apply(
            &Update::Conversations { page: ConversationPage { rows, next: Some(cursor) }, appended: false },
            &env(),
            &mut queue,
        );
        queue.drain();
        let requests = keys(
            &mut inbox,
            &mut queue,
            &[ch('j'), ch('j'), ch('j'), ch('j'), ch('j'), ch('j'), ch('j'), ch('j'), ch('j'), ch('j'), ch('j')],
        );
        let pages: Vec<_> = requests.iter().filter(|r| matches!(r, Request::Conversations { .. })).collect();
        assert_eq!(
            pages,
            vec![&Request::Conversations { filter: ConversationFilter::All, search: None, after: Some(cursor) }]
        );
        // The page arrives and is appended without moving the selection.
        let more: Vec<ConversationRow> = (31..=40).map(|i| conversation(i, "D", i64::from(i))).collect();
        inbox.apply(
            &Update::Conversations { page: ConversationPage { rows: more, next: None }, appended: true },
            &env(),
            &mut queue,
        );
        assert_eq!(inbox.rows().len(), 40);
        assert_eq!(inbox.selected().map(|r| r.contact), Some(ContactId(12)));
    }

    fn fixtures_now() -> chrono::DateTime<chrono::Utc> {
        crate::fixtures::now()
    }

    #[test]
    fn enter_marks_read_and_focuses_the_composer_then_enter_sends() {
        let (mut inbox, mut queue) = loaded();
        assert_eq!(keys(&mut inbox, &mut queue, &[key(KeyCode::Enter)]), vec![Request::MarkRead(ContactId(1))]);
        assert_eq!(inbox.focus(), Focus::Composer);
        let sent = keys(&mut inbox, &mut queue, &[ch('h'), ch('i'), key(KeyCode::Enter)]);
        assert_eq!(sent, vec![Request::Send { contact: ContactId(1), text: "hi".into() }]);
        assert_eq!(inbox.composer_text(), "");
        // A blank composer sends nothing.
        assert!(keys(&mut inbox, &mut queue, &[ch(' '), key(KeyCode::Enter)]).is_empty());
    }

    #[test]
    fn a_failed_send_puts_the_text_back() {
        let (mut inbox, mut queue) = loaded();
        keys(&mut inbox, &mut queue, &[key(KeyCode::Enter), ch('o'), ch('k'), key(KeyCode::Enter)]);
        inbox.apply(&Update::Failed { what: "send", message: "limit".into() }, &env(), &mut queue);
        assert_eq!(inbox.composer_text(), "ok");
        assert_eq!(inbox.focus(), Focus::Composer);
    }

    #[test]
    fn a_closed_window_leads_to_the_template_picker() {
        let (mut inbox, mut queue) = loaded();
        keys(&mut inbox, &mut queue, &[ch('j'), ch('j')]);
        // Enter starts a draft, whatever the window: typed letters (`t`!) are text, never keys.
        keys(&mut inbox, &mut queue, &[key(KeyCode::Enter)]);
        assert_eq!(inbox.focus(), Focus::Composer);
        assert!(keys(&mut inbox, &mut queue, &[ch('t'), ch('a'), ch('t')]).is_empty());
        assert_eq!(inbox.composer_text(), "tat");
        // Sending with the window closed opens the template form instead, keeping the draft.
        assert_eq!(keys(&mut inbox, &mut queue, &[key(KeyCode::Enter)]), vec![Request::Templates]);
        assert_eq!(inbox.composer_text(), "tat");
        let template =
            TemplateRow { name: "order_update".into(), language: "en_US".into(), preview: "Hi {{1}}".into() };
        inbox.apply(&Update::Templates(vec![template]), &env(), &mut queue);
        // Pick, two Enters on a blank parameter, a digit: nothing is sent.
        let stray = [key(KeyCode::Enter), key(KeyCode::Enter), key(KeyCode::Enter), ch('1')];
        assert!(keys(&mut inbox, &mut queue, &stray).is_empty());
        let filled = [key(KeyCode::Backspace), ch('M'), ch('o'), key(KeyCode::Enter)];
        assert!(keys(&mut inbox, &mut queue, &filled).is_empty(), "the preview waits for y");
        assert_eq!(
            keys(&mut inbox, &mut queue, &[ch('y')]),
            vec![Request::SendTemplate {
                contact: ContactId(3),
                name: "order_update".into(),
                language: "en_US".into(),
                params: vec!["Mo".into()],
            }]
        );
    }

    #[test]
    fn each_chat_keeps_its_own_draft() {
        let (mut inbox, mut queue) = loaded();
        keys(&mut inbox, &mut queue, &[key(KeyCode::Enter), ch('f'), ch('o'), ch('r'), ch(' '), ch('A')]);
        keys(&mut inbox, &mut queue, &[key(KeyCode::Esc), key(KeyCode::Esc), ch('j')]);
        assert_eq!(inbox.composer_text(), "", "the next chat does not inherit the draft");
        keys(&mut inbox, &mut queue, &[key(KeyCode::Enter)]);
        assert_eq!(keys(&mut inbox, &mut queue, &[key(KeyCode::Enter)]), Vec::new(), "a blank draft sends nothing");
        keys(&mut inbox, &mut queue, &[key(KeyCode::Esc), key(KeyCode::Esc), ch('k')]);
        assert_eq!(inbox.composer_text(), "for A");
        assert_eq!(inbox.drafts(), BTreeMap::from([(ContactId(1), "for A".to_string())]));
        assert_eq!(inbox.draft_names().len(), 1);
    }

    #[test]
    fn taking_over_another_agents_conversation_asks_first() {
        let (mut inbox, mut queue) = loaded();
        let theirs = ConversationRow {
            assigned: Some("Bo Agent".into()),
            assigned_id: Some(UserId(9)),
            ..conversation(1, "Ana", 0)
        };
        inbox.apply(&Update::Conversation(theirs), &env(), &mut queue);
        queue.drain();
        assert!(keys(&mut inbox, &mut queue, &[ch('a')]).is_empty());
        assert!(inbox.captures_keys(), "the confirmation has every key");
        assert!(keys(&mut inbox, &mut queue, &[key(KeyCode::Enter), ch('2')]).is_empty());
        assert_eq!(keys(&mut inbox, &mut queue, &[ch('y')]), vec![Request::AssignToMe(ContactId(1))]);
        assert!(!inbox.captures_keys());
    }

    #[test]
    fn window_time_left_counts_from_the_last_inbound_message() {
        let row = conversation(1, "A", 60);
        assert_eq!(row.window_left(crate::fixtures::now()), Some(Duration::hours(23)));
        let old = ConversationRow { last_inbound_at: Some(crate::fixtures::now() - Duration::hours(25)), ..row };
        assert_eq!(old.window_left(crate::fixtures::now()), None);
    }

    #[test]
    fn stage_assign_and_read_from_the_chat() {
        let (mut inbox, mut queue) = loaded();
        keys(&mut inbox, &mut queue, &[key(KeyCode::Tab)]);
        assert_eq!(inbox.focus(), Focus::Chat);
        assert_eq!(
            keys(&mut inbox, &mut queue, &[ch('s'), ch('4')]),
            vec![Request::SetStage { contact: ContactId(1), stage: Stage::Paid }]
        );
        assert_eq!(
            keys(&mut inbox, &mut queue, &[ch('a'), ch('r')]),
            vec![Request::AssignToMe(ContactId(1)), Request::MarkRead(ContactId(1))]
        );
        // Choosing the current stage changes nothing.
        assert!(keys(&mut inbox, &mut queue, &[ch('s'), key(KeyCode::Enter)]).is_empty());
    }

    #[test]
    fn scrolling_past_the_oldest_loaded_message_loads_the_page_before() {
        let (mut inbox, mut queue) = loaded();
        let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 12)).expect("terminal");
        terminal.draw(|f| inbox.draw(f, f.area(), &env())).expect("frame");
        keys(&mut inbox, &mut queue, &[key(KeyCode::Tab)]);
        let before = wacrm_core::inbox::conversations::Cursor { at: fixtures_now(), id: 1 };
        let requests = keys(&mut inbox, &mut queue, &[key(KeyCode::PageUp), key(KeyCode::PageUp)]);
        assert_eq!(requests, vec![Request::OlderChat { contact: ContactId(1), before }], "asked once");
        let older = vec![crate::fixtures::message(
            0,
            wacrm_core::Direction::In,
            "first ever",
            wacrm_core::MessageStatus::Read,
            9000,
        )];
        inbox.apply(&Update::OlderChat { contact: ContactId(1), messages: older, older: None }, &env(), &mut queue);
        assert!(
            keys(&mut inbox, &mut queue, &[key(KeyCode::PageUp), key(KeyCode::PageUp)]).is_empty(),
            "no more pages"
        );
    }

    #[test]
    fn filters_cycle_and_reload() {
        let (mut inbox, mut queue) = loaded();
        assert_eq!(
            keys(&mut inbox, &mut queue, &[ch('f')]),
            vec![Request::Conversations { filter: ConversationFilter::Unread, search: None, after: None }]
        );
    }

    #[test]
    fn live_messages_reload_the_row_and_ring_only_for_other_chats() {
        let (mut inbox, mut queue) = loaded();
        let env = env();
        inbox.apply(&live("message_received", 1), &env, &mut queue);
        let intents = queue.drain();
        assert_eq!(loads(&intents), vec![Request::Conversation(ContactId(1)), Request::Chat(ContactId(1))]);
        assert!(!intents.contains(&Intent::Bell));
        inbox.apply(&live("message_received", 3), &env, &mut queue);
        let intents = queue.drain();
        assert_eq!(loads(&intents), vec![Request::Conversation(ContactId(3))]);
        assert!(intents.contains(&Intent::Bell));
        inbox.apply(&live("message_status", 1), &env, &mut queue);
        assert_eq!(loads(&queue.drain()), vec![Request::Conversation(ContactId(1)), Request::Chat(ContactId(1))]);
    }

    #[test]
    fn a_refreshed_row_moves_to_the_top_and_the_selection_follows_its_contact() {
        let (mut inbox, mut queue) = loaded();
        let fresh = ConversationRow { unread: 1, ..conversation(4, "Sam O'Neil", 0) };
        inbox.apply(&Update::Conversation(fresh), &env(), &mut queue);
        assert_eq!(inbox.rows()[0].contact, ContactId(4));
        assert_eq!(inbox.rows().len(), 4);
        assert_eq!(inbox.selected().map(|r| r.contact), Some(ContactId(1)));
    }

    #[test]
    fn composer_keys_stay_in_the_composer() {
        let (mut inbox, mut queue) = loaded();
        keys(&mut inbox, &mut queue, &[key(KeyCode::Enter)]);
        keys(
            &mut inbox,
            &mut queue,
            &[ch('j'), ch('k'), ch('s'), KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT), ch('x')],
        );
        assert_eq!(inbox.composer_text(), "jks\nx");
        assert_eq!(inbox.focus(), Focus::Composer);
        let intents = {
            inbox.handle_key(KeyEvent::new(KeyCode::Char('e'), KeyModifiers::CONTROL), &env(), &mut queue);
            queue.drain()
        };
        assert_eq!(intents, vec![Intent::OpenEditor("jks\nx".into())]);
        inbox.apply(&Update::Edited(Some("from the editor\n".into())), &env(), &mut queue);
        assert_eq!(inbox.composer_text(), "from the editor");
    }
}
