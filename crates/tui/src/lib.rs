//! `wacrm tui`: the eight dashboards in the terminal.
//!
//! One direction of flow: terminal events, background results and the database's LISTEN stream come
//! into one loop; the [`app::App`] turns them into state changes and intents; intents become
//! background tasks ([`worker`]) whose results come back as updates; the screen is drawn from the
//! state. Nothing in a frame waits for the database.

pub mod app;
pub mod drafts;
pub mod intent;
pub mod keymap;
pub mod panes;
pub mod popups;
pub mod text;
pub mod theme;
pub mod view;
pub mod widgets;
mod wording;
pub mod worker;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod open_tests;
#[cfg(test)]
mod tests;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use chrono::{Local, Offset, Utc};
use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture, Event, EventStream, KeyCode,
    KeyEvent, KeyEventKind, KeyModifiers,
};
use crossterm::execute;
use crossterm::terminal::{
    BeginSynchronizedUpdate, Clear, ClearType, EndSynchronizedUpdate, EnterAlternateScreen, LeaveAlternateScreen,
    disable_raw_mode, enable_raw_mode,
};
use futures::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::mpsc::{self, UnboundedSender};
use wacrm_core::Scope;
use wacrm_core::config::Settings;
use wacrm_core::db::Pool;
use wacrm_core::events;
use wacrm_core::inbox::send::Sender;

use crate::app::App;
use crate::drafts::DraftFile;
use crate::intent::{Intent, Update};
use crate::theme::Theme;
use crate::view::DbState;
use crate::worker::Worker;

/// How `wacrm tui` was asked to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// For the Graph API client that sends replies.
    pub settings: Settings,
    /// Capture the mouse (clicks, wheel, drag); off leaves the terminal's own text selection.
    pub mouse: bool,
}

/// The clock only changes the screen once a minute; a second's tick keeps it on time.
const TICK: Duration = Duration::from_secs(1);
/// The LISTEN connection is re-established after this long at first, doubling to the maximum.
const RECONNECT_FIRST: Duration = Duration::from_millis(500);
const RECONNECT_MAX: Duration = Duration::from_secs(30);

/// Sends logs to a file (the screen belongs to the dashboards): `$WACRM_TUI_LOG`, else `tui.log` in
/// wacrm's state directory. Returns the file, or `None` when no file could be opened (logs are then
/// dropped).
pub fn init_logging() -> Option<PathBuf> {
    let path = std::env::var_os("WACRM_TUI_LOG")
        .map(PathBuf::from)
        .or_else(|| dirs::state_dir().or_else(dirs::data_local_dir).map(|d| d.join("wacrm").join("tui.log")))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).ok()?;
    }
    let file = std::fs::OpenOptions::new().create(true).append(true).open(&path).ok()?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("WACRM_LOG").unwrap_or_else(|_| "info,sqlx=warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init()
        .ok()?;
    Some(path)
}

/// Whether colour may be used (`NO_COLOR` set to anything non-empty turns it off).
pub fn color_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Restores the terminal however the TUI ends (return, error or panic).
struct TerminalGuard {
    mouse: bool,
}

impl TerminalGuard {
    /// The guard exists before the terminal changes, so a half-done setup is undone too.
    fn enter(mouse: bool) -> Result<TerminalGuard> {
        let guard = TerminalGuard { mouse };
        TerminalGuard::setup(mouse)?;
        Ok(guard)
    }

    fn setup(mouse: bool) -> Result<()> {
        enable_raw_mode().context("switching the terminal to raw mode")?;
        let mut out = std::io::stdout();
        execute!(out, EnterAlternateScreen, EnableBracketedPaste)?;
        if mouse {
            execute!(out, EnableMouseCapture)?;
        }
        Ok(())
    }

    fn leave(mouse: bool) {
        let mut out = std::io::stdout();
        if mouse {
            let _ = execute!(out, DisableMouseCapture);
        }
        let _ = execute!(out, DisableBracketedPaste, LeaveAlternateScreen);
        let _ = disable_raw_mode();
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        TerminalGuard::leave(self.mouse);
    }
}

