//! `ovs-driver`: serves the Docker remote network driver protocol on a unix socket and turns
//! networks into Open vSwitch bridges.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use ovs_driver::driver::{Driver, DriverConfig};
use ovs_driver::flows::openflow::OpenFlowTables;
use ovs_driver::links::netlink::NetlinkLinks;
use ovs_driver::switch::ovsdb::OvsdbSwitch;
use ovs_driver::{plugin_socket, server};
use tokio::signal::unix::{signal, SignalKind};

/// Which datapath new bridges use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Datapath {
    /// `system` when the openvswitch kernel module is loaded, else `netdev`.
    Auto,
    /// The kernel datapath.
    System,
    /// The userspace datapath of ovs-vswitchd.
    Netdev,
}

/// Docker network driver for Open vSwitch.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// OVSDB remote: unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT [default: unix:<ovs-rundir>/db.sock].
    #[arg(long, env = "OVS_DRIVER_OVSDB")]
    ovsdb: Option<String>,
    /// Directory of ovs-vswitchd's run-time files (OpenFlow <bridge>.mgmt sockets).
    #[arg(long, env = "OVS_RUNDIR", default_value = "/var/run/openvswitch")]
    ovs_rundir: PathBuf,
    /// Name Docker knows the driver by (`docker network create -d NAME`).
    #[arg(long, env = "OVS_DRIVER_PLUGIN_NAME", default_value = "ovs")]
    plugin_name: String,
    /// Directory Docker scans for plugin sockets.
    #[arg(
        long,
        env = "OVS_DRIVER_PLUGIN_DIR",
        default_value = "/run/docker/plugins"
    )]
    plugin_dir: PathBuf,
    /// Datapath of the bridges the driver creates.
    #[arg(long, env = "OVS_DRIVER_DATAPATH", value_enum, default_value_t = Datapath::Auto)]
    datapath: Datapath,
    /// Private key for ssl: OVSDB remotes (PEM).
    #[arg(long, env = "OVS_DRIVER_SSL_KEY")]
    ssl_private_key: Option<PathBuf>,
    /// Certificate for ssl: OVSDB remotes (PEM).
    #[arg(long, env = "OVS_DRIVER_SSL_CERT")]
    ssl_certificate: Option<PathBuf>,
    /// CA certificate for ssl: OVSDB remotes (PEM).
    #[arg(long, env = "OVS_DRIVER_SSL_CA")]
    ssl_ca_cert: Option<PathBuf>,
    /// Seconds an endpoint may stay unjoined before the janitor removes it (for tests).
    #[arg(long, env = "OVS_DRIVER_UNJOINED_GRACE", hide = true, value_parser = seconds)]
    unjoined_grace: Option<Duration>,
    /// Seconds between periodic repairs and janitor rounds (for tests).
    #[arg(long, env = "OVS_DRIVER_REPAIR_INTERVAL", hide = true, value_parser = seconds)]
    repair_interval: Option<Duration>,
}

impl Cli {
    /// `--ovsdb`, or like ovs-vsctl the database socket in the OVS run directory.
    fn ovsdb_remote(&self) -> String {
        self.ovsdb.clone().unwrap_or_else(|| {
            ovsdb::remote::Remote::in_run_directory(&self.ovs_rundir).to_string()
        })
    }
}

/// A positive number of seconds, fractions allowed.
fn seconds(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<f64>() {
        Ok(value) if value.is_finite() && value > 0.0 && value < 1e9 => {
            Ok(Duration::from_secs_f64(value))
        }
        _ => Err(format!("{text:?} is not a positive number of seconds")),
    }
}

/// Where the kernel shows the openvswitch module when it is loaded (or built in).
const KERNEL_MODULE: &str = "/sys/module/openvswitch";

fn datapath_type(datapath: Datapath) -> &'static str {
    datapath_type_with(datapath, std::path::Path::new(KERNEL_MODULE))
}

