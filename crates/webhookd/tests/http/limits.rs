//! What a hostile client cannot do: hold the daemon's connections or descriptors with sockets that
//! send nothing, or get a body acknowledged that processing cannot parse.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sqlx::PgPool;
use tokio::io::AsyncReadExt;
use wacrm_core::whatsapp::signature;

use crate::{Daemon, SECRET, fixture, stored_events};

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_body_nested_ten_thousand_levels_is_refused_at_the_door(pool: PgPool) {
    let daemon = Daemon::start(pool.clone()).await;
    let body = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{}{}}}]}}]}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let (status, reason) = daemon.post_signed(body.as_bytes()).await;
    assert_eq!(status, 400);
    assert!(reason.contains("nests 10005 levels deep"), "{reason}");
    assert_eq!(stored_events(&pool).await, 0, "nothing acknowledged, nothing to fail later");
    daemon.stop().await;
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn a_connection_that_never_sends_a_byte_is_closed(pool: PgPool) {
    let daemon = Daemon::start_with(pool.clone(), |c| c.idle_timeout = Duration::from_millis(300)).await;
    let mut silent = tokio::net::TcpStream::connect(daemon.base.trim_start_matches("http://")).await.unwrap();
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(10), silent.read(&mut buffer)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "still open 10 s after a 300 ms idle timeout: {read:?}");
    assert_eq!(daemon.post_signed(&fixture("text.json")).await.0, 200);
    daemon.stop().await;
}

/// The daemon binary with at most `descriptors` open files, on `database_url`; its listening address.
fn spawn_daemon(database_url: &str, descriptors: u32) -> (Child, String) {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {descriptors} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_wacrm-webhookd"))
        .args(["--listen", "127.0.0.1:0", "--app-secret", SECRET, "--database-url", database_url])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (found, address) = std::sync::mpsc::channel();
    // Reads its log to the end, so that a full pipe never blocks the daemon.
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if let Some(at) = line.find(r#""address":""#) {
                let _ = found.send(line[at + 11..].split('"').next().unwrap_or_default().to_string());
            }
        }
    });
    let address = address.recv_timeout(Duration::from_secs(30)).expect("the daemon did not say where it listens");
    (child, address)
}

/// The URL of the test's own database (same server as DATABASE_URL).
async fn url_of(pool: &PgPool) -> String {
    let name: String = sqlx::query_scalar("SELECT current_database()").fetch_one(pool).await.unwrap();
    let server = std::env::var("DATABASE_URL").unwrap();
    let (base, query) = server.split_once('?').map_or((server.as_str(), None), |(b, q)| (b, Some(q)));
    let (host, _) = base.rsplit_once('/').unwrap();
    match query {
        Some(query) => format!("{host}/{name}?{query}"),
        None => format!("{host}/{name}"),
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[sqlx::test(migrator = "wacrm_core::db::MIGRATOR")]
async fn more_silent_sockets_than_the_daemon_has_descriptors_do_not_keep_a_webhook_out(pool: PgPool) {
    const DESCRIPTORS: u32 = 160;
    let (child, address) = spawn_daemon(&url_of(&pool).await, DESCRIPTORS);
    let _daemon = Killed(child);
    // Twice the daemon's descriptor limit in sockets that connect and say nothing; its idle timeout
    // (10 s) does not run out during the test, so only the connection cap keeps it serving.
    let mut silent = Vec::new();
    for _ in 0..2 * DESCRIPTORS {
        silent.push(tokio::net::TcpStream::connect(&address).await.unwrap());
    }
    let body = fixture("text.json");
    let request = reqwest::Client::new()
        .post(format!("http://{address}/webhook"))
        .header("X-Hub-Signature-256", signature::sign(SECRET.as_bytes(), &body))
        .body(body)
        .timeout(Duration::from_secs(8));
    let response = request.send().await.expect("the signed webhook got no answer");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(stored_events(&pool).await, 1);
    // The sockets made room for were closed, not left to pile up.
    let mut closed = 0;
    for socket in &mut silent {
        let mut buffer = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(Duration::from_millis(5), socket.read(&mut buffer)).await {
            closed += 1;
        }
    }
    assert!(closed >= silent.len() - DESCRIPTORS as usize, "only {closed} of {} closed", silent.len());
}
