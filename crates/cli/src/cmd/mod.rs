//! One module per area of `wacrm <area> <verb>`.

pub mod accounts;
pub mod analytics;
pub mod automation;
pub mod billing;
pub mod broadcast;
pub mod business;
pub mod canned;
pub mod completions;
pub mod config;
pub mod contacts;
pub mod db;
pub mod demo;
pub mod events;
pub mod inbox;
pub mod jobs;
pub mod notifications;
pub mod pipeline;
pub mod session;
pub mod templates;
pub mod tui;
pub mod users;
pub mod webhook;

/// The parser of every row-count flag (`--limit`, `--per-column`): a whole number from 1 to `max`,
/// the most the listing serves. Anything else is refused with the allowed range (exit code 2), never
/// quietly raised or lowered: a script asking for 0 or a million rows has a bug it should hear about.
pub fn rows(max: i64) -> impl Fn(&str) -> Result<i64, String> + Clone + Send + Sync + 'static {
    move |input: &str| match input.trim().parse::<i64>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        Ok(n) => Err(format!("{n} is out of range: use 1 to {max}")),
        Err(_) => Err(format!("{input:?} is not a whole number: use 1 to {max}")),
    }
}
