//! Enter/`l` on a row of a list/detail dashboard: the selected item's detail gets the whole pane, focused
//! and scrollable, and Esc (or `h`) backs out to the list. Keys it does not use go on to the pane, so its
//! actions (pause a campaign, sync templates) still work from here.

use std::cell::Cell;

use crossterm::event::KeyCode;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::panes::{KeyHint, hint};
use crate::theme::Theme;

/// What the detail view made of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetailKey {
    /// Scrolled (or a key that means nothing here, such as Enter again).
    Used,
    /// Back to the list.
    Back,
    /// Not the detail's: the pane may act on it.
    Passed,
}

/// Gives `key` to the open detail view, if any: it closes on Esc, or when no item is `selected` to show.
/// Returns whether the key was used.
pub fn detail_key(open: &mut Option<DetailView>, selected: bool, key: KeyCode) -> bool {
    if !selected {
        *open = None;
    }
    let Some(view) = open.as_mut() else { return false };
    match view.handle_key(key) {
        DetailKey::Used => true,
        DetailKey::Back => {
            *open = None;
            true
        }
        DetailKey::Passed => false,
    }
}

/// The first line shown, and (known after a draw) the last first line that still fills the view and the
/// view's height.
#[derive(Debug, Default)]
pub struct DetailView {
    top: usize,
    max_top: Cell<usize>,
    height: Cell<usize>,
}

impl DetailView {
    pub fn handle_key(&mut self, key: KeyCode) -> DetailKey {
        let page = self.height.get().saturating_sub(1).max(1);
        self.top = match key {
            KeyCode::Char('j') | KeyCode::Down => self.top + 1,
            KeyCode::Char('k') | KeyCode::Up => self.top.saturating_sub(1),
            KeyCode::PageDown | KeyCode::Char(' ') => self.top + page,
            KeyCode::PageUp => self.top.saturating_sub(page),
            KeyCode::Char('g') | KeyCode::Home => 0,
            KeyCode::Char('G') | KeyCode::End => self.max_top.get(),
            KeyCode::Enter | KeyCode::Char('l') | KeyCode::Right => self.top,
            KeyCode::Esc | KeyCode::Char('h') | KeyCode::Left => return DetailKey::Back,
            _ => return DetailKey::Passed,
        }
        .min(self.max_top.get());
        DetailKey::Used
    }

    pub fn keys() -> Vec<KeyHint> {
        vec![
            hint("j/k ↑/↓ PgUp/PgDn", "scroll the detail"),
            hint("g / G", "top / bottom"),
            hint("Esc h ←", "back to the list"),
        ]
    }

    /// `lines` wrapped to the pane in a focused box titled `title`; the bottom border says how much is
    /// above and below.
    pub fn draw(&self, frame: &mut Frame, area: Rect, title: String, lines: Vec<Line>, theme: Theme) {
        let paragraph = Paragraph::new(lines).wrap(Wrap { trim: false });
        let inner = Block::default().borders(Borders::ALL).inner(area);
        let total = paragraph.line_count(inner.width);
        let height = inner.height as usize;
        let max_top = total.saturating_sub(height);
        self.max_top.set(max_top);
        self.height.set(height);
        let top = self.top.min(max_top);
        let mut position = Vec::new();
        if top > 0 {
            position.push(format!("↑ {top} more"));
        }
        if max_top > top {
            position.push(format!("↓ {} more", max_top - top));
        }
        position.push("Esc back ".into());
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.focus_border(true))
            .title(title)
            .title_bottom(Line::styled(format!(" {}", position.join(" · ")), theme.dim()).right_aligned());
        frame.render_widget(paragraph.block(block).scroll((top as u16, 0)), area);
    }
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;

    fn screen(view: &DetailView, lines: usize) -> String {
        let mut terminal = Terminal::new(TestBackend::new(30, 6)).expect("terminal");
        let lines: Vec<Line> = (1..=lines).map(|i| Line::raw(format!("line {i}"))).collect();
        terminal.draw(|f| view.draw(f, f.area(), " Detail ".into(), lines, Theme { color: false })).expect("frame");
        terminal.backend().buffer().content().iter().map(|c| c.symbol()).collect()
    }

    #[test]
    fn it_scrolls_within_what_there_is_and_esc_backs_out() {
        let mut view = DetailView::default();
        assert!(screen(&view, 10).contains("↓ 6 more · Esc back"));
        assert_eq!(view.handle_key(KeyCode::Char('G')), DetailKey::Used);
        let bottom = screen(&view, 10);
        assert!(bottom.contains("line 10") && !bottom.contains("line 6 "), "{bottom}");
        assert!(bottom.contains("↑ 6 more · Esc back"));
        view.handle_key(KeyCode::PageDown);
        assert!(screen(&view, 10).contains("line 10"), "never beyond the end");
        view.handle_key(KeyCode::Char('g'));
        assert!(screen(&view, 10).contains("line 1 "));
        assert_eq!(view.handle_key(KeyCode::Char('p')), DetailKey::Passed);
        assert_eq!(view.handle_key(KeyCode::Esc), DetailKey::Back);
    }
}
