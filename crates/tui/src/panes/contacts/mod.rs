//! 2 Contacts: a filterable, sortable table, tag editing, a create/edit form whose errors (core's own
//! messages) show beside the field they concern, and CSV import progress.

use std::cell::Cell;
use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, LineGauge, Paragraph};
use wacrm_core::events;
use wacrm_core::{ContactId, Stage};

use crate::intent::{Intent, Queue, Update};
use crate::panes::{Env, KeyHint, PaletteCommand, Pane, command, contains, hint, scroll_to, step};
use crate::text::{self, relative};
use crate::view::ContactRow;
use crate::widgets::input::{Edit, TextInput};
use crate::widgets::popup::{boxed, centered, draw_input};

const FIELDS: [&str; 4] = ["Name", "Phone", "Stage", "Tags"];
/// Ask for the next page when the selection is this close to the last loaded row.
const PREFETCH: usize = 20;

#[derive(Debug)]
struct Form {
    id: Option<ContactId>,
    fields: [TextInput; 4],
    focus: usize,
    /// The refusal and the field it concerns (`None`: the form as a whole).
    error: Option<(Option<usize>, String)>,
}

impl Form {
    fn new(row: Option<&ContactRow>) -> Form {
        let text = |f: fn(&ContactRow) -> String| TextInput::single().with_text(&row.map(f).unwrap_or_default());
        Form {
            id: row.map(|r| r.id),
            fields: [
                text(|r| r.name.clone()),
                text(|r| r.phone.clone()),
                TextInput::single().with_text(row.map_or("New", |r| r.stage.as_str())),
                text(|r| r.tags.join(", ")),
            ],
            focus: 0,
            error: None,
        }
    }

    /// Checks what can be checked here; core validates the rest (phone format, duplicates).
    fn draft(&self) -> Result<ContactDraft, (Option<usize>, String)> {
        let value = |i: usize| self.fields[i].text().trim().to_string();
        if self.id.is_none() && value(1).is_empty() {
            return Err((Some(1), "a phone number is required".into()));
        }
        let stage = match value(2) {
            s if s.is_empty() => None,
            s => Some(s.parse::<Stage>().map_err(|e| (Some(2), e.to_string()))?),
        };
        Ok(ContactDraft { id: self.id, name: value(0), phone: value(1), stage, tags: split_tags(&value(3)) })
    }
}

/// Which field a message from core is about, by the words it uses.
fn field_of(message: &str) -> Option<usize> {
    let m = message.to_ascii_lowercase();
    if m.contains("phone") || m.contains("number") {
        Some(1)
    } else if m.contains("stage") {
        Some(2)
    } else if m.contains("tag") {
        Some(3)
    } else if m.contains("name") {
        Some(0)
    } else {
        None
    }
}

fn split_tags(text: &str) -> Vec<String> {
    text.split([',', ' ']).map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect()
}

#[derive(Debug)]
enum Mode {
    Browse,
    /// `+vip -cold` adds vip and removes cold; a bare word adds.
    Tags(TextInput),
    Form(Form),
    ImportPath(TextInput),
}

#[derive(Debug, Clone, PartialEq)]
struct Import {
    done: u64,
    total: Option<u64>,
    finished: Option<String>,
}

#[derive(Debug)]
pub struct Contacts {
    rows: Vec<ContactRow>,
    selected: usize,
    offset: Cell<usize>,
    area: Cell<Rect>,
    query: ContactQuery,
    /// Cursor of the next page, when there is one.
    next: Option<String>,
    loading: bool,
    started: bool,
    mode: Mode,
    import: Option<Import>,
}

impl Default for Contacts {
    fn default() -> Contacts {
        Contacts {
            rows: Vec::new(),
            selected: 0,
            offset: Cell::new(0),
            area: Cell::new(Rect::default()),
            query: ContactQuery::default(),
            next: None,
            loading: false,
            started: false,
            mode: Mode::Browse,
            import: None,
        }
    }
}

impl Contacts {
    pub fn query(&self) -> &ContactQuery {
        &self.query
    }

    pub fn selected(&self) -> Option<&ContactRow> {
        self.rows.get(self.selected)
    }

    /// The inline error of the open form, if any: (field name, message).
    pub fn form_error(&self) -> Option<(Option<&'static str>, &str)> {
        match &self.mode {
            Mode::Form(form) => form.error.as_ref().map(|(field, m)| (field.map(|f| FIELDS[f]), m.as_str())),
            _ => None,
        }
    }

