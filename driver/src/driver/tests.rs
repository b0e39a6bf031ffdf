//! Unit tests of the domain logic against the fake switch and fake links.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::flows::fake::FakeFlowTables;
use crate::links::fake::FakeLinks;
use crate::pipeline::{endpoint_cookie, network_cookie};
use crate::switch::fake::FakeSwitch;
use crate::switch::keys;
use crate::wire::EndpointInterface;

const NET: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const NET2: &str = "2222222222222222222222222222222222222222222222222222222222222222";
const EP: &str = "aaaaaaaaaaaa0000000000000000000000000000000000000000000000000000";
const EP2: &str = "bbbbbbbbbbbb0000000000000000000000000000000000000000000000000000";
/// Same first 12 digits as `EP`: same port name, different endpoint.
const EP_TWIN: &str = "aaaaaaaaaaaa1111111111111111111111111111111111111111111111111111";

struct Fixture {
    switch: Arc<FakeSwitch>,
    links: Arc<FakeLinks>,
    flows: Arc<FakeFlowTables>,
    driver: Driver,
}

fn fixture() -> Fixture {
    let switch = Arc::new(FakeSwitch::new());
    let links = Arc::new(FakeLinks::new());
    let flows = Arc::new(FakeFlowTables::new());
    let driver = Driver::new(
        switch.clone(),
        links.clone(),
        flows.clone(),
        DriverConfig {
            datapath_type: "netdev".into(),
            bridge_link_wait: Duration::from_millis(200),
            ofport_wait: Duration::from_millis(200),
            unjoined_grace: Duration::from_millis(300),
            sandbox_grace: Duration::from_millis(300),
        },
    );
    Fixture {
        switch,
        links,
        flows,
        driver,
    }
}

impl Fixture {
    fn cookies(&self, bridge: &str) -> std::collections::BTreeSet<u64> {
        self.flows.flows(bridge).iter().map(|f| f.cookie).collect()
    }

    /// The names of the ports on `NET`'s bridge.
    fn ports(&self) -> std::collections::BTreeSet<String> {
        self.switch.bridges()["br-111111111111"]
            .ports
            .keys()
            .cloned()
            .collect()
    }

    /// Creates endpoint `ep` of `NET` with an IPv4 address (CIDR).
    async fn endpoint(&self, ep: &str, address: &str) {
        let mut request = endpoint_request(NET, ep, "");
        request.interface.address = address.into();
        self.driver.create_endpoint(request).await.unwrap();
    }

    /// Joins `ep` of `NET` to the sandbox at `sandbox`.
    async fn join_at(&self, ep: &str, sandbox: &std::path::Path) {
        self.driver
            .join(JoinRequest {
                network_id: NET.into(),
                endpoint_id: ep.into(),
                sandbox_key: sandbox.to_string_lossy().into_owned(),
                options: BTreeMap::new(),
            })
            .await
            .unwrap();
    }
}

fn create_request(id: &str, generic: serde_json::Value) -> CreateNetworkRequest {
    let mut options = BTreeMap::new();
    options.insert(options::GENERIC_OPTIONS_KEY.to_string(), generic);
    CreateNetworkRequest {
        network_id: id.into(),
        options,
        ipv4_data: vec![IpamData {
            pool: "10.20.0.0/24".into(),
            gateway: "10.20.0.1/24".into(),
            ..Default::default()
        }],
        ipv6_data: vec![],
    }
}

fn endpoint_request(net: &str, ep: &str, mac: &str) -> CreateEndpointRequest {
    CreateEndpointRequest {
        network_id: net.into(),
        endpoint_id: ep.into(),
        options: BTreeMap::new(),
        interface: EndpointInterface {
            address: "10.20.0.2/24".into(),
            address_ipv6: String::new(),
            mac_address: mac.into(),
        },
    }
}

fn ep_req(net: &str, ep: &str) -> EndpointRequest {
    EndpointRequest {
        network_id: net.into(),
        endpoint_id: ep.into(),
    }
}

