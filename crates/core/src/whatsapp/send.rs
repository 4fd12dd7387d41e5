//! Send-side wire types of the Graph API (shared/whatsapp-cloud-api.md §4): the request bodies of
//! `POST /{version}/{phone_number_id}/messages`, its success response and the Graph error object.
//!
//! Both directions derive `Serialize` and `Deserialize`: the client writes requests and reads responses,
//! the fake Graph API does the opposite with the same types, so the two cannot drift apart.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The most characters `text.body` may hold (OAS `TextMessage.body.maxLength`).
pub const MAX_TEXT_CHARS: usize = 4096;

const MESSAGING_PRODUCT: &str = "whatsapp";

/// One outbound message to one user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendRequest {
    pub messaging_product: String,
    pub recipient_type: String,
    /// The user's number, digits only (a `wa_id`).
    pub to: String,
    /// The quoted message when replying to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<ReplyContext>,
    /// Echoed in every status webhook of this message: our `client_ref`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biz_opaque_callback_data: Option<String>,
    #[serde(flatten)]
    pub content: Content,
}

impl SendRequest {
    pub fn new(to: &str, content: Content) -> SendRequest {
        SendRequest {
            messaging_product: MESSAGING_PRODUCT.into(),
            recipient_type: "individual".into(),
            to: to.trim_start_matches('+').to_string(),
            context: None,
            biz_opaque_callback_data: None,
            content,
        }
    }

    pub fn replying_to(mut self, wamid: Option<String>) -> SendRequest {
        self.context = wamid.map(|message_id| ReplyContext { message_id });
        self
    }

    pub fn with_callback_data(mut self, data: String) -> SendRequest {
        self.biz_opaque_callback_data = Some(data);
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyContext {
    pub message_id: String,
}

/// What is sent; `type` on the wire names the key that holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Content {
    Text { text: TextBody },
    Template { template: Template },
}

impl Content {
    pub fn text(body: &str) -> Content {
        Content::Text { text: TextBody { body: body.to_string(), preview_url: false } }
    }

    /// A template with positional body parameters (`{{1}}`, `{{2}}`, …) in order.
    pub fn template(name: &str, language: &str, body_params: &[String]) -> Content {
        let components = if body_params.is_empty() {
            Vec::new()
        } else {
            let parameters: Vec<Value> = body_params.iter().map(|p| json!({"type": "text", "text": p})).collect();
            vec![json!({"type": "body", "parameters": parameters})]
        };
        Content::rendered(name, language, components)
    }

    /// A template with the `components` the render path made (header, body, buttons; positional or named).
    pub fn rendered(name: &str, language: &str, components: Vec<Value>) -> Content {
        Content::Template {
            template: Template {
                name: name.to_string(),
                language: Language { code: language.to_string() },
                components,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextBody {
    pub body: String,
    #[serde(default)]
    pub preview_url: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub name: String,
    pub language: Language,
    /// Meta's `template.components` with their parameters, as `templates::render` makes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Language {
    pub code: String,
}

/// A read receipt for an inbound message (and, per Meta, every earlier one in the chat).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkRead {
    pub messaging_product: String,
    pub status: String,
    pub message_id: String,
}

impl MarkRead {
    pub fn new(wamid: &str) -> MarkRead {
        MarkRead { messaging_product: MESSAGING_PRODUCT.into(), status: "read".into(), message_id: wamid.into() }
    }
}

/// `200 OK` to a send: the message was accepted (not yet delivered; statuses arrive by webhook).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendResponse {
    #[serde(default)]
    pub messaging_product: Option<String>,
    #[serde(default)]
    pub contacts: Vec<ResponseContact>,
    #[serde(default)]
    pub messages: Vec<ResponseMessage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseContact {
    #[serde(default)]
    pub input: Option<String>,
    pub wa_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseMessage {
    /// The wamid every status webhook of this message refers to.
    pub id: String,
    /// `accepted`, `held_for_quality_assessment` or `paused`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_status: Option<String>,
}

/// A non-2xx answer: `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error: GraphError,
}

/// The Graph error object (OAS `GraphAPIError`). Logic keys on `code` (and `error_data.details`);
/// Meta says titles will be deprecated.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GraphError {
    #[serde(default)]
    pub message: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub code: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_subcode: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_data: Option<ErrorData>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_user_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_user_msg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_transient: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fbtrace_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ErrorData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging_product: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn text_reply_has_the_documented_shape() {
        let request = SendRequest::new("+16505551234", Content::text("hi"))
            .replying_to(Some("wamid.A".into()))
            .with_callback_data("ref-1".into());
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({
                "messaging_product": "whatsapp", "recipient_type": "individual", "to": "16505551234",
                "context": {"message_id": "wamid.A"}, "biz_opaque_callback_data": "ref-1",
                "type": "text", "text": {"body": "hi", "preview_url": false}
            })
        );
    }

    #[test]
    fn template_carries_positional_body_parameters() {
        let request =
            SendRequest::new("16505551234", Content::template("order_update", "pt_BR", &["Ana".into(), "4411".into()]));
        let value = serde_json::to_value(&request).unwrap();
        assert_eq!(value["type"], "template");
        assert_eq!(
            value["template"],
            json!({"name": "order_update", "language": {"code": "pt_BR"},
                   "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"},
                                                                  {"type": "text", "text": "4411"}]}]})
        );
        let back: SendRequest = serde_json::from_value(value).unwrap();
        assert_eq!(back, request);
    }

    #[test]
    fn graph_errors_parse_from_the_oas_sample() {
        let body = json!({"error": {"message": "(#4) Application request limit reached", "type": "OAuthException",
                                    "code": 4, "error_subcode": 2446079, "is_transient": true,
                                    "fbtrace_id": "AXsgnV2Cm3ZMGF3dF_cfYIn", "unknown_field": 1}});
        let parsed: ErrorResponse = serde_json::from_value(body).unwrap();
        assert_eq!(parsed.error.code, 4);
        assert_eq!(parsed.error.error_subcode, Some(2446079));
        assert_eq!(parsed.error.is_transient, Some(true));
    }
}
