//! Our driver as a child process on a private plugin socket: start, wait until it answers,
//! memory use, SIGKILL or clean stop.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::lab::{log_tail, Daemon, Lab};
use crate::plugin::PluginClient;

/// How long the driver may take to answer after its start on a loaded machine.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Where and how to start the driver.
#[derive(Debug, Clone)]
pub struct DriverSetup {
    pub binary: PathBuf,
    /// `RUST_LOG` of the driver.
    pub log_filter: String,
}

impl DriverSetup {
    /// The driver binary: `explicit` if given, else `ovs-driver` next to this executable (the
    /// same cargo target dir and profile).
    pub fn locate(explicit: Option<PathBuf>, log_filter: String) -> anyhow::Result<DriverSetup> {
        let binary = match explicit {
            Some(path) => path,
            None => std::env::current_exe()
                .context("locating ovs-bench")?
                .with_file_name("ovs-driver"),
        };
        Ok(DriverSetup { binary, log_filter })
    }
}

/// A running driver.
pub struct DriverProcess {
    daemon: Daemon,
    socket: PathBuf,
}

impl DriverProcess {
    /// Starts the driver on `<lab dir>/plugins/<name>.sock` and waits until `Plugin.Activate`
    /// answers. Call from the main task (see [`Daemon::spawn`]).
    pub async fn start(setup: &DriverSetup, lab: &Lab) -> anyhow::Result<DriverProcess> {
        let mut driver = DriverProcess::spawn(setup, lab)?;
        driver.wait_answering(STARTUP_TIMEOUT).await?;
        Ok(driver)
    }

    /// Starts the driver without waiting for it.
    pub fn spawn(setup: &DriverSetup, lab: &Lab) -> anyhow::Result<DriverProcess> {
        if !setup.binary.is_file() {
            bail!(
                "driver binary {} not found: build it first (`cargo build --release -p ovs-driver \
                 -p ovs-bench`) or pass --driver-bin / set OVS_DRIVER_BIN",
                setup.binary.display()
            );
        }
        let plugin_dir = lab.dir().join("plugins");
        let plugin_name = format!("ovsbench{}", std::process::id());
        let mut command = Command::new(&setup.binary);
        command
            .arg("--ovsdb")
            .arg(lab.ovsdb_remote())
            .arg("--ovs-rundir")
            .arg(lab.rundir())
            .arg("--plugin-name")
            .arg(&plugin_name)
            .arg("--plugin-dir")
            .arg(&plugin_dir)
            .arg("--datapath")
            .arg(lab.datapath_type())
            .env("RUST_LOG", &setup.log_filter)
            .env("NO_COLOR", "1");
        let daemon = Daemon::spawn("ovs-driver", command, &lab.dir().join("driver.log"))?;
        Ok(DriverProcess {
            daemon,
            socket: plugin_dir.join(format!("{plugin_name}.sock")),
        })
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// Whether `Plugin.Activate` gets an answer now (fresh connection).
    pub async fn answers(&mut self) -> anyhow::Result<bool> {
        self.daemon.check_running()?;
        let Ok(mut client) = PluginClient::connect(&self.socket).await else {
            return Ok(false);
        };
        Ok(client
            .call("Plugin.Activate", &serde_json::json!({}))
            .await
            .is_ok())
    }

    /// Polls [`DriverProcess::answers`] until true.
    pub async fn wait_answering(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while !self.answers().await? {
            if Instant::now() >= deadline {
                bail!(
                    "the driver did not answer on {} within {timeout:?}; log tail:\n{}",
                    self.socket.display(),
                    log_tail(self.daemon.log(), 15)
                );
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(())
    }

    /// Resident memory of the driver process (VmRSS), in MiB.
    pub fn rss_mib(&self) -> anyhow::Result<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .context("reading the driver's /proc status")?;
        parse_vm_rss_kib(&status)
            .map(|kib| kib as f64 / 1024.0)
            .context("no VmRSS line in the driver's /proc status")
    }

    /// The tail of the driver log (for error reports).
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(self.daemon.log(), lines)
    }

    /// Starts a new driver process in place of this (stopped) one, without waiting for it.
    pub fn respawn(&mut self, setup: &DriverSetup, lab: &Lab) -> anyhow::Result<()> {
        *self = DriverProcess::spawn(setup, lab)?;
        Ok(())
    }

    /// SIGKILLs the driver and reaps it.
    pub async fn kill(&mut self) {
        self.daemon
            .stop_with(libc::SIGKILL, Duration::from_secs(10))
            .await;
    }

    /// SIGTERM (clean shutdown), SIGKILL after 10 s.
    pub async fn stop(&mut self) {
        self.daemon
            .stop_with(libc::SIGTERM, Duration::from_secs(10))
            .await;
    }
}

/// The `VmRSS:` value of a `/proc/PID/status` text, in KiB.
fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_rss() {
        let status = "Name:\tovs-driver\nVmPeak:\t  99999 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss_kib(status), Some(12345));
        assert_eq!(parse_vm_rss_kib("Name:\tx\n"), None);
    }

    #[test]
    fn reads_our_own_rss() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        assert!(parse_vm_rss_kib(&status).unwrap() > 0);
    }
}
