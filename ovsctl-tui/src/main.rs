//! `ovsctl-tui`: live terminal UI for Open vSwitch networks made by our Docker driver, and the
//! scriptable `show`, `flows` and `trace` subcommands (plus `bench`).

use std::fs::OpenOptions;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use openflow::FlowFilter;
use ovsdb::vswitch::{Vswitch, DATABASE};
use ovsdb::{Client, ClientOptions, MonitorEvent, Remote, TlsConfig};

use ovsctl_tui::collect::{self, connect_bridge, monitor_requests};
use ovsctl_tui::docker::Docker;
use ovsctl_tui::flows::FlowSample;
use ovsctl_tui::model::{DockerNames, Inventory};
use ovsctl_tui::unixctl::Unixctl;
use ovsctl_tui::{bench, output, terminal};

#[derive(Debug, Parser)]
#[command(
    name = "ovsctl-tui",
    version,
    about = "Live view of Open vSwitch networks, endpoints and flows made by the Docker driver"
)]
struct Cli {
    /// OVSDB remote (unix:PATH, tcp:HOST:PORT, ssl:HOST:PORT) [default: unix:<ovs-rundir>/db.sock].
    #[arg(long, env = "OVSCTL_TUI_OVSDB", global = true)]
    ovsdb: Option<String>,
    /// OVS run directory: `<bridge>.mgmt` OpenFlow sockets and the vswitchd control socket.
    #[arg(
        long,
        env = "OVS_RUNDIR",
        default_value = "/var/run/openvswitch",
        global = true
    )]
    ovs_rundir: PathBuf,
    /// ovs-vswitchd's control socket (like `ovs-appctl -t`), when it is not
    /// <ovs-rundir>/ovs-vswitchd.<pid>.ctl or ovs-vswitchd.ctl (e.g. ovs-vswitchd --unixctl=PATH).
    #[arg(long, env = "OVSCTL_TUI_UNIXCTL", global = true)]
    unixctl: Option<PathBuf>,
    /// Docker Engine API (unix:// socket) for network and container names; `none` to do
    /// without.
    #[arg(
        long,
        env = "DOCKER_HOST",
        default_value = "unix:///var/run/docker.sock",
        global = true
    )]
    docker_host: String,
    /// Counter polling interval in milliseconds.
    #[arg(long, env = "OVSCTL_TUI_REFRESH", default_value_t = 1000, value_parser = refresh_ms, global = true)]
    refresh: u64,
    /// Log file (the screen never gets logs); RUST_LOG sets the level.
    #[arg(long, env = "OVSCTL_TUI_LOG", global = true)]
    log_file: Option<PathBuf>,
    /// Private key for ssl: OVSDB remotes (PEM).
    #[arg(long, env = "OVSCTL_TUI_SSL_KEY", global = true)]
    ssl_private_key: Option<PathBuf>,
    /// Certificate for ssl: OVSDB remotes (PEM).
    #[arg(long, env = "OVSCTL_TUI_SSL_CERT", global = true)]
    ssl_certificate: Option<PathBuf>,
    /// CA certificate for ssl: OVSDB remotes (PEM).
    #[arg(long, env = "OVSCTL_TUI_SSL_CA", global = true)]
    ssl_ca_cert: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Networks with their endpoints (like `ovs-vsctl show`, Docker-aware).
    Show {
        /// One JSON document (its fields are listed in the README) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Flows with counters, of one bridge or network (by bridge name, Docker network name or
    /// id), or of all.
    Flows {
        /// A bridge name, a Docker network name, or a Docker network id or a unique prefix of
        /// one (at least 4 characters); every bridge when omitted.
        target: Option<String>,
        /// A JSON array of flows (its fields are listed in the README) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// `ofproto/trace BRIDGE FLOW` through the vswitchd control socket.
    Trace {
        /// The bridge to trace through.
        bridge: String,
        /// The packet, in ovs-ofctl flow syntax (e.g. `in_port=1,icmp,nw_src=10.20.0.2`).
        flow: String,
    },
    /// Frame times and memory: every view rendered to a test backend.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Flows on the synthetic bridge (or at least on the live bridge).
    #[arg(long, default_value_t = 10_000)]
    flows: usize,
    /// Frames per view (at least 1).
    #[arg(long, default_value_t = 300, value_parser = at_least_one)]
    frames: usize,
    /// Width of the test terminal, in columns.
    #[arg(long, default_value_t = 160)]
    width: u16,
    /// Height of the test terminal, in rows.
    #[arg(long, default_value_t = 48)]
    height: u16,
    /// Measure against this real bridge (with --ovsdb/--ovs-rundir) instead of synthetic data.
    #[arg(long)]
    live: Option<String>,
    /// Seconds of live measurement.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// One JSON object instead of text: `flows`, `frame_p50_ms` and `frame_p99_ms` (of the
    /// slowest view), `rss_mib`, `peak_rss_mib` and `views` (each timing).
    #[arg(long)]
    json: bool,
}

/// A count of at least 1.
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("a whole number, at least 1".into()),
    }
}

