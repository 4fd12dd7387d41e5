//! A few labelled one-line fields: Tab/↓ and Shift-Tab/↑ move between them, Enter moves on and submits
//! from the last one, Esc closes. Blank fields are refused with a message beside the form.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::popups::Outcome;
use crate::theme::Theme;
use crate::widgets::input::{Edit, TextInput};
use crate::widgets::popup::{boxed, centered, draw_input};

#[derive(Debug)]
pub struct Form {
    title: String,
    /// Lines above the fields (what is being filled in, and how).
    intro: Vec<String>,
    labels: Vec<String>,
    fields: Vec<TextInput>,
    focus: usize,
    error: Option<String>,
}

impl Form {
    pub fn new(title: impl Into<String>, intro: Vec<String>, labels: Vec<String>) -> Form {
        let fields = labels.iter().map(|_| TextInput::single()).collect();
        Form { title: title.into(), intro, labels, fields, focus: 0, error: None }
    }

    /// Fills the fields from the start (values for fields that do not exist are dropped).
    pub fn with_values(mut self, values: &[String]) -> Form {
        for (field, value) in self.fields.iter_mut().zip(values) {
            field.set_text(value);
        }
        self
    }

    pub fn values(&self) -> Vec<String> {
        self.fields.iter().map(|f| f.text().trim().to_string()).collect()
    }

    /// Shows a refusal (e.g. core's message) and keeps the form open.
    pub fn refuse(&mut self, message: impl Into<String>) {
        self.error = Some(message.into());
    }

    pub fn handle_key(&mut self, key: KeyEvent) -> Outcome<Vec<String>> {
        let last = self.fields.len().saturating_sub(1);
        match key.code {
            KeyCode::Tab | KeyCode::Down => self.focus = (self.focus + 1).min(last),
            KeyCode::BackTab | KeyCode::Up => self.focus = self.focus.saturating_sub(1),
            KeyCode::Esc => return Outcome::Cancelled,
            KeyCode::Enter if self.focus < last => self.focus += 1,
            KeyCode::Enter => {
                let values = self.values();
                match values.iter().position(String::is_empty) {
                    Some(blank) => {
                        self.focus = blank;
                        self.error = Some(format!("{} is empty", self.labels[blank]));
                    }
                    None => return Outcome::Done(values),
                }
            }
            _ => {
                if let Some(field) = self.fields.get_mut(self.focus)
                    && field.handle_key(key) == Edit::Changed
                {
                    self.error = None;
                }
            }
        }
        Outcome::Open
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        let label_width = self.labels.iter().map(|l| l.chars().count()).max().unwrap_or(0) + 2;
        let height = (self.intro.len() + self.fields.len() + 4) as u16;
        let inner = boxed(frame, centered(area, 72, height), &self.title, theme);
        let mut lines: Vec<Line> = self.intro.iter().map(|t| Line::styled(t.clone(), theme.dim())).collect();
        let fields_y = inner.y + lines.len() as u16;
        lines.extend(self.labels.iter().map(|l| Line::styled(format!("{l:>w$} ", w = label_width - 1), theme.bold())));
        lines.push(Line::raw(""));
        lines.push(match &self.error {
            Some(error) => Line::styled(error.clone(), theme.bad()),
            None => Line::from(Span::styled("Tab next field · Enter on the last: continue · Esc back", theme.dim())),
        });
        frame.render_widget(Paragraph::new(lines), inner);
        for (i, field) in self.fields.iter().enumerate() {
            let row = fields_y + i as u16;
            if row >= inner.y + inner.height {
                break;
            }
            let area = Rect {
                x: inner.x + label_width as u16,
                y: row,
                width: inner.width.saturating_sub(label_width as u16),
                height: 1,
            };
            draw_input(frame, area, field, i == self.focus, "");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{ch, key};

    #[test]
    fn enter_moves_on_and_blank_fields_are_refused() {
        let mut form = Form::new("F", Vec::new(), vec!["One".into(), "Two".into()]);
        assert_eq!(form.handle_key(ch('a')), Outcome::Open);
        assert_eq!(form.handle_key(key(KeyCode::Enter)), Outcome::Open, "moves to the second field");
        assert_eq!(form.handle_key(key(KeyCode::Enter)), Outcome::Open, "the second is blank");
        assert_eq!(form.error.as_deref(), Some("Two is empty"));
        assert_eq!(form.handle_key(ch('q')), Outcome::Open, "q is typed, not a quit");
        assert_eq!(form.handle_key(key(KeyCode::Enter)), Outcome::Done(vec!["a".into(), "q".into()]));
    }
}
