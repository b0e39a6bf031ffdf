//! Collector tasks. Each talks to one daemon and sends [`Update`]s to the UI over a bounded
//! channel (a slow UI slows the collectors down instead of queueing samples without limit):
//!
//! - OVSDB: one monitor (pushed changes, no polling) of Open_vSwitch, Bridge, Port, Interface
//!   and Controller; the `ovsdb` crate reconnects and re-sends the full state.
//! - OpenFlow: one poller per bridge on `<rundir>/<bridge>.mgmt`, flow and port statistics every
//!   refresh interval; started and stopped as bridges come and go.
//! - unixctl: `fdb/show` of every bridge, and `ofproto/trace` on request.
//! - Docker: network and container names.
//!
//! All of them only read: no flow_mod, no SET_CONFIG, no OVSDB transaction.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use openflow::{FlowFilter, Switch};
use ovsdb::vswitch::{Vswitch, DATABASE};
use ovsdb::{Client, ClientOptions, MonitorRequest, Remote, TlsConfig};
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::docker::Docker;
use crate::flows::FlowSample;
use crate::state::{Conn, Update};
use crate::unixctl::Unixctl;

/// Where the daemons are and how often to poll.
#[derive(Debug, Clone)]
pub struct Config {
    pub ovsdb: Remote,
    /// Certificates for an `ssl:` OVSDB remote.
    pub tls: Option<TlsConfig>,
    pub rundir: PathBuf,
    /// The vswitchd control socket, when named instead of looked for in `rundir`.
    pub unixctl: Option<PathBuf>,
    /// `None`: no Docker names.
    pub docker_host: Option<String>,
    pub refresh: Duration,
}

/// The tables and columns the TUI monitors.
pub fn monitor_requests() -> BTreeMap<String, MonitorRequest> {
    let tables: [(&str, &[&str]); 5] = [
        ("Open_vSwitch", &["bridges", "ovs_version", "db_version"]),
        (
            "Bridge",
            &[
                "name",
                "ports",
                "controller",
                "datapath_type",
                "datapath_id",
                "fail_mode",
                "protocols",
                "external_ids",
            ],
        ),
        (
            "Port",
            &[
                "name",
                "interfaces",
                "tag",
                "trunks",
                "vlan_mode",
                "external_ids",
            ],
        ),
        (
            "Interface",
            &[
                "name",
                "type",
                "options",
                "ofport",
                "mac_in_use",
                "admin_state",
                "link_state",
                "mtu",
                "error",
                "external_ids",
            ],
        ),
        ("Controller", &["target", "is_connected", "role"]),
    ];
    tables
        .into_iter()
        .map(|(table, columns)| {
            (
                table.to_string(),
                MonitorRequest::columns(columns.iter().copied()),
            )
        })
        .collect()
}

/// Handles to steer the collectors.
#[derive(Debug, Clone)]
pub struct Control {
    paused: watch::Sender<bool>,
    traces: mpsc::UnboundedSender<(String, String)>,
}

impl Control {
    /// Stops or resumes polling.
    pub fn set_paused(&self, paused: bool) {
        self.paused.send_replace(paused);
    }

    /// Runs `ofproto/trace`; the answer arrives as [`Update::Trace`].
    pub fn trace(&self, bridge: String, flow: String) {
        let _ = self.traces.send((bridge, flow));
    }
}

/// Starts every collector; they stop when the returned receiver is dropped.
pub fn spawn(config: Config) -> (mpsc::Receiver<Update>, Control) {
    let (tx, rx) = mpsc::channel(64);
    let (paused_tx, paused) = watch::channel(false);
    let (traces_tx, traces) = mpsc::unbounded_channel();
    let (bridges_tx, bridges) = watch::channel(BTreeSet::new());
    tokio::spawn(run_ovsdb(
        config.ovsdb.clone(),
        config.tls.clone(),
        tx.clone(),
        bridges_tx,
    ));
    tokio::spawn(run_openflow(
        config.rundir.clone(),
        config.refresh,
        tx.clone(),
        bridges.clone(),
        paused.clone(),
    ));
    tokio::spawn(run_unixctl(
        Unixctl::new(&config.rundir).with_socket(config.unixctl.clone()),
        config.refresh,
        tx.clone(),
        bridges,
        paused,
        traces,
    ));
    match config.docker_host.as_deref().map(Docker::new) {
        Some(Ok(docker)) => {
            tokio::spawn(run_docker(
                docker,
                config.refresh.max(Duration::from_secs(2)),
                tx,
            ));
        }
        Some(Err(error)) => {
            let _ = tx.try_send(Update::DockerStatus(Conn::Down(error.to_string())));
        }
        None => {
            let _ = tx.try_send(Update::DockerStatus(Conn::Off));
        }
    }
    (
        rx,
        Control {
            paused: paused_tx,
            traces: traces_tx,
        },
    )
}

