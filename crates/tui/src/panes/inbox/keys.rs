//! The Inbox's keys in each focus, as `?` lists them (and as the handlers in `mod.rs` read them).

use super::Focus;
use crate::panes::{KeyHint, hint};

pub(super) fn hints(focus: Focus) -> Vec<KeyHint> {
    match focus {
        Focus::List => vec![
            hint("j/k ↑/↓", "next / previous conversation"),
            hint("PgDn/PgUp Ctrl-d/u", "page down / up"),
            hint("g/G", "first / last loaded conversation"),
            hint("Enter l →", "open the chat and reply (marks it read)"),
            hint("Tab", "focus the chat history"),
            hint("f", "filter: all, unread, mine, unassigned, snoozed, resolved"),
            hint("r", "mark read"),
            hint("a", "assign to me (asks before taking it from someone)"),
            hint("A", "assign to a teammate, or nobody"),
            hint("x", "resolve / reopen"),
            hint("z", "snooze until a time (back when they write)"),
            hint("n", "private note (never sent)"),
            hint("s", "change stage"),
            hint("p", "contact panel: tags, opt-out, last campaign, notes"),
            hint("t", "send a template"),
            hint("o", "open the chat's file (image, document, audio, video)"),
            hint("/", "search by name or phone"),
            hint("Esc", "clear the search"),
        ],
        Focus::Chat => vec![
            hint("k/j ↑/↓", "scroll older / newer"),
            hint("PgUp/PgDn", "scroll a page"),
            hint("G End", "newest message (clears the new-messages marker)"),
            hint("/", "search this chat"),
            hint("n / N", "older / newer match (while searching)"),
            hint("Esc", "clear the search; again: back to the list"),
            hint("o", "open a file the customer sent"),
            hint("i Enter", "reply"),
            hint("r", "mark read"),
            hint("a / A", "assign to me / to a teammate"),
            hint("x z n", "resolve or reopen · snooze · note"),
            hint("s", "change stage"),
            hint("p", "contact panel: tags, opt-out, last campaign, notes"),
            hint("t", "send a template"),
            hint("Esc h ← Tab", "back to the list"),
        ],
        Focus::Composer => vec![
            hint("Enter", "send (a closed window: choose a template)"),
            hint("/name Tab", "insert the canned reply /name"),
            hint("Alt-Enter Ctrl-J", "new line"),
            hint("Ctrl-E", "edit in $EDITOR"),
            hint("Ctrl-W Ctrl-U", "delete word / to start of line"),
            hint("Esc", "stop typing"),
            hint("Tab", "back to the list"),
        ],
    }
}
