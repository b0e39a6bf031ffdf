//! An in-memory [`Switch`] that records calls and can be told to fail, for unit tests of the
//! driver's domain logic.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::naming::Mac;

use super::{
    keys, EndpointRecord, InterfaceStatus, NetworkRecord, Switch, SwitchError, ROLE_UPLINK,
};

/// A port on a fake bridge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FakePort {
    pub external_ids: BTreeMap<String, String>,
    pub tag: Option<u16>,
    pub mtu_request: Option<u32>,
    pub ofport: i64,
}

/// A fake bridge with its ports (the internal port is implicit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FakeBridge {
    pub external_ids: BTreeMap<String, String>,
    pub datapath_type: String,
    pub ports: BTreeMap<String, FakePort>,
}

#[derive(Default)]
struct State {
    bridges: BTreeMap<String, FakeBridge>,
    calls: Vec<String>,
    failing: Option<(String, SwitchError)>,
    /// How long each call takes, as a call to an unreachable ovsdb-server waits for it.
    latency: std::time::Duration,
    next_ofport: i64,
}

impl State {
    fn interfaces(&self) -> BTreeMap<String, InterfaceStatus> {
        let mut all = BTreeMap::new();
        for (name, bridge) in &self.bridges {
            all.insert(
                name.clone(),
                InterfaceStatus {
                    ofport: Some(65534),
                    error: None,
                    mac: Some(Mac([0x02, 0xbb, 0, 0, 0, 1])),
                    ofport_request: None,
                },
            );
            for (port, p) in &bridge.ports {
                all.insert(
                    port.clone(),
                    InterfaceStatus {
                        ofport: Some(p.ofport),
                        error: None,
                        mac: None,
                        ofport_request: None,
                    },
                );
            }
        }
        all
    }
}

/// The fake switch.
#[derive(Default)]
pub struct FakeSwitch {
    state: Mutex<State>,
}

impl FakeSwitch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a bridge as if an operator had created it.
    pub fn add_foreign_bridge(&self, name: &str) {
        self.state
            .lock()
            .unwrap()
            .bridges
            .insert(name.to_string(), FakeBridge::default());
    }

    /// A snapshot of every bridge.
    /// Sets one `external_ids` key on a port, as another tool (OVN, an operator) would.
    pub fn set_port_external_id(&self, bridge: &str, port: &str, key: &str, value: &str) {
        let mut state = self.state.lock().unwrap();
        let port = state
            .bridges
            .get_mut(bridge)
            .and_then(|b| b.ports.get_mut(port))
            .expect("a port of the fake switch");
        port.external_ids.insert(key.into(), value.into());
    }

    pub fn bridges(&self) -> BTreeMap<String, FakeBridge> {
        self.state.lock().unwrap().bridges.clone()
    }

    /// The calls made so far, as `method(arg)` strings.
    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }

    /// Makes every later call to `method` fail with `error` until [`FakeSwitch::heal`].
    pub fn fail(&self, method: &str, error: SwitchError) {
        self.state.lock().unwrap().failing = Some((method.to_string(), error));
    }

    pub fn heal(&self) {
        self.state.lock().unwrap().failing = None;
    }

    /// Makes every later call take `latency` (tokio time) before it answers.
    pub fn set_latency(&self, latency: std::time::Duration) {
        self.state.lock().unwrap().latency = latency;
    }

    async fn wait_latency(&self) {
        let latency = self.state.lock().unwrap().latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }

    fn enter(
        &self,
        method: &str,
        arg: &str,
    ) -> Result<std::sync::MutexGuard<'_, State>, SwitchError> {
        let mut state = self.state.lock().unwrap();
        state.calls.push(format!("{method}({arg})"));
        if let Some((failing, error)) = &state.failing {
            if failing == method || failing == "*" {
                return Err(error.clone());
            }
        }
        Ok(state)
    }
}

#[async_trait]
impl Switch for FakeSwitch {
    async fn networks(&self) -> Result<Vec<NetworkRecord>, SwitchError> {
        self.wait_latency().await;
        let state = self.enter("networks", "")?;
        Ok(state
            .bridges
            .iter()
            .filter_map(|(name, b)| NetworkRecord::from_bridge(name, &b.external_ids))
            .collect())
    }

    async fn bridge(&self, name: &str) -> Result<Option<BTreeMap<String, String>>, SwitchError> {
        self.wait_latency().await;
        let state = self.enter("bridge", name)?;
        Ok(state.bridges.get(name).map(|b| b.external_ids.clone()))
    }

    async fn interface_exists(&self, name: &str) -> Result<bool, SwitchError> {
        self.wait_latency().await;
        let state = self.enter("interface_exists", name)?;
        Ok(state
            .bridges
            .iter()
            .any(|(bridge, b)| bridge == name || b.ports.contains_key(name)))
    }

