//! 3 Pipeline: a kanban column per stage with its count; `<`/`>` (or a mouse drag) moves the selected
//! card, Enter/`l` opens the contact's conversation in the Inbox, and the selected contact's stage history
//! and time in stage show below.

use std::cell::Cell;

use crossterm::event::{KeyCode, KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use wacrm_core::{ContactId, Stage};

use crate::intent::{InboxRequest, Intent, Queue, Update};
use crate::panes::reload::Reload;
use crate::panes::{Env, KeyHint, Pane, contains, hint, passes, scroll_to, step};
use crate::text::{self, relative, span_of, spread, truncate};
use crate::view::{Card, Column, HistoryRow};

const STAGES: usize = 5;
const CARD_LINES: u16 = 2;

/// What the Pipeline board asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipelineRequest {
    Board,
    History(ContactId),
}

impl PipelineRequest {
    /// The name a failed request goes by in the status bar (and that the pane matches on).
    pub fn what(&self) -> &'static str {
        match self {
            PipelineRequest::Board => "board",
            PipelineRequest::History(_) => "history",
        }
    }
}

/// The board's answers.
#[derive(Debug, Clone, PartialEq)]
pub enum PipelineUpdate {
    Board(Vec<Column>),
    History { contact: ContactId, rows: Vec<HistoryRow> },
}

#[derive(Debug, Default)]
pub struct Pipeline {
    columns: Vec<Column>,
    col: usize,
    row: usize,
    /// Cards whose name or phone contain this (client-side: the board holds each column's first cards).
    filter: Option<String>,
    history: Option<(ContactId, Vec<HistoryRow>)>,
    /// A card being dragged with the mouse, and its column.
    drag: Option<(ContactId, usize)>,
    offsets: [Cell<usize>; STAGES],
    areas: [Cell<Rect>; STAGES],
    /// One board request at a time: answers of concurrent requests can arrive in any order, and an older
    /// one arriving last left the counts one change behind.
    reload: Reload,
}

impl Pipeline {
    fn visible(&self, col: usize) -> Vec<&Card> {
        let Some(column) = self.columns.get(col) else { return Vec::new() };
        column.cards.iter().filter(|c| passes(self.filter.as_deref(), &[&c.name, &c.phone])).collect()
    }

    pub fn selected(&self) -> Option<&Card> {
        self.visible(self.col).get(self.row).copied()
    }

    pub fn column(&self) -> usize {
        self.col
    }

    pub fn counts(&self) -> Vec<(Stage, i64)> {
        self.columns.iter().map(|c| (c.stage, c.count)).collect()
    }

    fn ask_board(&mut self, queue: &mut Queue) {
        if self.reload.ask() {
            queue.load(PipelineRequest::Board);
        }
    }

    /// After the selection moved: load the selected contact's history.
    fn follow(&mut self, queue: &mut Queue) {
        self.row = step(self.row, 0, self.visible(self.col).len());
        let contact = self.selected().map(|c| c.contact);
        match contact {
            Some(contact) if self.history.as_ref().is_none_or(|(c, _)| *c != contact) => {
                self.history = Some((contact, Vec::new()));
                queue.load(PipelineRequest::History(contact));
            }
            Some(_) => {}
            None => self.history = None,
        }
    }

    /// Moves a card to another column at once (the board is redrawn before core answers) and asks core
    /// to make it so; a refusal reloads the board.
    fn move_card(&mut self, contact: ContactId, from: usize, to: usize, queue: &mut Queue) {
        if from == to || to >= self.columns.len() {
            return;
        }
        let Some(index) = self.columns[from].cards.iter().position(|c| c.contact == contact) else { return };
        let card = self.columns[from].cards.remove(index);
        self.columns[from].count -= 1;
        self.columns[to].cards.insert(0, card);
        self.columns[to].count += 1;
        self.col = to;
        self.row = self.visible(to).iter().position(|c| c.contact == contact).unwrap_or(0);
        queue.load(InboxRequest::SetStage { contact, stage: self.columns[to].stage });
        self.history = None;
        self.follow(queue);
    }

    fn move_selected(&mut self, delta: isize, queue: &mut Queue) {
        let Some(contact) = self.selected().map(|c| c.contact) else { return };
        let to = step(self.col, delta, self.columns.len());
        self.move_card(contact, self.col, to, queue);
    }

