//! The OpenFlow pipeline the driver owns on each of its bridges, as a pure function of what
//! OVSDB records (network, endpoints, their ofports). Installing and repairing it is
//! [`crate::flows`]' job; this module only says which flows should exist.
//!
//! Tables:
//! - 0 `ingress`: port security. The gateway (LOCAL) and the uplink are trusted. An endpoint's
//!   frames pass only with its MAC, and IPv4 / ARP / IPv6 / neighbour discovery only with its own
//!   addresses; passing frames from endpoints get `reg0=1`. Everything else is dropped.
//! - 1 `arp`: the ARP responder answers requests for endpoint addresses in the switch.
//! - 2 `forward`: unicast to a known MAC goes to its port; broadcast and multicast to the
//!   network's ports; unknown unicast to the uplink, or nowhere. With `ovs.icc=false`, frames
//!   from endpoints (`reg0=1`) reach only the gateway and the uplink.
//!
//! Every flow carries a cookie: [`COOKIE_PREFIX`] in the top 12 bits, a kind nibble, and the
//! first 12 hex digits of the network or endpoint id in the low 48 bits.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use openflow::codec::action::{port, Action, FieldRange, Instruction};
use openflow::codec::oxm::{Field, MacAddr, Match, Oxm};

use crate::naming::Mac;
use crate::switch::{EndpointRecord, NetworkRecord};

/// Table numbers.
pub const TABLE_INGRESS: u8 = 0;
pub const TABLE_ARP: u8 = 1;
pub const TABLE_FORWARD: u8 = 2;

/// Top 12 bits of every driver cookie (`0xdc0…`).
pub const COOKIE_PREFIX: u64 = 0xdc0 << 52;
/// Mask selecting the prefix: all of the driver's flows.
pub const COOKIE_PREFIX_MASK: u64 = 0xfff << 52;
/// Mask selecting one owner (prefix, kind and id digits).
pub const COOKIE_OWNER_MASK: u64 = u64::MAX;
const KIND_NETWORK: u64 = 1;
const KIND_ENDPOINT: u64 = 2;

const ETH_IPV4: u16 = 0x0800;
const ETH_ARP: u16 = 0x0806;
const ETH_IPV6: u16 = 0x86dd;
const ETH_VLAN: u16 = 0x8100;
const IPPROTO_ICMPV6: u8 = 58;
const ND_NEIGHBOR_SOLICIT: u8 = 135;
const ND_NEIGHBOR_ADVERT: u8 = 136;
const VLAN_PRESENT: u16 = 0x1000;
const ARP_REQUEST: u16 = 1;
const ARP_REPLY: u64 = 2;
/// Register that marks frames from endpoints (untrusted) for the icc rules.
const FROM_ENDPOINT_REG: u8 = 0;
/// Priority of the catch-all flow of each table (drop, or on to the next table). Not 0: a
/// bridge without `fail_mode=secure` (what `ovs-vsctl add-br` makes, and what `ovs.bridge`
/// may adopt) has the operator's `cookie=0 priority=0 actions=NORMAL`, and an OpenFlow add of
/// the same match and priority replaces a flow whatever its cookie. At 1 the driver's flow
/// takes precedence while the network exists and the operator's is still there when it goes.
pub const PRIORITY_CATCH_ALL: u16 = 1;

fn cookie(kind: u64, id: &str) -> u64 {
    let digits = id.get(..12).unwrap_or(id);
    let owner = u64::from_str_radix(digits, 16).unwrap_or(0) & 0xffff_ffff_ffff;
    COOKIE_PREFIX | (kind << 48) | owner
}

/// Cookie of a network's shared flows.
pub fn network_cookie(network_id: &str) -> u64 {
    cookie(KIND_NETWORK, network_id)
}

/// Cookie of one endpoint's flows.
pub fn endpoint_cookie(endpoint_id: &str) -> u64 {
    cookie(KIND_ENDPOINT, endpoint_id)
}

/// Whether a cookie is one of the driver's.
pub fn is_driver_cookie(cookie: u64) -> bool {
    cookie & COOKIE_PREFIX_MASK == COOKIE_PREFIX
}

/// One flow the driver wants on a bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub table: u8,
    pub priority: u16,
    pub cookie: u64,
    pub flow_match: Match,
    pub instructions: Vec<Instruction>,
}

