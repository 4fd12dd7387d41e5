//! The application state: the tabs and their panes, popups, the status bar. Keys, mouse, background
//! results and live events come in; intents go out; drawing reads the state and changes nothing but
//! remembered hit areas. Nothing here touches the terminal or the database.

use std::cell::Cell;

use chrono::{DateTime, FixedOffset, Timelike, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::intent::{ContactsUpdate, InboxUpdate, Intent, Queue, Request, Tab, Update};
use crate::keymap::Keymap;
use crate::panes::analytics::Analytics;
use crate::panes::automation::Automation;
use crate::panes::billing::Billing;
use crate::panes::broadcast::Broadcast;
use crate::panes::contacts::Contacts;
use crate::panes::inbox::Inbox;
use crate::panes::pipeline::Pipeline;
use crate::panes::templates::Templates;
use crate::panes::{Env, KeyHint, PaletteCommand, Pane, command, contains, hint};
use crate::popups::Outcome;
use crate::popups::confirm::Confirm;
use crate::popups::help::{HelpContent, HelpView};
use crate::popups::log::{Log, LogView};
use crate::popups::notifications::{ListAction, NotificationList, NotificationsRequest, NotificationsUpdate};
use crate::popups::palette::{self, Palette};
use crate::text::spread;
use crate::theme::Theme;
use crate::view::DbState;
use crate::widgets::input::{Edit, TextInput};
use crate::widgets::popup::draw_input;

const GLOBAL_KEYS: &[KeyHint] = &[
    hint("1-8", "switch dashboard (Inbox … Billing)"),
    hint("?", "this help"),
    hint(":", "command palette"),
    hint("/", "search in this dashboard"),
    hint("L", "messages: every notice and error so far"),
    hint("N", "notifications (new ones also show below)"),
    hint("mouse", "click tabs and rows, scroll lists"),
    hint("q Ctrl-C", "quit"),
];

/// Besides one entry per dashboard (its command name opens it).
const GLOBAL_COMMANDS: &[PaletteCommand] = &[
    command("search", Some("TEXT"), "search in this dashboard"),
    command("help", None, "list the keys of this dashboard"),
    command("log", None, "every notice and error so far"),
    command("quit", None, "leave wacrm tui"),
];

#[derive(Debug)]
enum Popup {
    Help(HelpView),
    Palette(Palette),
    Search(TextInput),
    Log(LogView),
    Notifications(NotificationList),
    /// Quitting with unsent drafts: they are kept, but the agent is told which.
    Quit(Confirm),
}

#[derive(Debug, Clone, PartialEq)]
struct Status {
    business: String,
    user: String,
    db: DbState,
    unread: Option<i64>,
    notice: Option<String>,
    /// The notice is an error: the status bar points at the log, where it is kept whole.
    notice_error: bool,
}

pub struct App {
    tab: Tab,
    inbox: Inbox,
    contacts: Contacts,
    pipeline: Pipeline,
    automation: Automation,
    broadcast: Broadcast,
    templates: Templates,
    analytics: Analytics,
    billing: Billing,
    popup: Option<Popup>,
    status: Status,
    /// Every notice and error of the session (`L`).
    log: Log,
    env: Env,
    queue: Queue,
    tab_areas: [Cell<Rect>; 8],
    quit: bool,
    /// Keys remapped in the config file.
    keymap: Keymap,
}

impl App {
    pub fn new(now: DateTime<Utc>, offset: FixedOffset, theme: Theme) -> App {
        App {
            tab: Tab::Inbox,
            inbox: Inbox::default(),
            contacts: Contacts::default(),
            pipeline: Pipeline::default(),
            automation: Automation::default(),
            broadcast: Broadcast::default(),
            templates: Templates::default(),
            analytics: Analytics::default(),
            billing: Billing::default(),
            popup: None,
            log: Log::default(),
            status: Status {
                business: "…".into(),
                user: "…".into(),
                db: DbState::Connecting,
                unread: None,
                notice: None,
                notice_error: false,
            },
            env: Env { now, offset, theme, me: None },
            queue: Queue::default(),
            tab_areas: Default::default(),
            quit: false,
            keymap: Keymap::default(),
        }
    }

    /// The config file's `keys` table; entries that cannot be used are reported in the log.
    pub fn set_keymap(
        &mut self,
        table: &std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
    ) {
        let (keymap, problems) = Keymap::parse(table);
        self.keymap = keymap;
        for problem in problems {
            self.tell(format!("config: {problem}"), true);
        }
    }

    /// The first loads: who acts, the unread total and the first tab's data.
    pub fn start(&mut self) -> Vec<Intent> {
        self.queue.load(Request::Identity);
        self.queue.load(Request::UnreadTotal);
        self.queue.push(Intent::SwitchTab(self.tab));
        self.drain()
    }

    /// Every unsent draft (saved for the next start).
    pub fn drafts(&self) -> std::collections::BTreeMap<wacrm_core::ContactId, String> {
        self.inbox.drafts()
    }

    pub fn restore_drafts(&mut self, drafts: std::collections::BTreeMap<wacrm_core::ContactId, String>) {
        self.inbox.restore_drafts(drafts);
    }

    pub fn tab(&self) -> Tab {
        self.tab
    }

    pub fn should_quit(&self) -> bool {
        self.quit
    }

    pub fn env(&self) -> &Env {
        &self.env
    }

    pub fn inbox(&self) -> &Inbox {
        &self.inbox
    }

    pub fn contacts(&self) -> &Contacts {
        &self.contacts
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    pub fn notice(&self) -> Option<&str> {
        self.status.notice.as_deref()
    }

    fn pane(&self) -> &dyn Pane {
        match self.tab {
            Tab::Inbox => &self.inbox,
            Tab::Contacts => &self.contacts,
            Tab::Pipeline => &self.pipeline,
            Tab::Automation => &self.automation,
            Tab::Broadcast => &self.broadcast,
            Tab::Templates => &self.templates,
            Tab::Analytics => &self.analytics,
            Tab::Billing => &self.billing,
        }
    }

    fn pane_mut(&mut self) -> &mut dyn Pane {
        match self.tab {
            Tab::Inbox => &mut self.inbox,
            Tab::Contacts => &mut self.contacts,
            Tab::Pipeline => &mut self.pipeline,
            Tab::Automation => &mut self.automation,
            Tab::Broadcast => &mut self.broadcast,
            Tab::Templates => &mut self.templates,
            Tab::Analytics => &mut self.analytics,
            Tab::Billing => &mut self.billing,
        }
    }

    fn panes_mut(&mut self) -> [&mut dyn Pane; 8] {
        [
            &mut self.inbox,
            &mut self.contacts,
            &mut self.pipeline,
            &mut self.automation,
            &mut self.broadcast,
            &mut self.templates,
            &mut self.analytics,
            &mut self.billing,
        ]
    }

    /// Handles what concerns the app itself and passes the rest (database work, bell, editor, quit) on,
    /// each request once per batch.
    fn drain(&mut self) -> Vec<Intent> {
        let mut out: Vec<Intent> = Vec::new();
        while !self.queue.is_empty() {
            for intent in self.queue.drain() {
                match intent {
                    Intent::SwitchTab(tab) => {
                        self.tab = tab;
                        let mut queue = std::mem::take(&mut self.queue);
                        self.pane_mut().activate(&mut queue);
                        self.queue = queue;
                    }
                    Intent::OpenChat { contact, who } => {
                        self.tab = Tab::Inbox;
                        let mut queue = std::mem::take(&mut self.queue);
                        self.inbox.activate(&mut queue);
                        self.inbox.open_contact(contact, &who, &mut queue);
                        self.queue = queue;
                    }
                    Intent::Notify(message) => self.tell(message, false),
                    Intent::Quit => {
                        self.quit = true;
                        out.push(Intent::Quit);
                    }
                    other => {
                        if !out.contains(&other) {
                            out.push(other);
                        }
                    }
                }
            }
        }
        out
    }

    /// Runs `f` on the current pane with the queue and the environment.
    fn with_pane<R>(&mut self, f: impl FnOnce(&mut dyn Pane, &Env, &mut Queue) -> R) -> R {
        let mut queue = std::mem::take(&mut self.queue);
        let env = self.env;
        let result = f(self.pane_mut(), &env, &mut queue);
        self.queue = queue;
        result
    }

    pub fn handle_key(&mut self, key: KeyEvent) -> Vec<Intent> {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            // A second Ctrl-C over the warning quits at once.
            if matches!(self.popup, Some(Popup::Quit(_))) {
                self.queue.push(Intent::Quit);
            } else {
                self.request_quit();
            }
            return self.drain();
        }
        self.status.notice = None;
        if self.popup.is_some() {
            self.popup_key(key);
            return self.drain();
        }
        // Typing is never remapped: only keys that act.
        let key = if self.pane().captures_keys() { key } else { self.keymap.translate(self.tab, key) };
        // A pane with a popup or a focused text field gets every key (even `q`, `1`, `?`).
        if !self.pane().captures_keys() && self.global_key(key) {
            return self.drain();
        }
        self.with_pane(|pane, env, queue| pane.handle_key(key, env, queue));
        self.drain()
    }

    /// Shows `text` in the status bar and keeps it in the log.
    fn tell(&mut self, text: String, error: bool) {
        self.log.push(self.env.now, text.clone(), error);
        self.status.notice = Some(text);
        self.status.notice_error = error;
    }

    fn nothing_to_search(&self) -> String {
        format!("nothing to search in {} (? lists its keys)", self.tab.title())
    }

    /// Quits, unless drafts are waiting: then asks first, naming them.
    fn request_quit(&mut self) {
        let drafts = self.inbox.draft_names();
        if drafts.is_empty() {
            self.queue.push(Intent::Quit);
            return;
        }
        let mut lines = vec![format!(
            "{} unsent draft{}: {}.",
            drafts.len(),
            if drafts.len() == 1 { "" } else { "s" },
            drafts.join(", ")
        )];
        lines.push("They are kept and come back when you open wacrm tui again.".into());
        self.popup = Some(Popup::Quit(Confirm::new("Quit with unsent drafts?", lines, "quit")));
    }

    fn global_key(&mut self, key: KeyEvent) -> bool {
        if key.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) {
            return false;
        }
        match key.code {
            KeyCode::Char('q') => self.request_quit(),
            KeyCode::Char(c @ '1'..='8') => self.queue.push(Intent::SwitchTab(Tab::ALL[c as usize - '1' as usize])),
            KeyCode::Char('?') => self.popup = Some(Popup::Help(HelpView::default())),
            KeyCode::Char('L') => self.popup = Some(Popup::Log(LogView::default())),
            KeyCode::Char('N') => {
                self.popup = Some(Popup::Notifications(NotificationList::default()));
                self.queue.load(NotificationsRequest::List);
            }
            KeyCode::Char(':') => self.popup = Some(Popup::Palette(Palette::default())),
            KeyCode::Char('/') if self.pane().searches() => self.popup = Some(Popup::Search(TextInput::single())),
            KeyCode::Char('/') => self.tell(self.nothing_to_search(), false),
            _ => return false,
        }
        true
    }

    fn popup_key(&mut self, key: KeyEvent) {
        let matches = match &self.popup {
            Some(Popup::Palette(palette)) => self.palette_matches(&palette.text()).len(),
            _ => 0,
        };
        match self.popup.as_mut() {
            None => {}
            Some(Popup::Help(view)) => match view.handle_key(key) {
                Outcome::Cancelled => self.popup = None,
                Outcome::Open | Outcome::Done(()) => {}
            },
            Some(Popup::Search(input)) => match input.handle_key(key) {
                Edit::Submit => {
                    let text = input.text();
                    self.popup = None;
                    self.with_pane(|pane, _, queue| pane.search(&text, queue));
                }
                Edit::Cancel => self.popup = None,
                _ => {}
            },
            Some(Popup::Palette(palette)) => match palette.handle_key(key, matches) {
                Outcome::Done(run) => {
                    self.popup = None;
                    self.run_palette(&run.line, run.picked);
                }
                Outcome::Cancelled => self.popup = None,
                Outcome::Open => {}
            },
            Some(Popup::Log(view)) => match view.handle_key(key, self.log.len()) {
                Outcome::Cancelled => self.popup = None,
                Outcome::Open | Outcome::Done(()) => {}
            },
            Some(Popup::Notifications(list)) => match list.handle_key(key) {
                Outcome::Done(ListAction::MarkAllRead) => self.queue.load(NotificationsRequest::MarkAllRead),
                Outcome::Cancelled => self.popup = None,
                Outcome::Open => {}
            },
            Some(Popup::Quit(confirm)) => match confirm.handle_key(key) {
                Outcome::Done(()) => self.queue.push(Intent::Quit),
                Outcome::Cancelled => self.popup = None,
                Outcome::Open => {}
            },
        }
    }

    /// Palette entries whose name contains the first word typed.
    fn palette_matches(&self, typed: &str) -> Vec<PaletteCommand> {
        let dashboards = Tab::ALL.into_iter().map(|t| command(t.command(), None, t.title()));
        palette::matching(dashboards.chain(GLOBAL_COMMANDS.iter().copied()).chain(self.pane().commands()), typed)
    }

    fn run_palette(&mut self, line: &str, picked: usize) {
        let typed = line.trim();
        let (word, arg) = typed.split_once(' ').unwrap_or((typed, ""));
        let matches = self.palette_matches(word);
        // A partial name runs the highlighted entry, so `:pip` Enter opens the Pipeline.
        let name = match matches.iter().find(|c| c.name == word) {
            Some(exact) => exact.name,
            None => match matches.get(picked) {
                Some(entry) => entry.name,
                None => {
                    self.tell(format!("no command {word:?} here (? lists the keys)"), false);
                    return;
                }
            },
        };
        if let Some(tab) = Tab::ALL.iter().find(|t| t.command() == name) {
            self.queue.push(Intent::SwitchTab(*tab));
            return;
        }
        match name {
            "search" if !self.pane().searches() => self.tell(self.nothing_to_search(), false),
            "search" => self.with_pane(|pane, _, queue| pane.search(arg, queue)),
            "help" => self.popup = Some(Popup::Help(HelpView::default())),
            "log" => self.popup = Some(Popup::Log(LogView::default())),
            "quit" => self.request_quit(),
            _ => {
                if !self.with_pane(|pane, env, queue| pane.run_command(name, arg, env, queue)) {
                    self.tell(format!("no command {name:?} here"), false);
                }
            }
        }
    }

    pub fn handle_mouse(&mut self, mouse: MouseEvent) -> Vec<Intent> {
        if self.popup.is_some() {
            if matches!(mouse.kind, MouseEventKind::Down(_)) {
                self.popup = None;
            }
            return self.drain();
        }
        if let MouseEventKind::Down(MouseButton::Left) = mouse.kind
            && let Some(i) = self.tab_areas.iter().position(|a| contains(a.get(), mouse.column, mouse.row))
        {
            self.queue.push(Intent::SwitchTab(Tab::ALL[i]));
            return self.drain();
        }
        self.with_pane(|pane, env, queue| pane.handle_mouse(mouse, env, queue));
        self.drain()
    }

    pub fn apply(&mut self, update: Update) -> Vec<Intent> {
        match &update {
            Update::Identity { business, user, user_id } => {
                self.status.business = business.clone();
                self.status.user = user.clone();
                self.env.me = *user_id;
            }
            Update::UnreadTotal { count } => self.status.unread = Some(*count),
            Update::Db(state) => {
                let recovered = *state == DbState::Live && self.status.db == DbState::Reconnecting;
                self.status.db = *state;
                if recovered {
                    self.queue.load(Request::UnreadTotal);
                    let mut queue = std::mem::take(&mut self.queue);
                    for pane in self.panes_mut() {
                        pane.refresh(&mut queue);
                    }
                    self.queue = queue;
                }
            }
            Update::Failed { what, message } => self.tell(format!("{what}: {message}"), true),
            Update::Inbox(InboxUpdate::Sent { .. }) => {
                self.status.notice = Some("sent".into());
                self.status.notice_error = false;
            }
            Update::Contacts(ContactsUpdate::ImportDone(summary)) => self.tell(summary.clone(), false),
            Update::Notices(lines) => {
                for line in lines {
                    self.log.push(self.env.now, line.clone(), true);
                }
            }
            Update::Live(event)
                if matches!(event.kind.as_str(), "message_received" | "conversation_updated" | "message_sent") =>
            {
                self.queue.load(Request::UnreadTotal);
            }
            Update::Live(event) if event.kind == "notified" => self.notified(event),
            Update::Notifications(NotificationsUpdate::List(rows)) => {
                if let Some(Popup::Notifications(list)) = self.popup.as_mut() {
                    list.set(rows.clone());
                }
            }
            _ => {}
        }
        let env = self.env;
        let mut queue = std::mem::take(&mut self.queue);
        // The editor was opened by the pane on screen (it is modal): only that pane takes its text.
        if matches!(update, Update::Edited(_)) {
            self.pane_mut().apply(&update, &env, &mut queue);
        } else {
            for pane in self.panes_mut() {
                pane.apply(&update, &env, &mut queue);
            }
        }
        self.queue = queue;
        self.drain()
    }

    /// A notification for this user (or for everyone) arrived: said in the status bar and kept in the
    /// log; an open list reloads.
    fn notified(&mut self, event: &wacrm_core::events::Recorded) {
        let for_user = event.payload.get("user_id").and_then(serde_json::Value::as_i64);
        if for_user.is_some_and(|u| self.env.me.is_none_or(|me| i64::from(me.0) != u)) {
            return;
        }
        let title = event.payload.get("title").and_then(serde_json::Value::as_str).unwrap_or("notification");
        self.tell(format!("🔔 {title} (N: notifications)"), false);
        if matches!(self.popup, Some(Popup::Notifications(_))) {
            self.queue.load(NotificationsRequest::List);
        }
    }

    /// Moves the clock; returns whether the screen shows something that changed (the minute).
    pub fn tick(&mut self, now: DateTime<Utc>) -> bool {
        let changed = now.minute() != self.env.now.minute() || (now - self.env.now).num_minutes() != 0;
        self.env.now = now;
        changed
    }

    pub fn draw(&self, frame: &mut Frame) {
        let [tabs, body, status] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0), Constraint::Length(1)]).areas(frame.area());
        self.draw_tabs(frame, tabs);
        self.pane().draw(frame, body, &self.env);
        self.draw_status(frame, status);
        let theme = self.env.theme;
        match &self.popup {
            Some(Popup::Help(view)) => {
                let (keys, remaps) = (self.pane().keys(), self.keymap.hints(self.tab));
                let content =
                    HelpContent { title: self.tab.title(), keys: &keys, global: GLOBAL_KEYS, remaps: &remaps };
                view.draw(frame, body, &content, theme);
            }
            Some(Popup::Palette(palette)) => {
                palette.draw(frame, body, &self.palette_matches(&palette.text()), theme);
            }
            Some(Popup::Search(input)) => {
                frame.render_widget(ratatui::widgets::Clear, status);
                draw_input(frame, status, input, true, "/");
            }
            Some(Popup::Quit(confirm)) => confirm.draw(frame, body, theme),
            Some(Popup::Log(view)) => view.draw(frame, body, &self.log, self.env.offset, theme),
            Some(Popup::Notifications(list)) => list.draw(frame, body, &self.env),
            None => {}
        }
    }

    fn draw_tabs(&self, frame: &mut Frame, area: Rect) {
        let theme = self.env.theme;
        let unread = self.status.unread.filter(|n| *n > 0);
        // Full names, else short ones, else digits beside the current tab: every tab stays visible.
        #[derive(Clone, Copy)]
        enum Names {
            Full,
            Short,
            Digits,
        }
        let labels = |names: Names| -> Vec<String> {
            Tab::ALL
                .iter()
                .enumerate()
                .map(|(i, tab)| {
                    let name = match names {
                        Names::Full => tab.title(),
                        Names::Digits if *tab != self.tab => "",
                        _ => tab.short_title(),
                    };
                    let count = match unread {
                        Some(n) if *tab == Tab::Inbox && !name.is_empty() => format!(" ({n})"),
                        _ => String::new(),
                    };
                    let gap = if name.is_empty() { "" } else { " " };
                    format!(" {}{gap}{name}{count} ", i + 1)
                })
                .collect()
        };
        // The last label's trailing space may fall off the edge.
        let fits =
            |labels: &[String]| labels.iter().map(|l| l.chars().count()).sum::<usize>() <= area.width as usize + 1;
        let labels = [Names::Full, Names::Short, Names::Digits]
            .into_iter()
            .map(labels)
            .find(|l| fits(l))
            .unwrap_or_else(|| labels(Names::Digits));
        let mut spans = Vec::new();
        let mut x = area.x;
        for (i, (tab, label)) in Tab::ALL.iter().zip(labels).enumerate() {
            let w = (label.chars().count() as u16).min((area.x + area.width).saturating_sub(x));
            self.tab_areas[i].set(Rect { x, y: area.y, width: w, height: 1 });
            x += w;
            let style = if *tab == self.tab { theme.selected().patch(theme.bold()) } else { theme.dim() };
            spans.push(Span::styled(label, style));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
    }

    fn draw_status(&self, frame: &mut Frame, area: Rect) {
        let theme = self.env.theme;
        let db = match self.status.db {
            DbState::Live => Span::styled("● live", theme.good()),
            DbState::Connecting => Span::styled("○ connecting", theme.dim()),
            DbState::Reconnecting => Span::styled("✗ reconnecting", theme.bad()),
        };
        let unread = match self.status.unread {
            Some(n) => format!("unread {n}"),
            None => "unread –".into(),
        };
        let clock = self.env.now.with_timezone(&self.env.offset).format("%H:%M").to_string();
        let mut left = vec![
            Span::styled(format!(" {} ", self.status.business), theme.bold()),
            Span::styled(format!("· {} ", self.status.user), theme.dim()),
        ];
        if let Some(notice) = &self.status.notice {
            left.push(Span::styled(format!(" {notice}"), theme.warn()));
            if self.status.notice_error {
                left.push(Span::styled(" (L: log)", theme.dim()));
            }
        }
        let right = vec![
            db,
            Span::raw("  "),
            Span::styled(unread, theme.bold()),
            Span::raw("  "),
            Span::raw(clock),
            Span::raw(" "),
        ];
        frame.render_widget(Paragraph::new(spread(left, right, area.width as usize)), area);
    }
}
