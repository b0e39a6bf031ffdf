//! Test support: a private ovs-vswitchd (userspace datapath) in its own network namespace
//! and temp dir, torn down by `Drop` (also on panic), plus ovs-ofctl helpers.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const NETNS_PREFIX: &str = "oflowt";

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{cmd:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

fn pid_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn kill_pidfile(path: &Path) {
    let Some(pid) = read_pid(path) else { return };
    // SAFETY: plain signal delivery to a process we started.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while pid_alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if pid_alive(pid) {
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let _ = std::fs::remove_file(path);
}

/// Deletes namespaces left by earlier runs of these tests whose process is gone.
fn reap_stale_namespaces() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(&format!("{NETNS_PREFIX}-")) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if !pid_alive(pid) {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// A private Open vSwitch with one userspace bridge `br0`.
pub struct Ovs {
    pub dir: tempfile::TempDir,
    pub netns: String,
    pub bridge: String,
}

impl Ovs {
    pub fn start() -> Ovs {
        reap_stale_namespaces();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let netns = format!("{NETNS_PREFIX}-{}-{n}", std::process::id());
        let dir = tempfile::Builder::new()
            .prefix("openflow-test-")
            .tempdir()
            .expect("tempdir");
        let ovs = Ovs {
            dir,
            netns,
            bridge: "br0".into(),
        };
        run(Command::new("ip").args(["netns", "add", &ovs.netns]));
        run(Command::new("ip").args(["-n", &ovs.netns, "link", "set", "lo", "up"]));
        let d = ovs.path();
        run(Command::new("ovsdb-tool")
            .arg("create")
            .arg(d.join("conf.db"))
            .arg("/usr/share/openvswitch/vswitch.ovsschema"));
        run(ovs
            .netns_cmd("ovsdb-server")
            .arg(d.join("conf.db"))
            .arg(format!("--remote=punix:{}", d.join("db.sock").display()))
            .arg(format!(
                "--pidfile={}",
                d.join("ovsdb-server.pid").display()
            ))
            .arg(format!(
                "--unixctl={}",
                d.join("ovsdb-server.ctl").display()
            ))
            .arg(format!(
                "--log-file={}",
                d.join("ovsdb-server.log").display()
            ))
            .arg("--detach"));
        ovs.vsctl(&["--no-wait", "init"]);
        ovs.start_vswitchd();
        ovs.vsctl(&[
            "add-br",
            "br0",
            "--",
            "set",
            "bridge",
            "br0",
            "datapath_type=netdev",
        ]);
        ovs.wait_for_mgmt();
        ovs
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    fn netns_cmd(&self, program: &str) -> Command {
        let d = self.path();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns, program])
            .env("OVS_RUNDIR", &d)
            .env("OVS_DBDIR", &d)
            .env("OVS_LOGDIR", &d)
            .env("OVS_SYSCONFDIR", &d);
        cmd
    }

    pub fn start_vswitchd(&self) {
        let d = self.path();
        run(self
            .netns_cmd("ovs-vswitchd")
            .arg(format!("unix:{}", d.join("db.sock").display()))
            .arg(format!(
                "--pidfile={}",
                d.join("ovs-vswitchd.pid").display()
            ))
            .arg(format!(
                "--unixctl={}",
                d.join("ovs-vswitchd.ctl").display()
            ))
            .arg(format!(
                "--log-file={}",
                d.join("ovs-vswitchd.log").display()
            ))
            .arg("--detach"));
    }

    pub fn stop_vswitchd(&self) {
        kill_pidfile(&self.path().join("ovs-vswitchd.pid"));
        let _ = std::fs::remove_file(self.mgmt_path());
    }

    pub fn restart_vswitchd(&self) {
        self.stop_vswitchd();
        self.start_vswitchd();
        self.wait_for_mgmt();
    }

    pub fn mgmt_path(&self) -> PathBuf {
        self.path().join(format!("{}.mgmt", self.bridge))
    }

    /// `unix:<dir>/br0.mgmt`, the target ovs-ofctl uses.
    pub fn target(&self) -> String {
        format!("unix:{}", self.mgmt_path().display())
    }

    fn wait_for_mgmt(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.mgmt_path().exists()
                && Command::new("ovs-ofctl")
                    .args(["-O", "OpenFlow13", "show", &self.target()])
                    .output()
                    .is_ok_and(|o| o.status.success())
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "bridge management socket {} never came up",
            self.mgmt_path().display()
        );
    }

    pub fn vsctl(&self, args: &[&str]) -> String {
        let db = format!("--db=unix:{}", self.path().join("db.sock").display());
        let out = run(Command::new("ovs-vsctl")
            .arg(db)
            .arg("--timeout=20")
            .args(args));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Adds an internal port (a tap device inside our namespace) and returns its ofport.
    pub fn add_internal_port(&self, name: &str) -> u32 {
        self.vsctl(&[
            "add-port",
            &self.bridge,
            name,
            "--",
            "set",
            "interface",
            name,
            "type=internal",
        ]);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let out = self.vsctl(&["get", "interface", name, "ofport"]);
            if let Ok(n) = out.trim().parse::<i64>() {
                if n > 0 {
                    return n as u32;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("port {name} got no ofport");
    }

    /// Sets an interface in our namespace up.
    pub fn link_up(&self, name: &str) {
        run(Command::new("ip").args(["-n", &self.netns, "link", "set", name, "up"]));
    }

    /// Runs `ovs-ofctl -O <version> <args...> <target> [extra]` and returns stdout.
    pub fn ofctl(&self, version: &str, command: &str, extra: &[&str]) -> String {
        let out = run(Command::new("ovs-ofctl")
            .args(["-O", version, command, &self.target()])
            .args(extra));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Flow lines of `ovs-ofctl dump-flows` (without the reply header line).
    pub fn dump_flows(&self, extra: &[&str]) -> Vec<String> {
        self.ofctl("OpenFlow13", "dump-flows", extra)
            .lines()
            .filter(|l| l.starts_with(' '))
            .map(|l| l.trim().to_string())
            .collect()
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        let d = self.path();
        kill_pidfile(&d.join("ovs-vswitchd.pid"));
        kill_pidfile(&d.join("ovsdb-server.pid"));
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}

/// Decodes hex with optional whitespace.
pub fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Runs `ovs-ofctl ofp-print HEX` and returns its output.
pub fn ofp_print(bytes: &[u8]) -> String {
    let out = Command::new("ovs-ofctl")
        .args(["ofp-print", &to_hex(bytes)])
        .output()
        .expect("run ovs-ofctl ofp-print");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Polls `f` until it returns true or `timeout` passes.
pub async fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}
