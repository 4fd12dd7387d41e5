//! 6 Templates: the business's message templates with Meta's review status, the selected one's
//! preview, its rejection reason and its lint findings inline; `s` syncs with Meta.

use std::cell::Cell;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::intent::{Queue, Update};
use crate::panes::reload::Reload;
use crate::panes::{Env, KeyHint, Pane, filtered_title, hint, passes, scroll_to, step};
use crate::text::{self, relative, spread, truncate};
use crate::theme::Theme;

/// What the Templates pane asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatesRequest {
    List,
    /// Brings the list in line with Meta's (Graph API).
    Sync,
}

impl TemplatesRequest {
    /// The name a failure goes by.
    pub fn what(&self) -> &'static str {
        match self {
            TemplatesRequest::List => "template list",
            TemplatesRequest::Sync => "template sync",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum TemplatesUpdate {
    List(Vec<TemplateItem>),
    /// A sync finished; what it did, in words.
    Synced(String),
}

/// One template as the pane shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateItem {
    pub id: i32,
    pub name: String,
    pub language: String,
    pub category: Option<String>,
    /// Meta's status in lower case (`draft` until submitted).
    pub status: String,
    pub rejection_reason: Option<String>,
    pub quality: Option<String>,
    /// Header, body, footer and buttons as written, placeholders unfilled.
    pub preview: Vec<String>,
    /// Each lint finding: field, what is wrong and the fix.
    pub lint: Vec<String>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct Templates {
    items: Vec<TemplateItem>,
    selected: usize,
    offset: Cell<usize>,
    reload: Reload,
    syncing: bool,
    problem: Option<String>,
    /// `/`: only templates whose name contains this.
    filter: Option<String>,
}

/// A status as a short badge and how it looks.
fn badge(status: &str, theme: Theme) -> (&'static str, Style) {
    match status {
        "approved" => ("APPROVED", theme.good()),
        "pending" | "in_appeal" | "pending_deletion" => ("PENDING", theme.warn()),
        "rejected" => ("REJECTED", theme.bad()),
        "paused" => ("PAUSED", theme.warn()),
        "disabled" => ("DISABLED", theme.bad()),
        "flagged" => ("FLAGGED", theme.warn()),
        "draft" => ("DRAFT", theme.dim()),
        _ => ("OTHER", theme.dim()),
    }
}

impl Templates {
    pub fn selected(&self) -> Option<&TemplateItem> {
        self.shown().get(self.selected).copied()
    }

    fn shown(&self) -> Vec<&TemplateItem> {
        self.items.iter().filter(|t| passes(self.filter.as_deref(), &[&t.name])).collect()
    }

    fn ask(&mut self, queue: &mut Queue) {
        if self.reload.ask() {
            queue.load(TemplatesRequest::List);
        }
    }

    fn draw_list(&self, frame: &mut Frame, area: Rect, env: &Env) {
        let theme = env.theme;
        let shown = self.shown();
        let title = filtered_title("Templates", shown.len(), self.filter.as_deref());
        let title = if self.syncing { format!("{title}· syncing… ") } else { title };
        let block = Block::default().borders(Borders::ALL).border_style(theme.focus_border(true)).title(title);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        if shown.is_empty() {
            let note = match &self.problem {
                Some(problem) => Line::styled(problem.clone(), theme.warn()),
                None if self.reload.loading() => Line::styled("loading…", theme.dim()),
                None if self.filter.is_some() => {
                    Line::styled("No template name contains this (Esc clears).", theme.dim())
                }
                None => Line::styled("No templates yet: s syncs them from Meta.", theme.dim()),
            };
            frame.render_widget(Paragraph::new(note).wrap(Wrap { trim: true }), inner);
            return;
        }
        let height = inner.height as usize;
        let offset = scroll_to(self.selected, self.offset.get(), height);
        self.offset.set(offset);
        let width = inner.width as usize;
        let lines: Vec<Line> = shown
            .into_iter()
            .enumerate()
            .skip(offset)
            .take(height)
            .map(|(i, t)| {
                let (label, style) = badge(&t.status, theme);
                let lint = if t.lint.is_empty() { "" } else { "!" };
                let right = vec![Span::styled(lint, theme.bad()), Span::styled(format!(" {label:<8}"), style)];
                let line = spread(vec![Span::raw(truncate(&t.name, width.saturating_sub(10)))], right, width);
                if i == self.selected { line.patch_style(theme.selected()) } else { line }
            })
            .collect();
        frame.render_widget(Paragraph::new(lines), inner);
    }

    fn draw_detail(&self, frame: &mut Frame, area: Rect, env: &Env) {
        let theme = env.theme;
        let Some(t) = self.selected() else {
            let block = Block::default().borders(Borders::ALL).border_style(theme.dim()).title(" Preview ");
            frame.render_widget(block, area);
            return;
        };
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.dim())
            .title(format!(" {} · {} ", t.name, t.language));
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let (label, style) = badge(&t.status, theme);
        let mut lines = vec![Line::from(vec![
            Span::styled(label, style.patch(theme.bold())),
            Span::styled(
                format!(
                    "  {} · quality {} · {}",
                    t.category.as_deref().unwrap_or("no category").to_lowercase(),
                    t.quality.as_deref().unwrap_or("–").to_lowercase(),
                    relative(t.updated_at, env.now, env.offset)
                ),
                theme.dim(),
            ),
        ])];
        if let Some(reason) = &t.rejection_reason {
            lines.push(Line::from(vec![Span::styled("Rejected: ", theme.bad()), Span::raw(reason.clone())]));
        }
        lines.push(Line::raw(""));
        lines.extend(t.preview.iter().map(|l| Line::raw(l.clone())));
        if !t.lint.is_empty() {
            lines.push(Line::raw(""));
            lines.push(Line::styled(format!("Lint: {} problem(s)", t.lint.len()), theme.bad()));
            lines.extend(t.lint.iter().map(|l| Line::styled(format!("• {l}"), theme.warn())));
        }
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
    }
}

impl Pane for Templates {
    fn keys(&self) -> Vec<KeyHint> {
        vec![
            hint("j/k ↑/↓", "next / previous template"),
            hint("g / G", "first / last"),
            hint("s", "sync with Meta (statuses, rejection reasons, new templates)"),
            hint("/", "show only templates whose name contains a text"),
            hint("Esc", "clear the filter"),
            hint("r", "reload the list"),
        ]
    }

