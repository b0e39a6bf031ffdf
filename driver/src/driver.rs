//! The driver's domain logic: each remote-driver method as a function of the switch (OVSDB) and
//! the host's links (netlink). Holds no state of its own: everything is read from and written to
//! OVSDB, so a restarted driver serves what an earlier one created.
//!
//! Changes validate first, then act; a step that fails undoes the earlier steps. Teardown is
//! idempotent and best effort: "already gone" counts as done and every step is attempted.

use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use serde_json::json;
use tokio::sync::Mutex;

use crate::flows::sync::{BridgeFlows, FlowSync};
use crate::flows::{FlowError, FlowTables};
use crate::links::{LinkError, Links};
use crate::naming::{self, DockerId, IdError, Mac};
use crate::options::{self, NetworkOptions, OptionError};
use crate::pipeline::{endpoint_cookie, network_cookie, NetworkPlan, PlacedEndpoint};
use crate::switch::{EndpointRecord, NetworkRecord, Switch, SwitchError};
use crate::wire::{
    CreateEndpointRequest, CreateEndpointResponse, CreateNetworkRequest, EndpointInterface,
    EndpointOperInfoResponse, EndpointRequest, InterfaceName, IpamData, JoinRequest, JoinResponse,
    NetworkRequest,
};

/// Why a request failed; the text goes to Docker as `{"Err": ...}`.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Id(#[from] IdError),
    #[error(transparent)]
    Option(#[from] OptionError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Switch(#[from] SwitchError),
    #[error(transparent)]
    Flows(#[from] FlowError),
    #[error("{context}: {source}")]
    Link {
        context: String,
        #[source]
        source: LinkError,
    },
}

impl DriverError {
    /// Whether the request itself was at fault (HTTP 400) rather than the driver or the switch.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            Self::BadRequest(_)
                | Self::Id(_)
                | Self::Option(_)
                | Self::NotFound(_)
                | Self::Conflict(_)
        )
    }
}

fn link_error(context: impl Into<String>) -> impl FnOnce(LinkError) -> DriverError {
    let context = context.into();
    move |source| DriverError::Link { context, source }
}

/// Tuning of the driver.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// `datapath_type` of the bridges the driver creates (`system` or `netdev`).
    pub datapath_type: String,
    /// How long to wait for ovs-vswitchd to create a new bridge's internal interface.
    pub bridge_link_wait: Duration,
    /// How long to wait for ovs-vswitchd to give a new port its OpenFlow number.
    pub ofport_wait: Duration,
    /// How long an endpoint may stay unjoined before the janitor removes it.
    pub unjoined_grace: Duration,
    /// How long a joined endpoint's sandbox must stay missing before the janitor removes it.
    pub sandbox_grace: Duration,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            datapath_type: "netdev".into(),
            bridge_link_wait: Duration::from_secs(10),
            ofport_wait: Duration::from_secs(5),
            unjoined_grace: janitor::UNJOINED_GRACE,
            sandbox_grace: janitor::SANDBOX_GRACE,
        }
    }
}

/// The Docker network driver.
pub struct Driver {
    switch: Arc<dyn Switch>,
    links: Arc<dyn Links>,
    /// Each bridge's flows; its lock also serialises endpoint changes on the bridge.
    flows: FlowSync,
    config: DriverConfig,
    /// Serialises network creation and deletion, so two requests cannot claim one bridge.
    network_lock: Mutex<()>,
    janitor: janitor::JanitorState,
}

fn parse_pools(data: &[IpamData], family: &str) -> Result<(Vec<IpNet>, Vec<IpNet>), DriverError> {
    let mut subnets = Vec::new();
    let mut gateways = Vec::new();
    for pool in data {
        let subnet: IpNet = pool.pool.parse().map_err(|_| {
            DriverError::BadRequest(format!("{family}Data Pool {:?} is not a CIDR", pool.pool))
        })?;
        subnets.push(subnet.trunc());
        if !pool.gateway.is_empty() {
            let gateway = parse_address(&pool.gateway, subnet.prefix_len()).ok_or_else(|| {
                DriverError::BadRequest(format!(
                    "{family}Data Gateway {:?} is not an address",
                    pool.gateway
                ))
            })?;
            gateways.push(gateway);
        }
    }
    Ok((subnets, gateways))
}