    fn draw_column(&self, frame: &mut Frame, area: Rect, index: usize, env: &Env) {
        let theme = env.theme;
        let column = &self.columns[index];
        let focused = index == self.col;
        let block =
            Block::default().borders(Borders::ALL).border_style(theme.focus_border(focused)).title(Line::from(vec![
                Span::styled(format!(" {} ", column.stage), if focused { theme.bold() } else { Style::new() }),
                Span::styled(format!("({}) ", column.count), theme.accent()),
            ]));
        let inner = block.inner(area);
        frame.render_widget(block, area);
        self.areas[index].set(inner);
        let cards = self.visible(index);
        let visible = (inner.height / CARD_LINES) as usize;
        let selected = if focused { self.row } else { 0 };
        let offset = scroll_to(selected, self.offsets[index].get(), visible);
        self.offsets[index].set(offset);
        let width = inner.width as usize;
        let mut lines = Vec::new();
        for (i, card) in cards.iter().enumerate().skip(offset).take(visible) {
            let dragged = self.drag.is_some_and(|(c, _)| c == card.contact);
            let style = if (focused && i == self.row) || dragged { theme.selected() } else { Style::new() };
            lines.push(Line::styled(truncate(&card.name, width), theme.bold()).patch_style(style));
            let age = card.last_active.map(|at| relative(at, env.now, env.offset)).unwrap_or_default();
            lines.push(
                spread(
                    vec![Span::styled(card.phone.clone(), theme.dim())],
                    vec![Span::styled(age, theme.dim())],
                    width,
                )
                .patch_style(style),
            );
        }
        if cards.is_empty() {
            lines.push(Line::styled(if self.reload.loading() { "loading…" } else { "—" }, theme.dim()));
        } else if (column.count as usize) > column.cards.len() && offset + visible >= cards.len() {
            lines.push(Line::styled(format!("+{} more", column.count as usize - column.cards.len()), theme.dim()));
        }
        frame.render_widget(Paragraph::new(lines), inner);
    }

    fn draw_history(&self, frame: &mut Frame, area: Rect, env: &Env) {
        let theme = env.theme;
        let card = self.selected();
        let title = card.map_or(" History ".to_string(), |c| format!(" History · {} ", c.name));
        let block = Block::default().borders(Borders::ALL).border_style(theme.dim()).title(title);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let Some(card) = card else {
            frame.render_widget(Paragraph::new(Span::styled("Select a card.", theme.dim())), inner);
            return;
        };
        let mut lines = Vec::new();
        let stage = self.columns.get(self.col).map(|c| c.stage.to_string()).unwrap_or_default();
        // The newest change is when the contact entered its current stage.
        let since = self
            .history
            .as_ref()
            .filter(|(c, _)| *c == card.contact)
            .and_then(|(_, rows)| rows.last().filter(|r| r.to.to_string() == stage).map(|r| r.at));
        lines.push(Line::from(match since {
            Some(at) => vec![
                Span::raw(format!("In {stage} for ")),
                Span::styled(span_of(env.now - at), theme.bold()),
                Span::styled(format!(" (since {})", at.with_timezone(&env.offset).format("%d %b %H:%M")), theme.dim()),
            ],
            None => vec![Span::raw(format!("In {stage}"))],
        }));
        match &self.history {
            Some((contact, rows)) if *contact == card.contact && !rows.is_empty() => {
                for row in rows.iter().rev().take(inner.height.saturating_sub(1) as usize) {
                    let from = row.from.map_or("—".to_string(), |s| s.to_string());
                    lines.push(Line::from(vec![
                        Span::styled(format!("{:>6}  ", relative(row.at, env.now, env.offset)), theme.dim()),
                        Span::raw(format!("{from} → ")),
                        Span::styled(row.to.to_string(), theme.bold()),
                        Span::styled(format!("  {}", row.source), theme.dim()),
                    ]));
                }
            }
            _ => lines.push(Line::styled("No stage changes recorded.", theme.dim())),
        }
        frame.render_widget(Paragraph::new(lines), inner);
    }
}

