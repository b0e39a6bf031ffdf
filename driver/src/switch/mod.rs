//! The driver's view of the switch configuration (OVSDB), behind a trait so domain logic runs
//! against an in-memory fake in unit tests. Records are what the driver keeps in `external_ids`;
//! the conversion to and from those maps lives here, shared by the real backend and the fake.

pub mod fake;
pub mod ovsdb;

use std::collections::BTreeMap;

use async_trait::async_trait;
use ipnet::IpNet;

use crate::naming::Mac;
use crate::options::NetworkOptions;

/// `external_ids` keys written by the driver.
pub mod keys {
    pub const NETWORK_ID: &str = "docker-network-id";
    pub const SUBNETS: &str = "docker-subnets";
    pub const GATEWAYS: &str = "docker-gateways";
    pub const OPTIONS: &str = "docker-options";
    pub const OWNED: &str = "docker-owned";
    pub const INTERNAL: &str = "docker-internal";
    pub const ENDPOINT_ID: &str = "docker-endpoint-id";
    pub const ADDRESSES: &str = "docker-addresses";
    pub const SANDBOX: &str = "docker-sandbox";
    pub const ROLE: &str = "docker-role";
    /// Keys other OVS tools (ovs-docker, OVN) read.
    pub const IFACE_ID: &str = "iface-id";
    pub const ATTACHED_MAC: &str = "attached-mac";
    pub const CONTAINER_IFACE: &str = "container_iface";
    /// Every key the driver may put on a bridge, removed when it lets go of a bridge it adopted.
    pub const BRIDGE_KEYS: [&str; 6] = [NETWORK_ID, SUBNETS, GATEWAYS, OPTIONS, OWNED, INTERNAL];
    /// The keys the driver writes on an endpoint's Port and Interface; updates replace these
    /// and leave every other key (OVN's `ovn-installed`, an operator's own) alone.
    pub const ENDPOINT_KEYS: [&str; 7] = [
        ENDPOINT_ID,
        NETWORK_ID,
        IFACE_ID,
        ATTACHED_MAC,
        ADDRESSES,
        CONTAINER_IFACE,
        SANDBOX,
    ];
}

/// Value of [`keys::ROLE`] on an uplink port.
pub const ROLE_UPLINK: &str = "uplink";

/// A Docker network as recorded on its bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRecord {
    pub network_id: String,
    pub bridge: String,
    pub subnets: Vec<IpNet>,
    /// Gateway addresses with the subnet's prefix length.
    pub gateways: Vec<IpNet>,
    pub options: NetworkOptions,
    /// Whether the driver created the bridge (and so deletes it with the network).
    pub owned: bool,
    pub internal: bool,
}

/// A Docker endpoint as recorded on its OVS port and interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRecord {
    pub endpoint_id: String,
    pub network_id: String,
    pub bridge: String,
    /// OVS port and host-side veth name.
    pub port: String,
    /// Container-side veth name.
    pub container_iface: String,
    pub mac: Mac,
    pub addresses: Vec<IpNet>,
    pub sandbox: Option<String>,
}

/// Live state of an endpoint's interface as ovs-vswitchd reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceStatus {
    pub ofport: Option<i64>,
    pub error: Option<String>,
    /// The MAC address the interface actually has (`mac_in_use`).
    pub mac: Option<Mac>,
    /// The OpenFlow port the driver asked for (`ofport_request`).
    pub ofport_request: Option<i64>,
}

impl InterfaceStatus {
    /// The OpenFlow port number, once ovs-vswitchd has attached the interface.
    pub fn attached_ofport(&self) -> Option<u32> {
        self.ofport
            .filter(|p| *p > 0)
            .and_then(|p| u32::try_from(p).ok())
    }

    /// The attached OpenFlow port, or else the one requested for it.
    pub fn ofport_or_request(&self) -> Option<u32> {
        self.attached_ofport().or_else(|| {
            self.ofport_request
                .filter(|p| *p > 0)
                .and_then(|p| u32::try_from(p).ok())
        })
    }
}

