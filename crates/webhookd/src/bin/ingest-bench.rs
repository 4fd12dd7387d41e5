//! ingest-bench: load generator for wacrm-webhookd (run on demand; `scripts/bench-ingest` drives it).
//!
//! Sends signed single-message POSTs over loopback, first closed-loop at rising concurrency (sustained
//! messages/s and ack latency), then open-loop at a fixed rate (ack latency at that rate). Then waits
//! for the daemon to process everything and counts the stored rows: every acknowledged message must be
//! there exactly once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::sync::Mutex;
use wacrm_core::auth::Scope;
use wacrm_core::business::{self, NewAccount};
use wacrm_core::db::Pool as PgPool;
use wacrm_core::inbox::ingest;
use wacrm_core::whatsapp::signature;

#[derive(Debug, Parser)]
#[command(name = "ingest-bench")]
struct Args {
    /// The daemon's webhook URL.
    #[arg(long, default_value = "http://127.0.0.1:8787/webhook")]
    url: String,
    /// The app secret the daemon verifies with.
    #[arg(long, env = "WACRM_APP_SECRET", hide_env_values = true)]
    app_secret: String,
    /// The database the daemon writes to (rows are counted there afterwards).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// The receiving number's phone_number_id; without it a fresh business and number are created.
    #[arg(long)]
    phone_number_id: Option<String>,
    /// Closed-loop concurrency levels, one measurement each; 0 is skipped (`--concurrency 0`: only the
    /// fixed rate).
    #[arg(long, value_delimiter = ',', default_value = "1,8,32,64,128,256")]
    concurrency: Vec<usize>,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Open-loop rate (messages/s) for the fixed-rate latency measurement; 0 skips it.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Distinct customers the messages come from.
    #[arg(long, default_value_t = 5000)]
    customers: u64,
}

struct Load {
    connections: Connections,
    secret: Vec<u8>,
    phone_number_id: String,
    run: String,
    customers: u64,
    next: AtomicU64,
    acked: AtomicU64,
    refused: AtomicU64,
}

/// Keep-alive HTTP/1.1 connections to the daemon, each used by one request at a time. A bare hyper
/// connection, not reqwest's pooled client: the generator shares the daemon's two cores, and every
/// microsecond it spends per request is taken from the daemon being measured.
struct Connections {
    address: String,
    uri: hyper::Uri,
    idle: std::sync::Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

impl Connections {
    fn new(url: &str) -> Result<Connections> {
        let uri: hyper::Uri = url.parse().with_context(|| format!("--url {url}"))?;
        let authority = uri.authority().with_context(|| format!("--url {url} has no host"))?;
        let address = format!("{}:{}", authority.host(), authority.port_u16().unwrap_or(80));
        Ok(Connections { address, uri, idle: std::sync::Mutex::new(Vec::new()) })
    }

    async fn take(&self) -> Result<SendRequest<Full<Bytes>>> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        if let Some(connection) = idle.filter(|c| !c.is_closed()) {
            return Ok(connection);
        }
        let stream = tokio::net::TcpStream::connect(&self.address).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(sender)
    }

    fn give_back(&self, connection: SendRequest<Full<Bytes>>) {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(connection);
    }

    /// POSTs one signed body; whether the daemon answered 2xx.
    async fn post(&self, body: Vec<u8>, signature: String) -> Result<bool> {
        let mut connection = self.take().await?;
        connection.ready().await?;
        let request = hyper::Request::post(self.uri.clone())
            .header(hyper::header::HOST, self.uri.authority().map(|a| a.as_str()).unwrap_or("localhost"))
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header("X-Hub-Signature-256", signature)
            .body(Full::new(Bytes::from(body)))?;
        let response = connection.send_request(request).await?;
        let success = response.status().is_success();
        response.into_body().collect().await?;
        self.give_back(connection);
        Ok(success)
    }
}

