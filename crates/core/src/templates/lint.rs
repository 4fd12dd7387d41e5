//! Offline checks of a template definition: every rule of shared/wave2-anchors.md §D that needs no
//! network, run before every create and submit and on template files in CI. Each finding names the
//! field, the rule (a stable code scripts can key on) and the fix. Pure functions, no I/O.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use super::spec::{
    Button, Category, Component, Example, Header, HeaderFormat, ParameterFormat, Placeholder, PlaceholderKind,
    TemplateSpec, placeholders,
};

pub const MAX_NAME: usize = 512;
pub const MAX_BODY: usize = 1024;
pub const MAX_HEADER: usize = 60;
pub const MAX_FOOTER: usize = 60;
pub const MAX_BUTTONS: usize = 10;
pub const MAX_URL_BUTTONS: usize = 2;
pub const MAX_PHONE_BUTTONS: usize = 1;
pub const MAX_QUICK_REPLIES: usize = 10;
pub const MAX_BUTTON_LABEL: usize = 25;
pub const MAX_BUTTON_PHONE: usize = 20;
pub const MAX_BUTTON_URL: usize = 2000;
/// Send-time values: Meta refuses more consecutive spaces than this.
pub const MAX_CONSECUTIVE_SPACES: usize = 4;

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LintError {
    /// Where: `name`, `body.text`, `buttons[1].url`, …
    pub field: String,
    /// The rule's stable code, e.g. `body-too-long`.
    pub rule: &'static str,
    pub message: String,
    pub fix: String,
}

impl fmt::Display for LintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} [{}]; fix: {}", self.field, self.message, self.rule, self.fix)
    }
}

#[derive(Default)]
struct Findings(Vec<LintError>);

impl Findings {
    fn add(
        &mut self,
        field: impl Into<String>,
        rule: &'static str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.0.push(LintError { field: field.into(), rule, message: message.into(), fix: fix.into() });
    }
}

/// Every broken rule of `spec`, in the order of its fields; empty when it may be submitted.
pub fn lint(spec: &TemplateSpec) -> Vec<LintError> {
    let mut out = Findings::default();
    name(&mut out, &spec.name);
    language(&mut out, &spec.language);
    let mut seen = BTreeSet::new();
    for component in &spec.components {
        let kind = match component {
            Component::Header(_) => "header",
            Component::Body(_) => "body",
            Component::Footer(_) => "footer",
            Component::Buttons(_) => "buttons",
        };
        if !seen.insert(kind) {
            out.add(
                kind,
                "component-repeated",
                format!("the template has more than one {kind}"),
                format!("keep one {kind} component"),
            );
        }
    }
    let format = spec.parameter_format;
    match spec.body() {
        Some(body) => text_with_parameters(&mut out, "body", &body.text, body.example.as_ref(), format),
        None => {
            out.add("body", "body-missing", "the template has no body", "add a BODY component with the message text")
        }
    }
    if let Some(header) = spec.header() {
        self::header(&mut out, header, format);
    }
    if let Some(footer) = spec.footer() {
        let text = &footer.text;
        if text.chars().count() > MAX_FOOTER {
            out.add(
                "footer.text",
                "footer-too-long",
                format!("the footer has {} characters, more than {MAX_FOOTER}", text.chars().count()),
                format!("shorten the footer to {MAX_FOOTER} characters"),
            );
        }
        if !placeholders(text).is_empty() {
            out.add("footer.text", "footer-parameters", "the footer has a parameter", "write the footer as fixed text");
        }
        if text.contains('\n') || text.chars().any(is_emoji) {
            out.add(
                "footer.text",
                "footer-characters",
                "the footer has a line break or an emoji",
                "write the footer on one line without emoji",
            );
        }
    }
    buttons(&mut out, spec.buttons(), spec.category);
    out.0
}

/// Refuses send-time parameter values Meta would refuse: empty, a newline or tab, more than four
/// consecutive spaces. `Err` says why.
pub fn check_value(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("is empty".into());
    }
    if value.contains(['\n', '\r', '\t']) {
        return Err("contains a line break or a tab".into());
    }
    if value.contains(&" ".repeat(MAX_CONSECUTIVE_SPACES + 1)) {
        return Err(format!("has more than {MAX_CONSECUTIVE_SPACES} consecutive spaces"));
    }
    Ok(())
}