    fn reload(&mut self, queue: &mut Queue) {
        self.loading = true;
        queue.load(ContactsRequest::Page { query: self.query.clone(), after: None });
    }

    /// Moves the selection and fetches the next page when it nears the end of what is loaded.
    fn select(&mut self, index: usize, queue: &mut Queue) {
        self.selected = step(index, 0, self.rows.len());
        if self.selected + PREFETCH >= self.rows.len()
            && !self.loading
            && let Some(after) = self.next.clone()
        {
            self.loading = true;
            queue.load(ContactsRequest::Page { query: self.query.clone(), after: Some(after) });
        }
    }

    fn browse_key(&mut self, key: KeyEvent, queue: &mut Queue) -> bool {
        let page = (self.area.get().height.saturating_sub(1)).max(1) as isize;
        let len = self.rows.len();
        match key.code {
            KeyCode::Char('j') | KeyCode::Down => self.select(step(self.selected, 1, len), queue),
            KeyCode::Char('k') | KeyCode::Up => self.select(step(self.selected, -1, len), queue),
            KeyCode::PageDown => self.select(step(self.selected, page, len), queue),
            KeyCode::PageUp => self.select(step(self.selected, -page, len), queue),
            KeyCode::Char('g') | KeyCode::Home => self.select(0, queue),
            KeyCode::Char('G') | KeyCode::End => self.select(len.saturating_sub(1), queue),
            KeyCode::Char('o') => {
                self.query.sort = self.query.sort.next();
                self.reload(queue);
            }
            KeyCode::Char('s') => {
                self.query.stage = match self.query.stage {
                    None => Stage::ALL.first().copied(),
                    Some(stage) => Stage::ALL.iter().skip_while(|s| **s != stage).nth(1).copied(),
                };
                self.reload(queue);
            }
            KeyCode::Esc if self.query.search.is_some() || self.query.stage.is_some() || self.query.tag.is_some() => {
                self.query = ContactQuery { sort: self.query.sort, ..Default::default() };
                self.reload(queue);
            }
            KeyCode::Char('n') => self.mode = Mode::Form(Form::new(None)),
            KeyCode::Char('e' | 'l') | KeyCode::Enter => {
                if let Some(row) = self.selected() {
                    self.mode = Mode::Form(Form::new(Some(row)));
                }
            }
            KeyCode::Char('t') if self.selected().is_some() => self.mode = Mode::Tags(TextInput::single()),
            KeyCode::Char('i') => self.mode = Mode::ImportPath(TextInput::single()),
            _ => return false,
        }
        true
    }

    fn form_key(&mut self, key: KeyEvent, queue: &mut Queue) -> bool {
        let Mode::Form(form) = &mut self.mode else { return false };
        match key.code {
            KeyCode::Tab | KeyCode::Down => form.focus = (form.focus + 1) % FIELDS.len(),
            KeyCode::BackTab | KeyCode::Up => form.focus = (form.focus + FIELDS.len() - 1) % FIELDS.len(),
            _ => match form.fields[form.focus].handle_key(key) {
                Edit::Submit => match form.draft() {
                    Ok(draft) => {
                        form.error = None;
                        queue.load(ContactsRequest::Save(draft));
                    }
                    Err(error) => form.error = Some(error),
                },
                Edit::Cancel => self.mode = Mode::Browse,
                Edit::Changed => {
                    if form.error.as_ref().is_some_and(|(field, _)| *field == Some(form.focus)) {
                        form.error = None;
                    }
                }
                Edit::Moved | Edit::External | Edit::Ignored => {}
            },
        }
        true
    }

    fn tags_key(&mut self, key: KeyEvent, queue: &mut Queue) -> bool {
        let Mode::Tags(input) = &mut self.mode else { return false };
        match input.handle_key(key) {
            Edit::Submit => {
                let (mut add, mut remove) = (Vec::new(), Vec::new());
                for word in split_tags(&input.text()) {
                    match word.strip_prefix('-') {
                        Some(tag) => remove.push(tag.to_string()),
                        None => add.push(word.trim_start_matches('+').to_string()),
                    }
                }
                if let Some(row) = self.selected() {
                    queue.load(ContactsRequest::Tags { contact: row.id, add, remove });
                }
                self.mode = Mode::Browse;
            }
            Edit::Cancel => self.mode = Mode::Browse,
            _ => {}
        }
        true
    }

