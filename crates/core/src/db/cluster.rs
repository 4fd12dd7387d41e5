//! The embedded default database: a private PostgreSQL cluster that wacrm initialises on first use and
//! starts on demand, listening on a Unix socket inside its own directory and nowhere else.
//!
//! Layout of the cluster directory:
//! - `data/`: the PostgreSQL data directory (only ever present complete: initdb runs in `data.init/`,
//!   which is renamed once configured, so a crash mid-init never leaves a half cluster behind);
//! - `run/`: the socket directory;
//! - `server.log`: the server's log;
//! - `cluster.lock`: held exclusively while initialising, starting or stopping, so concurrent first runs
//!   (two shells, two tests) never initdb or start twice.
//!
//! initdb and the server refuse to run as root, so when wacrm runs as root they run as the `postgres`
//! system account and the cluster lives where that account can reach it (`/var/lib/wacrm/postgres`).
//! Blocking code: async callers use `spawn_blocking`.

use std::env;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;

use crate::error::{Error, Result, input, op};

/// The superuser initdb creates, and the database wacrm uses.
const SUPERUSER: &str = "wacrm";
const DATABASE: &str = "wacrm";
/// Only names the socket file (`.s.PGSQL.5432`): the server listens on no TCP port, so it cannot clash
/// with another server's port.
const PORT: u16 = 5432;
/// The account that owns the server when wacrm runs as root.
const SERVER_ACCOUNT: &str = "postgres";
/// Where root's cluster lives: root's own data directory is not reachable by the `postgres` account.
const ROOT_DEFAULT_DIR: &str = "/var/lib/wacrm/postgres";
/// Distribution layout of versioned server binaries (Debian, Ubuntu).
const VERSIONED_BIN_ROOT: &str = "/usr/lib/postgresql";
/// Unix socket paths are limited to 107 bytes by `sockaddr_un`.
const MAX_SOCKET_PATH: usize = 107;
const LOCK_FILE: &str = "cluster.lock";
fn install_hint() -> String {
    format!(
        "install the PostgreSQL server: `apt-get install postgresql` (Debian/Ubuntu), `dnf install \
         postgresql-server` (Fedora), `brew install postgresql` (macOS); or configure a database URL ({} / \
         WACRM_DATABASE_URL)",
        input("database-url")
    )
}

/// What to percent-encode of the socket path in the URL query: all but unreserved characters and `/`,
/// so the usual path stays readable.
const SOCKET_PATH_ENCODE: &AsciiSet =
    &NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// wacrm's private PostgreSQL cluster in one directory.
#[derive(Debug, Clone)]
pub struct Cluster {
    dir: PathBuf,
    /// Set when running as root: the server runs as this account.
    server_account: Option<&'static str>,
}

/// What `wacrm db status` shows about the embedded cluster.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterStatus {
    pub data_dir: PathBuf,
    pub socket_dir: PathBuf,
    pub initialized: bool,
    pub running: bool,
    pub pid: Option<u32>,
    /// The version of the server binaries found, e.g. `15.20`; none when no binaries were found.
    pub server_version: Option<String>,
    pub bin_dir: Option<PathBuf>,
    /// The account the server runs as when wacrm runs as root.
    pub server_account: Option<String>,
}

impl Cluster {
    /// The cluster in `$WACRM_DATA_DIR` when set; else, for root, in `/var/lib/wacrm/postgres`; else in the
    /// user's data directory (`~/.local/share/wacrm/postgres` on Linux).
    pub fn at_default_location() -> Result<Cluster> {
        if let Some(dir) = env::var_os("WACRM_DATA_DIR").filter(|d| !d.is_empty()) {
            return Cluster::at(PathBuf::from(dir));
        }
        if running_as_root() {
            return Cluster::at(PathBuf::from(ROOT_DEFAULT_DIR));
        }
        let data_dir = dirs::data_dir().ok_or_else(|| {
            Error::unavailable(
                "cannot tell where this user's data directory is",
                "set WACRM_DATA_DIR to the directory for wacrm's database",
            )
        })?;
        Cluster::at(data_dir.join("wacrm").join("postgres"))
    }

