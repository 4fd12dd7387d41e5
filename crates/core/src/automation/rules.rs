//! A rule as written (JSON, the unit of `add`, `export` and `import`) and as compiled for the engine.
//! Every problem names the JSON path it is at and the fix, and a rule is refused on save, never
//! stored broken (a broken rule that goes silent is the failure wave2-anchors §A.1 describes).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::actions::Action;
use super::conditions::Condition;
use super::cron::Cron;
use crate::error::{Error, op};

/// How many automated steps may lead to a rule firing (a rule's effects are one step deeper than
/// their trigger): a chain of rules stops here.
pub const MAX_DEPTH: u8 = 3;

/// The default per-contact limit: a rule sends to one contact at most once per this many hours.
pub const DEFAULT_CONTACT_LIMIT_HOURS: i32 = 24;

/// What went wrong in a rule, where, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// A JSON path, e.g. `$.condition.any[0].contains`.
    pub path: String,
    pub message: String,
    pub fix: String,
}

impl Problem {
    pub fn new(path: &str, message: impl Into<String>, fix: impl Into<String>) -> Problem {
        Problem { path: path.to_string(), message: message.into(), fix: fix.into() }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl From<Problem> for Error {
    fn from(p: Problem) -> Error {
        Error::invalid(format!("the rule is invalid at {}: {}", p.path, p.message), p.fix)
    }
}

/// A string or a list of non-empty strings.
pub(crate) fn strings(value: &Value, at: &str) -> Result<Vec<String>, Problem> {
    let list = match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| Problem::new(&format!("{at}[{i}]"), format!("{v} is not a string"), "quote it"))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(Problem::new(at, "expected a string or a list of strings", r#"write ["a", "b"]"#)),
    };
    if list.is_empty() || list.iter().any(|s| s.trim().is_empty()) {
        return Err(Problem::new(at, "an empty value", "give at least one non-empty value"));
    }
    Ok(list)
}

/// The events a rule can react to (the stored event kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    MessageReceived,
    MessageSent,
    StageChanged,
    ContactCreated,
    TagAdded,
    OptedOut,
    /// A campaign's recipient wrote back within the campaign's attribution window.
    MessageReceivedAfterCampaign,
    /// The customer has not answered `delay_minutes` after our last message.
    NoReply,
    /// We have not answered the customer's message within `delay_minutes`.
    Unanswered,
    /// The rule's `cron` expression, in the business's timezone, over the contacts its condition selects.
    Schedule,
}

impl Trigger {
    pub const ALL: [Trigger; 10] = [
        Trigger::MessageReceived,
        Trigger::MessageSent,
        Trigger::StageChanged,
        Trigger::ContactCreated,
        Trigger::TagAdded,
        Trigger::OptedOut,
        Trigger::MessageReceivedAfterCampaign,
        Trigger::NoReply,
        Trigger::Unanswered,
        Trigger::Schedule,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::MessageReceived => "message_received",
            Trigger::MessageSent => "message_sent",
            Trigger::StageChanged => "stage_changed",
            Trigger::ContactCreated => "contact_created",
            Trigger::TagAdded => "tag_added",
            Trigger::OptedOut => "opted_out",
            Trigger::MessageReceivedAfterCampaign => "message_received_after_campaign",
            Trigger::NoReply => "no_reply",
            Trigger::Unanswered => "unanswered",
            Trigger::Schedule => "schedule",
        }
    }

    /// The stored event kind that sets the trigger off (for no_reply and unanswered: arms it); none
    /// for a schedule, which the clock sets off.
    pub fn event_kind(self) -> Option<&'static str> {
        match self {
            Trigger::NoReply => Some("message_sent"),
            Trigger::Unanswered => Some("message_received"),
            Trigger::Schedule => None,
            other => Some(other.as_str()),
        }
    }

    /// What ends a no_reply or unanswered wait before it fires: the customer's reply, or our answer.
    pub fn ended_by(self) -> &'static str {
        match self {
            Trigger::Unanswered => "message_sent",
            _ => "message_received",
        }
    }
}