/// Parses `addr/len`, or a bare address with the given prefix length.
fn parse_address(text: &str, default_prefix: u8) -> Option<IpNet> {
    if let Ok(net) = text.parse::<IpNet>() {
        return Some(net);
    }
    let ip: std::net::IpAddr = text.parse().ok()?;
    IpNet::new(ip, default_prefix).ok()
}

impl Driver {
    pub fn new(
        switch: Arc<dyn Switch>,
        links: Arc<dyn Links>,
        flows: Arc<dyn FlowTables>,
        config: DriverConfig,
    ) -> Self {
        Self {
            switch,
            links,
            flows: FlowSync::new(flows),
            config,
            network_lock: Mutex::new(()),
            janitor: janitor::JanitorState::default(),
        }
    }

    /// What the network's flows should be, from what OVSDB records now. An endpoint whose
    /// interface ovs-vswitchd has not attached yet counts with the port it requested.
    async fn build_plan(&self, network: &NetworkRecord) -> Result<NetworkPlan, DriverError> {
        let interfaces = self.switch.interfaces().await?;
        let endpoints = self.switch.endpoints(network).await?;
        let mut placed = Vec::with_capacity(endpoints.len());
        for record in endpoints {
            match interfaces
                .get(&record.port)
                .and_then(|i| i.ofport_or_request())
            {
                Some(ofport) => placed.push(PlacedEndpoint { record, ofport }),
                None => tracing::debug!(port = record.port, "port has no ofport yet; no flows"),
            }
        }
        placed.sort_by_key(|e| e.ofport);
        let uplink_ofport = network
            .options
            .uplink
            .as_ref()
            .and_then(|u| interfaces.get(u))
            .and_then(|i| i.attached_ofport());
        // On its own bridges the driver set `other_config:hwaddr` itself. ovs-vswitchd reports
        // the internal port's first, random MAC in `mac_in_use` before it applies that, so
        // reading it right after the bridge is (re)created could point the gateway's flow at a
        // MAC nobody has until the next repair.
        let gateway_mac = if network.owned {
            Some(Mac::from_id(&network.network_id))
        } else {
            interfaces.get(&network.bridge).and_then(|i| i.mac)
        };
        Ok(NetworkPlan {
            network: network.clone(),
            gateway_mac,
            uplink_ofport,
            endpoints: placed,
        })
    }

    /// Brings the network's flow table in line with what OVSDB records: computes the pipeline
    /// and checks the bridge cheaply ([`BridgeFlows::verify`]); when that does not settle it,
    /// compares it with the driver's flows on the bridge and applies the difference. Flows that
    /// are already right are not touched.
    pub async fn sync_flows(&self, network: &NetworkRecord) -> Result<(), DriverError> {
        // On a bridge already in sync, read OVSDB before taking it, so endpoint requests need
        // not wait for the scan. If endpoints came or went meanwhile (busy networks always
        // have some), the plans differ and OVSDB is read again, now that they cannot.
        let synced = self.flows.lock(&network.bridge).await.plan().is_some();
        let early = if synced {
            Some(self.build_plan(network).await?)
        } else {
            None
        };
        let mut flows = self.flows.lock(&network.bridge).await;
        let plan = match early {
            Some(plan) if flows.plan() == Some(&plan) => plan,
            _ => self.build_plan(network).await?,
        };
        if flows.verify(&plan).await? {
            return Ok(());
        }
        let result = flows.full_sync(plan).await;
        release_freed_memory();
        Ok(result?)
    }

    async fn full_sync(
        &self,
        flows: &mut BridgeFlows,
        network: &NetworkRecord,
    ) -> Result<(), DriverError> {
        let plan = self.build_plan(network).await?;
        flows.full_sync(plan).await?;
        Ok(())
    }

