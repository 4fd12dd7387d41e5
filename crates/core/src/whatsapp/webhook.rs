//! Webhook POST bodies of the WhatsApp Cloud API (shared/whatsapp-cloud-api.md §2), as received.
//!
//! Meta adds fields and message types without notice, and one POST can batch many customers: unknown
//! fields are ignored, unknown `field`s and message types are kept as such, and one item that does not
//! match its documented shape is kept as [`Lenient::Invalid`] instead of failing the whole body.

use chrono::{DateTime, Utc};
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::types::MessageStatus;

/// The `object` of every WhatsApp Business Account webhook.
pub const OBJECT: &str = "whatsapp_business_account";

/// Parses a POST body far enough to know it is a WhatsApp webhook: JSON, the right `object`, entries
/// with changes. The contents of each change are parsed later, item by item ([`Change::value`]).
///
/// A NUL character (`\u0000`, valid JSON) becomes U+FFFD: PostgreSQL stores no NUL in text or jsonb,
/// and one in a customer's text or in an id would otherwise fail its whole batch on every retry. The
/// raw log keeps the body as received.
///
/// Valid JSON can hold values no Rust string or number can: a lone UTF-16 surrogate (`"\udc00"`), a
/// number beyond `f64` (`1e400`), and bytes that are not UTF-8. One of them anywhere, even in a field
/// we never read, used to fail the whole body, and Meta retries a refused POST for days. Such a body is
/// read again with them replaced ([`repaired`]: U+FFFD, and the number as a string); a body that is not
/// JSON at all is still refused with the parser's reason.
pub fn parse(body: &[u8]) -> Result<Envelope> {
    parse_as(body)
}

/// Whether [`parse`] would accept `body`, without building the changes' contents: the daemon answers
/// a POST by this before it stores the body, and the worker that processes it parses it in full. The
/// same rules, the same refusals; only a change's `value` is skipped (checked to be JSON, not kept).
pub fn check(body: &[u8]) -> Result<()> {
    // Skipping a value does not count its depth, while parsing it in full stops at serde_json's
    // recursion limit (128): a deeper body would be acknowledged and then fail in processing.
    let depth = nesting_depth(body);
    if depth > MAX_NESTING {
        return Err(Error::invalid(
            format!("the body nests {depth} levels deep, more than the {MAX_NESTING} a webhook may: it is not one"),
            "send the JSON body Meta posts (its webhooks nest fewer than 10 levels)",
        ));
    }
    parse_as::<serde::de::IgnoredAny>(body).map(drop)
}

/// The deepest nesting of arrays and objects a body may have; Meta's webhooks have fewer than 10.
pub const MAX_NESTING: usize = 100;

