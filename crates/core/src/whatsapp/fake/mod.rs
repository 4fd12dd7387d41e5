//! A fake Graph API at the HTTP boundary, for tests and `wacrm demo` (feature `fake-graph`): the only
//! stand-in the project allows. It answers `POST /{version}/{phone_number_id}/messages` the way Meta
//! does (fresh wamids, the documented success and error bodies), records every request, injects
//! failures on demand, and can play Meta's part after an accepted send by POSTing signed `sent`,
//! `delivered` and `read` status webhooks to a configured URL. It also keeps WABAs' message templates
//! (`/{version}/{waba_id}/message_templates`: create, paged list, delete; `POST /{version}/{id}`: edit)
//! with Meta's answers, and lets a test play Meta's reviewers ([`FakeGraph::set_template_status`]) or
//! Meta's own UI ([`FakeGraph::add_template`]). It serves the media customers sent
//! ([`FakeGraph::add_media`]) through Meta's two-step download, and forgets them as Meta does
//! ([`FakeGraph::expire_media`]).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State as AxumState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::whatsapp::manage::{Listed, QualityScore};
use crate::whatsapp::send::{ErrorData, ErrorResponse, GraphError, SendRequest};

use self::media::FakeMedia;
use self::statuses::play_statuses;
use self::templates::{create_template, delete_template, edit_template, list_templates, template_id};

mod media;
mod statuses;
mod templates;

/// A failure the fake answers with instead of accepting a send, each in Meta's documented shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// HTTP 429, code 4: the app's API call rate limit (transient).
    RateLimit,
    /// HTTP 429, code 130429: the number's throughput limit.
    Throughput,
    /// HTTP 500, code 2: a temporary service error (transient).
    ServerError,
    /// HTTP 400, code 131047: more than 24 hours since the user last wrote (final).
    ReEngagement,
    /// HTTP 400, code 131026: not a WhatsApp user or cannot receive (final).
    Undeliverable,
    /// HTTP 400, code 131049: Meta held a marketing message back for the user's engagement (final for
    /// this message; a later campaign may reach them).
    MarketingLimit,
    /// HTTP 400, code 131056: too many messages to this user from this number in a short time
    /// (transient).
    PairRateLimit,
    /// HTTP 400, code 132015: the template is paused for low quality.
    TemplatePaused,
}

impl Failure {
    fn answer(self, trace: u64) -> (StatusCode, ErrorResponse) {
        let details =
            |text: &str| Some(ErrorData { messaging_product: Some("whatsapp".into()), details: Some(text.into()) });
        let (status, error) = match self {
            Failure::RateLimit => (
                StatusCode::TOO_MANY_REQUESTS,
                GraphError {
                    message: "(#4) Application request limit reached".into(),
                    code: 4,
                    error_subcode: Some(2446079),
                    is_transient: Some(true),
                    ..GraphError::default()
                },
            ),
            Failure::Throughput => (
                StatusCode::TOO_MANY_REQUESTS,
                GraphError {
                    message: "(#130429) Rate limit hit".into(),
                    code: 130429,
                    error_data: details("Cloud API message throughput has been reached."),
                    ..GraphError::default()
                },
            ),
            Failure::ServerError => (
                StatusCode::INTERNAL_SERVER_ERROR,
                GraphError {
                    message: "An unexpected error has occurred. Please retry your request later.".into(),
                    code: 2,
                    is_transient: Some(true),
                    ..GraphError::default()
                },
            ),
            Failure::ReEngagement => (
                StatusCode::BAD_REQUEST,
                GraphError {
                    message: "(#131047) Re-engagement message".into(),
                    code: 131047,
                    error_data: details(
                        "Message failed to send because more than 24 hours have passed since the customer last \
                         replied to this number.",
                    ),
                    ..GraphError::default()
                },
            ),
            Failure::Undeliverable => (
                StatusCode::BAD_REQUEST,
                GraphError {
                    message: "(#131026) Message Undeliverable".into(),
                    code: 131026,
                    error_data: details("Message Undeliverable."),
                    ..GraphError::default()
                },
            ),
            Failure::MarketingLimit => (
                StatusCode::BAD_REQUEST,
                GraphError {
                    message: "(#131049) This message was not delivered to maintain healthy ecosystem engagement."
                        .into(),
                    code: 131049,
                    error_data: details(
                        "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
                    ),
                    ..GraphError::default()
                },
            ),
            Failure::PairRateLimit => (
                StatusCode::BAD_REQUEST,
                GraphError {
                    message: "(#131056) (Business Account, Consumer Account) pair rate limit hit".into(),
                    code: 131056,
                    error_data: details(
                        "Message failed to send because there were too many messages sent from this phone number \
                         to the same phone number in a short period of time.",
                    ),
                    ..GraphError::default()
                },
            ),
            Failure::TemplatePaused => (
                StatusCode::BAD_REQUEST,
                GraphError {
                    message: "(#132015) Template is Paused".into(),
                    code: 132015,
                    error_data: details(
                        "Template is paused due to low quality so it cannot be sent in a template message.",
                    ),
                    ..GraphError::default()
                },
            ),
        };
        let error =
            GraphError { kind: Some("OAuthException".into()), fbtrace_id: Some(format!("AFake{trace:08}")), ..error };
        (status, ErrorResponse { error })
    }
}

