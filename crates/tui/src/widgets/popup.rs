//! Drawing helpers shared by popups and fields.

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::text;
use crate::theme::Theme;
use crate::widgets::input::TextInput;

/// A rectangle of at most `width`×`height` centred in `area`.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

/// Clears `area` and draws a titled, bordered box in it; returns the inside.
pub fn boxed(frame: &mut Frame, area: Rect, title: &str, theme: Theme) -> Rect {
    frame.render_widget(Clear, area);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.focus_border(true))
        .title(Span::styled(format!(" {title} "), theme.bold()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    inner
}

/// Draws a text input in `area`, scrolled so the cursor shows, and places the terminal cursor when
/// `focused`.
pub fn draw_input(frame: &mut Frame, area: Rect, input: &TextInput, focused: bool, prefix: &str) {
    if area.width == 0 || area.height == 0 {
        return;
    }
    let (row, col) = input.cursor();
    let first_row = row.saturating_sub(area.height as usize - 1);
    let prefix_w = text::width(prefix);
    let lines: Vec<Line> = input
        .lines()
        .iter()
        .enumerate()
        .skip(first_row)
        .take(area.height as usize)
        .map(|(i, l)| {
            let lead = if i == 0 { prefix.to_string() } else { " ".repeat(prefix_w) };
            Line::from(vec![Span::raw(lead), Span::raw(l.clone())])
        })
        .collect();
    let before_cursor: String = input.lines()[row].chars().take(col).collect();
    let cursor_x = prefix_w + text::width(&before_cursor);
    let scroll_x = cursor_x.saturating_sub(area.width as usize - 1);
    frame.render_widget(Paragraph::new(lines).scroll((0, scroll_x as u16)), area);
    if focused {
        frame.set_cursor_position(Position {
            x: area.x + (cursor_x - scroll_x) as u16,
            y: area.y + (row - first_row) as u16,
        });
    }
}
