//! `:`: the command palette. Typing filters the commands (a match anywhere in the name), ↑/↓ choose,
//! Enter runs the highlighted one with the rest of the line as its argument.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::panes::{PaletteCommand, step};
use crate::popups::Outcome;
use crate::text::truncate;
use crate::theme::Theme;
use crate::widgets::input::{Edit, TextInput};
use crate::widgets::popup::{boxed, centered, draw_input};

#[derive(Debug)]
pub struct Palette {
    input: TextInput,
    selected: usize,
}

/// What was typed and which match was highlighted when Enter was pressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub line: String,
    pub picked: usize,
}

/// The commands whose name contains the first word typed; names that start with it come first.
pub fn matching(commands: impl Iterator<Item = PaletteCommand>, typed: &str) -> Vec<PaletteCommand> {
    let word = typed.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
    let (mut starts, contains): (Vec<_>, Vec<_>) =
        commands.filter(|c| c.name.contains(&word)).partition(|c| c.name.starts_with(&word));
    starts.extend(contains);
    starts
}

impl Default for Palette {
    fn default() -> Palette {
        Palette { input: TextInput::single(), selected: 0 }
    }
}

impl Palette {
    pub fn text(&self) -> String {
        self.input.text()
    }

    /// `matches` is how many commands match what is typed now.
    pub fn handle_key(&mut self, key: KeyEvent, matches: usize) -> Outcome<Run> {
        match key.code {
            KeyCode::Down | KeyCode::Tab => self.selected = step(self.selected, 1, matches),
            KeyCode::Up | KeyCode::BackTab => self.selected = step(self.selected, -1, matches),
            _ => match self.input.handle_key(key) {
                Edit::Submit => return Outcome::Done(Run { line: self.input.text(), picked: self.selected }),
                Edit::Cancel => return Outcome::Cancelled,
                Edit::Changed => self.selected = 0,
                _ => {}
            },
        }
        Outcome::Open
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, matches: &[PaletteCommand], theme: Theme) {
        let popup = centered(area, 70, (matches.len() as u16 + 4).min(18));
        let inner = boxed(frame, popup, "Command", theme);
        let [field, list] = Layout::vertical([Constraint::Length(2), Constraint::Min(0)]).areas(inner);
        draw_input(frame, Rect { height: 1, ..field }, &self.input, true, ":");
        let width = list.width as usize;
        let usage = |c: &PaletteCommand| match c.arg {
            Some(arg) => format!("{} {arg}", c.name),
            None => c.name.to_string(),
        };
        let column = matches.iter().map(|c| usage(c).chars().count()).max().unwrap_or(0) + 2;
        let lines: Vec<Line> = matches
            .iter()
            .enumerate()
            .take(list.height as usize)
            .map(|(i, c)| {
                let line = Line::from(vec![
                    Span::styled(format!("{:<column$}", usage(c)), theme.bold()),
                    Span::styled(truncate(c.does, width.saturating_sub(column)), theme.dim()),
                ]);
                if i == self.selected { line.patch_style(theme.selected()) } else { line }
            })
            .collect();
        frame.render_widget(Paragraph::new(lines), list);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::panes::command;

    #[test]
    fn a_name_matches_anywhere_and_prefixes_come_first() {
        let all = [command("reopen", None, ""), command("snooze", None, ""), command("open", None, "")];
        let names: Vec<&str> = matching(all.into_iter(), "open").iter().map(|c| c.name).collect();
        assert_eq!(names, vec!["open", "reopen"]);
    }
}
