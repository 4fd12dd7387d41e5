//! Drafts kept across restarts: one small JSON file per business and agent in wacrm's state directory
//! (`$WACRM_TUI_DRAFTS` overrides the path).
//!
//! A file rather than a table: a draft is the agent's unfinished typing on this machine, like an
//! editor's swap file. It must survive a database outage (the TUI keeps running while the database
//! reconnects, and what is typed then must not be lost), it changes with every keystroke without
//! costing the shared database a write, and nobody else needs to read it. The file is private to the
//! user (mode 600): it may hold a customer's details.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use wacrm_core::{ContactId, Scope};

#[derive(Debug)]
pub struct DraftFile {
    path: PathBuf,
    /// What the file holds now, so unchanged drafts are not written again.
    saved: BTreeMap<ContactId, String>,
}

impl DraftFile {
    /// The file of this business and agent; `None` when there is no state directory.
    pub fn for_scope(scope: &Scope) -> Option<DraftFile> {
        let path = match std::env::var_os("WACRM_TUI_DRAFTS") {
            Some(path) => PathBuf::from(path),
            None => {
                let dir = dirs::state_dir().or_else(dirs::data_local_dir)?.join("wacrm").join("drafts");
                let user = scope.user().map_or_else(|| "business".to_string(), |u| format!("user{u}"));
                dir.join(format!("business{}-{user}.json", scope.business()))
            }
        };
        Some(DraftFile { path, saved: BTreeMap::new() })
    }

    /// The drafts saved by the last run (none when the file is missing or unreadable).
    pub fn load(&mut self) -> BTreeMap<ContactId, String> {
        let Ok(text) = std::fs::read_to_string(&self.path) else { return BTreeMap::new() };
        let stored: BTreeMap<String, String> = match serde_json::from_str(&text) {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!(path = %self.path.display(), "ignoring the drafts file: {e}");
                return BTreeMap::new();
            }
        };
        self.saved = stored.into_iter().filter_map(|(id, text)| Some((ContactId(id.parse().ok()?), text))).collect();
        self.saved.clone()
    }

    /// Writes the drafts if they changed (whole file, replaced atomically).
    pub fn save(&mut self, drafts: &BTreeMap<ContactId, String>) {
        if *drafts == self.saved {
            return;
        }
        match self.write(drafts) {
            Ok(()) => self.saved = drafts.clone(),
            Err(e) => tracing::warn!(path = %self.path.display(), "the drafts were not saved: {e}"),
        }
    }

    fn write(&self, drafts: &BTreeMap<ContactId, String>) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let stored: BTreeMap<String, &String> = drafts.iter().map(|(id, text)| (id.to_string(), text)).collect();
        let json = serde_json::to_vec_pretty(&stored).map_err(std::io::Error::other)?;
        let tmp = self.path.with_extension("json.tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(&json)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drafts_survive_a_restart_and_an_empty_set_empties_the_file() {
        let dir = std::env::temp_dir().join(format!("wacrm-drafts-test-{}", std::process::id()));
        let path = dir.join("drafts.json");
        let mut file = DraftFile { path: path.clone(), saved: BTreeMap::new() };
        let drafts = BTreeMap::from([(ContactId(3), "Hi Ana,\nsecond line".to_string())]);
        file.save(&drafts);
        let mut again = DraftFile { path: path.clone(), saved: BTreeMap::new() };
        assert_eq!(again.load(), drafts);
        again.save(&BTreeMap::new());
        assert_eq!(DraftFile { path, saved: BTreeMap::new() }.load(), BTreeMap::new());
        let _ = std::fs::remove_dir_all(dir);
    }
}
