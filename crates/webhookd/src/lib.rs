//! wacrm-webhookd: receives WhatsApp Cloud API webhooks.
//!
//! A POST is checked (size, signature, JSON shape), committed to the raw log and only then
//! acknowledged. The POSTs that arrive together are committed together (one statement and one disk
//! flush for many acks). Their contents are processed afterwards by a small pool of workers, each
//! taking what the acks queued meanwhile as one batch (the fast path), and by a periodic sweep of
//! anything still pending (after a crash, a full queue or an outage). Both go
//! through `wacrm_core::inbox::ingest`, which makes every item exactly-once. PostgreSQL is the only
//! shared state, so any number of daemons can run behind a load balancer.

mod connections;
pub mod jobs;
mod quiet;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;
use tower_http::timeout::TimeoutLayer;
use wacrm_core::Error;
use wacrm_core::db::Pool as PgPool;
use wacrm_core::inbox::ingest::{self, IngestConfig, Outcome, ProcessedEvent};
use wacrm_core::whatsapp::{signature, webhook};

pub use crate::connections::default_max_connections;
use crate::connections::{ConnectionLimits, serve_http};
use crate::quiet::QuietLog;

/// What a 503 says: the detail (a path, a driver's message) is for the log, not for whoever posted.
pub const UNAVAILABLE: &str = "database unavailable, Meta will retry";

/// Refused requests and failed background work, logged at a bounded rate (see [`quiet`]).
static REFUSED: LazyLock<QuietLog> = LazyLock::new(|| QuietLog::new("webhook refused"));
static FAILED: LazyLock<QuietLog> = LazyLock::new(|| QuietLog::new("webhook work failed; it is retried"));

/// Meta's batches stay far below this; anything larger is not a webhook.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// The path Meta's callback URL points at; `/` is accepted too.
pub const WEBHOOK_PATH: &str = "/webhook";

/// Events one sweeper processes per round.
const SWEEP_BATCH: usize = 500;

/// Tasks committing POST bodies to the raw log: while one waits for its commit, the other gathers the
/// bodies that arrived meanwhile. Two, not four: under load each commit then carries twice the bodies
/// for the same per-commit cost (interleaved A/B at 64 connections: +2.5% and +8% end to end), while at
/// 8 connections the difference stayed within the noise (-9%, +2%). One writer alone left every body
/// waiting for the previous commit's flush (-11% and -28% at 8 connections).
const STORE_WRITERS: usize = 2;

/// Bodies one commit takes at most, so one slow batch does not hold a burst's acks back.
const STORE_BATCH: usize = 128;

/// How long a worker waits for a batch to fill after its first event. Under moderate load the acks
/// otherwise reach the workers one or two at a time, and each such batch pays a whole transaction's
/// statements on the two cores the acknowledgements need; under heavy load the queue fills a batch at
/// once and nothing waits.
const BATCH_WAIT: Duration = Duration::from_millis(5);

/// Stored events the workers' queue holds (8 bytes each): a burst of several seconds above the
/// processing rate stays on the fast path; beyond it the sweeper reads the rest from the log.
const QUEUED_EVENTS: usize = 65_536;

/// How the daemon behaves, apart from where it listens.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Signs every POST (Meta App Dashboard > Settings > Basic > App Secret).
    pub app_secret: SecretString,
    /// The token typed into the dashboard for the GET handshake; without it every handshake fails.
    pub verify_token: Option<SecretString>,
    /// When set, `/metrics` answers only `Authorization: Bearer <token>` (its counters name tenants'
    /// traffic volumes and failure reasons); unset, it is open, for a scraper on a private network.
    pub metrics_token: Option<SecretString>,
    pub ingest: IngestConfig,
    pub body_limit: usize,
    /// Batches of events processed at the same time by the fast path (one database connection each).
    pub workers: usize,
    /// How often pending events are swept up.
    pub sweep_every: Duration,
    /// How long a request may take from its headers to our answer, its body included (408 after it).
    pub request_timeout: Duration,
    /// How long a connection may go without a complete request head (before its first byte, between
    /// requests, or while its headers trickle in) before it is closed.
    pub idle_timeout: Duration,
    /// Connections open at once; at the cap the longest-open idle one is closed to make room.
    pub max_connections: usize,
}