    async fn create_network(
        &self,
        network: &NetworkRecord,
        datapath_type: &str,
    ) -> Result<(), SwitchError> {
        self.wait_latency().await;
        let mut state = self.enter("create_network", &network.bridge)?;
        let bridge =
            match state.bridges.get_mut(&network.bridge) {
                Some(existing) => existing,
                None if network.owned => state
                    .bridges
                    .entry(network.bridge.clone())
                    .or_insert_with(|| FakeBridge {
                        datapath_type: datapath_type.to_string(),
                        ..Default::default()
                    }),
                None => {
                    return Err(SwitchError::Conflict(format!(
                        "bridge {} vanished",
                        network.bridge
                    )))
                }
            };
        bridge.external_ids.extend(network.external_ids());
        if let Some(uplink) = &network.options.uplink {
            state.next_ofport += 1;
            let ofport = state.next_ofport;
            let bridge = state
                .bridges
                .get_mut(&network.bridge)
                .expect("just found or made");
            bridge.ports.insert(
                uplink.clone(),
                FakePort {
                    external_ids: [
                        (keys::NETWORK_ID.to_string(), network.network_id.clone()),
                        (keys::ROLE.to_string(), ROLE_UPLINK.to_string()),
                    ]
                    .into(),
                    tag: network.options.vlan,
                    ofport,
                    ..Default::default()
                },
            );
        }
        Ok(())
    }

    async fn delete_network(&self, network: &NetworkRecord) -> Result<(), SwitchError> {
        self.wait_latency().await;
        let mut state = self.enter("delete_network", &network.bridge)?;
        if network.owned {
            state.bridges.remove(&network.bridge);
        } else if let Some(bridge) = state.bridges.get_mut(&network.bridge) {
            for key in keys::BRIDGE_KEYS {
                bridge.external_ids.remove(key);
            }
            bridge
                .ports
                .retain(|_, p| p.external_ids.get(keys::NETWORK_ID) != Some(&network.network_id));
        }
        Ok(())
    }

    async fn endpoint(&self, port: &str) -> Result<Option<EndpointRecord>, SwitchError> {
        self.wait_latency().await;
        let state = self.enter("endpoint", port)?;
        Ok(state.bridges.iter().find_map(|(bridge, b)| {
            b.ports
                .get(port)
                .and_then(|p| EndpointRecord::from_port(bridge, port, &p.external_ids))
        }))
    }

    async fn endpoints(&self, network: &NetworkRecord) -> Result<Vec<EndpointRecord>, SwitchError> {
        self.wait_latency().await;
        let state = self.enter("endpoints", &network.bridge)?;
        Ok(state
            .bridges
            .get(&network.bridge)
            .map(|b| {
                b.ports
                    .iter()
                    .filter_map(|(name, p)| {
                        EndpointRecord::from_port(&network.bridge, name, &p.external_ids)
                    })
                    .filter(|e| e.network_id == network.network_id)
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn add_endpoint(
        &self,
        endpoint: &EndpointRecord,
        mtu: Option<u32>,
        ofport_request: Option<u32>,
    ) -> Result<(), SwitchError> {
        self.wait_latency().await;
        let mut state = self.enter("add_endpoint", &endpoint.port)?;
        state.next_ofport += 1;
        let ofport = ofport_request.map_or(state.next_ofport, i64::from);
        let bridge = state
            .bridges
            .get_mut(&endpoint.bridge)
            .filter(|b| b.external_ids.get(keys::NETWORK_ID) == Some(&endpoint.network_id))
            .ok_or_else(|| SwitchError::Conflict(format!("bridge {} is gone", endpoint.bridge)))?;
        bridge.ports.insert(
            endpoint.port.clone(),
            FakePort {
                external_ids: endpoint.external_ids(),
                mtu_request: mtu,
                ofport,
                ..Default::default()
            },
        );
        Ok(())
    }

    async fn update_endpoint(&self, endpoint: &EndpointRecord) -> Result<(), SwitchError> {
        self.wait_latency().await;
        let mut state = self.enter("update_endpoint", &endpoint.port)?;
        let port = state
            .bridges
            .get_mut(&endpoint.bridge)
            .and_then(|b| b.ports.get_mut(&endpoint.port))
            .ok_or_else(|| SwitchError::Conflict(format!("port {} is gone", endpoint.port)))?;
        port.external_ids
            .retain(|key, _| !keys::ENDPOINT_KEYS.contains(&key.as_str()));
        port.external_ids.extend(endpoint.external_ids());
        Ok(())
    }

    async fn remove_port(&self, bridge: &str, port: &str) -> Result<(), SwitchError> {
        self.wait_latency().await;
        let mut state = self.enter("remove_port", port)?;
        if let Some(b) = state.bridges.get_mut(bridge) {
            b.ports.remove(port);
        }
        Ok(())
    }

    async fn interface_status(&self, name: &str) -> Result<Option<InterfaceStatus>, SwitchError> {
        self.wait_latency().await;
        let state = self.enter("interface_status", name)?;
        Ok(state.interfaces().remove(name))
    }

    async fn interfaces(&self) -> Result<BTreeMap<String, InterfaceStatus>, SwitchError> {
        self.wait_latency().await;
        let state = self.enter("interfaces", "")?;
        Ok(state.interfaces())
    }
}