fn join_nets(nets: &[IpNet]) -> String {
    nets.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn split_nets(text: Option<&String>) -> Vec<IpNet> {
    text.map(|t| {
        t.split(',')
            .filter(|s| !s.is_empty())
            .filter_map(|s| s.parse().ok())
            .collect()
    })
    .unwrap_or_default()
}

impl NetworkRecord {
    /// The bridge `external_ids` that describe this network.
    pub fn external_ids(&self) -> BTreeMap<String, String> {
        let options = serde_json::to_string(&self.options).unwrap_or_else(|_| "{}".into());
        [
            (keys::NETWORK_ID, self.network_id.clone()),
            (keys::SUBNETS, join_nets(&self.subnets)),
            (keys::GATEWAYS, join_nets(&self.gateways)),
            (keys::OPTIONS, options),
            (keys::OWNED, self.owned.to_string()),
            (keys::INTERNAL, self.internal.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Reads a network back from a bridge; `None` when the bridge carries no network.
    pub fn from_bridge(bridge: &str, ids: &BTreeMap<String, String>) -> Option<Self> {
        let network_id = ids.get(keys::NETWORK_ID)?.clone();
        let options = ids
            .get(keys::OPTIONS)
            .and_then(|o| serde_json::from_str(o).ok())
            .unwrap_or_default();
        Some(Self {
            network_id,
            bridge: bridge.to_string(),
            subnets: split_nets(ids.get(keys::SUBNETS)),
            gateways: split_nets(ids.get(keys::GATEWAYS)),
            options,
            owned: ids.get(keys::OWNED).is_some_and(|v| v == "true"),
            internal: ids.get(keys::INTERNAL).is_some_and(|v| v == "true"),
        })
    }
}

impl EndpointRecord {
    /// The port and interface `external_ids` that describe this endpoint.
    pub fn external_ids(&self) -> BTreeMap<String, String> {
        let mut ids: BTreeMap<String, String> = [
            (keys::ENDPOINT_ID, self.endpoint_id.clone()),
            (keys::NETWORK_ID, self.network_id.clone()),
            (keys::IFACE_ID, self.endpoint_id.clone()),
            (keys::ATTACHED_MAC, self.mac.to_string()),
            (keys::ADDRESSES, join_nets(&self.addresses)),
            (keys::CONTAINER_IFACE, self.container_iface.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if let Some(sandbox) = &self.sandbox {
            ids.insert(keys::SANDBOX.to_string(), sandbox.clone());
        }
        ids
    }

    /// Reads an endpoint back from a port; `None` when the port is not an endpoint.
    pub fn from_port(bridge: &str, port: &str, ids: &BTreeMap<String, String>) -> Option<Self> {
        Some(Self {
            endpoint_id: ids.get(keys::ENDPOINT_ID)?.clone(),
            network_id: ids.get(keys::NETWORK_ID)?.clone(),
            bridge: bridge.to_string(),
            port: port.to_string(),
            container_iface: ids.get(keys::CONTAINER_IFACE).cloned().unwrap_or_default(),
            mac: ids.get(keys::ATTACHED_MAC).and_then(|m| Mac::parse(m))?,
            addresses: split_nets(ids.get(keys::ADDRESSES)),
            sandbox: ids.get(keys::SANDBOX).cloned(),
        })
    }
}

/// Errors of the switch backend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SwitchError {
    /// ovsdb-server cannot be reached or did not answer in time.
    #[error("ovsdb-server unavailable: {0}")]
    Unavailable(String),
    /// The configuration changed under us (e.g. the bridge vanished mid-operation).
    #[error("{0}")]
    Conflict(String),
    /// The database refused the change.
    #[error("ovsdb: {0}")]
    Database(String),
}

/// What the driver needs from the switch configuration database.
#[async_trait]
pub trait Switch: Send + Sync + 'static {
    /// Every network the driver recorded on a bridge.
    async fn networks(&self) -> Result<Vec<NetworkRecord>, SwitchError>;
    /// The `external_ids` of the bridge with this name, when it exists.
    async fn bridge(&self, name: &str) -> Result<Option<BTreeMap<String, String>>, SwitchError>;
    /// Whether an interface of this name is configured on any bridge.
    async fn interface_exists(&self, name: &str) -> Result<bool, SwitchError>;
    /// Records the network: creates its bridge (when `network.owned`) with the internal port,
    /// or tags the existing one, and adds the uplink port; all in one transaction.
    async fn create_network(
        &self,
        network: &NetworkRecord,
        datapath_type: &str,
    ) -> Result<(), SwitchError>;
    /// Removes what `create_network` made: the bridge when owned, else the driver's keys and
    /// ports. A bridge already gone counts as done.
    async fn delete_network(&self, network: &NetworkRecord) -> Result<(), SwitchError>;
    /// The endpoint whose port has this name, when there is one.
    async fn endpoint(&self, port: &str) -> Result<Option<EndpointRecord>, SwitchError>;
    /// Every endpoint on the network's bridge.
    async fn endpoints(&self, network: &NetworkRecord) -> Result<Vec<EndpointRecord>, SwitchError>;
    /// Adds the endpoint's port and interface to its bridge. Fails with `Conflict` when the
    /// bridge no longer carries the network.
    async fn add_endpoint(
        &self,
        endpoint: &EndpointRecord,
        mtu: Option<u32>,
        ofport_request: Option<u32>,
    ) -> Result<(), SwitchError>;
    /// Rewrites an endpoint's `external_ids` (Join and Leave record the sandbox).
    async fn update_endpoint(&self, endpoint: &EndpointRecord) -> Result<(), SwitchError>;
    /// Removes a port from a bridge; a port already gone counts as done.
    async fn remove_port(&self, bridge: &str, port: &str) -> Result<(), SwitchError>;
    /// ofport and error of an interface, when it exists.
    async fn interface_status(&self, name: &str) -> Result<Option<InterfaceStatus>, SwitchError>;
    /// Status of every interface, by name.
    async fn interfaces(&self) -> Result<BTreeMap<String, InterfaceStatus>, SwitchError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_record_round_trips_through_external_ids() {
        let record = NetworkRecord {
            network_id: "ab".repeat(32),
            bridge: "br-abababababab".into(),
            subnets: vec!["10.0.0.0/24".parse().unwrap(), "fd00::/64".parse().unwrap()],
            gateways: vec!["10.0.0.1/24".parse().unwrap()],
            options: NetworkOptions {
                mtu: Some(1400),
                ..Default::default()
            },
            owned: true,
            internal: false,
        };
        let ids = record.external_ids();
        assert_eq!(ids[keys::SUBNETS], "10.0.0.0/24,fd00::/64");
        assert_eq!(ids[keys::OPTIONS], r#"{"ovs.mtu":1400}"#);
        assert_eq!(
            NetworkRecord::from_bridge(&record.bridge, &ids),
            Some(record)
        );
        assert_eq!(NetworkRecord::from_bridge("x", &BTreeMap::new()), None);
    }

    #[test]
    fn endpoint_record_round_trips_through_external_ids() {
        let record = EndpointRecord {
            endpoint_id: "cd".repeat(32),
            network_id: "ab".repeat(32),
            bridge: "br-abababababab".into(),
            port: "ovscdcdcdcdcdcd".into(),
            container_iface: "ovccdcdcdcdcdcd".into(),
            mac: Mac([2, 0, 0, 0, 0, 1]),
            addresses: vec!["10.0.0.2/24".parse().unwrap()],
            sandbox: Some("/var/run/docker/netns/x".into()),
        };
        let ids = record.external_ids();
        assert_eq!(ids[keys::IFACE_ID], record.endpoint_id);
        assert_eq!(ids[keys::ATTACHED_MAC], "02:00:00:00:00:01");
        assert_eq!(
            EndpointRecord::from_port(&record.bridge, &record.port, &ids),
            Some(record)
        );
    }
}
