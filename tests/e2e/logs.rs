//! The logs say what happened, not noise: a restart of the daemon on a migrated database logs no
//! `relation "_sqlx_migrations" already exists` line, and CLI calls on the embedded cluster close their
//! connections cleanly, so its server log has no "could not send data to client: Broken pipe".

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Result, bail};
use wacrm_e2e::{ConfigDir, TestDb, binary, wacrm_with_env};

/// Starts the daemon at the default log level, waits until it answers, stops it and returns its log.
async fn one_start(db: &TestDb) -> Result<String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let log = std::env::temp_dir().join(format!("wacrm-e2e-webhookd-{}-{port}.log", std::process::id()));
    let mut child = Command::new(binary("wacrm-webhookd"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--database-url", &db.url])
        .env("WACRM_APP_SECRET", "log-test-secret")
        .env("WACRM_CONFIG", "/nonexistent/wacrm-e2e-config.toml")
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .stdout(std::fs::File::create(&log)?)
        .stderr(Stdio::null())
        .spawn()?;
    let client = reqwest::Client::new();
    let mut healthy = false;
    for _ in 0..300 {
        if client.get(format!("http://127.0.0.1:{port}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log)?;
    let _ = std::fs::remove_file(&log);
    if !healthy {
        bail!("wacrm-webhookd did not become healthy:\n{text}");
    }
    Ok(text)
}

#[tokio::test]
async fn a_restart_logs_no_postgresql_notices() -> Result<()> {
    let db = TestDb::new().await?;
    let first = one_start(&db).await?;
    let again = one_start(&db).await?;
    assert!(again.lines().count() > 0, "the daemon logs its start");
    for log in [&first, &again] {
        assert!(!log.contains("_sqlx_migrations"), "{log}");
        assert!(!log.contains("already exists"), "{log}");
    }
    Ok(())
}

#[tokio::test]
async fn cli_calls_leave_no_broken_pipes_in_the_embedded_servers_log() -> Result<()> {
    let db = TestDb::new().await?;
    let dir = ConfigDir::new();
    let (config, data_dir) = (dir.config(), dir.0.join("cluster").display().to_string());
    let env = [("WACRM_CONFIG", config.as_str()), ("WACRM_DATA_DIR", data_dir.as_str())];
    // An empty --database-url selects the embedded cluster; the demo starts it and leaves a business.
    let calls: [&[&str]; 5] = [
        &["demo"],
        &["--json", "contacts", "list"],
        &["--json", "inbox", "list"],
        &["--json", "analytics"],
        &["--json", "billing", "status"],
    ];
    let mut ran = Vec::new();
    for args in calls {
        let args: Vec<&str> = ["--database-url", ""].iter().chain(args).copied().collect();
        ran.push(wacrm_with_env(&db, &args, &env));
    }
    let stopped = wacrm_with_env(&db, &["--database-url", "", "db", "stop"], &env);
    let log = std::fs::read_to_string(dir.0.join("cluster").join("server.log")).unwrap_or_default();
    for run in ran.into_iter().chain([stopped]) {
        run.ok()?;
    }
    assert!(log.contains("database system is ready to accept connections"), "the server logs its start:\n{log}");
    assert!(!log.contains("Broken pipe"), "{log}");
    assert!(!log.contains("unexpected EOF"), "{log}");
    Ok(())
}
