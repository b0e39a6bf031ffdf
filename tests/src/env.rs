//! One isolated test environment: a network namespace with its own ovsdb-server,
//! ovs-vswitchd (userspace datapath), dockerd and our driver.
//!
//! Layout for environment `<id>` (six hex digits):
//! - netns `ovt-<id>`; directory `/tmp/ovt-<id>` (short on purpose: unix socket paths, e.g.
//!   dockerd's libnetwork socket under the exec root, must stay below 108 bytes);
//! - `o/`: OVS database, sockets, pidfiles, logs and `<bridge>.mgmt` (OVS_RUNDIR);
//! - `d/` dockerd data root (and `d/docker.sock`), `e/` its exec root;
//! - `dockerd.log`, `driver.log`, `holder.log`, `owner` (for [`crate::stale`]);
//! - plugin name `ovt<id>`, socket `/run/docker/plugins/ovt<id>.sock`.
//!
//! Processes do not run under `ip netns exec`: that remounts `/sys` without the cgroup
//! hierarchies dockerd needs, and gives every command its own mount namespace, so the driver
//! would not see the sandbox mounts dockerd makes. Instead a "holder" process creates one
//! private mount namespace inside the netns, with a `/sys` for the netns and the host's cgroup
//! mounts, and every daemon joins it with `nsenter --target <holder> --net --mount`. When the
//! environment is torn down, that mount namespace and all mounts in it disappear.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crate::cmd::{self, CmdOutput};
use crate::http::{self, HttpResponse};
use crate::wait::{self, Attempt};
use crate::{logs, process, rootfs, stale};

/// Deadline for one docker CLI call.
pub const DOCKER_TIMEOUT: Duration = Duration::from_secs(90);
/// Deadline for OVS and ip tool calls.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a daemon may take to become ready.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Name (and tag) of the imported busybox image.
pub const IMAGE: &str = "busybox:latest";

/// What [`Env::start`] starts.
#[derive(Debug, Clone)]
pub struct EnvOptions {
    /// Start our driver (default). Without it: OVS and dockerd only.
    pub driver: bool,
    /// `RUST_LOG` for the driver: `$OVS_E2E_RUST_LOG`, else `debug`.
    pub driver_log_filter: String,
    /// Extra environment variables for the driver (e.g. its hidden test tunables).
    pub driver_env: Vec<(String, String)>,
}

impl Default for EnvOptions {
    fn default() -> Self {
        EnvOptions {
            driver: true,
            driver_log_filter: std::env::var("OVS_E2E_RUST_LOG")
                .unwrap_or_else(|_| "debug".to_string()),
            driver_env: Vec::new(),
        }
    }
}

impl EnvOptions {
    /// OVS and dockerd, no driver (for testing the harness itself).
    pub fn without_driver() -> Self {
        EnvOptions {
            driver: false,
            ..EnvOptions::default()
        }
    }
}

/// The paths and names that identify an environment, kept after it is dropped so a test can
/// check that nothing of it is left.
#[derive(Debug, Clone)]
pub struct Footprint {
    /// `ovt-<id>`.
    pub netns: String,
    /// `/tmp/ovt-<id>`.
    pub dir: PathBuf,
    /// `/run/docker/plugins/ovt<id>.sock`.
    pub plugin_socket: PathBuf,
}

impl Footprint {
    /// Everything of the environment that still exists, described; empty when fully gone.
    pub fn leftovers(&self) -> Vec<String> {
        let mut found = Vec::new();
        if Path::new("/run/netns").join(&self.netns).exists() {
            found.push(format!("network namespace {}", self.netns));
        }
        if self.dir.exists() {
            found.push(format!("directory {}", self.dir.display()));
        }
        if self.plugin_socket.exists() {
            found.push(format!("plugin socket {}", self.plugin_socket.display()));
        }
        for (pid, line) in process::processes_mentioning(&format!("{}/", self.dir.display())) {
            found.push(format!("process {pid}: {line}"));
        }
        found
    }
}

/// A running test environment; everything is torn down on drop, also when the test panics.
pub struct Env {
    id: String,
    netns: String,
    plugin_name: String,
    dir: PathBuf,
    ovs_dir: PathBuf,
    data_root: PathBuf,
    exec_root: PathBuf,
    docker_socket: PathBuf,
    plugin_socket: PathBuf,
    driver_bin: PathBuf,
    options: EnvOptions,
    holder: Mutex<Option<Child>>,
    dockerd: Mutex<Option<Child>>,
    driver: Mutex<Option<Child>>,
    driver_starts: AtomicUsize,
    history: Mutex<VecDeque<String>>,
    diagnostics_shown: AtomicBool,
    started_at: Instant,
}

/// The driver binary the tests run: `$OVS_DRIVER_BIN` if set, else the first existing of
/// [`driver_binary_candidates`], else the first candidate (`$CARGO_TARGET_DIR/debug/ovs-driver`
/// when that variable is set, `<workspace>/target/debug/ovs-driver` otherwise).
pub fn driver_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("OVS_DRIVER_BIN") {
        return PathBuf::from(path);
    }
    let candidates = driver_binary_candidates();
    candidates
        .iter()
        .find(|candidate| candidate.is_file())
        .unwrap_or(&candidates[0])
        .clone()
}