/// An endpoint with the OpenFlow port its interface got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedEndpoint {
    pub record: EndpointRecord,
    pub ofport: u32,
}

/// Everything the pipeline of one network depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkPlan {
    pub network: NetworkRecord,
    /// MAC of the bridge's internal (gateway) interface, when known.
    pub gateway_mac: Option<Mac>,
    pub uplink_ofport: Option<u32>,
    pub endpoints: Vec<PlacedEndpoint>,
}

fn mac(m: Mac) -> MacAddr {
    MacAddr(m.0)
}

/// The EUI-64 link-local address the kernel gives an interface with this MAC.
pub fn link_local(m: Mac) -> Ipv6Addr {
    let b = m.0;
    Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        u16::from_be_bytes([b[0] ^ 0x02, b[1]]),
        u16::from_be_bytes([b[2], 0xff]),
        u16::from_be_bytes([0xfe, b[3]]),
        u16::from_be_bytes([b[4], b[5]]),
    )
}

/// Orders a match's fields as OpenFlow requires: each after its prerequisites (eth_type before
/// IP fields, ip_proto before ports, ICMPv6 type before ND fields). The OXM field numbers of
/// the basic class already follow that order; Nicira registers have no prerequisites.
fn in_prerequisite_order(mut flow_match: Match) -> Match {
    flow_match
        .fields
        .sort_by_key(|oxm| oxm.field.oxm_header(false));
    flow_match
}

/// Builds the flows of one owner (cookie), with their fields in prerequisite order.
fn flow_maker(cookie: u64) -> impl Fn(u8, u16, Match, Vec<Instruction>) -> Flow {
    move |table, priority, flow_match, instructions| Flow {
        table,
        priority,
        cookie,
        flow_match: in_prerequisite_order(flow_match),
        instructions,
    }
}

fn goto(table: u8) -> Instruction {
    Instruction::GotoTable(table)
}

fn apply(actions: Vec<Action>) -> Instruction {
    Instruction::ApplyActions(actions)
}

fn mark_from_endpoint() -> Instruction {
    apply(vec![Action::SetField(Oxm::int(
        Field::Reg(FROM_ENDPOINT_REG),
        1,
    ))])
}

/// Actions that send a frame out of the uplink, tagged when the network has a VLAN.
fn to_uplink(plan: &NetworkPlan) -> Vec<Action> {
    let Some(uplink) = plan.uplink_ofport else {
        return Vec::new();
    };
    match plan.network.options.vlan {
        Some(vlan) => vec![
            Action::PushVlan(ETH_VLAN),
            Action::SetField(Oxm::int(Field::VlanVid, u64::from(vlan | VLAN_PRESENT))),
            Action::output(uplink),
        ],
        None => vec![Action::output(uplink)],
    }
}

impl NetworkPlan {
    fn network_cookie(&self) -> u64 {
        network_cookie(&self.network.network_id)
    }

    /// Every flow of the network: its shared flows and each endpoint's.
    pub fn flows(&self) -> Vec<Flow> {
        let mut flows = self.network_flows();
        for endpoint in &self.endpoints {
            flows.extend(self.endpoint_flows(endpoint));
        }
        flows
    }

    /// The flows of some owners only (cookies: the network's, endpoints'), as [`Self::flows`]
    /// lists them, without building everyone else's: an endpoint's change costs the same
    /// however many endpoints the network has (the network's own flows aside).
    pub fn flows_of(&self, owners: &[u64]) -> Vec<Flow> {
        let mut flows = Vec::new();
        if owners.contains(&self.network_cookie()) {
            flows.extend(self.network_flows());
        }
        for endpoint in &self.endpoints {
            if owners.contains(&endpoint_cookie(&endpoint.record.endpoint_id)) {
                flows.extend(self.endpoint_flows(endpoint));
            }
        }
        flows
    }