    /// The cluster in `dir` (created on first start).
    pub fn at(dir: PathBuf) -> Result<Cluster> {
        let dir = std::path::absolute(&dir).map_err(|e| {
            unavailable(format!("cannot resolve the database directory {}", dir.display()), e, "set WACRM_DATA_DIR")
        })?;
        let Some(dir_str) = dir.to_str() else {
            return Err(Error::unavailable(
                format!("the database directory {} is not valid UTF-8", dir.display()),
                "set WACRM_DATA_DIR to a plain path",
            ));
        };
        // Checked before anything is created: the server would only fail at start with a cryptic message.
        let socket_len = dir_str.len() + format!("/run/.s.PGSQL.{PORT}").len();
        if socket_len > MAX_SOCKET_PATH {
            return Err(Error::unavailable(
                format!("the database directory {dir_str} is too long for a Unix socket path"),
                format!(
                    "set WACRM_DATA_DIR to a path of at most {} characters",
                    dir_str.len() + MAX_SOCKET_PATH - socket_len
                ),
            ));
        }
        Ok(Cluster { dir, server_account: running_as_root().then_some(SERVER_ACCOUNT) })
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn socket_dir(&self) -> PathBuf {
        self.dir.join("run")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// The connection URL, accepted by sqlx and by psql: `postgres://wacrm@localhost:5432/wacrm?host=/…/run`.
    pub fn url(&self) -> String {
        self.url_for(DATABASE)
    }

    fn url_for(&self, database: &str) -> String {
        let socket_dir = self.socket_dir();
        let socket_dir = utf8_percent_encode(socket_dir.to_str().unwrap_or_default(), SOCKET_PATH_ENCODE);
        format!("postgres://{SUPERUSER}@localhost:{PORT}/{database}?host={socket_dir}")
    }

    /// Starts the cluster if it is not running (initialising it on first use) and returns its URL.
    pub fn ensure_running(&self) -> Result<String> {
        self.start()?;
        Ok(self.url())
    }

    /// Where the cluster is and whether it runs. Starts nothing.
    pub fn status(&self) -> Result<ClusterStatus> {
        let bin_dir = find_bin_dir(self.cluster_major_version().as_deref());
        let server_version = bin_dir.as_deref().and_then(|dir| server_version(dir).ok());
        let pid = self.running_pid();
        Ok(ClusterStatus {
            data_dir: self.data_dir(),
            socket_dir: self.socket_dir(),
            initialized: self.is_initialized(),
            running: pid.is_some(),
            pid,
            server_version,
            bin_dir,
            server_account: self.server_account.map(str::to_string),
        })
    }

    /// Starts the server, initialising the cluster first if needed. A no-op when it already runs.
    pub fn start(&self) -> Result<()> {
        let _lock = self.lock()?;
        if self.running_pid().is_some() {
            return Ok(());
        }
        let bin_dir = self.bin_dir()?;
        self.check_server_account_can_write()?;
        if !self.is_initialized() {
            self.init(&bin_dir)?;
        }
        self.remove_stale_pid_file()?;
        tracing::info!(dir = %self.dir.display(), "starting the embedded PostgreSQL server");
        let started = self
            .server_command(&bin_dir.join("pg_ctl"))
            .args(["start", "-w", "-t", "60", "-s", "-D"])
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.log_file())
            .output();
        if let Err(e) = check(started, "pg_ctl start") {
            let log_tail = last_lines(&fs::read_to_string(self.log_file()).unwrap_or_default(), 5);
            return Err(Error::unavailable(
                format!("the embedded PostgreSQL server did not start: {e}\n{log_tail}"),
                format!(
                    "read {} for the cause; {} then {} retries",
                    self.log_file().display(),
                    op("db stop"),
                    op("db start")
                ),
            ));
        }
        self.create_database(&bin_dir)
    }

    /// Stops the server (fast shutdown: open sessions are rolled back). A no-op when it is not running.
    pub fn stop(&self) -> Result<()> {
        if !self.dir.exists() {
            return Ok(());
        }
        let _lock = self.lock()?;
        if self.running_pid().is_none() {
            return Ok(());
        }
        let bin_dir = self.bin_dir()?;
        let stopped = self
            .server_command(&bin_dir.join("pg_ctl"))
            .args(["stop", "-w", "-t", "60", "-s", "-m", "fast", "-D"])
            .arg(self.data_dir())
            .output();
        check(stopped, "pg_ctl stop").map_err(|e| {
            Error::unavailable(
                format!("the embedded PostgreSQL server did not stop: {e}"),
                format!("read {} for the cause", self.log_file().display()),
            )
        })?;
        Ok(())
    }

    /// The server binaries that can run this cluster.
    fn bin_dir(&self) -> Result<PathBuf> {
        let major = self.cluster_major_version();
        find_bin_dir(major.as_deref()).ok_or_else(|| match major {
            Some(major) => Error::unavailable(
                format!(
                    "{} holds a PostgreSQL {major} cluster, but no PostgreSQL {major} server is installed",
                    self.dir.display()
                ),
                format!("install it (`apt-get install postgresql-{major}` on Debian/Ubuntu)"),
            ),
            None => Error::unavailable(
                format!(
                    "no PostgreSQL server binaries (initdb, pg_ctl, postgres) on PATH or in \
                     {VERSIONED_BIN_ROOT}/*/bin"
                ),
                install_hint(),
            ),
        })
    }

    fn is_initialized(&self) -> bool {
        self.data_dir().join("PG_VERSION").is_file()
    }

    /// The major version that initialised the cluster: only binaries of that version can run it.
    fn cluster_major_version(&self) -> Option<String> {
        fs::read_to_string(self.data_dir().join("PG_VERSION")).ok().map(|v| v.trim().to_string())
    }

    /// The postmaster's pid when the server of this cluster is running. A `postmaster.pid` left by a crash
    /// names a dead process or, after a reboot, some unrelated one: only a process working in our data
    /// directory counts.
    fn running_pid(&self) -> Option<u32> {
        let pid = pid_in(&fs::read_to_string(self.data_dir().join("postmaster.pid")).ok()?)?;
        let cwd = fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
        let data_dir = fs::canonicalize(self.data_dir()).ok()?;
        (cwd == data_dir).then_some(pid)
    }

    /// Called when the server is not running. PostgreSQL itself ignores a `postmaster.pid` naming a dead
    /// process (and then makes sure no orphaned backend still uses the old shared memory), but refuses one
    /// naming any live process of its account (after a reboot the pid is often reused; a killed postmaster
    /// nobody reaps is a zombie) and one it cannot parse. Only those are removed here, with the socket's
    /// lock file, which follows the same rule.
    fn remove_stale_pid_file(&self) -> Result<()> {
        let pid_file = self.data_dir().join("postmaster.pid");
        let Ok(contents) = fs::read_to_string(&pid_file) else { return Ok(()) };
        if pid_in(&contents).is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            return Ok(());
        }
        tracing::warn!(file = %pid_file.display(), "removing a stale postmaster.pid left by a crashed server");
        let socket_lock = self.socket_dir().join(format!(".s.PGSQL.{PORT}.lock"));
        for file in [pid_file, socket_lock] {
            match fs::remove_file(&file) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(unavailable(
                        format!("cannot remove the stale {}", file.display()),
                        e,
                        "remove it by hand once no PostgreSQL server runs on this cluster",
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Creates the cluster directory (owned by the server account when root) and takes the cluster lock.
    fn lock(&self) -> Result<File> {
        // Never take over (chown, chmod) a directory with someone else's files in it. Only names we create
        // count as ours: a concurrent first run may be creating them right now.
        let foreign = |entry: io::Result<fs::DirEntry>| {
            entry.is_ok_and(|e| {
                !["run", "data", "data.init", "server.log", LOCK_FILE].contains(&&*e.file_name().to_string_lossy())
            })
        };
        if fs::read_dir(&self.dir).is_ok_and(|mut entries| entries.any(foreign)) {
            return Err(Error::unavailable(
                format!("{} is not empty and is not a wacrm database directory", self.dir.display()),
                "set WACRM_DATA_DIR to a new or empty directory",
            ));
        }
        let dir_hint = "check the permissions there, or set WACRM_DATA_DIR to another directory";
        fs::create_dir_all(self.socket_dir())
            .map_err(|e| unavailable(format!("cannot create {}", self.socket_dir().display()), e, dir_hint))?;
        for dir in [&self.dir, &self.socket_dir()] {
            // Private: the socket accepts any local user of the owning account without a password.
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| unavailable(format!("cannot restrict {}", dir.display()), e, dir_hint))?;
        }
        if let Some(account) = self.server_account {
            let (uid, gid) = account_ids(account)?;
            for dir in [&self.dir, &self.socket_dir()] {
                let meta = fs::metadata(dir)
                    .map_err(|e| unavailable(format!("cannot read {}", dir.display()), e, dir_hint))?;
                if meta.uid() != uid {
                    std::os::unix::fs::chown(dir, Some(uid), Some(gid)).map_err(|e| {
                        unavailable(format!("cannot hand {} to the {account} account", dir.display()), e, dir_hint)
                    })?;
                }
            }
        }
        let path = self.dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| unavailable(format!("cannot open {}", path.display()), e, dir_hint))?;
        file.lock().map_err(|e| unavailable(format!("cannot lock {}", path.display()), e, dir_hint))?;
        Ok(file)
    }

    /// As root, the directory must be reachable by the server account through every parent, which root's
    /// own home is not.
    fn check_server_account_can_write(&self) -> Result<()> {
        let Some(account) = self.server_account else { return Ok(()) };
        let reachable = run_as(account).args(["test", "-w"]).arg(&self.dir).current_dir("/").status();
        if !reachable.is_ok_and(|s| s.success()) {
            return Err(Error::unavailable(
                format!(
                    "running as root, wacrm runs PostgreSQL as the `{account}` account, which cannot write to {}",
                    self.dir.display()
                ),
                format!("set WACRM_DATA_DIR to a directory `{account}` can reach (the default is {ROOT_DEFAULT_DIR})"),
            ));
        }
        Ok(())
    }

    /// initdb into a scratch directory, configure it, then rename it into place.
    fn init(&self, bin_dir: &Path) -> Result<()> {
        tracing::info!(dir = %self.dir.display(), "initialising the embedded PostgreSQL cluster");
        let scratch = self.dir.join("data.init");
        let hint =
            format!("check the permissions of {}, or set WACRM_DATA_DIR to another directory", self.dir.display());
        if scratch.exists() {
            fs::remove_dir_all(&scratch)
                .map_err(|e| unavailable(format!("cannot remove {}", scratch.display()), e, &hint))?;
        }
        // C.UTF-8 sorts bytewise yet knows the case of every letter (ILIKE on accented names); not every
        // system has it, C works everywhere. initdb removes its directory when it fails.
        let initdb = |locale: &str| {
            let output = self
                .server_command(&bin_dir.join("initdb"))
                .args(["--auth=trust", "--encoding=UTF8", "--no-sync", "--username", SUPERUSER])
                .arg(format!("--locale={locale}"))
                .arg("-D")
                .arg(&scratch)
                .output();
            check(output, "initdb")
        };
        initdb("C.UTF-8")
            .or_else(|_| initdb("C"))
            .map_err(|e| Error::unavailable(format!("cannot initialise the embedded database: {e}"), hint.clone()))?;

        let socket_dir = self.socket_dir();
        let config = format!(
            "\n# wacrm: a private server, reached through its own Unix socket only.\n\
             listen_addresses = ''\n\
             port = {PORT}\n\
             unix_socket_directories = '{}'\n\
             unix_socket_permissions = 0700\n\
             # Bulk work (imports, the benchmark tenant) otherwise forces a checkpoint every few seconds.\n\
             max_wal_size = '4GB'\n\
             shared_buffers = '256MB'\n\
             # A fresh database under load gets its first statistics in seconds, not after a minute of\n\
             # plans made for empty tables.\n\
             autovacuum_naptime = '10s'\n",
            socket_dir.to_str().unwrap_or_default().replace('\'', "''"),
        );
        let conf_path = scratch.join("postgresql.conf");
        OpenOptions::new()
            .append(true)
            .open(&conf_path)
            .and_then(|mut f| f.write_all(config.as_bytes()))
            .map_err(|e| unavailable(format!("cannot configure {}", conf_path.display()), e, &hint))?;
        fs::rename(&scratch, self.data_dir())
            .map_err(|e| unavailable(format!("cannot move {} into place", scratch.display()), e, &hint))
    }

    /// Creates the `wacrm` database unless it exists (initdb only makes `postgres`).
    fn create_database(&self, bin_dir: &Path) -> Result<()> {
        let psql = Some(bin_dir.join("psql")).filter(|p| p.is_file()).unwrap_or_else(|| PathBuf::from("psql"));
        let sql = format!(
            "SELECT 'CREATE DATABASE {DATABASE}' \
             WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{DATABASE}')\n\\gexec\n"
        );
        let child = Command::new(&psql)
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.url_for("postgres"))
            .current_dir(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                if let Some(mut stdin) = child.stdin.take() {
                    stdin.write_all(sql.as_bytes())?;
                }
                child.wait_with_output()
            });
        check(child, "psql").map_err(|e| {
            Error::unavailable(
                format!("cannot create the `{DATABASE}` database: {e}"),
                "psql comes with the PostgreSQL client package (`apt-get install postgresql-client`)",
            )
        })?;
        Ok(())
    }