impl DaemonConfig {
    pub fn new(app_secret: SecretString) -> DaemonConfig {
        DaemonConfig {
            app_secret,
            verify_token: None,
            metrics_token: None,
            ingest: IngestConfig::default(),
            body_limit: DEFAULT_BODY_LIMIT,
            workers: 4,
            sweep_every: Duration::from_secs(5),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: default_max_connections(),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    config: DaemonConfig,
    /// Accepted bodies on their way to the raw log, each with the way to tell its request the outcome.
    bodies: mpsc::Sender<ToStore>,
    /// Wakes the sweeper when stored events did not fit in the workers' queue.
    sweep_now: Notify,
    metrics: PrometheusHandle,
}

/// An accepted body waiting for its commit.
struct ToStore {
    body: Bytes,
    stored: oneshot::Sender<Result<(), Refusal>>,
}

/// The receiving ends of the daemon's queues, consumed by [`serve`].
pub struct WorkQueue {
    bodies: mpsc::Receiver<ToStore>,
    /// Ids of freshly stored events for the workers. Never awaited on: when it is full, the sweeper
    /// is woken to take the events from the log, so a slow database cannot slow the acknowledgements
    /// down.
    events: (mpsc::Sender<i64>, mpsc::Receiver<i64>),
}

impl AppState {
    pub fn new(pool: PgPool, config: DaemonConfig) -> (AppState, WorkQueue) {
        let (bodies, bodies_rx) = mpsc::channel(4096);
        let inner = Inner { pool, config, bodies, sweep_now: Notify::new(), metrics: metrics_handle() };
        let queues = WorkQueue { bodies: bodies_rx, events: mpsc::channel(QUEUED_EVENTS) };
        (AppState { inner: Arc::new(inner) }, queues)
    }

    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }
}

/// One Prometheus recorder per process (tests start several apps in one binary).
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics will stay empty");
            }
            handle
        })
        .clone()
}

pub fn app(state: AppState) -> Router {
    let (limit, timeout) = (state.inner.config.body_limit, state.inner.config.request_timeout);
    Router::new()
        .route(WEBHOOK_PATH, get(verify).post(receive))
        .route("/", get(verify).post(receive))
        .route("/healthz", get(healthz))
        .route("/metrics", get(render_metrics))
        .layer(DefaultBodyLimit::max(limit))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(middleware::from_fn_with_state(timeout, explain_refusals))
        .with_state(state)
}

/// Gives every refusal that would go out without a body (axum's 404 and 405, the timeout's 408) a short
/// reason and what to do about it: whoever reads it (an operator with curl, Meta's dashboard, a log) is
/// left guessing otherwise. Refusals our handlers make carry their own reasons and pass unchanged.
async fn explain_refusals(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    // Cheap clones (a shared buffer), not a copy of the path on every webhook.
    let (method, uri) = (request.method().clone(), request.uri().clone());
    let response = next.run(request).await;
    let status = response.status();
    if status.is_success() || status.is_informational() || response.body().size_hint().exact() != Some(0) {
        return response;
    }
    let routes = format!(
        "{WEBHOOK_PATH} (or /) takes GET (the verification handshake) and POST (webhooks); /healthz and /metrics take GET"
    );
    let reason = match status {
        StatusCode::NOT_FOUND => format!("no such path {}: {routes}", uri.path()),
        StatusCode::METHOD_NOT_ALLOWED => format!("{method} is not allowed on {}: {routes}", uri.path()),
        StatusCode::REQUEST_TIMEOUT => format!(
            "the request was not complete within {:.1} s: send the headers and the whole body at once, then retry",
            timeout.as_secs_f64()
        ),
        other => format!("{}: the request was refused", other.canonical_reason().unwrap_or("refused")),
    };
    let outcome = refusal_outcome(status);
    metrics::counter!("wacrm_webhook_requests_total", "outcome" => outcome).increment(1);
    REFUSED.warn_kind(outcome, &format!("{} {method} {}: {reason}", status.as_u16(), uri.path()));
    let (mut parts, _) = response.into_parts();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(reason))
}

fn refusal_outcome(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        _ => "refused",
    }
}

