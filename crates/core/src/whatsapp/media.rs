//! Received media on the Graph API (shared/whatsapp-cloud-api.md §2.2): a webhook carries only a media
//! id; `GET /{media-id}` answers with a short-lived URL, which is then fetched with the same token.
//! The wire type serves the client and the fake Graph API alike.

use serde::{Deserialize, Serialize};

use crate::whatsapp::client::{ApiError, Endpoint, GraphClient};

/// The answer to `GET /{version}/{media-id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaInfo {
    pub id: String,
    /// Valid for about five minutes, and only with the account's token.
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size: Option<u64>,
}

impl ApiError {
    /// Meta no longer has the media: an unknown id (code 100, subcode 33) or a vanished file (404).
    pub fn media_gone(&self) -> bool {
        (self.code == Some(100) && self.subcode == Some(33)) || self.http_status == Some(404)
    }
}

impl GraphClient {
    /// Where media `id` can be downloaded from now, and what it is.
    pub async fn media_info(&self, endpoint: &Endpoint, id: &str) -> Result<MediaInfo, ApiError> {
        let (body, attempts) = self.call(reqwest::Method::GET, &self.url(endpoint, id), endpoint, None::<&()>).await?;
        serde_json::from_slice(&body).map_err(|e| ApiError {
            code: None,
            subcode: None,
            http_status: Some(200),
            title: format!("the media lookup's answer is unreadable: {e}"),
            detail: None,
            retryable: false,
            outcome_unknown: false,
            attempts,
        })
    }

    /// The bytes behind a URL from [`GraphClient::media_info`] (the token goes along, as Meta requires).
    pub async fn fetch_media(&self, endpoint: &Endpoint, url: &str) -> Result<Vec<u8>, ApiError> {
        self.call(reqwest::Method::GET, url, endpoint, None::<&()>).await.map(|(body, _)| body)
    }
}
