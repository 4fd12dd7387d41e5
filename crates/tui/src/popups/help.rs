//! `?`: the keys of the current pane (in its current mode), then the keys that work everywhere, then the
//! keys remapped in the config file. On a terminal too short for all of them (80×24 shows about 20 lines)
//! the list scrolls, and the last line says what is left above and below.

use std::cell::Cell;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::panes::KeyHint;
use crate::popups::Outcome;
use crate::theme::Theme;
use crate::widgets::popup::{boxed, centered};

/// What `?` shows: the pane's title and keys, the global keys, the remapped ones.
pub struct HelpContent<'a> {
    pub title: &'a str,
    pub keys: &'a [KeyHint],
    pub global: &'a [KeyHint],
    pub remaps: &'a [(String, String)],
}

/// The open help: the first line shown, and (known after a draw) the last first line that still fills
/// the box.
#[derive(Debug, Default)]
pub struct HelpView {
    top: usize,
    max_top: Cell<usize>,
}

impl HelpView {
    pub fn handle_key(&mut self, key: KeyEvent) -> Outcome<()> {
        let max = self.max_top.get();
        let page = 10;
        self.top = match key.code {
            KeyCode::Char('j') | KeyCode::Down => self.top + 1,
            KeyCode::Char('k') | KeyCode::Up => self.top.saturating_sub(1),
            KeyCode::PageDown | KeyCode::Char(' ') => self.top + page,
            KeyCode::PageUp => self.top.saturating_sub(page),
            KeyCode::Char('g') | KeyCode::Home => 0,
            KeyCode::Char('G') | KeyCode::End => max,
            KeyCode::Esc | KeyCode::Char('?' | 'q') | KeyCode::Enter => return Outcome::Cancelled,
            _ => self.top,
        }
        .min(max);
        Outcome::Open
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, content: &HelpContent, theme: Theme) {
        let lines = lines(content, theme);
        let widest = content.keys.iter().chain(content.global).map(|k| k.does.chars().count()).max().unwrap_or(0);
        // Borders and a blank row below the list.
        let popup = centered(area, (widest + 26) as u16, lines.len() as u16 + 3);
        let inner = boxed(frame, popup, &format!("Keys · {}", content.title), theme);
        let height = inner.height as usize;
        if lines.len() <= height {
            self.max_top.set(0);
            frame.render_widget(Paragraph::new(lines), inner);
            return;
        }
        // The last row tells where the view is; the rows above it show the list.
        let rows = height.saturating_sub(1);
        let max_top = lines.len() - rows;
        self.max_top.set(max_top);
        let top = self.top.min(max_top);
        let mut shown: Vec<Line> = lines.into_iter().skip(top).take(rows).collect();
        let above = if top > 0 { format!("↑ {top} more") } else { String::new() };
        let below = max_top - top;
        let below = if below > 0 { format!("↓ {below} more") } else { String::new() };
        let gap = if above.is_empty() || below.is_empty() { "" } else { " · " };
        shown.push(Line::styled(format!("{above}{gap}{below}  (j/k PgUp/PgDn scroll, Esc closes)"), theme.dim()));
        frame.render_widget(Paragraph::new(shown), inner);
    }
}

fn lines<'a>(content: &HelpContent<'a>, theme: Theme) -> Vec<Line<'a>> {
    let line =
        |k: &KeyHint| Line::from(vec![Span::styled(format!("{:>20}  ", k.keys), theme.bold()), Span::raw(k.does)]);
    let mut lines: Vec<Line> = content.keys.iter().map(line).collect();
    if content.keys.is_empty() {
        lines.push(Line::styled("This dashboard has no keys of its own yet.", theme.dim()));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("Everywhere", theme.dim()));
    lines.extend(content.global.iter().map(line));
    if !content.remaps.is_empty() {
        lines.push(Line::raw(""));
        lines.push(Line::styled("Remapped in the config file (keys)", theme.dim()));
        lines.extend(content.remaps.iter().map(|(from, to)| {
            Line::from(vec![Span::styled(format!("{from:>20}  "), theme.bold()), Span::raw(format!("acts as {to}"))])
        }));
    }
    lines
}
