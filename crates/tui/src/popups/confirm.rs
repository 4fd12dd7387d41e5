//! A question that needs an explicit `y`: Enter does not confirm, so a key typed for somewhere else
//! (the end of a message) never agrees to anything.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::popups::Outcome;
use crate::theme::Theme;
use crate::widgets::popup::{boxed, centered};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    title: String,
    lines: Vec<String>,
    /// What `y` does, e.g. "take it over".
    yes: String,
}

impl Confirm {
    pub fn new(title: impl Into<String>, lines: Vec<String>, yes: impl Into<String>) -> Confirm {
        Confirm { title: title.into(), lines, yes: yes.into() }
    }

    pub fn handle_key(&mut self, key: KeyEvent) -> Outcome<()> {
        match key.code {
            KeyCode::Char('y' | 'Y') => Outcome::Done(()),
            KeyCode::Char('n' | 'N') | KeyCode::Esc => Outcome::Cancelled,
            _ => Outcome::Open,
        }
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        let width = self.lines.iter().map(|l| l.chars().count()).max().unwrap_or(0).clamp(36, 70) as u16 + 4;
        let height = self.lines.len() as u16 + 4;
        let inner = boxed(frame, centered(area, width, height), &self.title, theme);
        let mut lines: Vec<Line> = self.lines.iter().map(|l| Line::raw(l.clone())).collect();
        lines.push(Line::raw(""));
        lines.push(Line::from(vec![
            Span::styled("y", theme.bold()),
            Span::raw(format!(" {}   ", self.yes)),
            Span::styled("n Esc", theme.bold()),
            Span::raw(" cancel"),
        ]));
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{ch, key};

    #[test]
    fn only_y_confirms() {
        let mut confirm = Confirm::new("Sure?", vec!["really".into()], "do it");
        assert_eq!(confirm.handle_key(key(KeyCode::Enter)), Outcome::Open);
        assert_eq!(confirm.handle_key(ch('1')), Outcome::Open);
        assert_eq!(confirm.handle_key(ch('y')), Outcome::Done(()));
        assert_eq!(confirm.handle_key(key(KeyCode::Esc)), Outcome::Cancelled);
    }
}