async fn run_ovsdb(
    remote: Remote,
    tls: Option<TlsConfig>,
    tx: mpsc::Sender<Update>,
    bridges: watch::Sender<BTreeSet<String>>,
) {
    let options = ClientOptions {
        tls,
        ..ClientOptions::default()
    };
    let client = Client::start(remote, options);
    tokio::spawn(watch_ovsdb_connection(client.clone(), tx.clone()));
    let mut replica = Vswitch::default();
    let mut monitor_number = 0u64;
    loop {
        monitor_number += 1;
        let id = json!(format!("ovsctl-tui-{monitor_number}"));
        match client.monitor(DATABASE, id, monitor_requests()).await {
            Ok(mut monitor) => {
                while let Some(event) = monitor.recv().await {
                    replica.apply(&event);
                    let names: BTreeSet<String> =
                        replica.bridges.values().map(|b| b.name.clone()).collect();
                    bridges.send_if_modified(|current| {
                        let changed = *current != names;
                        *current = names;
                        changed
                    });
                    if tx.send(Update::Ovsdb(event)).await.is_err() {
                        return;
                    }
                }
            }
            Err(error) => {
                tracing::debug!(%error, "ovsdb monitor");
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn watch_ovsdb_connection(client: Client, tx: mpsc::Sender<Update>) {
    let mut last = None;
    let mut was_up = false;
    loop {
        let conn = if client.is_connected() {
            was_up = true;
            Conn::Up
        } else {
            match client.connection_error() {
                Some(reason) if !reason.is_empty() => Conn::Down(reason),
                _ if was_up => Conn::Down("connection lost".to_string()),
                _ => Conn::Connecting,
            }
        };
        if last.as_ref() != Some(&conn) {
            tracing::info!(?conn, "ovsdb connection");
            last = Some(conn.clone());
            if tx.send(Update::OvsdbStatus(conn)).await.is_err() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn run_openflow(
    rundir: PathBuf,
    refresh: Duration,
    tx: mpsc::Sender<Update>,
    mut bridges: watch::Receiver<BTreeSet<String>>,
    paused: watch::Receiver<bool>,
) {
    let mut pollers: HashMap<String, JoinHandle<()>> = HashMap::new();
    loop {
        let wanted = bridges.borrow_and_update().clone();
        pollers.retain(|bridge, task| {
            let keep = wanted.contains(bridge);
            if !keep {
                task.abort();
            }
            keep
        });
        for bridge in wanted {
            if let std::collections::hash_map::Entry::Vacant(slot) = pollers.entry(bridge) {
                let bridge = slot.key().clone();
                slot.insert(tokio::spawn(poll_bridge(
                    bridge,
                    rundir.clone(),
                    refresh,
                    tx.clone(),
                    paused.clone(),
                )));
            }
        }
        if bridges.changed().await.is_err() || tx.is_closed() {
            break;
        }
    }
    for task in pollers.values() {
        task.abort();
    }
}

/// Options for a read-only OpenFlow connection: no SET_CONFIG (the switch configuration stays
/// as it is), short timeouts so that a dead vswitchd shows quickly.
pub fn openflow_options(refresh: Duration) -> openflow::Options {
    openflow::Options {
        miss_send_len: None,
        request_timeout: Duration::from_secs(10).max(refresh * 2),
        connect_timeout: Duration::from_secs(3),
        backoff_max: Duration::from_secs(2),
        ..openflow::Options::default()
    }
}

/// Connects to a bridge's management socket.
pub fn connect_bridge(
    rundir: &std::path::Path,
    bridge: &str,
    refresh: Duration,
) -> Result<Switch, openflow::Error> {
    let target = format!("unix:{}", rundir.join(format!("{bridge}.mgmt")).display());
    Switch::connect(&target, openflow_options(refresh))
}

async fn poll_bridge(
    bridge: String,
    rundir: PathBuf,
    refresh: Duration,
    tx: mpsc::Sender<Update>,
    paused: watch::Receiver<bool>,
) {
    let status = |status| Update::OpenFlowStatus {
        bridge: bridge.clone(),
        status,
    };
    let switch = match connect_bridge(&rundir, &bridge, refresh) {
        Ok(switch) => switch,
        Err(error) => {
            let _ = tx.send(status(Conn::Down(error.to_string()))).await;
            return;
        }
    };
    let mut interval = tokio::time::interval(refresh);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = None;
    loop {
        interval.tick().await;
        if *paused.borrow() {
            continue;
        }
        let result = poll_once(&switch, &bridge, refresh, &tx).await;
        let conn = match result {
            Ok(()) => Conn::Up,
            Err(error) => Conn::Down(error),
        };
        if last.as_ref() != Some(&conn) {
            last = Some(conn.clone());
            if tx.send(status(conn)).await.is_err() {
                return;
            }
        }
        if tx.is_closed() {
            return;
        }
    }
}

async fn poll_once(
    switch: &Switch,
    bridge: &str,
    refresh: Duration,
    tx: &mpsc::Sender<Update>,
) -> Result<(), String> {
    if !switch.is_connected() {
        switch
            .wait_connected(refresh.max(Duration::from_millis(500)))
            .await
            .map_err(|e| e.to_string())?;
    }
    let at = Instant::now();
    let stats = switch
        .flow_stats(FlowFilter::all())
        .await
        .map_err(|e| e.to_string())?;
    let flows: Vec<FlowSample> = stats.iter().map(FlowSample::from).collect();
    drop(stats);
    let _ = tx
        .send(Update::Flows {
            bridge: bridge.to_string(),
            at,
            flows,
        })
        .await;
    let at = Instant::now();
    let ports = switch.port_stats().await.map_err(|e| e.to_string())?;
    let _ = tx
        .send(Update::Ports {
            bridge: bridge.to_string(),
            at,
            ports,
        })
        .await;
    Ok(())
}

async fn run_unixctl(
    unixctl: Unixctl,
    refresh: Duration,
    tx: mpsc::Sender<Update>,
    bridges: watch::Receiver<BTreeSet<String>>,
    paused: watch::Receiver<bool>,
    mut traces: mpsc::UnboundedReceiver<(String, String)>,
) {
    let mut interval = tokio::time::interval(refresh.max(Duration::from_secs(2)));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = None;
    loop {
        tokio::select! {
            request = traces.recv() => {
                let Some((bridge, flow)) = request else { return };
                let unixctl = unixctl.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let result = unixctl.trace(&bridge, &flow).await.map_err(|e| e.to_string());
                    let _ = tx.send(Update::Trace(result)).await;
                });
            }
            _ = interval.tick() => {
                if *paused.borrow() {
                    continue;
                }
                let names: Vec<String> = bridges.borrow().iter().cloned().collect();
                let mut conn = Conn::Up;
                for bridge in names {
                    match unixctl.fdb_show(&bridge).await {
                        Ok(text) => {
                            let _ = tx.send(Update::Fdb { bridge, text }).await;
                        }
                        Err(crate::unixctl::UnixctlError::Remote(error)) => {
                            let _ = tx.send(Update::Fdb { bridge, text: error }).await;
                        }
                        Err(error) => {
                            conn = Conn::Down(error.to_string());
                            break;
                        }
                    }
                }
                if last.as_ref() != Some(&conn) {
                    last = Some(conn.clone());
                    if tx.send(Update::UnixctlStatus(conn)).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

async fn run_docker(docker: Docker, every: Duration, tx: mpsc::Sender<Update>) {
    let mut last = None;
    loop {
        let conn = match docker.names().await {
            Ok(names) => {
                if tx.send(Update::Docker(names)).await.is_err() {
                    return;
                }
                Conn::Up
            }
            Err(error) => Conn::Down(error.to_string()),
        };
        if last.as_ref() != Some(&conn) {
            tracing::info!(?conn, "docker connection");
            last = Some(conn.clone());
            if tx.send(Update::DockerStatus(conn)).await.is_err() {
                return;
            }
        }
        tokio::time::sleep(every).await;
    }
}