/// Where the driver binary is looked for, in order: `$CARGO_TARGET_DIR/debug` (relative to
/// the workspace if relative), `<workspace>/target/debug`, and the profile directory this
/// test binary was built in (`<target>/<profile>/deps/..`).
pub fn driver_binary_candidates() -> Vec<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests crate lives inside the workspace")
        .to_path_buf();
    let mut candidates = Vec::new();
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR").filter(|dir| !dir.is_empty()) {
        let target = PathBuf::from(target);
        let target = if target.is_absolute() {
            target
        } else {
            workspace.join(target)
        };
        candidates.push(target.join("debug").join("ovs-driver"));
    }
    candidates.push(workspace.join("target").join("debug").join("ovs-driver"));
    if let Some(profile_dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()))
    {
        let beside = profile_dir.join("ovs-driver");
        if !candidates.contains(&beside) {
            candidates.push(beside);
        }
    }
    candidates
}

fn new_id() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_usize(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos()),
    );
    format!("{:06x}", hasher.finish() & 0xff_ffff)
}

impl Env {
    /// Starts a complete environment; panics (after tearing down what was started) if any part
    /// fails, with the logs in the message.
    pub fn start(options: EnvOptions) -> Env {
        stale::clean_once();
        let started_at = Instant::now();
        let mut last_error = String::new();
        for _ in 0..10 {
            let id = new_id();
            let netns = format!("{}{id}", stale::PREFIX);
            let dir = stale::env_dir(&id);
            if dir.exists() || Path::new("/run/netns").join(&netns).exists() {
                continue;
            }
            // Claim the id: mkdir fails if another process raced us to it.
            if let Err(error) = fs::create_dir(&dir) {
                last_error = format!("mkdir {}: {error}", dir.display());
                continue;
            }
            let env = Env::new(id, netns, dir, options.clone(), started_at);
            if let Err(error) = fs::write(env.dir.join("owner"), stale::owner_record()) {
                panic!("write owner file: {error}");
            }
            let mut add = Command::new("ip");
            add.args(["netns", "add", &env.netns]);
            let output = env.run_recorded(add, TOOL_TIMEOUT);
            if !output.success() {
                last_error = output.describe();
                drop(env);
                continue;
            }
            if let Err(error) = env.boot() {
                env.fail(&format!(
                    "starting test environment {} failed: {error}",
                    env.id
                ));
            }
            eprintln!(
                "[e2e] environment {} ready in {:.1} s (dir {}, driver {})",
                env.id,
                env.started_at.elapsed().as_secs_f64(),
                env.dir.display(),
                if env.options.driver {
                    env.driver_bin.display().to_string()
                } else {
                    "not started".to_string()
                }
            );
            return env;
        }
        panic!("could not allocate a test environment: {last_error}");
    }

    fn new(
        id: String,
        netns: String,
        dir: PathBuf,
        options: EnvOptions,
        started_at: Instant,
    ) -> Env {
        Env {
            plugin_name: format!("ovt{id}"),
            plugin_socket: PathBuf::from(format!("/run/docker/plugins/ovt{id}.sock")),
            ovs_dir: dir.join("o"),
            data_root: dir.join("d"),
            exec_root: dir.join("e"),
            docker_socket: dir.join("d").join("docker.sock"),
            driver_bin: driver_binary(),
            id,
            netns,
            dir,
            options,
            holder: Mutex::new(None),
            dockerd: Mutex::new(None),
            driver: Mutex::new(None),
            driver_starts: AtomicUsize::new(0),
            history: Mutex::new(VecDeque::new()),
            diagnostics_shown: AtomicBool::new(false),
            started_at,
        }
    }

    fn boot(&self) -> Result<(), String> {
        for dir in [&self.ovs_dir, &self.data_root, &self.exec_root] {
            fs::create_dir_all(dir).map_err(|error| format!("mkdir {}: {error}", dir.display()))?;
        }
        fs::write(self.dir.join("daemon.json"), "{}\n")
            .map_err(|error| format!("write daemon.json: {error}"))?;
        self.ip_result(&["link", "set", "lo", "up"])?;
        self.start_holder()?;
        self.start_ovs()?;
        self.start_dockerd()?;
        self.import_image()?;
        if self.options.driver {
            self.try_start_driver()?;
        }
        Ok(())
    }

    // ---------------------------------------------------------------- accessors

    /// Six hex digits unique to this environment.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Network namespace name, `ovt-<id>`.
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// The environment's temp directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// OVS run directory (database socket, pidfiles, logs, `.mgmt` sockets).
    pub fn ovs_dir(&self) -> &Path {
        &self.ovs_dir
    }

    /// `unix:<ovs dir>/db.sock`, as given to the driver.
    pub fn ovsdb_remote(&self) -> String {
        format!("unix:{}", self.ovs_dir.join("db.sock").display())
    }

    /// dockerd's API socket.
    pub fn docker_socket(&self) -> &Path {
        &self.docker_socket
    }

    /// The driver's plugin socket.
    pub fn plugin_socket(&self) -> &Path {
        &self.plugin_socket
    }

    /// The name to use with `docker network create -d`.
    pub fn driver_name(&self) -> &str {
        &self.plugin_name
    }

    /// The driver binary this environment runs.
    pub fn driver_bin(&self) -> &Path {
        &self.driver_bin
    }

    /// What to check after the environment is dropped.
    pub fn footprint(&self) -> Footprint {
        Footprint {
            netns: self.netns.clone(),
            dir: self.dir.clone(),
            plugin_socket: self.plugin_socket.clone(),
        }
    }

    // ---------------------------------------------------------------- running commands

