//! Everything the TUI knows, kept up to date from collector [`Update`]s: the OVSDB replica and
//! the Docker-aware [`Inventory`] built from it, flows and port counters per bridge with rates,
//! and the state of every connection. Pure: no I/O, no terminal.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use openflow::PortStats;
use ovsdb::vswitch::Vswitch;
use ovsdb::MonitorEvent;

use crate::cookie::CookieOwner;
use crate::flows::{FlowRow, FlowSample};
use crate::model::{DockerNames, Inventory, OwnerNames};
use crate::rates::{per_second, seconds_between, History};

/// OpenFlow number of the bridge's LOCAL port; OVSDB calls it 65534.
pub const OFPP_LOCAL: u32 = 0xffff_fffe;

/// State of one connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Conn {
    #[default]
    Connecting,
    Up,
    Down(String),
    /// Not configured (e.g. no Docker host).
    Off,
}

impl Conn {
    pub fn is_up(&self) -> bool {
        *self == Conn::Up
    }

    pub fn label(&self) -> &'static str {
        match self {
            Conn::Connecting => "connecting",
            Conn::Up => "up",
            Conn::Down(_) => "down",
            Conn::Off => "off",
        }
    }
}

/// A message from a collector task.
#[derive(Debug, Clone)]
pub enum Update {
    Ovsdb(MonitorEvent),
    OvsdbStatus(Conn),
    Docker(DockerNames),
    DockerStatus(Conn),
    /// One flow-stats sample of a bridge.
    Flows {
        bridge: String,
        at: Instant,
        flows: Vec<FlowSample>,
    },
    /// One port-stats sample of a bridge.
    Ports {
        bridge: String,
        at: Instant,
        ports: Vec<PortStats>,
    },
    OpenFlowStatus {
        bridge: String,
        status: Conn,
    },
    /// Reachability of the vswitchd unixctl socket.
    UnixctlStatus(Conn),
    /// `fdb/show` of a bridge.
    Fdb {
        bridge: String,
        text: String,
    },
    /// The answer to a trace request.
    Trace(Result<String, String>),
    /// A failure worth showing on the status line.
    Error(String),
}

/// Counters and rates of one port.
#[derive(Debug, Clone, Default)]
pub struct PortCounters {
    pub stats: Option<PortStats>,
    pub at: Option<Instant>,
    pub rx_pps: f64,
    pub tx_pps: f64,
    /// Bytes per second.
    pub rx_bps: f64,
    pub tx_bps: f64,
    /// Packets per second, received plus sent, one entry per sample.
    pub history: History,
}

impl PortCounters {
    pub fn drops(&self) -> u64 {
        self.stats
            .as_ref()
            .map_or(0, |s| s.rx_dropped.saturating_add(s.tx_dropped))
    }

    fn record(&mut self, at: Instant, stats: PortStats) {
        if let (Some(previous), Some(then)) = (&self.stats, self.at) {
            let dt = seconds_between(then, at);
            self.rx_pps = per_second(previous.rx_packets, stats.rx_packets, dt);
            self.tx_pps = per_second(previous.tx_packets, stats.tx_packets, dt);
            self.rx_bps = per_second(previous.rx_bytes, stats.rx_bytes, dt);
            self.tx_bps = per_second(previous.tx_bytes, stats.tx_bytes, dt);
            self.history
                .push((self.rx_pps + self.tx_pps).round() as u64);
        }
        self.stats = Some(stats);
        self.at = Some(at);
    }
}

/// The flows of one bridge at the last sample.
#[derive(Debug, Clone, Default)]
pub struct BridgeFlows {
    pub at: Option<Instant>,
    pub rows: Vec<FlowRow>,
}

/// Connection states and the last error.
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub ovsdb: Conn,
    pub docker: Conn,
    pub docker_seen: bool,
    pub unixctl: Conn,
    pub openflow: BTreeMap<String, Conn>,
    pub last_error: Option<String>,
}

