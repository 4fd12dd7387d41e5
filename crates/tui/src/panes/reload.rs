//! One load in flight per pane: answers of concurrent loads can arrive in any order (an older one
//! arriving last would show stale figures), and a burst of live events must not become a burst of
//! queries. A change during a load asks once more after it.

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reload {
    started: bool,
    loading: bool,
    stale: bool,
}

impl Reload {
    /// Whether to send a load now (else one is in flight and another follows it).
    pub fn ask(&mut self) -> bool {
        self.started = true;
        if self.loading {
            self.stale = true;
            return false;
        }
        self.loading = true;
        true
    }

    /// The answer (or failure) arrived; returns whether to load again.
    pub fn done(&mut self) -> bool {
        self.loading = false;
        if std::mem::take(&mut self.stale) {
            self.loading = true;
            return true;
        }
        false
    }

    /// The pane was loaded once: live events keep it current from then on.
    pub fn started(&self) -> bool {
        self.started
    }

    pub fn loading(&self) -> bool {
        self.loading
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_during_a_load_ask_once_more() {
        let mut reload = Reload::default();
        assert!(reload.ask());
        assert!(!reload.ask());
        assert!(!reload.ask());
        assert!(reload.done(), "one more for the changes meanwhile");
        assert!(!reload.done());
        assert!(reload.ask());
    }
}
