//! Unit tests of the pipeline: every flow is well-formed, keys are unique, and the options
//! change what they should.

use std::collections::BTreeSet;

use openflow::codec::action::{port, Action, Instruction};

use super::*;
use crate::flows::FlowKey;
use crate::options::NetworkOptions;

const NET: &str = "1111111111111111111111111111111111111111111111111111111111111111";

fn endpoint(id_digit: char, ofport: u32, addresses: &[&str]) -> PlacedEndpoint {
    let id: String = std::iter::repeat_n(id_digit, 64).collect();
    PlacedEndpoint {
        record: EndpointRecord {
            endpoint_id: id.clone(),
            network_id: NET.into(),
            bridge: "br-111111111111".into(),
            port: format!("ovs{}", &id[..12]),
            container_iface: format!("ovc{}", &id[..12]),
            mac: Mac::from_id(&id),
            addresses: addresses.iter().map(|a| a.parse().unwrap()).collect(),
            sandbox: None,
        },
        ofport,
    }
}

fn plan(options: NetworkOptions, uplink: Option<u32>) -> NetworkPlan {
    NetworkPlan {
        network: NetworkRecord {
            network_id: NET.into(),
            bridge: "br-111111111111".into(),
            subnets: vec!["10.20.0.0/24".parse().unwrap()],
            gateways: vec!["10.20.0.1/24".parse().unwrap()],
            options,
            owned: true,
            internal: false,
        },
        gateway_mac: Some(Mac([2, 0x11, 0x11, 0x11, 0x11, 0x11])),
        uplink_ofport: uplink,
        endpoints: vec![
            endpoint('a', 1, &["10.20.0.2/24"]),
            endpoint('b', 2, &["10.20.0.3/24", "fd00::3/64"]),
        ],
    }
}

fn outputs(flow: &Flow) -> Vec<u32> {
    flow.instructions
        .iter()
        .flat_map(|i| match i {
            Instruction::ApplyActions(actions) => actions.clone(),
            _ => vec![],
        })
        .filter_map(|a| match a {
            Action::Output { port, .. } => Some(port),
            _ => None,
        })
        .collect()
}

/// The default options, and every option that changes the pipeline turned on.
fn option_variants() -> [NetworkOptions; 2] {
    [
        NetworkOptions::default(),
        NetworkOptions {
            icc: Some(false),
            arp_responder: Some(false),
            uplink: Some("eth9".into()),
            vlan: Some(42),
            ..Default::default()
        },
    ]
}

#[test]
fn every_flow_is_well_formed_and_unique() {
    for options in option_variants() {
        let flows = plan(options, Some(9)).flows();
        let mut keys = BTreeSet::new();
        for flow in &flows {
            flow.flow_match
                .check_prerequisites()
                .unwrap_or_else(|e| panic!("{flow:?}: {e}"));
            let headers: Vec<u32> = flow
                .flow_match
                .fields
                .iter()
                .map(|o| o.field.oxm_header(false))
                .collect();
            assert!(
                headers.is_sorted(),
                "fields out of prerequisite order: {flow:?}"
            );
            assert!(is_driver_cookie(flow.cookie));
            assert!(keys.insert(FlowKey::of(flow)), "duplicate flow {flow:?}");
        }
    }
}

#[test]
fn no_flow_collides_with_a_bridges_default_normal_flow() {
    // `ovs-vsctl add-br` without fail_mode=secure gives `priority=0 actions=NORMAL` (match
    // all); a driver flow with the same match and priority would replace it.
    for options in option_variants() {
        let flows = plan(options, Some(9)).flows();
        assert!(
            flows.iter().all(|f| f.priority > 0),
            "{:?}",
            flows.iter().find(|f| f.priority == 0)
        );
        for table in [TABLE_INGRESS, TABLE_ARP, TABLE_FORWARD] {
            let catch_all: Vec<&Flow> = flows
                .iter()
                .filter(|f| f.table == table && f.flow_match.fields.is_empty())
                .collect();
            assert_eq!(catch_all.len(), 1, "table {table}: {catch_all:?}");
            assert_eq!(catch_all[0].priority, PRIORITY_CATCH_ALL);
            assert!(flows
                .iter()
                .filter(|f| f.table == table && !f.flow_match.fields.is_empty())
                .all(|f| f.priority > PRIORITY_CATCH_ALL));
        }
    }
}

#[test]
fn cookies_name_their_owner() {
    let plan = plan(NetworkOptions::default(), None);
    let a = &plan.endpoints[0];
    let flows = plan.endpoint_flows(a);
    assert!(flows
        .iter()
        .all(|f| f.cookie == endpoint_cookie(&a.record.endpoint_id)));
    assert_eq!(
        endpoint_cookie(&a.record.endpoint_id),
        0xdc02_aaaa_aaaa_aaaa
    );
    assert_eq!(network_cookie(NET), 0xdc01_1111_1111_1111);
    assert!(!is_driver_cookie(0x1234));
}