fn name(out: &mut Findings, name: &str) {
    if name.is_empty() {
        out.add(
            "name",
            "name-empty",
            "the name is empty",
            "name it in lowercase letters, digits and _, e.g. order_update",
        );
        return;
    }
    if name.chars().count() > MAX_NAME {
        out.add(
            "name",
            "name-too-long",
            format!("the name has {} characters, more than {MAX_NAME}", name.chars().count()),
            format!("shorten the name to {MAX_NAME} characters"),
        );
    }
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        let suggestion: String =
            name.trim().chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
        out.add(
            "name",
            "name-charset",
            format!("{name:?} has characters other than lowercase letters, digits and _"),
            format!("rename it, e.g. {suggestion:?}"),
        );
    }
}

/// Meta's language codes: `en`, `pt_BR`, `zh_CN`, `fil`.
fn language(out: &mut Findings, code: &str) {
    let (lang, region) = code.split_once('_').map_or((code, None), |(l, r)| (l, Some(r)));
    let lang_ok = (2..=3).contains(&lang.len()) && lang.bytes().all(|b| b.is_ascii_lowercase());
    let region_ok = region.is_none_or(|r| r.len() == 2 && r.bytes().all(|b| b.is_ascii_uppercase()));
    if !lang_ok || !region_ok {
        out.add(
            "language",
            "language-format",
            format!("{code:?} is not a language code"),
            "use Meta's code: a language, optionally _ and a region, e.g. en, en_US, pt_BR",
        );
    }
}

fn header(out: &mut Findings, header: &Header, format: ParameterFormat) {
    if header.format != HeaderFormat::Text {
        if header.text.is_some() {
            out.add(
                "header.text",
                "header-text-on-media",
                format!("a {} header has text", header.format.as_str()),
                "remove the text, or make the header format TEXT",
            );
        }
        let has_handle = header.example.as_ref().and_then(|e| e.header_handle.as_ref()).is_some_and(|h| !h.is_empty());
        if header.format != HeaderFormat::Location && !has_handle {
            out.add(
                "header.example.header_handle",
                "media-example-missing",
                format!("the {} header has no sample", header.format.as_str()),
                "upload a sample with Meta's resumable upload API and put its handle in example.header_handle",
            );
        }
        return;
    }
    let Some(text) = header.text.as_deref().filter(|t| !t.trim().is_empty()) else {
        out.add(
            "header.text",
            "header-text-missing",
            "the TEXT header has no text",
            "write the header text, or drop the header",
        );
        return;
    };
    if text.chars().count() > MAX_HEADER {
        out.add(
            "header.text",
            "header-too-long",
            format!("the header has {} characters, more than {MAX_HEADER}", text.chars().count()),
            format!("shorten the header to {MAX_HEADER} characters"),
        );
    }
    if text.contains('\n') || text.chars().any(|c| is_emoji(c) || matches!(c, '*' | '~' | '`')) {
        out.add(
            "header.text",
            "header-characters",
            "the header has a line break, an emoji or formatting (*, ~, `)",
            "write the header as plain text on one line",
        );
    }
    let count = placeholders(text).len();
    if count > 1 {
        out.add(
            "header.text",
            "header-parameters",
            format!("the header has {count} parameters; at most 1 is allowed"),
            "keep one parameter in the header and move the rest to the body",
        );
    }
    parameters(out, "header", text, header.example.as_ref(), format, false);
}

fn text_with_parameters(
    out: &mut Findings,
    field: &str,
    text: &str,
    example: Option<&Example>,
    format: ParameterFormat,
) {
    let chars = text.chars().count();
    if text.trim().is_empty() {
        out.add(format!("{field}.text"), "body-empty", "the body is empty", "write the message text");
        return;
    }
    if chars > MAX_BODY {
        out.add(
            format!("{field}.text"),
            "body-too-long",
            format!("the body has {chars} characters, more than {MAX_BODY}"),
            format!("shorten the body to {MAX_BODY} characters"),
        );
    }
    parameters(out, field, text, example, format, true);
}

