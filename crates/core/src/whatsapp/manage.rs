//! Template management on the Graph API (shared/whatsapp-cloud-api.md §8): create, list, edit and
//! delete a WhatsApp Business Account's message templates. The wire types serve the client and the
//! fake Graph API alike, so the two cannot drift apart.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::whatsapp::client::{ApiError, Endpoint, GraphClient};

/// The answer to `POST /{waba}/message_templates`: Meta's id, the status (usually PENDING) and the
/// category, which Meta may have changed from the one asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Created {
    pub id: String,
    pub status: String,
    pub category: String,
}

/// One template as `GET /{waba}/message_templates` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listed {
    pub id: String,
    pub name: String,
    pub language: String,
    pub status: String,
    pub category: String,
    #[serde(default)]
    pub components: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_reason: Option<String>,
    /// `{score: GREEN | YELLOW | RED | UNKNOWN, date}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality_score: Option<QualityScore>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QualityScore {
    pub score: String,
}

/// A page of templates and the cursor to the next one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page {
    pub data: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paging: Option<Paging>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paging {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursors: Option<Cursors>,
    /// Present only when there is a next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursors {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// `{"success": true}`: the answer to an edit or a delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Success {
    pub success: bool,
}

/// The fields a listing asks for.
pub const LIST_FIELDS: &str =
    "id,name,language,status,category,components,parameter_format,rejected_reason,quality_score";

fn unreadable(what: &str, e: &serde_json::Error, attempts: u32) -> ApiError {
    ApiError {
        code: None,
        subcode: None,
        http_status: Some(200),
        title: format!("Meta answered the {what} with an unreadable body: {e}"),
        detail: None,
        retryable: false,
        outcome_unknown: true,
        attempts,
    }
}

impl GraphClient {
    /// Submits a template for review to the WABA `waba_id`.
    pub async fn create_template(&self, endpoint: &Endpoint, waba_id: &str, body: &Value) -> Result<Created, ApiError> {
        let url = self.url(endpoint, &format!("{waba_id}/message_templates"));
        let (bytes, attempts) = self.call(reqwest::Method::POST, &url, endpoint, Some(body)).await?;
        serde_json::from_slice(&bytes).map_err(|e| unreadable("template creation", &e, attempts))
    }

    /// One page of the WABA's templates, `after` the cursor of the previous page.
    pub async fn list_templates(
        &self,
        endpoint: &Endpoint,
        waba_id: &str,
        limit: u32,
        after: Option<&str>,
    ) -> Result<Page, ApiError> {
        let mut url = self.url(endpoint, &format!("{waba_id}/message_templates"));
        url.push_str(&format!("?fields={LIST_FIELDS}&limit={limit}"));
        if let Some(after) = after {
            url.push_str("&after=");
            url.extend(percent_encoding::utf8_percent_encode(after, percent_encoding::NON_ALPHANUMERIC));
        }
        let (bytes, attempts) = self.call::<Value>(reqwest::Method::GET, &url, endpoint, None).await?;
        serde_json::from_slice(&bytes).map_err(|e| unreadable("template listing", &e, attempts))
    }

    /// Replaces an existing template's components (and, when allowed, its category): Meta's edit.
    pub async fn edit_template(&self, endpoint: &Endpoint, meta_id: &str, body: &Value) -> Result<(), ApiError> {
        let url = self.url(endpoint, meta_id);
        self.call(reqwest::Method::POST, &url, endpoint, Some(body)).await.map(drop)
    }

    /// Deletes one language of a template (by Meta's id and name).
    pub async fn delete_template(
        &self,
        endpoint: &Endpoint,
        waba_id: &str,
        name: &str,
        meta_id: &str,
    ) -> Result<(), ApiError> {
        let encode = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
        let url = self
            .url(endpoint, &format!("{waba_id}/message_templates?hsm_id={}&name={}", encode(meta_id), encode(name)));
        self.call::<Value>(reqwest::Method::DELETE, &url, endpoint, None).await.map(drop)
    }
}