impl Status {
    /// Bridges whose management socket cannot be reached.
    pub fn openflow_down(&self) -> Vec<(&str, &str)> {
        self.openflow
            .iter()
            .filter_map(|(bridge, conn)| match conn {
                Conn::Down(reason) => Some((bridge.as_str(), reason.as_str())),
                _ => None,
            })
            .collect()
    }

    /// One-line warnings about daemons that are gone, most important first.
    pub fn banners(&self) -> Vec<String> {
        let mut banners = Vec::new();
        if let Conn::Down(reason) = &self.ovsdb {
            banners.push(format!(
                "ovsdb-server unreachable, reconnecting; last known state shown: {reason}"
            ));
        }
        let down = self.openflow_down();
        if let Some((bridge, reason)) = down.first() {
            let more = match down.len() {
                1 => String::new(),
                n => format!(" and {} more", n - 1),
            };
            banners.push(format!(
                "ovs-vswitchd unreachable on {bridge}.mgmt{more}, reconnecting; counters frozen: {reason}"
            ));
        } else if let Conn::Down(reason) = &self.unixctl {
            banners.push(format!(
                "ovs-vswitchd control socket unreachable; no trace or fdb: {reason}"
            ));
        }
        if self.docker_seen {
            if let Conn::Down(reason) = &self.docker {
                banners.push(format!(
                    "Docker unreachable, reconnecting; names may be stale: {reason}"
                ));
            }
        }
        banners
    }
}

/// Everything the views show.
#[derive(Debug, Default)]
pub struct State {
    pub vswitch: Vswitch,
    pub names: DockerNames,
    pub inventory: Inventory,
    pub owners: OwnerNames,
    pub flows: BTreeMap<String, BridgeFlows>,
    /// Port counters by bridge and OVSDB ofport.
    pub ports: HashMap<String, BTreeMap<i64, PortCounters>>,
    pub fdb: HashMap<String, String>,
    pub status: Status,
    /// While paused, samples are dropped and the inventory is not rebuilt.
    pub paused: bool,
    inventory_stale: bool,
    /// Incremented whenever something the lists show changed.
    pub generation: u64,
}

impl State {
    /// Applies one update; returns whether anything shown changed.
    pub fn apply(&mut self, update: Update) -> bool {
        match update {
            Update::Ovsdb(event) => {
                self.vswitch.apply(&event);
                self.inventory_stale = true;
                self.rebuild_if_live();
            }
            Update::OvsdbStatus(conn) => self.status.ovsdb = conn,
            Update::Docker(names) => {
                if names != self.names {
                    self.names = names;
                    self.inventory_stale = true;
                    self.rebuild_if_live();
                }
            }
            Update::DockerStatus(conn) => {
                self.status.docker_seen |= conn.is_up();
                self.status.docker = conn;
            }
            Update::Flows { bridge, at, flows } => {
                if self.paused {
                    return false;
                }
                self.apply_flows(bridge, at, flows);
            }
            Update::Ports { bridge, at, ports } => {
                if self.paused {
                    return false;
                }
                self.apply_ports(&bridge, at, ports);
            }
            Update::OpenFlowStatus { bridge, status } => {
                self.status.openflow.insert(bridge, status);
            }
            Update::UnixctlStatus(conn) => self.status.unixctl = conn,
            Update::Fdb { bridge, text } => {
                if self.paused {
                    return false;
                }
                self.fdb.insert(bridge, text);
            }
            Update::Error(error) => self.status.last_error = Some(error),
            // Traces are the app's business.
            Update::Trace(_) => return false,
        }
        self.generation += 1;
        true
    }

    /// Replaces the OVSDB replica wholesale (snapshots, fixtures).
    pub fn set_vswitch(&mut self, vswitch: Vswitch) {
        self.vswitch = vswitch;
        self.inventory_stale = true;
        self.rebuild_if_live();
        self.generation += 1;
    }

