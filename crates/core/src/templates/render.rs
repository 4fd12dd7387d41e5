//! The exact message a contact would get from a template, and the `template.components` of the send
//! request that delivers it (shared/whatsapp-cloud-api.md §4.1). One render path for the inbox,
//! broadcast and automation: a parameter without a value is an error naming it, never an empty string.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use super::lint::check_value;
use super::spec::{HeaderFormat, ParameterFormat, PlaceholderKind, TemplateSpec, placeholders};
use crate::error::{Error, Result, input};

/// Where parameter values come from. Explicit values win over the contact's fields.
///
/// Keys: a body parameter by its number or name (`1`, `first_name`); a numbered header parameter as
/// `header.1` (the header numbers its own); a media header's link as `header`; a URL button's suffix as
/// `button.<index>` (0-based, Meta's index). Named header parameters share the body's names.
#[derive(Debug, Clone, Default)]
pub struct Values {
    pub explicit: BTreeMap<String, String>,
    /// The contact's fields by name: `name`, `first_name`, `phone` (the seed's `{{name}}` → contacts.name).
    pub contact: BTreeMap<String, String>,
}

impl Values {
    /// Parses `k=v` pairs as given on a command line.
    pub fn parse_pairs(pairs: &[String]) -> Result<BTreeMap<String, String>> {
        pairs
            .iter()
            .map(|pair| {
                let (k, v) = pair.split_once('=').ok_or_else(|| {
                    Error::invalid(
                        format!("{pair:?} is not key=value"),
                        format!("give each parameter as KEY=VALUE ({}), e.g. 1=Ana or first_name=Ana", input("param")),
                    )
                })?;
                Ok((k.trim().to_string(), v.to_string()))
            })
            .collect()
    }