    fn import_key(&mut self, key: KeyEvent, queue: &mut Queue) -> bool {
        let Mode::ImportPath(input) = &mut self.mode else { return false };
        match input.handle_key(key) {
            Edit::Submit if !input.is_blank() => {
                let path = PathBuf::from(input.text().trim());
                self.import = Some(Import { done: 0, total: None, finished: None });
                queue.load(ContactsRequest::Import(path));
                self.mode = Mode::Browse;
            }
            Edit::Cancel => self.mode = Mode::Browse,
            _ => {}
        }
        true
    }

    fn title(&self) -> String {
        let mut title = format!(" Contacts · sort: {}", self.query.sort.label());
        if let Some(stage) = self.query.stage {
            title.push_str(&format!(" · stage: {stage}"));
        }
        if let Some(tag) = &self.query.tag {
            title.push_str(&format!(" · tag: {tag}"));
        }
        if let Some(search) = &self.query.search {
            title.push_str(&format!(" · /{search}"));
        }
        title.push(' ');
        title
    }

    fn draw_table(&self, frame: &mut Frame, area: Rect, env: &Env) {
        let theme = env.theme;
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.focus_border(matches!(self.mode, Mode::Browse)))
            .title(Span::styled(self.title(), theme.bold()))
            .title_bottom(
                Line::from(format!(" {}{} ", self.rows.len(), if self.next.is_some() { "+" } else { "" }))
                    .right_aligned(),
            );
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let [header, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
        self.area.set(body);
        let widths = column_widths(inner.width as usize);
        let cells =
            |values: [String; 5]| -> String { values.iter().zip(widths).map(|(v, w)| text::cell(v, w)).collect() };
        let head = cells(["Name".into(), "Phone".into(), "Stage".into(), "Tags".into(), "Last active".into()]);
        frame.render_widget(Paragraph::new(Line::styled(head, theme.bold())), header);
        if self.rows.is_empty() {
            let note = if self.loading || !self.started { "loading…" } else { "No contacts match." };
            frame.render_widget(Paragraph::new(Span::styled(note, theme.dim())), body);
            return;
        }
        let visible = body.height as usize;
        let offset = scroll_to(self.selected, self.offset.get(), visible);
        self.offset.set(offset);
        let lines: Vec<Line> = self
            .rows
            .iter()
            .enumerate()
            .skip(offset)
            .take(visible)
            .map(|(i, r)| {
                let when = r.last_active.map(|at| relative(at, env.now, env.offset)).unwrap_or_else(|| "—".into());
                let name = if r.name.is_empty() { "—".to_string() } else { r.name.clone() };
                let line = Line::raw(cells([name, r.phone.clone(), r.stage.to_string(), r.tags.join(", "), when]));
                if i == self.selected { line.style(theme.selected()) } else { line }
            })
            .collect();
        frame.render_widget(Paragraph::new(lines), body);
    }

    fn draw_form(&self, frame: &mut Frame, area: Rect, form: &Form, env: &Env) {
        let theme = env.theme;
        let title = if form.id.is_some() { "Edit contact" } else { "New contact" };
        let popup = centered(area, 64, 14);
        let inner = boxed(frame, popup, title, theme);
        let mut y = inner.y;
        for (i, label) in FIELDS.iter().enumerate() {
            if y >= inner.y + inner.height {
                break;
            }
            let style = if i == form.focus { theme.bold() } else { Style::new() };
            frame.render_widget(
                Paragraph::new(Span::styled(format!("{label:>6}: "), style)),
                Rect { x: inner.x, y, width: 8, height: 1 },
            );
            let field = Rect { x: inner.x + 8, y, width: inner.width.saturating_sub(8), height: 1 };
            draw_input(frame, field, &form.fields[i], i == form.focus, "");
            y += 1;
            if let Some((Some(f), message)) = &form.error
                && *f == i
                && y < inner.y + inner.height
            {
                frame.render_widget(
                    Paragraph::new(Span::styled(format!("        ✗ {message}"), theme.bad())),
                    Rect { x: inner.x, y, width: inner.width, height: 1 },
                );
                y += 1;
            }
            y += 1;
        }
        let mut footer = vec![Line::styled("Enter save · Tab next field · Esc cancel", theme.dim())];
        if let Some((None, message)) = &form.error {
            footer.insert(0, Line::styled(format!("✗ {message}"), theme.bad()));
        }
        let h = footer.len() as u16;
        if inner.height >= h {
            frame.render_widget(
                Paragraph::new(footer),
                Rect { x: inner.x, y: inner.y + inner.height - h, width: inner.width, height: h },
            );
        }
    }
}