#[test]
fn endpoint_traffic_is_limited_to_its_own_addresses() {
    let plan = plan(NetworkOptions::default(), None);
    let b = &plan.endpoints[1];
    let flows = plan.endpoint_flows(b);
    let accepted: Vec<&Flow> = flows
        .iter()
        .filter(|f| f.table == TABLE_INGRESS && !f.instructions.is_empty())
        .collect();
    for flow in &accepted {
        let src = flow
            .flow_match
            .get(Field::EthSrc)
            .expect("source MAC pinned");
        assert_eq!(src.value, b.record.mac.0.to_vec());
        assert_eq!(
            flow.flow_match.get(Field::InPort).unwrap().value_u64(),
            u64::from(b.ofport)
        );
    }
    let sources: BTreeSet<String> = accepted
        .iter()
        .filter_map(|f| {
            f.flow_match
                .get(Field::Ipv4Src)
                .or(f.flow_match.get(Field::Ipv6Src))
                .or(f.flow_match.get(Field::ArpSpa))
                .map(|o| o.value_string())
        })
        .collect();
    let expected: BTreeSet<String> = [
        "10.20.0.3".to_string(),
        "fd00::3".to_string(),
        link_local(b.record.mac).to_string(),
        "::".to_string(),
    ]
    .into();
    assert_eq!(sources, expected);
    // The last word on the port is a drop.
    let catch_all = flows
        .iter()
        .find(|f| f.table == TABLE_INGRESS && f.priority == 50)
        .unwrap();
    assert!(catch_all.instructions.is_empty());
}

#[test]
fn link_local_is_eui64() {
    let mac = Mac([0x02, 0x42, 0xac, 0x11, 0x00, 0x02]);
    assert_eq!(link_local(mac).to_string(), "fe80::42:acff:fe11:2");
}

#[test]
fn broadcast_reaches_every_port_and_icc_off_keeps_endpoints_apart() {
    let open = plan(NetworkOptions::default(), None).network_flows();
    let flood = open
        .iter()
        .find(|f| f.table == TABLE_FORWARD && f.priority == 50)
        .unwrap();
    assert_eq!(outputs(flood), vec![port::LOCAL, 1, 2]);

    let closed_plan = plan(
        NetworkOptions {
            icc: Some(false),
            ..Default::default()
        },
        None,
    );
    let closed = closed_plan.flows();
    let from_endpoint = closed
        .iter()
        .find(|f| f.table == TABLE_FORWARD && f.priority == 51)
        .unwrap();
    assert_eq!(outputs(from_endpoint), vec![port::LOCAL]);
    for unicast in closed.iter().filter(|f| {
        f.table == TABLE_FORWARD && f.priority == 100 && f.cookie != network_cookie(NET)
    }) {
        let reg = unicast
            .flow_match
            .get(Field::Reg(0))
            .expect("only trusted sources");
        assert_eq!(reg.value_u64(), 0);
    }
}

#[test]
fn uplink_vlan_is_pushed_and_popped() {
    let flows = plan(
        NetworkOptions {
            uplink: Some("eth9".into()),
            vlan: Some(42),
            ..Default::default()
        },
        Some(9),
    )
    .network_flows();
    let unknown = flows
        .iter()
        .find(|f| f.table == TABLE_FORWARD && f.priority == PRIORITY_CATCH_ALL)
        .unwrap();
    let Instruction::ApplyActions(actions) = &unknown.instructions[0] else {
        panic!("{unknown:?}")
    };
    assert_eq!(actions[0], Action::PushVlan(0x8100));
    assert_eq!(actions.last(), Some(&Action::output(9)));
    let ingress = flows
        .iter()
        .find(|f| {
            f.table == TABLE_INGRESS
                && f.flow_match.get(Field::InPort).map(|o| o.value_u64()) == Some(9)
        })
        .unwrap();
    assert!(ingress.flow_match.get(Field::VlanVid).is_some());
    assert_eq!(
        ingress.instructions[0],
        Instruction::ApplyActions(vec![Action::PopVlan])
    );
    // ARP requests from the VLAN skip the responder (its IN_PORT reply would go untagged).
    let arp_from_uplink = flows
        .iter()
        .find(|f| {
            f.table == TABLE_ARP
                && f.flow_match.get(Field::InPort).map(|o| o.value_u64()) == Some(9)
        })
        .expect("table 1 flow for the uplink");
    assert!(arp_from_uplink.priority > 110);
    assert_eq!(
        arp_from_uplink.instructions,
        vec![Instruction::GotoTable(TABLE_FORWARD)]
    );
}

#[test]
fn arp_responder_can_be_turned_off() {
    let on = plan(NetworkOptions::default(), None).flows();
    let off = plan(
        NetworkOptions {
            arp_responder: Some(false),
            ..Default::default()
        },
        None,
    )
    .flows();
    let answers = |flows: &[Flow]| {
        flows
            .iter()
            .filter(|f| f.table == TABLE_ARP && outputs(f) == vec![port::IN_PORT])
            .count()
    };
    assert_eq!(answers(&on), 2);
    assert_eq!(answers(&off), 0);
}

#[test]
fn flows_of_some_owners_are_those_of_the_whole_pipeline() {
    let mut plan = plan(NetworkOptions::default(), Some(9));
    plan.endpoints.push(endpoint('c', 3, &["10.20.0.4/24"]));
    let all = plan.flows();
    let network = network_cookie(NET);
    let b = endpoint_cookie(&"b".repeat(64));
    let c = endpoint_cookie(&"c".repeat(64));
    for owners in [vec![network], vec![b], vec![network, c], vec![b, c], vec![]] {
        let expected: Vec<&Flow> = all.iter().filter(|f| owners.contains(&f.cookie)).collect();
        let got = plan.flows_of(&owners);
        assert_eq!(
            got.iter().collect::<Vec<_>>(),
            expected,
            "owners {owners:x?}"
        );
    }
    assert!(!plan.flows_of(&[c]).is_empty());
}
