//! The Docker-aware picture of the switch: networks (bridges) with their endpoints and ports,
//! built from the OVSDB replica and the names Docker knows. The same model feeds the TUI and
//! the `show` subcommand; its serde names are the stable JSON field names.

use std::collections::{BTreeMap, HashMap};

use ovsdb::vswitch::{Bridge, Interface, Port, Vswitch};
use serde::Serialize;

use crate::cookie;

/// OVSDB external_ids keys written by our driver (see the driver contract).
pub mod keys {
    pub const NETWORK_ID: &str = "docker-network-id";
    pub const SUBNETS: &str = "docker-subnets";
    pub const GATEWAYS: &str = "docker-gateways";
    pub const OPTIONS: &str = "docker-options";
    pub const OWNED: &str = "docker-owned";
    pub const INTERNAL: &str = "docker-internal";
    pub const ENDPOINT_ID: &str = "docker-endpoint-id";
    pub const ATTACHED_MAC: &str = "attached-mac";
    pub const ADDRESSES: &str = "docker-addresses";
    pub const CONTAINER_IFACE: &str = "container_iface";
    pub const SANDBOX: &str = "docker-sandbox";
}

/// Names from the Docker Engine API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerNames {
    /// Network name by full network id.
    pub networks: HashMap<String, String>,
    /// Container name (without the leading `/`) by endpoint id.
    pub endpoints: HashMap<String, String>,
}

impl DockerNames {
    /// The network name for a full id, or for the 12-digit prefix a cookie carries.
    pub fn network_name(&self, id: &str) -> Option<&str> {
        if let Some(name) = self.networks.get(id) {
            return Some(name);
        }
        self.networks
            .iter()
            .find(|(full, _)| id.len() >= 12 && full.starts_with(id))
            .map(|(_, name)| name.as_str())
    }
}

/// One OVS port of a bridge (the detail pane and `show`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PortInfo {
    pub name: String,
    /// Interface type: `""` (system), `internal`, `patch`, ...
    #[serde(rename = "type")]
    pub kind: String,
    pub ofport: Option<i64>,
    pub mac: Option<String>,
    pub link_state: Option<String>,
    pub admin_state: Option<String>,
    pub mtu: Option<i64>,
    pub error: Option<String>,
    pub tag: Option<i64>,
    /// Set when the port is one of the driver's endpoints.
    pub endpoint_id: Option<String>,
}

/// A network: one bridge, with the driver's records when the driver manages it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Network {
    pub bridge: String,
    /// Full Docker network id (`docker-network-id`); `None` on bridges the driver does not use.
    pub network_id: Option<String>,
    /// The Docker network name (needs the Docker API).
    pub network_name: Option<String>,
    /// The driver uses this bridge for a network.
    pub managed: bool,
    /// The driver created the bridge (`docker-owned`).
    pub driver_owned: bool,
    pub internal: bool,
    pub subnets: Vec<String>,
    pub gateways: Vec<String>,
    pub datapath_type: String,
    pub fail_mode: Option<String>,
    /// `docker-options` as given to the driver (a JSON object), if any.
    pub options: Option<serde_json::Value>,
    /// MAC of the bridge's internal interface (the gateway), when known.
    pub gateway_mac: Option<String>,
    pub controllers: Vec<String>,
    pub endpoints: Vec<Endpoint>,
    /// Every port of the bridge, endpoints included, by name.
    pub ports: Vec<PortInfo>,
}

/// One container attachment (or, on bridges the driver does not manage, one port).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    pub bridge: String,
    pub network_id: Option<String>,
    pub network_name: Option<String>,
    pub endpoint_id: Option<String>,
    pub container: Option<String>,
    pub port: String,
    pub ofport: Option<i64>,
    pub mac: Option<String>,
    pub ipv4: Vec<String>,
    pub ipv6: Vec<String>,
    pub link_state: Option<String>,
    pub admin_state: Option<String>,
    pub mtu: Option<i64>,
    pub error: Option<String>,
    pub container_iface: Option<String>,
    pub sandbox: Option<String>,
}

impl Endpoint {
    /// The container name, else the first 12 digits of the endpoint id, else the port name.
    pub fn label(&self) -> String {
        self.container
            .clone()
            .or_else(|| self.endpoint_id.as_deref().map(cookie::id_prefix))
            .unwrap_or_else(|| self.port.clone())
    }

