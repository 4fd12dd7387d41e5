//! The fake's message templates, as Meta keeps them per WABA: create, paged list and delete on
//! `/{version}/{waba_id}/message_templates`, and edit on `POST /{version}/{template_id}`, with Meta's
//! answers and refusals.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxumState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::{FakeTemplate, RecordedRequest, Shared, State, answer, graph_error, lock};
use crate::whatsapp::manage::{Created, Cursors, Listed, Page, Paging, QualityScore, Success};

/// Meta's template ids are long decimal numbers.
pub(super) fn template_id(n: u64) -> String {
    format!("1689556908{n:07}")
}

/// The start of every template call: counts it, records it, checks the token and injected failures;
/// returns the call's number and the refusal to answer with, if any.
fn template_call(state: &mut State, path: String, headers: &HeaderMap, body: Value) -> (u64, Option<Response>) {
    state.counter += 1;
    let n = state.counter;
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    let authorized = authorization.as_deref().is_some_and(|a| a.starts_with("Bearer ") && a.len() > "Bearer ".len());
    let failure = if authorized { state.fail_next.pop_front() } else { None };
    let refused = if !authorized {
        Some(graph_error(
            StatusCode::UNAUTHORIZED,
            190,
            Some(463),
            "Invalid OAuth access token - Cannot parse access token",
            None,
            n,
        ))
    } else {
        failure.map(|f| {
            let (status, response) = f.answer(n);
            answer(status, &response)
        })
    };
    let answered = refused.as_ref().map_or(200, |r| r.status().as_u16());
    state.requests.push(RecordedRequest::new(path, authorization, body, answered));
    (n, refused)
}

pub(super) async fn create_template(
    AxumState(state): AxumState<Shared>,
    Path((version, waba_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut state = lock(&state);
    let (n, refused) =
        template_call(&mut state, format!("/{version}/{waba_id}/message_templates"), &headers, json.clone());
    if let Some(refused) = refused {
        return refused;
    }
    let field = |k: &str| json.get(k).and_then(Value::as_str).map(str::to_string);
    let (Some(name), Some(language), Some(category), Some(components)) =
        (field("name"), field("language"), field("category"), json.get("components").filter(|c| c.is_array()))
    else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            None,
            "(#100) Invalid parameter",
            Some("name, language, category and components are required"),
            n,
        );
    };
    if state.templates.iter().any(|t| t.waba_id == waba_id && t.listed.name == name && t.listed.language == language) {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            Some(2388024),
            "(#100) Invalid parameter",
            Some("Content in this language already exists: try a different name or language"),
            n,
        );
    }
    let id = template_id(n);
    state.templates.push(FakeTemplate {
        waba_id,
        listed: Listed {
            id: id.clone(),
            name,
            language,
            status: "PENDING".into(),
            category: category.to_ascii_uppercase(),
            components: components.clone(),
            parameter_format: field("parameter_format"),
            rejected_reason: None,
            quality_score: Some(QualityScore { score: "UNKNOWN".into() }),
        },
    });
    answer(StatusCode::OK, &Created { id, status: "PENDING".into(), category: category.to_ascii_uppercase() })
}

pub(super) async fn list_templates(
    AxumState(state): AxumState<Shared>,
    Path((version, waba_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut state = lock(&state);
    if let (_, Some(refused)) =
        template_call(&mut state, format!("/{version}/{waba_id}/message_templates"), &headers, json!(query))
    {
        return refused;
    }
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(25)
        .min(state.page_size.unwrap_or(usize::MAX))
        .max(1);
    let from =
        query.get("after").and_then(|a| a.strip_prefix("cursor-")).and_then(|a| a.parse::<usize>().ok()).unwrap_or(0);
    let mine: Vec<&FakeTemplate> = state.templates.iter().filter(|t| t.waba_id == waba_id).collect();
    let end = (from + limit).min(mine.len());
    let data = mine.get(from..end).unwrap_or_default().iter().map(|t| json!(t.listed)).collect();
    let next =
        (end < mine.len()).then(|| format!("/{version}/{waba_id}/message_templates?limit={limit}&after=cursor-{end}"));
    let cursors = Cursors { before: Some(format!("cursor-{from}")), after: Some(format!("cursor-{end}")) };
    answer(StatusCode::OK, &Page { data, paging: Some(Paging { cursors: Some(cursors), next }) })
}

pub(super) async fn delete_template(
    AxumState(state): AxumState<Shared>,
    Path((version, waba_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut state = lock(&state);
    let (n, refused) =
        template_call(&mut state, format!("/{version}/{waba_id}/message_templates"), &headers, json!(query));
    if let Some(refused) = refused {
        return refused;
    }
    let name = query.get("name").cloned().unwrap_or_default();
    let id = query.get("hsm_id");
    let matches =
        |t: &FakeTemplate| t.waba_id == waba_id && t.listed.name == name && id.is_none_or(|id| *id == t.listed.id);
    if !state.templates.iter().any(matches) {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            Some(2593002),
            "(#100) Invalid parameter",
            Some("Message template not found"),
            n,
        );
    }
    if state.templates.iter().any(|t| matches(t) && t.listed.status == "DISABLED") {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            None,
            "(#100) Invalid parameter",
            Some("Disabled templates cannot be deleted"),
            n,
        );
    }
    state.templates.retain(|t| !matches(t));
    answer(StatusCode::OK, &Success { success: true })
}

pub(super) async fn edit_template(
    AxumState(state): AxumState<Shared>,
    Path((version, template_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut state = lock(&state);
    let (n, refused) = template_call(&mut state, format!("/{version}/{template_id}"), &headers, json.clone());
    if let Some(refused) = refused {
        return refused;
    }
    let Some(template) = state.templates.iter_mut().find(|t| t.listed.id == template_id) else {
        return graph_error(
            StatusCode::NOT_FOUND,
            100,
            Some(33),
            "Unsupported post request. Object does not exist",
            None,
            n,
        );
    };
    if let Some(components) = json.get("components").filter(|c| c.is_array()) {
        template.listed.components = components.clone();
    }
    if let Some(category) = json.get("category").and_then(Value::as_str) {
        template.listed.category = category.to_ascii_uppercase();
    }
    template.listed.status = "PENDING".into();
    answer(StatusCode::OK, &Success { success: true })
}