impl FromStr for Trigger {
    type Err = Problem;
    fn from_str(s: &str) -> Result<Trigger, Problem> {
        Trigger::ALL.into_iter().find(|t| t.as_str() == s.trim()).ok_or_else(|| {
            let all: Vec<&str> = Trigger::ALL.iter().map(|t| t.as_str()).collect();
            Problem::new("$.trigger", format!("unknown trigger {s:?}"), format!("use one of: {}", all.join(", ")))
        })
    }
}

/// A rule as written: what `add` and `import` take and `export` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub name: String,
    pub trigger: String,
    #[serde(default = "empty_object")]
    pub condition: Value,
    pub action: Value,
    #[serde(default)]
    pub delay_minutes: i32,
    #[serde(default = "default_priority")]
    pub priority: i32,
    #[serde(default)]
    pub stop_processing: bool,
    #[serde(default = "default_limit")]
    pub contact_limit_hours: i32,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The `schedule` trigger's cron expression (minute hour day month weekday), in the business's
    /// timezone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}
fn default_priority() -> i32 {
    100
}
fn default_limit() -> i32 {
    DEFAULT_CONTACT_LIMIT_HOURS
}
fn yes() -> bool {
    true
}

impl RuleSpec {
    /// Reads one rule from JSON text, naming the problem's place.
    pub fn from_json(text: &str) -> Result<RuleSpec, Problem> {
        serde_json::from_str(text).map_err(|e| {
            Problem::new(
                "$",
                format!("invalid rule JSON: {e}"),
                format!("see {} for the shape", op("automation add --help")),
            )
        })
    }

    /// Reads a list of rules (what `export` prints), naming each problem's rule by index.
    pub fn list_from_json(text: &str) -> Result<Vec<RuleSpec>, Problem> {
        let values: Vec<Value> = serde_json::from_str(text).map_err(|e| {
            Problem::new("$", format!("invalid JSON: {e}"), "the file holds a list of rules, as `export` prints")
        })?;
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                serde_json::from_value(v).map_err(|e| {
                    Problem::new(&format!("$[{i}]"), format!("invalid rule: {e}"), "fix or remove the field named")
                })
            })
            .collect()
    }

    /// The rule as stored: PostgreSQL's jsonb keeps an object's keys in its own order, not the
    /// writer's, so an action object of several keys becomes a list of one-key objects, which keeps
    /// the order the actions run in.
    pub fn normalized(&self) -> RuleSpec {
        let mut spec = self.clone();
        spec.name = spec.name.trim().to_string();
        spec.trigger = spec.trigger.trim().to_string();
        if let Value::Object(fields) = &self.action
            && fields.len() > 1
        {
            spec.action = Value::Array(
                fields.iter().map(|(k, v)| Value::Object([(k.clone(), v.clone())].into_iter().collect())).collect(),
            );
        }
        spec
    }

    /// Checks everything that does not need the database and compiles the rule.
    pub fn compile(&self) -> Result<Compiled, Problem> {
        if self.name.trim().is_empty() || self.name.chars().count() > 100 {
            return Err(Problem::new(
                "$.name",
                "a rule needs a name of 1-100 characters",
                "name it, e.g. \"pricing reply\"",
            ));
        }
        let trigger: Trigger = self.trigger.parse()?;
        let cron = match (trigger, &self.cron) {
            (Trigger::Schedule, Some(expression)) => Some(Cron::parse(expression, "$.cron")?),
            (Trigger::Schedule, None) => {
                return Err(Problem::new(
                    "$.cron",
                    "a schedule rule needs a cron expression",
                    r#"add e.g. "cron": "0 9 * * 1-5" (09:00 on weekdays, in the business's timezone)"#,
                ));
            }
            (_, Some(_)) => {
                return Err(Problem::new(
                    "$.cron",
                    "only a schedule rule has a cron expression",
                    r#"remove `cron`, or use "trigger": "schedule""#,
                ));
            }
            (_, None) => None,
        };
        if matches!(trigger, Trigger::NoReply | Trigger::Unanswered) && self.delay_minutes == 0 {
            return Err(Problem::new(
                "$.delay_minutes",
                format!("a {} rule waits `delay_minutes` minutes, and 0 would never wait", trigger.as_str()),
                "set delay_minutes to the wait, e.g. 60",
            ));
        }
        let condition = Condition::parse(&self.condition, "$.condition")?;
        let actions = Action::parse_all(&self.action, "$.action")?;
        if !(0..=43_200).contains(&self.delay_minutes) {
            return Err(Problem::new(
                "$.delay_minutes",
                "the delay is out of range",
                "use 0 to 43200 minutes (30 days)",
            ));
        }
        if self.delay_minutes > 24 * 60 && actions.iter().any(|a| matches!(a, Action::SendText { .. })) {
            return Err(Problem::new(
                "$.delay_minutes",
                "a text sent more than 24 h after the trigger falls outside the customer-service window",
                "shorten the delay, or send an approved template instead of text",
            ));
        }
        if self.contact_limit_hours < 0 {
            return Err(Problem::new(
                "$.contact_limit_hours",
                "the limit is negative",
                "use 0 (no limit) or more hours",
            ));
        }
        Ok(Compiled { trigger, condition, actions, cron })
    }
}