    /// Pauses or resumes live refresh.
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
        self.rebuild_if_live();
        self.generation += 1;
    }

    fn rebuild_if_live(&mut self) {
        if self.paused || !self.inventory_stale {
            return;
        }
        self.inventory_stale = false;
        self.inventory = Inventory::build(&self.vswitch, &self.names);
        let owners = self.inventory.owner_names();
        if owners != self.owners {
            self.owners = owners;
            for bridge in self.flows.values_mut() {
                for row in &mut bridge.rows {
                    row.owner_label = self.owners.label(row.owner);
                }
            }
        }
        let bridges: Vec<String> = self
            .inventory
            .networks
            .iter()
            .map(|n| n.bridge.clone())
            .collect();
        self.flows.retain(|bridge, _| bridges.contains(bridge));
        self.ports.retain(|bridge, _| bridges.contains(bridge));
        self.fdb.retain(|bridge, _| bridges.contains(bridge));
        self.status
            .openflow
            .retain(|bridge, _| bridges.contains(bridge));
    }

    fn apply_flows(&mut self, bridge: String, at: Instant, samples: Vec<FlowSample>) {
        let entry = self.flows.entry(bridge.clone()).or_default();
        let previous: HashMap<u64, (u64, u64, u32)> = entry
            .rows
            .iter()
            .map(|r| {
                (
                    r.sample.key,
                    (r.sample.packets, r.sample.bytes, r.sample.duration_sec),
                )
            })
            .collect();
        let dt = entry.at.map_or(0.0, |then| seconds_between(then, at));
        let owners = &self.owners;
        entry.rows = samples
            .into_iter()
            .map(|sample| {
                let owner = CookieOwner::of(sample.cookie);
                let (packets_per_second, bytes_per_second, moved) = match previous.get(&sample.key)
                {
                    // A younger flow with the same identity was deleted and re-added.
                    Some(&(packets, bytes, age)) if sample.duration_sec >= age => (
                        per_second(packets, sample.packets, dt),
                        per_second(bytes, sample.bytes, dt),
                        sample.packets > packets,
                    ),
                    _ => (0.0, 0.0, false),
                };
                FlowRow {
                    bridge: bridge.clone(),
                    owner_label: owners.label(owner),
                    owner,
                    sample,
                    packets_per_second,
                    bytes_per_second,
                    moved,
                }
            })
            .collect();
        entry.at = Some(at);
    }

    fn apply_ports(&mut self, bridge: &str, at: Instant, stats: Vec<PortStats>) {
        let ports = self.ports.entry(bridge.to_string()).or_default();
        let mut seen = Vec::with_capacity(stats.len());
        for stat in stats {
            let ofport = if stat.port_no == OFPP_LOCAL {
                65534
            } else {
                i64::from(stat.port_no)
            };
            seen.push(ofport);
            ports.entry(ofport).or_default().record(at, stat);
        }
        ports.retain(|ofport, _| seen.contains(ofport));
    }

    /// Counters of a port by bridge and ofport.
    pub fn port(&self, bridge: &str, ofport: Option<i64>) -> Option<&PortCounters> {
        self.ports.get(bridge)?.get(&ofport?)
    }

    /// Received and sent packets and bytes per second summed over a bridge's ports.
    pub fn bridge_rates(&self, bridge: &str) -> (f64, f64, f64, f64) {
        self.ports
            .get(bridge)
            .map_or((0.0, 0.0, 0.0, 0.0), |ports| {
                ports.values().fold((0.0, 0.0, 0.0, 0.0), |acc, p| {
                    (
                        acc.0 + p.rx_pps,
                        acc.1 + p.tx_pps,
                        acc.2 + p.rx_bps,
                        acc.3 + p.tx_bps,
                    )
                })
            })
    }

    /// Total number of flows sampled on a bridge.
    pub fn flow_count(&self, bridge: &str) -> usize {
        self.flows.get(bridge).map_or(0, |f| f.rows.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use ovsdb::vswitch::Bridge;
    use std::time::Duration;

    fn sample(match_text: &str, packets: u64, age: u32) -> FlowSample {
        let mut f = FlowSample::new(
            2,
            100,
            0xdc01_3f2a_9c1d_7e4b,
            match_text.to_string(),
            "output:1".into(),
        );
        f.packets = packets;
        f.bytes = packets * 100;
        f.duration_sec = age;
        f
    }

    fn flows(state: &mut State, at: Instant, samples: Vec<FlowSample>) {
        state.apply(Update::Flows {
            bridge: "br-3f2a9c1d7e4b".into(),
            at,
            flows: samples,
        });
    }

    fn row<'a>(state: &'a State, match_text: &str) -> &'a FlowRow {
        state.flows["br-3f2a9c1d7e4b"]
            .rows
            .iter()
            .find(|r| r.sample.match_text == match_text)
            .unwrap()
    }

    #[test]
    fn flow_rates_by_differencing() {
        let mut state = State::default();
        state.set_vswitch(fixtures::vswitch());
        state.apply(Update::Docker(fixtures::docker_names()));
        let t0 = Instant::now();
        flows(
            &mut state,
            t0,
            vec![
                sample("a", 100, 10),
                sample("b", 50, 10),
                sample("c", 7, 10),
            ],
        );
        assert_eq!(
            row(&state, "a").packets_per_second,
            0.0,
            "no rate from one sample"
        );
        assert!(!row(&state, "a").moved);
        flows(
            &mut state,
            t0 + Duration::from_secs(2),
            vec![
                sample("a", 300, 12),
                sample("b", 50, 12),
                sample("c", 3, 1),
                sample("d", 9, 1),
            ],
        );
        let a = row(&state, "a");
        assert_eq!(a.packets_per_second, 100.0);
        assert_eq!(a.bytes_per_second, 10_000.0);
        assert!(a.moved);
        let b = row(&state, "b");
        assert_eq!(b.packets_per_second, 0.0);
        assert!(!b.moved);
        // Replaced (younger) and new flows have no rate yet.
        assert_eq!(row(&state, "c").packets_per_second, 0.0);
        assert!(!row(&state, "c").moved);
        assert_eq!(row(&state, "d").packets_per_second, 0.0);
        assert_eq!(state.flow_count("br-3f2a9c1d7e4b"), 4);
        // The cookie names the web network.
        assert_eq!(a.owner_label, "net:web");
    }

    #[test]
    fn port_rates_history_and_local_port() {
        let mut state = State::default();
        let t0 = Instant::now();
        let stats = |port_no, rx_packets, rx_bytes| PortStats {
            port_no,
            rx_packets,
            rx_bytes,
            tx_dropped: 2,
            ..PortStats::default()
        };
        for (i, packets) in [0u64, 10, 40].into_iter().enumerate() {
            state.apply(Update::Ports {
                bridge: "br0".into(),
                at: t0 + Duration::from_secs(i as u64),
                ports: vec![stats(1, packets, packets * 60), stats(OFPP_LOCAL, 5, 5)],
            });
        }
        let port = state.port("br0", Some(1)).unwrap();
        assert_eq!(port.rx_pps, 30.0);
        assert_eq!(port.rx_bps, 1800.0);
        assert_eq!(port.history.last(10), [10, 30]);
        assert_eq!(port.drops(), 2);
        assert!(
            state.port("br0", Some(65534)).is_some(),
            "LOCAL is ofport 65534"
        );
        assert_eq!(state.bridge_rates("br0").0, 30.0);
        // A port that disappears from the stats is forgotten.
        state.apply(Update::Ports {
            bridge: "br0".into(),
            at: t0 + Duration::from_secs(3),
            ports: vec![stats(OFPP_LOCAL, 6, 6)],
        });
        assert!(state.port("br0", Some(1)).is_none());
    }

    #[test]
    fn pause_drops_samples_and_defers_the_inventory() {
        let mut state = State::default();
        state.set_vswitch(fixtures::vswitch());
        assert_eq!(state.inventory.networks.len(), 3);
        state.set_paused(true);
        let t0 = Instant::now();
        assert!(!state.apply(Update::Flows {
            bridge: "br-ext".into(),
            at: t0,
            flows: vec![sample("x", 1, 1)],
        }));
        assert_eq!(state.flow_count("br-ext"), 0);
        // OVSDB changes still reach the replica, but the views keep the old picture.
        let uuid = ovsdb::Uuid::from_u128(999);
        state.apply(Update::Ovsdb(MonitorEvent::Insert {
            table: "Bridge".into(),
            uuid,
            new: [("name".to_string(), ovsdb::Value::string("br-new"))]
                .into_iter()
                .collect(),
        }));
        assert!(state.vswitch.bridges.contains_key(&uuid));
        assert!(state.inventory.network("br-new").is_none());
        state.set_paused(false);
        assert!(state.inventory.network("br-new").is_some());
        let _ = Bridge::default();
    }

    #[test]
    fn inventory_from_the_driver_records() {
        let mut state = State::default();
        state.set_vswitch(fixtures::vswitch());
        state.apply(Update::Docker(fixtures::docker_names()));
        let inventory = &state.inventory;
        assert_eq!(inventory.ovs_version.as_deref(), Some("3.1.0"));
        let web = inventory.network("br-3f2a9c1d7e4b").unwrap();
        assert_eq!(web.network_name.as_deref(), Some("web"));
        assert!(web.managed && web.driver_owned && !web.internal);
        assert_eq!(web.subnets, ["10.20.0.0/24", "fd00:20::/64"]);
        assert_eq!(web.gateway_mac.as_deref(), Some("aa:54:0a:14:00:01"));
        assert_eq!(web.endpoints.len(), 3);
        assert_eq!(web.ports.len(), 4);
        let first = &web.endpoints[0];
        assert_eq!(first.container.as_deref(), Some("web-1"));
        assert_eq!(first.ipv4, ["10.20.0.2/24"]);
        assert_eq!(first.ipv6, ["fd00:20::2/64"]);
        assert_eq!(
            first.mac.as_deref(),
            Some("02:42:0a:14:00:02"),
            "attached-mac, not the veth's"
        );
        let db = inventory.resolve_bridge("db").unwrap();
        assert!(db.internal);
        assert_eq!(
            inventory.resolve_bridge("8c1e5a7b").unwrap().bridge,
            db.bridge
        );
        let ext = inventory.network("br-ext").unwrap();
        assert!(!ext.managed);
        assert_eq!(ext.endpoints.len(), 1, "foreign bridges list their ports");
        assert_eq!(ext.endpoints[0].label(), "eth1");
        // Without Docker the names are missing, nothing else.
        state.apply(Update::Docker(DockerNames::default()));
        let web = state.inventory.network("br-3f2a9c1d7e4b").unwrap();
        assert_eq!(web.network_name, None);
        assert_eq!(web.label(), "3f2a9c1d7e4b");
        assert_eq!(web.endpoints[0].label(), "01a1b2c3d4e5");
    }

    #[test]
    fn banners_for_daemons_that_are_gone() {
        let mut status = Status::default();
        assert!(status.banners().is_empty());
        status.ovsdb = Conn::Down("refused".into());
        status
            .openflow
            .insert("br0".into(), Conn::Down("gone".into()));
        status
            .openflow
            .insert("br1".into(), Conn::Down("gone".into()));
        status.docker = Conn::Down("no socket".into());
        let banners = status.banners();
        assert_eq!(banners.len(), 2, "Docker never seen: no banner");
        assert!(banners[0].starts_with("ovsdb-server unreachable"));
        assert!(banners[1].contains("br0.mgmt and 1 more"), "{}", banners[1]);
        status.docker_seen = true;
        assert!(status.banners()[2].starts_with("Docker unreachable"));
    }
}
