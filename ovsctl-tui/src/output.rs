//! Text and JSON for the scriptable subcommands. The JSON field names are stable (documented in
//! the README): `show` serializes [`Inventory`], `flows` a list of [`FlowJson`].

use std::fmt::Write as _;

use serde::Serialize;

use crate::cookie::CookieOwner;
use crate::flows::FlowSample;
use crate::model::{Inventory, OwnerNames};

/// `show` as JSON.
pub fn show_json(inventory: &Inventory) -> serde_json::Value {
    serde_json::to_value(inventory).expect("inventory serializes")
}

fn or_dash(value: Option<&str>) -> &str {
    value.filter(|v| !v.is_empty()).unwrap_or("-")
}

/// `show` as text: like `ovs-vsctl show`, with Docker's names.
pub fn show_text(inventory: &Inventory) -> String {
    let mut out = String::new();
    if let Some(version) = &inventory.ovs_version {
        let _ = writeln!(out, "ovs_version: {version}");
    }
    for n in &inventory.networks {
        let datapath = if n.datapath_type.is_empty() {
            "system"
        } else {
            &n.datapath_type
        };
        if n.managed {
            let owner = if n.driver_owned {
                "created by the driver"
            } else {
                "existing bridge"
            };
            let _ = writeln!(
                out,
                "Bridge {}  network {} ({})  {datapath}, {owner}{}",
                n.bridge,
                or_dash(n.network_name.as_deref()),
                or_dash(n.network_id.as_deref().map(|id| &id[..id.len().min(12)])),
                if n.internal { ", internal" } else { "" }
            );
            let _ = writeln!(
                out,
                "    subnets {}  gateways {}",
                if n.subnets.is_empty() {
                    "-".to_string()
                } else {
                    n.subnets.join(",")
                },
                if n.gateways.is_empty() {
                    "-".to_string()
                } else {
                    n.gateways.join(",")
                },
            );
        } else {
            let _ = writeln!(
                out,
                "Bridge {}  (not managed by the driver)  {datapath}",
                n.bridge
            );
        }
        for e in &n.endpoints {
            let addresses: Vec<&str> = e.ipv4.iter().chain(&e.ipv6).map(String::as_str).collect();
            let _ = writeln!(
                out,
                "    Endpoint {}  port {}  ofport {}  mac {}  {}  link {}{}",
                e.label(),
                e.port,
                e.ofport.map_or("-".to_string(), |p| p.to_string()),
                or_dash(e.mac.as_deref()),
                if addresses.is_empty() {
                    "-".to_string()
                } else {
                    addresses.join(",")
                },
                or_dash(e.link_state.as_deref()),
                e.error
                    .as_ref()
                    .map(|err| format!("  error: {err}"))
                    .unwrap_or_default(),
            );
        }
        for p in &n.ports {
            if p.endpoint_id.is_some() || (!n.managed && p.name != n.bridge) {
                continue;
            }
            let ofport = match p.ofport {
                Some(65534) => "LOCAL".to_string(),
                Some(o) => o.to_string(),
                None => "-".to_string(),
            };
            let _ = writeln!(
                out,
                "    Port {}  {}  ofport {ofport}  link {}{}",
                p.name,
                if p.kind.is_empty() { "system" } else { &p.kind },
                or_dash(p.link_state.as_deref()),
                p.error
                    .as_ref()
                    .map(|err| format!("  error: {err}"))
                    .unwrap_or_default(),
            );
        }
    }
    out
}

/// One flow of `flows --json`.
#[derive(Debug, Clone, Serialize)]
pub struct FlowJson<'a> {
    pub bridge: &'a str,
    pub table: u8,
    pub priority: u16,
    /// `0x…`.
    pub cookie: String,
    /// `network`, `endpoint`, `driver` or `foreign`.
    pub owner_kind: &'static str,
    /// First 12 hex digits of the owning network or endpoint id.
    pub owner_id: Option<String>,
    /// The OWNER column: `net:<name>` / `ep:<name>` with the Docker name when known, else with
    /// the 12 id digits (`net:1a2b3c4d5e6f`); `driver:<kind>` for the driver's other flows; `-`
    /// for foreign flows.
    pub owner: String,
    #[serde(rename = "match")]
    pub match_text: &'a str,
    pub actions: &'a str,
    pub packets: u64,
    pub bytes: u64,
    pub duration_sec: u32,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
}

/// Flows in ovs-ofctl order (table, then priority from high to low).
pub fn sorted(flows: &mut [FlowSample]) {
    flows.sort_by(|a, b| {
        (a.table, std::cmp::Reverse(a.priority), &a.match_text).cmp(&(
            b.table,
            std::cmp::Reverse(b.priority),
            &b.match_text,
        ))
    });
}

pub fn flows_json(bridges: &[(String, Vec<FlowSample>)], owners: &OwnerNames) -> serde_json::Value {
    let list: Vec<FlowJson> = bridges
        .iter()
        .flat_map(|(bridge, flows)| {
            flows.iter().map(move |f| {
                let owner = CookieOwner::of(f.cookie);
                FlowJson {
                    bridge,
                    table: f.table,
                    priority: f.priority,
                    cookie: format!("{:#x}", f.cookie),
                    owner_kind: owner.kind(),
                    owner_id: owner.id_prefix(),
                    owner: owners.label(owner),
                    match_text: &f.match_text,
                    actions: &f.actions_text,
                    packets: f.packets,
                    bytes: f.bytes,
                    duration_sec: f.duration_sec,
                    idle_timeout: f.idle_timeout,
                    hard_timeout: f.hard_timeout,
                }
            })
        })
        .collect();
    serde_json::to_value(list).expect("flows serialize")
}

/// `flows` as text: one header per bridge, then a line per flow.
pub fn flows_text(bridges: &[(String, Vec<FlowSample>)], owners: &OwnerNames) -> String {
    let mut out = String::new();
    for (bridge, flows) in bridges {
        let _ = writeln!(out, "{bridge}: {} flows", flows.len());
        let _ = writeln!(
            out,
            "  {:>3} {:>5} {:>10} {:>12} {:>7}  {:<16} MATCH  ACTIONS",
            "TBL", "PRIO", "PACKETS", "BYTES", "AGE", "OWNER"
        );
        for f in flows {
            let owner = owners.label(CookieOwner::of(f.cookie));
            let _ = writeln!(
                out,
                "  {:>3} {:>5} {:>10} {:>12} {:>7}  {:<16} {}  actions={}",
                f.table,
                f.priority,
                f.packets,
                f.bytes,
                crate::format::age(u64::from(f.duration_sec)),
                owner,
                if f.match_text.is_empty() {
                    "*"
                } else {
                    &f.match_text
                },
                f.actions_text
            );
        }
    }
    out
}