/// A connection gets this long to send a request's headers, also before its first byte and between
/// requests (hyper's timer), and a request this long from its headers to our answer, its body included
/// (unless configured otherwise): Meta sends a webhook in well under a second, while a connection that
/// idles or trickles (or a stalled database) would otherwise hold a socket and its buffered body for ever.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// After a shutdown signal, how long requests in flight get to finish before their connections close.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Serves until `shutdown` resolves, then finishes the requests in flight and the events the workers
/// hold. Events still queued stay pending in the log for the next sweep (here or in another daemon).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    queue: WorkQueue,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let WorkQueue { bodies, events: (events, events_rx) } = queue;
    let bodies = Arc::new(tokio::sync::Mutex::new(bodies));
    let mut tasks: Vec<_> = (0..STORE_WRITERS)
        .map(|_| tokio::spawn(run_store_writer(state.clone(), bodies.clone(), events.clone(), stop_rx.clone())))
        .collect();
    tasks.push(tokio::spawn(run_workers(state.clone(), events_rx, stop_rx.clone())));
    tasks.push(tokio::spawn(run_sweeper(state.clone(), stop_rx)));
    // Only the writers may feed the workers, so the workers see the queue close once they are gone.
    drop(events);
    let config = &state.inner.config;
    let limits = ConnectionLimits {
        idle_timeout: config.idle_timeout,
        max_connections: config.max_connections.max(1),
        shutdown_grace: SHUTDOWN_GRACE,
    };
    serve_http(listener, app(state), limits, shutdown).await;
    // Every request has had its answer: nothing is waiting for a writer any more.
    let _ = stop_tx.send(true);
    for task in tasks {
        if let Err(e) = task.await {
            tracing::error!(error = %e, "background task ended abnormally");
        }
    }
}

/// Commits the bodies that arrived together in one statement, then answers their requests and queues
/// the new events for the workers.
async fn run_store_writer(
    state: AppState,
    bodies: Arc<tokio::sync::Mutex<mpsc::Receiver<ToStore>>>,
    events: mpsc::Sender<i64>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let mut batch = Vec::new();
        {
            let mut bodies = bodies.lock().await;
            let first = tokio::select! {
                first = bodies.recv() => first,
                _ = stop.changed() => None,
            };
            let Some(first) = first else { break };
            batch.push(first);
            while batch.len() < STORE_BATCH
                && let Ok(next) = bodies.try_recv()
            {
                batch.push(next);
            }
        }
        let raw: Vec<&[u8]> = batch.iter().map(|b| b.body.as_ref()).collect();
        match ingest::store_raw_many(&state.inner.pool, &raw).await {
            Ok(ids) => {
                if ids.into_iter().any(|id| events.try_send(id).is_err()) {
                    tracing::debug!("work queue full; the sweeper takes the events from the log");
                    state.inner.sweep_now.notify_one();
                }
                batch.into_iter().for_each(|b| {
                    let _ = b.stored.send(Ok(()));
                });
            }
            Err(e) => {
                FAILED.error(&format!("cannot store {} webhooks, answered 503 so Meta retries: {e}", batch.len()));
                let (status, reason) = public_reason(&e);
                let refusal: Refusal = ("unavailable", status, reason);
                batch.into_iter().for_each(|b| {
                    let _ = b.stored.send(Err(refusal.clone()));
                });
            }
        }
    }
}

async fn run_workers(state: AppState, mut queue: mpsc::Receiver<i64>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let permits = Arc::new(Semaphore::new(state.inner.config.workers.max(1)));
    let mut running = JoinSet::new();
    loop {
        // A free worker first, then the events: while every worker is busy the acks pile up in the
        // queue, and the next free one takes them all as one batch (one transaction, one commit).
        let Ok(permit) = permits.clone().acquire_owned().await else { break };
        let first = tokio::select! {
            id = queue.recv() => id,
            _ = stop.changed() => None,
        };
        let Some(first) = first else { break };
        let mut ids = vec![first];
        let gathered_by = tokio::time::Instant::now() + BATCH_WAIT;
        while ids.len() < ingest::BATCH {
            match tokio::time::timeout_at(gathered_by, queue.recv()).await {
                Ok(Some(id)) => ids.push(id),
                Ok(None) | Err(_) => break,
            }
        }
        let state = state.clone();
        running.spawn(async move {
            let _permit = permit;
            match ingest::process_events(&state.inner.pool, &state.inner.config.ingest, &ids).await {
                Ok(done) => done.iter().for_each(record_processed),
                Err(e) => FAILED.warn_kind("process", &format!("processing events {ids:?} failed: {e}")),
            }
        });
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
}

async fn run_sweeper(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(state.inner.config.sweep_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = state.inner.sweep_now.notified() => {}
            _ = stop.changed() => break,
        }
        // Until a round finds nothing left: a backlog (after a restart, or a burst the workers' queue
        // could not take) drains at full speed instead of a round per tick.
        while sweep(&state).await > 0 && !*stop.borrow() {}
        if let Ok(pending) = ingest::pending_count(&state.inner.pool).await {
            metrics::gauge!("wacrm_webhook_pending_events").set(pending as f64);
        }
    }
}