    fn handle_key(&mut self, key: KeyEvent, _env: &Env, queue: &mut Queue) -> bool {
        let len = self.shown().len();
        match key.code {
            KeyCode::Char('j') | KeyCode::Down => self.selected = step(self.selected, 1, len),
            KeyCode::Char('k') | KeyCode::Up => self.selected = step(self.selected, -1, len),
            KeyCode::Char('g') | KeyCode::Home => self.selected = 0,
            KeyCode::Char('G') | KeyCode::End => self.selected = len.saturating_sub(1),
            KeyCode::Char('s') if !self.syncing => {
                self.syncing = true;
                queue.load(TemplatesRequest::Sync);
            }
            KeyCode::Char('r') => self.ask(queue),
            KeyCode::Esc if self.filter.is_some() => self.search("", queue),
            _ => return false,
        }
        true
    }

    fn apply(&mut self, update: &Update, _env: &Env, queue: &mut Queue) {
        match update {
            Update::Templates(TemplatesUpdate::List(items)) => {
                let keep = self.selected().map(|t| t.id);
                self.items = items.clone();
                self.problem = None;
                self.selected = keep.and_then(|id| self.shown().iter().position(|t| t.id == id)).unwrap_or(0);
                self.selected = step(self.selected, 0, self.shown().len());
                if self.reload.done() {
                    queue.load(TemplatesRequest::List);
                }
            }
            Update::Templates(TemplatesUpdate::Synced(summary)) => {
                self.syncing = false;
                queue.push(crate::intent::Intent::Notify(summary.clone()));
                self.ask(queue);
            }
            Update::Failed { what: "template list", message } => {
                self.problem = Some(message.clone());
                if self.reload.done() {
                    queue.load(TemplatesRequest::List);
                }
            }
            // The error itself goes to the status bar and the log (the app's).
            Update::Failed { what: "template sync", .. } => self.syncing = false,
            Update::Live(event) if self.reload.started() && event.kind == "template_status_changed" => self.ask(queue),
            _ => {}
        }
    }

    fn loaded(&self) -> bool {
        self.reload.started()
    }

    fn searches(&self) -> bool {
        true
    }

    fn search(&mut self, text: &str, _queue: &mut Queue) {
        self.filter = text::search_term(text);
        self.selected = 0;
    }

    fn load(&mut self, queue: &mut Queue) {
        self.ask(queue);
    }

    fn draw(&self, frame: &mut Frame, area: Rect, env: &Env) {
        let list_width = (area.width * 2 / 5).clamp(24.min(area.width), 44);
        let [list, detail] = Layout::horizontal([Constraint::Length(list_width), Constraint::Min(0)]).areas(area);
        self.draw_list(frame, list, env);
        self.draw_detail(frame, detail, env);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{ch, env, live, loads, template_items};
    use crate::intent::{Intent, Request};

    fn loaded() -> (Templates, Queue) {
        let mut pane = Templates::default();
        let mut queue = Queue::default();
        pane.activate(&mut queue);
        pane.apply(&Update::Templates(TemplatesUpdate::List(template_items())), &env(), &mut queue);
        queue.drain();
        (pane, queue)
    }

    #[test]
    fn s_syncs_once_and_the_result_reloads_the_list() {
        let (mut pane, mut queue) = loaded();
        pane.handle_key(ch('s'), &env(), &mut queue);
        pane.handle_key(ch('s'), &env(), &mut queue);
        assert_eq!(loads(&queue.drain()), vec![Request::Templates(TemplatesRequest::Sync)], "one sync at a time");
        pane.apply(&Update::Templates(TemplatesUpdate::Synced("synced: 1 updated".into())), &env(), &mut queue);
        let intents = queue.drain();
        assert!(intents.contains(&Intent::Notify("synced: 1 updated".into())));
        assert_eq!(loads(&intents), vec![Request::Templates(TemplatesRequest::List)]);
    }

    #[test]
    fn a_failed_sync_allows_another_and_never_clears_the_list() {
        let (mut pane, mut queue) = loaded();
        pane.handle_key(ch('s'), &env(), &mut queue);
        pane.apply(&Update::Failed { what: "template sync", message: "no WABA".into() }, &env(), &mut queue);
        assert_eq!(pane.items.len(), 4);
        queue.drain();
        pane.handle_key(ch('s'), &env(), &mut queue);
        assert_eq!(loads(&queue.drain()), vec![Request::Templates(TemplatesRequest::Sync)]);
    }

    #[test]
    fn a_status_webhook_reloads_and_keeps_the_selection() {
        let (mut pane, mut queue) = loaded();
        pane.handle_key(ch('j'), &env(), &mut queue);
        pane.apply(&live("template_status_changed", 1), &env(), &mut queue);
        assert_eq!(loads(&queue.drain()), vec![Request::Templates(TemplatesRequest::List)]);
        let mut items = template_items();
        items.reverse();
        pane.apply(&Update::Templates(TemplatesUpdate::List(items)), &env(), &mut queue);
        assert_eq!(pane.selected().map(|t| t.name.as_str()), Some("order_update"));
    }
}
