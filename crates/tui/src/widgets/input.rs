//! An editable text buffer: single-line (search, form fields, palette) or multi-line (the composer).
//! Key handling is a plain function of the key, tested without a terminal.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key did to the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    Changed,
    /// Moved the cursor only.
    Moved,
    /// Enter: send or confirm.
    Submit,
    Cancel,
    /// Ctrl-E: edit in `$EDITOR`.
    External,
    /// Not a key the buffer uses (Tab, F-keys, ...): the owner may use it.
    Ignored,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextInput {
    lines: Vec<String>,
    /// Cursor row and column, the column counted in chars.
    row: usize,
    col: usize,
    multiline: bool,
}

impl TextInput {
    pub fn single() -> TextInput {
        TextInput { lines: vec![String::new()], row: 0, col: 0, multiline: false }
    }

    pub fn multi() -> TextInput {
        TextInput { multiline: true, ..TextInput::single() }
    }

    pub fn with_text(mut self, text: &str) -> TextInput {
        self.set_text(text);
        self
    }

    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    pub fn is_blank(&self) -> bool {
        self.lines.iter().all(|l| l.trim().is_empty())
    }

    /// Replaces the content and puts the cursor at its end.
    pub fn set_text(&mut self, text: &str) {
        self.lines =
            if self.multiline { text.split('\n').map(str::to_string).collect() } else { vec![text.replace('\n', " ")] };
        self.row = self.lines.len() - 1;
        self.col = self.lines[self.row].chars().count();
    }

    pub fn clear(&mut self) {
        self.set_text("");
    }

    /// The cursor as (row, column in chars).
    pub fn cursor(&self) -> (usize, usize) {
        (self.row, self.col)
    }

    fn byte_at(&self, col: usize) -> usize {
        self.lines[self.row].char_indices().nth(col).map_or(self.lines[self.row].len(), |(i, _)| i)
    }

    fn line_len(&self) -> usize {
        self.lines[self.row].chars().count()
    }

    fn insert(&mut self, c: char) {
        let at = self.byte_at(self.col);
        self.lines[self.row].insert(at, c);
        self.col += 1;
    }

    fn newline(&mut self) {
        let at = self.byte_at(self.col);
        let rest = self.lines[self.row].split_off(at);
        self.row += 1;
        self.lines.insert(self.row, rest);
        self.col = 0;
    }

    fn backspace(&mut self) -> bool {
        if self.col > 0 {
            self.col -= 1;
            let at = self.byte_at(self.col);
            self.lines[self.row].remove(at);
            true
        } else if self.row > 0 {
            let line = self.lines.remove(self.row);
            self.row -= 1;
            self.col = self.line_len();
            self.lines[self.row].push_str(&line);
            true
        } else {
            false
        }
    }

    fn delete_word(&mut self) -> bool {
        let before: Vec<char> = self.lines[self.row].chars().take(self.col).collect();
        let keep = before
            .iter()
            .rposition(|c| !c.is_whitespace())
            .map_or(0, |end| before[..=end].iter().rposition(|c| c.is_whitespace()).map_or(0, |space| space + 1));
        if keep == self.col {
            return self.backspace();
        }
        let (from, to) = (self.byte_at(keep), self.byte_at(self.col));
        self.lines[self.row].replace_range(from..to, "");
        self.col = keep;
        true
    }