fn datapath_type_with(datapath: Datapath, kernel_module: &std::path::Path) -> &'static str {
    match datapath {
        Datapath::System => "system",
        Datapath::Netdev => "netdev",
        Datapath::Auto if kernel_module.exists() => "system",
        Datapath::Auto => "netdev",
    }
}

/// How often, by default, every network is checked even when nothing signalled a problem.
const REPAIR_INTERVAL: Duration = Duration::from_secs(10);
/// How soon a failed repair is retried.
const REPAIR_RETRY: Duration = Duration::from_secs(1);

/// Keeps the switches in line with OVSDB: at start-up (the driver may have been down while
/// things changed), whenever OVSDB or a bridge's OpenFlow connection comes back (a restarted
/// ovs-vswitchd has empty flow tables), and periodically.
async fn repair_loop(
    driver: Arc<Driver>,
    interval: Duration,
    mut ovsdb_connections: tokio::sync::watch::Receiver<u64>,
    mut switch_reconnections: tokio::sync::broadcast::Receiver<String>,
) {
    let mut next_full = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next_full) => {
                let failures = driver.reconcile_all().await;
                next_full = tokio::time::Instant::now()
                    + if failures.is_empty() { interval } else { REPAIR_RETRY.min(interval) };
            }
            changed = ovsdb_connections.changed() => {
                if changed.is_err() {
                    return;
                }
                tracing::info!("ovsdb-server connection (re)established; repairing");
                next_full = tokio::time::Instant::now();
            }
            bridge = switch_reconnections.recv() => match bridge {
                Ok(bridge) => {
                    tracing::info!(bridge, "OpenFlow connection re-established; repairing");
                    if let Err(err) = driver.reconcile_bridge(&bridge).await {
                        tracing::warn!(bridge, %err, "repair failed; retrying soon");
                        next_full = tokio::time::Instant::now() + REPAIR_RETRY;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    next_full = tokio::time::Instant::now();
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    if !ovs_driver::options::is_valid_interface_name(&cli.plugin_name) {
        anyhow::bail!(
            "--plugin-name {:?}: use letters, digits, _ . - (at most 15)",
            cli.plugin_name
        );
    }

    let ovsdb = cli.ovsdb_remote();
    let remote = ovsdb::remote::Remote::parse(&ovsdb).context("--ovsdb")?;
    let tls = ovsdb::remote::TlsConfig::from_paths(
        cli.ssl_private_key.as_deref(),
        cli.ssl_certificate.as_deref(),
        cli.ssl_ca_cert.as_deref(),
    )
    .and_then(|tls| ovsdb::remote::TlsConfig::for_remote(&remote, tls))
    .context("--ssl-private-key, --ssl-certificate, --ssl-ca-cert")?;
    let options = ovsdb::client::ClientOptions {
        request_timeout: Duration::from_secs(3),
        tls,
        ..Default::default()
    };
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    // Claim the plugin socket before touching OVSDB or the host's links: a driver that is
    // refused (e.g. another one serves the name) must change nothing, and its janitor would
    // take the veths the serving driver is creating for orphans.
    let (listener, socket_path) = plugin_socket::bind(&cli.plugin_dir, &cli.plugin_name)?;
    let links = match NetlinkLinks::new() {
        Ok(links) => links,
        Err(err) => {
            let _ = std::fs::remove_file(&socket_path);
            return Err(err).context("opening rtnetlink");
        }
    };
    let client = ovsdb::client::Client::start(remote, options);
    let ovsdb_connections = client.connection_events();
    let datapath_type = datapath_type(cli.datapath).to_string();
    tracing::info!(
        ovsdb,
        rundir = %cli.ovs_rundir.display(),
        datapath_type,
        "starting"
    );
    let flow_tables = Arc::new(OpenFlowTables::new(cli.ovs_rundir.clone()));
    let switch_reconnections = flow_tables.reconnections();
    let driver = Arc::new(Driver::new(
        Arc::new(OvsdbSwitch::new(client)),
        Arc::new(links),
        flow_tables,
        {
            let defaults = DriverConfig::default();
            DriverConfig {
                datapath_type,
                unjoined_grace: cli.unjoined_grace.unwrap_or(defaults.unjoined_grace),
                ..defaults
            }
        },
    ));
    tokio::spawn(repair_loop(
        driver.clone(),
        cli.repair_interval.unwrap_or(REPAIR_INTERVAL),
        ovsdb_connections,
        switch_reconnections,
    ));

    tracing::info!(socket = %socket_path.display(), "serving Docker plugin requests");
    let shutdown = async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        tracing::info!("shutting down");
    };
    server::serve(listener, driver, shutdown).await;
    if let Err(err) = std::fs::remove_file(&socket_path) {
        tracing::warn!(%err, "could not remove {}", socket_path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_datapath_follows_the_kernel_module() {
        let dir = tempfile::tempdir().unwrap();
        let module = dir.path().join("openvswitch");
        assert_eq!(datapath_type_with(Datapath::Auto, &module), "netdev");
        std::fs::create_dir(&module).unwrap();
        assert_eq!(datapath_type_with(Datapath::Auto, &module), "system");
        assert_eq!(datapath_type_with(Datapath::Netdev, &module), "netdev");
        assert_eq!(datapath_type_with(Datapath::System, dir.path()), "system");
    }

    /// Every flag can come from its environment variable, and a flag beats the variable. The
    /// only test in this binary that touches the environment, so nothing races it.
    #[test]
    fn flags_read_their_environment_variables() {
        let defaults = Cli::try_parse_from(["ovs-driver"]).unwrap();
        assert_eq!(defaults.plugin_name, "ovs");
        assert_eq!(defaults.ovsdb_remote(), "unix:/var/run/openvswitch/db.sock");
        let rundir = Cli::try_parse_from(["ovs-driver", "--ovs-rundir", "/srv/ovs"]).unwrap();
        assert_eq!(rundir.ovsdb_remote(), "unix:/srv/ovs/db.sock");
        let settings = [
            ("OVS_DRIVER_OVSDB", "tcp:127.0.0.1:6640"),
            ("OVS_RUNDIR", "/tmp/ovs-run"),
            ("OVS_DRIVER_PLUGIN_NAME", "ovs2"),
            ("OVS_DRIVER_PLUGIN_DIR", "/tmp/plugins"),
            ("OVS_DRIVER_DATAPATH", "netdev"),
            ("OVS_DRIVER_SSL_KEY", "/k.pem"),
            ("OVS_DRIVER_SSL_CERT", "/c.pem"),
            ("OVS_DRIVER_SSL_CA", "/ca.pem"),
        ];
        for (name, value) in settings {
            std::env::set_var(name, value);
        }
        let from_env = Cli::try_parse_from(["ovs-driver"]);
        let overridden = Cli::try_parse_from(["ovs-driver", "--plugin-name", "flag"]);
        for (name, _) in settings {
            std::env::remove_var(name);
        }
        let cli = from_env.unwrap();
        assert_eq!(cli.ovsdb_remote(), "tcp:127.0.0.1:6640");
        assert_eq!(cli.ovs_rundir, PathBuf::from("/tmp/ovs-run"));
        assert_eq!(cli.plugin_name, "ovs2");
        assert_eq!(cli.plugin_dir, PathBuf::from("/tmp/plugins"));
        assert_eq!(datapath_type(cli.datapath), "netdev");
        assert_eq!(cli.ssl_private_key, Some(PathBuf::from("/k.pem")));
        assert_eq!(cli.ssl_certificate, Some(PathBuf::from("/c.pem")));
        assert_eq!(cli.ssl_ca_cert, Some(PathBuf::from("/ca.pem")));
        assert_eq!(overridden.unwrap().plugin_name, "flag");
    }
}