/// A polling interval of at least 100 ms.
fn refresh_ms(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(ms) if ms >= 100 => Ok(ms),
        Ok(_) => Err("at least 100 (milliseconds)".into()),
        Err(_) => Err("a whole number of milliseconds, at least 100".into()),
    }
}

impl Cli {
    fn config(&self) -> Result<collect::Config> {
        let (ovsdb, tls) = self.ovsdb()?;
        Ok(collect::Config {
            ovsdb,
            tls,
            rundir: self.ovs_rundir.clone(),
            unixctl: self.unixctl.clone(),
            docker_host: self.docker_host(),
            refresh: Duration::from_millis(self.refresh),
        })
    }

    /// The OVSDB remote (`--ovsdb`, or like ovs-vsctl the database socket in the run
    /// directory) and its TLS settings, checked before anything connects.
    fn ovsdb(&self) -> Result<(Remote, Option<TlsConfig>)> {
        let remote = match &self.ovsdb {
            Some(text) => Remote::parse(text).context("--ovsdb")?,
            None => Remote::in_run_directory(&self.ovs_rundir),
        };
        let tls = TlsConfig::from_paths(
            self.ssl_private_key.as_deref(),
            self.ssl_certificate.as_deref(),
            self.ssl_ca_cert.as_deref(),
        )
        .and_then(|tls| TlsConfig::for_remote(&remote, tls))
        .context("--ssl-private-key, --ssl-certificate, --ssl-ca-cert")?;
        Ok((remote, tls))
    }

    fn docker_host(&self) -> Option<String> {
        (self.docker_host != "none" && !self.docker_host.is_empty())
            .then(|| self.docker_host.clone())
    }
}

fn init_logging(path: Option<&Path>, interactive: bool) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let default_path;
    let path = match path {
        Some(path) => path,
        None if interactive => {
            default_path = std::env::temp_dir().join("ovsctl-tui.log");
            &default_path
        }
        // Subcommands log warnings to stderr unless told otherwise.
        None => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
                )
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .init();
            return Ok(());
        }
    };
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("open log file {}", path.display()))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Mutex::new(file))
        .init();
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let interactive = cli.command.is_none();
    init_logging(cli.log_file.as_deref(), interactive)?;
    match &cli.command {
        None => {
            tracing::info!(?cli, "starting");
            terminal::run(cli.config()?).await.context("terminal")?;
            // Collector tasks and the key reader thread need not be waited for.
            std::process::exit(0);
        }
        Some(Command::Show { json }) => {
            let inventory = load_inventory(&cli, cli.ovsdb()?).await?;
            if *json {
                let json = serde_json::to_string_pretty(&output::show_json(&inventory))?;
                emit(&format!("{json}\n"))?;
            } else {
                emit(&output::show_text(&inventory))?;
            }
        }
        Some(Command::Flows { target, json }) => flows(&cli, target.as_deref(), *json).await?,
        Some(Command::Trace { bridge, flow }) => {
            let result = Unixctl::new(&cli.ovs_rundir)
                .with_socket(cli.unixctl.clone())
                .trace(bridge, flow)
                .await
                .context("ofproto/trace")?;
            emit(&result)?;
        }
        Some(Command::Bench(args)) => run_bench(&cli, args).await?,
    }
    Ok(())
}

/// The OVSDB contents once, as a typed snapshot.
async fn load_vswitch(remote: Remote, tls: Option<TlsConfig>) -> Result<Vswitch> {
    // Like ovs-vsctl, a database socket that does not exist is an error at once, not after the
    // client's reconnect timeout.
    if let Remote::Unix(path) = &remote {
        if !path.exists() {
            bail!(
                "cannot reach ovsdb-server at {remote}: {} does not exist (see --ovsdb and \
                 --ovs-rundir)",
                path.display()
            );
        }
    }
    let options = ClientOptions {
        tls,
        ..ClientOptions::default()
    };
    let client = Client::connect(remote.clone(), options)
        .await
        .with_context(|| format!("connect to {remote}"))?;
    let mut monitor = client
        .monitor(
            DATABASE,
            serde_json::json!("ovsctl-tui-snapshot"),
            monitor_requests(),
        )
        .await
        .context("OVSDB monitor")?;
    match tokio::time::timeout(Duration::from_secs(10), monitor.recv()).await {
        Ok(Some(MonitorEvent::Initial(tables))) => Ok(Vswitch::from_tables(&tables)),
        Ok(other) => bail!("unexpected first monitor event: {other:?}"),
        Err(_) => bail!("no OVSDB snapshot within 10 s"),
    }
}

/// Docker's names, or none (with a warning) when Docker cannot be asked.
async fn load_names(cli: &Cli) -> DockerNames {
    let Some(host) = cli.docker_host() else {
        return DockerNames::default();
    };
    match Docker::new(&host) {
        Ok(docker) => match docker.names().await {
            Ok(names) => names,
            Err(error) => {
                eprintln!("warning: no Docker names ({error})");
                DockerNames::default()
            }
        },
        Err(error) => {
            eprintln!("warning: no Docker names ({error})");
            DockerNames::default()
        }
    }
}