/// How deeply `body`'s arrays and objects nest (brackets inside strings do not count).
fn nesting_depth(body: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &byte in body {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

fn parse_as<V: DeserializeOwned + Default>(body: &[u8]) -> Result<Envelope<V>> {
    let not_a_webhook = |e: serde_json::Error| {
        Error::invalid(
            format!("the body is not a WhatsApp webhook: {e}"),
            "send the JSON body Meta posts: {\"object\":\"whatsapp_business_account\",\"entry\":[...]}",
        )
    };
    let body = without_nul_escapes(body);
    let envelope: Envelope<V> = match serde_json::from_slice(&body) {
        Ok(envelope) => envelope,
        Err(first) => {
            // Skipping checks the syntax only, not what the strings and numbers hold.
            serde_json::from_slice::<serde::de::IgnoredAny>(&body).map_err(not_a_webhook)?;
            match repaired(&body) {
                Some(body) => serde_json::from_slice(&body).map_err(not_a_webhook)?,
                None => return Err(not_a_webhook(first)),
            }
        }
    };
    if envelope.object != OBJECT {
        return Err(Error::invalid(
            format!("the webhook object is {:?}, not {OBJECT:?}", envelope.object),
            "subscribe this callback URL to the WhatsApp Business Account object only",
        ));
    }
    Ok(envelope)
}

/// `body` with every `\u0000` escape replaced by `\ufffd`. In valid JSON a backslash only ever starts
/// an escape inside a string (`\X`, or `\uXXXX`), so a scan from escape to escape finds them all.
fn without_nul_escapes(body: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    const NUL: &[u8] = b"\\u0000";
    if !body.windows(NUL.len()).any(|w| w == NUL) {
        return std::borrow::Cow::Borrowed(body);
    }
    let mut out = body.to_vec();
    let mut i = 0;
    while i + 1 < out.len() {
        if out[i] != b'\\' {
            i += 1;
        } else if out[i + 1] == b'u' {
            if out.get(i..i + NUL.len()) == Some(NUL) {
                out[i + 2..i + 6].copy_from_slice(b"fffd");
            }
            i += 6;
        } else {
            i += 2;
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Syntactically valid JSON `body` with the values serde_json cannot represent replaced, or `None` if
/// it has none: bytes that are not UTF-8 and lone surrogate escapes become U+FFFD (PostgreSQL's text
/// and jsonb refuse lone surrogates too), and a number whose magnitude reaches `f64`'s limit becomes a
/// string of its digits (in an unknown field nobody reads it; in a known one it reads as malformed).
/// The raw log keeps the body as received.
fn repaired(body: &[u8]) -> Option<Vec<u8>> {
    fn unit(bytes: &[u8], at: usize) -> Option<u16> {
        let hex = std::str::from_utf8(bytes.get(at..at + 4)?).ok()?;
        u16::from_str_radix(hex, 16).ok()
    }
    let text = String::from_utf8_lossy(body);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() + 16);
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        let step = match (in_string, bytes[i]) {
            (true, b'\\') if bytes.get(i + 1) == Some(&b'u') => {
                let low_follows =
                    || bytes.get(i + 6..i + 8) == Some(b"\\u") && matches!(unit(bytes, i + 8), Some(0xDC00..=0xDFFF));
                match unit(bytes, i + 2) {
                    Some(0xD800..=0xDBFF) if low_follows() => 12,
                    Some(0xD800..=0xDFFF) => {
                        out.extend_from_slice(b"\\ufffd");
                        i += 6;
                        continue;
                    }
                    _ => 6,
                }
            }
            (true, b'\\') => 2,
            (true, b'"') | (false, b'"') => {
                in_string = !in_string;
                1
            }
            (false, b'-' | b'0'..=b'9') => {
                let len = bytes[i..]
                    .iter()
                    .position(|b| !matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                    .unwrap_or(bytes.len() - i);
                let number = &text[i..i + len];
                if !number.parse::<f64>().is_ok_and(|n| n.abs() < 1e308) {
                    out.push(b'"');
                    out.extend_from_slice(number.as_bytes());
                    out.push(b'"');
                    i += len;
                    continue;
                }
                len
            }
            _ => 1,
        };
        let end = (i + step).min(bytes.len());
        out.extend_from_slice(&bytes[i..end]);
        i = end;
    }
    (out != body).then_some(out)
}

/// A webhook body; `V` is what a change's value is read as (kept as JSON, or skipped by [`check`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(bound(deserialize = "V: Deserialize<'de> + Default"))]
pub struct Envelope<V = Value> {
    pub object: String,
    pub entry: Vec<Entry<V>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(bound(deserialize = "V: Deserialize<'de> + Default"))]
pub struct Entry<V = Value> {
    /// The WhatsApp Business Account (WABA) id; template updates are routed by it.
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    /// Unix seconds, a JSON number; present on template updates only. Not used: malformed reads as absent.
    #[serde(default, deserialize_with = "lenient_opt")]
    pub time: Option<i64>,
    #[serde(default)]
    pub changes: Vec<Change<V>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(bound(deserialize = "V: Deserialize<'de> + Default"))]
pub struct Change<V = Value> {
    pub field: String,
    #[serde(default)]
    pub value: V,
}

/// A change's value, by `field`.
#[derive(Debug, Clone)]
pub enum ChangeValue {
    Messages(Box<MessagesValue>),
    /// `message_template_status_update`, `template_category_update` or `message_template_quality_update`:
    /// routed by the entry's WABA id.
    Template(Box<TemplateUpdate>),
    UserPreferences(UserPreferencesValue),
    /// A field we do not handle (account_update, security, flows, …): acknowledged and ignored.
    Other(String),
}

impl Change {
    /// The typed value; `Err` says why a known field's value does not have its documented shape.
    pub fn value(&self) -> std::result::Result<ChangeValue, String> {
        fn typed<T: DeserializeOwned>(field: &str, value: &Value) -> std::result::Result<T, String> {
            T::deserialize(value).map_err(|e| format!("{field} change: {e}"))
        }
        Ok(match self.field.as_str() {
            "messages" => ChangeValue::Messages(Box::new(typed(&self.field, &self.value)?)),
            "message_template_status_update" => {
                ChangeValue::Template(Box::new(TemplateUpdate::Status(typed(&self.field, &self.value)?)))
            }
            "template_category_update" => {
                ChangeValue::Template(Box::new(TemplateUpdate::Category(typed(&self.field, &self.value)?)))
            }
            "message_template_quality_update" => {
                ChangeValue::Template(Box::new(TemplateUpdate::Quality(typed(&self.field, &self.value)?)))
            }
            "user_preferences" => ChangeValue::UserPreferences(typed(&self.field, &self.value)?),
            other => ChangeValue::Other(other.to_string()),
        })
    }
}

/// An array element that either has its documented shape or is kept raw with the reason it does not.
#[derive(Debug, Clone)]
pub enum Lenient<T> {
    Parsed { item: T, raw: Value },
    Invalid { raw: Value, reason: String },
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let raw = Value::deserialize(deserializer)?;
        Ok(match T::deserialize(&raw) {
            Ok(item) => Lenient::Parsed { item, raw },
            Err(e) => Lenient::Invalid { raw, reason: e.to_string() },
        })
    }
}

/// `field: "messages"`: inbound messages, statuses of our outbound ones, and system-level errors.
#[derive(Debug, Clone, Deserialize)]
pub struct MessagesValue {
    pub metadata: Metadata,
    #[serde(default)]
    pub contacts: Vec<Lenient<Contact>>,
    #[serde(default)]
    pub messages: Vec<Lenient<Message>>,
    #[serde(default)]
    pub statuses: Vec<Lenient<Status>>,
    /// Value-level errors (system or app problems, not tied to one message).
    #[serde(default)]
    pub errors: Vec<Lenient<WaError>>,
}

/// The receiving business number. Tenants are routed by `phone_number_id`: the display number can
/// change format, the id cannot.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub display_phone_number: Option<String>,
    #[serde(deserialize_with = "string_or_number")]
    pub phone_number_id: String,
}

/// The sender's profile. `wa_id` is absent for users who hide their number behind a username; the
/// business-scoped user id (BSUID) `user_id` is then the only key.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Contact {
    #[serde(default)]
    pub profile: Option<Profile>,
    #[serde(default)]
    pub wa_id: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub parent_user_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Profile {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
}

/// One inbound message. The type-specific object sits under the key named by `type`; an object that
/// is missing or malformed reads as `None`, and the message is then stored as kind `unknown`.
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub from_user_id: Option<String>,
    #[serde(default)]
    pub from_parent_user_id: Option<String>,
    /// The wamid: the idempotency key of inbound delivery.
    pub id: String,
    #[serde(deserialize_with = "unix_seconds")]
    pub timestamp: DateTime<Utc>,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, deserialize_with = "lenient_opt")]
    pub context: Option<Context>,
    #[serde(default, deserialize_with = "lenient_opt")]
    pub referral: Option<Referral>,
    #[serde(default, deserialize_with = "lenient_vec")]
    pub errors: Vec<WaError>,
    #[serde(default, deserialize_with = "lenient_opt")]
    pub text: Option<Text>,
    #[serde(default, deserialize_with = "lenient_opt")]
    pub image: Option<Media>,
    #[serde(default, deserialize_with = "lenient_opt")]
    pub video: Option<Media>,
    #[serde(default, deserialize_with = "lenient_opt")]
    pub audio: Option<Media>,
    #[serde(default, deserialize_with = "lenient_opt")]
    pub sticker: Option<Media>,
    #[serde(default, deserialize_with = "lenient_opt")]
    pub document: Option<Media>,
    #[serde(default, deserialize_with = "lenient_opt")]
    pub location: Option<Location>,
    #[serde(default, deserialize_with = "lenient_opt")]
    pub contacts: Option<Vec<SharedContact>>,
    #[serde(default, deserialize_with = "lenient_opt")]
    pub button: Option<Button>,
    #[serde(default, deserialize_with = "lenient_opt")]
    pub interactive: Option<Interactive>,
    #[serde(default, deserialize_with = "lenient_opt")]
    pub reaction: Option<Reaction>,
    #[serde(default, deserialize_with = "lenient_opt")]
    pub order: Option<Order>,
    #[serde(default, deserialize_with = "lenient_opt")]
    pub system: Option<System>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Text {
    pub body: String,
}

