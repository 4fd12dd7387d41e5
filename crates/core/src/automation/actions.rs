//! A rule's actions: the seed's object (`{"send_message": "pricing", "move_stage": "Interested"}`,
//! one action per key, in the order written) or a list of such objects when an action repeats.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::rules::{Problem, strings};
use crate::types::{Stage, UserId};

/// A template as a rule names it: by id (the seed's `"pricing_template_id"` may be a number or a
/// numeric string) or by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TemplateRef {
    Id(i32),
    Name(String),
}

/// One action, as stored in the run log's `spec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// An approved template; `params` fill its `{{1}}`, `{{2}}`… and may name contact fields
    /// (`{name}`, `{phone}`).
    SendTemplate {
        template: TemplateRef,
        params: Vec<String>,
    },
    /// Free-form text: only inside the 24-hour window, else skipped with the reason.
    SendText {
        text: String,
    },
    MoveStage {
        stage: Stage,
    },
    AddTag {
        tags: Vec<String>,
    },
    RemoveTag {
        tags: Vec<String>,
    },
    Assign {
        user: UserId,
    },
    /// A note for the team, kept in the run log.
    Notify {
        text: String,
    },
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::SendTemplate { .. } => "send_template",
            Action::SendText { .. } => "send_text",
            Action::MoveStage { .. } => "move_stage",
            Action::AddTag { .. } => "add_tag",
            Action::RemoveTag { .. } => "remove_tag",
            Action::Assign { .. } => "assign",
            Action::Notify { .. } => "notify",
        }
    }

    /// Whether the customer sees it: such actions run after the claim commits, once.
    pub fn is_send(&self) -> bool {
        matches!(self, Action::SendTemplate { .. } | Action::SendText { .. })
    }

    /// Parses `$.action`: an object (one action per key, in order) or a list of objects.
    pub fn parse_all(value: &Value, path: &str) -> Result<Vec<Action>, Problem> {
        let objects: Vec<(String, &Value)> = match value {
            Value::Array(items) => items.iter().enumerate().map(|(i, v)| (format!("{path}[{i}]"), v)).collect(),
            _ => vec![(path.to_string(), value)],
        };
        let mut actions = Vec::new();
        for (at, object) in objects {
            let object = object.as_object().ok_or_else(|| {
                Problem::new(&at, "an action must be a JSON object", r#"write e.g. {"move_stage": "Interested"}"#)
            })?;
            for (key, value) in object {
                actions.push(Action::parse(key, value, &format!("{at}.{key}"))?);
            }
        }
        if actions.is_empty() {
            return Err(Problem::new(path, "the rule has no action", r#"add one, e.g. {"add_tag": "pricing"}"#));
        }
        Ok(actions)
    }

    fn parse(key: &str, value: &Value, at: &str) -> Result<Action, Problem> {
        let text =
            |what: &str| {
                value.as_str().filter(|s| !s.trim().is_empty()).map(str::to_string).ok_or_else(|| {
                    Problem::new(at, format!("`{key}` takes {what}"), format!(r#"write "{key}": "...""#))
                })
            };
        Ok(match key {
            "send_message" | "send_template" => {
                let (template, params) = match value {
                    Value::Object(fields) => {
                        if let Some(unknown) = fields.keys().find(|k| !["template", "params"].contains(&k.as_str())) {
                            return Err(Problem::new(
                                &format!("{at}.{unknown}"),
                                format!("unknown field `{unknown}`"),
                                "a template action has `template` and optional `params`",
                            ));
                        }
                        let template = fields.get("template").ok_or_else(|| {
                            Problem::new(at, "the template is missing", r#"write {"template": "pricing"}"#)
                        })?;
                        let params = match fields.get("params") {
                            Some(p) => strings(p, &format!("{at}.params"))?,
                            None => Vec::new(),
                        };
                        (template_ref(template, &format!("{at}.template"))?, params)
                    }
                    other => (template_ref(other, at)?, Vec::new()),
                };
                Action::SendTemplate { template, params }
            }
            "send_text" => Action::SendText { text: text("the message text")? },
            "move_stage" => Action::MoveStage {
                stage: value.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
                    Problem::new(
                        at,
                        format!("{value} is not a pipeline stage"),
                        "use one of: New, Engaged, Interested, Paid, Lost",
                    )
                })?,
            },
            "add_tag" | "add_tags" => Action::AddTag { tags: strings(value, at)? },
            "remove_tag" | "remove_tags" => Action::RemoveTag { tags: strings(value, at)? },
            "assign" => Action::Assign {
                user: value
                    .as_i64()
                    .and_then(|u| i32::try_from(u).ok())
                    .filter(|u| *u > 0)
                    .map(UserId)
                    .ok_or_else(|| Problem::new(at, "`assign` takes a user id", "see `wacrm users list` for ids"))?,
            },
            "notify" => Action::Notify { text: text("the note's text")? },
            other => {
                return Err(Problem::new(
                    at,
                    format!("unknown action `{other}`"),
                    "use one of: send_message, send_template, send_text, move_stage, add_tag, remove_tag, assign, notify",
                ));
            }
        })
    }
}

fn template_ref(value: &Value, at: &str) -> Result<TemplateRef, Problem> {
    match value {
        Value::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()).map(TemplateRef::Id),
        Value::String(s) if !s.trim().is_empty() => {
            Some(s.trim().parse::<i32>().map(TemplateRef::Id).unwrap_or_else(|_| TemplateRef::Name(s.trim().into())))
        }
        _ => None,
    }
    .ok_or_else(|| Problem::new(at, "a template is named by its id or name", "see `wacrm templates list`"))
}