/// Runs the dashboards until the user quits.
pub async fn run(pool: Pool, scope: Scope, options: Options) -> Result<()> {
    let (updates, mut incoming) = mpsc::unbounded_channel();
    let read = match wacrm_core::db::open_read(&options.settings, &pool).await {
        Ok(read) => read,
        Err(e) => {
            tracing::warn!("reports read from the main database: the read pool failed: {e}");
            pool.clone()
        }
    };
    let worker = Arc::new(Worker {
        read,
        pool: pool.clone(),
        scope: scope.clone(),
        sender: Sender::from_settings(&options.settings),
        updates: updates.clone(),
    });
    let mut drafts = DraftFile::for_scope(&scope);
    let listener = tokio::spawn(follow_events(pool, scope, updates));

    let default_hook = std::panic::take_hook();
    let mouse = options.mouse;
    std::panic::set_hook(Box::new(move |info| {
        TerminalGuard::leave(mouse);
        default_hook(info);
    }));
    let guard = TerminalGuard::enter(mouse)?;
    let mut terminal = fresh_terminal()?;

    let offset = Local::now().offset().fix();
    let mut app = App::new(Utc::now(), offset, Theme { color: color_allowed() });
    app.set_keymap(&options.settings.keys);
    if let Some(file) = drafts.as_mut() {
        app.restore_drafts(file.load());
    }
    let mut pending = app.start();
    let mut keys = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    let mut dirty = true;
    loop {
        for intent in std::mem::take(&mut pending) {
            match intent {
                Intent::Load(request) => worker.spawn(request),
                Intent::Bell => {
                    let mut out = std::io::stdout();
                    let _ = out.write_all(b"\x07").and_then(|()| out.flush());
                }
                Intent::OpenEditor(text) => {
                    // The key reader would steal the editor's keystrokes: stop it while the editor runs.
                    drop(keys);
                    TerminalGuard::leave(mouse);
                    let edited = tokio::task::block_in_place(|| edit_externally(&text));
                    TerminalGuard::setup(mouse)?;
                    keys = EventStream::new();
                    terminal = fresh_terminal()?;
                    pending.extend(app.apply(Update::Edited(edited)));
                    dirty = true;
                }
                Intent::Quit => {
                    if let Some(file) = drafts.as_mut() {
                        file.save(&app.drafts());
                    }
                    listener.abort();
                    drop(guard);
                    return Ok(());
                }
                Intent::SwitchTab(_) | Intent::Notify(_) | Intent::OpenChat { .. } => {}
            }
        }
        if !pending.is_empty() {
            continue;
        }
        if dirty {
            execute!(std::io::stdout(), BeginSynchronizedUpdate)?;
            terminal.draw(|frame| app.draw(frame))?;
            execute!(std::io::stdout(), EndSynchronizedUpdate)?;
            dirty = false;
        }
        tokio::select! {
            event = keys.next() => match event {
                Some(Ok(event)) => {
                    pending = handle_terminal_event(&mut app, event);
                    dirty = true;
                }
                Some(Err(e)) => return Err(e).context("reading the terminal"),
                None => return Ok(()),
            },
            Some(update) = incoming.recv() => {
                pending = app.apply(update);
                // Take whatever else is ready before drawing: a burst of status webhooks is one frame.
                while let Ok(update) = incoming.try_recv() {
                    pending.extend(app.apply(update));
                }
                dirty = true;
            }
            _ = tick.tick() => {
                dirty |= app.tick(Utc::now());
                if let Some(file) = drafts.as_mut() {
                    file.save(&app.drafts());
                }
            }
        }
    }
}

/// A cleared screen and a terminal whose first draw paints every cell. Deliberately not
/// `Terminal::clear`: it asks the terminal for the cursor position, and after a suspended key reader
/// (the editor) crossterm's woken poll answers that query with a timeout error — the TUI crashed and
/// the terminal's late `ESC[1;1R` answer was left in the shell.
fn fresh_terminal() -> Result<Terminal<CrosstermBackend<std::io::Stdout>>> {
    let mut out = std::io::stdout();
    execute!(out, Clear(ClearType::All))?;
    Ok(Terminal::new(CrosstermBackend::new(out))?)
}

fn handle_terminal_event(app: &mut App, event: Event) -> Vec<Intent> {
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release => app.handle_key(key),
        Event::Mouse(mouse) => app.handle_mouse(mouse),
        // A paste types its text; line breaks become new lines in the composer, not sends.
        Event::Paste(text) => text
            .chars()
            .flat_map(|c| {
                let key = match c {
                    '\n' => KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT),
                    '\r' => return Vec::new(),
                    c => KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE),
                };
                app.handle_key(key)
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The LISTEN stream as one more event source: every committed event of the business arrives as an
/// update, and a dropped connection is re-established with backoff (the panes reload on recovery).
async fn follow_events(pool: Pool, scope: Scope, updates: UnboundedSender<Update>) {
    let mut wait = RECONNECT_FIRST;
    loop {
        match events::subscribe(&pool, &scope).await {
            Ok(stream) => {
                wait = RECONNECT_FIRST;
                if updates.send(Update::Db(DbState::Live)).is_err() {
                    return;
                }
                let mut stream = Box::pin(stream);
                while let Some(next) = stream.next().await {
                    match next {
                        Ok(event) => {
                            if updates.send(Update::Live(event)).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::warn!("the event stream failed: {e}");
                            break;
                        }
                    }
                }
            }
            Err(e) => tracing::warn!("cannot listen for events: {e}"),
        }
        if updates.send(Update::Db(DbState::Reconnecting)).is_err() {
            return;
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(RECONNECT_MAX);
    }
}

/// Edits `text` in `$VISUAL`/`$EDITOR` (else `vi`); `None` if the editor failed or left it empty.
fn edit_externally(text: &str) -> Option<String> {
    let path = std::env::temp_dir().join(format!("wacrm-reply-{}.txt", std::process::id()));
    std::fs::write(&path, text).ok()?;
    let editor = std::env::var("VISUAL").or_else(|_| std::env::var("EDITOR")).unwrap_or_else(|_| "vi".into());
    // The variable may carry arguments (`code --wait`).
    let mut parts = editor.split_whitespace();
    let program = parts.next()?;
    let status = std::process::Command::new(program).args(parts).arg(&path).status();
    let edited = std::fs::read_to_string(&path).ok();
    let _ = std::fs::remove_file(&path);
    match status {
        Ok(s) if s.success() => edited.filter(|t| !t.trim().is_empty()),
        Ok(s) => {
            tracing::warn!("{editor} exited with {s}");
            None
        }
        Err(e) => {
            tracing::warn!("cannot start {editor}: {e}");
            None
        }
    }
}
