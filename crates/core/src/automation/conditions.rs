//! A rule's condition: the seed's JSON object (`{"contains": ["price", "cost"]}`,
//! `{"from": "Engaged", "to": "Interested"}`), where several keys in one object must all hold, nested
//! with `all` / `any` / `not`. Parsed once on save and on load, so evaluation is plain matching.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDateTime, NaiveTime};

use regex::{Regex, RegexBuilder};
use serde_json::Value;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use super::rules::{Problem, strings};
use crate::error::op;
use crate::types::Stage;

/// Compiled regexes may take at most this much memory: a pathological pattern is refused on save.
const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// One condition, compiled.
#[derive(Debug, Clone)]
pub enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    /// Any of the keywords (each a sequence of folded words) appears on word boundaries.
    Contains(Vec<Vec<String>>),
    Regex(Regex),
    /// The id of the interactive reply (button or list row) the customer chose.
    ReplyId(Vec<String>),
    From(Stage),
    To(Stage),
    /// The contact's current stage.
    Stage(Stage),
    TagsAny(Vec<String>),
    TagsAll(Vec<String>),
    /// Whether the 24-hour customer-service window is open.
    Window(bool),
    /// The reply follows one of these campaigns (any campaign when empty).
    Campaign(Vec<i32>),
    /// Inside (`true`) or outside business hours, in the business's timezone.
    Hours(bool, Hours),
    /// A contact field (name, phone, source, username) passes a test.
    Field(String, FieldTest),
    OptedOut(bool),
    Assigned(bool),
}

/// Opening hours: on these weekdays (bit 0 is Monday), from `open` until `close` (past midnight when
/// `close` is earlier).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hours {
    days: u8,
    open: NaiveTime,
    close: NaiveTime,
}

/// What a contact-field condition asks of the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldTest {
    /// Equal, ignoring case and accents.
    Equals(String),
    /// Contains, ignoring case and accents.
    Contains(String),
    Present(bool),
}

/// The contact fields a condition may test.
pub const FIELDS: [&str; 4] = ["name", "phone", "source", "username"];

/// What a condition is matched against: the triggering event and the contact as they stand.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The message's words, folded (lower case, accents removed).
    pub words: Vec<String>,
    /// The message text as received, for regexes.
    pub text: String,
    pub reply_id: Option<String>,
    pub from: Option<Stage>,
    pub to: Option<Stage>,
    pub stage: Option<Stage>,
    /// The contact's tags, lower case.
    pub tags: BTreeSet<String>,
    pub window_open: bool,
    /// The campaign the customer's reply follows (message_received_after_campaign).
    pub campaign: Option<i32>,
    /// Now, in the business's timezone.
    pub local: Option<NaiveDateTime>,
    /// The contact's non-empty fields of [`FIELDS`], by name.
    pub fields: BTreeMap<String, String>,
    pub opted_out: bool,
    pub assigned: bool,
}

impl Facts {
    pub fn with_text(mut self, text: &str) -> Facts {
        self.words = words(text);
        self.text = text.to_string();
        self
    }
}

/// Lower case with accents removed, for comparing values.
fn fold(text: &str) -> String {
    text.nfd().filter(|c| !is_combining_mark(*c)).flat_map(char::to_lowercase).collect()
}

/// Lower case, accents removed (NFD without combining marks), split on anything not a letter or digit.
pub fn words(text: &str) -> Vec<String> {
    fold(text).split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_string).collect()
}

