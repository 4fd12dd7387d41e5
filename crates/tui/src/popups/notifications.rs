//! `N`: the acting user's in-app notifications (`core::notifications`), newest first; `r` marks them
//! all read. New ones also show in the status bar and the log as they arrive.

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::panes::{Env, scroll_to, step};
use crate::popups::Outcome;
use crate::text::{relative, truncate};
use crate::widgets::popup::{boxed, centered};

/// What the notification list asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationsRequest {
    List,
    MarkAllRead,
}

impl NotificationsRequest {
    pub fn what(&self) -> &'static str {
        "notifications"
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum NotificationsUpdate {
    List(Vec<NotificationRow>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct NotificationRow {
    pub id: i64,
    pub source: String,
    pub title: String,
    pub body: String,
    pub at: DateTime<Utc>,
    pub read: bool,
}

/// Notifications listed at most.
pub const LIMIT: i64 = 100;

#[derive(Debug, Default)]
pub struct NotificationList {
    rows: Option<Vec<NotificationRow>>,
    selected: usize,
    offset: std::cell::Cell<usize>,
}

/// What the list asks its owner to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListAction {
    MarkAllRead,
}

impl NotificationList {
    pub fn set(&mut self, rows: Vec<NotificationRow>) {
        self.selected = step(self.selected, 0, rows.len());
        self.rows = Some(rows);
    }

    pub fn handle_key(&mut self, key: KeyEvent) -> Outcome<ListAction> {
        let len = self.rows.as_ref().map_or(0, Vec::len);
        match key.code {
            KeyCode::Esc | KeyCode::Char('q' | 'N') => return Outcome::Cancelled,
            KeyCode::Char('j') | KeyCode::Down => self.selected = step(self.selected, 1, len),
            KeyCode::Char('k') | KeyCode::Up => self.selected = step(self.selected, -1, len),
            KeyCode::Char('r') => return Outcome::Done(ListAction::MarkAllRead),
            _ => {}
        }
        Outcome::Open
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, env: &Env) {
        let theme = env.theme;
        // Room for the list, the selected one's body and the frame.
        let height = self.rows.as_ref().map_or(3, |r| r.len() + 3).clamp(3, 20) as u16;
        let popup = centered(area, 90, height);
        let inner = boxed(frame, popup, "Notifications · j/k · r mark all read · Esc close", theme);
        let Some(rows) = &self.rows else {
            frame.render_widget(Paragraph::new(Span::styled("loading…", theme.dim())), inner);
            return;
        };
        if rows.is_empty() {
            frame.render_widget(Paragraph::new(Span::styled("No notifications.", theme.dim())), inner);
            return;
        }
        // The selected notification's body shows under it.
        let height = (inner.height as usize).saturating_sub(2);
        let offset = scroll_to(self.selected, self.offset.get(), height);
        self.offset.set(offset);
        let width = inner.width as usize;
        let mut lines = Vec::new();
        for (i, n) in rows.iter().enumerate().skip(offset).take(height) {
            let mark = if n.read { Span::raw("  ") } else { Span::styled("● ", theme.accent()) };
            let when = format!("{:>6}  ", relative(n.at, env.now, env.offset));
            let text = truncate(&format!("{} · {}", n.title, n.source), width.saturating_sub(10));
            let style = if n.read { theme.dim() } else { theme.bold() };
            let mut line = Line::from(vec![mark, Span::styled(when, theme.dim()), Span::styled(text, style)]);
            if i == self.selected {
                line = line.patch_style(theme.selected());
                lines.push(line);
                if !n.body.is_empty() {
                    lines.push(Line::raw(truncate(&format!("          {}", n.body), width)));
                }
                continue;
            }
            lines.push(line);
        }
        frame.render_widget(Paragraph::new(lines), inner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{ch, key};

    #[test]
    fn r_marks_all_read_and_esc_closes() {
        let mut list = NotificationList::default();
        assert_eq!(list.handle_key(ch('2')), Outcome::Open, "digits are swallowed");
        assert_eq!(list.handle_key(ch('r')), Outcome::Done(ListAction::MarkAllRead));
        assert_eq!(list.handle_key(key(KeyCode::Esc)), Outcome::Cancelled);
    }
}