    /// Flows that belong to the network as a whole (cookie of the network).
    pub fn network_flows(&self) -> Vec<Flow> {
        let cookie = self.network_cookie();
        let flow = flow_maker(cookie);
        let mut flows = vec![
            flow(TABLE_INGRESS, PRIORITY_CATCH_ALL, Match::new(), vec![]),
            flow(
                TABLE_INGRESS,
                200,
                Match::new().in_port(port::LOCAL),
                vec![goto(TABLE_ARP)],
            ),
            flow(
                TABLE_ARP,
                PRIORITY_CATCH_ALL,
                Match::new(),
                vec![goto(TABLE_FORWARD)],
            ),
        ];
        if let Some(uplink) = self.uplink_ofport {
            let (flow_match, mut instructions) = match self.network.options.vlan {
                Some(vlan) => (
                    Match::new().in_port(uplink).vlan_vid(vlan),
                    vec![apply(vec![Action::PopVlan])],
                ),
                None => (Match::new().in_port(uplink), vec![]),
            };
            instructions.push(goto(TABLE_ARP));
            flows.push(flow(TABLE_INGRESS, 200, flow_match, instructions));
            if self.network.options.vlan.is_some() {
                // The responder answers with IN_PORT, untagged: requests from a VLAN uplink go
                // on to the endpoints, whose replies leave through the tagging flows.
                flows.push(flow(
                    TABLE_ARP,
                    120,
                    Match::new()
                        .in_port(uplink)
                        .eth_type(ETH_ARP)
                        .arp_op(ARP_REQUEST),
                    vec![goto(TABLE_FORWARD)],
                ));
            }
        }
        if let Some(gateway) = self.gateway_mac {
            flows.push(flow(
                TABLE_FORWARD,
                100,
                Match::new().eth_dst(mac(gateway)),
                vec![apply(vec![Action::output(port::LOCAL)])],
            ));
        }
        let unknown_unicast = to_uplink(self);
        flows.push(flow(
            TABLE_FORWARD,
            PRIORITY_CATCH_ALL,
            Match::new(),
            if unknown_unicast.is_empty() {
                vec![]
            } else {
                vec![apply(unknown_unicast)]
            },
        ));

        // Broadcast and multicast: to every port of the network but the one it came in on
        // (OVS never outputs to the input port); the uplink last, as its tag changes the frame.
        let group =
            Match::new().eth_dst_masked(MacAddr([1, 0, 0, 0, 0, 0]), MacAddr([1, 0, 0, 0, 0, 0]));
        let mut to_all = vec![Action::output(port::LOCAL)];
        to_all.extend(self.endpoints.iter().map(|e| Action::output(e.ofport)));
        to_all.extend(to_uplink(self));
        if self.network.options.icc_enabled() {
            flows.push(flow(TABLE_FORWARD, 50, group, vec![apply(to_all)]));
        } else {
            let mut to_outside = vec![Action::output(port::LOCAL)];
            to_outside.extend(to_uplink(self));
            flows.push(flow(
                TABLE_FORWARD,
                51,
                group.clone().reg(FROM_ENDPOINT_REG, 1),
                vec![apply(to_outside)],
            ));
            flows.push(flow(TABLE_FORWARD, 50, group, vec![apply(to_all)]));
        }
        flows
    }