    /// A PostgreSQL server program, run as the server account when wacrm runs as root.
    fn server_command(&self, program: &Path) -> Command {
        let mut command = match self.server_account {
            Some(account) => {
                let mut command = run_as(account);
                command.arg(program);
                command
            }
            None => Command::new(program),
        };
        // The programs must not inherit a working directory the server account cannot enter (root's home).
        command.current_dir(&self.dir);
        command
    }
}

/// The pid on the first line of a PostgreSQL lock file.
fn pid_in(lock_file: &str) -> Option<u32> {
    lock_file.lines().next()?.trim().parse().ok()
}

fn run_as(account: &str) -> Command {
    let mut command = Command::new("runuser");
    command.args(["-u", account, "--"]);
    command
}

/// The effective user is root: `/proc/self` belongs to the effective uid.
fn running_as_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn account_ids(account: &str) -> Result<(u32, u32)> {
    let missing = || {
        Error::unavailable(
            format!("running as root, wacrm runs PostgreSQL as the `{account}` account, which does not exist"),
            format!("{} (the package creates the account), or run wacrm as a normal user", install_hint()),
        )
    };
    let output = Command::new("getent").args(["passwd", account]).output().map_err(|_| missing())?;
    let entry = String::from_utf8_lossy(&output.stdout);
    let mut fields = entry.trim().split(':').skip(2);
    match (fields.next().and_then(|u| u.parse().ok()), fields.next().and_then(|g| g.parse().ok())) {
        (Some(uid), Some(gid)) if output.status.success() => Ok((uid, gid)),
        _ => Err(missing()),
    }
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`: the first on PATH, then the distribution's
/// versioned directories, highest version first. An existing cluster can only be run by binaries of its
/// own major version, so with `major` known only those count.
fn find_bin_dir(major: Option<&str>) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = env::var_os("PATH")
        .map(|path| env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|dir| has_server_binaries(dir))
        // PATH often holds symlinks into the versioned directory, which also has psql.
        .map(|dir| {
            fs::canonicalize(dir.join("initdb"))
                .ok()
                .and_then(|initdb| initdb.parent().map(Path::to_path_buf))
                .filter(|real| has_server_binaries(real))
                .unwrap_or(dir)
        })
        .collect();
    let mut versioned: Vec<(Vec<u32>, PathBuf)> = fs::read_dir(VERSIONED_BIN_ROOT)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version =
                entry.file_name().to_str()?.split('.').map(str::parse).collect::<Result<Vec<u32>, _>>().ok()?;
            let bin = entry.path().join("bin");
            has_server_binaries(&bin).then_some((version, bin))
        })
        .collect();
    versioned.sort_by(|a, b| b.0.cmp(&a.0));
    candidates.extend(versioned.into_iter().map(|(_, bin)| bin));

    candidates.into_iter().find(|dir| match major {
        Some(major) => server_version(dir).is_ok_and(|v| v.split('.').next() == Some(major)),
        None => true,
    })
}

fn has_server_binaries(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"].iter().all(|name| dir.join(name).is_file())
}

/// `15.20` from `postgres (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)`.
fn server_version(bin_dir: &Path) -> Result<String> {
    let output = Command::new(bin_dir.join("postgres")).arg("--version").output();
    let output = check(output, "postgres --version").map_err(|e| {
        Error::unavailable(format!("cannot run the PostgreSQL server in {}: {e}", bin_dir.display()), install_hint())
    })?;
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text.split_whitespace().nth(2).unwrap_or(text.trim()).to_string())
}

/// The output of a program that succeeded, or a one-line reason it did not.
fn check(output: io::Result<Output>, program: &str) -> std::result::Result<Output, String> {
    match output {
        Ok(output) if output.status.success() => Ok(output),
        Ok(output) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let stdout = String::from_utf8_lossy(&output.stdout);
            let detail = if stderr.trim().is_empty() { stdout } else { stderr };
            Err(format!("{program} exited with {}: {}", output.status, last_lines(&detail, 5)))
        }
        Err(e) => Err(format!("cannot run {program}: {e}")),
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.trim().lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn unavailable(context: String, err: io::Error, hint: impl Into<String>) -> Error {
    Error::unavailable(format!("{context}: {err}"), hint)
}
