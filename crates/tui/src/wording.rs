//! How the TUI words core's hints: an operation a dashboard does points to its tab (a template send to the
//! chat's template key), one it has no place for is named as the shell command; an input is the value a
//! form asks for.

use wacrm_core::Dashboard;
use wacrm_core::error::Wording;

pub struct Screen;

impl Wording for Screen {
    fn op(&self, path: &str) -> String {
        let verb = path.split_whitespace().next().unwrap_or_default();
        if path.starts_with("inbox send") && path.contains("--template") {
            return "a template (t in the chat)".into();
        }
        match Dashboard::ALL.into_iter().find(|d| d.command() == verb) {
            Some(dashboard) => format!("the {} tab ({})", dashboard.title(), dashboard.number()),
            None => format!("`wacrm {path}` in a shell"),
        }
    }

    fn input(&self, name: &str) -> String {
        format!("the {} value", name.replace('-', " "))
    }
}

/// Core's message with its hint in the TUI's words, as the status bar and inline errors show it.
pub fn explain(error: &wacrm_core::Error) -> String {
    match error.hint_in(&Screen) {
        Some(hint) => format!("{error} ({hint})"),
        None => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use wacrm_core::error::{input, op, word};

    use super::*;

    #[test]
    fn hints_point_to_tabs_and_never_to_flags() {
        let hint = format!("see {}, or give {}", op("templates list"), input("closing-within"));
        assert_eq!(word(&hint, &Screen), "see the Templates tab (6), or give the closing within value");
        assert_eq!(word(&op("accounts add"), &Screen), "`wacrm accounts add` in a shell");
        assert_eq!(word(&op("inbox send 5 --template NAME --lang en_US"), &Screen), "a template (t in the chat)");
    }
}