/// One round of sweeps, as many as fast-path workers (SKIP LOCKED keeps them, and other daemons, off
/// each other's events); how many events it settled.
async fn sweep(state: &AppState) -> usize {
    let mut sweeps = JoinSet::new();
    for _ in 0..state.inner.config.workers.max(1) {
        let state = state.clone();
        sweeps.spawn(async move {
            ingest::process_pending(&state.inner.pool, &state.inner.config.ingest, SWEEP_BATCH).await
        });
    }
    let mut processed = 0;
    while let Some(sweep) = sweeps.join_next().await {
        match sweep {
            Ok(Ok(done)) => {
                // Events an outage left pending wait for the next tick, not the next round.
                processed += done.iter().filter(|e| e.outcome != Outcome::Pending).count();
                done.iter().for_each(record_processed);
            }
            Ok(Err(e)) => FAILED.warn_kind("sweep", &format!("sweep of pending webhook events failed: {e}")),
            Err(e) => tracing::error!(error = %e, "sweep task ended abnormally"),
        }
    }
    processed
}

fn record_processed(done: &ProcessedEvent) {
    metrics::counter!("wacrm_webhook_events_processed_total", "outcome" => done.outcome.as_str()).increment(1);
    metrics::counter!("wacrm_webhook_messages_stored_total").increment(u64::from(done.summary.messages_stored));
    metrics::counter!("wacrm_webhook_duplicates_total").increment(u64::from(done.summary.duplicates));
    metrics::counter!("wacrm_webhook_statuses_applied_total").increment(u64::from(done.summary.statuses_applied));
    if done.outcome != Outcome::Pending {
        let lag = (chrono::Utc::now() - done.received_at).to_std().unwrap_or_default();
        metrics::histogram!("wacrm_webhook_processing_lag_seconds").record(lag.as_secs_f64());
    }
    tracing::debug!(event = done.id, outcome = done.outcome.as_str(), summary = ?done.summary, "event processed");
}

/// GET handshake: echo `hub.challenge` when the mode is `subscribe` and the token is ours.
async fn verify(
    State(state): State<AppState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        metrics::counter!("wacrm_webhook_requests_total", "outcome" => "verify_bad_query").increment(1);
        return (
            StatusCode::BAD_REQUEST,
            "the query string cannot be read: send hub.mode, hub.verify_token and hub.challenge URL-encoded",
        )
            .into_response();
    };
    let expected = state.inner.config.verify_token.as_ref();
    let mode = query.get("hub.mode").map(String::as_str);
    let token = query.get("hub.verify_token");
    match (mode, token, expected, query.get("hub.challenge")) {
        (Some("subscribe"), Some(token), Some(expected), Some(challenge))
            if !expected.expose_secret().is_empty() && same_secret(token, expected) =>
        {
            metrics::counter!("wacrm_webhook_requests_total", "outcome" => "verified").increment(1);
            tracing::info!("webhook verification handshake accepted");
            (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], challenge.clone()).into_response()
        }
        _ => {
            metrics::counter!("wacrm_webhook_requests_total", "outcome" => "verify_forbidden").increment(1);
            tracing::warn!("webhook verification handshake refused (wrong mode or verify token)");
            (StatusCode::FORBIDDEN, "verification failed: hub.mode must be subscribe and hub.verify_token must match")
                .into_response()
        }
    }
}