/// Placeholder rules shared by header and body; `body` adds the position rules.
fn parameters(
    out: &mut Findings,
    field: &str,
    text: &str,
    example: Option<&Example>,
    format: ParameterFormat,
    body: bool,
) {
    let found = placeholders(text);
    let text_field = format!("{field}.text");
    for p in &found {
        match &p.kind {
            PlaceholderKind::Malformed(raw) => out.add(
                &text_field,
                "placeholder-malformed",
                format!("{raw:?} is not a parameter"),
                "write {{1}}, {{2}}, … (positional) or {{first_name}} (named: lowercase letters, digits, _)",
            ),
            PlaceholderKind::Named(name) if format == ParameterFormat::Positional => out.add(
                &text_field,
                "parameter-format-mismatch",
                format!("{{{{{name}}}}} is named but the template's parameter_format is POSITIONAL"),
                "set parameter_format to NAMED, or number the parameters {{1}}, {{2}}, …",
            ),
            PlaceholderKind::Positional(n) if format == ParameterFormat::Named => out.add(
                &text_field,
                "parameter-format-mismatch",
                format!("{{{{{n}}}}} is numbered but the template's parameter_format is NAMED"),
                "name the parameter, e.g. {{first_name}}, or set parameter_format to POSITIONAL",
            ),
            _ => {}
        }
    }
    if body {
        positions(out, &text_field, text, &found);
    }
    let numbers: BTreeSet<u32> = found
        .iter()
        .filter_map(|p| match p.kind {
            PlaceholderKind::Positional(n) => Some(n),
            _ => None,
        })
        .collect();
    if numbers.iter().copied().ne(1..=numbers.len() as u32) {
        let listed: Vec<String> = numbers.iter().map(|n| format!("{{{{{n}}}}}")).collect();
        out.add(
            &text_field,
            "parameter-sequence",
            format!("the parameters {} are not numbered 1, 2, 3, … without gaps", listed.join(" ")),
            format!("renumber them {{{{1}}}} to {{{{{}}}}}", numbers.len()),
        );
    }
    examples(out, field, &found, example, format);
}

/// No parameter first or last in the body, none right next to another.
fn positions(out: &mut Findings, field: &str, text: &str, found: &[Placeholder]) {
    let trimmed_start = text.len() - text.trim_start().len();
    let trimmed_end = text.trim_end().len();
    if found.first().is_some_and(|p| p.start == trimmed_start) {
        out.add(
            field,
            "parameter-at-start",
            "the body starts with a parameter",
            "start the body with fixed text, e.g. \"Hi {{1}}, …\"",
        );
    }
    if found.last().is_some_and(|p| p.end == trimmed_end) {
        out.add(
            field,
            "parameter-at-end",
            "the body ends with a parameter",
            "end the body with fixed text, e.g. \"… {{2}}. Thanks!\"",
        );
    }
    for pair in found.windows(2) {
        let between = &text[pair[0].end..pair[1].start];
        if between.trim().is_empty() {
            out.add(
                field,
                "parameters-adjacent",
                format!(
                    "{} and {} have no text between them",
                    &text[pair[0].start..pair[0].end],
                    &text[pair[1].start..pair[1].end]
                ),
                "put words between the parameters, or merge them into one",
            );
        }
    }
}

