//! What the Inbox does to a conversation beyond replying — templates, stage, assignment, resolve,
//! snooze, private notes, canned replies — and the popups that ask for it. Each popup keeps the
//! conversation it was opened for, so a list that moves underneath it cannot redirect the action.

use chrono::{FixedOffset, Utc};
use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use wacrm_core::inbox::canned::expand;
use wacrm_core::inbox::workflow::SnoozeUntil;
use wacrm_core::{ContactId, MessageId, Stage};

use super::{Focus, Inbox, stage_index};
use crate::intent::{InboxRequest, Intent, Queue};
use crate::panes::{Env, KeyHint, hint};
use crate::popups::Outcome;
use crate::popups::confirm::Confirm;
use crate::popups::form::Form;
use crate::popups::picker::{Item, Picker};
use crate::popups::template_send::{RenderWanted, TemplateSend};
use crate::view::CannedRow;

#[derive(Debug)]
pub(super) enum InboxPopup {
    Template {
        contact: ContactId,
        send: TemplateSend,
    },
    Stage {
        contact: ContactId,
        current: Stage,
        picker: Picker,
    },
    TakeOver {
        contact: ContactId,
        confirm: Confirm,
    },
    /// Assign to anyone: the first entry is "nobody" (unassign).
    AssignTo {
        contact: ContactId,
        picker: Picker,
    },
    Snooze {
        contact: ContactId,
        form: Form,
    },
    Note {
        contact: ContactId,
        form: Form,
    },
    /// The chat's files, newest first.
    Media {
        picker: Picker,
        messages: Vec<MessageId>,
    },
    /// The fields of a canned reply; the result goes into this chat's composer, not out.
    Canned {
        contact: ContactId,
        reply: CannedRow,
        form: Form,
    },
}

impl InboxPopup {
    pub(super) fn keys(&self) -> Vec<KeyHint> {
        match self {
            InboxPopup::Template { .. } => vec![
                hint("j/k Enter", "choose a template"),
                hint("Tab Enter", "next parameter; on the last: preview"),
                hint("y", "send what the preview shows"),
                hint("Esc", "back a step / close"),
            ],
            InboxPopup::Stage { .. } => {
                vec![hint("j/k", "choose a stage"), hint("1-5 Enter", "move to that stage"), hint("Esc", "close")]
            }
            InboxPopup::TakeOver { .. } => vec![hint("y", "take it over"), hint("n Esc", "leave it")],
            InboxPopup::AssignTo { .. } => vec![hint("j/k Enter", "assign to (or nobody)"), hint("Esc", "close")],
            InboxPopup::Media { .. } => vec![hint("j/k Enter", "download and open that file"), hint("Esc", "close")],
            InboxPopup::Snooze { .. } | InboxPopup::Note { .. } | InboxPopup::Canned { .. } => {
                vec![hint("Tab", "next field"), hint("Enter", "on the last field: done"), hint("Esc", "close")]
            }
        }
    }

    pub(super) fn draw(&self, frame: &mut Frame, area: Rect, env: &Env) {
        let theme = env.theme;
        match self {
            InboxPopup::Template { send, .. } => send.draw(frame, area, theme),
            InboxPopup::Stage { picker, .. }
            | InboxPopup::AssignTo { picker, .. }
            | InboxPopup::Media { picker, .. } => picker.draw(frame, area, theme),
            InboxPopup::TakeOver { confirm, .. } => confirm.draw(frame, area, theme),
            InboxPopup::Snooze { form, .. } | InboxPopup::Note { form, .. } | InboxPopup::Canned { form, .. } => {
                form.draw(frame, area, theme)
            }
        }
    }
}

/// What closing a popup leads to.
enum Then {
    Stay,
    Close,
}

impl Inbox {
    pub(super) fn open_templates(&mut self, queue: &mut Queue) {
        let Some(row) = self.selected() else { return };
        let send = TemplateSend::new(format!("{} {}", row.name, row.phone).trim().to_string());
        self.popup = Some(InboxPopup::Template { contact: row.contact, send });
        queue.load(InboxRequest::Templates);
    }