impl Load {
    /// One message from one of `customers` customers, with a wamid unique to this run (the shape of
    /// Meta's text message webhook; the run id and numbers are digits, so nothing needs escaping).
    fn body(&self, n: u64) -> Vec<u8> {
        let wa_id = 15_550_000_000 + n % self.customers;
        let now = chrono::Utc::now().timestamp();
        let (number, run) = (&self.phone_number_id, &self.run);
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"0","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"14155550000","phone_number_id":"{number}"}},"contacts":[{{"profile":{{"name":"Customer {wa_id}"}},"wa_id":"{wa_id}"}}],"messages":[{{"from":"{wa_id}","id":"wamid.BENCH.{run}.{n}","timestamp":"{now}","type":"text","text":{{"body":"Is it in stock?"}}}}]}}}}]}}]}}"#
        )
        .into_bytes()
    }

    /// Sends one message; the ack latency if it was acknowledged.
    async fn send_one(&self) -> Option<Duration> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let body = self.body(n);
        let signature = signature::sign(&self.secret, &body);
        let started = Instant::now();
        match self.connections.post(body, signature).await {
            Ok(true) => {
                self.acked.fetch_add(1, Ordering::Relaxed);
                Some(started.elapsed())
            }
            _ => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

fn report(label: &str, elapsed: Duration, latencies: &mut [Duration]) {
    latencies.sort();
    println!(
        "{label:<22} {:>8} msgs  {:>9.0} msg/s  p50 {:>7.2} ms  p99 {:>7.2} ms",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(latencies, 0.50),
        percentile(latencies, 0.99)
    );
}

/// Waits until the daemon has processed everything acknowledged so far; how long that took.
async fn drained(pool: &PgPool) -> Result<Duration> {
    let started = Instant::now();
    while ingest::pending_count(pool).await? > 0 {
        if started.elapsed() > Duration::from_secs(600) {
            bail!("events still pending after 10 minutes");
        }
        // Not more often: counting a backlog of tens of thousands takes milliseconds of the same two
        // cores the daemon drains it with.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(started.elapsed())
}

/// Sends closed-loop for `seconds`, then waits for the backlog to drain: the acknowledgement rate, and
/// the end-to-end rate (acknowledged, stored, routed, billed and evented) that the daemon sustains.
async fn closed_loop(pool: &PgPool, load: Arc<Load>, concurrency: usize, seconds: u64) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (load, latencies) = (load.clone(), latencies.clone());
        tasks.spawn(async move {
            let mut mine = Vec::new();
            while Instant::now() < deadline {
                if let Some(latency) = load.send_one().await {
                    mine.push(latency);
                }
            }
            latencies.lock().await.extend(mine);
        });
    }
    while tasks.join_next().await.is_some() {}
    let sending = started.elapsed();
    let mut latencies = latencies.lock().await;
    // Before the drain, so that a daemon that does not keep up still shows its acknowledgement rate.
    report(&format!("concurrency {concurrency}"), sending, &mut latencies);
    let drain = drained(pool).await?;
    println!(
        "{:<22} {:>8} msgs  {:>9.0} msg/s  end to end (backlog drained {:.2} s after the last ack)",
        "",
        latencies.len(),
        latencies.len() as f64 / (sending + drain).as_secs_f64(),
        drain.as_secs_f64()
    );
    Ok(())
}

/// Sends at a fixed rate whatever the responses do; the ack latency at that rate, and whether
/// processing kept up (the backlog left when sending stops).
async fn open_loop(pool: &PgPool, load: Arc<Load>, rate: u64, seconds: u64) -> Result<()> {
    let total = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        tokio::time::sleep_until((started + interval.mul_f64(i as f64)).into()).await;
        let (load, latencies) = (load.clone(), latencies.clone());
        tasks.spawn(async move {
            if let Some(latency) = load.send_one().await {
                latencies.lock().await.push(latency);
            }
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let mut latencies = latencies.lock().await;
    report(&format!("fixed {rate} msg/s"), started.elapsed(), &mut latencies);
    println!("{:<22} backlog drained {:.2} s after the last ack", "", drained(pool).await?.as_secs_f64());
    Ok(())
}

async fn bench_number(pool: &PgPool, run: &str) -> Result<String> {
    let (b, _) = business::create(pool, &format!("Bench {run}"), &format!("bench-{run}@example.invalid"), "US").await?;
    let scope = Scope::for_business(pool, b.id).await?;
    let phone_number_id = format!("9{}", &run[..run.len().min(14)]);
    let suffix = 2000 + (run.bytes().map(u64::from).sum::<u64>() % 7000);
    business::add_account(
        pool,
        &scope,
        &NewAccount {
            phone: format!("+1415555{suffix:04}"),
            phone_number_id: phone_number_id.clone(),
            token: "bench".into(),
            ..Default::default()
        },
    )
    .await?;
    Ok(phone_number_id)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let pool = wacrm_core::db::connect_url(&args.database_url).await?;
    let run = chrono::Utc::now().format("%H%M%S%3f").to_string();
    let phone_number_id = match args.phone_number_id {
        Some(id) => id,
        None => bench_number(&pool, &run).await.context("creating the bench business and number")?,
    };
    let load = Arc::new(Load {
        connections: Connections::new(&args.url)?,
        secret: args.app_secret.into_bytes(),
        phone_number_id,
        run: run.clone(),
        customers: args.customers.max(1),
        next: AtomicU64::new(0),
        acked: AtomicU64::new(0),
        refused: AtomicU64::new(0),
    });
    // Where this run's events start in the raw log; what they stored is read from there afterwards.
    let first_event = ingest::progress_since(&pool, 0).await?.last_event_id;
    println!("run {run}: number {}, {} customers", load.phone_number_id, load.customers);
    for &c in args.concurrency.iter().filter(|&&c| c > 0) {
        closed_loop(&pool, load.clone(), c, args.seconds).await?;
    }
    if args.rate > 0 {
        open_loop(&pool, load.clone(), args.rate, args.seconds).await?;
    }

    drained(&pool).await?;
    let acked = load.acked.load(Ordering::Relaxed);
    let progress = ingest::progress_since(&pool, first_event).await?;
    let stored = progress.messages_stored;
    if progress.duplicates > 0 {
        bail!("{} duplicate deliveries in a run that sends each message once", progress.duplicates);
    }
    if let (Some(first), Some(last)) = (progress.first_received, progress.last_processed) {
        let secs = (last - first).num_milliseconds() as f64 / 1000.0;
        println!("whole run: {stored} messages from the first receipt to the last processing in {secs:.1} s");
    }
    println!("acknowledged {acked}, refused {}, stored {stored}", load.refused.load(Ordering::Relaxed));
    if stored != acked as i64 {
        bail!("LOST OR DUPLICATED: {acked} acknowledged but {stored} stored");
    }
    println!("nothing lost: every acknowledged message is stored exactly once");
    Ok(())
}