impl Condition {
    /// Parses a condition object at `path` (e.g. `$.condition.any[1]`).
    pub fn parse(value: &Value, path: &str) -> Result<Condition, Problem> {
        let object = value.as_object().ok_or_else(|| {
            Problem::new(path, "a condition must be a JSON object", r#"write e.g. {"contains": ["price"]} or {}"#)
        })?;
        let mut all = Vec::with_capacity(object.len());
        for (key, value) in object {
            let at = format!("{path}.{key}");
            all.push(match key.as_str() {
                "all" | "any" => {
                    let items = value.as_array().ok_or_else(|| {
                        Problem::new(&at, format!("`{key}` takes a list of conditions"), r#"write [{...}, {...}]"#)
                    })?;
                    let parsed = items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| Condition::parse(item, &format!("{at}[{i}]")))
                        .collect::<Result<Vec<_>, _>>()?;
                    if key == "all" { Condition::All(parsed) } else { Condition::Any(parsed) }
                }
                "not" => Condition::Not(Box::new(Condition::parse(value, &at)?)),
                "contains" | "keywords" => {
                    let keywords: Vec<Vec<String>> = strings(value, &at)?.iter().map(|k| words(k)).collect();
                    if keywords.iter().any(Vec::is_empty) {
                        return Err(Problem::new(
                            &at,
                            "a keyword has no letters or digits",
                            "remove the empty keyword",
                        ));
                    }
                    Condition::Contains(keywords)
                }
                "regex" => {
                    let pattern = value.as_str().ok_or_else(|| {
                        Problem::new(&at, "`regex` takes a pattern string", r#"write e.g. "(?i)order\\s*#?\\d+""#)
                    })?;
                    let regex = RegexBuilder::new(pattern).size_limit(REGEX_SIZE_LIMIT).build().map_err(|e| {
                        Problem::new(&at, format!("invalid regex: {e}"), "fix the pattern, or use `contains` keywords")
                    })?;
                    Condition::Regex(regex)
                }
                "reply_id" => Condition::ReplyId(strings(value, &at)?),
                "from" => Condition::From(stage(value, &at)?),
                "to" => Condition::To(stage(value, &at)?),
                "stage" => Condition::Stage(stage(value, &at)?),
                "tags_any" => Condition::TagsAny(lower(strings(value, &at)?)),
                "tags_all" => Condition::TagsAll(lower(strings(value, &at)?)),
                "window" => match value.as_str() {
                    Some("open") => Condition::Window(true),
                    Some("closed") => Condition::Window(false),
                    _ => return Err(Problem::new(&at, "`window` is \"open\" or \"closed\"", r#"write "open""#)),
                },
                "campaign" => Condition::Campaign(campaigns(value, &at)?),
                "business_hours" => Condition::Hours(true, Hours::parse(value, &at)?),
                "outside_hours" => Condition::Hours(false, Hours::parse(value, &at)?),
                "field" => field(value, &at)?,
                "opted_out" | "assigned" => {
                    let yes = value.as_bool().ok_or_else(|| {
                        Problem::new(&at, format!("`{key}` is true or false"), format!(r#"write "{key}": true"#))
                    })?;
                    if key == "opted_out" { Condition::OptedOut(yes) } else { Condition::Assigned(yes) }
                }
                other => {
                    return Err(Problem::new(
                        &at,
                        format!("unknown condition `{other}`"),
                        "use one of: all, any, not, contains, regex, reply_id, from, to, stage, tags_any, tags_all, \
                         window, campaign, business_hours, outside_hours, field, opted_out, assigned",
                    ));
                }
            });
        }
        Ok(if all.len() == 1 { all.remove(0) } else { Condition::All(all) })
    }

    pub fn matches(&self, facts: &Facts) -> bool {
        match self {
            Condition::All(all) => all.iter().all(|c| c.matches(facts)),
            Condition::Any(any) => any.iter().any(|c| c.matches(facts)),
            Condition::Not(inner) => !inner.matches(facts),
            Condition::Contains(keywords) => keywords.iter().any(|k| facts.words.windows(k.len()).any(|w| w == k)),
            Condition::Regex(regex) => regex.is_match(&facts.text),
            Condition::ReplyId(ids) => facts.reply_id.as_ref().is_some_and(|id| ids.contains(id)),
            Condition::From(stage) => facts.from == Some(*stage),
            Condition::To(stage) => facts.to == Some(*stage),
            Condition::Stage(stage) => facts.stage == Some(*stage),
            Condition::TagsAny(tags) => tags.iter().any(|t| facts.tags.contains(t)),
            Condition::TagsAll(tags) => tags.iter().all(|t| facts.tags.contains(t)),
            Condition::Window(open) => facts.window_open == *open,
            Condition::Campaign(ids) => facts.campaign.is_some_and(|c| ids.is_empty() || ids.contains(&c)),
            Condition::Hours(inside, hours) => facts.local.is_some_and(|at| hours.contains(at)) == *inside,
            Condition::Field(name, test) => {
                let value = facts.fields.get(name);
                match test {
                    FieldTest::Present(present) => value.is_some() == *present,
                    FieldTest::Equals(want) => value.is_some_and(|v| fold(v.trim()) == *want),
                    FieldTest::Contains(want) => value.is_some_and(|v| fold(v).contains(want.as_str())),
                }
            }
            Condition::OptedOut(yes) => facts.opted_out == *yes,
            Condition::Assigned(yes) => facts.assigned == *yes,
        }
    }

    /// The tags the condition names, for checking them against the business's on save.
    pub fn tags(&self, out: &mut Vec<String>) {
        match self {
            Condition::All(all) | Condition::Any(all) => all.iter().for_each(|c| c.tags(out)),
            Condition::Not(inner) => inner.tags(out),
            Condition::TagsAny(tags) | Condition::TagsAll(tags) => out.extend(tags.iter().cloned()),
            _ => {}
        }
    }

    /// The stage transition the condition requires, for the linter's cycle check.
    pub fn transition(&self) -> (Option<Stage>, Option<Stage>) {
        match self {
            Condition::From(s) => (Some(*s), None),
            Condition::To(s) => (None, Some(*s)),
            Condition::All(all) => {
                all.iter().map(Condition::transition).fold((None, None), |acc, t| (acc.0.or(t.0), acc.1.or(t.1)))
            }
            _ => (None, None),
        }
    }
}

fn stage(value: &Value, at: &str) -> Result<Stage, Problem> {
    value.as_str().and_then(|s| s.parse::<Stage>().ok()).ok_or_else(|| {
        Problem::new(at, format!("{value} is not a pipeline stage"), "use one of: New, Engaged, Interested, Paid, Lost")
    })
}

fn campaigns(value: &Value, at: &str) -> Result<Vec<i32>, Problem> {
    let id = |v: &Value| v.as_i64().and_then(|n| i32::try_from(n).ok()).filter(|n| *n > 0);
    let problem = || {
        Problem::new(
            at,
            "`campaign` takes a campaign id, a list of ids, or \"any\"",
            format!("see {}", op("broadcast list")),
        )
    };
    match value {
        Value::String(s) if s == "any" => Ok(Vec::new()),
        Value::Array(items) if !items.is_empty() => items.iter().map(|v| id(v).ok_or_else(problem)).collect(),
        other => id(other).map(|c| vec![c]).ok_or_else(problem),
    }
}

fn field(value: &Value, at: &str) -> Result<Condition, Problem> {
    let shape = r#"write e.g. {"name": "Ana"}, {"name": {"contains": "an"}} or {"username": {"present": true}}"#;
    let object = value
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| Problem::new(at, "`field` takes one field and its test", shape))?;
    let (name, test) = object.iter().next().ok_or_else(|| Problem::new(at, "`field` is empty", shape))?;
    let at = format!("{at}.{name}");
    if !FIELDS.contains(&name.as_str()) {
        return Err(Problem::new(
            &at,
            format!("unknown contact field `{name}`"),
            format!("use one of: {}", FIELDS.join(", ")),
        ));
    }
    let test = match test {
        Value::String(s) => FieldTest::Equals(fold(s.trim())),
        Value::Object(o) if o.len() == 1 => match o.iter().next() {
            Some((k, Value::String(s))) if k == "equals" => FieldTest::Equals(fold(s.trim())),
            Some((k, Value::String(s))) if k == "contains" && !s.is_empty() => FieldTest::Contains(fold(s)),
            Some((k, Value::Bool(b))) if k == "present" => FieldTest::Present(*b),
            _ => {
                return Err(Problem::new(
                    &at,
                    "the test is `equals`, `contains` (text) or `present` (true/false)",
                    shape,
                ));
            }
        },
        _ => return Err(Problem::new(&at, "the test is a value or an object of one test", shape)),
    };
    Ok(Condition::Field(name.clone(), test))
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Hours {
    /// Parses `"Mon-Fri 09:00-18:00"`, `"Mon,Wed,Sat 10:00-14:00"` or `"daily 22:00-06:00"`.
    fn parse(value: &Value, at: &str) -> Result<Hours, Problem> {
        let fix =
            r#"write e.g. "Mon-Fri 09:00-18:00" (days, then opening and closing time, in the business's timezone)"#;
        let problem = |what: &str| Problem::new(at, format!("{what} in {value}"), fix);
        let text = value.as_str().ok_or_else(|| problem("not a text"))?;
        let (days, times) = text.trim().split_once(' ').ok_or_else(|| problem("no days or no times"))?;
        let day = |d: &str| WEEKDAYS.iter().position(|w| d.trim().eq_ignore_ascii_case(w));
        let mut mask = 0u8;
        for part in days.split(',') {
            if part.trim().eq_ignore_ascii_case("daily") {
                mask = 0x7f;
                continue;
            }
            let (from, to) = match part.split_once('-') {
                Some((a, b)) => (day(a), day(b)),
                None => (day(part), day(part)),
            };
            let (Some(from), Some(to)) = (from, to) else { return Err(problem("an unknown weekday")) };
            // A range may wrap past Sunday (Fri-Mon).
            let mut d = from;
            loop {
                mask |= 1 << d;
                if d == to {
                    break;
                }
                d = (d + 1) % 7;
            }
        }
        let (open, close) = times.trim().split_once('-').ok_or_else(|| problem("no opening-closing time"))?;
        let time = |t: &str| NaiveTime::parse_from_str(t.trim(), "%H:%M").map_err(|_| problem("a time not HH:MM"));
        let (open, close) = (time(open)?, time(close)?);
        if open == close {
            return Err(problem("opening and closing at the same time"));
        }
        Ok(Hours { days: mask, open, close })
    }

    /// Whether the local time falls in opening hours; hours past midnight belong to the day they opened.
    pub fn contains(&self, at: NaiveDateTime) -> bool {
        let open_on = |day: chrono::Weekday| self.days & (1 << day.num_days_from_monday()) != 0;
        let time = at.time();
        if self.open < self.close {
            open_on(at.weekday()) && time >= self.open && time < self.close
        } else {
            (open_on(at.weekday()) && time >= self.open) || (open_on(at.weekday().pred()) && time < self.close)
        }
    }
}

fn lower(tags: Vec<String>) -> Vec<String> {
    tags.into_iter().map(|t| t.trim().to_lowercase()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts(text: &str) -> Facts {
        Facts::default().with_text(text)
    }

    #[test]
    fn keywords_are_case_and_accent_insensitive_on_word_boundaries() {
        let c = Condition::parse(&json!({"contains": ["price", "cost", "café latte"]}), "$.condition").unwrap();
        assert!(c.matches(&facts("What's the PRICE?")));
        assert!(c.matches(&facts("one CAFE   latte please")));
        assert!(!c.matches(&facts("priceless")));
        assert!(!c.matches(&facts("costume")));
    }

    #[test]
    fn nesting_and_several_keys_mean_all() {
        let c = Condition::parse(&json!({"from": "Engaged", "to": "Interested"}), "$.condition").unwrap();
        let f = Facts { from: Some(Stage::Engaged), to: Some(Stage::Interested), ..Facts::default() };
        assert!(c.matches(&f));
        assert!(!c.matches(&Facts { from: Some(Stage::New), ..f.clone() }));
        let c = Condition::parse(&json!({"any": [{"contains": "hi"}, {"not": {"window": "open"}}]}), "$").unwrap();
        assert!(c.matches(&facts("oh hi")));
        assert!(c.matches(&facts("nothing")));
        assert!(!c.matches(&Facts { window_open: true, ..facts("nothing") }));
    }

    #[test]
    fn business_hours_campaigns_and_contact_fields() {
        let at = |d: u32, h: u32, m: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, 12, d).unwrap().and_hms_opt(h, m, 0).unwrap()
        };
        let open = Condition::parse(&json!({"business_hours": "Mon-Fri 09:00-18:00"}), "$").unwrap();
        let closed = Condition::parse(&json!({"outside_hours": "Mon-Fri 09:00-18:00"}), "$").unwrap();
        let monday_ten = Facts { local: Some(at(7, 10, 0)), ..Facts::default() };
        let sunday_ten = Facts { local: Some(at(6, 10, 0)), ..Facts::default() };
        let monday_six_pm = Facts { local: Some(at(7, 18, 0)), ..Facts::default() };
        assert!(open.matches(&monday_ten) && !closed.matches(&monday_ten));
        assert!(!open.matches(&sunday_ten) && closed.matches(&sunday_ten));
        assert!(!open.matches(&monday_six_pm));
        let night = Condition::parse(&json!({"business_hours": "Fri 22:00-06:00"}), "$").unwrap();
        assert!(night.matches(&Facts { local: Some(at(12, 3, 0)), ..Facts::default() }), "Saturday 03:00");
        assert!(!night.matches(&Facts { local: Some(at(11, 3, 0)), ..Facts::default() }), "Friday 03:00");

        let any = Condition::parse(&json!({"campaign": "any"}), "$").unwrap();
        let seven = Condition::parse(&json!({"campaign": [7]}), "$").unwrap();
        let reply = Facts { campaign: Some(7), ..Facts::default() };
        assert!(any.matches(&reply) && seven.matches(&reply));
        assert!(!seven.matches(&Facts { campaign: Some(8), ..Facts::default() }));
        assert!(!any.matches(&Facts::default()));

        let ana = Facts { fields: BTreeMap::from([("name".to_string(), "Ána Lima".to_string())]), ..Facts::default() };
        let c = |v: Value| Condition::parse(&json!({ "field": v }), "$").unwrap();
        assert!(c(json!({"name": "ana lima"})).matches(&ana));
        assert!(c(json!({"name": {"contains": "LIM"}})).matches(&ana));
        assert!(c(json!({"username": {"present": false}})).matches(&ana));
        assert!(!c(json!({"name": {"present": false}})).matches(&ana));
        let out = Condition::parse(&json!({"opted_out": true}), "$").unwrap();
        assert!(out.matches(&Facts { opted_out: true, ..Facts::default() }) && !out.matches(&ana));
    }

    #[test]
    fn bad_conditions_name_their_path() {
        let err = Condition::parse(&json!({"field": {"colour": "red"}}), "$.condition").unwrap_err();
        assert_eq!(err.path, "$.condition.field.colour");
        let err = Condition::parse(&json!({"business_hours": "Mon-Fri 9-18"}), "$.condition").unwrap_err();
        assert_eq!(err.path, "$.condition.business_hours");
        let err = Condition::parse(&json!({"campaign": "some"}), "$.condition").unwrap_err();
        assert_eq!(err.path, "$.condition.campaign");
        let err = Condition::parse(&json!({"any": [{"contians": ["x"]}]}), "$.condition").unwrap_err();
        assert_eq!(err.path, "$.condition.any[0].contians");
        let err = Condition::parse(&json!({"regex": "(unclosed"}), "$.condition").unwrap_err();
        assert_eq!(err.path, "$.condition.regex");
        let err = Condition::parse(&json!({"regex": "\\w{1000}{1000}"}), "$.condition").unwrap_err();
        assert!(err.message.contains("invalid regex"), "{}", err.message);
        let err = Condition::parse(&json!({"to": "Won"}), "$.condition").unwrap_err();
        assert_eq!(err.path, "$.condition.to");
    }
}
