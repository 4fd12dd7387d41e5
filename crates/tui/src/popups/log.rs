//! `L`: every notice and error of this session, newest last — the status bar shows only the latest,
//! cut to its width.

use std::collections::VecDeque;

use chrono::{DateTime, FixedOffset, Utc};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::popups::Outcome;
use crate::theme::Theme;
use crate::widgets::popup::{boxed, centered};

/// Older entries are dropped past this many.
const KEEP: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub at: DateTime<Utc>,
    pub text: String,
    pub error: bool,
}

#[derive(Debug, Default)]
pub struct Log {
    entries: VecDeque<Entry>,
}

impl Log {
    pub fn push(&mut self, at: DateTime<Utc>, text: impl Into<String>, error: bool) {
        if self.entries.len() == KEEP {
            self.entries.pop_front();
        }
        self.entries.push_back(Entry { at, text: text.into(), error });
    }

    pub fn entries(&self) -> impl DoubleEndedIterator<Item = &Entry> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The open log: how many entries it is scrolled back from the newest.
#[derive(Debug, Default)]
pub struct LogView {
    back: usize,
}

impl LogView {
    pub fn handle_key(&mut self, key: KeyEvent, len: usize) -> Outcome<()> {
        let last = len.saturating_sub(1);
        match key.code {
            KeyCode::Char('k') | KeyCode::Up => self.back = (self.back + 1).min(last),
            KeyCode::Char('j') | KeyCode::Down => self.back = self.back.saturating_sub(1),
            KeyCode::PageUp => self.back = (self.back + 10).min(last),
            KeyCode::PageDown => self.back = self.back.saturating_sub(10),
            KeyCode::Char('G') | KeyCode::End => self.back = 0,
            KeyCode::Esc | KeyCode::Char('q' | 'L') | KeyCode::Enter => return Outcome::Cancelled,
            _ => {}
        }
        Outcome::Open
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, log: &Log, offset: FixedOffset, theme: Theme) {
        let popup = centered(area, area.width.saturating_sub(4).max(20), area.height.saturating_sub(2).max(5));
        let inner = boxed(frame, popup, "Messages · j/k scroll · Esc close", theme);
        if log.is_empty() {
            frame.render_widget(Paragraph::new(Span::styled("Nothing yet.", theme.dim())), inner);
            return;
        }
        let shown: Vec<Line> = log
            .entries()
            .rev()
            .skip(self.back)
            .take(inner.height as usize)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .map(|e| {
                let time = e.at.with_timezone(&offset).format("%H:%M:%S").to_string();
                let style = if e.error { theme.bad() } else { ratatui::style::Style::new() };
                Line::from(vec![Span::styled(format!("{time}  "), theme.dim()), Span::styled(e.text.clone(), style)])
            })
            .collect();
        frame.render_widget(Paragraph::new(shown).wrap(Wrap { trim: false }), inner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::now;

    #[test]
    fn keeps_the_newest_entries() {
        let mut log = Log::default();
        for i in 0..KEEP + 3 {
            log.push(now(), format!("n{i}"), false);
        }
        assert_eq!(log.len(), KEEP);
        assert_eq!(log.entries().next().map(|e| e.text.as_str()), Some("n3"));
    }
}
