//! Exit codes are part of wacrm's scripting API: defined here, once, and documented in `wacrm --help`
//! and the README.

use wacrm_core::Error;

pub const OK: u8 = 0;
/// Anything not covered below (a bug, an I/O failure).
pub const FAILURE: u8 = 1;
/// Bad invocation or bad input (clap uses 2 as well).
pub const USAGE: u8 = 2;
pub const NOT_FOUND: u8 = 3;
pub const CONFLICT: u8 = 4;
/// A billing limit or an inactive subscription blocked the action.
pub const LIMIT_REACHED: u8 = 5;
pub const DATABASE_UNREACHABLE: u8 = 6;
pub const WHATSAPP_API: u8 = 7;
/// The acting user's role does not allow the action, or a login failed.
pub const FORBIDDEN: u8 = 8;
/// A check passed its warning threshold (`billing check --warn`), short of failing.
pub const USAGE_WARNING: u8 = 10;

/// Ends the command with `code` after it printed its own result (a check's verdict): no failure is
/// printed on top of it.
#[derive(Debug)]
pub struct Quiet(pub u8);

impl std::fmt::Display for Quiet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}", self.0)
    }
}

impl std::error::Error for Quiet {}

/// The table printed under `wacrm --help`.
pub const HELP: &str = "\
Exit codes:
  0  success
  1  failure (unexpected error)
  2  usage: bad arguments or invalid input
  3  not found
  4  conflict (duplicate, already exists)
  5  limit reached (billing plan, inactive subscription)
  6  database unreachable
  7  WhatsApp API failure
  8  forbidden (role) or login failed
 10  warning: a check passed its warning threshold (billing check)";

pub fn code_for(err: &anyhow::Error) -> u8 {
    match err.downcast_ref::<Error>() {
        Some(Error::NotFound { .. }) => NOT_FOUND,
        Some(Error::Conflict { .. }) => CONFLICT,
        Some(Error::Invalid { .. }) => USAGE,
        Some(Error::LimitReached { .. }) => LIMIT_REACHED,
        Some(Error::Forbidden { .. }) => FORBIDDEN,
        Some(Error::WhatsApp { .. } | Error::WhatsAppUnreachable { .. }) => WHATSAPP_API,
        Some(Error::Unavailable { .. }) => DATABASE_UNREACHABLE,
        Some(Error::Database(_) | Error::Internal { .. } | Error::Io { .. }) | None => FAILURE,
    }
}

/// The stable name of an exit code, for `--json` errors (`"code": "not_found"`).
pub fn name(code: u8) -> &'static str {
    match code {
        OK => "ok",
        USAGE => "usage",
        NOT_FOUND => "not_found",
        CONFLICT => "conflict",
        LIMIT_REACHED => "limit_reached",
        DATABASE_UNREACHABLE => "database_unreachable",
        WHATSAPP_API => "whatsapp_api",
        FORBIDDEN => "forbidden",
        USAGE_WARNING => "warning",
        _ => "failure",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_exit_code_has_its_own_name() {
        let codes = [
            OK,
            FAILURE,
            USAGE,
            NOT_FOUND,
            CONFLICT,
            LIMIT_REACHED,
            DATABASE_UNREACHABLE,
            WHATSAPP_API,
            FORBIDDEN,
            USAGE_WARNING,
        ];
        let names: std::collections::BTreeSet<&str> = codes.iter().map(|&c| name(c)).collect();
        assert_eq!(names.len(), codes.len(), "{names:?}");
        assert_eq!((name(NOT_FOUND), name(FAILURE)), ("not_found", "failure"));
    }
}
