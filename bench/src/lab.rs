//! The Open vSwitch the benchmark runs against: a private ovsdb-server and userspace
//! ovs-vswitchd in a temp dir (started as children that die with the benchmark), or an existing
//! one named by `--ovsdb`/`--ovs-rundir`. Also the shell-outs to `ovs-vsctl`, `ovs-ofctl` and `ip`
//! that the baselines time.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// How long a daemon may take to come up on a loaded machine.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on one `ovs-vsctl` call (it waits for ovs-vswitchd unless `--no-wait`).
const VSCTL_TIMEOUT_SECS: u32 = 60;

/// A long-running child process (a daemon run in the foreground), stopped on drop.
pub struct Daemon {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Starts `command` with its output going to `log`. The child gets SIGKILL if the thread
    /// that started it dies, so call this from the main task (the thread running `block_on`),
    /// never from a blocking-pool thread that may exit while the daemon is still needed.
    pub fn spawn(name: &'static str, mut command: Command, log: &Path) -> anyhow::Result<Daemon> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        command
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Daemon {
            name,
            child,
            log: log.to_path_buf(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Fails if the process has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => bail!(
                "{} exited ({status}); log tail:\n{}",
                self.name,
                log_tail(&self.log, 15)
            ),
        }
    }

    /// Sends `signal` and waits up to `grace` for the exit, then SIGKILLs.
    pub async fn stop_with(&mut self, signal: i32, grace: Duration) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        // SAFETY: plain system call on a pid we own (not yet reaped, so not reused).
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        // SAFETY: as in `stop_with`.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last `lines` lines of a log file (for error messages).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Where the benchmark's OVS is and how to reach it.
pub struct Lab {
    /// Temp dir for OVS state, logs and the plugin socket; removed on drop unless kept.
    dir: Option<tempfile::TempDir>,
    dir_path: PathBuf,
    ovsdb_remote: String,
    rundir: PathBuf,
    datapath_type: &'static str,
    /// Stopped in reverse order on drop (vswitchd before ovsdb-server).
    daemons: Vec<Daemon>,
}

impl Lab {
    /// Starts ovsdb-server and ovs-vswitchd (userspace datapath) in a fresh temp dir. Run it
    /// inside the benchmark's private network namespace.
    pub async fn start_private() -> anyhow::Result<Lab> {
        let dir = new_temp_dir()?;
        let path = dir.path().to_path_buf();
        let mut lab = Lab {
            dir: Some(dir),
            dir_path: path.clone(),
            ovsdb_remote: format!("unix:{}", path.join("db.sock").display()),
            rundir: path.clone(),
            datapath_type: "netdev",
            daemons: Vec::new(),
        };
        let (server, _) = lab.start_ovsdb_server("ovsdb-server", "").await?;
        lab.daemons.push(server);
        lab.vsctl_no_wait(&["init"]).await?;

        let mut vswitchd = Command::new("ovs-vswitchd");
        vswitchd
            .arg(lab.ovsdb_remote.clone())
            .arg(format!(
                "--unixctl={}",
                path.join("ovs-vswitchd.ctl").display()
            ))
            .arg(format!(
                "--pidfile={}",
                path.join("ovs-vswitchd.pid").display()
            ));
        set_ovs_dirs(&mut vswitchd, &path);
        let log = path.join("ovs-vswitchd.log");
        let mut daemon = Daemon::spawn("ovs-vswitchd", vswitchd, &log)?;
        wait_for_socket(&mut daemon, &path.join("ovs-vswitchd.ctl")).await?;
        lab.daemons.push(daemon);
        Ok(lab)
    }

    /// The pid of the private ovs-vswitchd (none with an external OVS).
    pub fn vswitchd_pid(&self) -> Option<u32> {
        self.daemons
            .iter()
            .find(|d| d.name == "ovs-vswitchd")
            .map(Daemon::pid)
    }

    /// Uses an OVS that is already running; only a temp dir (plugin socket, logs) is made.
    pub fn external(ovsdb_remote: String, rundir: PathBuf) -> anyhow::Result<Lab> {
        let dir = new_temp_dir()?;
        let kernel_datapath = Path::new("/sys/module/openvswitch").exists();
        Ok(Lab {
            dir_path: dir.path().to_path_buf(),
            dir: Some(dir),
            ovsdb_remote,
            rundir,
            datapath_type: if kernel_datapath { "system" } else { "netdev" },
            daemons: Vec::new(),
        })
    }

    /// Starts another ovsdb-server (no ovs-vswitchd attached) with a fresh database in
    /// `dir/<subdir>`; returns it and its remote.
    pub async fn start_ovsdb_server(
        &self,
        name: &'static str,
        subdir: &str,
    ) -> anyhow::Result<(Daemon, String)> {
        let dir = self.dir_path.join(subdir);
        std::fs::create_dir_all(&dir)?;
        let db = dir.join("conf.db");
        run_checked(Command::new("ovsdb-tool").args([
            "create".as_ref(),
            db.as_os_str(),
            "/usr/share/openvswitch/vswitch.ovsschema".as_ref(),
        ]))?;
        let socket = dir.join("db.sock");
        let mut server = Command::new("ovsdb-server");
        server
            .arg(&db)
            .arg(format!("--remote=punix:{}", socket.display()))
            .arg(format!(
                "--unixctl={}",
                dir.join("ovsdb-server.ctl").display()
            ))
            .arg(format!(
                "--pidfile={}",
                dir.join("ovsdb-server.pid").display()
            ));
        set_ovs_dirs(&mut server, &dir);
        let mut daemon = Daemon::spawn(name, server, &dir.join("ovsdb-server.log"))?;
        wait_for_socket(&mut daemon, &socket).await?;
        Ok((daemon, format!("unix:{}", socket.display())))
    }

    /// The temp dir (logs, plugin socket).
    pub fn dir(&self) -> &Path {
        &self.dir_path
    }

    pub fn ovsdb_remote(&self) -> &str {
        &self.ovsdb_remote
    }

    pub fn rundir(&self) -> &Path {
        &self.rundir
    }

    pub fn datapath_type(&self) -> &'static str {
        self.datapath_type
    }

    /// Keeps the temp dir after exit (for reading logs).
    pub fn keep_dir(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = dir.keep();
        }
    }