impl Pane for Pipeline {
    fn keys(&self) -> Vec<KeyHint> {
        vec![
            hint("← → Tab Shift-Tab", "previous / next column"),
            hint("j/k ↑/↓", "next / previous card"),
            hint("Enter l", "open the contact's conversation in the Inbox"),
            hint("< / >", "move the card to the previous / next stage"),
            hint("drag", "move a card with the mouse"),
            hint("/", "filter cards by name or phone"),
            hint("Esc", "clear the filter"),
        ]
    }

    fn handle_key(&mut self, key: KeyEvent, _env: &Env, queue: &mut Queue) -> bool {
        let len = self.visible(self.col).len();
        match key.code {
            KeyCode::Char('j') | KeyCode::Down => self.row = step(self.row, 1, len),
            KeyCode::Char('k') | KeyCode::Up => self.row = step(self.row, -1, len),
            KeyCode::Char('g') | KeyCode::Home => self.row = 0,
            KeyCode::Char('G') | KeyCode::End => self.row = len.saturating_sub(1),
            KeyCode::Right | KeyCode::Tab => self.col = step(self.col, 1, self.columns.len()),
            KeyCode::Left | KeyCode::BackTab => self.col = step(self.col, -1, self.columns.len()),
            KeyCode::Enter | KeyCode::Char('l') => {
                if let Some(card) = self.selected() {
                    let who = format!("{} {}", card.name, card.phone).trim().to_string();
                    queue.push(Intent::OpenChat { contact: card.contact, who });
                }
                return true;
            }
            KeyCode::Char('>') => {
                self.move_selected(1, queue);
                return true;
            }
            KeyCode::Char('<') => {
                self.move_selected(-1, queue);
                return true;
            }
            KeyCode::Esc if self.filter.is_some() => self.filter = None,
            _ => return false,
        }
        self.follow(queue);
        true
    }