    /// `a`: the conversation becomes mine; taking it from another agent asks first.
    pub(super) fn assign_to_me(&mut self, env: &Env, queue: &mut Queue) {
        let Some(row) = self.selected() else { return };
        match (&row.assigned, row.assigned_id) {
            (Some(agent), Some(id)) if Some(id) != env.me => {
                let lines = vec![
                    format!("{agent} is assigned to the conversation with {}.", row.name),
                    "Take it over? They will no longer see it under \"mine\".".into(),
                ];
                let confirm = Confirm::new("Take over", lines, "take it over");
                self.popup = Some(InboxPopup::TakeOver { contact: row.contact, confirm });
            }
            _ => queue.load(InboxRequest::AssignToMe(row.contact)),
        }
    }

    /// `A`: assign to any teammate, or to nobody.
    pub(super) fn open_assign(&mut self, queue: &mut Queue) {
        let Some(row) = self.selected() else { return };
        let mut picker = Picker::new(format!("Assign {}", row.name), Vec::new());
        picker.set_items(self.assign_items(row.assigned_id), &["loading…"]);
        self.popup = Some(InboxPopup::AssignTo { contact: row.contact, picker });
        queue.load(InboxRequest::Teammates);
    }

    fn assign_items(&self, current: Option<wacrm_core::UserId>) -> Vec<Item> {
        let now = |yes: bool| if yes { "(now)" } else { "" };
        let mut items = vec![Item::new("nobody", now(current.is_none()))];
        items.extend(self.teammates.iter().map(|t| Item::new(t.name.clone(), now(Some(t.id) == current))));
        items
    }

    /// The teammates arrived: fill the open assign picker.
    pub(super) fn take_teammates(&mut self) {
        let current = self.selected().and_then(|r| r.assigned_id);
        let items = self.assign_items(current);
        if let Some(InboxPopup::AssignTo { picker, .. }) = self.popup.as_mut() {
            picker.set_items(items, &["No team members."]);
        }
    }

    pub(super) fn open_stage_picker(&mut self) {
        let Some(row) = self.selected() else { return };
        let items =
            Stage::ALL.iter().map(|s| Item::new(s.as_str(), if *s == row.stage { "(now)" } else { "" })).collect();
        let picker = Picker::new("Move to stage", items).numbered().selecting(stage_index(row.stage));
        self.popup = Some(InboxPopup::Stage { contact: row.contact, current: row.stage, picker });
    }

    /// `x`: resolve an open conversation; reopen a resolved or snoozed one.
    pub(super) fn toggle_resolved(&mut self, queue: &mut Queue) {
        let Some(row) = self.selected() else { return };
        if row.resolved || row.snoozed_until.is_some() {
            queue.load(InboxRequest::Reopen(row.contact));
        } else {
            queue.load(InboxRequest::Resolve(row.contact));
        }
    }

    pub(super) fn open_snooze(&mut self) {
        let Some(row) = self.selected() else { return };
        let intro = vec![
            format!("Hide the conversation with {} until:", row.name),
            "30m, 2h, 3d, 1w, tomorrow, 17:30 or 2026-03-12 09:00 — back earlier if they write.".into(),
        ];
        let form = Form::new("Snooze", intro, vec!["Until".into()]).with_values(&["tomorrow".into()]);
        self.popup = Some(InboxPopup::Snooze { contact: row.contact, form });
    }

    pub(super) fn open_note(&mut self) {
        let Some(row) = self.selected() else { return };
        let intro = vec![format!("A note on {} for the team: never sent to the customer.", row.name)];
        let form = Form::new("Private note", intro, vec!["Note".into()]);
        self.popup = Some(InboxPopup::Note { contact: row.contact, form });
    }

    /// `/shortcut` in the composer: its text replaces the composer's, after its fields are filled in.
    /// Returns false when the composer holds no known shortcut.
    pub(super) fn expand_canned(&mut self, queue: &mut Queue) -> bool {
        let typed = self.composer.text();
        let Some(name) = typed.trim().strip_prefix('/').filter(|n| !n.is_empty() && !n.contains(char::is_whitespace))
        else {
            return false;
        };
        let Some(contact) = self.chat.as_ref().map(|c| c.contact) else { return false };
        let Some(reply) = self.canned.iter().find(|c| c.shortcut.eq_ignore_ascii_case(name)).cloned() else {
            queue
                .push(Intent::Notify(format!("no canned reply /{name} (wacrm canned list); a space sends it as text")));
            queue.load(InboxRequest::Canned);
            return true;
        };
        if reply.fields.is_empty() {
            self.composer.set_text(&reply.body);
            return true;
        }
        // A field called "name" starts as the customer's name; the agent can change it.
        let customer = self.selected().map(|r| r.name.clone()).unwrap_or_default();
        let values: Vec<String> = reply
            .fields
            .iter()
            .map(|f| if f.eq_ignore_ascii_case("name") { customer.clone() } else { String::new() })
            .collect();
        let form = Form::new(format!("/{}", reply.shortcut), vec![reply.body.clone()], reply.fields.clone())
            .with_values(&values);
        self.popup = Some(InboxPopup::Canned { contact, reply, form });
        true
    }