/// One example per parameter, in Meta's shape for the format.
fn examples(
    out: &mut Findings,
    field: &str,
    found: &[Placeholder],
    example: Option<&Example>,
    format: ParameterFormat,
) {
    let keys: Vec<String> = {
        let mut keys = Vec::new();
        for key in found.iter().filter_map(Placeholder::key) {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        keys
    };
    let header = field == "header";
    match format {
        ParameterFormat::Positional => {
            let given: usize = match (header, example) {
                (true, Some(e)) => e.header_text.as_ref().map_or(0, Vec::len),
                (false, Some(e)) => e.body_text.as_ref().and_then(|rows| rows.first()).map_or(0, Vec::len),
                (_, None) => 0,
            };
            let path = if header { "example.header_text" } else { "example.body_text" };
            if given != keys.len() {
                let rule = if given < keys.len() { "example-missing" } else { "example-mismatch" };
                out.add(
                    format!("{field}.{path}"),
                    rule,
                    format!("{} parameter(s) but {given} example value(s)", keys.len()),
                    if header {
                        "give one example per parameter: example.header_text = [\"Summer Sale\"]".to_string()
                    } else {
                        "give one example per parameter, in order: example.body_text = [[\"Ana\", \"4411\"]]"
                            .to_string()
                    },
                );
            }
        }
        ParameterFormat::Named => {
            let named = example.and_then(|e| {
                if header { e.header_text_named_params.as_ref() } else { e.body_text_named_params.as_ref() }
            });
            let path = if header { "example.header_text_named_params" } else { "example.body_text_named_params" };
            let given: BTreeSet<&str> =
                named.map(|n| n.iter().map(|e| e.param_name.as_str()).collect()).unwrap_or_default();
            for key in keys.iter().filter(|k| !given.contains(k.as_str())) {
                out.add(
                    format!("{field}.{path}"),
                    "example-missing",
                    format!("the parameter {{{{{key}}}}} has no example"),
                    format!("add {{param_name = \"{key}\", example = \"…\"}} to {path}"),
                );
            }
            for extra in given.iter().filter(|g| !keys.iter().any(|k| k == *g)) {
                out.add(
                    format!("{field}.{path}"),
                    "example-mismatch",
                    format!("the example {extra:?} names no parameter of the {field}"),
                    "remove it, or use the parameter in the text",
                );
            }
        }
    }
}

fn buttons(out: &mut Findings, buttons: &[Button], category: Category) {
    let count = |kind: &str| buttons.iter().filter(|b| b.kind() == kind).count();
    let limits: [(&str, usize, &'static str); 4] = [
        ("URL", MAX_URL_BUTTONS, "buttons-url-count"),
        ("PHONE_NUMBER", MAX_PHONE_BUTTONS, "buttons-phone-count"),
        ("QUICK_REPLY", MAX_QUICK_REPLIES, "buttons-quick-reply-count"),
        ("COPY_CODE", 1, "copy-code-count"),
    ];
    if buttons.len() > MAX_BUTTONS {
        out.add(
            "buttons",
            "buttons-too-many",
            format!("{} buttons, more than {MAX_BUTTONS}", buttons.len()),
            format!("keep at most {MAX_BUTTONS} buttons"),
        );
    }
    for (kind, max, rule) in limits {
        let n = count(kind);
        if n > max {
            out.add(
                "buttons",
                rule,
                format!("{n} {kind} buttons, more than {max}"),
                format!("keep at most {max} {kind} button(s)"),
            );
        }
    }
    // Quick replies form one group, before or after the other buttons, never interleaved with them.
    let groups =
        buttons.windows(2).filter(|w| (w[0].kind() == "QUICK_REPLY") != (w[1].kind() == "QUICK_REPLY")).count();
    if groups > 1 {
        out.add(
            "buttons",
            "buttons-grouping",
            "quick replies are mixed in between other buttons",
            "put all QUICK_REPLY buttons together, before or after the others",
        );
    }
    if count("COPY_CODE") > 0 && category != Category::Marketing {
        out.add(
            "buttons",
            "copy-code-category",
            "a COPY_CODE button outside a MARKETING template",
            "remove it, or make the template MARKETING",
        );
    }
    let otp = count("OTP");
    if category == Category::Authentication && otp != 1 {
        out.add(
            "buttons",
            "otp-button",
            format!("an AUTHENTICATION template needs exactly one OTP button, it has {otp}"),
            "give it one OTP button (otp_type COPY_CODE or ONE_TAP)",
        );
    }
    if category != Category::Authentication && otp > 0 {
        out.add(
            "buttons",
            "otp-button",
            "an OTP button outside an AUTHENTICATION template",
            "remove it, or make the template AUTHENTICATION",
        );
    }
    for (i, button) in buttons.iter().enumerate() {
        one_button(out, i, button);
    }
}

fn one_button(out: &mut Findings, i: usize, button: &Button) {
    let field = |f: &str| format!("buttons[{i}].{f}");
    let kind = button.kind();
    let label = button.text.as_deref().unwrap_or("");
    // OTP and COPY_CODE buttons carry Meta's own fixed label.
    if !matches!(kind.as_str(), "OTP" | "COPY_CODE") && label.trim().is_empty() {
        out.add(
            field("text"),
            "button-text-missing",
            format!("the {kind} button has no label"),
            "give it a label of up to 25 characters",
        );
    }
    if label.chars().count() > MAX_BUTTON_LABEL {
        out.add(
            field("text"),
            "button-text-too-long",
            format!("the label has {} characters, more than {MAX_BUTTON_LABEL}", label.chars().count()),
            format!("shorten it to {MAX_BUTTON_LABEL} characters"),
        );
    }
    match kind.as_str() {
        "PHONE_NUMBER" => {
            let phone = button.phone_number.as_deref().unwrap_or("");
            let digits = phone.strip_prefix('+').unwrap_or(phone);
            if phone.chars().count() > MAX_BUTTON_PHONE
                || digits.is_empty()
                || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                out.add(
                    field("phone_number"),
                    "button-phone-invalid",
                    format!("{phone:?} is not a phone number of at most {MAX_BUTTON_PHONE} characters"),
                    "write the number with its country code, e.g. +15550783881",
                );
            }
        }
        "URL" => {
            let url = button.url.as_deref().unwrap_or("");
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                out.add(
                    field("url"),
                    "button-url-invalid",
                    format!("{url:?} is not an http(s) URL"),
                    "write the full URL, e.g. https://example.com/orders/{{1}}",
                );
            }
            if url.chars().count() > MAX_BUTTON_URL {
                out.add(
                    field("url"),
                    "button-url-too-long",
                    format!("the URL has {} characters, more than {MAX_BUTTON_URL}", url.chars().count()),
                    format!("shorten it to {MAX_BUTTON_URL} characters"),
                );
            }
            let found = placeholders(url);
            let at_end_only =
                found.len() == 1 && found[0].end == url.len() && found[0].kind == PlaceholderKind::Positional(1);
            if !found.is_empty() && !at_end_only {
                out.add(
                    field("url"),
                    "button-url-variable",
                    "a URL may hold one variable, {{1}}, and only at its end",
                    "end the URL with {{1}}: https://example.com/orders/{{1}}",
                );
            }
            let has_example = button.example.as_ref().is_some_and(|e| match e {
                serde_json::Value::Array(items) => !items.is_empty(),
                serde_json::Value::String(s) => !s.is_empty(),
                _ => false,
            });
            if !found.is_empty() && !has_example {
                out.add(
                    field("example"),
                    "example-missing",
                    "the URL's variable has no example",
                    "add example = [\"https://example.com/orders/4411\"]",
                );
            }
        }
        _ => {}
    }
}

