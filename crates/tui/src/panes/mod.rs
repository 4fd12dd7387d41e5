//! One pane per dashboard, all behind one small contract: draw, list your keys, handle a key or a
//! mouse event (saying whether it was used), take updates. Panes push intents on the queue and never
//! call each other or the database.

pub mod analytics;
pub mod automation;
pub mod billing;
pub mod broadcast;
pub mod contacts;
pub mod inbox;
pub mod pipeline;
pub mod reload;
pub mod templates;

use chrono::{DateTime, FixedOffset, Utc};
use crossterm::event::{KeyEvent, MouseEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use wacrm_core::UserId;

use crate::intent::{Queue, Update};
use crate::theme::Theme;

/// What every pane may read while handling and drawing: the clock (injected, so snapshots are
/// stable), the display offset, the palette and who is acting.
#[derive(Debug, Clone, Copy)]
pub struct Env {
    pub now: DateTime<Utc>,
    pub offset: FixedOffset,
    pub theme: Theme,
    pub me: Option<UserId>,
}

/// One line of `?` help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyHint {
    pub keys: &'static str,
    pub does: &'static str,
}

pub const fn hint(keys: &'static str, does: &'static str) -> KeyHint {
    KeyHint { keys, does }
}

/// An entry of the `:` palette that a pane offers; `arg` names the argument it takes, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaletteCommand {
    pub name: &'static str,
    pub arg: Option<&'static str>,
    pub does: &'static str,
}

pub const fn command(name: &'static str, arg: Option<&'static str>, does: &'static str) -> PaletteCommand {
    PaletteCommand { name, arg, does }
}

pub trait Pane {
    /// Every key this pane understands in its current mode, for `?`.
    fn keys(&self) -> Vec<KeyHint>;

    /// True while a text field or a popup has focus: every key (even `q`, `1`, `?`) goes to the pane.
    fn captures_keys(&self) -> bool {
        false
    }

    /// Returns whether the key was used.
    fn handle_key(&mut self, key: KeyEvent, env: &Env, queue: &mut Queue) -> bool;

    /// Returns whether the mouse event was used.
    fn handle_mouse(&mut self, _mouse: MouseEvent, _env: &Env, _queue: &mut Queue) -> bool {
        false
    }

    /// Takes a background result or a live event; panes ignore what is not theirs.
    fn apply(&mut self, update: &Update, env: &Env, queue: &mut Queue);

    /// Whether the pane's data was asked for (panes without data of their own count as loaded).
    fn loaded(&self) -> bool {
        true
    }

    /// Asks for the pane's data: [`Pane::activate`] calls it on the first visit, [`Pane::refresh`] after an
    /// outage.
    fn load(&mut self, _queue: &mut Queue) {}

    /// Called when the tab is shown: the first visit loads the pane's data, later visits rely on what
    /// live events keep current.
    fn activate(&mut self, queue: &mut Queue) {
        if !self.loaded() {
            self.load(queue);
        }
    }

    /// The database came back after an outage: a pane that was loaded loads again, since the live events
    /// of the outage were missed (the LISTEN connection was down).
    fn refresh(&mut self, queue: &mut Queue) {
        if self.loaded() {
            self.load(queue);
        }
    }

    /// Whether `/` searches or filters something here (else the app says so instead of asking).
    fn searches(&self) -> bool {
        false
    }

    /// `/` search within the pane (an empty text clears it).
    fn search(&mut self, _text: &str, _queue: &mut Queue) {}

    fn commands(&self) -> Vec<PaletteCommand> {
        Vec::new()
    }

    /// Runs one of [`Pane::commands`]; returns false for a name it does not know.
    fn run_command(&mut self, _name: &str, _arg: &str, _env: &Env, _queue: &mut Queue) -> bool {
        false
    }

    fn draw(&self, frame: &mut Frame, area: Rect, env: &Env);
}

/// Keeps a selected index visible in a viewport of `height` rows starting at `offset`; returns the new
/// offset. Shared by every virtualised list (only rows in the viewport are ever built).
pub fn scroll_to(selected: usize, offset: usize, height: usize) -> usize {
    if height == 0 {
        return offset;
    }
    if selected < offset {
        selected
    } else if selected >= offset + height {
        selected + 1 - height
    } else {
        offset
    }
}

/// Whether a row passes a pane's `/` filter: one of its `fields` contains it, in any case (no filter
/// passes everything, and costs nothing: lists draw every frame).
pub fn passes(filter: Option<&str>, fields: &[&str]) -> bool {
    let Some(filter) = filter else { return true };
    let filter = filter.to_lowercase();
    fields.iter().any(|field| field.to_lowercase().contains(&filter))
}

/// A list title with the `/` filter it shows, so a short list never looks like all there is.
pub fn filtered_title(title: &str, shown: usize, filter: Option<&str>) -> String {
    match filter {
        Some(f) => format!(" {title} ({shown}) · /{f} · Esc clears "),
        None => format!(" {title} ({shown}) "),
    }
}

/// Moves `index` by `delta` within `0..len`.
pub fn step(index: usize, delta: isize, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    index.saturating_add_signed(delta).min(len - 1)
}

/// Whether a point lies in a rectangle.
pub fn contains(area: Rect, column: u16, row: u16) -> bool {
    column >= area.x && column < area.x + area.width && row >= area.y && row < area.y + area.height
}