    /// A command that runs `program` inside the environment's network and mount namespaces.
    pub fn ns_command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let holder = self.holder_pid().unwrap_or(0);
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--target={holder}"))
            .args(["--net", "--mount", "--"])
            .arg(program);
        self.ovs_environment(&mut command);
        command
    }

    fn ovs_environment(&self, command: &mut Command) {
        for name in ["OVS_RUNDIR", "OVS_DBDIR", "OVS_LOGDIR", "OVS_SYSCONFDIR"] {
            command.env(name, &self.ovs_dir);
        }
    }

    /// Runs a command with a deadline and remembers it for [`Env::diagnostics`].
    pub fn run_recorded(&self, command: Command, timeout: Duration) -> CmdOutput {
        let output = cmd::run(command, timeout);
        let mut line = output.summary();
        if !output.success() {
            if let Some(first) = output.stderr.lines().find(|line| !line.trim().is_empty()) {
                let _ = write!(line, ": {}", cmd::clip(first.trim(), 300));
            }
        }
        self.note(&line);
        output
    }

    /// Panics with `message`, the environment's diagnostics appended.
    pub fn fail(&self, message: &str) -> ! {
        self.diagnostics_shown.store(true, Ordering::Relaxed);
        panic!("{message}\n\n{}", self.diagnostics());
    }

    /// Panics unless `output` succeeded; returns its trimmed stdout.
    pub fn expect_success(&self, output: CmdOutput) -> String {
        if !output.success() {
            let gist = output
                .stderr
                .lines()
                .map(str::trim)
                .find(|line| !line.is_empty())
                .unwrap_or("(no stderr)");
            self.fail(&format!("command failed: {gist}\n{}", output.describe()));
        }
        output.stdout_trimmed()
    }

    /// The docker CLI against this environment's dockerd.
    pub fn docker(&self, args: &[&str]) -> CmdOutput {
        let mut command = Command::new("docker");
        command
            .arg("-H")
            .arg(format!("unix://{}", self.docker_socket.display()))
            .args(args)
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .env("DOCKER_CONFIG", self.dir.join("cli"));
        self.run_recorded(command, DOCKER_TIMEOUT)
    }

    /// [`Env::docker`] that must succeed; returns trimmed stdout.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let output = self.docker(args);
        self.expect_success(output)
    }

    /// [`Env::docker`] that must fail; returns the output for checking the message.
    pub fn docker_err(&self, args: &[&str]) -> CmdOutput {
        let output = self.docker(args);
        if output.success() {
            self.fail(&format!(
                "docker command unexpectedly succeeded: {}",
                output.describe()
            ));
        }
        output
    }

    /// `ovs-vsctl` against this environment's database.
    pub fn vsctl(&self, args: &[&str]) -> CmdOutput {
        let mut command = Command::new("ovs-vsctl");
        command
            .arg(format!("--db={}", self.ovsdb_remote()))
            .arg("--timeout=20")
            .args(args);
        self.ovs_environment(&mut command);
        self.run_recorded(command, TOOL_TIMEOUT)
    }

    /// [`Env::vsctl`] that must succeed; returns trimmed stdout.
    pub fn vsctl_ok(&self, args: &[&str]) -> String {
        let output = self.vsctl(args);
        self.expect_success(output)
    }

    /// `ovs-ofctl` with OVS_RUNDIR pointing at this environment (bridge names work).
    pub fn ofctl(&self, args: &[&str]) -> CmdOutput {
        let mut command = Command::new("ovs-ofctl");
        command.arg("--timeout=20").args(args);
        self.ovs_environment(&mut command);
        self.run_recorded(command, TOOL_TIMEOUT)
    }

    /// [`Env::ofctl`] that must succeed; returns trimmed stdout.
    pub fn ofctl_ok(&self, args: &[&str]) -> String {
        let output = self.ofctl(args);
        self.expect_success(output)
    }

    /// `ip -n <netns> ...`.
    pub fn ip(&self, args: &[&str]) -> CmdOutput {
        let mut command = Command::new("ip");
        command.args(["-n", &self.netns]).args(args);
        self.run_recorded(command, TOOL_TIMEOUT)
    }

    /// [`Env::ip`] that must succeed; returns trimmed stdout.
    pub fn ip_ok(&self, args: &[&str]) -> String {
        let output = self.ip(args);
        self.expect_success(output)
    }

    fn ip_result(&self, args: &[&str]) -> Result<String, String> {
        self.ip(args).result()
    }

    /// Runs `command[0]` with the remaining arguments inside the environment's namespaces.
    pub fn exec_in_netns(&self, command: &[&str]) -> CmdOutput {
        let (program, args) = command.split_first().expect("exec_in_netns: empty command");
        let mut ns_command = self.ns_command(program);
        ns_command.args(args);
        self.run_recorded(ns_command, TOOL_TIMEOUT)
    }

    // ---------------------------------------------------------------- plugin socket

    /// POSTs `body` to `path` on the plugin socket; `Err` only for transport failures.
    pub fn try_plugin_request(
        &self,
        path: &str,
        body: impl AsRef<[u8]>,
    ) -> io::Result<HttpResponse> {
        let body = body.as_ref();
        let start = Instant::now();
        let result = http::request(
            &self.plugin_socket,
            "POST",
            path,
            body,
            Duration::from_secs(30),
        );
        let outcome = match &result {
            Ok(response) => format!("HTTP {}", response.status),
            Err(error) => format!("error: {error}"),
        };
        self.note(&format!(
            "plugin POST {path} ({} byte body) -> {outcome} after {:.1} s",
            body.len(),
            start.elapsed().as_secs_f64()
        ));
        result
    }

    /// POSTs `body` to `path` on the plugin socket; returns status and body text. Panics (with
    /// diagnostics) if no HTTP response comes back.
    pub fn plugin_request(&self, path: &str, body: impl AsRef<[u8]>) -> (u16, String) {
        match self.try_plugin_request(path, body) {
            Ok(response) => (response.status, response.body_text()),
            Err(error) => self.fail(&format!("plugin request {path} got no response: {error}")),
        }
    }

    // ---------------------------------------------------------------- holder and daemons

    fn holder_pid(&self) -> Option<u32> {
        self.holder
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .as_ref()
            .map(Child::id)
    }

    fn start_holder(&self) -> Result<(), String> {
        let cgroups = self.dir.join("cg");
        let ready = self.dir.join("holder.ready");
        let script = format!(
            "set -e; mkdir -p {cg}; \
             if [ -d /sys/fs/cgroup ]; then mount --rbind /sys/fs/cgroup {cg}; fi; \
             umount -l /sys; mount -t sysfs sysfs /sys; \
             if [ -d /sys/fs/cgroup ] && mountpoint -q {cg}; then mount --move {cg} /sys/fs/cgroup; fi; \
             rmdir {cg} 2>/dev/null || true; touch {ready}; exec tail -f {ready}",
            cg = cgroups.display(),
            ready = ready.display(),
        );
        let log = self.log_file("holder.log", false)?;
        let mut command = Command::new("unshare");
        command
            .args(["--mount", "--propagation", "private", "--", "nsenter"])
            .arg(format!("--net=/run/netns/{}", self.netns))
            .args(["--", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|error| error.to_string())?)
            .stderr(log);
        let child = command
            .spawn()
            .map_err(|error| format!("spawn namespace holder: {error}"))?;
        *self
            .holder
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = Some(child);
        wait::poll(
            "the namespace holder",
            Duration::from_secs(15),
            Duration::from_millis(20),
            || {
                self.check_child_running(&self.holder, "namespace holder", "holder.log")
                    .map_err(Attempt::Fatal)?;
                if ready.exists() {
                    Ok(())
                } else {
                    Err("not ready yet".to_string().into())
                }
            },
        )
    }

    fn check_child_running(
        &self,
        slot: &Mutex<Option<Child>>,
        what: &str,
        log: &str,
    ) -> Result<(), String> {
        let mut slot = slot.lock().unwrap_or_else(|poison| poison.into_inner());
        match slot.as_mut().map(Child::try_wait) {
            None => Err(format!("{what} is not running")),
            Some(Ok(None)) => Ok(()),
            Some(Ok(Some(status))) => Err(format!(
                "{what} exited with {status}\n{}",
                logs::section(what, &self.dir.join(log), 40, |_| true)
            )),
            Some(Err(error)) => Err(format!("{what}: {error}")),
        }
    }

    fn log_file(&self, name: &str, append: bool) -> Result<File, String> {
        let path = self.dir.join(name);
        OpenOptions::new()
            .create(true)
            .append(append)
            .write(true)
            .truncate(!append)
            .open(&path)
            .map_err(|error| format!("open {}: {error}", path.display()))
    }

    fn start_ovs(&self) -> Result<(), String> {
        let mut create = Command::new("ovsdb-tool");
        create
            .arg("create")
            .arg(self.ovs_dir.join("conf.db"))
            .arg("/usr/share/openvswitch/vswitch.ovsschema");
        let output = self.run_recorded(create, TOOL_TIMEOUT);
        if !output.success() {
            return Err(output.describe());
        }
        self.try_start_ovsdb()?;
        let init = self.vsctl(&["--no-wait", "init"]);
        if !init.success() {
            return Err(init.describe());
        }
        self.try_start_vswitchd()
    }

    fn try_start_vswitchd(&self) -> Result<(), String> {
        let dir = &self.ovs_dir;
        let mut vswitchd = self.ns_command("ovs-vswitchd");
        vswitchd
            .arg(self.ovsdb_remote())
            .arg(format!(
                "--pidfile={}",
                dir.join("ovs-vswitchd.pid").display()
            ))
            .arg(format!(
                "--unixctl={}",
                dir.join("ovs-vswitchd.ctl").display()
            ))
            .arg(format!(
                "--log-file={}",
                dir.join("ovs-vswitchd.log").display()
            ))
            .args(["--detach", "--no-chdir"]);
        // e.g. OVS_E2E_VSWITCHD_VLOG="vconn:file:dbg ofproto:file:dbg" logs OpenFlow traffic.
        if let Ok(levels) = std::env::var("OVS_E2E_VSWITCHD_VLOG") {
            vswitchd.args(
                levels
                    .split_whitespace()
                    .map(|level| format!("--verbose={level}")),
            );
        }
        let output = self.run_recorded(vswitchd, STARTUP_TIMEOUT);
        if !output.success() {
            return Err(format!(
                "{}\n{}",
                output.describe(),
                logs::section("ovs-vswitchd", &dir.join("ovs-vswitchd.log"), 30, |_| true)
            ));
        }
        Ok(())
    }

    /// Kills ovs-vswitchd (from its pidfile) with SIGKILL and waits until it is gone: the
    /// userspace datapath and every flow table go with it. ovsdb-server keeps running.
    pub fn kill_vswitchd(&self) {
        let pidfile = self.ovs_dir.join("ovs-vswitchd.pid");
        let Some(pid) = process::read_pidfile(&pidfile) else {
            self.fail(&format!(
                "kill ovs-vswitchd: no pid in {}",
                pidfile.display()
            ));
        };
        process::send_signal(pid, libc::SIGKILL);
        if !process::wait_gone(pid, Duration::from_secs(10)) {
            self.fail(&format!(
                "ovs-vswitchd {pid} still running 10 s after SIGKILL"
            ));
        }
        self.note(&format!("ovs-vswitchd (pid {pid}) killed with SIGKILL"));
    }

    /// Starts ovs-vswitchd again as the environment first did (same database, sockets, log).
    pub fn start_vswitchd(&self) {
        if let Err(error) = self.try_start_vswitchd() {
            self.fail(&format!("start ovs-vswitchd: {error}"));
        }
    }

    /// True while ovs-vswitchd (from its pidfile) is running.
    pub fn vswitchd_running(&self) -> bool {
        process::read_pidfile(&self.ovs_dir.join("ovs-vswitchd.pid"))
            .is_some_and(process::pid_alive)
    }

    /// Starts ovs-vswitchd unless it is running; never panics (for cleanup guards).
    pub fn ensure_vswitchd_running(&self) -> Result<(), String> {
        if self.vswitchd_running() {
            Ok(())
        } else {
            self.try_start_vswitchd()
        }
    }

    fn try_start_ovsdb(&self) -> Result<(), String> {
        let dir = &self.ovs_dir;
        let mut server = self.ns_command("ovsdb-server");
        server
            .arg(dir.join("conf.db"))
            .arg(format!("--remote=punix:{}", dir.join("db.sock").display()))
            .arg(format!(
                "--pidfile={}",
                dir.join("ovsdb-server.pid").display()
            ))
            .arg(format!(
                "--unixctl={}",
                dir.join("ovsdb-server.ctl").display()
            ))
            .arg(format!(
                "--log-file={}",
                dir.join("ovsdb-server.log").display()
            ))
            .args(["--detach", "--no-chdir"]);
        let output = self.run_recorded(server, STARTUP_TIMEOUT);
        if !output.success() {
            return Err(format!(
                "{}\n{}",
                output.describe(),
                logs::section("ovsdb-server", &dir.join("ovsdb-server.log"), 30, |_| true)
            ));
        }
        let socket = dir.join("db.sock");
        wait::poll(
            "the ovsdb-server socket",
            STARTUP_TIMEOUT,
            Duration::from_millis(20),
            || {
                UnixStream::connect(&socket)
                    .map(drop)
                    .map_err(|error| format!("connect {}: {error}", socket.display()).into())
            },
        )
    }

    fn try_stop_ovsdb(&self) -> Result<(), String> {
        let pidfile = self.ovs_dir.join("ovsdb-server.pid");
        let pid = process::read_pidfile(&pidfile)
            .ok_or_else(|| format!("no pid in {}", pidfile.display()))?;
        if process::terminate(pid, Duration::from_secs(10)) {
            Ok(())
        } else {
            Err(format!("ovsdb-server {pid} did not exit"))
        }
    }

    /// Stops ovsdb-server (SIGTERM, waits until it is gone). vswitchd and the driver keep running.
    pub fn stop_ovsdb(&self) {
        if let Err(error) = self.try_stop_ovsdb() {
            self.fail(&format!("stop ovsdb-server: {error}"));
        }
    }

    /// Starts ovsdb-server again on the same database file and socket.
    pub fn start_ovsdb(&self) {
        if let Err(error) = self.try_start_ovsdb() {
            self.fail(&format!("start ovsdb-server: {error}"));
        }
    }

    /// True while ovsdb-server (from its pidfile) is running.
    pub fn ovsdb_running(&self) -> bool {
        process::read_pidfile(&self.ovs_dir.join("ovsdb-server.pid"))
            .is_some_and(process::pid_alive)
    }

    /// Starts ovsdb-server unless it is running; never panics (for cleanup guards).
    pub fn ensure_ovsdb_running(&self) -> Result<(), String> {
        if self.ovsdb_running() {
            Ok(())
        } else {
            self.try_start_ovsdb()
        }
    }

    /// [`Env::stop_ovsdb`] then [`Env::start_ovsdb`].
    pub fn restart_ovsdb(&self) {
        self.stop_ovsdb();
        self.start_ovsdb();
    }

    /// Stops dockerd (SIGTERM; it stops the containers, which leave their networks, within
    /// 60 s, else SIGKILL) and starts it again on the same data root, exec root and socket,
    /// appending to `dockerd.log`. Containers with a restart policy come back by themselves.
    pub fn restart_dockerd(&self) {
        if let Some(note) = Self::stop_child(&self.dockerd, Duration::from_secs(60)) {
            self.note(&format!("dockerd: {note}"));
        }
        self.note("dockerd stopped");
        self.start_dockerd_again();
    }

    /// SIGKILLs dockerd: its containers keep running under their shims, nothing is cleaned up.
    pub fn kill_dockerd(&self) {
        Self::stop_child(&self.dockerd, Duration::ZERO);
        self.note("dockerd killed with SIGKILL");
    }

    /// Starts dockerd again after [`Env::kill_dockerd`] (as [`Env::restart_dockerd`] does).
    pub fn start_dockerd_again(&self) {
        // dockerd's containerd dies with it; if its pid has been reused since, the new dockerd
        // would wait for a containerd that is not there.
        let pidfile = self.exec_root.join("containerd").join("containerd.pid");
        if let Some(pid) = process::read_pidfile(&pidfile) {
            let containerd = process::pid_alive(pid)
                && process::cmdline(pid).is_some_and(|line| line.contains("containerd"));
            if !containerd {
                let _ = fs::remove_file(&pidfile);
                self.note(&format!("removed stale {} (pid {pid})", pidfile.display()));
            }
        }
        if let Err(error) = self.start_dockerd_logging(true) {
            self.fail(&format!("starting dockerd again failed: {error}"));
        }
        self.note("dockerd started again");
    }

    fn start_dockerd(&self) -> Result<(), String> {
        self.start_dockerd_logging(false)
    }

    fn start_dockerd_logging(&self, append: bool) -> Result<(), String> {
        let log = self.log_file("dockerd.log", append)?;
        let mut dockerd = self.ns_command("dockerd");
        dockerd
            .arg("--config-file")
            .arg(self.dir.join("daemon.json"))
            .arg("--data-root")
            .arg(&self.data_root)
            .arg("--exec-root")
            .arg(&self.exec_root)
            .arg("-H")
            .arg(format!("unix://{}", self.docker_socket.display()))
            .arg("--pidfile")
            .arg(self.dir.join("dockerd.pid"))
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--storage-driver=vfs",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|error| error.to_string())?)
            .stderr(log);
        let child = dockerd
            .spawn()
            .map_err(|error| format!("spawn dockerd: {error}"))?;
        *self
            .dockerd
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = Some(child);
        wait::poll(
            "dockerd to answer /_ping",
            STARTUP_TIMEOUT,
            Duration::from_millis(100),
            || {
                self.check_child_running(&self.dockerd, "dockerd", "dockerd.log")
                    .map_err(Attempt::Fatal)?;
                let response = http::request(
                    &self.docker_socket,
                    "GET",
                    "/_ping",
                    b"",
                    Duration::from_secs(5),
                )
                .map_err(|error| error.to_string())?;
                if response.status == 200 {
                    Ok(())
                } else {
                    Err(format!("/_ping answered {}", response.status).into())
                }
            },
        )
    }

    fn import_image(&self) -> Result<(), String> {
        let tarball = rootfs::busybox_rootfs_tar();
        let tarball = tarball.to_string_lossy();
        let output = self.docker(&["import", "-c", "CMD [\"sh\"]", &tarball, IMAGE]);
        if output.success() {
            Ok(())
        } else {
            Err(output.describe())
        }
    }

    fn dockerd_alive(&self) -> bool {
        self.check_child_running(&self.dockerd, "dockerd", "dockerd.log")
            .is_ok()
    }

    // ---------------------------------------------------------------- driver

    /// True while the driver process is running.
    pub fn driver_alive(&self) -> bool {
        self.check_child_running(&self.driver, "driver", "driver.log")
            .is_ok()
    }

    /// Pid of the running driver.
    pub fn driver_pid(&self) -> Option<u32> {
        self.driver
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .as_ref()
            .map(Child::id)
    }

    /// Starts the driver and waits until its socket accepts connections; panics with the
    /// driver log if it exits or does not come up.
    pub fn start_driver(&self) {
        if let Err(error) = self.try_start_driver() {
            self.fail(&format!("starting the driver failed: {error}"));
        }
    }

    fn try_start_driver(&self) -> Result<(), String> {
        if self.driver_alive() {
            return Err("the driver is already running".to_string());
        }
        if !self.driver_bin.is_file() {
            let searched: Vec<String> = driver_binary_candidates()
                .iter()
                .map(|path| path.display().to_string())
                .collect();
            return Err(format!(
                "driver binary {} not found (looked in: {}): build it first \
                 (`cargo build -p ovs-driver`) or set OVS_DRIVER_BIN",
                self.driver_bin.display(),
                searched.join(", ")
            ));
        }
        let start_number = self.driver_starts.fetch_add(1, Ordering::Relaxed) + 1;
        let mut log = self.log_file("driver.log", true)?;
        let args = [
            "--ovsdb".to_string(),
            self.ovsdb_remote(),
            "--ovs-rundir".to_string(),
            self.ovs_dir.display().to_string(),
            "--plugin-name".to_string(),
            self.plugin_name.clone(),
            "--plugin-dir".to_string(),
            "/run/docker/plugins".to_string(),
            "--datapath".to_string(),
            "netdev".to_string(),
        ];
        let extra_env: Vec<String> = self
            .options
            .driver_env
            .iter()
            .map(|(name, value)| format!(" {name}={value}"))
            .collect();
        let _ = writeln!(
            log,
            "==== [e2e harness] driver start #{start_number}: {} {} (RUST_LOG={}{})",
            self.driver_bin.display(),
            args.join(" "),
            self.options.driver_log_filter,
            extra_env.concat()
        );
        let mut driver = self.ns_command(&self.driver_bin);
        driver
            .args(&args)
            .envs(self.options.driver_env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", &self.options.driver_log_filter)
            .env("RUST_BACKTRACE", "1")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|error| error.to_string())?)
            .stderr(log);
        let child = driver
            .spawn()
            .map_err(|error| format!("spawn driver: {error}"))?;
        *self
            .driver
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = Some(child);
        wait::poll(
            "the driver's plugin socket",
            STARTUP_TIMEOUT,
            Duration::from_millis(50),
            || {
                self.check_child_running(&self.driver, "driver", "driver.log")
                    .map_err(Attempt::Fatal)?;
                UnixStream::connect(&self.plugin_socket)
                    .map(drop)
                    .map_err(|error| {
                        format!("connect {}: {error}", self.plugin_socket.display()).into()
                    })
            },
        )
    }

    /// Sends `signal` to the driver and waits for it to exit (SIGKILL after 15 s). Returns its
    /// exit status, `None` if no driver was running.
    pub fn kill_driver(&self, signal: i32) -> Option<ExitStatus> {
        let mut child = self
            .driver
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .take()?;
        let pid = child.id() as i32;
        process::send_signal(pid, signal);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.note(&format!(
                        "driver (pid {pid}) got signal {signal}, exited with {status}"
                    ));
                    return Some(status);
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                _ => {
                    self.note(&format!(
                        "driver (pid {pid}) still running 15 s after signal {signal}: SIGKILL"
                    ));
                    let _ = child.kill();
                    return child.wait().ok();
                }
            }
        }
    }

    /// Reads and clears the "diagnostics already printed" flag (see [`crate::scenario`]).
    pub fn take_diagnostics_shown(&self) -> bool {
        self.diagnostics_shown.swap(false, Ordering::Relaxed)
    }

    /// Marks the diagnostics as printed, so Drop does not print them again.
    pub fn mark_diagnostics_shown(&self) {
        self.diagnostics_shown.store(true, Ordering::Relaxed);
    }

    /// Records one harness action for [`Env::diagnostics`]; with `OVS_E2E_VERBOSE` set, also
    /// prints it (with the time since the environment started) as it happens.
    fn note(&self, line: &str) {
        if std::env::var_os("OVS_E2E_VERBOSE").is_some() {
            eprintln!(
                "[e2e {} +{:.1}s] {line}",
                self.id,
                self.started_at.elapsed().as_secs_f64()
            );
        }
        let mut history = self
            .history
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if history.len() >= 25 {
            history.pop_front();
        }
        history.push_back(line.to_string());
    }

    // ---------------------------------------------------------------- diagnostics

    /// Recent harness commands and the tails of every daemon's log.
    pub fn diagnostics(&self) -> String {
        let mut text = format!(
            "==== diagnostics of test environment {} (netns {}, dir {}, up {:.0} s) ====\n",
            self.id,
            self.netns,
            self.dir.display(),
            self.started_at.elapsed().as_secs_f64()
        );
        let driver_state = if !self.options.driver {
            "not used".to_string()
        } else {
            match self.check_child_running(&self.driver, "driver", "driver.log") {
                Ok(()) => format!("running (pid {})", self.driver_pid().unwrap_or(0)),
                Err(error) => error.lines().next().unwrap_or_default().to_string(),
            }
        };
        let built = fs::metadata(&self.driver_bin)
            .and_then(|meta| meta.modified())
            .ok()
            .and_then(|time| time.elapsed().ok())
            .map_or("missing".to_string(), |age| {
                format!("built {:.0} min ago", age.as_secs_f64() / 60.0)
            });
        let _ = writeln!(
            text,
            "driver: {driver_state}; binary {} ({built})",
            self.driver_bin.display()
        );
        text.push_str("recent harness actions (oldest first):\n");
        for line in self
            .history
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .iter()
        {
            let _ = writeln!(text, "  {line}");
        }
        if self.options.driver {
            text.push_str(&logs::section(
                "driver",
                &self.dir.join("driver.log"),
                80,
                |_| true,
            ));
        }
        text.push_str(&logs::section(
            "dockerd (grpc and plugin loading noise filtered)",
            &self.dir.join("dockerd.log"),
            25,
            |line| {
                !line.contains("module=grpc")
                    && !line.contains("loading plugin")
                    && !line.contains("serving...")
            },
        ));
        text.push_str(&logs::section(
            "ovs-vswitchd",
            &self.ovs_dir.join("ovs-vswitchd.log"),
            20,
            |_| true,
        ));
        text.push_str(&logs::section(
            "ovsdb-server",
            &self.ovs_dir.join("ovsdb-server.log"),
            10,
            |_| true,
        ));
        text
    }

    /// Copies the logs to `<target>/e2e-logs/<id>/` (next to the test binaries) so they
    /// survive teardown; returns that directory.
    pub fn keep_logs(&self) -> Option<PathBuf> {
        let target = std::env::current_exe()
            .ok()?
            .parent()?
            .parent()?
            .parent()?
            .to_path_buf();
        let keep = target.join("e2e-logs").join(&self.id);
        fs::create_dir_all(&keep).ok()?;
        for (source, name) in [
            (self.dir.join("driver.log"), "driver.log"),
            (self.dir.join("dockerd.log"), "dockerd.log"),
            (self.dir.join("holder.log"), "holder.log"),
            (self.ovs_dir.join("ovs-vswitchd.log"), "ovs-vswitchd.log"),
            (self.ovs_dir.join("ovsdb-server.log"), "ovsdb-server.log"),
        ] {
            let _ = fs::copy(source, keep.join(name));
        }
        let history: Vec<String> = self
            .history
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .iter()
            .cloned()
            .collect();
        let _ = fs::write(keep.join("harness-actions.txt"), history.join("\n") + "\n");
        Some(keep)
    }

    // ---------------------------------------------------------------- teardown

    /// Removes every container and every network of our driver through docker (best effort).
    pub fn remove_docker_objects(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        let containers = self.docker(&["ps", "-aq", "--no-trunc"]);
        let ids: Vec<&str> = containers.stdout.split_whitespace().collect();
        if !containers.success() {
            problems.push(containers.describe());
        } else if !ids.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(&ids);
            let output = self.docker(&args);
            if !output.success() {
                problems.push(output.describe());
            }
        }
        let driver_filter = format!("driver={}", self.plugin_name);
        let networks = self.docker(&[
            "network",
            "ls",
            "-q",
            "--no-trunc",
            "--filter",
            &driver_filter,
        ]);
        let ids: Vec<&str> = networks.stdout.split_whitespace().collect();
        if !networks.success() {
            problems.push(networks.describe());
        } else if !ids.is_empty() {
            let mut args = vec!["network", "rm"];
            args.extend(&ids);
            let output = self.docker(&args);
            if !output.success() {
                problems.push(output.describe());
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }

    fn stop_child(slot: &Mutex<Option<Child>>, grace: Duration) -> Option<String> {
        let mut child = slot
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .take()?;
        let pid = child.id() as i32;
        if let Ok(None) = child.try_wait() {
            if grace.is_zero() {
                let _ = child.kill();
            } else {
                process::send_signal(pid, libc::SIGTERM);
                let deadline = Instant::now() + grace;
                while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                    thread::sleep(Duration::from_millis(20));
                }
                if let Ok(None) = child.try_wait() {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Some(format!("pid {pid} needed SIGKILL after {grace:?}"));
                }
            }
        }
        let _ = child.wait();
        None
    }

    fn teardown(&self) -> Vec<String> {
        let mut notes = Vec::new();
        let mut step_started = Instant::now();
        let mut timed = |notes: &mut Vec<String>, step: &str| {
            let took = step_started.elapsed();
            if took > Duration::from_secs(2) {
                notes.push(format!("{step} took {:.1} s", took.as_secs_f64()));
            }
            step_started = Instant::now();
        };
        let driver_usable = !self.options.driver || self.driver_alive() || {
            // Docker needs the driver to release endpoints; bring it back if a test killed it.
            self.driver_bin.is_file() && self.try_start_driver().is_ok()
        };
        let dockerd_alive = self.dockerd_alive();
        if dockerd_alive && driver_usable {
            if let Err(error) = self.remove_docker_objects() {
                notes.push(format!("removing docker objects: {error}"));
            }
        }
        timed(&mut notes, "removing containers and networks");
        if let Some(note) = Self::stop_child(&self.driver, Duration::from_secs(10)) {
            notes.push(format!("driver: {note}"));
        }
        timed(&mut notes, "stopping the driver");
        // Without the driver dockerd's shutdown would wait on plugin retries: kill it outright.
        let dockerd_grace = if driver_usable {
            Duration::from_secs(20)
        } else {
            Duration::ZERO
        };
        if let Some(note) = Self::stop_child(&self.dockerd, dockerd_grace) {
            notes.push(format!("dockerd: {note}"));
        }
        timed(&mut notes, "stopping dockerd");
        process::kill_container_processes(&stale::container_ids(&self.data_root));
        for daemon in ["ovs-vswitchd", "ovsdb-server"] {
            if let Some(pid) = process::read_pidfile(&self.ovs_dir.join(format!("{daemon}.pid"))) {
                if !process::terminate(pid, Duration::from_secs(10)) {
                    notes.push(format!("{daemon} (pid {pid}) did not exit"));
                }
            }
        }
        timed(&mut notes, "stopping OVS");
        Self::stop_child(&self.holder, Duration::ZERO);
        let needle = format!("{}/", self.dir.display());
        for (pid, line) in process::kill_processes_mentioning(&needle) {
            notes.push(format!("killed leftover process {pid}: {line}"));
        }
        let mut netns_del = Command::new("ip");
        netns_del.args(["netns", "del", &self.netns]);
        let output = cmd::run(netns_del, TOOL_TIMEOUT);
        if !output.success() && Path::new("/run/netns").join(&self.netns).exists() {
            notes.push(output.describe());
        }
        if self.plugin_socket.exists() {
            let _ = fs::remove_file(&self.plugin_socket);
        }
        stale::unmount_below(&self.dir);
        if let Err(error) = fs::remove_dir_all(&self.dir) {
            thread::sleep(Duration::from_millis(500));
            stale::unmount_below(&self.dir);
            if fs::remove_dir_all(&self.dir).is_err() {
                notes.push(format!("remove {}: {error}", self.dir.display()));
            }
        }
        timed(&mut notes, "removing the netns and files");
        notes
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let failing = thread::panicking();
        if failing {
            if !self.diagnostics_shown.load(Ordering::Relaxed) {
                eprintln!("{}", self.diagnostics());
            }
            if let Some(kept) = self.keep_logs() {
                eprintln!(
                    "[e2e] logs of environment {} kept in {}",
                    self.id,
                    kept.display()
                );
            }
        }
        let started = Instant::now();
        let notes = self.teardown();
        for note in &notes {
            eprintln!("[e2e] teardown of {}: {note}", self.id);
        }
        eprintln!(
            "[e2e] environment {} torn down in {:.1} s (lived {:.1} s)",
            self.id,
            started.elapsed().as_secs_f64(),
            self.started_at.elapsed().as_secs_f64()
        );
    }
}
