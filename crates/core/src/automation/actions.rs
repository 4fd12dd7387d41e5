//! A rule's actions: the seed's object (`{"send_message": "pricing", "move_stage": "Interested"}`,
//! one action per key, in the order written) or a list of such objects when an action repeats.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::rules::{Problem, strings};
use crate::broadcast::{Audience, Param};
use crate::error::op;
use crate::inbox::send::TemplateCategory;
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
    /// To the business's next agent after the one this rule assigned last.
    AssignRoundRobin {},
    /// An in-app notification for the team (`wacrm notifications`), and with a `url` a POST of it
    /// signed with HMAC-SHA256.
    Notify {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// A campaign made through broadcast's own path: a draft, or started with `start`.
    CreateCampaign {
        name: String,
        template: String,
        language: String,
        /// When the rule states one: the template's category must be it.
        category: Option<String>,
        params: Vec<Param>,
        audience: Audience,
        start: bool,
    },
    /// The contact stops marketing messages, through the contacts' one opt-out path.
    OptOut {},
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::SendTemplate { .. } => "send_template",
            Action::SendText { .. } => "send_text",
            Action::MoveStage { .. } => "move_stage",
            Action::AddTag { .. } => "add_tag",
            Action::RemoveTag { .. } => "remove_tag",
            Action::Assign { .. } | Action::AssignRoundRobin {} => "assign",
            Action::Notify { .. } => "notify",
            Action::CreateCampaign { .. } => "create_campaign",
            Action::OptOut {} => "opt_out",
        }
    }

    /// Whether the customer sees it (the per-contact limit counts these).
    pub fn is_send(&self) -> bool {
        matches!(self, Action::SendTemplate { .. } | Action::SendText { .. })
    }

    /// Whether it reaches outside the database (Meta, a webhook) or runs through another dashboard's
    /// pool-level path: it is claimed in the run's transaction and carried out after the commit, once.
    pub fn is_deferred(&self) -> bool {
        self.is_send() || matches!(self, Action::CreateCampaign { .. } | Action::Notify { url: Some(_), .. })
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
            "assign" if value.as_str() == Some("round_robin") => Action::AssignRoundRobin {},
            "assign" => Action::Assign {
                user: value.as_i64().and_then(|u| i32::try_from(u).ok()).filter(|u| *u > 0).map(UserId).ok_or_else(
                    || {
                        Problem::new(
                            at,
                            "`assign` takes a user id or \"round_robin\"",
                            format!("see {} for ids", op("users list")),
                        )
                    },
                )?,
            },
            "notify" => match value {
                Value::Object(fields) => {
                    let shape = r#"write {"text": "hot lead", "url": "https://example.com/hook"}"#;
                    if let Some(unknown) = fields.keys().find(|k| !["text", "url"].contains(&k.as_str())) {
                        return Err(Problem::new(
                            &format!("{at}.{unknown}"),
                            format!("unknown field `{unknown}`"),
                            shape,
                        ));
                    }
                    let text = fields.get("text").and_then(Value::as_str).filter(|t| !t.trim().is_empty());
                    let text = text
                        .ok_or_else(|| Problem::new(&format!("{at}.text"), "the notification needs a text", shape))?;
                    let url = match fields.get("url") {
                        None => None,
                        Some(url) => Some(webhook_url(url, &format!("{at}.url"))?),
                    };
                    Action::Notify { text: text.to_string(), url }
                }
                _ => Action::Notify { text: text("the notification's text")?, url: None },
            },
            "create_campaign" => campaign(value, at)?,
            "opt_out" => match value {
                Value::Bool(true) => Action::OptOut {},
                _ => return Err(Problem::new(at, "`opt_out` takes true", r#"write "opt_out": true"#)),
            },
            other => {
                return Err(Problem::new(
                    at,
                    format!("unknown action `{other}`"),
                    "use one of: send_message, send_template, send_text, move_stage, add_tag, remove_tag, assign, notify, \
                     create_campaign, opt_out",
                ));
            }
        })
    }
}

/// A webhook address: http(s) only, so a rule cannot make the server read its own files.
fn webhook_url(value: &Value, at: &str) -> Result<String, Problem> {
    let url = value.as_str().map(str::trim).unwrap_or_default();
    match reqwest::Url::parse(url) {
        Ok(parsed) if ["http", "https"].contains(&parsed.scheme()) && parsed.host().is_some() => Ok(url.to_string()),
        _ => Err(Problem::new(
            at,
            format!("{value} is not an http(s) address"),
            "write e.g. \"https://example.com/hook\"",
        )),
    }
}

/// `{"create_campaign": {"name": …, "template": …, "params": [...], "audience": {...}, "start": false}}`.
fn campaign(value: &Value, at: &str) -> Result<Action, Problem> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Written {
        name: String,
        template: String,
        #[serde(default = "default_language")]
        language: String,
        /// Optional: the campaign sends the template's own category; a stated one must match it.
        #[serde(default)]
        category: Option<String>,
        #[serde(default)]
        params: Vec<String>,
        #[serde(default)]
        audience: Audience,
        #[serde(default)]
        start: bool,
    }
    let written: Written = serde_json::from_value(value.clone()).map_err(|e| {
        Problem::new(
            at,
            format!("invalid campaign: {e}"),
            r#"write {"name": "Follow-up", "template": "promo", "params": ["first_name"], "audience": {"tags_any": ["vip"]}}"#,
        )
    })?;
    if written.name.trim().is_empty() || written.template.trim().is_empty() {
        return Err(Problem::new(at, "the campaign needs a name and a template", "name both"));
    }
    if written.category.as_deref().is_some_and(|c| c.parse::<TemplateCategory>().is_err()) {
        return Err(Problem::new(
            &format!("{at}.category"),
            "unknown category",
            "use marketing, utility or authentication",
        ));
    }
    let params = written
        .params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            p.parse::<Param>().map_err(|e| {
                Problem::new(&format!("{at}.params[{i}]"), e.to_string(), "name a contact field or give a text")
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(Action::CreateCampaign {
        name: written.name.trim().to_string(),
        template: written.template.trim().to_string(),
        language: written.language,
        category: written.category,
        params,
        audience: written.audience,
        start: written.start,
    })
}

fn default_language() -> String {
    "en_US".into()
}

fn template_ref(value: &Value, at: &str) -> Result<TemplateRef, Problem> {
    match value {
        Value::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()).map(TemplateRef::Id),
        Value::String(s) if !s.trim().is_empty() => {
            Some(s.trim().parse::<i32>().map(TemplateRef::Id).unwrap_or_else(|_| TemplateRef::Name(s.trim().into())))
        }
        _ => None,
    }
    .ok_or_else(|| Problem::new(at, "a template is named by its id or name", format!("see {}", op("templates list"))))
}