    pub fn handle_key(&mut self, key: KeyEvent) -> Edit {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        match key.code {
            KeyCode::Enter if self.multiline && (alt || key.modifiers.contains(KeyModifiers::SHIFT)) => {
                self.newline();
                Edit::Changed
            }
            // Ctrl-J is what many terminals send for Shift-Enter; it is also a plain line feed.
            KeyCode::Char('j') if ctrl && self.multiline => {
                self.newline();
                Edit::Changed
            }
            KeyCode::Enter => Edit::Submit,
            KeyCode::Esc => Edit::Cancel,
            KeyCode::Char('e') if ctrl => Edit::External,
            KeyCode::Char('u') if ctrl => {
                let at = self.byte_at(self.col);
                self.lines[self.row].replace_range(..at, "");
                self.col = 0;
                Edit::Changed
            }
            KeyCode::Char('w') if ctrl => {
                if self.delete_word() {
                    Edit::Changed
                } else {
                    Edit::Moved
                }
            }
            KeyCode::Char('a') if ctrl => {
                self.col = 0;
                Edit::Moved
            }
            KeyCode::Char(c) if !ctrl => {
                self.insert(c);
                Edit::Changed
            }
            KeyCode::Backspace => {
                if self.backspace() {
                    Edit::Changed
                } else {
                    Edit::Moved
                }
            }
            KeyCode::Delete => {
                if self.col < self.line_len() {
                    let at = self.byte_at(self.col);
                    self.lines[self.row].remove(at);
                    Edit::Changed
                } else if self.row + 1 < self.lines.len() {
                    let next = self.lines.remove(self.row + 1);
                    self.lines[self.row].push_str(&next);
                    Edit::Changed
                } else {
                    Edit::Moved
                }
            }
            KeyCode::Left => {
                if self.col > 0 {
                    self.col -= 1;
                } else if self.row > 0 {
                    self.row -= 1;
                    self.col = self.line_len();
                }
                Edit::Moved
            }
            KeyCode::Right => {
                if self.col < self.line_len() {
                    self.col += 1;
                } else if self.row + 1 < self.lines.len() {
                    self.row += 1;
                    self.col = 0;
                }
                Edit::Moved
            }
            KeyCode::Up if self.multiline && self.row > 0 => {
                self.row -= 1;
                self.col = self.col.min(self.line_len());
                Edit::Moved
            }
            KeyCode::Down if self.multiline && self.row + 1 < self.lines.len() => {
                self.row += 1;
                self.col = self.col.min(self.line_len());
                Edit::Moved
            }
            KeyCode::Home => {
                self.col = 0;
                Edit::Moved
            }
            KeyCode::End => {
                self.col = self.line_len();
                Edit::Moved
            }
            _ => Edit::Ignored,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn typed(input: &mut TextInput, s: &str) {
        for c in s.chars() {
            input.handle_key(key(KeyCode::Char(c)));
        }
    }

    #[test]
    fn composer_takes_newlines_with_alt_enter_and_submits_on_enter() {
        let mut input = TextInput::multi();
        typed(&mut input, "héllo");
        assert_eq!(input.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT)), Edit::Changed);
        typed(&mut input, "wörld");
        assert_eq!(input.text(), "héllo\nwörld");
        assert_eq!(input.handle_key(key(KeyCode::Enter)), Edit::Submit);
        assert_eq!(input.handle_key(KeyEvent::new(KeyCode::Char('e'), KeyModifiers::CONTROL)), Edit::External);
    }

    #[test]
    fn editing_in_the_middle_of_multibyte_text() {
        let mut input = TextInput::single().with_text("añb");
        input.handle_key(key(KeyCode::Left));
        input.handle_key(key(KeyCode::Backspace));
        assert_eq!(input.text(), "ab");
        typed(&mut input, "ñ");
        assert_eq!(input.text(), "añb");
        input.handle_key(key(KeyCode::Home));
        input.handle_key(key(KeyCode::Delete));
        assert_eq!(input.text(), "ñb");
    }

    #[test]
    fn backspace_joins_lines_and_ctrl_w_deletes_a_word() {
        let mut input = TextInput::multi().with_text("one\ntwo three");
        input.handle_key(KeyEvent::new(KeyCode::Char('w'), KeyModifiers::CONTROL));
        assert_eq!(input.text(), "one\ntwo ");
        input.handle_key(key(KeyCode::Home));
        input.handle_key(key(KeyCode::Backspace));
        assert_eq!(input.text(), "onetwo ");
        assert_eq!(input.cursor(), (0, 3));
    }

    #[test]
    fn single_line_input_never_holds_a_newline() {
        let mut input = TextInput::single().with_text("a\nb");
        assert_eq!(input.text(), "a b");
        assert_eq!(input.handle_key(KeyEvent::new(KeyCode::Char('j'), KeyModifiers::CONTROL)), Edit::Ignored);
        assert_eq!(input.handle_key(key(KeyCode::Tab)), Edit::Ignored);
    }
}