    /// The OpenFlow management socket of `bridge`, in `ovs-ofctl` target syntax.
    pub fn ofctl_target(&self, bridge: &str) -> String {
        format!(
            "unix:{}",
            self.rundir.join(format!("{bridge}.mgmt")).display()
        )
    }

    /// Fails if one of our daemons has died, with its log tail.
    pub fn check_daemons(&mut self) -> anyhow::Result<()> {
        for daemon in &mut self.daemons {
            daemon.check_running()?;
        }
        Ok(())
    }

    /// Tails of our daemons' logs, for error reports.
    pub fn log_tails(&self) -> String {
        self.daemons
            .iter()
            .map(|d| format!("--- {}:\n{}", d.log().display(), log_tail(d.log(), 10)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `ovs-vsctl ARGS` (waits until ovs-vswitchd has applied the change).
    pub async fn vsctl(&self, args: &[&str]) -> anyhow::Result<String> {
        vsctl_at(&self.ovsdb_remote, args, false).await
    }

    /// `ovs-vsctl --no-wait ARGS`.
    pub async fn vsctl_no_wait(&self, args: &[&str]) -> anyhow::Result<String> {
        vsctl_at(&self.ovsdb_remote, args, true).await
    }

    /// Waits until ovs-vswitchd has applied every change made to OVSDB so far: the driver
    /// does not wait for it to attach ports, so it may still be working through a backlog.
    pub async fn settle(&self) -> anyhow::Result<()> {
        let stamp = format!(
            "external_ids:ovs-bench-settled={}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        self.vsctl(&["set", "Open_vSwitch", ".", &stamp]).await?;
        Ok(())
    }

    /// Whether the daemons are ours (started by [`Lab::start_private`]).
    pub fn is_private(&self) -> bool {
        !self.daemons.is_empty()
    }

    /// Creates a bridge with this OVS's datapath type and waits until ovs-vswitchd has it.
    pub async fn add_bridge(&self, name: &str) -> anyhow::Result<()> {
        let datapath = format!("datapath_type={}", self.datapath_type);
        self.vsctl(&["add-br", name, "--", "set", "bridge", name, &datapath])
            .await?;
        Ok(())
    }

    /// Deletes a bridge (and its ports) if it exists.
    pub async fn del_bridge(&self, name: &str) -> anyhow::Result<()> {
        self.vsctl(&["--if-exists", "del-br", name]).await?;
        Ok(())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        while let Some(daemon) = self.daemons.pop() {
            drop(daemon);
        }
    }
}

/// `ovs-vsctl --db=REMOTE [--no-wait] ARGS`.
pub async fn vsctl_at(remote: &str, args: &[&str], no_wait: bool) -> anyhow::Result<String> {
    let mut all = vec![
        format!("--db={remote}"),
        format!("--timeout={VSCTL_TIMEOUT_SECS}"),
    ];
    if no_wait {
        all.push("--no-wait".into());
    }
    all.extend(args.iter().map(|a| a.to_string()));
    run_tool("ovs-vsctl", &all).await
}

fn new_temp_dir() -> anyhow::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("ovs-bench-")
        .tempdir()
        .context("creating a temp dir")
}

fn set_ovs_dirs(command: &mut Command, dir: &Path) {
    command
        .env("OVS_RUNDIR", dir)
        .env("OVS_DBDIR", dir)
        .env("OVS_LOGDIR", dir)
        .env("OVS_SYSCONFDIR", dir);
}

async fn wait_for_socket(daemon: &mut Daemon, socket: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        daemon.check_running()?;
        if std::os::unix::net::UnixStream::connect(socket).is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "{} did not open {} within {STARTUP_TIMEOUT:?}; log tail:\n{}",
                daemon.name,
                socket.display(),
                log_tail(daemon.log(), 15)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn run_checked(command: &mut Command) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// Runs a tool to completion and returns its stdout; fails with its stderr.
pub async fn run_tool<S: AsRef<std::ffi::OsStr>>(
    program: &str,
    args: &[S],
) -> anyhow::Result<String> {
    let output = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("running {program}"))?;
    if !output.status.success() {
        let shown: Vec<String> = args
            .iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect();
        bail!(
            "`{program} {}` failed ({}): {}",
            shown.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
