//! Received media, as Meta serves it: `GET /{version}/{media-id}` answers with a URL on a separate host
//! path that only the account's token may fetch; an id Meta no longer keeps answers code 100, subcode 33.

use axum::extract::{Path, Query, State as AxumState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::{Shared, graph_error, lock};
use crate::whatsapp::media::MediaInfo;
use crate::whatsapp::send::{ErrorResponse, GraphError};

/// A file a customer sent, kept by the fake until [`super::FakeGraph::expire_media`].
#[derive(Debug, Clone)]
pub(super) struct FakeMedia {
    pub mime_type: String,
    pub bytes: Vec<u8>,
}

fn authorized(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .filter(|a| a.starts_with("Bearer ") && a.len() > "Bearer ".len())
        .map(str::to_string)
}

/// `GET /{version}/{media-id}`.
pub(super) async fn info(
    AxumState(state): AxumState<Shared>,
    Path((version, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut guard = lock(&state);
    guard.counter += 1;
    let n = guard.counter;
    let authorization = authorized(&headers);
    let found = guard.media.get(&id).cloned();
    let response = match (&authorization, found) {
        (None, _) => graph_error(StatusCode::UNAUTHORIZED, 190, Some(463), "Invalid OAuth access token", None, n),
        (Some(_), None) => graph_error(
            StatusCode::BAD_REQUEST,
            100,
            Some(33),
            &format!(
                "Unsupported get request. Object with ID '{id}' does not exist, cannot be loaded due to missing \
                 permissions, or does not support this operation."
            ),
            None,
            n,
        ),
        (Some(_), Some(media)) => axum::Json(MediaInfo {
            url: format!("{}/whatsapp_business/attachments/?mid={id}", guard.base_url),
            id: id.clone(),
            mime_type: Some(media.mime_type),
            sha256: None,
            file_size: Some(media.bytes.len() as u64),
        })
        .into_response(),
    };
    guard.requests.push(super::RecordedRequest::new(
        format!("/{version}/{id}"),
        authorization,
        Value::Null,
        response.status().as_u16(),
    ));
    response
}

#[derive(Deserialize)]
pub(super) struct Attachment {
    mid: String,
}

/// The URL `info` handed out: the bytes, for the token only.
pub(super) async fn bytes(
    AxumState(state): AxumState<Shared>,
    Query(attachment): Query<Attachment>,
    headers: HeaderMap,
) -> Response {
    let mut guard = lock(&state);
    let authorization = authorized(&headers);
    let found = guard.media.get(&attachment.mid).cloned();
    let response = match (&authorization, found) {
        (Some(_), Some(media)) => ([(header::CONTENT_TYPE, media.mime_type)], media.bytes).into_response(),
        (None, _) => StatusCode::UNAUTHORIZED.into_response(),
        (Some(_), None) => {
            let error = GraphError { message: "media not found".into(), code: 100, ..GraphError::default() };
            (StatusCode::NOT_FOUND, axum::Json(ErrorResponse { error })).into_response()
        }
    };
    guard.requests.push(super::RecordedRequest::new(
        format!("/whatsapp_business/attachments/?mid={}", attachment.mid),
        authorization,
        Value::Null,
        response.status().as_u16(),
    ));
    response
}