    /// Repairs every network: the gateway addresses on the bridges' internal interfaces (a
    /// restarted ovs-vswitchd recreates them bare) and the flow tables. Used at start-up, when
    /// a connection to OVS comes back, and periodically. Returns the failures.
    pub async fn reconcile_all(&self) -> Vec<DriverError> {
        let networks = match self.switch.networks().await {
            Ok(networks) => networks,
            Err(err) => return vec![err.into()],
        };
        let mut failures = Vec::new();
        for network in networks {
            if let Err(err) = self.reconcile_network(&network).await {
                tracing::warn!(network = network.network_id, %err, "reconciliation failed");
                failures.push(err);
            }
        }
        if let Err(err) = self.collect_garbage().await {
            tracing::warn!(%err, "stale endpoint collection failed");
            failures.push(err);
        }
        // The round read every port and link: megabytes at a thousand endpoints, freed now.
        release_freed_memory();
        failures
    }

    /// Repairs one network (see [`Driver::reconcile_all`]).
    pub async fn reconcile_network(&self, network: &NetworkRecord) -> Result<(), DriverError> {
        self.configure_bridge_link(network).await?;
        if let Some(uplink) = &network.options.uplink {
            self.wait_for_ofport(uplink).await?;
        }
        self.sync_flows(network).await
    }

    /// Repairs the network on `bridge`, if the driver has one there.
    pub async fn reconcile_bridge(&self, bridge: &str) -> Result<(), DriverError> {
        let networks = self.switch.networks().await?;
        match networks.into_iter().find(|n| n.bridge == bridge) {
            Some(network) => self.reconcile_network(&network).await,
            None => Ok(()),
        }
    }

