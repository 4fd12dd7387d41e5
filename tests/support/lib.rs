//! Support for the end-to-end suite: the real binaries, a fresh database per test on the server named
//! by `DATABASE_URL` (as `scripts/test` sets it up), and the `wacrm` command driven as a user would.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Builds the workspace binaries once per test run (the suite lives in its own package, so cargo does not
/// build them for it) and returns the path of `name`.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--bin", "wacrm", "--bin", "wacrm-webhookd"])
            // DATABASE_URL names the test server; the query macros must check against the development
            // database (.env) or the offline cache instead.
            .env_remove("DATABASE_URL")
            .current_dir(workspace_root())
            .status()
            .expect("running cargo build for the end-to-end binaries");
        assert!(status.success(), "cargo build of the binaries failed");
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"));
        target.join("debug")
    });
    dir.join(name)
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the workspace root").to_path_buf()
}

/// A database of its own, dropped when the test ends.
pub struct TestDb {
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestDb {
    pub async fn new() -> Result<TestDb> {
        let admin_url = std::env::var("DATABASE_URL")
            .context("DATABASE_URL is not set: run the suite with scripts/test, which starts a private PostgreSQL")?;
        let name = format!("e2e_{}", std::process::id()) + &format!("_{}", rand_suffix());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).execute(&mut conn).await?;
        let url = with_database(&admin_url, &name);
        Ok(TestDb { url, admin_url, name })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs outside any runtime guarantee, so a small runtime of its own does the cleanup.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url).await.ok()?;
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{}_{}", NEXT.fetch_add(1, Ordering::Relaxed), nanos)
}

/// Replaces the database name in a PostgreSQL URL, keeping its query (e.g. `?host=/socket/dir`).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let prefix_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[prefix_end..].find('/').map(|i| i + prefix_end).unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..path_start], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A config directory of the test's own (`wacrm login` keeps its session file there, `wacrm demo` its
/// default business); removed at the end.
pub struct ConfigDir(pub std::path::PathBuf);

impl ConfigDir {
    pub fn new() -> ConfigDir {
        let dir = std::env::temp_dir().join(format!("wacrm-e2e-config-{}-{}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&dir).expect("creating the test's config dir");
        ConfigDir(dir)
    }

    pub fn config(&self) -> String {
        self.0.join("config.toml").display().to_string()
    }
}

impl Default for ConfigDir {
    fn default() -> ConfigDir {
        ConfigDir::new()
    }
}

impl Drop for ConfigDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a `wacrm` run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Result<Value> {
        serde_json::from_str(&self.stdout)
            .with_context(|| format!("stdout is not JSON: {}\nstderr: {}", self.stdout, self.stderr))
    }

    pub fn ok(self) -> Result<Run> {
        if self.code != 0 {
            bail!("exit code {}\nstdout: {}\nstderr: {}", self.code, self.stdout, self.stderr);
        }
        Ok(self)
    }
}

/// Runs `wacrm` against `db` with a clean environment (no user config, no inherited business).
pub fn wacrm(db: &TestDb, args: &[&str]) -> Run {
    wacrm_with_env(db, args, &[])
}

pub fn wacrm_with_env(db: &TestDb, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(binary("wacrm"));
    if !args.contains(&"--database-url") {
        command.args(["--database-url", &db.url]);
    }
    // A config dir of this call's own unless the caller names one: a command that writes its config
    // (the demo saves its default business) must not leak into the next test's.
    let scratch = ConfigDir::new();
    command
        .args(args)
        .env_remove("WACRM_BUSINESS")
        .env_remove("DATABASE_URL")
        .env("WACRM_CONFIG", scratch.config())
        .env("NO_COLOR", "1");
    for (k, v) in env {
        command.env(k, v);
    }
    let Output { status, stdout, stderr } = command.output().expect("running wacrm");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// A running `wacrm-webhookd`, killed when dropped.
pub struct Webhookd {
    pub base_url: String,
    child: std::process::Child,
}

impl Webhookd {
    /// Starts the daemon on a free loopback port against `db` and waits until `/healthz` answers.
    pub async fn start(db: &TestDb, app_secret: &str) -> Result<Webhookd> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        Webhookd::start_on(db, app_secret, port, &[]).await
    }

    /// Starts the daemon on `port` with the extra environment `env` (settings such as
    /// `WACRM_BROADCAST_RATE`), e.g. again on the port of one that was killed.
    pub async fn start_on(db: &TestDb, app_secret: &str, port: u16, env: &[(&str, &str)]) -> Result<Webhookd> {
        let child = Command::new(binary("wacrm-webhookd"))
            .args(["--listen", &format!("127.0.0.1:{port}"), "--database-url", &db.url, "--sweep-secs", "1"])
            .env("WACRM_APP_SECRET", app_secret)
            .env("WACRM_CONFIG", "/nonexistent/wacrm-e2e-config.toml")
            .env_remove("DATABASE_URL")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let daemon = Webhookd { base_url: format!("http://127.0.0.1:{port}"), child };
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if let Ok(r) = client.get(format!("{}/healthz", daemon.base_url)).send().await
                && r.status().is_success()
            {
                return Ok(daemon);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        bail!("wacrm-webhookd did not become healthy on port {port}")
    }

    /// POSTs `body` to the webhook URL signed with `app_secret`, as Meta does; returns the status code.
    pub async fn post_signed(&self, body: &str, app_secret: &str) -> Result<u16> {
        post_signed(&reqwest::Client::new(), &self.base_url, body, app_secret).await
    }
}

/// POSTs `body` to the webhook URL of the daemon at `base_url`, signed with `app_secret`; the status code.
pub async fn post_signed(client: &reqwest::Client, base_url: &str, body: &str, app_secret: &str) -> Result<u16> {
    let response = client
        .post(format!("{base_url}/webhook"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", wacrm_core::whatsapp::signature::sign(app_secret.as_bytes(), body.as_bytes()))
        .body(body.to_string())
        .send()
        .await?;
    Ok(response.status().as_u16())
}

impl Drop for Webhookd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Retries `check` every 50 ms until it returns `Some`, for at most `timeout`.
pub async fn eventually<T>(timeout: std::time::Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A business ("Shop", owner@shop.test) with a number at the fake Graph API (phone_number_id
/// 106540352242922, WABA 102290129340398); the `--business` flag for it.
pub fn shop(db: &TestDb, fake: &wacrm_core::whatsapp::fake::FakeGraph) -> Result<[&'static str; 2]> {
    wacrm(db, &["business", "create", "--name", "Shop", "--email", "owner@shop.test"]).ok()?;
    let b = ["--business", "owner@shop.test"];
    let account = [
        "accounts",
        "add",
        "--phone",
        "+14155550100",
        "--phone-number-id",
        "106540352242922",
        "--waba-id",
        "102290129340398",
        "--token",
        "secret-token",
        "--api-base-url",
        fake.base_url(),
    ];
    wacrm(db, &[&b[..], &account].concat()).ok()?;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_names_are_replaced_and_queries_kept() {
        assert_eq!(with_database("postgres://u@h:5432/postgres", "x"), "postgres://u@h:5432/x");
        assert_eq!(with_database("postgres://u@localhost/db?host=/tmp/s", "x"), "postgres://u@localhost/x?host=/tmp/s");
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
