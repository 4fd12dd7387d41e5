//! 4 Automation: the rules in evaluation order with an enabled toggle, each one's last run and
//! failures, and the selected rule's recent runs; `e` edits the rule's JSON in `$EDITOR`, and core's
//! verdict on save (with the JSON path of the problem) shows inline.

use std::cell::Cell;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use wacrm_core::ContactId;

use crate::intent::{Intent, Queue, Update};
use crate::panes::reload::Reload;
use crate::panes::{Env, KeyHint, Pane, filtered_title, hint, passes, scroll_to, step};
use crate::text::{self, relative, spread, truncate};

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

#[derive(Debug, Default)]
pub struct Automation {
    rules: Vec<RuleRow>,
    runs: Vec<RunRow>,
    selected: usize,
    offset: Cell<usize>,
    only_failed: bool,
    /// The rule being edited: its name, and the text last written (kept when core refuses it, so the
    /// next `e` continues from it).
    editing: Option<(String, String)>,
    /// Core's refusal of the last edit.
    invalid: Option<String>,
    rules_reload: Reload,
    runs_reload: Reload,
    problem: Option<String>,
    /// `/`: only rules whose name or trigger contains this.
    filter: Option<String>,
}

impl Automation {
    pub fn selected(&self) -> Option<&RuleRow> {
        self.shown().get(self.selected).copied()
    }

    fn shown(&self) -> Vec<&RuleRow> {
        self.rules.iter().filter(|r| passes(self.filter.as_deref(), &[&r.name, &r.trigger])).collect()
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
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.focus_border(true))
            .title(filtered_title("Rules", self.shown().len(), self.filter.as_deref()));
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let shown = self.shown();
        if shown.is_empty() {
            let note = match &self.problem {
                Some(problem) => Line::styled(problem.clone(), theme.warn()),
                None if self.rules_reload.loading() => Line::styled("loading…", theme.dim()),
                None if self.filter.is_some() => Line::styled("No rule matches (Esc clears).", theme.dim()),
                None => Line::styled("No rules yet: wacrm automation add …", theme.dim()),
            };
            frame.render_widget(Paragraph::new(note).wrap(Wrap { trim: true }), inner);
            return;
        }
        let height = inner.height as usize;
        let offset = scroll_to(self.selected, self.offset.get(), height);
        self.offset.set(offset);
        let width = inner.width as usize;
        let lines: Vec<Line> = shown
            .into_iter()
            .enumerate()
            .skip(offset)
            .take(height)
            .map(|(i, r)| {
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
                if i == self.selected { line.patch_style(theme.selected()) } else { line }
            })
            .collect();
        frame.render_widget(Paragraph::new(lines), inner);
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
            hint("Space t", "enable / disable the rule"),
            hint("Enter l e", "edit the rule's JSON in $EDITOR (checked on save)"),
            hint("f", "all runs / failed runs only"),
            hint("/", "show only rules whose name or trigger contains a text"),
            hint("Esc", "drop a refused edit, else clear the filter"),
            hint("R", "reload"),
        ]
    }

    fn handle_key(&mut self, key: KeyEvent, _env: &Env, queue: &mut Queue) -> bool {
        let len = self.shown().len();
        match key.code {
            KeyCode::Char('j') | KeyCode::Down => self.selected = step(self.selected, 1, len),
            KeyCode::Char('k') | KeyCode::Up => self.selected = step(self.selected, -1, len),
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
            KeyCode::Esc if self.filter.is_some() => self.search("", queue),
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
                let keep = self.selected().map(|r| r.id);
                self.rules = rules.clone();
                self.problem = None;
                self.selected = keep.and_then(|id| self.shown().iter().position(|r| r.id == id)).unwrap_or(0);
                self.selected = step(self.selected, 0, self.shown().len());
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
                self.problem = Some(message.clone());
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
        self.filter = text::search_term(text);
        self.selected = 0;
    }

    fn draw(&self, frame: &mut Frame, area: Rect, env: &Env) {
        let rules_height = (self.shown().len().max(1) as u16 + 2).min(area.height / 2).max(3.min(area.height));
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