/// One request as the fake received it.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedRequest {
    pub path: String,
    /// The `Authorization` header as sent (`Bearer …`).
    pub authorization: Option<String>,
    /// The JSON body (`null` if it was not JSON).
    pub body: Value,
    /// The HTTP status the fake answered with.
    pub answered: u16,
    /// When the request arrived (benches time replies by it).
    #[serde(skip)]
    pub received: std::time::Instant,
}

impl RecordedRequest {
    /// A request as it arrives now.
    fn new(path: String, authorization: Option<String>, body: Value, answered: u16) -> RecordedRequest {
        RecordedRequest { path, authorization, body, answered, received: std::time::Instant::now() }
    }

    /// The recipient of a send (`to`), if this was one.
    pub fn to(&self) -> Option<&str> {
        self.body.get("to").and_then(Value::as_str)
    }
}

/// Where the fake sends status webhooks after each accepted send, playing Meta.
#[derive(Debug, Clone)]
pub struct StatusWebhooks {
    /// The webhook daemon's POST URL, e.g. `http://127.0.0.1:8787/webhook`.
    pub url: String,
    /// Signs each body (`X-Hub-Signature-256`), as the Meta app secret does.
    pub app_secret: String,
    /// `entry[].id`: the WhatsApp Business Account id.
    pub waba_id: String,
    /// `metadata.display_phone_number`, digits only.
    pub display_phone_number: String,
    /// The pause before each status (`sent`, then `delivered`, then `read`).
    pub delay: Duration,
}

/// A status webhook the fake posted, and what the receiver answered (`None`: it could not be reached).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub wamid: String,
    pub status: String,
    pub answered: Option<u16>,
}

#[derive(Default)]
struct State {
    requests: Vec<RecordedRequest>,
    fail_next: VecDeque<Failure>,
    fail_recipients: HashMap<String, Failure>,
    webhooks: Option<StatusWebhooks>,
    deliveries: Vec<Delivery>,
    counter: u64,
    templates: Vec<FakeTemplate>,
    /// The most templates one list page holds (whatever `limit` asks); Meta's default is 25.
    page_size: Option<usize>,
    /// Received media by id, and this server's own URL (the media URLs point back at it).
    media: HashMap<String, FakeMedia>,
    base_url: String,
    /// Sends accepted per recipient, kept instead of the sends' requests ([`FakeGraph::count_sends_only`]).
    accepted_only: Option<HashMap<String, u32>>,
}

/// A template the fake keeps for a WABA.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FakeTemplate {
    pub waba_id: String,
    pub listed: Listed,
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> MutexGuard<'_, State> {
    // A panicking test thread must not wedge every later request: the state is plain data.
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The running fake; it stops when dropped.
pub struct FakeGraph {
    base_url: String,
    state: Shared,
    server: JoinHandle<()>,
}