    /// Addresses without prefix lengths, IPv4 first.
    pub fn plain_addresses(&self) -> impl Iterator<Item = &str> {
        self.ipv4
            .iter()
            .chain(&self.ipv6)
            .map(|a| a.split('/').next().unwrap_or(a))
    }
}

impl Network {
    /// The OWNER column: `driver` (the driver made the bridge), `attached` (an existing bridge
    /// the driver uses) or `foreign`.
    pub fn owner(&self) -> &'static str {
        if self.driver_owned {
            "driver"
        } else if self.managed {
            "attached"
        } else {
            "foreign"
        }
    }

    /// The Docker network name, else the first 12 digits of its id, else `-`.
    pub fn label(&self) -> String {
        self.network_name
            .clone()
            .or_else(|| self.network_id.as_deref().map(cookie::id_prefix))
            .unwrap_or_else(|| "-".to_string())
    }
}

/// All networks and, flattened, all endpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Inventory {
    pub ovs_version: Option<String>,
    pub networks: Vec<Network>,
}

fn list(value: Option<&String>) -> Vec<String> {
    value
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn port_info(port: &Port, iface: Option<&Interface>) -> PortInfo {
    let ids = &port.external_ids;
    PortInfo {
        name: port.name.clone(),
        kind: iface.map(|i| i.r#type.clone()).unwrap_or_default(),
        ofport: iface.and_then(|i| i.ofport),
        mac: iface.and_then(|i| i.mac_in_use.clone()),
        link_state: iface.and_then(|i| i.link_state.clone()),
        admin_state: iface.and_then(|i| i.admin_state.clone()),
        mtu: iface.and_then(|i| i.mtu),
        error: iface.and_then(|i| i.error.clone()),
        tag: port.tag,
        endpoint_id: ids
            .get(keys::ENDPOINT_ID)
            .or_else(|| iface.and_then(|i| i.external_ids.get(keys::ENDPOINT_ID)))
            .cloned(),
    }
}

fn endpoint(
    network: &Network,
    port: &Port,
    iface: Option<&Interface>,
    names: &DockerNames,
) -> Endpoint {
    // The driver writes the same keys on the Port and the Interface; prefer the Interface.
    let get = |key: &str| {
        iface
            .and_then(|i| i.external_ids.get(key))
            .or_else(|| port.external_ids.get(key))
            .cloned()
    };
    let endpoint_id = get(keys::ENDPOINT_ID);
    let addresses = list(get(keys::ADDRESSES).as_ref());
    let (ipv6, ipv4): (Vec<String>, Vec<String>) =
        addresses.into_iter().partition(|a| a.contains(':'));
    Endpoint {
        bridge: network.bridge.clone(),
        network_id: get(keys::NETWORK_ID).or_else(|| network.network_id.clone()),
        network_name: network.network_name.clone(),
        container: endpoint_id
            .as_ref()
            .and_then(|id| names.endpoints.get(id).cloned()),
        endpoint_id,
        port: port.name.clone(),
        ofport: iface.and_then(|i| i.ofport),
        mac: get(keys::ATTACHED_MAC).or_else(|| iface.and_then(|i| i.mac_in_use.clone())),
        ipv4,
        ipv6,
        link_state: iface.and_then(|i| i.link_state.clone()),
        admin_state: iface.and_then(|i| i.admin_state.clone()),
        mtu: iface.and_then(|i| i.mtu),
        error: iface.and_then(|i| i.error.clone()),
        container_iface: get(keys::CONTAINER_IFACE),
        sandbox: get(keys::SANDBOX),
    }
}

fn network(vswitch: &Vswitch, bridge: &Bridge, names: &DockerNames) -> Network {
    let ids = &bridge.external_ids;
    let network_id = ids.get(keys::NETWORK_ID).cloned();
    let mut network = Network {
        bridge: bridge.name.clone(),
        network_name: network_id
            .as_deref()
            .and_then(|id| names.network_name(id))
            .map(str::to_string),
        managed: network_id.is_some(),
        network_id,
        driver_owned: ids.get(keys::OWNED).is_some_and(|v| v == "true"),
        internal: ids.get(keys::INTERNAL).is_some_and(|v| v == "true"),
        subnets: list(ids.get(keys::SUBNETS)),
        gateways: list(ids.get(keys::GATEWAYS)),
        datapath_type: bridge.datapath_type.clone(),
        fail_mode: bridge.fail_mode.clone(),
        options: ids
            .get(keys::OPTIONS)
            .and_then(|text| serde_json::from_str(text).ok()),
        gateway_mac: None,
        controllers: bridge
            .controller
            .iter()
            .filter_map(|uuid| vswitch.controllers.get(uuid))
            .map(|c| c.target.clone())
            .collect(),
        endpoints: Vec::new(),
        ports: Vec::new(),
    };
    for port in vswitch.ports_of(bridge) {
        let iface = vswitch.interfaces_of(port).into_iter().next();
        let info = port_info(port, iface);
        let is_local = port.name == bridge.name;
        if is_local {
            network.gateway_mac = info.mac.clone();
        }
        let is_endpoint = info.endpoint_id.is_some() || (!network.managed && !is_local);
        if is_endpoint {
            let endpoint = endpoint(&network, port, iface, names);
            network.endpoints.push(endpoint);
        }
        network.ports.push(info);
    }
    network
        .endpoints
        .sort_by(|a, b| (a.ofport, &a.port).cmp(&(b.ofport, &b.port)));
    network
}

impl Inventory {
    pub fn build(vswitch: &Vswitch, names: &DockerNames) -> Inventory {
        let mut networks: Vec<Network> = vswitch
            .bridges
            .values()
            .map(|bridge| network(vswitch, bridge, names))
            .collect();
        networks.sort_by(|a, b| a.bridge.cmp(&b.bridge));
        Inventory {
            ovs_version: vswitch
                .open_vswitch
                .as_ref()
                .and_then(|o| o.ovs_version.clone()),
            networks,
        }
    }

    pub fn network(&self, bridge: &str) -> Option<&Network> {
        self.networks.iter().find(|n| n.bridge == bridge)
    }

    /// Every endpoint of every network.
    pub fn endpoints(&self) -> impl Iterator<Item = &Endpoint> {
        self.networks.iter().flat_map(|n| n.endpoints.iter())
    }

    /// Labels of cookie owners: network and endpoint id prefixes to names.
    pub fn owner_names(&self) -> OwnerNames {
        let mut owners = OwnerNames::default();
        for network in &self.networks {
            if let Some(id) = &network.network_id {
                owners
                    .networks
                    .insert(cookie::id_prefix(id), network.label());
            }
            for endpoint in &network.endpoints {
                if let Some(id) = &endpoint.endpoint_id {
                    owners
                        .endpoints
                        .insert(cookie::id_prefix(id), endpoint.label());
                }
            }
        }
        owners
    }

    /// Resolves a `flows` argument: a bridge name, a Docker network name, or a network id (or a
    /// prefix of one).
    pub fn resolve_bridge(&self, name: &str) -> Option<&Network> {
        self.network(name)
            .or_else(|| {
                self.networks
                    .iter()
                    .find(|n| n.network_name.as_deref() == Some(name))
            })
            .or_else(|| {
                let matches: Vec<&Network> = self
                    .networks
                    .iter()
                    .filter(|n| {
                        n.network_id
                            .as_deref()
                            .is_some_and(|id| name.len() >= 4 && id.starts_with(name))
                    })
                    .collect();
                (matches.len() == 1).then(|| matches[0])
            })
    }
}

/// Names for the owners a cookie can designate, by 12-digit id prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnerNames {
    pub networks: BTreeMap<String, String>,
    pub endpoints: BTreeMap<String, String>,
}

impl OwnerNames {
    /// The owner column of a flow: `net:<name>`, `ep:<name>` (the id digits when there is no
    /// name), `driver:<kind>` or `-`.
    pub fn label(&self, owner: cookie::CookieOwner) -> String {
        use cookie::CookieOwner;
        match owner {
            CookieOwner::Network(_) => {
                let id = owner.id_prefix().unwrap_or_default();
                format!("net:{}", self.networks.get(&id).unwrap_or(&id))
            }
            CookieOwner::Endpoint(_) => {
                let id = owner.id_prefix().unwrap_or_default();
                format!("ep:{}", self.endpoints.get(&id).unwrap_or(&id))
            }
            CookieOwner::Driver { kind } => format!("driver:{kind}"),
            CookieOwner::Foreign => "-".to_string(),
        }
    }
}