impl Fixture {
    /// Creates network `NET` as ovs-vswitchd would let it happen: the bridge's internal
    /// interface appears.
    async fn network(&self, generic: serde_json::Value) {
        let bridge = generic
            .get("ovs.bridge")
            .and_then(|b| b.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| "br-111111111111".into());
        let _ = self.links.add_link(&bridge);
        self.driver
            .create_network(create_request(NET, generic))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn create_network_records_bridge_and_configures_gateway() {
    let f = fixture();
    f.network(json!({"ovs.mtu": "1400"})).await;
    let bridges = f.switch.bridges();
    let bridge = &bridges["br-111111111111"];
    assert_eq!(bridge.datapath_type, "netdev");
    assert_eq!(bridge.external_ids[keys::NETWORK_ID], NET);
    assert_eq!(bridge.external_ids[keys::GATEWAYS], "10.20.0.1/24");
    assert_eq!(bridge.external_ids[keys::OWNED], "true");
    let link = f.links.link("br-111111111111").unwrap();
    assert!(link.up);
    assert_eq!(link.mtu, 1400);
    assert_eq!(link.addresses, vec!["10.20.0.1/24".parse().unwrap()]);
}

#[tokio::test]
async fn repeated_create_network_is_idempotent_and_conflicts_are_refused() {
    let f = fixture();
    f.network(json!({})).await;
    f.driver
        .create_network(create_request(NET, json!({})))
        .await
        .unwrap();
    let err = f
        .driver
        .create_network(create_request(NET, json!({"ovs.mtu": "1300"})))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("other settings"), "{err}");
    // Another network may not take the same bridge.
    let err = f
        .driver
        .create_network(create_request(
            NET2,
            json!({"ovs.bridge": "br-111111111111"}),
        ))
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "invalid network option ovs.bridge: bridge br-111111111111 already carries"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn bad_options_are_refused_before_anything_changes() {
    let f = fixture();
    let err = f
        .driver
        .create_network(create_request(
            NET,
            json!({"ovs.vlan": "5000", "ovs.uplink": "x"}),
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ovs.vlan"));
    let err = f
        .driver
        .create_network(create_request(NET, json!({"ovs.uplink": "nope0"})))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ovs.uplink"), "{err}");
    assert!(f.switch.bridges().is_empty());
    assert!(!f
        .switch
        .calls()
        .iter()
        .any(|c| c.starts_with("create_network")));
}

#[tokio::test]
async fn missing_bridge_interface_rolls_back_the_network() {
    let f = fixture();
    // No internal interface ever appears (ovs-vswitchd down).
    let err = f
        .driver
        .create_network(create_request(NET, json!({})))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ovs-vswitchd"), "{err}");
    assert!(f.switch.bridges().is_empty());
}

#[tokio::test]
async fn existing_bridge_is_adopted_and_kept_on_delete() {
    let f = fixture();
    f.switch.add_foreign_bridge("br-ops");
    f.links.add_link("eth9").unwrap();
    f.network(json!({"ovs.bridge": "br-ops", "ovs.uplink": "eth9", "ovs.vlan": "42"}))
        .await;
    let bridge = &f.switch.bridges()["br-ops"];
    assert_eq!(bridge.external_ids[keys::OWNED], "false");
    assert_eq!(bridge.ports["eth9"].tag, Some(42));
    f.driver
        .delete_network(NetworkRequest {
            network_id: NET.into(),
        })
        .await
        .unwrap();
    let bridges = f.switch.bridges();
    let bridge = &bridges["br-ops"];
    assert!(bridge.external_ids.is_empty());
    assert!(bridge.ports.is_empty());
    assert!(f.links.link("br-ops").unwrap().addresses.is_empty());
}

#[tokio::test]
async fn endpoint_lifecycle() {
    let f = fixture();
    f.network(json!({"ovs.mtu": "1400"})).await;
    let response = f
        .driver
        .create_endpoint(endpoint_request(NET, EP, ""))
        .await
        .unwrap();
    let mac = response.interface.unwrap().mac_address;
    assert_eq!(mac, "02:aa:aa:aa:aa:aa");
    let host = f.links.link("ovsaaaaaaaaaaaa").unwrap();
    assert_eq!(host.peer.as_deref(), Some("ovcaaaaaaaaaaaa"));
    assert_eq!(host.mtu, 1400);
    let peer = f.links.link("ovcaaaaaaaaaaaa").unwrap();
    assert_eq!(crate::naming::Mac(peer.mac).to_string(), mac);
    let port = &f.switch.bridges()["br-111111111111"].ports["ovsaaaaaaaaaaaa"];
    assert_eq!(port.external_ids[keys::IFACE_ID], EP);
    assert_eq!(port.external_ids[keys::ATTACHED_MAC], mac);
    assert_eq!(port.external_ids[keys::ADDRESSES], "10.20.0.2/24");

    let join = f
        .driver
        .join(JoinRequest {
            network_id: NET.into(),
            endpoint_id: EP.into(),
            sandbox_key: "/var/run/docker/netns/abc".into(),
            options: BTreeMap::new(),
        })
        .await
        .unwrap();
    assert_eq!(join.interface_name.src_name, "ovcaaaaaaaaaaaa");
    assert_eq!(join.interface_name.dst_prefix, "eth");
    assert_eq!(join.gateway, "10.20.0.1");
    let port = &f.switch.bridges()["br-111111111111"].ports["ovsaaaaaaaaaaaa"];
    assert_eq!(
        port.external_ids[keys::SANDBOX],
        "/var/run/docker/netns/abc"
    );

    let info = f.driver.endpoint_oper_info(ep_req(NET, EP)).await.unwrap();
    assert_eq!(info.value["bridge"], json!("br-111111111111"));
    assert_eq!(info.value["port"], json!("ovsaaaaaaaaaaaa"));
    assert_eq!(info.value["ofport"], json!(1));
    assert_eq!(info.value["mac"], json!(mac));
    assert_eq!(info.value["addresses"], json!(["10.20.0.2/24"]));
    assert!(!info.value.contains_key("error"), "{:?}", info.value);

    f.driver.leave(ep_req(NET, EP)).await.unwrap();
    let port = &f.switch.bridges()["br-111111111111"].ports["ovsaaaaaaaaaaaa"];
    assert!(!port.external_ids.contains_key(keys::SANDBOX));

    f.driver.delete_endpoint(ep_req(NET, EP)).await.unwrap();
    assert!(f.ports().is_empty());
    assert!(f.links.link("ovsaaaaaaaaaaaa").is_none());
    assert!(f.links.link("ovcaaaaaaaaaaaa").is_none());
    // Deleting again is fine.
    f.driver.delete_endpoint(ep_req(NET, EP)).await.unwrap();
}

#[tokio::test]
async fn given_mac_is_used_and_not_returned() {
    let f = fixture();
    f.network(json!({})).await;
    let response = f
        .driver
        .create_endpoint(endpoint_request(NET, EP, "02:42:0a:14:00:02"))
        .await
        .unwrap();
    assert!(response.interface.is_none());
    let peer = f.links.link("ovcaaaaaaaaaaaa").unwrap();
    assert_eq!(
        crate::naming::Mac(peer.mac).to_string(),
        "02:42:0a:14:00:02"
    );
}

#[tokio::test]
async fn failed_port_insert_removes_the_veth() {
    let f = fixture();
    f.network(json!({})).await;
    f.switch
        .fail("add_endpoint", SwitchError::Unavailable("down".into()));
    let err = f
        .driver
        .create_endpoint(endpoint_request(NET, EP, ""))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("ovsdb-server unavailable"),
        "{err}"
    );
    assert!(f.links.link("ovsaaaaaaaaaaaa").is_none());
}

#[tokio::test]
async fn leftover_veth_from_a_crash_is_replaced() {
    let f = fixture();
    f.network(json!({})).await;
    f.links
        .create_veth("ovsaaaaaaaaaaaa", "ovcaaaaaaaaaaaa", None, None)
        .await
        .unwrap();
    f.endpoint(EP, "10.20.0.2/24").await;
    assert!(f.ports().contains("ovsaaaaaaaaaaaa"));
}

#[tokio::test]
async fn ids_sharing_a_prefix_never_touch_each_other() {
    let f = fixture();
    f.network(json!({})).await;
    f.endpoint(EP, "10.20.0.2/24").await;
    // Same port name, different endpoint: refused, and deleting it leaves EP alone.
    let err = f
        .driver
        .create_endpoint(endpoint_request(NET, EP_TWIN, ""))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already belongs"), "{err}");
    f.driver
        .delete_endpoint(ep_req(NET, EP_TWIN))
        .await
        .unwrap();
    assert!(f.ports().contains("ovsaaaaaaaaaaaa"));
    assert!(f.links.link("ovsaaaaaaaaaaaa").is_some());
    assert!(f
        .driver
        .join(JoinRequest {
            network_id: NET.into(),
            endpoint_id: EP_TWIN.into(),
            ..Default::default()
        })
        .await
        .is_err());
}

#[tokio::test]
async fn unknown_ids_are_clear_errors() {
    let f = fixture();
    let err = f
        .driver
        .create_endpoint(endpoint_request(NET, EP, ""))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
    let err = f
        .driver
        .join(JoinRequest {
            network_id: NET.into(),
            endpoint_id: EP2.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
    let err = f
        .driver
        .endpoint_oper_info(ep_req(NET, EP2))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
    let err = f
        .driver
        .create_endpoint(endpoint_request("", EP, ""))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "missing NetworkID");
    let err = f
        .driver
        .create_endpoint(endpoint_request(NET, "../../x", ""))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("EndpointID"));
    // Tearing down what does not exist is done (Docker retries teardown after failures).
    f.driver.leave(ep_req(NET, EP2)).await.unwrap();
    f.driver.delete_endpoint(ep_req(NET, EP2)).await.unwrap();
    f.driver
        .delete_network(NetworkRequest {
            network_id: NET.into(),
        })
        .await
        .unwrap();
    // Also on a network that exists, and after the endpoint was deleted.
    f.network(json!({})).await;
    f.driver.leave(ep_req(NET, EP2)).await.unwrap();
    f.driver.delete_endpoint(ep_req(NET, EP2)).await.unwrap();
    f.endpoint(EP, "10.20.0.2/24").await;
    // An endpoint of another network is not "gone": that is a mix-up, said as such.
    let err = f.driver.leave(ep_req(NET2, EP)).await.unwrap_err();
    assert!(err.to_string().contains("belongs to network"), "{err}");
    f.driver.delete_endpoint(ep_req(NET, EP)).await.unwrap();
    f.driver.leave(ep_req(NET, EP)).await.unwrap();
    f.driver.delete_endpoint(ep_req(NET, EP)).await.unwrap();
    // Malformed ids are still refused.
    let err = f.driver.leave(ep_req(NET, "../../x")).await.unwrap_err();
    assert!(err.to_string().contains("EndpointID"), "{err}");
}

#[tokio::test]
async fn delete_network_removes_leftover_endpoints_and_bridge() {
    let f = fixture();
    f.network(json!({})).await;
    f.endpoint(EP, "10.20.0.2/24").await;
    f.driver
        .delete_network(NetworkRequest {
            network_id: NET.into(),
        })
        .await
        .unwrap();
    assert!(f.switch.bridges().is_empty());
    assert!(f.links.link("ovsaaaaaaaaaaaa").is_none());
}

#[tokio::test]
async fn internal_network_has_no_gateway() {
    let f = fixture();
    let mut request = create_request(NET, json!({}));
    request
        .options
        .insert(options::INTERNAL_KEY.to_string(), json!(true));
    f.driver.create_network(request).await.unwrap();
    f.endpoint(EP, "10.20.0.2/24").await;
    let join = f
        .driver
        .join(JoinRequest {
            network_id: NET.into(),
            endpoint_id: EP.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(join.gateway, "");
    assert!(join.disable_gateway_service);
}

#[tokio::test]
async fn switch_outage_is_reported() {
    let f = fixture();
    f.switch.fail(
        "*",
        SwitchError::Unavailable("cannot reach ovsdb-server".into()),
    );
    let err = f
        .driver
        .create_network(create_request(NET, json!({})))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ovsdb-server"), "{err}");
    assert!(!err.is_client_error());
}

#[tokio::test]
async fn gateway_flow_uses_the_mac_the_driver_gave_its_bridge() {
    use openflow::codec::oxm::{MacAddr, Match};
    let gateway_flow = |f: &Fixture, bridge: &str, gateway: Mac| {
        f.flows.flows(bridge).iter().any(|flow| {
            flow.cookie == network_cookie(NET)
                && flow.flow_match == Match::new().eth_dst(MacAddr(gateway.0))
        })
    };
    // The fake reports 02:bb:00:00:00:01 as every bridge's mac_in_use, as ovs-vswitchd reports
    // a new internal port's first, random MAC before it applies other_config:hwaddr.
    let reported = Mac([0x02, 0xbb, 0, 0, 0, 1]);
    let f = fixture();
    f.network(json!({})).await;
    assert!(gateway_flow(&f, "br-111111111111", Mac::from_id(NET)));
    assert!(!gateway_flow(&f, "br-111111111111", reported));
    // On an adopted bridge the driver set no hwaddr: what the switch reports is the MAC.
    let f = fixture();
    f.switch.add_foreign_bridge("br-ops");
    f.network(json!({"ovs.bridge": "br-ops"})).await;
    assert!(gateway_flow(&f, "br-ops", reported));
}

#[tokio::test]
async fn network_requests_during_an_outage_fail_together_not_one_after_another() {
    let f = fixture();
    // Each call waits 300 ms for the connection, like the real client's timeout, then fails.
    f.switch.set_latency(Duration::from_millis(300));
    f.switch.fail(
        "*",
        SwitchError::Unavailable("cannot reach ovsdb-server".into()),
    );
    let started = tokio::time::Instant::now();
    let (first, second, third) = tokio::join!(
        f.driver.create_network(create_request(NET, json!({}))),
        f.driver.delete_network(NetworkRequest {
            network_id: NET2.into()
        }),
        f.driver.create_network(create_request(NET2, json!({}))),
    );
    let took = started.elapsed();
    for result in [first, second, third] {
        assert!(result.unwrap_err().to_string().contains("ovsdb-server"));
    }
    // Queued behind each other on the network lock they would take 900 ms.
    assert!(took < Duration::from_millis(600), "took {took:?}");
}

#[tokio::test]
async fn endpoint_flows_come_and_go_with_the_endpoint() {
    let f = fixture();
    f.network(json!({})).await;
    let bridge = "br-111111111111";
    assert_eq!(f.cookies(bridge), [network_cookie(NET)].into());
    f.endpoint(EP, "10.20.0.2/24").await;
    assert!(f.cookies(bridge).contains(&endpoint_cookie(EP)));
    // One bundle per endpoint change.
    let batches = f.flows.batches();
    assert_eq!(batches.len(), 2, "network flows, then the endpoint's");
    f.driver.delete_endpoint(ep_req(NET, EP)).await.unwrap();
    assert_eq!(f.cookies(bridge), [network_cookie(NET)].into());
}

#[tokio::test]
async fn flow_failure_rolls_the_endpoint_back() {
    let f = fixture();
    f.network(json!({})).await;
    f.flows.set_down("br-111111111111", true);
    let err = f
        .driver
        .create_endpoint(endpoint_request(NET, EP, ""))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("ovs-vswitchd unavailable"),
        "{err}"
    );
    assert!(f.ports().is_empty());
    assert!(f.links.link("ovsaaaaaaaaaaaa").is_none());
}

#[tokio::test]
async fn reconcile_restores_a_wiped_table_and_keeps_right_flows() {
    let f = fixture();
    f.network(json!({})).await;
    f.endpoint(EP, "10.20.0.2/24").await;
    let bridge = "br-111111111111";
    let before = f.flows.flows(bridge);
    let batches = f.flows.batches().len();
    assert!(f.driver.reconcile_all().await.is_empty());
    assert_eq!(
        f.flows.batches().len(),
        batches,
        "nothing to change, nothing sent"
    );
    f.flows.wipe(bridge);
    f.links
        .delete_address(bridge, "10.20.0.1/24".parse().unwrap())
        .await
        .unwrap();
    assert!(f.driver.reconcile_all().await.is_empty());
    assert_eq!(f.flows.flows(bridge), before);
    assert_eq!(
        f.links.link(bridge).unwrap().addresses,
        vec!["10.20.0.1/24".parse().unwrap()]
    );
}

#[tokio::test]
async fn foreign_flows_are_never_touched() {
    let f = fixture();
    f.network(json!({})).await;
    let bridge = "br-111111111111";
    let foreign = crate::pipeline::Flow {
        table: 0,
        priority: 300,
        cookie: 0x1234,
        flow_match: openflow::Match::new().in_port(7),
        instructions: vec![],
    };
    f.flows
        .apply(bridge, vec![crate::flows::FlowChange::Add(foreign.clone())])
        .await
        .unwrap();
    f.endpoint(EP, "10.20.0.2/24").await;
    f.driver.delete_endpoint(ep_req(NET, EP)).await.unwrap();
    f.flows.wipe("nothing");
    assert!(f.driver.reconcile_all().await.is_empty());
    assert!(f.flows.flows(bridge).contains(&foreign));
}

#[tokio::test]
async fn adopted_bridge_keeps_its_default_normal_flow() {
    use openflow::codec::action::{port, Action, Instruction};
    let f = fixture();
    let bridge = "br-ops";
    f.switch.add_foreign_bridge(bridge);
    // What `ovs-vsctl add-br` gives a bridge without fail_mode secure.
    let normal = crate::pipeline::Flow {
        table: 0,
        priority: 0,
        cookie: 0,
        flow_match: openflow::Match::new(),
        instructions: vec![Instruction::ApplyActions(vec![Action::output(
            port::NORMAL,
        )])],
    };
    f.flows
        .apply(bridge, vec![crate::flows::FlowChange::Add(normal.clone())])
        .await
        .unwrap();
    f.network(json!({"ovs.bridge": bridge})).await;
    f.endpoint(EP, "10.20.0.2/24").await;
    assert!(
        f.flows.flows(bridge).contains(&normal),
        "replaced on create"
    );
    assert!(f.driver.reconcile_all().await.is_empty());
    f.driver.delete_endpoint(ep_req(NET, EP)).await.unwrap();
    f.driver
        .delete_network(NetworkRequest {
            network_id: NET.into(),
        })
        .await
        .unwrap();
    assert_eq!(f.flows.flows(bridge), vec![normal]);
}

#[tokio::test]
async fn endpoint_changes_send_only_their_flows_without_dumping() {
    let f = fixture();
    f.network(json!({})).await;
    let dumps = f.flows.dumps();
    for (ep, address) in [(EP, "10.20.0.2/24"), (EP2, "10.20.0.3/24")] {
        f.endpoint(ep, address).await;
    }
    f.driver.delete_endpoint(ep_req(NET, EP)).await.unwrap();
    assert_eq!(f.flows.dumps(), dumps, "no dump once the bridge is known");
    let (_, last) = f.flows.batches().pop().unwrap();
    let cookies: std::collections::BTreeSet<u64> = last
        .iter()
        .map(|c| match c {
            crate::flows::FlowChange::Add(f) | crate::flows::FlowChange::Delete(f) => f.cookie,
        })
        .collect();
    assert_eq!(cookies, [network_cookie(NET), endpoint_cookie(EP)].into());
    // Ports are numbered by the driver on its own bridges, lowest free first.
    let ports = &f.switch.bridges()["br-111111111111"].ports;
    assert_eq!(ports["ovsbbbbbbbbbbbb"].ofport, 2);
    f.endpoint(EP, "10.20.0.2/24").await;
    assert_eq!(
        f.switch.bridges()["br-111111111111"].ports["ovsaaaaaaaaaaaa"].ofport,
        1
    );
    // What the incremental path built equals a full rebuild from OVSDB.
    let incremental = f.flows.flows("br-111111111111");
    f.flows.wipe("br-111111111111");
    assert!(f.driver.reconcile_all().await.is_empty());
    assert!(
        f.flows.flows("br-111111111111") == incremental,
        "a full rebuild differs from the incremental result"
    );
}

/// Joins as Docker does: the Join request, then the container side of the veth moves into the
/// sandbox (out of the driver's namespace). The sandbox path exists, so the janitor sees a
/// live container.
async fn join(f: &Fixture, ep: &str) {
    f.join_at(ep, &std::env::temp_dir()).await;
    f.links
        .move_away(&format!("ovc{}", &ep[..12]))
        .expect("container side of the veth");
}

#[tokio::test]
async fn janitor_removes_endpoints_whose_container_vanished() {
    let f = fixture();
    f.network(json!({})).await;
    for (ep, address) in [(EP, "10.20.0.2/24"), (EP2, "10.20.0.3/24")] {
        f.endpoint(ep, address).await;
        join(&f, ep).await;
    }
    // The container's namespace went away: both veth ends with it.
    f.links.delete("ovsaaaaaaaaaaaa").await.unwrap();
    let removed = f.driver.collect_garbage().await.unwrap();
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert_eq!(f.ports(), ["ovsbbbbbbbbbbbb".to_string()].into());
    assert!(!f.cookies("br-111111111111").contains(&endpoint_cookie(EP)));
    assert!(f.cookies("br-111111111111").contains(&endpoint_cookie(EP2)));
    assert!(f.driver.collect_garbage().await.unwrap().is_empty());
}

#[tokio::test]
async fn janitor_removes_orphan_veths_and_abandoned_endpoints() {
    let f = fixture();
    f.network(json!({})).await;
    f.links
        .create_veth("ovscccccccccccc", "ovccccccccccccc", None, None)
        .await
        .unwrap();
    f.links.add_link("ovs-system").unwrap();
    f.endpoint(EP, "10.20.0.2/24").await;
    let removed = f.driver.collect_garbage().await.unwrap();
    assert_eq!(
        removed,
        vec!["veth ovscccccccccccc (no OVS port)".to_string()]
    );
    assert!(f.links.link("ovs-system").is_some(), "not ours");
    assert!(
        f.links.link("ovsaaaaaaaaaaaa").is_some(),
        "unjoined but young"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let removed = f.driver.collect_garbage().await.unwrap();
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert!(f.links.link("ovsaaaaaaaaaaaa").is_none());
    assert!(f.ports().is_empty());
}

#[tokio::test]
async fn janitor_keeps_joined_endpoints() {
    let f = fixture();
    f.network(json!({})).await;
    f.endpoint(EP, "10.20.0.2/24").await;
    join(&f, EP).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(f.driver.collect_garbage().await.unwrap().is_empty());
    assert!(f.ports().contains("ovsaaaaaaaaaaaa"));
}

#[tokio::test]
async fn janitor_waits_for_a_sandbox_that_is_not_there_yet() {
    let f = fixture();
    f.network(json!({})).await;
    f.endpoint(EP, "10.20.0.2/24").await;
    // Docker joins before the container starts; the namespace file appears only then.
    let netns_dir = tempfile::tempdir().unwrap();
    let sandbox = netns_dir.path().join("0123abcd");
    f.join_at(EP, &sandbox).await;
    assert!(f.driver.collect_garbage().await.unwrap().is_empty());
    assert!(f.driver.collect_garbage().await.unwrap().is_empty());
    // The container starts: a namespace at the sandbox path, past the grace.
    std::os::unix::fs::symlink("/proc/self/ns/net", &sandbox).unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(f.driver.collect_garbage().await.unwrap().is_empty());
    // The container dies without Leave. Missing in one round is not enough (it was missing
    // before it was there; that does not count either).
    std::fs::remove_file(&sandbox).unwrap();
    assert!(f.driver.collect_garbage().await.unwrap().is_empty());
    assert!(f.ports().contains("ovsaaaaaaaaaaaa"));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let removed = f.driver.collect_garbage().await.unwrap();
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert!(removed[0].contains("sandbox"), "{removed:?}");
    assert!(f.ports().is_empty());
}

#[tokio::test]
async fn janitor_removes_endpoints_whose_sandbox_vanished() {
    let f = fixture();
    f.network(json!({})).await;
    f.endpoint(EP, "10.20.0.2/24").await;
    let netns_dir = tempfile::tempdir().unwrap();
    let sandbox = netns_dir.path().join("0123abcd");
    std::fs::write(&sandbox, b"").unwrap();
    f.join_at(EP, &sandbox).await;
    f.links.move_away("ovcaaaaaaaaaaaa").unwrap();
    assert!(f.driver.collect_garbage().await.unwrap().is_empty());
    std::fs::remove_file(&sandbox).unwrap();
    assert!(f.driver.collect_garbage().await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(400)).await;
    let removed = f.driver.collect_garbage().await.unwrap();
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert!(f.ports().is_empty());
    assert!(f.links.link("ovsaaaaaaaaaaaa").is_none());
}

#[tokio::test]
async fn janitor_removes_endpoints_whose_sandbox_docker_tore_down() {
    let f = fixture();
    f.network(json!({})).await;
    // Docker joins before the container starts: the namespace file exists but is not mounted
    // yet, and the container side of the veth is still here with the name it was created with.
    let netns_dir = tempfile::tempdir().unwrap();
    for (ep, address) in [(EP, "10.20.0.2/24"), (EP2, "10.20.0.3/24")] {
        f.endpoint(ep, address).await;
        let sandbox = netns_dir.path().join(&ep[..12]);
        std::fs::write(&sandbox, b"").unwrap();
        f.join_at(ep, &sandbox).await;
    }
    assert!(f.driver.collect_garbage().await.unwrap().is_empty());
    // The containers start: the container sides move into the sandboxes as eth0.
    let moved = f.links.move_away("ovcaaaaaaaaaaaa").unwrap();
    f.links.move_away("ovcbbbbbbbbbbbb").unwrap();
    assert!(f.driver.collect_garbage().await.unwrap().is_empty());
    // Docker gave up on Leave and DeleteEndpoint for EP (the driver did not answer): it
    // renamed EP's container side back, moved it here and unmounted the namespace, whose
    // file stays behind for a while.
    f.links.move_back("ovcaaaaaaaaaaaa", moved);
    let removed = f.driver.collect_garbage().await.unwrap();
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert!(removed[0].contains(EP), "{removed:?}");
    assert_eq!(f.ports(), ["ovsbbbbbbbbbbbb".to_string()].into());
    assert!(f.links.link("ovsaaaaaaaaaaaa").is_none());
    assert!(f.links.link("ovcaaaaaaaaaaaa").is_none());
    assert!(!f.cookies("br-111111111111").contains(&endpoint_cookie(EP)));
    assert!(f.cookies("br-111111111111").contains(&endpoint_cookie(EP2)));
}

#[tokio::test]
async fn periodic_checks_count_flows_and_compare_them_all_now_and_then() {
    use crate::flows::sync::FULL_CHECK_EVERY;
    use crate::flows::{FlowChange, FlowTables};
    let f = fixture();
    f.network(json!({})).await;
    f.endpoint(EP, "10.20.0.2/24").await;
    let bridge = "br-111111111111";
    let right = f.flows.flows(bridge);
    let dumps = f.flows.dumps();
    for _ in 0..3 {
        assert!(f.driver.reconcile_all().await.is_empty());
    }
    assert_eq!(
        f.flows.dumps(),
        dumps,
        "an unchanged bridge is checked without a dump"
    );

    // A missing flow changes the count: repaired by the next check.
    let endpoint_flow = right
        .iter()
        .find(|flow| flow.cookie == endpoint_cookie(EP))
        .expect("an endpoint flow")
        .clone();
    f.flows
        .apply(bridge, vec![FlowChange::Delete(endpoint_flow.clone())])
        .await
        .unwrap();
    assert!(f.driver.reconcile_all().await.is_empty());
    assert_eq!(f.flows.flows(bridge), right, "a deleted flow is back");

    // A flow changed in place keeps the count: found by the full comparison that follows
    // every FULL_CHECK_EVERY cheap checks.
    let mut changed = endpoint_flow;
    changed.instructions.clear();
    f.flows
        .apply(bridge, vec![FlowChange::Add(changed)])
        .await
        .unwrap();
    for _ in 0..=FULL_CHECK_EVERY {
        assert!(f.driver.reconcile_all().await.is_empty());
    }
    assert_eq!(f.flows.flows(bridge), right, "a changed flow is repaired");
}

#[tokio::test]
async fn a_mac_already_on_the_network_is_refused_before_anything_changes() {
    let f = fixture();
    f.network(json!({})).await;
    f.endpoint(EP, "10.20.0.2/24").await;
    let taken = [
        (Mac::from_id(NET).to_string(), "the network's gateway"),
        (Mac::from_id(EP).to_string(), "endpoint aaaaaaaaaaaa"),
    ];
    for (mac, owner) in taken {
        let mut request = endpoint_request(NET, EP2, &mac);
        request.interface.address = "10.20.0.3/24".into();
        let err = f.driver.create_endpoint(request).await.unwrap_err();
        assert!(matches!(err, DriverError::BadRequest(_)), "{err:?}");
        assert!(
            err.to_string()
                .contains(&format!("{mac} is already used by {owner}")),
            "{err}"
        );
    }
    assert_eq!(f.ports(), ["ovsaaaaaaaaaaaa".to_string()].into());
    assert!(f.links.link("ovsbbbbbbbbbbbb").is_none());
    assert!(!f.cookies("br-111111111111").contains(&endpoint_cookie(EP2)));
}

#[tokio::test]
async fn a_retried_create_endpoint_after_join_changes_nothing() {
    let f = fixture();
    f.network(json!({})).await;
    f.endpoint(EP, "10.20.0.2/24").await;
    f.join_at(EP, &std::env::temp_dir()).await;
    f.links.clear_calls();
    f.endpoint(EP, "10.20.0.2/24").await;
    assert_eq!(
        f.links.calls(),
        ["exists ovsaaaaaaaaaaaa".to_string()],
        "the retry must only look"
    );
    let port = &f.switch.bridges()["br-111111111111"].ports["ovsaaaaaaaaaaaa"];
    assert!(
        port.external_ids.contains_key(keys::SANDBOX),
        "{:?}",
        port.external_ids
    );
}

#[tokio::test]
async fn endpoint_updates_keep_other_tools_external_ids() {
    let f = fixture();
    f.network(json!({})).await;
    f.endpoint(EP, "10.20.0.2/24").await;
    f.switch.set_port_external_id(
        "br-111111111111",
        "ovsaaaaaaaaaaaa",
        "ovn-installed",
        "true",
    );
    f.join_at(EP, &std::env::temp_dir()).await;
    f.driver.leave(ep_req(NET, EP)).await.unwrap();
    let ids = &f.switch.bridges()["br-111111111111"].ports["ovsaaaaaaaaaaaa"].external_ids;
    assert_eq!(ids.get("ovn-installed").map(String::as_str), Some("true"));
    assert!(!ids.contains_key(keys::SANDBOX), "{ids:?}");
    assert!(ids.contains_key(keys::ENDPOINT_ID), "{ids:?}");
}

#[tokio::test]
async fn addresses_outside_the_network_are_refused() {
    let f = fixture();
    f.network(json!({})).await;
    for (address, address_ipv6, why) in [
        (
            "172.16.0.5/16",
            "",
            "in none of the network's subnets (10.20.0.0/24)",
        ),
        ("fd00::5/64", "", "is not an IPv4 address"),
        ("10.20.0.5/24", "192.168.9.9/24", "is not an IPv6 address"),
    ] {
        let mut request = endpoint_request(NET, EP, "");
        request.interface.address = address.into();
        request.interface.address_ipv6 = address_ipv6.into();
        let err = f.driver.create_endpoint(request).await.unwrap_err();
        assert!(matches!(err, DriverError::BadRequest(_)), "{err:?}");
        assert!(
            err.to_string().contains(why),
            "{address}/{address_ipv6}: {err}"
        );
    }
    assert!(f.ports().is_empty());
}

#[tokio::test]
async fn bridge_option_naming_a_host_interface_and_small_ipv6_mtu_are_refused() {
    let f = fixture();
    f.links.add_link("hostx").unwrap();
    let err = f
        .driver
        .create_network(create_request(NET, json!({"ovs.bridge": "hostx"})))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("invalid network option ovs.bridge: hostx is an existing host interface"),
        "{err}"
    );
    assert!(f.links.link("hostx").unwrap().addresses.is_empty());
    assert!(f.switch.bridges().is_empty());

    let mut request = create_request(NET, json!({"ovs.mtu": "1000"}));
    request.ipv6_data = vec![IpamData {
        pool: "fd00:20::/64".into(),
        gateway: "fd00:20::1/64".into(),
        ..Default::default()
    }];
    let err = f.driver.create_network(request).await.unwrap_err();
    assert!(matches!(err, DriverError::BadRequest(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("invalid network option ovs.mtu: 1000 is below 1280"),
        "{err}"
    );
    assert!(f.switch.bridges().is_empty());
    // Without IPv6 the same MTU is fine.
    f.network(json!({"ovs.mtu": "1000"})).await;
}
