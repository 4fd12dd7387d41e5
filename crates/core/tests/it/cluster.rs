//! The embedded default cluster on the installed PostgreSQL: first use, reuse, restart after a crash, stop,
//! and concurrent first runs. Each test has its own cluster directory; as root the server runs as the
//! `postgres` account.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sqlx::Connection;
use wacrm_core::db::cluster::Cluster;

/// A cluster in a fresh directory, stopped and removed when the test ends, also when it fails.
struct Scratch {
    dir: PathBuf,
    cluster: Cluster,
}

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("wacrm-it-{name}-{}", std::process::id()));
        // A leftover from an interrupted run of the same pid would not be empty.
        let _ = fs::remove_dir_all(&dir);
        let cluster = Cluster::at(dir.clone()).expect("a valid cluster directory");
        Scratch { dir, cluster }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = self.cluster.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// One text value from `sql`, through sqlx.
fn fetch_text(url: &str, sql: &'static str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap_or_else(|e| panic!("connect to {url}: {e}"));
        sqlx::query_scalar::<_, String>(sql).fetch_one(&mut conn).await.expect("the query runs")
    })
}

fn execute(url: &str, sql: &'static str) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap_or_else(|e| panic!("connect to {url}: {e}"));
        sqlx::raw_sql(sql).execute(&mut conn).await.expect("the statements run");
    });
}

/// The same through psql, as `psql "$(wacrm db url)"` does.
fn psql_text(bin_dir: &Path, url: &str, sql: &str) -> String {
    let psql = Some(bin_dir.join("psql")).filter(|p| p.is_file()).unwrap_or_else(|| PathBuf::from("psql"));
    let output = Command::new(psql).args(["-X", "-tA", url, "-c", sql]).output().expect("psql runs");
    assert!(output.status.success(), "psql failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Whether any process still works in `data_dir` (a postmaster's children outlive it briefly).
fn processes_in(data_dir: &Path) -> bool {
    let Ok(data_dir) = fs::canonicalize(data_dir) else { return false };
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd == data_dir))
}

#[test]
fn first_use_initialises_starts_and_is_reused_then_stops() {
    let scratch = Scratch::new("lifecycle");
    let cluster = &scratch.cluster;

    let before = cluster.status().expect("status");
    assert!(!before.initialized && !before.running && before.pid.is_none());

    let url = cluster.ensure_running().expect("the cluster starts");
    assert_eq!(url, cluster.url());
    let status = cluster.status().expect("status");
    assert!(status.initialized && status.running, "{status:?}");
    let bin_dir = status.bin_dir.clone().expect("binaries were found");
    assert!(status.server_version.is_some());

    assert_eq!(fetch_text(&url, "SELECT current_user || '/' || current_database()"), "wacrm/wacrm");
    assert_eq!(fetch_text(&url, "SHOW listen_addresses"), "", "no TCP listener");
    assert_eq!(psql_text(&bin_dir, &url, "SELECT current_database()"), "wacrm");
    psql_text(&bin_dir, &url, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')");

    assert_eq!(cluster.ensure_running().expect("reuse"), url);
    assert_eq!(cluster.status().expect("status").pid, status.pid, "the running server is reused");

    cluster.stop().expect("stop");
    assert!(!cluster.status().expect("status").running);
    cluster.stop().expect("stopping a stopped cluster is a no-op");

    cluster.ensure_running().expect("restart");
    assert_eq!(fetch_text(&url, "SELECT v FROM kept"), "still here");
    cluster.stop().expect("stop");
}

#[test]
fn a_crashed_server_or_a_stale_pid_file_does_not_block_the_next_start() {
    let scratch = Scratch::new("crash");
    let cluster = &scratch.cluster;
    let url = cluster.ensure_running().expect("the cluster starts");
    execute(&url, "CREATE TABLE kept AS SELECT 'committed'::text AS v");

    let status = cluster.status().expect("status");
    let pid = status.pid.expect("a running server has a pid");
    let killed = Command::new("kill").args(["-KILL", &pid.to_string()]).status().expect("kill runs");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while processes_in(&status.data_dir) {
        assert!(Instant::now() < deadline, "the killed server's processes did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!cluster.status().expect("status").running);
    cluster.ensure_running().expect("start after a crash");
    assert_eq!(fetch_text(&url, "SELECT v FROM kept"), "committed", "crash recovery keeps committed data");
    cluster.stop().expect("stop");

    // After a reboot the pid in postmaster.pid often belongs to some unrelated live process: this one.
    let pid_file = status.data_dir.join("postmaster.pid");
    fs::write(&pid_file, format!("{}\n{}\n", std::process::id(), status.data_dir.display())).expect("write");
    assert!(!cluster.status().expect("status").running);
    cluster.ensure_running().expect("start despite a stale pid file");
    assert_eq!(fetch_text(&url, "SELECT v FROM kept"), "committed");
}

#[test]
fn concurrent_first_runs_share_one_cluster() {
    let scratch = Scratch::new("concurrent");
    let urls: Vec<String> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..2)
            .map(|_| {
                let dir = scratch.dir.clone();
                s.spawn(move || Cluster::at(dir).and_then(|c| c.ensure_running()))
            })
            .collect();
        runs.into_iter().map(|run| run.join().expect("no panic").expect("both runs get a server")).collect()
    });
    assert_eq!(urls[0], urls[1]);
    for url in &urls {
        assert_eq!(fetch_text(url, "SELECT current_database()::text"), "wacrm");
    }
}
