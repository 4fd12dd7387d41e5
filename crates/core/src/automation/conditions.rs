//! A rule's condition: the seed's JSON object (`{"contains": ["price", "cost"]}`,
//! `{"from": "Engaged", "to": "Interested"}`), where several keys in one object must all hold, nested
//! with `all` / `any` / `not`. Parsed once on save and on load, so evaluation is plain matching.

use std::collections::BTreeSet;

use regex::{Regex, RegexBuilder};
use serde_json::Value;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use super::rules::{Problem, strings};
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
}

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
}

impl Facts {
    pub fn with_text(mut self, text: &str) -> Facts {
        self.words = words(text);
        self.text = text.to_string();
        self
    }
}

/// Lower case, accents removed (NFD without combining marks), split on anything not a letter or digit.
pub fn words(text: &str) -> Vec<String> {
    let folded: String = text.nfd().filter(|c| !is_combining_mark(*c)).flat_map(char::to_lowercase).collect();
    folded.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_string).collect()
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
                        return Err(Problem::new(&at, "a keyword has no letters or digits", "remove the empty keyword"));
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
                other => {
                    return Err(Problem::new(
                        &at,
                        format!("unknown condition `{other}`"),
                        "use one of: all, any, not, contains, regex, reply_id, from, to, stage, tags_any, tags_all, window",
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
    fn bad_conditions_name_their_path() {
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
