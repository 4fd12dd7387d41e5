//! `?`: the keys of the current pane (in its current mode), then the keys that work everywhere, then the
//! keys remapped in the config file.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::panes::KeyHint;
use crate::theme::Theme;
use crate::widgets::popup::{boxed, centered};

pub fn draw(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    keys: &[KeyHint],
    global: &[KeyHint],
    remaps: &[(String, String)],
    theme: Theme,
) {
    let extra = if remaps.is_empty() { 0 } else { remaps.len() + 2 };
    let height = (keys.len() + global.len() + 5 + extra) as u16;
    let widest = keys.iter().chain(global).map(|k| k.does.chars().count()).max().unwrap_or(0);
    let popup = centered(area, (widest + 26) as u16, height);
    let inner = boxed(frame, popup, &format!("Keys · {title}"), theme);
    let line =
        |k: &KeyHint| Line::from(vec![Span::styled(format!("{:>20}  ", k.keys), theme.bold()), Span::raw(k.does)]);
    let mut lines: Vec<Line> = keys.iter().map(line).collect();
    if keys.is_empty() {
        lines.push(Line::styled("This dashboard has no keys of its own yet.", theme.dim()));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("Everywhere", theme.dim()));
    lines.extend(global.iter().map(line));
    if !remaps.is_empty() {
        lines.push(Line::raw(""));
        lines.push(Line::styled("Remapped in the config file (keys)", theme.dim()));
        lines.extend(remaps.iter().map(|(from, to)| {
            Line::from(vec![Span::styled(format!("{from:>20}  "), theme.bold()), Span::raw(format!("acts as {to}"))])
        }));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