    fn lookup(&self, key: &str, contact_too: bool) -> Option<(&str, &'static str)> {
        if let Some(v) = self.explicit.get(key) {
            return Some((v, "explicit"));
        }
        if contact_too && let Some(v) = self.contact.get(key) {
            return Some((v, "contact"));
        }
        None
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rendered {
    pub name: String,
    pub language: String,
    /// The header's text, or `[IMAGE <link>]` for a media header.
    pub header: Option<String>,
    pub body: String,
    pub footer: Option<String>,
    pub buttons: Vec<RenderedButton>,
    /// The send request's `template.components`.
    pub components: Vec<Value>,
    /// Every value used, and whether it was given or came from the contact.
    pub values: Vec<UsedValue>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenderedButton {
    pub kind: String,
    pub text: Option<String>,
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsedValue {
    pub key: String,
    pub value: String,
    pub source: &'static str,
}

struct Filler<'a> {
    values: &'a Values,
    used: Vec<UsedValue>,
    missing: Vec<String>,
    bad: Vec<String>,
}

impl Filler<'_> {
    /// The value for `key`, recorded; `None` (and noted) when there is none or it is unusable.
    fn take(&mut self, key: &str, label: String, contact_too: bool) -> Option<String> {
        let Some((value, source)) = self.values.lookup(key, contact_too) else {
            if !self.missing.contains(&label) {
                self.missing.push(label);
            }
            return None;
        };
        if let Err(why) = check_value(value) {
            self.bad.push(format!("{label} {why}"));
            return None;
        }
        if !self.used.iter().any(|u| u.key == key) {
            self.used.push(UsedValue { key: key.to_string(), value: value.to_string(), source });
        }
        Some(value.to_string())
    }

    /// `text` with its placeholders filled, and the send parameters in Meta's order.
    fn fill(&mut self, text: &str, part: &str, format: ParameterFormat) -> (String, Vec<Value>) {
        let mut out = String::with_capacity(text.len());
        let mut params: BTreeMap<u32, Value> = BTreeMap::new();
        let mut named: Vec<(String, Value)> = Vec::new();
        let mut last = 0;
        for p in placeholders(text) {
            out.push_str(&text[last..p.start]);
            last = p.end;
            let (key, label, number) = match &p.kind {
                PlaceholderKind::Positional(n) if part == "header" => {
                    (format!("header.{n}"), format!("{{{{{n}}}}} (header)"), Some(*n))
                }
                PlaceholderKind::Positional(n) => (n.to_string(), format!("{{{{{n}}}}}"), Some(*n)),
                PlaceholderKind::Named(name) => (name.clone(), format!("{{{{{name}}}}}"), None),
                PlaceholderKind::Malformed(raw) => {
                    self.bad.push(format!("{raw:?} in the {part} is not a parameter"));
                    continue;
                }
            };
            // Numbered parameters are only given explicitly: a number says nothing about a contact field.
            let Some(value) = self.take(&key, label, number.is_none()) else { continue };
            out.push_str(&value);
            match (format, number) {
                (ParameterFormat::Positional, Some(n)) => {
                    params.insert(n, json!({"type": "text", "text": value}));
                }
                _ => {
                    if !named.iter().any(|(k, _)| *k == key) {
                        named.push((key.clone(), json!({"type": "text", "parameter_name": key, "text": value})));
                    }
                }
            }
        }
        out.push_str(&text[last..]);
        (out, params.into_values().chain(named.into_iter().map(|(_, v)| v)).collect())
    }
}

/// Renders `spec` with `values`; `Err` names every parameter without a usable value.
pub fn render(spec: &TemplateSpec, values: &Values) -> Result<Rendered> {
    let mut filler = Filler { values, used: Vec::new(), missing: Vec::new(), bad: Vec::new() };
    let format = spec.parameter_format;
    let mut components = Vec::new();
    let header = spec.header().map(|header| match header.format {
        HeaderFormat::Text => {
            let (text, params) = filler.fill(header.text.as_deref().unwrap_or(""), "header", format);
            if !params.is_empty() {
                components.push(json!({"type": "header", "parameters": params}));
            }
            text
        }
        HeaderFormat::Location => "[LOCATION]".to_string(),
        media => {
            let kind = media.as_str().to_ascii_lowercase();
            let link = filler.take("header", format!("the {kind} header's link (header=https://…)"), false);
            let link = link.unwrap_or_default();
            components.push(json!({"type": "header", "parameters": [{"type": kind, kind.clone(): {"link": link}}]}));
            format!("[{} {link}]", media.as_str())
        }
    });
    let body = match spec.body() {
        Some(body) => {
            let (text, params) = filler.fill(&body.text, "body", format);
            if !params.is_empty() {
                components.push(json!({"type": "body", "parameters": params}));
            }
            text
        }
        None => String::new(),
    };
    let mut buttons = Vec::new();
    for (index, button) in spec.buttons().iter().enumerate() {
        let mut url = button.url.clone();
        if let Some(template_url) = &button.url
            && let Some(p) = placeholders(template_url).first()
        {
            let key = format!("button.{index}");
            if let Some(suffix) = filler.take(&key, format!("the URL of button {index} ({key}=…)"), false) {
                url = Some(format!("{}{suffix}{}", &template_url[..p.start], &template_url[p.end..]));
                components.push(json!({"type": "button", "sub_type": "url", "index": index.to_string(),
                                       "parameters": [{"type": "text", "text": suffix}]}));
            }
        }
        buttons.push(RenderedButton { kind: button.kind(), text: button.text.clone(), url });
    }
    if !filler.missing.is_empty() || !filler.bad.is_empty() {
        let mut problems = Vec::new();
        if !filler.missing.is_empty() {
            problems.push(format!("no value for {}", filler.missing.join(", ")));
        }
        problems.extend(filler.bad);
        let known: Vec<&str> = values.contact.keys().map(String::as_str).collect();
        return Err(Error::invalid(
            format!("template {} cannot be rendered: {}", spec.name, problems.join("; ")),
            format!(
                "give each value as KEY=VALUE ({}: numbered body parameters as 1=…, header ones as header.1=…); \
                 named parameters also come from the contact's fields ({})",
                input("param"),
                if known.is_empty() { "none set".to_string() } else { known.join(", ") }
            ),
        ));
    }
    Ok(Rendered {
        name: spec.name.clone(),
        language: spec.language.clone(),
        header,
        body,
        footer: spec.footer().map(|f| f.text.clone()),
        buttons,
        components,
        values: filler.used,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(value: Value) -> TemplateSpec {
        serde_json::from_value(value).unwrap()
    }

    fn values(explicit: &[(&str, &str)], contact: &[(&str, &str)]) -> Values {
        let map = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Values { explicit: map(explicit), contact: map(contact) }
    }

    #[test]
    fn positional_parameters_are_filled_in_order_and_sent_in_meta_s_shape() {
        let t = spec(json!({"name": "order_update", "language": "pt_BR", "category": "UTILITY", "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
            {"type": "BODY", "text": "Hi {{2}}... no, {{1}} then {{2}} again {{1}}."},
            {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Track", "url": "https://e.com/t/{{1}}"}]}
        ]}));
        let r = render(&t, &values(&[("1", "Ana"), ("2", "4411"), ("header.1", "#4411"), ("button.0", "4411")], &[]))
            .unwrap();
        assert_eq!(r.header.as_deref(), Some("Order #4411"));
        assert_eq!(r.body, "Hi 4411... no, Ana then 4411 again Ana.");
        assert_eq!(r.buttons[0].url.as_deref(), Some("https://e.com/t/4411"));
        assert_eq!(
            r.components,
            vec![
                json!({"type": "header", "parameters": [{"type": "text", "text": "#4411"}]}),
                json!({"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "4411"}]}),
                json!({"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "4411"}]}),
            ]
        );
    }

    #[test]
    fn named_parameters_come_from_the_contact_unless_given() {
        let t = spec(json!({"name": "welcome", "language": "en", "category": "MARKETING", "parameter_format": "NAMED",
            "components": [{"type": "BODY", "text": "Hi {{name}}, use {{code}} today."}]}));
        let r = render(&t, &values(&[("code", "SAVE10")], &[("name", "Ana Souza"), ("phone", "+1555")])).unwrap();
        assert_eq!(r.body, "Hi Ana Souza, use SAVE10 today.");
        assert_eq!(
            r.components[0]["parameters"][0],
            json!({"type": "text", "parameter_name": "name", "text": "Ana Souza"})
        );
        assert_eq!(r.values.iter().map(|v| v.source).collect::<Vec<_>>(), vec!["contact", "explicit"]);
        let r = render(&t, &values(&[("code", "X"), ("name", "Boss")], &[("name", "Ana")])).unwrap();
        assert_eq!(r.body, "Hi Boss, use X today.");
    }

    #[test]
    fn a_missing_or_unusable_value_is_an_error_naming_it() {
        let t = spec(json!({"name": "welcome", "language": "en", "category": "MARKETING", "parameter_format": "NAMED",
            "components": [{"type": "BODY", "text": "Hi {{name}}, use {{code}} and {{code}}."}]}));
        let e = render(&t, &values(&[], &[])).unwrap_err().to_string();
        assert!(e.contains("{{name}}") && e.contains("{{code}}"), "{e}");
        assert_eq!(e.matches("{{code}}").count(), 1, "{e}");
        let e = render(&t, &values(&[("code", "a\nb")], &[("name", "Ana")])).unwrap_err().to_string();
        assert!(e.contains("{{code}} contains a line break"), "{e}");
        let positional = spec(json!({"name": "x", "language": "en", "category": "UTILITY",
            "components": [{"type": "BODY", "text": "Hi {{1}}."}]}));
        // A number is never taken from a contact field.
        assert!(render(&positional, &values(&[], &[("1", "Ana")])).is_err());
    }

    #[test]
    fn media_headers_need_a_link() {
        let t = spec(json!({"name": "x", "language": "en", "category": "MARKETING", "components": [
            {"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "Look at this."}]}));
        assert!(render(&t, &values(&[], &[])).unwrap_err().to_string().contains("image header"));
        let r = render(&t, &values(&[("header", "https://e.com/a.jpg")], &[])).unwrap();
        assert_eq!(
            r.components[0],
            json!({"type": "header", "parameters": [{"type": "image", "image": {"link": "https://e.com/a.jpg"}}]})
        );
    }

    #[test]
    fn pairs_parse() {
        let pairs = Values::parse_pairs(&["1=Ana".into(), "code=a=b".into()]).unwrap();
        assert_eq!(pairs["code"], "a=b");
        assert!(Values::parse_pairs(&["oops".into()]).is_err());
    }
}
