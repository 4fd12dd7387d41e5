//! Inbox dashboard.

pub mod canned;
pub mod conversations;
pub mod ingest;
pub mod media;
pub mod notes;
pub mod panel;
pub mod reply_times;
pub mod send;
pub mod workflow;

use crate::error::{Error, Result};

/// `text` trimmed, refused when empty (with `hint`) or longer than `max` characters (as long as a
/// WhatsApp text, for what agents write: notes, canned replies).
pub(crate) fn bounded_text<'a>(text: &'a str, what: &str, max: usize, hint: &str) -> Result<&'a str> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Error::invalid(format!("the {what} is empty"), hint));
    }
    let chars = text.chars().count();
    if chars > max {
        return Err(Error::invalid(
            format!("the {what} has {chars} characters"),
            format!("keep it to {max} characters"),
        ));
    }
    Ok(text)
}