/// image, video, audio, sticker, document. The id must be fetched through the media endpoint, and
/// expires: it is kept with its sha256 for a later download.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Media {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing)]
    pub caption: Option<String>,
    /// document only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// audio only: a voice note rather than a sent audio file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<bool>,
    /// sticker only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub animated: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Location {
    pub latitude: f64,
    pub longitude: f64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

/// A vCard-like contact card the user shared.
#[derive(Debug, Clone, Deserialize)]
pub struct SharedContact {
    #[serde(default)]
    pub name: Option<SharedContactName>,
    #[serde(default)]
    pub phones: Vec<SharedContactPhone>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SharedContactName {
    #[serde(default)]
    pub formatted_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SharedContactPhone {
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub wa_id: Option<String>,
}

/// A tap on a quick-reply button of a template.
#[derive(Debug, Clone, Deserialize)]
pub struct Button {
    #[serde(default)]
    pub payload: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
}

/// A tap on an interactive message we sent: `button_reply`, `list_reply` or `nfm_reply` (Flows).
#[derive(Debug, Clone, Deserialize)]
pub struct Interactive {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub button_reply: Option<Reply>,
    #[serde(default)]
    pub list_reply: Option<Reply>,
    #[serde(default)]
    pub nfm_reply: Option<NfmReply>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Reply {
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NfmReply {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub response_json: Option<String>,
}

/// `emoji` empty or absent: the user removed their reaction.
#[derive(Debug, Clone, Deserialize)]
pub struct Reaction {
    pub message_id: String,
    #[serde(default)]
    pub emoji: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Order {
    #[serde(default)]
    pub catalog_id: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub product_items: Vec<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct System {
    #[serde(default)]
    pub body: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

/// `{from, id}` on a reply (the quoted wamid), `forwarded` flags on forwards.
#[derive(Debug, Clone, Deserialize)]
pub struct Context {
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub forwarded: Option<bool>,
    #[serde(default)]
    pub frequently_forwarded: Option<bool>,
    #[serde(default)]
    pub referred_product: Option<Value>,
}

/// On the first message from a Click-to-WhatsApp ad or post.
#[derive(Debug, Clone, Deserialize)]
pub struct Referral {
    #[serde(default)]
    pub source_url: Option<String>,
    #[serde(default)]
    pub source_id: Option<String>,
    #[serde(default)]
    pub source_type: Option<String>,
    #[serde(default)]
    pub headline: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub ctwa_clid: Option<String>,
}

/// Meta's error object (§2.4). Logic keys on `code` and `error_data.details`; titles are deprecated.
#[derive(Debug, Clone, Deserialize)]
pub struct WaError {
    pub code: i64,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub error_data: Option<ErrorData>,
    #[serde(default)]
    pub href: Option<String>,
}

impl WaError {
    /// The most specific text Meta gave.
    pub fn detail(&self) -> Option<&str> {
        self.error_data.as_ref().and_then(|d| d.details.as_deref()).or(self.message.as_deref())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ErrorData {
    #[serde(default)]
    pub details: Option<String>,
}

/// The delivery status of a message we sent.
#[derive(Debug, Clone, Deserialize)]
pub struct Status {
    /// The wamid the Graph API returned when we sent the message.
    pub id: String,
    pub status: String,
    #[serde(deserialize_with = "unix_seconds")]
    pub timestamp: DateTime<Utc>,
    #[serde(default)]
    pub recipient_id: Option<String>,
    #[serde(default)]
    pub recipient_user_id: Option<String>,
    #[serde(default)]
    pub biz_opaque_callback_data: Option<String>,
    #[serde(default, deserialize_with = "lenient_opt")]
    pub conversation: Option<Conversation>,
    #[serde(default, deserialize_with = "lenient_opt")]
    pub pricing: Option<Pricing>,
    #[serde(default, deserialize_with = "lenient_vec")]
    pub errors: Vec<WaError>,
}

impl Status {
    /// The status as ours; `None` for values we do not track (e.g. `deleted`, `warning`).
    pub fn message_status(&self) -> Option<MessageStatus> {
        match self.status.to_ascii_lowercase().as_str() {
            "sent" => Some(MessageStatus::Sent),
            "delivered" => Some(MessageStatus::Delivered),
            "read" => Some(MessageStatus::Read),
            "failed" => Some(MessageStatus::Failed),
            _ => None,
        }
    }
}

/// Conversation-based pricing metadata (historic CBP data; optional in current payloads).
#[derive(Debug, Clone, Deserialize)]
pub struct Conversation {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub origin: Option<Value>,
}

/// What Meta charges for the message (per-message pricing since 2025-07-01).
#[derive(Debug, Clone, Deserialize)]
pub struct Pricing {
    #[serde(default)]
    pub billable: Option<bool>,
    #[serde(default)]
    pub pricing_model: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(rename = "type", default)]
    pub pricing_type: Option<String>,
}

/// A template webhook: no metadata, routed by the entry's WABA id (shared/whatsapp-cloud-api.md §2.5).
#[derive(Debug, Clone)]
pub enum TemplateUpdate {
    Status(TemplateStatusUpdate),
    Category(TemplateCategoryUpdate),
    Quality(TemplateQualityUpdate),
}

impl TemplateUpdate {
    /// Which template, as the webhook names it: Meta's id, name and language.
    pub fn template(&self) -> (Option<String>, Option<&str>, Option<&str>) {
        let key = match self {
            TemplateUpdate::Status(u) => &u.template,
            TemplateUpdate::Category(u) => &u.template,
            TemplateUpdate::Quality(u) => &u.template,
        };
        let id = key.message_template_id.as_ref().and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
        (id, key.message_template_name.as_deref(), key.message_template_language.as_deref())
    }

    /// For logs and the raw log's summary: `template spring_sale APPROVED`.
    pub fn label(&self) -> String {
        let (_, name, _) = self.template();
        let what = match self {
            TemplateUpdate::Status(u) => u.event.clone(),
            TemplateUpdate::Category(u) => {
                format!("category {}", u.new_category.as_deref().or(u.correct_category.as_deref()).unwrap_or("?"))
            }
            TemplateUpdate::Quality(u) => format!("quality {}", u.new_quality_score.as_deref().unwrap_or("?")),
        };
        format!("template {} {what}", name.unwrap_or("?"))
    }
}

/// The template a template webhook is about.
#[derive(Debug, Clone, Deserialize)]
pub struct TemplateKey {
    /// A JSON number on the wire.
    #[serde(default)]
    pub message_template_id: Option<Value>,
    #[serde(default)]
    pub message_template_name: Option<String>,
    #[serde(default)]
    pub message_template_language: Option<String>,
}

/// `field: "message_template_status_update"`: APPROVED, REJECTED (with `reason`), PAUSED, DISABLED, …
#[derive(Debug, Clone, Deserialize)]
pub struct TemplateStatusUpdate {
    pub event: String,
    #[serde(flatten)]
    pub template: TemplateKey,
    /// A rejection reason (`INVALID_FORMAT`, `PROMOTIONAL`, …); `NONE` or null otherwise.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message_template_category: Option<String>,
    /// Only when disabled: `{disable_date}`.
    #[serde(default)]
    pub disable_info: Option<Value>,
    /// Only when locked or unlocked: `{title, description}`.
    #[serde(default)]
    pub other_info: Option<Value>,
}

/// `field: "template_category_update"`. Impending: `correct_category` and the time it applies
/// (`category_update_timestamp`); completed: `previous_category` and `new_category`.
#[derive(Debug, Clone, Deserialize)]
pub struct TemplateCategoryUpdate {
    #[serde(flatten)]
    pub template: TemplateKey,
    #[serde(default)]
    pub previous_category: Option<String>,
    #[serde(default)]
    pub new_category: Option<String>,
    #[serde(default)]
    pub correct_category: Option<String>,
    /// Unix seconds.
    #[serde(default, deserialize_with = "lenient_opt")]
    pub category_update_timestamp: Option<i64>,
}

/// `field: "message_template_quality_update"`: GREEN, YELLOW, RED or UNKNOWN.
#[derive(Debug, Clone, Deserialize)]
pub struct TemplateQualityUpdate {
    #[serde(flatten)]
    pub template: TemplateKey,
    #[serde(default)]
    pub previous_quality_score: Option<String>,
    #[serde(default)]
    pub new_quality_score: Option<String>,
}

/// `field: "user_preferences"`: a user stopped or resumed marketing messages from the number.
#[derive(Debug, Clone, Deserialize)]
pub struct UserPreferencesValue {
    pub metadata: Metadata,
    #[serde(default)]
    pub contacts: Vec<Lenient<Contact>>,
    #[serde(default)]
    pub user_preferences: Vec<Lenient<UserPreference>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UserPreference {
    #[serde(default)]
    pub wa_id: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
    pub category: String,
    /// `stop` or `resume`.
    pub value: String,
    #[serde(deserialize_with = "unix_seconds")]
    pub timestamp: DateTime<Utc>,
}

/// Ids are strings on the wire, but test tools and older payloads send numbers.
fn string_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> std::result::Result<String, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(D::Error::custom(format!("expected a string id, found {other}"))),
    }
}

/// Unix seconds: a string in messages and statuses, a number in user_preferences.
fn unix_seconds<'de, D: Deserializer<'de>>(deserializer: D) -> std::result::Result<DateTime<Utc>, D::Error> {
    let secs = match Value::deserialize(deserializer)? {
        Value::String(s) => s.trim().parse::<i64>().map_err(|_| D::Error::custom(format!("bad timestamp {s:?}")))?,
        Value::Number(n) => n.as_i64().ok_or_else(|| D::Error::custom(format!("bad timestamp {n}")))?,
        other => return Err(D::Error::custom(format!("expected unix seconds, found {other}"))),
    };
    DateTime::from_timestamp(secs, 0).ok_or_else(|| D::Error::custom(format!("timestamp {secs} is out of range")))
}

/// An optional object whose shape is not ours to enforce: malformed reads as absent.
fn lenient_opt<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    deserializer: D,
) -> std::result::Result<Option<T>, D::Error> {
    let raw = Value::deserialize(deserializer)?;
    Ok(T::deserialize(&raw).ok())
}

/// An array whose malformed elements are dropped (used for secondary detail such as error lists).
fn lenient_vec<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    deserializer: D,
) -> std::result::Result<Vec<T>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Array(items) => items.iter().filter_map(|v| T::deserialize(v).ok()).collect(),
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_nested_deeper_than_any_webhook_is_refused_before_it_is_acknowledged() {
        let nested = |levels: usize| {
            format!(
                r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"x":{}0{}}}}}]}}]}}"#,
                "[".repeat(levels),
                "]".repeat(levels)
            )
        };
        let err = check(nested(10_000).as_bytes()).unwrap_err().to_string();
        assert!(err.contains("nests 10006 levels deep"), "{err}");
        check(nested(MAX_NESTING - 6).as_bytes()).unwrap();
        // Brackets inside strings (escaped quotes too) are text, not nesting.
        let text = format!(r#"{{"object":"whatsapp_business_account","entry":[],"s":"\"{}"}}"#, "[".repeat(500));
        check(text.as_bytes()).unwrap();
    }

    #[test]
    fn parses_the_documented_text_message_and_ignores_unknown_fields() {
        let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[
            {"field":"messages","value":{"messaging_product":"whatsapp","brand_new_field":{"x":1},
             "metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
             "contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],
             "messages":[{"from":"16505551234","id":"wamid.A","timestamp":"1749416383","type":"text",
                          "text":{"body":"Does it come in another color?"}}]}}]}]}"#;
        let envelope = parse(body).unwrap();
        let ChangeValue::Messages(value) = envelope.entry[0].changes[0].value().unwrap() else { panic!() };
        assert_eq!(value.metadata.phone_number_id, "106540352242922");
        let Lenient::Parsed { item, .. } = &value.messages[0] else { panic!() };
        assert_eq!(item.text.as_ref().unwrap().body, "Does it come in another color?");
        assert_eq!(item.timestamp.timestamp(), 1749416383);
    }

    #[test]
    fn a_nul_character_becomes_a_replacement_character_and_an_escaped_backslash_stays() {
        let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[
            {"field":"messages","value":{"metadata":{"phone_number_id":"1"},
             "messages":[{"from":"1","id":"wamid.A","timestamp":"1","type":"text",
                          "text":{"body":"a\u0000b \\u0000 c\u00001"}}]}}]}]}"#;
        let envelope = parse(body).unwrap();
        let ChangeValue::Messages(value) = envelope.entry[0].changes[0].value().unwrap() else { panic!() };
        let Lenient::Parsed { item, .. } = &value.messages[0] else { panic!() };
        assert_eq!(item.text.as_ref().unwrap().body, "a\u{fffd}b \\u0000 c\u{fffd}1");
    }

    #[test]
    fn one_odd_message_does_not_fail_the_batch() {
        let value: MessagesValue = serde_json::from_value(serde_json::json!({
            "metadata": {"phone_number_id": "1"},
            "messages": [
                {"from": "1", "id": "wamid.1", "timestamp": "1", "type": "hologram", "hologram": {}},
                {"from": "1", "timestamp": "1", "type": "text"},
                {"from": "1", "id": "wamid.3", "timestamp": "1", "type": "location", "location": {"latitude": "x"}}
            ]
        }))
        .unwrap();
        assert!(matches!(&value.messages[0], Lenient::Parsed { item, .. } if item.kind == "hologram"));
        assert!(matches!(&value.messages[1], Lenient::Invalid { reason, .. } if reason.contains("id")));
        assert!(matches!(&value.messages[2], Lenient::Parsed { item, .. } if item.location.is_none()));
    }

    #[test]
    fn refuses_bodies_that_are_not_whatsapp_webhooks() {
        assert!(parse(b"not json").is_err());
        assert!(parse(br#"{"object":"page","entry":[]}"#).is_err());
        assert!(parse(br#"{"object":"whatsapp_business_account"}"#).is_err());
        assert!(parse(br#"{"object":"whatsapp_business_account","entry":[{"id":1,"changes":[]}]}"#).is_ok());
    }

    /// A change with one extra field holding `odd` (raw JSON text) under its value, and one in its message.
    fn with_odd_unknown_fields(odd: &str) -> Vec<u8> {
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[
            {{"field":"messages","value":{{"new_field":{odd},"nested":{{"deeper":[{odd}]}},
             "metadata":{{"phone_number_id":"1"}},
             "messages":[{{"from":"1","id":"wamid.A","timestamp":"1","type":"text","extra":{odd},
                          "text":{{"body":"hello"}}}}]}}}}]}}]}}"#
        )
        .into_bytes()
    }

    #[test]
    fn values_no_rust_type_holds_in_unknown_fields_do_not_fail_the_body() {
        for odd in [r#""\udc00""#, r#""\ud83d""#, r#""\ud83d\ud83d x""#, "1e400", "-1e400", &"9".repeat(400)] {
            let body = with_odd_unknown_fields(odd);
            let envelope = parse(&body).unwrap_or_else(|e| panic!("{odd}: {e}"));
            let ChangeValue::Messages(value) = envelope.entry[0].changes[0].value().unwrap() else { panic!() };
            let Lenient::Parsed { item, raw } = &value.messages[0] else { panic!("{odd}: {:?}", value.messages[0]) };
            assert_eq!(item.text.as_ref().unwrap().body, "hello", "{odd}");
            // The stored copy holds what PostgreSQL can keep; the raw log keeps the original bytes.
            assert!(raw["extra"].is_string(), "{odd}: {raw}");
        }
        // Bytes that are not UTF-8 in a string we do not read.
        let body = with_odd_unknown_fields(r#""ZZ""#);
        let bytes_not_utf8: Vec<u8> = body.iter().map(|&b| if b == b'Z' { 0xff } else { b }).collect();
        assert!(parse(&bytes_not_utf8).is_ok());
    }

    #[test]
    fn a_lone_surrogate_in_a_text_becomes_a_replacement_character_and_a_pair_stays() {
        let body = String::from_utf8(with_odd_unknown_fields("1")).unwrap();
        let body = body.replace(r#""hello""#, r#""a\udc00b \ud83d\ude00 \\udc00""#);
        let envelope = parse(body.as_bytes()).unwrap();
        let ChangeValue::Messages(value) = envelope.entry[0].changes[0].value().unwrap() else { panic!() };
        let Lenient::Parsed { item, .. } = &value.messages[0] else { panic!() };
        assert_eq!(item.text.as_ref().unwrap().body, "a\u{fffd}b \u{1f600} \\udc00");
    }

    #[test]
    fn a_body_that_is_not_json_is_refused_with_the_parser_s_reason() {
        for body in [&b"{not json"[..], b"", br#"{"object":"whatsapp_business_account","entry":[}"#, b"\xff"] {
            let e = parse(body).unwrap_err().to_string();
            assert!(e.contains("not a WhatsApp webhook") && e.contains("line"), "{e}");
        }
        // Still a shape error after the repair: the reason is the shape, not the repair.
        let e = parse(br#"{"object":"whatsapp_business_account","x":"\udc00"}"#).unwrap_err().to_string();
        assert!(e.contains("entry"), "{e}");
    }

    /// The daemon answers by `check` and the worker reads by `parse`: a body one accepts and the other
    /// refuses would be acknowledged and then fail, or refused while it could be processed.
    #[test]
    fn check_accepts_and_refuses_exactly_what_parse_does() {
        let mut bodies: Vec<Vec<u8>> = [
            &b"not json"[..],
            b"",
            b"\xff",
            br#"{"object":"page","entry":[]}"#,
            br#"{"object":"whatsapp_business_account"}"#,
            br#"{"object":"whatsapp_business_account","entry":[}"#,
            br#"{"object":"whatsapp_business_account","entry":[{"id":1,"changes":[]}]}"#,
            br#"{"object":"whatsapp_business_account","entry":[{"id":[1],"changes":[]}]}"#,
            br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"value":{}}]}]}"#,
            br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"x"}]}]}"#,
            br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":1e400}]}]}"#,
            br#"{"object":"whatsapp_business_account","x":"\udc00"}"#,
            br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"x","value":{"a":}}]}]}"#,
        ]
        .iter()
        .map(|b| b.to_vec())
        .collect();
        for odd in [r#""\udc00""#, "1e400", &"9".repeat(400), r#""\u0000""#] {
            bodies.push(with_odd_unknown_fields(odd));
        }
        bodies.push(with_odd_unknown_fields(r#""ZZ""#).iter().map(|&b| if b == b'Z' { 0xff } else { b }).collect());
        for body in &bodies {
            let (parsed, checked) = (parse(body), check(body));
            assert_eq!(parsed.is_ok(), checked.is_ok(), "{}", String::from_utf8_lossy(body));
            if let (Err(parsed), Err(checked)) = (parsed, checked) {
                assert_eq!(parsed.to_string(), checked.to_string());
            }
        }
    }

    #[test]
    fn template_status_and_category_updates_parse() {
        let status = Change {
            field: "message_template_status_update".into(),
            value: serde_json::json!({"event": "REJECTED", "message_template_id": 1689556908129832_i64,
                "message_template_name": "spring_sale", "message_template_language": "en_US",
                "reason": "INVALID_FORMAT", "new_field": 1}),
        };
        let Ok(ChangeValue::Template(update)) = status.value() else { panic!() };
        let TemplateUpdate::Status(s) = &*update else { panic!() };
        assert_eq!(s.reason.as_deref(), Some("INVALID_FORMAT"));
        assert_eq!(update.template(), (Some("1689556908129832".into()), Some("spring_sale"), Some("en_US")));
        assert_eq!(update.label(), "template spring_sale REJECTED");
        let impending = Change {
            field: "template_category_update".into(),
            value: serde_json::json!({"message_template_id": "1", "message_template_name": "x",
                "message_template_language": "en", "correct_category": "MARKETING", "new_category": "UTILITY",
                "category_update_timestamp": 1760000000}),
        };
        let Ok(ChangeValue::Template(update)) = impending.value() else { panic!() };
        let TemplateUpdate::Category(c) = *update else { panic!() };
        assert_eq!((c.correct_category.as_deref(), c.category_update_timestamp), (Some("MARKETING"), Some(1760000000)));
    }

    #[test]
    fn unknown_fields_are_other() {
        let change = Change { field: "account_update".into(), value: serde_json::json!({"event": "X"}) };
        assert!(matches!(change.value(), Ok(ChangeValue::Other(f)) if f == "account_update"));
    }
}