/// POST: size, signature and shape checks, then commit, then 200. Nothing about the contents (unknown
/// numbers, odd items) is an error here: Meta would retry it for days.
async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let started = Instant::now();
    let response = match accept(&state, &headers, body).await {
        Ok(()) => reply("accepted", StatusCode::OK, "EVENT_RECEIVED".to_string()),
        Err((outcome, status, message)) => reply(outcome, status, message),
    };
    metrics::histogram!("wacrm_webhook_ack_seconds").record(started.elapsed().as_secs_f64());
    response
}

type Refusal = (&'static str, StatusCode, String);

async fn accept(state: &AppState, headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<(), Refusal> {
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "too_large",
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the body is larger than {} bytes, the most a webhook may be: Meta's are far smaller, so this is \
                 not one; post the body Meta sent",
                state.inner.config.body_limit
            ),
        ),
        status => (
            "bad_body",
            status,
            format!("the request body could not be read ({}): send the whole body, then retry", rejection.body_text()),
        ),
    })?;
    let bad_signature = |e: signature::SignatureError| ("bad_signature", StatusCode::UNAUTHORIZED, e.to_string());
    let header = signature::single_header(headers.get_all("x-hub-signature-256").iter().map(HeaderValue::as_bytes))
        .map_err(bad_signature)?;
    signature::verify(state.inner.config.app_secret.expose_secret().as_bytes(), &body, header)
        .map_err(bad_signature)?;
    webhook::check(&body).map_err(|e| ("bad_json", error_status(&e), e.to_string()))?;
    let (stored, outcome) = oneshot::channel();
    let shutting_down = || ("unavailable", StatusCode::SERVICE_UNAVAILABLE, "shutting down, retry later".to_string());
    state.inner.bodies.send(ToStore { body, stored }).await.map_err(|_| shutting_down())?;
    outcome.await.map_err(|_| shutting_down())?
}

fn reply(outcome: &'static str, status: StatusCode, message: String) -> Response {
    metrics::counter!("wacrm_webhook_requests_total", "outcome" => outcome).increment(1);
    if status != StatusCode::OK {
        REFUSED.warn_kind(outcome, &format!("{}: {message}", status.as_u16()));
    }
    (status, message).into_response()
}

/// The one place core errors become status codes. Only bad input is the sender's fault; everything
/// else is ours and temporary from Meta's point of view (503: it retries).
pub fn error_status(error: &Error) -> StatusCode {
    match error {
        Error::Invalid { .. } => StatusCode::BAD_REQUEST,
        Error::NotFound { .. } => StatusCode::NOT_FOUND,
        Error::Forbidden { .. } => StatusCode::FORBIDDEN,
        Error::Conflict { .. } => StatusCode::CONFLICT,
        Error::LimitReached { .. } => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The status and the reason a client is told: its own mistakes in full, ours (503) without detail.
fn public_reason(error: &Error) -> (StatusCode, String) {
    match error_status(error) {
        StatusCode::SERVICE_UNAVAILABLE => (StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE.to_string()),
        status => (status, error.to_string()),
    }
}

async fn healthz(State(state): State<AppState>) -> Response {
    match ingest::pending_count(&state.inner.pool).await {
        Ok(pending) => {
            (StatusCode::OK, axum::Json(serde_json::json!({"status": "ok", "pending_events": pending}))).into_response()
        }
        Err(e) => {
            FAILED.warn_kind("healthz", &format!("health check: {e}"));
            let (status, reason) = public_reason(&e);
            (status, axum::Json(serde_json::json!({"status": "unavailable", "error": reason}))).into_response()
        }
    }
}

async fn render_metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.inner.config.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim);
        if !given.is_some_and(|given| same_secret(given, token)) {
            metrics::counter!("wacrm_webhook_requests_total", "outcome" => "metrics_unauthorized").increment(1);
            let reason = if given.is_some() {
                "the bearer token is not the metrics token: use the metrics_token setting (WACRM_METRICS_TOKEN)"
            } else {
                "GET /metrics needs Authorization: Bearer <token>, the metrics_token setting (WACRM_METRICS_TOKEN)"
            };
            return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\"")], reason)
                .into_response();
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.inner.metrics.render()).into_response()
}

/// Whether a secret given by a client is ours, in time that depends on the lengths only, not on how
/// much of a guess matched (the verify token and the metrics token).
fn same_secret(given: &str, expected: &SecretString) -> bool {
    given.as_bytes().ct_eq(expected.expose_secret().as_bytes()).into()
}