    fn handle_mouse(&mut self, mouse: MouseEvent, _env: &Env, queue: &mut Queue) -> bool {
        let Some(col) = (0..self.columns.len()).find(|i| contains(self.areas[*i].get(), mouse.column, mouse.row))
        else {
            // Passing over borders keeps the drag; letting go outside the board drops it.
            if matches!(mouse.kind, MouseEventKind::Up(_)) {
                self.drag = None;
            }
            return false;
        };
        let area = self.areas[col].get();
        match mouse.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                let index = self.offsets[col].get() + ((mouse.row - area.y) / CARD_LINES) as usize;
                if let Some(card) = self.visible(col).get(index) {
                    self.drag = Some((card.contact, col));
                    self.col = col;
                    self.row = index;
                    self.follow(queue);
                }
            }
            MouseEventKind::Up(MouseButton::Left) => {
                if let Some((contact, from)) = self.drag.take() {
                    self.move_card(contact, from, col, queue);
                }
            }
            MouseEventKind::ScrollDown => {
                self.col = col;
                self.row = step(self.row, 1, self.visible(col).len());
                self.follow(queue);
            }
            MouseEventKind::ScrollUp => {
                self.col = col;
                self.row = step(self.row, -1, self.visible(col).len());
                self.follow(queue);
            }
            _ => return matches!(mouse.kind, MouseEventKind::Drag(_)),
        }
        true
    }

    fn apply(&mut self, update: &Update, _env: &Env, queue: &mut Queue) {
        match update {
            Update::Pipeline(PipelineUpdate::Board(columns)) => {
                let keep = self.selected().map(|c| c.contact);
                self.columns = columns.clone();
                let again = self.reload.done();
                if let Some(contact) = keep {
                    for (i, column) in self.columns.iter().enumerate() {
                        if let Some(row) = column.cards.iter().position(|c| c.contact == contact) {
                            (self.col, self.row) = (i, row);
                        }
                    }
                }
                self.col = step(self.col, 0, self.columns.len());
                self.follow(queue);
                if again {
                    queue.load(PipelineRequest::Board);
                }
            }
            Update::Failed { what: "board", .. } if self.reload.done() => queue.load(PipelineRequest::Board),
            Update::Pipeline(PipelineUpdate::History { contact, rows }) => {
                if let Some((c, history)) = self.history.as_mut()
                    && c == contact
                {
                    *history = rows.clone();
                }
            }
            Update::Failed { what: "stage", .. } => self.ask_board(queue),
            // New, deleted and imported contacts change the counts as much as stage moves do.
            Update::Live(event)
                if self.reload.started()
                    && matches!(event.kind.as_str(), "contact_created" | "contact_deleted" | "contacts_imported") =>
            {
                self.ask_board(queue);
            }
            Update::Live(event) if self.reload.started() && event.kind == "stage_changed" => {
                self.ask_board(queue);
                if let Some(contact) = event.contact_id.filter(|c| self.selected().is_some_and(|s| s.contact == *c)) {
                    queue.load(PipelineRequest::History(contact));
                }
            }
            _ => {}
        }
    }

    fn loaded(&self) -> bool {
        self.reload.started()
    }

    fn load(&mut self, queue: &mut Queue) {
        self.ask_board(queue);
    }

    fn searches(&self) -> bool {
        true
    }

    fn search(&mut self, text: &str, queue: &mut Queue) {
        self.filter = text::search_term(text);
        self.row = 0;
        self.follow(queue);
    }

    fn draw(&self, frame: &mut Frame, area: Rect, env: &Env) {
        let [board, history] = Layout::vertical([Constraint::Min(6), Constraint::Length(8)]).areas(area);
        if self.columns.is_empty() {
            let note =
                if self.reload.loading() || !self.reload.started() { "loading…" } else { "The board is empty." };
            frame.render_widget(Paragraph::new(Span::styled(note, env.theme.dim())), board);
        } else {
            let constraints = vec![Constraint::Ratio(1, self.columns.len() as u32); self.columns.len()];
            let areas = Layout::horizontal(constraints).split(board);
            for (i, column_area) in areas.iter().enumerate().take(STAGES) {
                self.draw_column(frame, *column_area, i, env);
            }
        }
        self.draw_history(frame, history, env);
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyCode, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::fixtures::{board, ch, env, key, loads};
    use crate::intent::Request;

    fn loaded() -> (Pipeline, Queue) {
        let mut pane = Pipeline::default();
        let mut queue = Queue::default();
        pane.activate(&mut queue);
        pane.apply(&Update::Pipeline(PipelineUpdate::Board(board())), &env(), &mut queue);
        queue.drain();
        (pane, queue)
    }

    #[test]
    fn angle_brackets_move_the_selected_card_and_its_counts() {
        let (mut pane, mut queue) = loaded();
        assert_eq!(pane.selected().map(|c| c.contact), Some(ContactId(3)));
        pane.handle_key(ch('>'), &env(), &mut queue);
        let requests = loads(&queue.drain());
        assert_eq!(
            requests[0],
            Request::Inbox(InboxRequest::SetStage { contact: ContactId(3), stage: Stage::Engaged })
        );
        assert_eq!(pane.column(), 1);
        assert_eq!(pane.selected().map(|c| c.contact), Some(ContactId(3)), "the selection follows the card");
        assert_eq!(pane.counts()[0], (Stage::New, 40));
        assert_eq!(pane.counts()[1], (Stage::Engaged, 2));
        pane.handle_key(ch('<'), &env(), &mut queue);
        pane.handle_key(ch('<'), &env(), &mut queue);
        let requests = loads(&queue.drain());
        assert_eq!(
            requests.iter().filter(|r| matches!(r, Request::Inbox(InboxRequest::SetStage { .. }))).count(),
            1,
            "nothing moves left of New"
        );
    }

    #[test]
    fn enter_and_l_open_the_cards_conversation_and_move_nothing() {
        let (mut pane, mut queue) = loaded();
        pane.handle_key(key(KeyCode::Enter), &env(), &mut queue);
        assert_eq!(queue.drain(), vec![Intent::OpenChat { contact: ContactId(3), who: "Li Wei +12025550003".into() }]);
        pane.handle_key(ch('j'), &env(), &mut queue);
        queue.drain();
        pane.handle_key(ch('l'), &env(), &mut queue);
        let intents = queue.drain();
        assert_eq!(intents, vec![Intent::OpenChat { contact: ContactId(5), who: "Ravi Kumar +12025550005".into() }]);
        assert_eq!(pane.counts()[0], (Stage::New, 41), "the card stayed in its column");
        pane.handle_key(key(KeyCode::Right), &env(), &mut queue);
        pane.handle_key(key(KeyCode::Right), &env(), &mut queue);
        pane.handle_key(key(KeyCode::Right), &env(), &mut queue);
        pane.handle_key(key(KeyCode::Right), &env(), &mut queue);
        queue.drain();
        assert!(pane.handle_key(key(KeyCode::Enter), &env(), &mut queue), "an empty column swallows Enter");
        assert!(queue.drain().is_empty());
    }

    #[test]
    fn arrows_choose_columns_and_cards_and_load_history() {
        let (mut pane, mut queue) = loaded();
        pane.handle_key(ch('j'), &env(), &mut queue);
        assert_eq!(loads(&queue.drain()), vec![Request::Pipeline(PipelineRequest::History(ContactId(5)))]);
        pane.handle_key(key(KeyCode::Right), &env(), &mut queue);
        assert_eq!(loads(&queue.drain()), vec![Request::Pipeline(PipelineRequest::History(ContactId(6)))]);
        pane.handle_key(key(KeyCode::Right), &env(), &mut queue);
        pane.handle_key(key(KeyCode::Right), &env(), &mut queue);
        pane.handle_key(key(KeyCode::Right), &env(), &mut queue);
        assert!(pane.selected().is_none(), "Lost is empty");
        assert!(!pane.handle_key(ch('x'), &env(), &mut queue));
    }

    #[test]
    fn changes_during_a_load_load_the_board_once_more_after_it() {
        let (mut pane, mut queue) = loaded();
        let boards = |queue: &mut Queue| {
            loads(&queue.drain()).iter().filter(|r| **r == Request::Pipeline(PipelineRequest::Board)).count()
        };
        pane.apply(&crate::fixtures::live("stage_changed", 1), &env(), &mut queue);
        pane.apply(&crate::fixtures::live("stage_changed", 2), &env(), &mut queue);
        assert_eq!(boards(&mut queue), 1, "one request in flight");
        // The answer may predate the second move: the board asks again.
        pane.apply(&Update::Pipeline(PipelineUpdate::Board(board())), &env(), &mut queue);
        assert_eq!(boards(&mut queue), 1);
        pane.apply(&Update::Pipeline(PipelineUpdate::Board(board())), &env(), &mut queue);
        assert_eq!(boards(&mut queue), 0, "up to date");
    }

    #[test]
    fn a_refused_move_reloads_the_board() {
        let (mut pane, mut queue) = loaded();
        pane.handle_key(ch('>'), &env(), &mut queue);
        queue.drain();
        pane.apply(&Update::Failed { what: "stage", message: "blocked".into() }, &env(), &mut queue);
        assert_eq!(loads(&queue.drain()), vec![Request::Pipeline(PipelineRequest::Board)]);
    }

    #[test]
    fn dragging_a_card_to_another_column_moves_it() {
        let (mut pane, mut queue) = loaded();
        let mut terminal = Terminal::new(TestBackend::new(100, 20)).expect("terminal");
        terminal.draw(|f| pane.draw(f, f.area(), &env())).expect("frame");
        let at = |kind, column| MouseEvent { kind, column, row: 1, modifiers: KeyModifiers::NONE };
        // Columns are 20 cells wide: the first card of New at x=2, a border at x=40 (passing over it keeps
        // the drag), the Paid column at x=62.
        pane.handle_mouse(at(MouseEventKind::Down(MouseButton::Left), 2), &env(), &mut queue);
        pane.handle_mouse(at(MouseEventKind::Drag(MouseButton::Left), 40), &env(), &mut queue);
        pane.handle_mouse(at(MouseEventKind::Up(MouseButton::Left), 62), &env(), &mut queue);
        let requests = loads(&queue.drain());
        assert!(
            requests.contains(&Request::Inbox(InboxRequest::SetStage { contact: ContactId(3), stage: Stage::Paid })),
            "{requests:?}"
        );
        assert_eq!(pane.counts()[3], (Stage::Paid, 2));
    }

    #[test]
    fn search_filters_cards_on_the_board() {
        let (mut pane, mut queue) = loaded();
        pane.search("ravi", &mut queue);
        assert_eq!(pane.selected().map(|c| c.contact), Some(ContactId(5)));
    }
}
