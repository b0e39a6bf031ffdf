//! Test harness: a private ovsdb-server in a temporary directory, stopped (via its pidfile) when
//! the guard is dropped, including when a test panics.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ovsdb::{Client, ClientOptions, Remote};

pub const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";
pub const DB: &str = "Open_vSwitch";

/// Generous bounds for a loaded CI machine.
pub const WAIT: Duration = Duration::from_secs(20);

pub struct OvsdbServer {
    dir: tempfile::TempDir,
    extra_args: Vec<String>,
}

impl OvsdbServer {
    /// A server with a fresh Open_vSwitch database (one `Open_vSwitch` row) on a unix socket.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Like `start`, with extra ovsdb-server arguments (e.g. more `--remote=`s).
    pub fn start_with(extra_args: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("ovsdb-test-")
            .tempdir()
            .expect("create temp dir");
        let server = OvsdbServer {
            dir,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
        };
        run(Command::new("ovsdb-tool")
            .arg("create")
            .arg(server.db_path())
            .arg(SCHEMA));
        server.launch();
        server.vsctl(&["init"]);
        server
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir().join("conf.db")
    }

    pub fn socket_path(&self) -> PathBuf {
        self.dir().join("db.sock")
    }

    pub fn pidfile(&self) -> PathBuf {
        self.dir().join("ovsdb-server.pid")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir().join("ovsdb-server.log")
    }

    pub fn remote(&self) -> Remote {
        Remote::Unix(self.socket_path())
    }

    /// Starts ovsdb-server; returns once it is listening (`--detach` waits for that).
    pub fn launch(&self) {
        let dir = self.dir();
        let _ = std::fs::remove_file(self.log_path());
        let stderr = std::fs::File::create(dir.join("ovsdb-server.stderr")).unwrap();
        run(Command::new("ovsdb-server")
            .arg(self.db_path())
            .arg(format!("--remote=punix:{}", self.socket_path().display()))
            .arg(format!("--pidfile={}", self.pidfile().display()))
            .arg(format!(
                "--unixctl={}",
                dir.join("ovsdb-server.ctl").display()
            ))
            .arg(format!("--log-file={}", self.log_path().display()))
            .args(&self.extra_args)
            .arg("--detach")
            .arg("--no-chdir")
            .env("OVS_RUNDIR", dir)
            .env("OVS_DBDIR", dir)
            .env("OVS_LOGDIR", dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr));
    }

    /// Stops the server (SIGTERM, then SIGKILL) and waits until it is gone.
    pub fn stop(&self) {
        let Ok(text) = std::fs::read_to_string(self.pidfile()) else {
            return;
        };
        let Ok(pid) = text.trim().parse::<u32>() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while is_running(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if is_running(pid) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while is_running(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = std::fs::remove_file(self.pidfile());
    }

    /// The port a `ptcp:0:...`/`pssl:0:...` remote listens on (from the log).
    pub fn listening_port(&self) -> u16 {
        let deadline = Instant::now() + WAIT;
        loop {
            let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
            if let Some(port) = log
                .lines()
                .filter_map(|l| l.split("listening on port ").nth(1))
                .filter_map(|p| p.trim().parse().ok())
                .next_back()
            {
                return port;
            }
            assert!(
                Instant::now() < deadline,
                "no listening port in log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `ovs-vsctl --no-wait` against this server and returns its stdout.
    pub fn vsctl(&self, args: &[&str]) -> String {
        let output = Command::new("ovs-vsctl")
            .arg(format!("--db=unix:{}", self.socket_path().display()))
            .arg("--no-wait")
            .arg("--timeout=20")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run ovs-vsctl");
        assert!(
            output.status.success(),
            "ovs-vsctl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Sorted non-empty lines of `ovs-vsctl` output.
    pub fn vsctl_lines(&self, args: &[&str]) -> Vec<String> {
        let mut lines: Vec<String> = self
            .vsctl(args)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        lines.sort();
        lines
    }
}

impl Drop for OvsdbServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn is_running(pid: u32) -> bool {
    // A killed daemon may linger as a zombie if nobody reaps it; that counts as gone.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

fn run(command: &mut Command) {
    let status = command.status().expect("spawn");
    assert!(status.success(), "{command:?} failed: {status}");
}

/// Options for tests: generous timeouts, fast reconnects.
pub fn options() -> ClientOptions {
    ClientOptions {
        request_timeout: Duration::from_secs(10),
        max_backoff: Duration::from_millis(200),
        ..ClientOptions::default()
    }
}

pub async fn connect(server: &OvsdbServer) -> Client {
    Client::connect(server.remote(), options())
        .await
        .expect("connect to test ovsdb-server")
}

/// Polls `check` until it returns `Some`, for up to `WAIT`.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A row from (column, value) pairs.
pub fn row<const N: usize>(pairs: [(&str, ovsdb::Value); N]) -> ovsdb::Row {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect::<BTreeMap<_, _>>()
}