/// OVSDB and Docker at once, for the remote and TLS settings `Cli::ovsdb` checked.
async fn load_inventory(
    cli: &Cli,
    (remote, tls): (Remote, Option<TlsConfig>),
) -> Result<Inventory> {
    let (vswitch, names) = tokio::join!(load_vswitch(remote, tls), load_names(cli));
    Ok(Inventory::build(&vswitch?, &names))
}

async fn bridge_flows(cli: &Cli, bridge: &str) -> Result<Vec<FlowSample>> {
    let refresh = Duration::from_millis(cli.refresh);
    let socket = cli.ovs_rundir.join(format!("{bridge}.mgmt"));
    if !socket.exists() {
        bail!(
            "no {} for bridge {bridge}: not a bridge of the ovs-vswitchd whose run directory is \
             {} (see --ovs-rundir)",
            socket.display(),
            cli.ovs_rundir.display()
        );
    }
    let switch = connect_bridge(&cli.ovs_rundir, bridge, refresh)
        .with_context(|| format!("OpenFlow connection to {bridge}"))?;
    switch
        .wait_connected(Duration::from_secs(5))
        .await
        .with_context(|| format!("connect to {bridge}.mgmt"))?;
    let stats = switch
        .flow_stats(FlowFilter::all())
        .await
        .with_context(|| format!("flow stats of {bridge}"))?;
    let mut flows: Vec<FlowSample> = stats.iter().map(FlowSample::from).collect();
    output::sorted(&mut flows);
    Ok(flows)
}

async fn flows(cli: &Cli, target: Option<&str>, json: bool) -> Result<()> {
    // A bad remote is an error even when an unreachable database would only be a warning.
    let ovsdb = cli.ovsdb()?;
    let inventory = match load_inventory(cli, ovsdb).await {
        Ok(inventory) => inventory,
        // Without OVSDB a bridge name still works; owners show as ids.
        Err(error) if target.is_some() => {
            eprintln!("warning: {error:#}");
            Inventory::default()
        }
        Err(error) => return Err(error),
    };
    let bridges: Vec<String> = match target {
        Some(name) => match inventory.resolve_bridge(name) {
            Some(network) => vec![network.bridge.clone()],
            None if inventory.networks.is_empty() => vec![name.to_string()],
            None => bail!("no bridge, Docker network name or network id {name:?}"),
        },
        None => inventory
            .networks
            .iter()
            .map(|n| n.bridge.clone())
            .collect(),
    };
    let mut all = Vec::new();
    for bridge in bridges {
        let flows = bridge_flows(cli, &bridge).await?;
        all.push((bridge, flows));
    }
    let owners = inventory.owner_names();
    if json {
        let json = serde_json::to_string_pretty(&output::flows_json(&all, &owners))?;
        emit(&format!("{json}\n"))
    } else {
        emit(&output::flows_text(&all, &owners))
    }
}

async fn run_bench(cli: &Cli, args: &BenchArgs) -> Result<()> {
    let (rss_before, _) = bench::memory_kib();
    let mut lines = Vec::new();
    let flows;
    let timings = match &args.live {
        None => {
            flows = bench::sample_size(args.flows).1;
            lines.push(format!(
                "synthetic: {flows} flows, {} frames per view, {}x{}",
                args.frames, args.width, args.height
            ));
            let mut timings = bench::render(args.flows, args.frames, args.width, args.height);
            let small = bench::render(args.flows, args.frames / 3 + 1, 80, 24);
            timings.extend(small.into_iter().take(4));
            timings
        }
        Some(bridge) => {
            lines.push(format!(
                "live: bridge {bridge}, at least {} flows, {} s, {}x{}",
                args.flows, args.seconds, args.width, args.height
            ));
            let report = bench::live(
                cli.config()?,
                bridge,
                args.flows,
                Duration::from_secs(args.seconds),
                args.width,
                args.height,
            )
            .await
            .map_err(anyhow::Error::msg)?;
            lines.push(format!(
                "  {} flows seen after {:.1} s; {} flow samples applied while drawing",
                report.flows,
                report.wait_for_flows.as_secs_f64(),
                report.samples_applied
            ));
            flows = report.flows;
            report.timings
        }
    };
    let (rss, peak) = bench::memory_kib();
    let mib = |kib: u64| kib as f64 / 1024.0;
    if args.json {
        let json = bench::summary_json(flows, &timings, mib(rss), mib(peak));
        return emit(&format!("{json}\n"));
    }
    let mut text = String::new();
    for line in lines {
        text += &format!("{line}\n");
    }
    for timing in &timings {
        text += &format!("  {timing}\n");
    }
    text += &format!(
        "  memory: RSS {:.1} MiB (at start {:.1} MiB), peak RSS {:.1} MiB\n",
        mib(rss),
        mib(rss_before),
        mib(peak)
    );
    emit(&text)
}

/// Writes a subcommand's output to stdout. When the reader has gone (`ovsctl-tui show | head
/// -1`), the program ends quietly with status 0, as `print!` would otherwise panic.
fn emit(text: &str) -> Result<()> {
    let written = {
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
    };
    match written {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        written => written.context("write to stdout"),
    }
}
