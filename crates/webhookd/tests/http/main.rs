//! wacrm-webhookd over real HTTP on a loopback port, against a fresh database per test.

use std::time::{Duration, Instant};

use secrecy::SecretString;
use sqlx::PgPool;
use tokio::sync::oneshot;
use wacrm_core::auth::Scope;
use wacrm_core::business::{self, NewAccount};
use wacrm_core::whatsapp::signature;
use wacrm_webhookd::{AppState, DaemonConfig};

mod limits;

const SECRET: &str = "test-app-secret";
const VERIFY_TOKEN: &str = "verify-me";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../core/tests/fixtures/webhooks/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

struct Daemon {
    base: String,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Daemon {
    async fn start(pool: PgPool) -> Daemon {
        Daemon::start_with(pool, |_| {}).await
    }

    async fn start_with(pool: PgPool, configure: impl FnOnce(&mut DaemonConfig)) -> Daemon {
        let mut config = DaemonConfig::new(SecretString::from(SECRET));
        config.verify_token = Some(SecretString::from(VERIFY_TOKEN));
        config.sweep_every = Duration::from_millis(200);
        configure(&mut config);
        let (state, queue) = AppState::new(pool, config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(wacrm_webhookd::serve(listener, state, queue, async {
            let _ = stopped.await;
        }));
        Daemon { base, client: reqwest::Client::new(), stop: Some(stop), task }
    }

    async fn post(&self, body: &[u8], signature: Option<String>) -> (u16, String) {
        let mut request = self.client.post(format!("{}/webhook", self.base)).body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header("X-Hub-Signature-256", signature);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn post_signed(&self, body: &[u8]) -> (u16, String) {
        self.post(body, Some(signature::sign(SECRET.as_bytes(), body))).await
    }

    async fn get(&self, path_and_query: &str) -> (u16, String) {
        let response = self.client.get(format!("{}{path_and_query}", self.base)).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), self.task).await.unwrap().unwrap();
    }
}

/// Status and body of a response.
async fn answer(request: reqwest::RequestBuilder) -> (u16, String) {
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Waits (at most 5 s) until `business` has `n` messages.
async fn wait_for_messages(pool: &PgPool, scope: &Scope, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE business_id = $1")
            .bind(scope.business().0)
            .fetch_one(pool)
            .await
            .unwrap();
        if stored == n {
            return;
        }
        assert!(Instant::now() < deadline, "{stored} messages after 5 s, not {n}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stored_events(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM webhook_events").fetch_one(pool).await.unwrap()
}

async fn connect_number(pool: &PgPool) -> Scope {
    let (b, _) = business::create(pool, "Acme", "a@example.com", "US").await.unwrap();
    let scope = Scope::for_business(pool, b.id).await.unwrap();
    let account = NewAccount {
        phone: "+14155552671".into(),
        phone_number_id: "106540352242922".into(),
        waba_id: Some("102290129340398".into()),
        token: "t".into(),
        ..Default::default()
    };
    business::add_account(pool, &scope, &account).await.unwrap();
    scope
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn handshake_echoes_the_challenge_only_for_our_token(pool: PgPool) {
    let daemon = Daemon::start(pool).await;
    let ok = daemon.get("/webhook?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444").await;
    assert_eq!(ok, (200, "1158201444".to_string()));
    let wrong = daemon.get("/webhook?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1").await;
    assert_eq!(wrong.0, 403);
    let no_mode = daemon.get("/webhook?hub.verify_token=verify-me&hub.challenge=1").await;
    assert_eq!(no_mode.0, 403);
    daemon.stop().await;
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_signed_post_is_committed_before_the_200_then_processed(pool: PgPool) {
    let scope = connect_number(&pool).await;
    let daemon = Daemon::start(pool.clone()).await;
    let body = fixture("text.json");
    assert_eq!(daemon.post_signed(&body).await.0, 200);
    let kept: Vec<u8> = sqlx::query_scalar("SELECT body FROM webhook_events").fetch_one(&pool).await.unwrap();
    assert_eq!(kept, body, "the raw bytes are in the log when the 200 arrives");

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE business_id = $1")
            .bind(scope.business().0)
            .fetch_one(&pool)
            .await
            .unwrap();
        if stored == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the message was not processed within 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Meta's retry of the same body: acknowledged, logged, stored nothing new.
    assert_eq!(daemon.post_signed(&body).await.0, 200);
    let metrics = daemon.get("/metrics").await;
    assert!(metrics.1.contains("wacrm_webhook_requests_total"), "{}", metrics.1);
    daemon.stop().await;
    let (messages, pending): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM webhook_events WHERE outcome = 'pending')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(messages, 1);
    // Whatever the workers had not finished stays pending for the next sweep; nothing is lost.
    assert!(pending <= 1);
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn missing_or_wrong_signatures_are_refused_with_401(pool: PgPool) {
    let daemon = Daemon::start(pool.clone()).await;
    let body = fixture("text.json");
    assert_eq!(daemon.post(&body, None).await.0, 401);
    assert_eq!(daemon.post(&body, Some(signature::sign(b"another secret", &body))).await.0, 401);
    assert_eq!(daemon.post(&body, Some("sha256=nothex".into())).await.0, 401);
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    assert_eq!(daemon.post(&tampered, Some(signature::sign(SECRET.as_bytes(), &body))).await.0, 401);
    assert_eq!(stored_events(&pool).await, 0);
    daemon.stop().await;
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn malformed_or_unexpected_json_is_a_400_with_a_reason(pool: PgPool) {
    let daemon = Daemon::start(pool.clone()).await;
    for body in
        [&b"{not json"[..], br#"{"object":"page","entry":[]}"#, br#"{"object":"whatsapp_business_account"}"#, b""]
    {
        let (status, reason) = daemon.post_signed(body).await;
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(body));
        assert!(reason.contains("object") || reason.contains("WhatsApp webhook"), "{reason}");
    }
    assert_eq!(stored_events(&pool).await, 0);
    // Unknown fields and fields we do not handle are fine.
    let odd = br#"{"object":"whatsapp_business_account","new":1,"entry":[{"id":"1","changes":[{"field":"security","value":{}}]}]}"#;
    assert_eq!(daemon.post_signed(odd).await.0, 200);
    daemon.stop().await;
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn an_oversized_body_is_a_413(pool: PgPool) {
    let daemon = Daemon::start(pool.clone()).await;
    let body = vec![b' '; wacrm_webhookd::DEFAULT_BODY_LIMIT + 1];
    let (status, reason) = daemon.post_signed(&body).await;
    assert_eq!(status, 413);
    assert!(reason.contains(&format!("larger than {} bytes", wacrm_webhookd::DEFAULT_BODY_LIMIT)), "{reason}");
    assert_eq!(stored_events(&pool).await, 0);
    daemon.stop().await;
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn without_a_database_nothing_is_acknowledged(pool: PgPool) {
    let daemon = Daemon::start(pool.clone()).await;
    assert_eq!(daemon.get("/healthz").await.0, 200);
    pool.close().await;
    // The reason is the same for every cause; the driver's detail goes to the log only.
    let unavailable = (503, wacrm_webhookd::UNAVAILABLE.to_string());
    assert_eq!(daemon.post_signed(&fixture("text.json")).await, unavailable);
    let (status, health) = daemon.get("/healthz").await;
    assert_eq!(status, 503);
    assert!(health.contains(wacrm_webhookd::UNAVAILABLE) && !health.contains("closed"), "{health}");
    daemon.stop().await;
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_client_that_never_finishes_its_headers_is_disconnected_and_does_not_hold_up_shutdown(pool: PgPool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let daemon = Daemon::start(pool.clone()).await;
    let address = daemon.base.trim_start_matches("http://").to_string();
    let mut trickle = tokio::net::TcpStream::connect(&address).await.unwrap();
    trickle.write_all(b"POST /webhook HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    // The header timeout (10 s) closes it: the read ends (0 bytes or a reset) instead of waiting on.
    let mut buffer = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(20), trickle.read(&mut buffer)).await;
    assert!(read.is_ok(), "the half-sent request was still open after 20 s");
    // Meanwhile and afterwards, real webhooks are served.
    assert_eq!(daemon.post_signed(&fixture("text.json")).await.0, 200);
    assert_eq!(stored_events(&pool).await, 1);
    daemon.stop().await;
}

/// A body that stops short of its Content-Length is answered 408 when the request timeout runs out, and
/// the answer says why and what to do; nothing is stored.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_request_whose_body_never_completes_gets_a_408_with_the_reason(pool: PgPool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let daemon = Daemon::start_with(pool.clone(), |c| c.request_timeout = Duration::from_millis(300)).await;
    let address = daemon.base.trim_start_matches("http://").to_string();
    let mut stalled = tokio::net::TcpStream::connect(&address).await.unwrap();
    stalled.write_all(b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"object\":").await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stalled.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "no answer 10 s after a 300 ms request timeout");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("not complete within 0.3 s") && answer.contains("whole body"), "{answer}");
    assert_eq!(stored_events(&pool).await, 0);
    daemon.stop().await;
}

/// A lone surrogate and `1e400` in fields we do not read: acknowledged and processed, not refused
/// (Meta would retry the body for days). A body that is not JSON is still a 400 with the reason.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn bad_values_in_unknown_fields_are_acknowledged_and_processed(pool: PgPool) {
    let scope = connect_number(&pool).await;
    let daemon = Daemon::start(pool.clone()).await;
    let body = fixture("odd_unknown_values.json");
    assert_eq!(daemon.post_signed(&body).await, (200, "EVENT_RECEIVED".to_string()));
    wait_for_messages(&pool, &scope, 1).await;
    let (status, reason) = daemon.post_signed(br#"{"object":"whatsapp_business_account","entry":[{"id":"1"#).await;
    assert_eq!(status, 400);
    assert!(reason.contains("not a WhatsApp webhook") && reason.contains("EOF"), "{reason}");
    assert_eq!(stored_events(&pool).await, 1);
    daemon.stop().await;
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn every_refusal_says_what_was_wrong(pool: PgPool) {
    let daemon = Daemon::start(pool.clone()).await;
    let url = |path: &str| format!("{}{path}", daemon.base);
    let (status, reason) = answer(daemon.client.get(url("/nowhere"))).await;
    assert_eq!(status, 404);
    assert!(reason.contains("no such path /nowhere") && reason.contains("/webhook"), "{reason}");
    let (status, reason) = answer(daemon.client.put(url("/webhook")).body("x")).await;
    assert_eq!(status, 405);
    assert!(reason.contains("PUT is not allowed on /webhook") && reason.contains("POST"), "{reason}");
    let (status, reason) = answer(daemon.client.post(url("/metrics"))).await;
    assert_eq!(status, 405);
    assert!(reason.contains("POST is not allowed on /metrics"), "{reason}");
    let (status, reason) = daemon.post(&fixture("text.json"), None).await;
    assert_eq!(status, 401);
    assert!(reason.contains("X-Hub-Signature-256 header is missing"), "{reason}");
    let (status, reason) = daemon.get("/webhook?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1").await;
    assert_eq!(status, 403);
    assert!(reason.contains("verify_token"), "{reason}");
    assert_eq!(stored_events(&pool).await, 0);
    daemon.stop().await;
}

/// Meta sends exactly one signature header: several that disagree are refused (which one the sender
/// meant would be a guess), the same one repeated is one signature.
#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn several_different_signature_headers_are_refused(pool: PgPool) {
    let daemon = Daemon::start(pool.clone()).await;
    let body = fixture("text.json");
    let good = signature::sign(SECRET.as_bytes(), &body);
    let bad = signature::sign(b"another secret", &body);
    for (first, second) in [(&good, &bad), (&bad, &good)] {
        let request = daemon
            .client
            .post(format!("{}/webhook", daemon.base))
            .header("X-Hub-Signature-256", first)
            .header("X-Hub-Signature-256", second)
            .body(body.clone());
        let (status, reason) = answer(request).await;
        assert_eq!(status, 401);
        assert!(reason.contains("several different X-Hub-Signature-256 headers"), "{reason}");
    }
    assert_eq!(stored_events(&pool).await, 0);
    let repeated = daemon
        .client
        .post(format!("{}/webhook", daemon.base))
        .header("X-Hub-Signature-256", &good)
        .header("X-Hub-Signature-256", &good)
        .body(body.clone());
    assert_eq!(answer(repeated).await.0, 200);
    assert_eq!(stored_events(&pool).await, 1);
    daemon.stop().await;
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn metrics_need_the_bearer_token_when_one_is_set(pool: PgPool) {
    let daemon =
        Daemon::start_with(pool.clone(), |config| config.metrics_token = Some(SecretString::from("scrape-me"))).await;
    let metrics = format!("{}/metrics", daemon.base);
    let response = daemon.client.get(&metrics).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert!(response.headers().get("www-authenticate").is_some());
    let reason = response.text().await.unwrap();
    assert!(reason.contains("Authorization: Bearer") && reason.contains("WACRM_METRICS_TOKEN"), "{reason}");
    assert!(!reason.contains("scrape-me"));
    for wrong in ["Bearer guess", "Bearer scrape-m", "Bearer scrape-me2", "Basic c2NyYXBlLW1l", "scrape-me"] {
        let (status, reason) = answer(daemon.client.get(&metrics).header("Authorization", wrong)).await;
        assert_eq!(status, 401, "{wrong}");
        assert!(!reason.contains("wacrm_webhook"), "{wrong}: {reason}");
    }
    // Something to report, then the scrape.
    daemon.get("/nowhere").await;
    let (status, text) = answer(daemon.client.get(&metrics).header("Authorization", "Bearer scrape-me")).await;
    assert_eq!(status, 200);
    assert!(text.contains("wacrm_webhook_requests_total"), "{text}");
    // The health probe stays open for load balancers.
    assert_eq!(daemon.get("/healthz").await.0, 200);
    daemon.stop().await;
}