/// Emoji and pictographs (the blocks Meta's reviewers refuse in headers and footers).
pub fn is_emoji(c: char) -> bool {
    matches!(c as u32, 0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2300..=0x23FF | 0x2B00..=0x2BFF | 0xFE0F | 0x200D)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn spec(value: serde_json::Value) -> TemplateSpec {
        serde_json::from_value(value).unwrap()
    }

    fn good() -> serde_json::Value {
        json!({
            "name": "order_update", "language": "en_US", "category": "UTILITY",
            "components": [
                {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": ["4411"]}},
                {"type": "BODY", "text": "Hi {{1}}, your order {{2}} is on its way.", "example": {"body_text": [["Ana", "4411"]]}},
                {"type": "FOOTER", "text": "Reply STOP to opt out"},
                {"type": "BUTTONS", "buttons": [
                    {"type": "URL", "text": "Track", "url": "https://example.com/t/{{1}}", "example": ["https://example.com/t/4411"]},
                    {"type": "PHONE_NUMBER", "text": "Call us", "phone_number": "+15550783881"},
                    {"type": "QUICK_REPLY", "text": "Thanks"}
                ]}
            ]
        })
    }

    fn rules(value: serde_json::Value) -> Vec<&'static str> {
        lint(&spec(value)).into_iter().map(|e| e.rule).collect()
    }

    fn with(mut value: serde_json::Value, pointer: &str, new: serde_json::Value) -> serde_json::Value {
        *value.pointer_mut(pointer).unwrap_or_else(|| panic!("{pointer}")) = new;
        value
    }

    #[test]
    fn a_good_template_passes() {
        assert_eq!(lint(&spec(good())), vec![]);
    }

    #[test]
    fn names_are_lowercase_letters_digits_and_underscores_up_to_512() {
        assert_eq!(rules(with(good(), "/name", json!("Order-Update"))), vec!["name-charset"]);
        assert_eq!(rules(with(good(), "/name", json!(""))), vec!["name-empty"]);
        assert_eq!(rules(with(good(), "/name", json!("a".repeat(513)))), vec!["name-too-long"]);
        assert_eq!(rules(with(good(), "/name", json!("a".repeat(512)))), Vec::<&str>::new());
        let e = &lint(&spec(with(good(), "/name", json!("Order Update"))))[0];
        assert_eq!(e.field, "name");
        assert!(e.fix.contains("order_update"), "{e}");
    }

    #[test]
    fn language_codes_are_checked() {
        for ok in ["en", "en_US", "pt_BR", "fil"] {
            assert_eq!(rules(with(good(), "/language", json!(ok))), Vec::<&str>::new(), "{ok}");
        }
        for bad in ["english", "en-US", "EN", "en_us", ""] {
            assert_eq!(rules(with(good(), "/language", json!(bad))), vec!["language-format"], "{bad}");
        }
    }

    #[test]
    fn body_rules() {
        let body = |text: &str, examples: serde_json::Value| {
            with(with(good(), "/components/1/text", json!(text)), "/components/1/example", examples)
        };
        assert_eq!(rules(body(&"x".repeat(1025), json!({}))), vec!["body-too-long"]);
        assert_eq!(rules(body(&"x".repeat(1024), json!({}))), Vec::<&str>::new());
        assert_eq!(rules(body("{{1}} is here.", json!({"body_text": [["a"]]}))), vec!["parameter-at-start"]);
        assert_eq!(rules(body("Hello {{1}}", json!({"body_text": [["a"]]}))), vec!["parameter-at-end"]);
        assert_eq!(
            rules(body("Hi {{1}} {{2}} there", json!({"body_text": [["a", "b"]]}))),
            vec!["parameters-adjacent"]
        );
        assert_eq!(
            rules(body("Hi {{1}} and {{3}} there", json!({"body_text": [["a", "b"]]}))),
            vec!["parameter-sequence"]
        );
        assert_eq!(rules(body("Hi {{1}} and {{2}} there", json!({"body_text": [["a"]]}))), vec!["example-missing"]);
        assert_eq!(rules(body("Hi {{1}} there", json!({"body_text": [["a", "b"]]}))), vec!["example-mismatch"]);
        assert_eq!(rules(body("Hi {{ 1 }} there", json!({}))), vec!["placeholder-malformed"]);
        assert_eq!(rules(body("Hi {{name}} there", json!({}))), vec!["parameter-format-mismatch", "example-missing"]);
        assert_eq!(rules(body("   ", json!({}))), vec!["body-empty"]);
        let mut no_body = good();
        no_body["components"].as_array_mut().unwrap().remove(1);
        assert_eq!(rules(no_body), vec!["body-missing"]);
    }

    #[test]
    fn named_parameters_need_named_examples() {
        let named = json!({
            "name": "welcome", "language": "en", "category": "MARKETING", "parameter_format": "NAMED",
            "components": [{"type": "BODY", "text": "Hi {{first_name}}, code {{code}} inside.",
                            "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Ana"}]}}]
        });
        let found = lint(&spec(named.clone()));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            (found[0].rule, found[0].field.as_str()),
            ("example-missing", "body.example.body_text_named_params")
        );
        assert!(found[0].message.contains("{{code}}"), "{}", found[0].message);
        let numbered = with(named, "/components/0/text", json!("Hi {{1}} there"));
        assert!(rules(numbered).contains(&"parameter-format-mismatch"));
    }

    #[test]
    fn header_and_footer_rules() {
        assert_eq!(
            rules(with(good(), "/components/0/text", json!("x".repeat(61)))),
            vec!["header-too-long", "example-mismatch"]
        );
        assert_eq!(
            rules(with(
                with(good(), "/components/0/text", json!("A {{1}} B {{2}}")),
                "/components/0/example/header_text",
                json!(["a", "b"])
            )),
            vec!["header-parameters"]
        );
        assert_eq!(rules(with(good(), "/components/0/text", json!("Order *{{1}}*"))), vec!["header-characters"]);
        assert_eq!(
            rules(with(good(), "/components/0/text", json!("Order \u{1F600} {{1}}"))),
            vec!["header-characters"]
        );
        // A header may begin or end with its parameter.
        assert_eq!(rules(with(good(), "/components/0/text", json!("{{1}}"))), Vec::<&str>::new());
        assert_eq!(rules(with(good(), "/components/2/text", json!("x".repeat(61)))), vec!["footer-too-long"]);
        assert_eq!(rules(with(good(), "/components/2/text", json!("Thanks {{1}}"))), vec!["footer-parameters"]);
        assert_eq!(rules(with(good(), "/components/2/text", json!("Bye\nnow"))), vec!["footer-characters"]);
        let image = with(good(), "/components/0", json!({"type": "HEADER", "format": "IMAGE"}));
        assert_eq!(rules(image), vec!["media-example-missing"]);
    }

    #[test]
    fn button_rules() {
        let buttons = |list: serde_json::Value| with(good(), "/components/3/buttons", list);
        let qr = |t: &str| json!({"type": "QUICK_REPLY", "text": t});
        let url = json!({"type": "URL", "text": "Go", "url": "https://e.com"});
        assert_eq!(
            rules(buttons(json!((0..11).map(|i| qr(&i.to_string())).collect::<Vec<_>>()))),
            vec!["buttons-too-many", "buttons-quick-reply-count"]
        );
        assert_eq!(rules(buttons(json!([url, url, url]))), vec!["buttons-url-count"]);
        assert_eq!(rules(buttons(json!([qr("a"), url, qr("b")]))), vec!["buttons-grouping"]);
        assert_eq!(rules(buttons(json!([qr("a"), qr("b"), url]))), Vec::<&str>::new());
        assert_eq!(rules(buttons(json!([qr(&"x".repeat(26))]))), vec!["button-text-too-long"]);
        assert_eq!(
            rules(buttons(json!([{"type": "PHONE_NUMBER", "text": "Call", "phone_number": "call me"}]))),
            vec!["button-phone-invalid"]
        );
        assert_eq!(
            rules(buttons(json!([{"type": "URL", "text": "Go", "url": "https://e.com/{{1}}/x", "example": ["x"]}]))),
            vec!["button-url-variable"]
        );
        assert_eq!(
            rules(buttons(json!([{"type": "URL", "text": "Go", "url": "https://e.com/{{1}}"}]))),
            vec!["example-missing"]
        );
        assert_eq!(rules(buttons(json!([{"type": "COPY_CODE", "example": "SAVE10"}]))), vec!["copy-code-category"]);
        assert_eq!(rules(buttons(json!([{"type": "OTP", "otp_type": "COPY_CODE"}]))), vec!["otp-button"]);
        let auth = with(with(good(), "/category", json!("AUTHENTICATION")), "/components/3/buttons", json!([qr("a")]));
        assert_eq!(rules(auth), vec!["otp-button"]);
    }

    #[test]
    fn components_appear_once() {
        let mut twice = good();
        let footer = twice["components"][2].clone();
        twice["components"].as_array_mut().unwrap().push(footer);
        assert_eq!(rules(twice), vec!["component-repeated"]);
    }

    #[test]
    fn send_time_values() {
        assert!(check_value("Ana Maria").is_ok());
        assert!(check_value("a    b").is_ok());
        assert!(check_value("a     b").is_err());
        assert!(check_value("a\nb").is_err());
        assert!(check_value("a\tb").is_err());
        assert!(check_value(" ").is_err());
    }

    proptest! {
        /// Any body of plain words with parameters 1..n spread between them passes the parameter rules.
        #[test]
        fn words_around_sequential_parameters_pass(words in proptest::collection::vec("[a-z]{1,8}", 2..12), n in 0usize..6) {
            let n = n.min(words.len() - 1);
            let mut text = words[0].clone();
            for (i, word) in words[1..].iter().enumerate() {
                if i < n { text.push_str(&format!(" {{{{{}}}}}", i + 1)); }
                text.push(' ');
                text.push_str(word);
            }
            let examples: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
            let value = with(with(good(), "/components/1/text", json!(text)), "/components/1/example", json!({"body_text": [examples]}));
            prop_assert_eq!(rules(value), Vec::<&str>::new());
        }

        /// Linting never panics, whatever the text, and every finding names a field and a fix.
        #[test]
        fn lint_is_total(body in "\\PC{0,200}", header in "\\PC{0,80}", name in "\\PC{0,20}") {
            let value = with(with(with(good(), "/components/1/text", json!(body)), "/components/0/text", json!(header)), "/name", json!(name));
            for e in lint(&spec(value)) {
                prop_assert!(!e.field.is_empty() && !e.fix.is_empty() && !e.message.is_empty());
            }
        }

        /// A gap anywhere in the numbering is found.
        #[test]
        fn gaps_in_numbering_are_found(n in 2u32..8, skip in 1u32..8) {
            let skip = skip.min(n - 1);
            let mut text = String::from("Hi");
            let mut count = 0;
            for i in 1..=n { if i != skip { text.push_str(&format!(" a {{{{{i}}}}}")); count += 1; } }
            text.push_str(" end");
            let examples: Vec<String> = (0..count).map(|i| format!("v{i}")).collect();
            let value = with(with(good(), "/components/1/text", json!(text)), "/components/1/example", json!({"body_text": [examples]}));
            prop_assert_eq!(rules(value), vec!["parameter-sequence"]);
        }
    }
}