/// Name, phone, stage, tags, last active: fixed where the content is short, the rest shared.
fn column_widths(total: usize) -> [usize; 5] {
    let fixed = 18 + 12 + 12;
    let rest = total.saturating_sub(fixed);
    [rest * 3 / 5, 18, 12, rest - rest * 3 / 5, 12]
}

impl Pane for Contacts {
    fn keys(&self) -> Vec<KeyHint> {
        match self.mode {
            Mode::Browse => vec![
                hint("j/k ↑/↓ PgUp/PgDn", "move"),
                hint("g/G", "first / last"),
                hint("/", "search name or phone"),
                hint("s", "filter by stage (cycles)"),
                hint("o", "sort: last active, name, newest"),
                hint("n", "new contact"),
                hint("Enter l e", "open the selected contact (edit)"),
                hint("t", "edit tags (+add -remove)"),
                hint("i", "import a CSV file"),
                hint("Esc", "clear filters"),
            ],
            Mode::Form(_) => {
                vec![hint("Tab ↓ / Shift-Tab ↑", "next / previous field"), hint("Enter", "save"), hint("Esc", "cancel")]
            }
            Mode::Tags(_) => vec![hint("+tag -tag", "add / remove"), hint("Enter", "apply"), hint("Esc", "cancel")],
            Mode::ImportPath(_) => vec![hint("Enter", "import the file"), hint("Esc", "cancel")],
        }
    }

    fn captures_keys(&self) -> bool {
        !matches!(self.mode, Mode::Browse)
    }

    fn handle_key(&mut self, key: KeyEvent, _env: &Env, queue: &mut Queue) -> bool {
        if key.modifiers.contains(KeyModifiers::CONTROL) && matches!(self.mode, Mode::Browse) {
            return false;
        }
        match self.mode {
            Mode::Browse => self.browse_key(key, queue),
            Mode::Form(_) => self.form_key(key, queue),
            Mode::Tags(_) => self.tags_key(key, queue),
            Mode::ImportPath(_) => self.import_key(key, queue),
        }
    }

    fn handle_mouse(&mut self, mouse: MouseEvent, _env: &Env, queue: &mut Queue) -> bool {
        let area = self.area.get();
        if !matches!(self.mode, Mode::Browse) || !contains(area, mouse.column, mouse.row) {
            return false;
        }
        match mouse.kind {
            MouseEventKind::ScrollDown => self.select(step(self.selected, 3, self.rows.len()), queue),
            MouseEventKind::ScrollUp => self.select(step(self.selected, -3, self.rows.len()), queue),
            MouseEventKind::Down(MouseButton::Left) => {
                self.select(self.offset.get() + (mouse.row - area.y) as usize, queue);
            }
            _ => return false,
        }
        true
    }

