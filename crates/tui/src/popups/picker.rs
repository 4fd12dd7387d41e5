//! A list to choose one entry from: j/k or arrows move, Enter picks, 1–9 pick directly, Esc closes.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::panes::step;
use crate::popups::Outcome;
use crate::text::truncate;
use crate::theme::Theme;
use crate::widgets::popup::{boxed, centered};

/// One entry: a name and a dimmer detail beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub label: String,
    pub detail: String,
}

impl Item {
    pub fn new(label: impl Into<String>, detail: impl Into<String>) -> Item {
        Item { label: label.into(), detail: detail.into() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picker {
    title: String,
    items: Vec<Item>,
    selected: usize,
    /// Shown while there are no items (loading, or nothing to choose).
    empty: Vec<String>,
    /// Whether 1–9 pick the entry of that number (and entries are numbered).
    numbered: bool,
}

impl Picker {
    pub fn new(title: impl Into<String>, items: Vec<Item>) -> Picker {
        Picker { title: title.into(), items, selected: 0, empty: vec!["loading…".into()], numbered: false }
    }

    /// Entries are numbered and a digit picks its entry at once.
    pub fn numbered(mut self) -> Picker {
        self.numbered = true;
        self
    }

    pub fn selecting(mut self, index: usize) -> Picker {
        self.selected = step(index, 0, self.items.len());
        self
    }

    /// Items that arrived later (from the database); `empty` explains an empty list.
    pub fn set_items(&mut self, items: Vec<Item>, empty: &[&str]) {
        self.items = items;
        self.selected = step(self.selected, 0, self.items.len());
        self.empty = empty.iter().map(|s| s.to_string()).collect();
    }

    pub fn selected(&self) -> usize {
        self.selected
    }

    pub fn handle_key(&mut self, key: KeyEvent) -> Outcome<usize> {
        match key.code {
            KeyCode::Char('j') | KeyCode::Down | KeyCode::Tab => {
                self.selected = step(self.selected, 1, self.items.len())
            }
            KeyCode::Char('k') | KeyCode::Up | KeyCode::BackTab => {
                self.selected = step(self.selected, -1, self.items.len());
            }
            KeyCode::Char('g') | KeyCode::Home => self.selected = 0,
            KeyCode::Char('G') | KeyCode::End => self.selected = self.items.len().saturating_sub(1),
            KeyCode::Char(c @ '1'..='9') if self.numbered => {
                let index = c as usize - '1' as usize;
                if index < self.items.len() {
                    self.selected = index;
                    return Outcome::Done(index);
                }
            }
            KeyCode::Enter | KeyCode::Char('l') if !self.items.is_empty() => return Outcome::Done(self.selected),
            KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('h') => return Outcome::Cancelled,
            _ => {}
        }
        Outcome::Open
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        let widest = self.items.iter().map(|i| i.label.chars().count() + i.detail.chars().count() + 6).max();
        let width = widest.unwrap_or(30).clamp(30, 72) as u16;
        let height = (self.items.len().max(self.empty.len()) as u16 + 2).clamp(4, 16);
        let inner = boxed(frame, centered(area, width, height), &self.title, theme);
        if self.items.is_empty() {
            let lines: Vec<Line> = self.empty.iter().map(|l| Line::styled(l.clone(), theme.dim())).collect();
            frame.render_widget(Paragraph::new(lines), inner);
            return;
        }
        let visible = inner.height as usize;
        let offset = crate::panes::scroll_to(self.selected, 0, visible);
        let lines: Vec<Line> = self
            .items
            .iter()
            .enumerate()
            .skip(offset)
            .take(visible)
            .map(|(i, item)| {
                let number = if self.numbered { format!("{} ", i + 1) } else { String::new() };
                let label = format!("{number}{}", item.label);
                let room = (inner.width as usize).saturating_sub(label.chars().count() + 2);
                let line = Line::from(vec![
                    Span::styled(label, theme.bold()),
                    Span::raw("  "),
                    Span::styled(truncate(&item.detail, room), theme.dim()),
                ]);
                if i == self.selected { line.patch_style(theme.selected()) } else { line }
            })
            .collect();
        frame.render_widget(Paragraph::new(lines), inner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{ch, key};

    fn three() -> Picker {
        Picker::new("Pick", vec![Item::new("a", ""), Item::new("b", ""), Item::new("c", "")])
    }

    #[test]
    fn moves_picks_and_swallows_other_keys() {
        let mut picker = three();
        assert_eq!(picker.handle_key(ch('j')), Outcome::Open);
        assert_eq!(picker.handle_key(ch('x')), Outcome::Open);
        assert_eq!(picker.handle_key(ch('2')), Outcome::Open, "digits pick only in a numbered picker");
        assert_eq!(picker.handle_key(key(KeyCode::Enter)), Outcome::Done(1));
        assert_eq!(three().numbered().handle_key(ch('3')), Outcome::Done(2));
        assert_eq!(three().handle_key(key(KeyCode::Esc)), Outcome::Cancelled);
    }

    #[test]
    fn enter_on_an_empty_list_picks_nothing() {
        let mut picker = Picker::new("Pick", Vec::new());
        assert_eq!(picker.handle_key(key(KeyCode::Enter)), Outcome::Open);
    }
}