    /// Waits until ovs-vswitchd has attached the port and given it an OpenFlow number.
    async fn wait_for_ofport(&self, port: &str) -> Result<u32, DriverError> {
        let deadline = tokio::time::Instant::now() + self.config.ofport_wait;
        loop {
            let status = self
                .switch
                .interface_status(port)
                .await?
                .unwrap_or_default();
            if let Some(ofport) = status.attached_ofport() {
                return Ok(ofport);
            }
            if tokio::time::Instant::now() >= deadline {
                let why = status
                    .error
                    .map(|e| format!(": {e}"))
                    .unwrap_or_else(|| "; is ovs-vswitchd running?".into());
                return Err(DriverError::Conflict(format!(
                    "ovs-vswitchd did not attach port {port} within {:?}{why}",
                    self.config.ofport_wait
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Reads the networks once before a request queues for `network_lock`. While ovsdb-server
    /// is unreachable every request then fails after its own wait for the connection, all of
    /// them at once, instead of also waiting out the waits of the requests ahead of it in the
    /// queue (N concurrent network requests would take N OVSDB timeouts).
    async fn fail_fast_when_switch_unreachable(&self) -> Result<(), DriverError> {
        self.switch.networks().await?;
        Ok(())
    }

    async fn find_network(&self, id: &DockerId) -> Result<Option<NetworkRecord>, DriverError> {
        Ok(self
            .switch
            .networks()
            .await?
            .into_iter()
            .find(|n| n.network_id == id.as_str()))
    }

    async fn require_network(&self, id: &DockerId) -> Result<NetworkRecord, DriverError> {
        self.find_network(id)
            .await?
            .ok_or_else(|| DriverError::NotFound(format!("network {id} not found")))
    }

    /// The endpoint recorded for exactly this id; a port whose name matches but that belongs to
    /// another id (same 12-digit prefix) is not it.
    async fn find_endpoint(&self, id: &DockerId) -> Result<Option<EndpointRecord>, DriverError> {
        let port = naming::host_veth_name(id);
        Ok(self
            .switch
            .endpoint(&port)
            .await?
            .filter(|e| e.endpoint_id == id.as_str()))
    }

    fn parse_endpoint_ids(
        network_id: &str,
        endpoint_id: &str,
    ) -> Result<(DockerId, DockerId), DriverError> {
        Ok((
            DockerId::parse("NetworkID", network_id)?,
            DockerId::parse("EndpointID", endpoint_id)?,
        ))
    }

    async fn require_endpoint(
        &self,
        network: &DockerId,
        endpoint: &DockerId,
    ) -> Result<EndpointRecord, DriverError> {
        match self.find_endpoint(endpoint).await? {
            Some(e) if e.network_id == network.as_str() => Ok(e),
            Some(e) => Err(DriverError::NotFound(format!(
                "endpoint {endpoint} belongs to network {}, not {network}",
                e.network_id
            ))),
            None => Err(DriverError::NotFound(format!(
                "endpoint {endpoint} not found"
            ))),
        }
    }

    /// `NetworkDriver.CreateNetwork`.
    pub async fn create_network(&self, request: CreateNetworkRequest) -> Result<(), DriverError> {
        let id = DockerId::parse("NetworkID", &request.network_id)?;
        let options = NetworkOptions::from_create_options(&request.options)?;
        let internal = options::is_internal(&request.options);
        let (mut subnets, mut gateways) = parse_pools(&request.ipv4_data, "IPv4")?;
        let (v6_subnets, v6_gateways) = parse_pools(&request.ipv6_data, "IPv6")?;
        subnets.extend(v6_subnets);
        gateways.extend(v6_gateways);
        let bridge = options
            .bridge
            .clone()
            .unwrap_or_else(|| naming::default_bridge_name(&id));

        self.fail_fast_when_switch_unreachable().await?;
        let _guard = self.network_lock.lock().await;
        let networks = self.switch.networks().await?;
        if let Some(existing) = networks.iter().find(|n| n.network_id == id.as_str()) {
            let same = existing.bridge == bridge
                && existing.subnets == subnets
                && existing.gateways == gateways
                && existing.options == options
                && existing.internal == internal;
            return if same {
                Ok(())
            } else {
                Err(DriverError::Conflict(format!(
                    "network {id} already exists on bridge {} with other settings",
                    existing.bridge
                )))
            };
        }
        // A conflict over a bridge the user named is a bad option value, said as such.
        let named = if options.bridge.is_some() {
            "invalid network option ovs.bridge: "
        } else {
            ""
        };
        if let Some(other) = networks.iter().find(|n| n.bridge == bridge) {
            return Err(DriverError::Conflict(format!(
                "{named}bridge {bridge} already carries network {}",
                other.network_id
            )));
        }
        let existing_bridge = self.switch.bridge(&bridge).await?;
        if existing_bridge.is_none() && self.switch.interface_exists(&bridge).await? {
            return Err(DriverError::Conflict(format!(
                "{named}{bridge} is already an interface on another bridge"
            )));
        }
        // A host interface named with ovs.bridge (a NIC, a veth) would get the gateway address
        // and could never become the bridge's own port.
        if existing_bridge.is_none()
            && options.bridge.is_some()
            && self
                .links
                .exists(&bridge)
                .await
                .map_err(link_error(format!("interface {bridge}")))?
        {
            return Err(DriverError::Conflict(format!(
                "{named}{bridge} is an existing host interface, not an OVS bridge"
            )));
        }
        // The kernel refuses IPv6 on links with an MTU below 1280.
        if let Some(mtu) = options.mtu.filter(|&mtu| mtu < 1280) {
            if subnets.iter().any(|s| s.addr().is_ipv6()) {
                return Err(DriverError::BadRequest(format!(
                    "invalid network option ovs.mtu: {mtu} is below 1280, the IPv6 minimum, on a \
                     network with IPv6"
                )));
            }
        }
        if let Some(uplink) = &options.uplink {
            if !self
                .links
                .exists(uplink)
                .await
                .map_err(link_error("ovs.uplink"))?
            {
                return Err(DriverError::BadRequest(format!(
                    "invalid network option ovs.uplink: host interface {uplink} does not exist"
                )));
            }
            if self.switch.interface_exists(uplink).await? {
                return Err(DriverError::Conflict(format!(
                    "invalid network option ovs.uplink: {uplink} is already attached to a bridge"
                )));
            }
        }

        let record = NetworkRecord {
            network_id: id.to_string(),
            bridge: bridge.clone(),
            subnets,
            gateways,
            options,
            owned: existing_bridge.is_none(),
            internal,
        };
        self.switch
            .create_network(&record, &self.config.datapath_type)
            .await?;
        if let Err(err) = self.reconcile_network(&record).await {
            tracing::warn!(network = %id, %err, "bridge set-up failed; rolling back");
            if let Err(undo) = self.switch.delete_network(&record).await {
                tracing::error!(network = %id, %undo, "rollback of the bridge failed");
            }
            return Err(err);
        }
        tracing::info!(network = %id, bridge, "network created");
        Ok(())
    }

    /// Puts the gateway addresses on the bridge's internal interface and brings it up.
    async fn configure_bridge_link(&self, network: &NetworkRecord) -> Result<(), DriverError> {
        if network.internal {
            return Ok(());
        }
        let name = &network.bridge;
        let deadline = tokio::time::Instant::now() + self.config.bridge_link_wait;
        while !self
            .links
            .exists(name)
            .await
            .map_err(link_error(format!("bridge interface {name}")))?
        {
            if tokio::time::Instant::now() >= deadline {
                return Err(DriverError::Conflict(format!(
                    "ovs-vswitchd did not create interface {name} within {:?}; is ovs-vswitchd running?",
                    self.config.bridge_link_wait
                )));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        if let Some(mtu) = network.options.mtu {
            self.links
                .set_mtu(name, mtu)
                .await
                .map_err(link_error(format!("MTU of {name}")))?;
        }
        for gateway in &network.gateways {
            self.links
                .add_address(name, *gateway)
                .await
                .map_err(link_error(format!("gateway {gateway} on {name}")))?;
        }
        self.links
            .set_up(name)
            .await
            .map_err(link_error(format!("bringing {name} up")))?;
        Ok(())
    }

    /// `NetworkDriver.DeleteNetwork`: removes the network's endpoints, uplink and bridge (when
    /// the driver created it). An unknown network counts as deleted.
    pub async fn delete_network(&self, request: NetworkRequest) -> Result<(), DriverError> {
        let id = DockerId::parse("NetworkID", &request.network_id)?;
        self.fail_fast_when_switch_unreachable().await?;
        let _guard = self.network_lock.lock().await;
        let Some(network) = self.find_network(&id).await? else {
            tracing::debug!(network = %id, "DeleteNetwork of an unknown network: already gone");
            return Ok(());
        };
        let mut failures = Vec::new();
        for endpoint in self.switch.endpoints(&network).await? {
            if let Err(err) = self.teardown_endpoint(&endpoint).await {
                failures.push(err.to_string());
            }
        }
        if !network.owned && !network.internal {
            for gateway in &network.gateways {
                match self.links.delete_address(&network.bridge, *gateway).await {
                    Ok(()) | Err(LinkError::NotFound(_)) => {}
                    Err(err) => failures.push(format!("gateway {gateway}: {err}")),
                }
            }
        }
        if !network.owned {
            if let Err(err) = self.flows.lock(&network.bridge).await.clear().await {
                failures.push(err.to_string());
            }
        }
        if let Err(err) = self.switch.delete_network(&network).await {
            failures.push(err.to_string());
        }
        self.flows.forget(&network.bridge).await;
        if failures.is_empty() {
            tracing::info!(network = %id, bridge = network.bridge, "network deleted");
            Ok(())
        } else {
            Err(DriverError::Conflict(format!(
                "network {id} partly deleted: {}",
                failures.join("; ")
            )))
        }
    }

    /// `NetworkDriver.CreateEndpoint`: a veth pair whose host side becomes an OVS port.
    pub async fn create_endpoint(
        &self,
        request: CreateEndpointRequest,
    ) -> Result<CreateEndpointResponse, DriverError> {
        let (network_id, endpoint_id) =
            Self::parse_endpoint_ids(&request.network_id, &request.endpoint_id)?;
        let network = self.require_network(&network_id).await?;
        let given = &request.interface;
        let mut addresses = Vec::new();
        for (field, text, ipv4) in [
            ("Address", &given.address, true),
            ("AddressIPv6", &given.address_ipv6, false),
        ] {
            if !text.is_empty() {
                let address = text.parse::<IpNet>().map_err(|_| {
                    DriverError::BadRequest(format!("Interface.{field} {text:?} is not a CIDR"))
                })?;
                if address.addr().is_ipv4() != ipv4 {
                    return Err(DriverError::BadRequest(format!(
                        "Interface.{field} {text:?} is not an {} address",
                        if ipv4 { "IPv4" } else { "IPv6" }
                    )));
                }
                // (A network without IPAM data has no subnets to hold addresses to.)
                if !network.subnets.is_empty()
                    && !network.subnets.iter().any(|s| s.contains(&address.addr()))
                {
                    return Err(DriverError::BadRequest(format!(
                        "Interface.{field} {text:?} is in none of the network's subnets ({})",
                        network
                            .subnets
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                addresses.push(address);
            }
        }
        let mac = if given.mac_address.is_empty() {
            Mac::for_endpoint(&endpoint_id)
        } else {
            Mac::parse(&given.mac_address).ok_or_else(|| {
                DriverError::BadRequest(format!(
                    "Interface.MacAddress {:?} is not a unicast MAC address",
                    given.mac_address
                ))
            })?
        };
        let response = CreateEndpointResponse {
            interface: given.mac_address.is_empty().then(|| EndpointInterface {
                mac_address: mac.to_string(),
                ..Default::default()
            }),
        };
        let record = EndpointRecord {
            endpoint_id: endpoint_id.to_string(),
            network_id: network_id.to_string(),
            bridge: network.bridge.clone(),
            port: naming::host_veth_name(&endpoint_id),
            container_iface: naming::peer_veth_name(&endpoint_id),
            mac,
            addresses,
            sandbox: None,
        };

        let _creating = self.janitor.creating(&record.port);
        let mut flows = self.flows.lock(&network.bridge).await;
        if flows.plan().is_none() {
            self.full_sync(&mut flows, &network).await?;
        }
        let existing = self.switch.endpoint(&record.port).await?;
        match &existing {
            Some(existing) if existing.endpoint_id != record.endpoint_id => {
                return Err(DriverError::Conflict(format!(
                    "port {} already belongs to endpoint {}",
                    record.port, existing.endpoint_id
                )));
            }
            Some(existing)
                if EndpointRecord {
                    sandbox: None,
                    ..existing.clone()
                } == record
                    && self.links.exists(&record.port).await.unwrap_or(false) =>
            {
                // A retry of a request that already succeeded (perhaps joined since: the
                // sandbox is Join's, not CreateEndpoint's).
                return Ok(response);
            }
            _ => {}
        }
        // Two ports with one MAC would share its forwarding flow: the later one's replaces the
        // earlier one's, cutting the gateway or that endpoint off.
        if let Some(plan) = flows.plan() {
            let taken_by = if plan.gateway_mac == Some(mac) {
                Some("the network's gateway".to_string())
            } else {
                plan.endpoints
                    .iter()
                    .find(|e| e.record.mac == mac && e.record.endpoint_id != record.endpoint_id)
                    .map(|e| format!("endpoint {}", e.record.endpoint_id))
            };
            if let Some(owner) = taken_by {
                return Err(DriverError::BadRequest(format!(
                    "Interface.MacAddress {mac} is already used by {owner} on network {network_id}"
                )));
            }
        }
        if existing.is_some() {
            // A half-made or different earlier attempt for this id: start over.
            self.teardown_endpoint(&record).await?;
        }

        let mtu = network.options.mtu;
        let created = self
            .links
            .create_veth(&record.port, &record.container_iface, mtu, Some(mac.0))
            .await;
        if let Err(LinkError::AlreadyExists(_)) = created {
            // Left over by an attempt that died before recording it in OVSDB.
            self.remove_veth(&record.port).await?;
            self.links
                .create_veth(&record.port, &record.container_iface, mtu, Some(mac.0))
                .await
                .map_err(link_error(format!("creating veth {}", record.port)))?;
        } else {
            created.map_err(link_error(format!("creating veth {}", record.port)))?;
        }
        // On bridges the driver owns, it picks the OpenFlow port itself and need not wait for
        // ovs-vswitchd to attach the interface before installing the endpoint's flows.
        let plan = flows.plan().cloned().expect("synchronised above");
        let ofport_request = network.owned.then(|| free_ofport(&plan, &record.port));
        if let Err(err) = self.switch.add_endpoint(&record, mtu, ofport_request).await {
            let _ = self.remove_veth(&record.port).await;
            return Err(err.into());
        }
        let installed = match ofport_request {
            Some(ofport) => Ok(ofport),
            None => self.wait_for_ofport(&record.port).await,
        };
        let installed = match installed {
            Ok(ofport) => {
                let mut plan = plan;
                plan.endpoints.retain(|e| e.record.port != record.port);
                plan.endpoints.push(PlacedEndpoint {
                    record: record.clone(),
                    ofport,
                });
                plan.endpoints.sort_by_key(|e| e.ofport);
                let owners = [
                    network_cookie(&network.network_id),
                    endpoint_cookie(&record.endpoint_id),
                ];
                flows.change(plan, &owners).await.map_err(DriverError::from)
            }
            Err(err) => Err(err),
        };
        if let Err(err) = installed {
            tracing::warn!(endpoint = %endpoint_id, %err, "endpoint set-up failed; rolling back");
            if let Err(undo) = self.teardown_endpoint(&record).await {
                tracing::error!(endpoint = %endpoint_id, %undo, "rollback of the endpoint failed");
            }
            if let Err(undo) = self.full_sync(&mut flows, &network).await {
                tracing::warn!(network = %network_id, %undo, "flows left for the next repair");
            }
            return Err(err);
        }
        tracing::info!(endpoint = %endpoint_id, port = record.port, "endpoint created");
        Ok(response)
    }

    async fn remove_veth(&self, name: &str) -> Result<(), DriverError> {
        match self.links.delete(name).await {
            Ok(()) | Err(LinkError::NotFound(_)) => Ok(()),
            Err(err) => Err(link_error(format!("deleting veth {name}"))(err)),
        }
    }

    /// Removes an endpoint's port and veth; both are attempted, "already gone" is done.
    async fn teardown_endpoint(&self, endpoint: &EndpointRecord) -> Result<(), DriverError> {
        let port = self
            .switch
            .remove_port(&endpoint.bridge, &endpoint.port)
            .await;
        let veth = self.remove_veth(&endpoint.port).await;
        port?;
        veth
    }

    /// `NetworkDriver.DeleteEndpoint`. An unknown endpoint counts as deleted.
    pub async fn delete_endpoint(&self, request: EndpointRequest) -> Result<(), DriverError> {
        let (network_id, endpoint_id) =
            Self::parse_endpoint_ids(&request.network_id, &request.endpoint_id)?;
        let port = naming::host_veth_name(&endpoint_id);
        match self.switch.endpoint(&port).await? {
            Some(endpoint) if endpoint.endpoint_id != endpoint_id.as_str() => {
                // The port is another endpoint's (same 12-digit prefix): ours is long gone.
                tracing::debug!(endpoint = %endpoint_id, "DeleteEndpoint: already gone");
            }
            Some(endpoint) if endpoint.network_id == network_id.as_str() => {
                let mut flows = self.flows.lock(&endpoint.bridge).await;
                self.teardown_endpoint(&endpoint).await?;
                tracing::info!(endpoint = %endpoint_id, "endpoint deleted");
                // The port is gone, so stale flows would match nothing; a failure here is left
                // to the repair loop.
                let removed = match flows.plan().cloned() {
                    Some(mut plan) => {
                        plan.endpoints.retain(|e| e.record.port != endpoint.port);
                        let owners = [
                            network_cookie(&network_id.to_string()),
                            endpoint_cookie(&endpoint.endpoint_id),
                        ];
                        flows.change(plan, &owners).await.map_err(DriverError::from)
                    }
                    None => match self.find_network(&network_id).await? {
                        Some(network) => self.full_sync(&mut flows, &network).await,
                        None => Ok(()),
                    },
                };
                if let Err(err) = removed {
                    tracing::warn!(endpoint = %endpoint_id, %err, "stale flows left for repair");
                }
            }
            Some(endpoint) => {
                return Err(DriverError::NotFound(format!(
                    "endpoint {endpoint_id} belongs to network {}, not {network_id}",
                    endpoint.network_id
                )))
            }
            None => {
                // Nothing recorded: a veth left by a crash mid-create may still exist.
                tracing::debug!(endpoint = %endpoint_id, "DeleteEndpoint: already gone");
                self.remove_veth(&port).await?;
            }
        }
        Ok(())
    }

    /// `NetworkDriver.EndpointOperInfo`.
    pub async fn endpoint_oper_info(
        &self,
        request: EndpointRequest,
    ) -> Result<EndpointOperInfoResponse, DriverError> {
        let (network_id, endpoint_id) =
            Self::parse_endpoint_ids(&request.network_id, &request.endpoint_id)?;
        let endpoint = self.require_endpoint(&network_id, &endpoint_id).await?;
        let status = self
            .switch
            .interface_status(&endpoint.port)
            .await?
            .unwrap_or_default();
        let addresses: Vec<String> = endpoint.addresses.iter().map(ToString::to_string).collect();
        let mut value = std::collections::BTreeMap::new();
        value.insert("bridge".into(), json!(endpoint.bridge));
        value.insert("port".into(), json!(endpoint.port));
        value.insert("ofport".into(), json!(status.ofport));
        value.insert("mac".into(), json!(endpoint.mac.to_string()));
        value.insert("addresses".into(), json!(addresses));
        if let Some(error) = status.error {
            value.insert("error".into(), json!(error));
        }
        Ok(EndpointOperInfoResponse { value })
    }

    /// `NetworkDriver.Join`: tells Docker which interface to move into the sandbox.
    pub async fn join(&self, request: JoinRequest) -> Result<JoinResponse, DriverError> {
        let (network_id, endpoint_id) =
            Self::parse_endpoint_ids(&request.network_id, &request.endpoint_id)?;
        let network = self.require_network(&network_id).await?;
        let mut endpoint = self.require_endpoint(&network_id, &endpoint_id).await?;
        if !request.sandbox_key.is_empty() {
            endpoint.sandbox = Some(request.sandbox_key.clone());
            self.switch.update_endpoint(&endpoint).await?;
        }
        let gateway_of = |v4: bool| {
            network
                .gateways
                .iter()
                .find(|g| g.addr().is_ipv4() == v4)
                .filter(|_| !network.internal)
                .map(|g| g.addr().to_string())
                .unwrap_or_default()
        };
        Ok(JoinResponse {
            interface_name: InterfaceName {
                src_name: endpoint.container_iface.clone(),
                dst_prefix: "eth".into(),
            },
            gateway: gateway_of(true),
            gateway_ipv6: gateway_of(false),
            disable_gateway_service: network.internal,
        })
    }

    /// `NetworkDriver.Leave`: forgets the sandbox. Leaving twice is fine, and so is leaving an
    /// endpoint that is already gone (deleted, or collected by the janitor).
    pub async fn leave(&self, request: EndpointRequest) -> Result<(), DriverError> {
        let (network_id, endpoint_id) =
            Self::parse_endpoint_ids(&request.network_id, &request.endpoint_id)?;
        match self.find_endpoint(&endpoint_id).await? {
            Some(mut endpoint) if endpoint.network_id == network_id.as_str() => {
                if endpoint.sandbox.take().is_some() {
                    self.switch.update_endpoint(&endpoint).await?;
                }
                Ok(())
            }
            Some(endpoint) => Err(DriverError::NotFound(format!(
                "endpoint {endpoint_id} belongs to network {}, not {network_id}",
                endpoint.network_id
            ))),
            None => {
                tracing::debug!(endpoint = %endpoint_id, "Leave: already gone");
                Ok(())
            }
        }
    }

    /// Requests the driver accepts and has nothing to do for (AllocateNetwork, FreeNetwork,
    /// Discover*, Program/RevokeExternalConnectivity) still get their ids checked.
    pub fn check_network_request(&self, network_id: &str) -> Result<(), DriverError> {
        DockerId::parse("NetworkID", network_id)?;
        Ok(())
    }
}

/// Hands memory freed after a repair round or a full comparison (a dump of every flow of a big
/// bridge is tens of MiB at a thousand endpoints) back to the system; glibc's allocator would
/// keep it.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap pages.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The lowest OpenFlow port number no endpoint or uplink of the plan uses (other than
/// `port`, which is being re-created).
fn free_ofport(plan: &NetworkPlan, port: &str) -> u32 {
    let used: std::collections::BTreeSet<u32> = plan
        .endpoints
        .iter()
        .filter(|e| e.record.port != port)
        .map(|e| e.ofport)
        .chain(plan.uplink_ofport)
        .collect();
    (1..)
        .find(|n| !used.contains(n))
        .expect("a free port number")
}

mod janitor;

#[cfg(test)]
mod tests;
