//! How the command line words core's hints: operations as the `wacrm` command that does them, inputs as
//! the flag that gives them.

use wacrm_core::error::Wording;

pub struct Shell;

impl Wording for Shell {
    fn op(&self, path: &str) -> String {
        format!("`wacrm {path}`")
    }

    fn input(&self, name: &str) -> String {
        format!("--{name}")
    }
}

/// Core's hint for `error`, in the command line's words.
pub fn hint(error: &wacrm_core::Error) -> Option<String> {
    error.hint_in(&Shell)
}
