//! A template's definition in Meta's own shape (shared/whatsapp-cloud-api.md §8): what
//! `POST /{waba}/message_templates` takes, what `GET` lists, and what template files in a repository
//! hold (JSON or TOML), so a definition copied from Meta's documentation works as it is.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result, op};
use crate::inbox::send::TemplateCategory;

/// Meta's three template categories; they decide the price and who may receive the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Category {
    #[serde(alias = "marketing")]
    Marketing,
    #[serde(alias = "utility")]
    Utility,
    #[serde(alias = "authentication")]
    Authentication,
}

impl Category {
    /// As Meta spells it (and the `category` column keeps it).
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Marketing => "MARKETING",
            Category::Utility => "UTILITY",
            Category::Authentication => "AUTHENTICATION",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = Error;
    fn from_str(s: &str) -> Result<Category> {
        match s.trim().to_ascii_uppercase().as_str() {
            "MARKETING" => Ok(Category::Marketing),
            "UTILITY" => Ok(Category::Utility),
            "AUTHENTICATION" => Ok(Category::Authentication),
            _ => Err(Error::invalid(
                format!("{s:?} is not a template category"),
                "use one of: MARKETING, UTILITY, AUTHENTICATION",
            )),
        }
    }
}

impl From<Category> for TemplateCategory {
    fn from(category: Category) -> TemplateCategory {
        match category {
            Category::Marketing => TemplateCategory::Marketing,
            Category::Utility => TemplateCategory::Utility,
            Category::Authentication => TemplateCategory::Authentication,
        }
    }
}

/// Numbered (`{{1}}`) or named (`{{first_name}}`) parameters; a template never switches between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ParameterFormat {
    #[default]
    #[serde(alias = "positional")]
    Positional,
    #[serde(alias = "named")]
    Named,
}

impl ParameterFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ParameterFormat::Positional => "POSITIONAL",
            ParameterFormat::Named => "NAMED",
        }
    }
}

impl FromStr for ParameterFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<ParameterFormat> {
        match s.trim().to_ascii_uppercase().as_str() {
            "POSITIONAL" => Ok(ParameterFormat::Positional),
            "NAMED" => Ok(ParameterFormat::Named),
            _ => Err(Error::invalid(format!("{s:?} is not a parameter format"), "use POSITIONAL or NAMED")),
        }
    }
}

/// A template definition: the body of Meta's create call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateSpec {
    pub name: String,
    pub language: String,
    pub category: Category,
    #[serde(default)]
    pub parameter_format: ParameterFormat,
    pub components: Vec<Component>,
}

/// One part of a template. Meta spells the types in capitals; lower case is accepted in files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "UPPERCASE")]
pub enum Component {
    #[serde(alias = "header")]
    Header(Header),
    #[serde(alias = "body")]
    Body(Body),
    #[serde(alias = "footer")]
    Footer(Footer),
    #[serde(alias = "buttons")]
    Buttons(Buttons),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HeaderFormat {
    #[serde(alias = "text")]
    Text,
    #[serde(alias = "image")]
    Image,
    #[serde(alias = "video")]
    Video,
    #[serde(alias = "document")]
    Document,
    #[serde(alias = "location")]
    Location,
}

impl HeaderFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            HeaderFormat::Text => "TEXT",
            HeaderFormat::Image => "IMAGE",
            HeaderFormat::Video => "VIDEO",
            HeaderFormat::Document => "DOCUMENT",
            HeaderFormat::Location => "LOCATION",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format: HeaderFormat,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<Example>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Body {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<Example>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Footer {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Buttons {
    pub buttons: Vec<Button>,
}

/// A button. Its type stays text (QUICK_REPLY, URL, PHONE_NUMBER, COPY_CODE, OTP, FLOW, …) and fields
/// of types we do not model (otp_type, flow_id, …) are kept, so a definition passes through unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Button {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// A URL button's example (`["https://…/123"]`), a COPY_CODE button's example code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<Value>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Button {
    /// The type in capitals.
    pub fn kind(&self) -> String {
        self.kind.trim().to_ascii_uppercase()
    }
}

/// Example values Meta's reviewers read: one per parameter is required.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Example {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_text: Option<Vec<String>>,
    /// One row of values, in parameter order (Meta nests it: `[["Mark", "FALL25"]]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_text: Option<Vec<Vec<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_text_named_params: Option<Vec<NamedExample>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_text_named_params: Option<Vec<NamedExample>>,
    /// A media header's sample, uploaded through Meta's resumable upload API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_handle: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedExample {
    pub param_name: String,
    pub example: String,
}

impl TemplateSpec {
    /// Reads a definition from a file's text: JSON when it starts with `{`, TOML otherwise.
    pub fn parse(text: &str) -> Result<TemplateSpec> {
        let parsed = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| e.to_string())
        } else {
            use figment::providers::Format as _;
            figment::Figment::from(figment::providers::Toml::string(text)).extract().map_err(|e| e.to_string())
        };
        parsed.map_err(|e| {
            Error::invalid(
                format!("the template definition cannot be read: {e}"),
                format!(
                    "write Meta's create body: name, language, category and components (see {})",
                    op("templates create --help")
                ),
            )
        })
    }

    /// Reads Meta's `components` array as stored; `None` when it holds a component we do not model.
    pub fn components_from(value: &Value) -> Option<Vec<Component>> {
        serde_json::from_value(value.clone()).ok()
    }

    pub fn header(&self) -> Option<&Header> {
        self.components.iter().find_map(|c| match c {
            Component::Header(h) => Some(h),
            _ => None,
        })
    }

    pub fn body(&self) -> Option<&Body> {
        self.components.iter().find_map(|c| match c {
            Component::Body(b) => Some(b),
            _ => None,
        })
    }

    pub fn footer(&self) -> Option<&Footer> {
        self.components.iter().find_map(|c| match c {
            Component::Footer(f) => Some(f),
            _ => None,
        })
    }

    pub fn buttons(&self) -> &[Button] {
        self.components
            .iter()
            .find_map(|c| match c {
                Component::Buttons(b) => Some(b.buttons.as_slice()),
                _ => None,
            })
            .unwrap_or(&[])
    }

    /// Meta's create body.
    pub fn to_meta(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A `{{…}}` found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// Byte offsets of the `{{` and just after the `}}` (or the text's end when unclosed).
    pub start: usize,
    pub end: usize,
    pub kind: PlaceholderKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaceholderKind {
    Positional(u32),
    Named(String),
    /// Neither: `{{ 1 }}`, `{{First}}`, `{{}}`, an unclosed `{{`; the text as written.
    Malformed(String),
}

impl Placeholder {
    /// The key a value is given under: `1`, `first_name`.
    pub fn key(&self) -> Option<String> {
        match &self.kind {
            PlaceholderKind::Positional(n) => Some(n.to_string()),
            PlaceholderKind::Named(name) => Some(name.clone()),
            PlaceholderKind::Malformed(_) => None,
        }
    }
}

/// Whether `name` is a valid named parameter: a lowercase letter, then lowercase letters, digits, `_`.
pub fn is_parameter_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Every placeholder in `text`, in order.
pub fn placeholders(text: &str) -> Vec<Placeholder> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = text[from..].find("{{") {
        let start = from + offset;
        let inner_start = start + 2;
        let Some(close) = text[inner_start..].find("}}") else {
            found.push(Placeholder {
                start,
                end: text.len(),
                kind: PlaceholderKind::Malformed(text[start..].to_string()),
            });
            break;
        };
        let inner = &text[inner_start..inner_start + close];
        let end = inner_start + close + 2;
        let kind = if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) && !inner.starts_with('0') {
            inner.parse().map(PlaceholderKind::Positional).unwrap_or_else(|_| PlaceholderKind::Malformed(inner.into()))
        } else if is_parameter_name(inner) {
            PlaceholderKind::Named(inner.to_string())
        } else {
            PlaceholderKind::Malformed(text[start..end].to_string())
        };
        found.push(Placeholder { start, end, kind });
        from = end;
    }
    found
}