/// A rule's trigger, condition and actions, parsed.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub trigger: Trigger,
    pub condition: Condition,
    pub actions: Vec<Action>,
    pub cron: Option<Cron>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::automation::actions::TemplateRef;
    use crate::types::Stage;

    #[test]
    fn the_seeds_examples_parse_verbatim() {
        let spec = RuleSpec::from_json(
            r#"{"name": "pricing", "trigger": "message_received", "condition": {"contains": ["price", "cost"]},
                "action": {"send_message": "pricing_template_id", "move_stage": "Interested"}, "delay_minutes": 0}"#,
        )
        .unwrap();
        let rule = spec.compile().unwrap();
        assert_eq!(rule.trigger, Trigger::MessageReceived);
        assert_eq!(
            rule.actions,
            vec![
                Action::SendTemplate { template: TemplateRef::Name("pricing_template_id".into()), params: vec![] },
                Action::MoveStage { stage: Stage::Interested },
            ]
        );
        let spec = RuleSpec::from_json(
            r#"{"name": "brochure", "trigger": "stage_changed", "condition": { "from": "Engaged", "to": "Interested" },
                "action": {"send_message": "7", "notify": "hot lead", "add_tag": "brochure"}, "delay_minutes": 60}"#,
        )
        .unwrap();
        let rule = spec.compile().unwrap();
        assert_eq!(rule.actions[0], Action::SendTemplate { template: TemplateRef::Id(7), params: vec![] });
        assert_eq!(rule.condition.transition(), (Some(Stage::Engaged), Some(Stage::Interested)));
    }

    #[test]
    fn problems_name_the_path_and_the_fix() {
        let problem = |json: &str| RuleSpec::from_json(json).and_then(|s| s.compile().map(|_| ())).unwrap_err();
        let p = problem(r#"{"name": "x", "trigger": "message_received", "action": {"move_stage": "Won"}}"#);
        assert_eq!(p.path, "$.action.move_stage");
        let p = problem(r#"{"name": "x", "trigger": "msg", "action": {"notify": "n"}}"#);
        assert_eq!(p.path, "$.trigger");
        let p = problem(r#"{"name": "x", "trigger": "message_received", "action": {"notify": "n"}, "colour": 1}"#);
        assert!(p.message.contains("unknown field `colour`"), "{}", p.message);
        let p = problem(
            r#"{"name": "x", "trigger": "message_received", "action": {"send_text": "hi"}, "delay_minutes": 2000}"#,
        );
        assert_eq!(p.path, "$.delay_minutes");
        let p = problem(r#"{"name": "x", "trigger": "message_received", "action": [{"notify": "a"}, {"sned": 1}]}"#);
        assert_eq!(p.path, "$.action[1].sned");
    }
}
