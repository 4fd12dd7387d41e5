//! Hints as the command line words them (crates/cli/src/wording.rs), so that a test reads a hint as a
//! person at the shell does.

use wacrm_core::error::Wording;

struct Shell;

impl Wording for Shell {
    fn op(&self, path: &str) -> String {
        format!("`wacrm {path}`")
    }

    fn input(&self, name: &str) -> String {
        format!("--{name}")
    }
}

pub trait ShellHint {
    fn hint(&self) -> Option<String>;
}

impl ShellHint for wacrm_core::Error {
    fn hint(&self) -> Option<String> {
        self.hint_in(&Shell)
    }
}
