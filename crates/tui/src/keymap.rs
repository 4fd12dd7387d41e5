//! Remapped keys from the config file (`[keys.<dashboard>]` or `[keys.all]`: the key pressed → the key
//! it acts as). Keymaps are data: the panes keep their own keys, and a remap only turns one key into
//! another before a pane sees it, outside text fields (typing is never remapped). `?` lists them.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::intent::Tab;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Remap {
    /// `None`: every dashboard.
    tab: Option<Tab>,
    from: (KeyCode, KeyModifiers),
    to: KeyEvent,
    /// As written in the config file, for `?`.
    label: (String, String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keymap {
    remaps: Vec<Remap>,
}

impl Keymap {
    /// The remaps of the config's `keys` table, and a message for each entry that could not be used.
    pub fn parse(table: &BTreeMap<String, BTreeMap<String, String>>) -> (Keymap, Vec<String>) {
        let mut keymap = Keymap::default();
        let mut problems = Vec::new();
        for (pane, map) in table {
            let tab = match pane.as_str() {
                "all" => None,
                name => match Tab::ALL.iter().find(|t| t.command() == name) {
                    Some(tab) => Some(*tab),
                    None => {
                        let names: Vec<&str> = Tab::ALL.iter().map(|t| t.command()).collect();
                        problems.push(format!("keys.{name}: no such dashboard (use all, {})", names.join(", ")));
                        continue;
                    }
                },
            };
            for (from, to) in map {
                match (parse_key(from), parse_key(to)) {
                    (Ok(f), Ok(t)) => keymap.remaps.push(Remap {
                        tab,
                        from: (f.code, f.modifiers),
                        to: t,
                        label: (from.clone(), to.clone()),
                    }),
                    (Err(e), _) | (_, Err(e)) => problems.push(format!("keys.{pane}.{from:?} = {to:?}: {e}")),
                }
            }
        }
        // A dashboard's own remap wins over one for all.
        keymap.remaps.sort_by_key(|r| r.tab.is_none());
        (keymap, problems)
    }

    /// The key `key` acts as on `tab`.
    pub fn translate(&self, tab: Tab, key: KeyEvent) -> KeyEvent {
        // The terminal reports a typed capital with SHIFT; the character itself already says so, and the
        // config writes it without ("O" = "o").
        let modifiers = match key.code {
            KeyCode::Char(_) => key.modifiers - KeyModifiers::SHIFT,
            _ => key.modifiers,
        };
        self.remaps
            .iter()
            .find(|r| r.tab.is_none_or(|t| t == tab) && r.from == (key.code, modifiers))
            .map_or(key, |r| r.to)
    }

    /// `(pressed, acts as)` for `?` on `tab`.
    pub fn hints(&self, tab: Tab) -> Vec<(String, String)> {
        self.remaps.iter().filter(|r| r.tab.is_none_or(|t| t == tab)).map(|r| r.label.clone()).collect()
    }
}

/// `j`, `J`, `?`, `ctrl-n`, `alt-x`, `enter`, `esc`, `tab`, `backtab`, `space`, `up`, `pgdn`, `f5`, …
pub fn parse_key(text: &str) -> Result<KeyEvent, String> {
    let mut modifiers = KeyModifiers::NONE;
    let mut rest = text.trim();
    loop {
        let lower = rest.to_ascii_lowercase();
        let (modifier, len) = if lower.starts_with("ctrl-") {
            (KeyModifiers::CONTROL, 5)
        } else if lower.starts_with("alt-") {
            (KeyModifiers::ALT, 4)
        } else {
            break;
        };
        if rest.len() == len {
            break;
        }
        modifiers |= modifier;
        rest = &rest[len..];
    }
    let mut chars = rest.chars();
    let code = match (chars.next(), chars.next()) {
        (Some(c), None) => KeyCode::Char(c),
        _ => match rest.to_ascii_lowercase().as_str() {
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" | "shift-tab" => KeyCode::BackTab,
            "space" => KeyCode::Char(' '),
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pgup" | "pageup" => KeyCode::PageUp,
            "pgdn" | "pagedown" => KeyCode::PageDown,
            f if f.len() > 1 && f.starts_with('f') && f[1..].parse::<u8>().is_ok_and(|n| (1..=12).contains(&n)) => {
                KeyCode::F(f[1..].parse().unwrap_or(1))
            }
            _ => {
                return Err(format!(
                    "{text:?} is not a key: use one character, or ctrl-/alt- with one, or enter, esc, tab, \
                     space, up, down, left, right, home, end, pgup, pgdn, f1-f12"
                ));
            }
        },
    };
    // Control letters arrive lower case; a typed capital carries no shift of its own here.
    let code = match code {
        KeyCode::Char(c) if modifiers.contains(KeyModifiers::CONTROL) => KeyCode::Char(c.to_ascii_lowercase()),
        other => other,
    };
    Ok(KeyEvent::new(code, modifiers))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(entries: &[(&str, &str, &str)]) -> BTreeMap<String, BTreeMap<String, String>> {
        let mut table: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (pane, from, to) in entries {
            table.entry((*pane).into()).or_default().insert((*from).into(), (*to).into());
        }
        table
    }

    #[test]
    fn keys_parse_from_their_names() {
        assert_eq!(parse_key("j").unwrap(), KeyEvent::new(KeyCode::Char('j'), KeyModifiers::NONE));
        assert_eq!(parse_key("Ctrl-N").unwrap(), KeyEvent::new(KeyCode::Char('n'), KeyModifiers::CONTROL));
        assert_eq!(parse_key("alt-enter").unwrap(), KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT));
        assert_eq!(parse_key("pgdn").unwrap().code, KeyCode::PageDown);
        assert_eq!(parse_key("f5").unwrap().code, KeyCode::F(5));
        assert_eq!(parse_key("-").unwrap().code, KeyCode::Char('-'));
        assert!(parse_key("ctrl-").is_err_and(|e| e.contains("not a key")));
        assert!(parse_key("hyper-x").is_err());
    }

    #[test]
    fn a_dashboards_remap_wins_over_all_and_others_pass_through() {
        let (keymap, problems) =
            Keymap::parse(&table(&[("all", "ctrl-n", "j"), ("inbox", "ctrl-n", "k"), ("inbox", "O", "o")]));
        assert!(problems.is_empty(), "{problems:?}");
        let ctrl_n = KeyEvent::new(KeyCode::Char('n'), KeyModifiers::CONTROL);
        assert_eq!(keymap.translate(Tab::Inbox, ctrl_n).code, KeyCode::Char('k'));
        assert_eq!(keymap.translate(Tab::Contacts, ctrl_n).code, KeyCode::Char('j'));
        let x = KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE);
        assert_eq!(keymap.translate(Tab::Inbox, x), x);
        let typed_capital = KeyEvent::new(KeyCode::Char('O'), KeyModifiers::SHIFT);
        assert_eq!(keymap.translate(Tab::Inbox, typed_capital).code, KeyCode::Char('o'), "as a terminal sends O");
        assert_eq!(keymap.hints(Tab::Contacts), vec![("ctrl-n".to_string(), "j".to_string())]);
        assert_eq!(keymap.hints(Tab::Inbox).len(), 3);
    }

    #[test]
    fn unusable_entries_are_reported_not_fatal() {
        let (keymap, problems) =
            Keymap::parse(&table(&[("inbx", "a", "b"), ("inbox", "ctrl-", "j"), ("all", "z", "x")]));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("keys.inbx: no such dashboard")), "{problems:?}");
        assert_eq!(keymap.hints(Tab::Inbox), vec![("z".to_string(), "x".to_string())]);
    }
}