    /// Every key goes to the open popup; its answer becomes a request.
    pub(super) fn popup_key(&mut self, key: KeyEvent, env: &Env, queue: &mut Queue) {
        let Some(popup) = self.popup.as_mut() else { return };
        let then = match popup {
            InboxPopup::Template { contact, send } => {
                let outcome = send.handle_key(key);
                if let Some(RenderWanted { name, params }) = send.take_render_request() {
                    queue.load(InboxRequest::RenderTemplate { contact: *contact, name, params });
                }
                match outcome {
                    Outcome::Done(choice) => {
                        let (name, language, params) = (choice.name, choice.language, choice.params);
                        queue.load(InboxRequest::SendTemplate { contact: *contact, name, language, params });
                        Then::Close
                    }
                    other => closed(&other),
                }
            }
            InboxPopup::Stage { contact, current, picker } => match picker.handle_key(key) {
                Outcome::Done(index) => {
                    if let Some(stage) = Stage::ALL.get(index).filter(|s| *s != current) {
                        queue.load(InboxRequest::SetStage { contact: *contact, stage: *stage });
                    }
                    Then::Close
                }
                other => closed(&other),
            },
            InboxPopup::TakeOver { contact, confirm } => match confirm.handle_key(key) {
                Outcome::Done(()) => {
                    queue.load(InboxRequest::AssignToMe(*contact));
                    Then::Close
                }
                other => closed(&other),
            },
            InboxPopup::AssignTo { contact, picker } => match picker.handle_key(key) {
                Outcome::Done(0) => {
                    queue.load(InboxRequest::Unassign(*contact));
                    Then::Close
                }
                Outcome::Done(index) => {
                    if let Some(user) = self.teammates.get(index - 1).map(|t| t.id) {
                        queue.load(InboxRequest::Assign { contact: *contact, user });
                    }
                    Then::Close
                }
                other => closed(&other),
            },
            InboxPopup::Media { picker, messages } => match picker.handle_key(key) {
                Outcome::Done(index) => {
                    if let Some(message) = messages.get(index) {
                        queue.load(InboxRequest::Media(*message));
                    }
                    Then::Close
                }
                other => closed(&other),
            },
            InboxPopup::Snooze { contact, form } => match form.handle_key(key) {
                Outcome::Done(values) => {
                    let offset = env.offset;
                    match snooze_until(&values[0], env.now, offset) {
                        Ok(until) => {
                            queue.load(InboxRequest::Snooze { contact: *contact, until });
                            Then::Close
                        }
                        Err(message) => {
                            form.refuse(message);
                            Then::Stay
                        }
                    }
                }
                other => closed(&other),
            },
            InboxPopup::Note { contact, form } => match form.handle_key(key) {
                Outcome::Done(values) => {
                    queue.load(InboxRequest::AddNote { contact: *contact, body: values[0].clone() });
                    Then::Close
                }
                other => closed(&other),
            },
            InboxPopup::Canned { contact, reply, form } => match form.handle_key(key) {
                Outcome::Done(values) => {
                    let pairs: Vec<(String, String)> = reply.fields.iter().cloned().zip(values).collect();
                    let text = expand(&reply.body, &pairs);
                    if self.chat.as_ref().is_some_and(|c| c.contact == *contact) {
                        self.composer.set_text(&text);
                        self.focus = Focus::Composer;
                    } else {
                        self.drafts.insert(*contact, text);
                    }
                    Then::Close
                }
                other => closed(&other),
            },
        };
        if matches!(then, Then::Close) {
            self.popup = None;
        }
    }
}

fn closed<T>(outcome: &Outcome<T>) -> Then {
    if matches!(outcome, Outcome::Cancelled) { Then::Close } else { Then::Stay }
}

fn snooze_until(text: &str, now: chrono::DateTime<Utc>, offset: FixedOffset) -> Result<SnoozeUntil, String> {
    SnoozeUntil::parse(text, now, offset).map_err(|e| crate::wording::explain(&e))
}