impl Drop for FakeGraph {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeGraph {
    /// Starts the fake on a free loopback port.
    pub async fn start() -> std::io::Result<FakeGraph> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let state = Shared::default();
        lock(&state).base_url = base_url.clone();
        let app = Router::new()
            .route("/{version}/{phone_number_id}/messages", post(messages))
            .route(
                "/{version}/{waba_id}/message_templates",
                get(list_templates).post(create_template).delete(delete_template),
            )
            .route("/{version}/{template_id}", post(edit_template).get(media::info))
            .route("/whatsapp_business/attachments/", get(media::bytes))
            .fallback(unknown_path)
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("the fake Graph API stopped: {e}");
            }
        });
        Ok(FakeGraph { base_url, state, server })
    }

    /// The base URL to configure as an account's (or the settings') Graph API base.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state).requests.clone()
    }

    /// From now on, and from zero, keeps only how many sends it accepted per recipient (see
    /// [`FakeGraph::accepted_sends`]) instead of every send's request: a benchmark of 100,000 sends would
    /// otherwise measure this log in its process's memory.
    pub fn count_sends_only(&self) {
        lock(&self.state).accepted_only = Some(HashMap::new());
    }

    /// Sends accepted per recipient (`to`) since [`FakeGraph::count_sends_only`].
    pub fn accepted_sends(&self) -> HashMap<String, u32> {
        lock(&self.state).accepted_only.clone().unwrap_or_default()
    }

    /// Answers the next `n` sends (to anyone) with `failure`.
    pub fn fail_next(&self, n: usize, failure: Failure) {
        lock(&self.state).fail_next.extend(std::iter::repeat_n(failure, n));
    }

    /// Answers every send to `wa_id` (digits, no `+`) with `failure` until [`FakeGraph::clear_failures`].
    pub fn fail_recipient(&self, wa_id: &str, failure: Failure) {
        lock(&self.state).fail_recipients.insert(wa_id.trim_start_matches('+').to_string(), failure);
    }

    pub fn clear_failures(&self) {
        let mut state = lock(&self.state);
        state.fail_next.clear();
        state.fail_recipients.clear();
    }

    /// From now on, follow each accepted send with signed status webhooks to `target`.
    pub fn deliver_statuses(&self, target: StatusWebhooks) {
        lock(&self.state).webhooks = Some(target);
    }

    /// The status webhooks posted so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.state).deliveries.clone()
    }

    /// The templates the fake holds, oldest first.
    pub fn templates(&self) -> Vec<FakeTemplate> {
        lock(&self.state).templates.clone()
    }

    /// A template made in Meta's own UI; returns its id.
    pub fn add_template(
        &self,
        waba_id: &str,
        name: &str,
        language: &str,
        category: &str,
        status: &str,
        components: Value,
    ) -> String {
        let mut state = lock(&self.state);
        state.counter += 1;
        let id = template_id(state.counter);
        state.templates.push(FakeTemplate {
            waba_id: waba_id.into(),
            listed: Listed {
                id: id.clone(),
                name: name.into(),
                language: language.into(),
                status: status.into(),
                category: category.into(),
                components,
                parameter_format: Some("POSITIONAL".into()),
                rejected_reason: None,
                quality_score: Some(QualityScore { score: "UNKNOWN".into() }),
            },
        });
        id
    }

    /// Plays Meta's reviewers: sets a template's status (and rejection reason).
    pub fn set_template_status(&self, id: &str, status: &str, reason: Option<&str>) {
        let mut state = lock(&self.state);
        if let Some(t) = state.templates.iter_mut().find(|t| t.listed.id == id) {
            t.listed.status = status.into();
            t.listed.rejected_reason = reason.map(Into::into);
        }
    }

    /// A file a customer sent: `GET /{version}/{id}` finds it until it expires.
    pub fn add_media(&self, id: &str, mime_type: &str, bytes: &[u8]) {
        let media = FakeMedia { mime_type: mime_type.into(), bytes: bytes.to_vec() };
        lock(&self.state).media.insert(id.into(), media);
    }

    /// Forgets media `id`, as Meta does after its retention period.
    pub fn expire_media(&self, id: &str) {
        lock(&self.state).media.remove(id);
    }

    /// Caps list pages at `n` templates, to exercise paging with a few.
    pub fn set_page_size(&self, n: usize) {
        lock(&self.state).page_size = Some(n.max(1));
    }
}