/// The distinct parameter keys of `text` in order of first use.
pub fn parameter_keys(text: &str) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for key in placeholders(text).iter().filter_map(Placeholder::key) {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_told_apart() {
        let found: Vec<PlaceholderKind> = placeholders("Hi {{1}}, {{first_name}} {{ 2 }} {{Name}} {{}} {{01}} {{3")
            .into_iter()
            .map(|p| p.kind)
            .collect();
        assert_eq!(
            found,
            vec![
                PlaceholderKind::Positional(1),
                PlaceholderKind::Named("first_name".into()),
                PlaceholderKind::Malformed("{{ 2 }}".into()),
                PlaceholderKind::Malformed("{{Name}}".into()),
                PlaceholderKind::Malformed("{{}}".into()),
                PlaceholderKind::Malformed("{{01}}".into()),
                PlaceholderKind::Malformed("{{3".into()),
            ]
        );
        assert_eq!(parameter_keys("{{2}} {{1}} {{2}}"), vec!["2", "1"]);
    }

    #[test]
    fn meta_s_documented_create_body_reads_and_writes_back_unchanged() {
        let body = serde_json::json!({
            "name": "seasonal_promotion", "language": "en_US", "category": "MARKETING",
            "parameter_format": "POSITIONAL",
            "components": [
                {"type": "HEADER", "format": "TEXT", "text": "Our {{1}} is on!", "example": {"header_text": ["Summer Sale"]}},
                {"type": "BODY", "text": "Shop now through {{1}} and use code {{2}} to get {{3}} off.",
                 "example": {"body_text": [["the end of August", "25OFF", "25%"]]}},
                {"type": "FOOTER", "text": "Use the buttons below to manage your marketing subscriptions"},
                {"type": "BUTTONS", "buttons": [
                    {"type": "QUICK_REPLY", "text": "Unsubscribe from Promos"},
                    {"type": "URL", "text": "Shop", "url": "https://example.com/shop/{{1}}", "example": ["https://example.com/shop/summer"]},
                    {"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy"}
                ]}
            ]
        });
        let spec: TemplateSpec = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(spec.category, Category::Marketing);
        assert_eq!(spec.buttons()[2].other["otp_type"], "COPY_CODE");
        assert_eq!(spec.to_meta(), body);
    }

    #[test]
    fn toml_files_read_like_json_ones() {
        let spec = TemplateSpec::parse(
            r#"
name = "order_update"
language = "en_US"
category = "utility"
[[components]]
type = "BODY"
text = "Hi {{1}}, your order {{2}} is on its way."
example = { body_text = [["Ana", "4411"]] }
"#,
        )
        .unwrap();
        assert_eq!(spec.category, Category::Utility);
        assert_eq!(spec.body().unwrap().text, "Hi {{1}}, your order {{2}} is on its way.");
        let e = TemplateSpec::parse(r#"{"name": "x", "language": "en", "category": "PROMO", "components": []}"#)
            .unwrap_err();
        assert!(e.to_string().contains("PROMO"), "{e}");
    }
}
