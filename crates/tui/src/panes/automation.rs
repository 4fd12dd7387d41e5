//! 4 Automation: the rules in evaluation order with an enabled toggle, each one's last run and
//! failures, and the selected rule's recent runs; `e` edits the rule's JSON in `$EDITOR`, and core's
//! verdict on save (with the JSON path of the problem) shows inline.

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use wacrm_core::ContactId;

use crate::intent::{Intent, Queue, Update};
use crate::panes::reload::Reload;
use crate::panes::{Env, KeyHint, Pane, hint, passes};
use crate::text::{relative, spread, truncate};
use crate::widgets::listing::{Listed, Listing, Look};

/// What the Automation pane asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutomationRequest {
    Rules,
    /// The newest runs of every rule.
    Runs,
    Toggle {
        rule: i32,
        enabled: bool,
    },
    /// The rule's JSON as edited; `name` is the rule's name before the edit.
    Save {
        name: String,
        text: String,
    },
}

impl AutomationRequest {
    pub fn what(&self) -> &'static str {
        match self {
            AutomationRequest::Rules => "rules",
            AutomationRequest::Runs => "automation runs",
            AutomationRequest::Toggle { .. } | AutomationRequest::Save { .. } => "rule",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum AutomationUpdate {
    Rules(Vec<RuleRow>),
    Runs(Vec<RunRow>),
    /// A toggle or an edit went through; what happened, in words.
    Saved(String),
    /// Core refused the edited rule: its message, naming the JSON path, and the fix.
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleRow {
    pub id: i32,
    pub name: String,
    pub trigger: String,
    pub enabled: bool,
    pub priority: i32,
    pub delay_minutes: i32,
    /// The rule as written (what `export` prints), for the editor.
    pub json: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub id: i64,
    pub rule_id: i32,
    pub contact: Option<ContactId>,
    pub matched: bool,
    /// Why it did not match, or what held it back.
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
    /// Each action: kind, status and detail.
    pub actions: Vec<String>,
    pub failed: bool,
}

/// The runs loaded (the newest of all rules).
pub const RUNS: i64 = 200;

impl Listed for RuleRow {
    type Id = i32;

    fn id(&self) -> i32 {
        self.id
    }

    fn passes(&self, filter: Option<&str>) -> bool {
        passes(filter, &[&self.name, &self.trigger])
    }
}

#[derive(Debug, Default)]
pub struct Automation {
    rules: Listing<RuleRow>,
    runs: Vec<RunRow>,
    only_failed: bool,
    /// The rule being edited: its name, and the text last written (kept when core refuses it, so the
    /// next `e` continues from it).
    editing: Option<(String, String)>,
    /// Core's refusal of the last edit.
    invalid: Option<String>,
    rules_reload: Reload,
    runs_reload: Reload,
}

impl Automation {
    pub fn selected(&self) -> Option<&RuleRow> {
        self.rules.selected()
    }

    pub fn invalid(&self) -> Option<&str> {
        self.invalid.as_deref()
    }

    fn ask_rules(&mut self, queue: &mut Queue) {
        if self.rules_reload.ask() {
            queue.load(AutomationRequest::Rules);
        }
    }

    fn ask_runs(&mut self, queue: &mut Queue) {
        if self.runs_reload.ask() {
            queue.load(AutomationRequest::Runs);
        }
    }

    fn runs_of(&self, rule: i32) -> impl Iterator<Item = &RunRow> {
        self.runs.iter().filter(move |r| r.rule_id == rule)
    }

    fn edit(&mut self, queue: &mut Queue) {
        let Some(rule) = self.selected() else { return };
        let text = match &self.editing {
            Some((name, text)) if *name == rule.name && self.invalid.is_some() => text.clone(),
            _ => rule.json.clone(),
        };
        self.editing = Some((rule.name.clone(), text.clone()));
        queue.push(Intent::OpenEditor(text));
    }

    fn draw_rules(&self, frame: &mut Frame, area: Rect, env: &Env) {
        let theme = env.theme;
        let look = Look {
            title: self.rules.title("Rules"),
            row_lines: 1,
            loading: self.rules_reload.loading(),
            none_match: "No rule matches (Esc clears).",
            none_yet: "No rules yet: wacrm automation add …",
        };
        self.rules.draw(frame, area, theme, look, |frame, row, r, selected| {
            let width = row.width as usize;
            let (mark, style) = if r.enabled { ("● ", theme.good()) } else { ("○ ", theme.dim()) };
            let failures = self.runs_of(r.id).filter(|run| run.failed).count();
            let last = self.runs_of(r.id).next().map(|run| relative(run.at, env.now, env.offset));
            let mut right = Vec::new();
            if failures > 0 {
                right.push(Span::styled(format!("{failures}✗ "), theme.bad()));
            }
            right.push(Span::styled(last.unwrap_or_else(|| "never".into()), theme.dim()));
            let left = vec![
                Span::styled(mark, style),
                Span::raw(truncate(&format!("{} · {}", r.name, r.trigger), width.saturating_sub(14))),
            ];
            let line = spread(left, right, width);
            let line = if selected { line.patch_style(theme.selected()) } else { line };
            frame.render_widget(Paragraph::new(line), row);
        });
    }

    fn draw_runs(&self, frame: &mut Frame, area: Rect, env: &Env) {
        let theme = env.theme;
        let title = match self.selected() {
            Some(r) => format!(
                " {} · priority {}{}{} ",
                r.name,
                r.priority,
                if r.delay_minutes > 0 { format!(" · after {} min", r.delay_minutes) } else { String::new() },
                if self.only_failed { " · failed runs" } else { " · runs" }
            ),
            None => " Runs ".into(),
        };
        let block = Block::default().borders(Borders::ALL).border_style(theme.dim()).title(title);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let mut lines = Vec::new();
        if let Some(invalid) = &self.invalid {
            lines.push(Line::styled("The edit was not saved:", theme.bad()));
            lines.push(Line::styled(invalid.clone(), theme.warn()));
            lines.push(Line::styled("e edits it again · Esc drops it", theme.dim()));
            lines.push(Line::raw(""));
        }
        let Some(rule) = self.selected() else {
            frame.render_widget(Paragraph::new(lines), inner);
            return;
        };
        let runs: Vec<&RunRow> = self.runs_of(rule.id).filter(|r| !self.only_failed || r.failed).collect();
        if runs.is_empty() {
            lines.push(Line::styled("No runs recorded.", theme.dim()));
        }
        let width = inner.width as usize;
        for run in runs {
            let when = format!("{:>6} ", relative(run.at, env.now, env.offset));
            let who = run.contact.map_or(String::new(), |c| format!("contact {c} "));
            let (what, style) = if run.failed {
                (format!("✗ {}", run.actions.join(", ")), theme.bad())
            } else if run.matched {
                (format!("✓ {}", run.actions.join(", ")), theme.good())
            } else {
                (format!("– {}", run.reason.as_deref().unwrap_or("no match")), theme.dim())
            };
            lines.push(Line::from(vec![
                Span::styled(when, theme.dim()),
                Span::raw(who),
                Span::styled(truncate(&what, width.saturating_sub(20)), style),
            ]));
        }
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
    }
}

impl Pane for Automation {
    fn keys(&self) -> Vec<KeyHint> {
        vec![
            hint("j/k ↑/↓", "next / previous rule"),
            hint("g / G", "first / last"),
            hint("Space t", "enable / disable the rule"),
            hint("Enter l e", "edit the rule's JSON in $EDITOR (checked on save)"),
            hint("f", "all runs / failed runs only"),
            hint("/", "show only rules whose name or trigger contains a text"),
            hint("Esc", "drop a refused edit, else clear the filter"),
            hint("R", "reload"),
        ]
    }

    fn handle_key(&mut self, key: KeyEvent, _env: &Env, queue: &mut Queue) -> bool {
        if self.rules.navigate(key.code) {
            return true;
        }
        match key.code {
            KeyCode::Char(' ' | 't') => {
                if let Some(rule) = self.selected() {
                    queue.load(AutomationRequest::Toggle { rule: rule.id, enabled: !rule.enabled });
                }
            }
            KeyCode::Char('e' | 'l') | KeyCode::Enter => self.edit(queue),
            KeyCode::Char('f') => self.only_failed = !self.only_failed,
            KeyCode::Esc if self.invalid.is_some() => {
                self.invalid = None;
                self.editing = None;
            }
            KeyCode::Esc if self.rules.filter().is_some() => self.search("", queue),
            KeyCode::Char('R') => {
                self.ask_rules(queue);
                self.ask_runs(queue);
            }
            _ => return false,
        }
        true
    }

    fn apply(&mut self, update: &Update, _env: &Env, queue: &mut Queue) {
        match update {
            Update::Automation(AutomationUpdate::Rules(rules)) => {
                self.rules.replace(rules.clone());
                if self.rules_reload.done() {
                    queue.load(AutomationRequest::Rules);
                }
            }
            Update::Automation(AutomationUpdate::Runs(runs)) => {
                self.runs = runs.clone();
                if self.runs_reload.done() {
                    queue.load(AutomationRequest::Runs);
                }
            }
            Update::Automation(AutomationUpdate::Saved(what)) => {
                self.invalid = None;
                self.editing = None;
                queue.push(Intent::Notify(what.clone()));
                self.ask_rules(queue);
            }
            Update::Automation(AutomationUpdate::Invalid(message)) => self.invalid = Some(message.clone()),
            Update::Edited(Some(text)) => {
                if let Some((name, last)) = self.editing.as_mut() {
                    *last = text.clone();
                    queue.load(AutomationRequest::Save { name: name.clone(), text: text.clone() });
                }
            }
            Update::Failed { what: "rules", message } => {
                self.rules.set_problem(message.clone());
                if self.rules_reload.done() {
                    queue.load(AutomationRequest::Rules);
                }
            }
            Update::Failed { what: "automation runs", .. } if self.runs_reload.done() => {
                queue.load(AutomationRequest::Runs);
            }
            // The engine runs rules on these events: their runs follow.
            Update::Live(event)
                if self.runs_reload.started()
                    && wacrm_core::automation::Trigger::ALL.iter().any(|t| t.as_str() == event.kind) =>
            {
                self.ask_runs(queue)
            }
            _ => {}
        }
    }

    fn loaded(&self) -> bool {
        self.rules_reload.started()
    }

    fn load(&mut self, queue: &mut Queue) {
        self.ask_rules(queue);
        self.ask_runs(queue);
    }

    fn searches(&self) -> bool {
        true
    }

    fn search(&mut self, text: &str, _queue: &mut Queue) {
        self.rules.filter_by(text);
    }

    fn draw(&self, frame: &mut Frame, area: Rect, env: &Env) {
        let rules_height = (self.rules.shown().len().max(1) as u16 + 2).min(area.height / 2).max(3.min(area.height));
        let [rules, runs] = Layout::vertical([Constraint::Length(rules_height), Constraint::Min(0)]).areas(area);
        self.draw_rules(frame, rules, env);
        self.draw_runs(frame, runs, env);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{ch, env, key, live, loads, rule_runs, rules};
    use crate::intent::Request;

    fn loaded() -> (Automation, Queue) {
        let mut pane = Automation::default();
        let mut queue = Queue::default();
        pane.activate(&mut queue);
        assert_eq!(
            loads(&queue.drain()),
            vec![Request::Automation(AutomationRequest::Rules), Request::Automation(AutomationRequest::Runs)]
        );
        pane.apply(&Update::Automation(AutomationUpdate::Rules(rules())), &env(), &mut queue);
        pane.apply(&Update::Automation(AutomationUpdate::Runs(rule_runs())), &env(), &mut queue);
        queue.drain();
        (pane, queue)
    }

    #[test]
    fn space_toggles_the_selected_rule() {
        let (mut pane, mut queue) = loaded();
        pane.handle_key(ch(' '), &env(), &mut queue);
        pane.handle_key(ch('j'), &env(), &mut queue);
        pane.handle_key(ch('t'), &env(), &mut queue);
        assert_eq!(
            loads(&queue.drain()),
            vec![
                Request::Automation(AutomationRequest::Toggle { rule: 1, enabled: false }),
                Request::Automation(AutomationRequest::Toggle { rule: 2, enabled: true }),
            ]
        );
    }

    #[test]
    fn an_edit_goes_to_core_and_a_refusal_keeps_the_text_for_the_next_edit() {
        let (mut pane, mut queue) = loaded();
        pane.handle_key(ch('e'), &env(), &mut queue);
        let json = rules()[0].json.clone();
        assert_eq!(queue.drain(), vec![Intent::OpenEditor(json)]);
        pane.apply(&Update::Edited(Some("{\"name\": \"pricing reply\"".into())), &env(), &mut queue);
        assert_eq!(
            loads(&queue.drain()),
            vec![Request::Automation(AutomationRequest::Save {
                name: "pricing reply".into(),
                text: "{\"name\": \"pricing reply\"".into()
            })]
        );
        pane.apply(&Update::Automation(AutomationUpdate::Invalid("$: invalid rule JSON".into())), &env(), &mut queue);
        assert_eq!(pane.invalid(), Some("$: invalid rule JSON"));
        pane.handle_key(ch('e'), &env(), &mut queue);
        assert_eq!(queue.drain(), vec![Intent::OpenEditor("{\"name\": \"pricing reply\"".into())]);
        pane.handle_key(key(KeyCode::Esc), &env(), &mut queue);
        assert_eq!(pane.invalid(), None);
    }

    #[test]
    fn an_editor_closed_for_another_pane_saves_nothing() {
        let (mut pane, mut queue) = loaded();
        pane.apply(&Update::Edited(Some("a reply from the inbox".into())), &env(), &mut queue);
        assert!(loads(&queue.drain()).is_empty());
    }

    #[test]
    fn trigger_events_reload_the_runs_and_others_do_not() {
        let (mut pane, mut queue) = loaded();
        pane.apply(&live("conversation_updated", 1), &env(), &mut queue);
        assert!(loads(&queue.drain()).is_empty());
        pane.apply(&live("message_received", 1), &env(), &mut queue);
        assert_eq!(loads(&queue.drain()), vec![Request::Automation(AutomationRequest::Runs)]);
    }
}