fn answer(status: StatusCode, body: &impl Serialize) -> Response {
    (status, axum::Json(body)).into_response()
}

async fn messages(
    AxumState(state): AxumState<Shared>,
    Path((version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = format!("/{version}/{phone_number_id}/messages");
    let mut guard = lock(&state);
    guard.counter += 1;
    let n = guard.counter;
    let (status, response, accepted) = decide(&mut guard, authorization.as_deref(), &json, n);
    match &mut guard.accepted_only {
        Some(accepted) if status == StatusCode::OK => {
            let to = json.get("to").and_then(Value::as_str).unwrap_or_default();
            *accepted.entry(to.to_string()).or_default() += 1;
        }
        Some(_) => {}
        None => guard.requests.push(RecordedRequest::new(path, authorization, json, status.as_u16())),
    }
    let webhooks = guard.webhooks.clone();
    drop(guard);
    if let (Some((wamid, request)), Some(target)) = (accepted, webhooks) {
        tokio::spawn(play_statuses(state, target, phone_number_id, wamid, request));
    }
    answer(status, &response)
}

/// The answer to one POST: status, body, and the accepted send (wamid and request) if there is one.
fn decide(
    state: &mut State,
    authorization: Option<&str>,
    body: &Value,
    n: u64,
) -> (StatusCode, Value, Option<(String, SendRequest)>) {
    let graph_error = |status: StatusCode, code: i64, message: &str| {
        let error = GraphError {
            message: message.into(),
            kind: Some("OAuthException".into()),
            code,
            fbtrace_id: Some(format!("AFake{n:08}")),
            ..GraphError::default()
        };
        (status, json!(ErrorResponse { error }), None)
    };
    if !authorization.is_some_and(|a| a.starts_with("Bearer ") && a.len() > "Bearer ".len()) {
        return graph_error(StatusCode::UNAUTHORIZED, 190, "Invalid OAuth access token - Cannot parse access token");
    }
    if body.get("status").and_then(Value::as_str) == Some("read") {
        return (StatusCode::OK, json!({"success": true}), None);
    }
    let Ok(request) = serde_json::from_value::<SendRequest>(body.clone()) else {
        return graph_error(StatusCode::BAD_REQUEST, 100, "(#100) Invalid parameter");
    };
    let failure = state.fail_next.pop_front().or_else(|| state.fail_recipients.get(&request.to).copied());
    if let Some(failure) = failure {
        let (status, response) = failure.answer(n);
        return (status, json!(response), None);
    }
    let wamid = format!("wamid.HBgLFAKE{n:012}{}", uuid::Uuid::new_v4().simple());
    let response = json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": request.to, "wa_id": request.to}],
        "messages": [{"id": wamid, "message_status": "accepted"}],
    });
    (StatusCode::OK, response, Some((wamid, request)))
}

fn graph_error(
    status: StatusCode,
    code: i64,
    subcode: Option<i64>,
    message: &str,
    user_msg: Option<&str>,
    n: u64,
) -> Response {
    let error = GraphError {
        message: message.into(),
        kind: Some("OAuthException".into()),
        code,
        error_subcode: subcode,
        error_user_msg: user_msg.map(Into::into),
        fbtrace_id: Some(format!("AFake{n:08}")),
        ..GraphError::default()
    };
    answer(status, &ErrorResponse { error })
}

async fn unknown_path(
    AxumState(state): AxumState<Shared>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut guard = lock(&state);
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    guard.requests.push(RecordedRequest::new(uri.path().to_string(), authorization, json, 404));
    let error = GraphError {
        message: "Unknown path components".into(),
        kind: Some("OAuthException".into()),
        code: 803,
        ..GraphError::default()
    };
    answer(StatusCode::NOT_FOUND, &ErrorResponse { error })
}