    /// One endpoint's flows (cookie of the endpoint).
    pub fn endpoint_flows(&self, endpoint: &PlacedEndpoint) -> Vec<Flow> {
        let cookie = endpoint_cookie(&endpoint.record.endpoint_id);
        let flow = flow_maker(cookie);
        let port = endpoint.ofport;
        let own_mac = endpoint.record.mac;
        let from_me = Match::new().in_port(port).eth_src(mac(own_mac));
        let accept = vec![mark_from_endpoint(), goto(TABLE_ARP)];
        let mut flows = Vec::new();

        let ipv4: Vec<Ipv4Addr> = endpoint
            .record
            .addresses
            .iter()
            .filter_map(|a| match a.addr() {
                IpAddr::V4(v4) => Some(v4),
                IpAddr::V6(_) => None,
            })
            .collect();
        let mut ipv6: Vec<Ipv6Addr> = endpoint
            .record
            .addresses
            .iter()
            .filter_map(|a| match a.addr() {
                IpAddr::V6(v6) => Some(v6),
                IpAddr::V4(_) => None,
            })
            .collect();
        ipv6.push(link_local(own_mac));

        for address in &ipv4 {
            flows.push(flow(
                TABLE_INGRESS,
                100,
                from_me.clone().eth_type(ETH_IPV4).ipv4_src(*address),
                accept.clone(),
            ));
            flows.push(flow(
                TABLE_INGRESS,
                100,
                from_me
                    .clone()
                    .eth_type(ETH_ARP)
                    .arp_spa(*address)
                    .arp_sha(mac(own_mac)),
                accept.clone(),
            ));
        }

        let icmpv6 = |m: Match, icmp_type: u8| {
            m.eth_type(ETH_IPV6)
                .ip_proto(IPPROTO_ICMPV6)
                .icmpv6_type(icmp_type)
        };
        let no_mac = MacAddr([0; 6]);
        for address in &ipv6 {
            flows.push(flow(
                TABLE_INGRESS,
                100,
                from_me.clone().eth_type(ETH_IPV6).ipv6_src(*address),
                accept.clone(),
            ));
            for link_mac in [mac(own_mac), no_mac] {
                // Advertisements only for its own addresses, with its own (or no) MAC.
                flows.push(flow(
                    TABLE_INGRESS,
                    110,
                    icmpv6(from_me.clone(), ND_NEIGHBOR_ADVERT)
                        .ipv6_nd_target(*address)
                        .ipv6_nd_tll(link_mac),
                    accept.clone(),
                ));
                // Solicitations only from its own addresses, with its own (or no) MAC.
                flows.push(flow(
                    TABLE_INGRESS,
                    110,
                    icmpv6(from_me.clone().ipv6_src(*address), ND_NEIGHBOR_SOLICIT)
                        .ipv6_nd_sll(link_mac),
                    accept.clone(),
                ));
            }
        }
        // Duplicate address detection solicits from the unspecified address, without a MAC.
        flows.push(flow(
            TABLE_INGRESS,
            110,
            icmpv6(
                from_me.clone().ipv6_src(Ipv6Addr::UNSPECIFIED),
                ND_NEIGHBOR_SOLICIT,
            )
            .ipv6_nd_sll(no_mac),
            accept.clone(),
        ));
        for nd in [ND_NEIGHBOR_SOLICIT, ND_NEIGHBOR_ADVERT] {
            flows.push(flow(
                TABLE_INGRESS,
                105,
                icmpv6(Match::new().in_port(port), nd),
                vec![],
            ));
        }
        flows.push(flow(TABLE_INGRESS, 50, Match::new().in_port(port), vec![]));

        if self.network.options.arp_responder_enabled() {
            for address in &ipv4 {
                // Its own requests (gratuitous ARP, probes) are not answered.
                flows.push(flow(
                    TABLE_ARP,
                    110,
                    Match::new()
                        .in_port(port)
                        .eth_type(ETH_ARP)
                        .arp_op(ARP_REQUEST)
                        .arp_tpa(*address),
                    vec![goto(TABLE_FORWARD)],
                ));
                flows.push(flow(
                    TABLE_ARP,
                    100,
                    Match::new()
                        .eth_type(ETH_ARP)
                        .arp_op(ARP_REQUEST)
                        .arp_tpa(*address),
                    vec![apply(arp_reply(own_mac, *address))],
                ));
            }
        }

        let to_me = Match::new().eth_dst(mac(own_mac));
        if self.network.options.icc_enabled() {
            flows.push(flow(
                TABLE_FORWARD,
                100,
                to_me,
                vec![apply(vec![Action::output(port)])],
            ));
        } else {
            flows.push(flow(
                TABLE_FORWARD,
                100,
                to_me.reg(FROM_ENDPOINT_REG, 0),
                vec![apply(vec![Action::output(port)])],
            ));
        }
        flows
    }
}

/// Turns an ARP request for `address` into the reply `owner` would give, sent back in.
fn arp_reply(owner: Mac, address: Ipv4Addr) -> Vec<Action> {
    vec![
        Action::RegMove {
            src: FieldRange::whole(Field::EthSrc),
            dst: FieldRange::whole(Field::EthDst),
        },
        Action::SetField(Oxm::mac(Field::EthSrc, mac(owner))),
        Action::SetField(Oxm::int(Field::ArpOp, ARP_REPLY)),
        Action::RegMove {
            src: FieldRange::whole(Field::ArpSha),
            dst: FieldRange::whole(Field::ArpTha),
        },
        Action::RegMove {
            src: FieldRange::whole(Field::ArpSpa),
            dst: FieldRange::whole(Field::ArpTpa),
        },
        Action::SetField(Oxm::mac(Field::ArpSha, mac(owner))),
        Action::SetField(Oxm::ipv4(Field::ArpSpa, address)),
        Action::output(port::IN_PORT),
    ]
}

#[cfg(test)]
mod tests;
