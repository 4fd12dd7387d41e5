//! 6 Templates: the business's message templates with Meta's review status, the selected one's
//! preview, its rejection reason and its lint findings inline; `s` syncs with Meta.

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::intent::{Queue, Update};
use crate::panes::reload::Reload;
use crate::panes::{Env, KeyHint, Pane, hint, passes};
use crate::text::{relative, spread, truncate};
use crate::theme::Theme;
use crate::widgets::detail::{DetailView, detail_key};
use crate::widgets::listing::{Listed, Listing, Look};

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

impl Listed for TemplateItem {
    type Id = i32;

    fn id(&self) -> i32 {
        self.id
    }

    fn passes(&self, filter: Option<&str>) -> bool {
        passes(filter, &[&self.name])
    }
}

#[derive(Debug, Default)]
pub struct Templates {
    list: Listing<TemplateItem>,
    reload: Reload,
    syncing: bool,
    /// Enter/`l`: the selected template's detail has the whole pane.
    open: Option<DetailView>,
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
        self.list.selected()
    }

    fn ask(&mut self, queue: &mut Queue) {
        if self.reload.ask() {
            queue.load(TemplatesRequest::List);
        }
    }

    fn draw_list(&self, frame: &mut Frame, area: Rect, env: &Env) {
        let theme = env.theme;
        let title = self.list.title("Templates");
        let title = if self.syncing { format!("{title}· syncing… ") } else { title };
        let look = Look {
            title,
            row_lines: 1,
            loading: self.reload.loading(),
            none_match: "No template name contains this (Esc clears).",
            none_yet: "No templates yet: s syncs them from Meta.",
        };
        self.list.draw(frame, area, theme, look, |frame, row, t, selected| {
            let width = row.width as usize;
            let (label, style) = badge(&t.status, theme);
            let lint = if t.lint.is_empty() { "" } else { "!" };
            let right = vec![Span::styled(lint, theme.bad()), Span::styled(format!(" {label:<8}"), style)];
            let line = spread(vec![Span::raw(truncate(&t.name, width.saturating_sub(10)))], right, width);
            let line = if selected { line.patch_style(theme.selected()) } else { line };
            frame.render_widget(Paragraph::new(line), row);
        });
    }

    /// The template's status, category, quality, rejection reason, preview and lint findings.
    fn detail_lines(t: &TemplateItem, env: &Env) -> Vec<Line<'static>> {
        let theme = env.theme;
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
        lines
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
        frame.render_widget(Paragraph::new(Templates::detail_lines(t, env)).wrap(Wrap { trim: false }), inner);
    }
}

impl Pane for Templates {
    fn keys(&self) -> Vec<KeyHint> {
        let mut keys = if self.open.is_some() {
            DetailView::keys()
        } else {
            vec![
                hint("j/k ↑/↓", "next / previous template"),
                hint("g / G", "first / last"),
                hint("Enter l", "open the template: preview, rejection reason, lint findings"),
            ]
        };
        keys.extend([
            hint("s", "sync with Meta (statuses, rejection reasons, new templates)"),
            hint("/", "show only templates whose name contains a text"),
            hint("Esc", "clear the filter"),
            hint("r", "reload the list"),
        ]);
        keys
    }

    fn handle_key(&mut self, key: KeyEvent, _env: &Env, queue: &mut Queue) -> bool {
        let selected = self.selected().is_some();
        if detail_key(&mut self.open, selected, key.code) {
            return true;
        }
        if self.list.navigate(key.code) {
            return true;
        }
        match key.code {
            KeyCode::Enter | KeyCode::Char('l') if self.selected().is_some() => self.open = Some(DetailView::default()),
            KeyCode::Char('s') if !self.syncing => {
                self.syncing = true;
                queue.load(TemplatesRequest::Sync);
            }
            KeyCode::Char('r') => self.ask(queue),
            KeyCode::Esc if self.list.filter().is_some() => self.search("", queue),
            _ => return false,
        }
        true
    }

    fn apply(&mut self, update: &Update, _env: &Env, queue: &mut Queue) {
        match update {
            Update::Templates(TemplatesUpdate::List(items)) => {
                self.list.replace(items.clone());
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
                self.list.set_problem(message.clone());
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
        self.list.filter_by(text);
    }

    fn load(&mut self, queue: &mut Queue) {
        self.ask(queue);
    }

    fn draw(&self, frame: &mut Frame, area: Rect, env: &Env) {
        if let (Some(view), Some(t)) = (&self.open, self.selected()) {
            let title = format!(" {} · {} ", t.name, t.language);
            return view.draw(frame, area, title, Templates::detail_lines(t, env), env.theme);
        }
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
        assert_eq!(pane.list.rows().len(), 4);
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
