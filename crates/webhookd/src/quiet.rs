//! Logging at a bounded rate: a refusal or failure that repeats (every POST during a database outage,
//! a flood of bad signatures) is logged at most once a second per kind, each line saying how many
//! were left out since the previous one. The metrics count every one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most one line per kind in this time.
const EVERY: Duration = Duration::from_secs(1);

/// When a kind was last logged and how many were left out since.
#[derive(Default)]
struct Window {
    last: Option<Instant>,
    left_out: u64,
}

impl Window {
    /// Whether to log now, and how many were left out before this one.
    fn admit(&mut self, now: Instant) -> Option<u64> {
        if self.last.is_some_and(|last| now.duration_since(last) < EVERY) {
            self.left_out += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.left_out))
    }
}

/// A log line that repeats, one rate per `kind`.
pub struct QuietLog {
    what: &'static str,
    windows: Mutex<HashMap<&'static str, Window>>,
}

impl QuietLog {
    pub fn new(what: &'static str) -> QuietLog {
        QuietLog { what, windows: Mutex::new(HashMap::new()) }
    }

    fn admit(&self, kind: &'static str) -> Option<u64> {
        let mut windows = self.windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        windows.entry(kind).or_default().admit(Instant::now())
    }

    /// A warning of `kind` with its detail, unless one of that kind was logged within the last second.
    pub fn warn_kind(&self, kind: &'static str, detail: &str) {
        if let Some(left_out) = self.admit(kind) {
            tracing::warn!(kind, left_out, detail, "{}", self.what);
        }
    }

    pub fn warn(&self, detail: &str) {
        self.warn_kind("", detail);
    }

    pub fn error(&self, detail: &str) {
        if let Some(left_out) = self.admit("") {
            tracing::error!(left_out, detail, "{}", self.what);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_one_line_per_second_counting_the_rest() {
        let start = Instant::now();
        let mut window = Window::default();
        let logged: Vec<Option<u64>> = (0..5).map(|i| window.admit(start + Duration::from_millis(100 * i))).collect();
        assert_eq!(logged, vec![Some(0), None, None, None, None]);
        assert_eq!(window.admit(start + Duration::from_millis(1_000)), Some(4));
        assert_eq!(window.admit(start + Duration::from_millis(1_100)), None);
    }
}
