//! The list half of the list/detail dashboards (Automation, Broadcast, Templates): the rows core sent,
//! the `/` filter over them, a selection that follows its row across reloads, and the drawing of the rows
//! in view with what to say when none shows.

use std::cell::Cell;

use crossterm::event::KeyCode;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::panes::{filtered_title, scroll_to, step};
use crate::text;
use crate::theme::Theme;

/// A row of a [`Listing`]: how it is told apart across reloads and what `/` matches.
pub trait Listed {
    type Id: PartialEq + Copy;

    fn id(&self) -> Self::Id;

    /// Whether the row passes the `/` filter (`None`: no filter).
    fn passes(&self, filter: Option<&str>) -> bool;
}

/// How a pane frames its list: the border's title, the lines a row takes, and what the list says when it
/// is empty and no load problem explains why.
#[derive(Debug, Clone)]
pub struct Look {
    pub title: String,
    pub row_lines: u16,
    /// Its rows are on their way: "loading…".
    pub loading: bool,
    /// The filter hides every row.
    pub none_match: &'static str,
    /// There are no rows at all: how to make one.
    pub none_yet: &'static str,
}

#[derive(Debug)]
pub struct Listing<T> {
    rows: Vec<T>,
    selected: usize,
    offset: Cell<usize>,
    filter: Option<String>,
    /// Why the rows could not be loaded (shown while there are none).
    problem: Option<String>,
}

impl<T> Default for Listing<T> {
    fn default() -> Listing<T> {
        Listing { rows: Vec::new(), selected: 0, offset: Cell::new(0), filter: None, problem: None }
    }
}

impl<T: Listed> Listing<T> {
    pub fn rows(&self) -> &[T] {
        &self.rows
    }

    /// The rows that pass the filter, in order.
    pub fn shown(&self) -> Vec<&T> {
        self.rows.iter().filter(|r| r.passes(self.filter.as_deref())).collect()
    }

    pub fn selected(&self) -> Option<&T> {
        self.shown().get(self.selected).copied()
    }

    pub fn filter(&self) -> Option<&str> {
        self.filter.as_deref()
    }

    /// Rows from core: the selected row stays selected while it is still shown.
    pub fn replace(&mut self, rows: Vec<T>) {
        let keep = self.selected().map(Listed::id);
        self.rows = rows;
        self.problem = None;
        self.selected = keep.and_then(|id| self.shown().iter().position(|r| r.id() == id)).unwrap_or(0);
        self.selected = step(self.selected, 0, self.shown().len());
    }

    pub fn set_problem(&mut self, message: String) {
        self.problem = Some(message);
    }

    /// `/` with `text` (blank clears the filter); the selection goes to the first row.
    pub fn filter_by(&mut self, text: &str) {
        self.filter = text::search_term(text);
        self.selected = 0;
    }

    /// j/k, arrows, g/G, Home/End; returns whether the key was one of them.
    pub fn navigate(&mut self, key: KeyCode) -> bool {
        let len = self.shown().len();
        self.selected = match key {
            KeyCode::Char('j') | KeyCode::Down => step(self.selected, 1, len),
            KeyCode::Char('k') | KeyCode::Up => step(self.selected, -1, len),
            KeyCode::Char('g') | KeyCode::Home => 0,
            KeyCode::Char('G') | KeyCode::End => len.saturating_sub(1),
            _ => return false,
        };
        true
    }

    /// `name (shown)` with the filter, for the list's border.
    pub fn title(&self, name: &str) -> String {
        filtered_title(name, self.shown().len(), self.filter.as_deref())
    }

    /// The focused list in a bordered box: each row in view is drawn by `draw_row` (told whether it is the
    /// selected one).
    pub fn draw(
        &self,
        frame: &mut Frame,
        area: Rect,
        theme: Theme,
        look: Look,
        draw_row: impl Fn(&mut Frame, Rect, &T, bool),
    ) {
        let block = Block::default().borders(Borders::ALL).border_style(theme.focus_border(true)).title(look.title);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let shown = self.shown();
        if shown.is_empty() {
            let note = match &self.problem {
                Some(problem) => Line::styled(problem.clone(), theme.warn()),
                None if look.loading => Line::styled("loading…", theme.dim()),
                None if self.filter.is_some() => Line::styled(look.none_match, theme.dim()),
                None => Line::styled(look.none_yet, theme.dim()),
            };
            frame.render_widget(Paragraph::new(note).wrap(Wrap { trim: true }), inner);
            return;
        }
        let row_lines = look.row_lines.max(1);
        let visible = (inner.height / row_lines) as usize;
        let offset = scroll_to(self.selected, self.offset.get(), visible);
        self.offset.set(offset);
        for (row, (i, item)) in shown.into_iter().enumerate().skip(offset).take(visible).enumerate() {
            let y = inner.y + row as u16 * row_lines;
            draw_row(frame, Rect { y, height: row_lines, ..inner }, item, i == self.selected);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::panes::passes;

    #[derive(Debug)]
    struct Fruit(u8, &'static str);

    impl Listed for Fruit {
        type Id = u8;

        fn id(&self) -> u8 {
            self.0
        }

        fn passes(&self, filter: Option<&str>) -> bool {
            passes(filter, &[self.1])
        }
    }

    fn fruit() -> Listing<Fruit> {
        let mut listing = Listing::default();
        listing.replace(vec![Fruit(1, "apple"), Fruit(2, "banana"), Fruit(3, "cherry")]);
        listing
    }

    #[test]
    fn the_selection_follows_its_row_across_reloads_and_filters() {
        let mut listing = fruit();
        assert!(listing.navigate(KeyCode::Char('j')));
        listing.replace(vec![Fruit(3, "cherry"), Fruit(2, "banana")]);
        assert_eq!(listing.selected().map(|f| f.0), Some(2));
        listing.replace(vec![Fruit(3, "cherry")]);
        assert_eq!(listing.selected().map(|f| f.0), Some(3), "a vanished row leaves the first selected");
        listing.replace(vec![Fruit(1, "apple"), Fruit(2, "banana"), Fruit(3, "cherry")]);
        listing.filter_by("an");
        assert_eq!(listing.title("Fruit"), " Fruit (1) · /an · Esc clears ");
        assert_eq!(listing.selected().map(|f| f.0), Some(2));
        listing.filter_by("  ");
        assert_eq!(listing.filter(), None);
        assert!(listing.navigate(KeyCode::End));
        assert_eq!(listing.selected().map(|f| f.0), Some(3));
        assert!(!listing.navigate(KeyCode::Char('x')));
    }
}