    fn apply(&mut self, update: &Update, _env: &Env, queue: &mut Queue) {
        match update {
            Update::Contacts(ContactsUpdate::Page { rows, next, appended }) => {
                let keep = self.selected().map(|r| r.id);
                if *appended {
                    self.rows.extend(
                        rows.iter()
                            .filter(|r| !self.rows.iter().any(|have| have.id == r.id))
                            .cloned()
                            .collect::<Vec<_>>(),
                    );
                } else {
                    self.rows = rows.clone();
                }
                self.next = next.clone();
                self.loading = false;
                self.selected = keep.and_then(|id| self.rows.iter().position(|r| r.id == id)).unwrap_or(0);
            }
            Update::Contacts(ContactsUpdate::Saved(row)) => {
                if matches!(self.mode, Mode::Form(_)) {
                    self.mode = Mode::Browse;
                }
                match self.rows.iter().position(|r| r.id == row.id) {
                    Some(i) => self.rows[i] = row.clone(),
                    None => {
                        self.rows.insert(0, row.clone());
                        self.selected = 0;
                    }
                }
            }
            Update::Contacts(ContactsUpdate::FormError(message)) => {
                if let Mode::Form(form) = &mut self.mode {
                    form.error = Some((field_of(message), message.clone()));
                } else {
                    queue.push(Intent::Notify(message.clone()));
                }
            }
            Update::Contacts(ContactsUpdate::ImportProgress { done, total }) => {
                self.import = Some(Import { done: *done, total: *total, finished: None });
            }
            Update::Contacts(ContactsUpdate::ImportDone(summary)) => {
                let done = self.import.as_ref().map_or(0, |i| i.done);
                self.import = Some(Import { done, total: Some(done), finished: Some(summary.clone()) });
                self.reload(queue);
            }
            Update::Failed { what: "contacts", .. } => self.loading = false,
            Update::Failed { what: "import", message } => {
                self.import =
                    Some(Import { done: 0, total: None, finished: Some(format!("import failed: {message}")) });
            }
            Update::Live(event)
                if self.started
                    && events::CONTACT_CHANGES.contains(&event.kind.as_str())
                    && event.contact_id.is_some_and(|c| self.rows.iter().any(|r| r.id == c)) =>
            {
                self.reload(queue);
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
    }

    fn searches(&self) -> bool {
        true
    }

    fn search(&mut self, text: &str, queue: &mut Queue) {
        self.query.search = text::search_term(text);
        self.reload(queue);
    }

    fn commands(&self) -> Vec<PaletteCommand> {
        vec![
            command("new", None, "create a contact"),
            command("tag", Some("TAG"), "show only contacts with this tag (empty: all)"),
            command("stage", Some("New|Engaged|Interested|Paid|Lost"), "show only this stage (empty: all)"),
            command("import", Some("FILE.csv"), "import contacts from a CSV file"),
        ]
    }

    fn run_command(&mut self, name: &str, arg: &str, _env: &Env, queue: &mut Queue) -> bool {
        let arg = arg.trim();
        match name {
            "new" => self.mode = Mode::Form(Form::new(None)),
            "tag" => {
                self.query.tag = (!arg.is_empty()).then(|| arg.to_string());
                self.reload(queue);
            }
            "stage" if arg.is_empty() => {
                self.query.stage = None;
                self.reload(queue);
            }
            "stage" => match arg.parse::<Stage>() {
                Ok(stage) => {
                    self.query.stage = Some(stage);
                    self.reload(queue);
                }
                Err(e) => queue.push(Intent::Notify(e.to_string())),
            },
            "import" if !arg.is_empty() => {
                self.import = Some(Import { done: 0, total: None, finished: None });
                queue.load(ContactsRequest::Import(PathBuf::from(arg)));
            }
            "import" => self.mode = Mode::ImportPath(TextInput::single()),
            _ => return false,
        }
        true
    }

    fn draw(&self, frame: &mut Frame, area: Rect, env: &Env) {
        let theme = env.theme;
        let import_height = if self.import.is_some() { 1 } else { 0 };
        let input_height = if matches!(self.mode, Mode::Tags(_) | Mode::ImportPath(_)) { 1 } else { 0 };
        let [table, import, input_line] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(import_height), Constraint::Length(input_height)])
                .areas(area);
        self.draw_table(frame, table, env);
        if let Some(progress) = &self.import {
            let label = match (&progress.finished, progress.total) {
                (Some(summary), _) => summary.clone(),
                (None, Some(total)) => format!("importing… {}/{total}", progress.done),
                (None, None) => format!("importing… {} rows", progress.done),
            };
            let ratio = match progress.total {
                Some(total) if total > 0 => (progress.done as f64 / total as f64).min(1.0),
                _ if progress.finished.is_some() => 1.0,
                _ => 0.0,
            };
            frame.render_widget(
                LineGauge::default().filled_style(theme.accent().patch(theme.bold())).ratio(ratio).label(label),
                import,
            );
        }
        match &self.mode {
            Mode::Tags(input) => draw_input(frame, input_line, input, true, "tags (+add -remove): "),
            Mode::ImportPath(input) => draw_input(frame, input_line, input, true, "CSV file: "),
            Mode::Form(form) => self.draw_form(frame, area, form, env),
            Mode::Browse => {}
        }
    }
}

#[cfg(test)]
mod tests;

mod requests;
pub use requests::*;
