//! Real PostgreSQL and Redis servers for tests and benchmarks: each started
//! on a free 127.0.0.1 port in a temporary directory of its own, stopped and
//! removed when dropped, and, should the process that started it die
//! first, by a watchdog that outlives it by at most a second.
//!
//! Shared by the unit tests (`#[path]` from the store), the integration
//! tests and `confab-bench`: std alone, no test framework.

#![allow(dead_code)] // each user takes its own part

use std::{
    net::{Ipv4Addr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// Where Debian puts PostgreSQL 15's server programs.
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// How long a server may take to accept connections.
const START_PATIENCE: Duration = Duration::from_secs(30);

/// A directory of its own under the system's temporary directory.
fn fresh_dir(kind: &str) -> PathBuf {
    static COUNT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "confab-{kind}-{}-{}-{nanos}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    dir
}

/// A port nobody listens on now (the server binds it a moment later).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("bind a free port")
        .port()
}

fn wait_for_port(port: u16, what: &str, log: &Path) {
    let started = Instant::now();
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        if started.elapsed() > START_PATIENCE {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{what} did not start on port {port}:\n{log}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn run(command: &mut Command, what: &str) {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// PostgreSQL refuses to run as root: as root its programs run as the
/// `postgres` user, otherwise as whoever runs the tests.
fn as_postgres(program: &str) -> Command {
    let program = format!("{PG_BIN}/{program}");
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--", &program]);
        command
    } else {
        Command::new(program)
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// Runs `cleanup` (a shell command) once this process has exited, even if it
/// was killed: a detached shell polls for it. It is never waited for: it
/// outlives this process by design.
#[allow(clippy::zombie_processes)]
fn watchdog(cleanup: &str) {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {cleanup}",
        pid = std::process::id()
    );
    Command::new("setsid")
        .args(["sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start a watchdog");
}

/// A PostgreSQL 15 cluster of its own. Each test takes a fresh database of
/// it ([`Postgres::new_database`]), so tests can share one server.
pub struct Postgres {
    pub port: u16,
    dir: PathBuf,
    /// Commits reach the disk before they return, as in production.
    durable: bool,
}

impl Postgres {
    /// For tests: commits skip the disk (a killed confab is what the tests
    /// kill, not the machine), so a fresh database takes milliseconds.
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// For benchmarks: every commit is fsynced, as in production (and as
    /// SQLite's are).
    pub fn start_durable() -> Self {
        Self::start_with(true)
    }

    fn start_with(durable: bool) -> Self {
        let dir = fresh_dir("pg");
        if is_root() {
            run(
                Command::new("chown").args(["postgres:postgres", &dir.display().to_string()]),
                "chown the PostgreSQL directory",
            );
        }
        let data = dir.join("data");
        run(
            as_postgres("initdb")
                .args(["-D", &data.display().to_string()])
                .args(["-A", "trust", "-U", "confab", "--no-sync"])
                .stdout(Stdio::null()),
            "initdb",
        );
        let postgres = Self {
            port: free_port(),
            dir,
            durable,
        };
        postgres.start_again();
        let stop = format!(
            "{PG_BIN}/pg_ctl -D {data} stop -m immediate; rm -rf {dir}",
            data = data.display(),
            dir = postgres.dir.display()
        );
        let stop = if is_root() {
            format!(
                "runuser -u postgres -- sh -c '{stop}'; rm -rf {}",
                postgres.dir.display()
            )
        } else {
            stop
        };
        watchdog(&stop);
        postgres
    }

    /// Starts the server on its port again after [`Postgres::stop`].
    pub fn start_again(&self) {
        let options = format!(
            "-p {port} -k {dir} -c listen_addresses=127.0.0.1 -c fsync={fsync} -c max_connections=300",
            port = self.port,
            dir = self.dir.display(),
            fsync = if self.durable { "on" } else { "off" },
        );
        let log = self.dir.join("pg.log");
        run(
            as_postgres("pg_ctl")
                .args(["-D", &self.dir.join("data").display().to_string()])
                .args(["-o", &options, "-l", &log.display().to_string()])
                .args(["-w", "start"])
                .stdout(Stdio::null()),
            "pg_ctl start",
        );
        wait_for_port(self.port, "PostgreSQL", &log);
    }

    /// Stops the server at once (as a crash would), keeping its data.
    pub fn stop(&self) {
        run(
            as_postgres("pg_ctl")
                .args(["-D", &self.dir.join("data").display().to_string()])
                .args(["-m", "immediate", "-w", "stop"])
                .stdout(Stdio::null()),
            "pg_ctl stop",
        );
    }

    /// The server's processes now: the postmaster and its children (one
    /// per connection, and the background workers).
    pub fn pids(&self) -> Vec<u32> {
        let pid_file = self.dir.join("data").join("postmaster.pid");
        let Some(postmaster) = std::fs::read_to_string(pid_file)
            .ok()
            .and_then(|text| text.lines().next()?.trim().parse::<u32>().ok())
        else {
            return Vec::new();
        };
        let mut pids = vec![postmaster];
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // The parent is the second field after the command's ')'.
            let parent = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
            if parent == Some(postmaster) {
                pids.push(pid);
            }
        }
        pids
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://confab@127.0.0.1:{}/{database}", self.port)
    }

    /// Runs `sql` as the tests' role, in the `postgres` database.
    pub fn sql(&self, sql: &str) {
        run(
            Command::new(format!("{PG_BIN}/psql"))
                .args(["-q", "-d", &self.url("postgres")])
                .args(["-c", sql]),
            "psql",
        );
    }

    /// A new, empty database; its URL.
    pub fn new_database(&self) -> String {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let name = format!("t{}", COUNT.fetch_add(1, Ordering::Relaxed));
        run(
            Command::new(format!("{PG_BIN}/psql"))
                .args(["-q", "-d", &self.url("postgres")])
                .args(["-c", &format!("CREATE DATABASE {name}")]),
            "CREATE DATABASE",
        );
        self.url(&name)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_postgres("pg_ctl")
            .args(["-D", &self.dir.join("data").display().to_string()])
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis server of its own, in the foreground of a child process.
pub struct Redis {
    pub port: u16,
    dir: PathBuf,
    child: Option<std::process::Child>,
}

impl Redis {
    pub fn start() -> Self {
        let mut redis = Self {
            port: free_port(),
            dir: fresh_dir("redis"),
            child: None,
        };
        redis.start_again();
        watchdog(&format!("rm -rf {}", redis.dir.display()));
        redis
    }

    /// Starts the server on its port again after [`Redis::kill`]: empty,
    /// as a Redis that lost its memory would be.
    pub fn start_again(&mut self) {
        let log = self.dir.join("redis.log");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", &self.dir.display().to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--logfile", &log.display().to_string()])
            .stdin(Stdio::null())
            .spawn()
            .expect("start redis-server (scripts/setup.sh installs it)");
        // The server outlives a killed test process by at most a second.
        watchdog(&format!("kill -9 {} 2>/dev/null", child.id()));
        self.child = Some(child);
        wait_for_port(self.port, "Redis", &log);
    }

    /// Kills the server (SIGKILL): everything it held is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The server's process, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(std::process::Child::id)
    }

    /// Runs a redis-cli command against the server; its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
