//! A deterministic sample switch (two Docker networks made by the driver, one foreign bridge,
//! flows and counters) for snapshot tests, the README captures and the render benchmark.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use openflow::codec::action::format_instructions;
use openflow::{port, Action, Field, FieldRange, Instruction, MacAddr, Match, Oxm, PortStats};
use ovsdb::vswitch::{Bridge, Interface, OpenVSwitch, Port, Vswitch};
use ovsdb::Uuid;

use crate::cookie::PREFIX;
use crate::flows::FlowSample;
use crate::model::{keys, DockerNames};
use crate::state::{Conn, State, Update};

pub const WEB_NETWORK: &str = "3f2a9c1d7e4b5a6978c0d1e2f3a4b5c6d7e8f90123456789abcdef0123456789";
pub const DB_NETWORK: &str = "8c1e5a7b2d90f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e";

struct Attachment {
    container: &'static str,
    endpoint: String,
    ofport: i64,
    mac: String,
    addresses: String,
    link: &'static str,
}

fn endpoint_id(n: u8) -> String {
    format!("{n:02x}a1b2c3d4e5f60718293a4b5c6d7e8f9{n:02x}a1b2c3d4e5f60718293a4b5c6d7e8")
}

fn web_endpoints() -> Vec<Attachment> {
    (1..=3)
        .map(|i| Attachment {
            container: ["web-1", "web-2", "web-3"][usize::from(i - 1)],
            endpoint: endpoint_id(i),
            ofport: i64::from(i),
            mac: format!("02:42:0a:14:00:{:02x}", i + 1),
            addresses: format!("10.20.0.{}/24,fd00:20::{}/64", i + 1, i + 1),
            link: if i == 3 { "down" } else { "up" },
        })
        .collect()
}

fn db_endpoints() -> Vec<Attachment> {
    vec![Attachment {
        container: "db-1",
        endpoint: endpoint_id(0x40),
        ofport: 1,
        mac: "02:42:0a:1e:00:02".to_string(),
        addresses: "10.30.0.2/24".to_string(),
        link: "up",
    }]
}

struct Builder {
    vswitch: Vswitch,
    next: u128,
}

impl Builder {
    fn uuid(&mut self) -> Uuid {
        self.next += 1;
        Uuid::from_u128(self.next)
    }

    fn port(
        &mut self,
        name: &str,
        kind: &str,
        ofport: i64,
        mac: &str,
        link: &str,
        external_ids: &[(&str, &str)],
    ) -> Uuid {
        let (port_uuid, iface_uuid) = (self.uuid(), self.uuid());
        let ids: std::collections::BTreeMap<String, String> = external_ids
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.vswitch.interfaces.insert(
            iface_uuid,
            Interface {
                uuid: iface_uuid,
                name: name.to_string(),
                r#type: kind.to_string(),
                ofport: Some(ofport),
                mac_in_use: Some(mac.to_string()),
                admin_state: Some("up".to_string()),
                link_state: Some(link.to_string()),
                mtu: Some(1500),
                external_ids: ids.clone(),
                ..Interface::default()
            },
        );
        self.vswitch.ports.insert(
            port_uuid,
            Port {
                uuid: port_uuid,
                name: name.to_string(),
                interfaces: vec![iface_uuid],
                external_ids: ids,
                ..Port::default()
            },
        );
        port_uuid
    }

    fn bridge(
        &mut self,
        name: &str,
        datapath: &str,
        ports: Vec<Uuid>,
        external_ids: &[(&str, &str)],
    ) {
        let uuid = self.uuid();
        self.vswitch.bridges.insert(
            uuid,
            Bridge {
                uuid,
                name: name.to_string(),
                ports,
                datapath_type: datapath.to_string(),
                fail_mode: Some("secure".to_string()),
                external_ids: external_ids
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                ..Bridge::default()
            },
        );
    }

    fn network(
        &mut self,
        id: &str,
        subnets: &str,
        gateways: &str,
        internal: bool,
        endpoints: &[Attachment],
        gateway_mac: &str,
    ) {
        let bridge = format!("br-{}", &id[..12]);
        let mut ports = vec![self.port(&bridge, "internal", 65534, gateway_mac, "up", &[])];
        for e in endpoints {
            let port = format!("ovs{}", &e.endpoint[..12]);
            let container_iface = format!("ovc{}", &e.endpoint[..12]);
            ports.push(self.port(
                &port,
                "",
                e.ofport,
                "fe:54:00:00:00:01",
                e.link,
                &[
                    (keys::ENDPOINT_ID, &e.endpoint),
                    (keys::NETWORK_ID, id),
                    ("iface-id", &e.endpoint),
                    (keys::ATTACHED_MAC, &e.mac),
                    (keys::ADDRESSES, &e.addresses),
                    (keys::CONTAINER_IFACE, &container_iface),
                ],
            ));
        }
        self.bridge(
            &bridge,
            "netdev",
            ports,
            &[
                (keys::NETWORK_ID, id),
                (keys::SUBNETS, subnets),
                (keys::GATEWAYS, gateways),
                (keys::OPTIONS, "{}"),
                (keys::OWNED, "true"),
                (keys::INTERNAL, if internal { "true" } else { "false" }),
            ],
        );
    }
}

/// The sample switch configuration.
pub fn vswitch() -> Vswitch {
    let mut b = Builder {
        vswitch: Vswitch::default(),
        next: 0,
    };
    b.network(
        WEB_NETWORK,
        "10.20.0.0/24,fd00:20::/64",
        "10.20.0.1/24,fd00:20::1/64",
        false,
        &web_endpoints(),
        "aa:54:0a:14:00:01",
    );
    b.network(
        DB_NETWORK,
        "10.30.0.0/24",
        "10.30.0.1/24",
        true,
        &db_endpoints(),
        "aa:54:0a:1e:00:01",
    );
    let local = b.port("br-ext", "internal", 65534, "aa:00:00:00:00:99", "up", &[]);
    let uplink = b.port("eth1", "", 1, "aa:00:00:00:00:01", "up", &[]);
    b.bridge("br-ext", "", vec![local, uplink], &[]);
    let root = b.uuid();
    b.vswitch.open_vswitch = Some(OpenVSwitch {
        uuid: root,
        bridges: b.vswitch.bridges.keys().copied().collect(),
        ovs_version: Some("3.1.0".to_string()),
        ..OpenVSwitch::default()
    });
    b.vswitch
}

/// Docker's names for the sample networks and containers.
pub fn docker_names() -> DockerNames {
    let mut names = DockerNames::default();
    names
        .networks
        .insert(WEB_NETWORK.to_string(), "web".to_string());
    names
        .networks
        .insert(DB_NETWORK.to_string(), "db".to_string());
    for e in web_endpoints().into_iter().chain(db_endpoints()) {
        names.endpoints.insert(e.endpoint, e.container.to_string());
    }
    names
}

fn cookie(kind: u64, id: &str) -> u64 {
    PREFIX | (kind << 48) | u64::from_str_radix(&id[..12], 16).unwrap_or(0)
}

/// A flow as the switch would report it: its text comes from the `openflow` crate's
/// formatter, the same path real flow statistics take.
fn flow(
    table: u8,
    priority: u16,
    cookie: u64,
    flow_match: Match,
    instructions: &[Instruction],
    packets: u64,
    age: u32,
) -> FlowSample {
    let mut f = FlowSample::new(
        table,
        priority,
        cookie,
        flow_match.to_string(),
        format_instructions(instructions),
    );
    f.packets = packets;
    f.bytes = packets * 98;
    f.duration_sec = age;
    f
}

fn apply(actions: Vec<Action>) -> Instruction {
    Instruction::ApplyActions(actions)
}

fn mac(text: &str) -> MacAddr {
    text.parse().expect("fixture MAC")
}

/// The driver's pipeline for a network (a subset of its flows, with its priorities), with
/// counters.
fn pipeline(network: &str, endpoints: &[Attachment], gateway: &str, scale: u64) -> Vec<FlowSample> {
    let net = cookie(1, network);
    let drop: &[Instruction] = &[];
    let mut flood: Vec<Action> = vec![Action::output(port::LOCAL)];
    flood.extend(endpoints.iter().map(|e| Action::output(e.ofport as u32)));
    let mut flows = vec![
        flow(0, 1, net, Match::new(), drop, 3 * scale, 3600),
        flow(
            0,
            200,
            net,
            Match::new().in_port(port::LOCAL),
            &[Instruction::GotoTable(1)],
            40 * scale,
            3600,
        ),
        flow(
            1,
            1,
            net,
            Match::new(),
            &[Instruction::GotoTable(2)],
            250 * scale,
            3600,
        ),
        flow(
            2,
            50,
            net,
            Match::new().eth_dst_masked(mac("01:00:00:00:00:00"), mac("01:00:00:00:00:00")),
            &[apply(flood)],
            12 * scale,
            3600,
        ),
        flow(2, 1, net, Match::new(), drop, 0, 3600),
    ];
    let from_endpoint = [
        apply(vec![Action::SetField(Oxm::int(Field::Reg(0), 1))]),
        Instruction::GotoTable(1),
    ];
    for e in endpoints {
        let ep = cookie(2, &e.endpoint);
        let ip: Ipv4Addr = e
            .addresses
            .split('/')
            .next()
            .and_then(|a| a.parse().ok())
            .expect("fixture address");
        let port = e.ofport as u32;
        let mac = mac(&e.mac);
        let moving = if e.ofport == 1 { 17 } else { 1 };
        flows.push(flow(
            0,
            100,
            ep,
            Match::new()
                .in_port(port)
                .eth_src(mac)
                .eth_type(0x0800)
                .ipv4_src(ip),
            &from_endpoint,
            120 * scale * moving,
            1800,
        ));
        flows.push(flow(
            0,
            100,
            ep,
            Match::new()
                .in_port(port)
                .eth_src(mac)
                .eth_type(0x0806)
                .arp_spa(ip)
                .arp_sha(mac),
            &from_endpoint,
            4 * scale,
            1800,
        ));
        flows.push(flow(
            1,
            100,
            ep,
            Match::new().eth_type(0x0806).arp_op(1).arp_tpa(ip),
            &[apply(vec![
                Action::RegMove {
                    src: FieldRange::whole(Field::EthSrc),
                    dst: FieldRange::whole(Field::EthDst),
                },
                Action::SetField(Oxm::mac(Field::EthSrc, mac)),
                Action::SetField(Oxm::int(Field::ArpOp, 2)),
                Action::output(port::IN_PORT),
            ])],
            2 * scale,
            1800,
        ));
        flows.push(flow(
            2,
            100,
            ep,
            Match::new().eth_dst(mac),
            &[apply(vec![Action::output(port)])],
            110 * scale * moving,
            1800,
        ));
    }
    flows.push(flow(
        2,
        100,
        net,
        Match::new().eth_dst(self::mac(gateway)),
        &[apply(vec![Action::output(port::LOCAL)])],
        35 * scale,
        3600,
    ));
    flows
}

/// `count` extra flows (for the benchmark): per-destination forwarding entries.
pub fn synthetic_flows(network: &str, count: usize, scale: u64) -> Vec<FlowSample> {
    let net = cookie(1, network);
    (0..count)
        .map(|i| {
            let (a, b) = ((i / 250) % 250, i % 250);
            let destination = Ipv4Addr::new(10, (100 + i / 62_500) as u8, a as u8, b as u8);
            let next_hop = MacAddr([0x02, 0x42, 0x0a, (i % 256) as u8, a as u8, b as u8]);
            flow(
                2,
                (1000 + i % 7) as u16,
                net,
                Match::new()
                    .eth_type(0x0800)
                    .ipv4_dst(destination)
                    .ip_proto(6)
                    .tcp_dst((1024 + i % 4000) as u16),
                &[apply(vec![
                    Action::SetField(Oxm::mac(Field::EthDst, next_hop)),
                    Action::output(1 + (i % 3) as u32),
                ])],
                (i as u64 % 13) * scale,
                (i % 5000) as u32 + 10,
            )
        })
        .collect()
}

fn all_flows(extra: usize, scale: u64) -> Vec<(String, Vec<FlowSample>)> {
    let web_bridge = format!("br-{}", &WEB_NETWORK[..12]);
    let db_bridge = format!("br-{}", &DB_NETWORK[..12]);
    let mut web = pipeline(WEB_NETWORK, &web_endpoints(), "aa:54:0a:14:00:01", scale);
    web.extend(synthetic_flows(WEB_NETWORK, extra, scale));
    let db = pipeline(DB_NETWORK, &db_endpoints(), "aa:54:0a:1e:00:01", scale);
    let mut ext = vec![flow(
        0,
        0,
        0,
        Match::new(),
        &[apply(vec![Action::output(port::NORMAL)])],
        9 * scale,
        7200,
    )];
    ext[0].bytes = 9 * scale * 60;
    vec![
        (web_bridge, web),
        (db_bridge, db),
        ("br-ext".to_string(), ext),
    ]
}

fn port_stats(port_no: u32, packets: u64) -> PortStats {
    PortStats {
        port_no,
        rx_packets: packets,
        tx_packets: packets * 9 / 10,
        rx_bytes: packets * 98,
        tx_bytes: packets * 9 / 10 * 98,
        rx_dropped: if port_no == 3 { 7 } else { 0 },
        ..PortStats::default()
    }
}

/// Packets a port received in the first `step` seconds; web-1's rate follows a wave so that
/// its sparkline has a shape.
fn received(port: &str, step: u64) -> u64 {
    const WAVE: [u64; 8] = [1, 2, 4, 7, 9, 7, 4, 2];
    let per_second = |s: u64| match port {
        "web-1" => 100 * (3 + WAVE[(s % 8) as usize]),
        "web-2" => 200,
        "web-3" => 0,
        "ext" => 500,
        _ => 100,
    };
    (0..step).map(per_second).sum()
}

fn all_ports(step: u64) -> Vec<(String, Vec<PortStats>)> {
    use crate::state::OFPP_LOCAL;
    let web_bridge = format!("br-{}", &WEB_NETWORK[..12]);
    let db_bridge = format!("br-{}", &DB_NETWORK[..12]);
    vec![
        (
            web_bridge,
            vec![
                port_stats(1, received("web-1", step)),
                port_stats(2, received("web-2", step)),
                port_stats(3, received("web-3", step)),
                port_stats(OFPP_LOCAL, received("local", step)),
            ],
        ),
        (
            db_bridge,
            vec![
                port_stats(1, received("db-1", step)),
                port_stats(OFPP_LOCAL, received("local", step)),
            ],
        ),
        (
            "br-ext".to_string(),
            vec![port_stats(1, received("ext", step))],
        ),
    ]
}

/// The sample state: OVSDB contents, Docker names, two flow samples one second apart (so rates
/// and highlights show), port samples building a sparkline, everything connected.
pub fn state(extra_flows: usize) -> State {
    let mut state = State::default();
    state.set_vswitch(vswitch());
    state.apply(Update::Docker(docker_names()));
    let start = Instant::now();
    let samples = 40u64;
    for step in 0..=samples {
        let at = start + Duration::from_secs(step);
        for (bridge, ports) in all_ports(step) {
            state.apply(Update::Ports { bridge, at, ports });
        }
    }
    for (i, scale) in [(0u64, 10u64), (1, 11)] {
        let at = start + Duration::from_secs(samples + i);
        for (bridge, flows) in all_flows(extra_flows, scale) {
            state.apply(Update::Flows { bridge, at, flows });
        }
    }
    state.apply(Update::OvsdbStatus(Conn::Up));
    state.apply(Update::DockerStatus(Conn::Up));
    state.apply(Update::UnixctlStatus(Conn::Up));
    for network in state.inventory.networks.clone() {
        state.apply(Update::OpenFlowStatus {
            bridge: network.bridge.clone(),
            status: Conn::Up,
        });
    }
    let web_bridge = format!("br-{}", &WEB_NETWORK[..12]);
    state.apply(Update::Fdb {
        bridge: web_bridge,
        text: " port  VLAN  MAC                Age\n    1     0  02:42:0a:14:00:02    3\n    2     0  02:42:0a:14:00:03    5\n".to_string(),
    });
    state
}

/// A new flow sample of the web bridge `seconds` after the fixture's last one (for the
/// benchmark's update path).
pub fn web_flows_sample(extra_flows: usize, scale: u64) -> (String, Vec<FlowSample>) {
    all_flows(extra_flows, scale).swap_remove(0)
}

/// A typical `ofproto/trace` answer, for the trace view's snapshot.
pub const TRACE_RESULT: &str = "Flow: icmp,in_port=1,vlan_tci=0x0000,dl_src=02:42:0a:14:00:02,dl_dst=02:42:0a:14:00:03,nw_src=10.20.0.2,nw_dst=10.20.0.3,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no,icmp_type=8,icmp_code=0

bridge(\"br-3f2a9c1d7e4b\")
-----------------------
 0. ip,in_port=1,dl_src=02:42:0a:14:00:02,nw_src=10.20.0.2, priority 100, cookie 0xdc0202a1b2c3d4e5
    set_field:0x1->reg0
    goto_table:1
 1. priority 1, cookie 0xdc013f2a9c1d7e4b
    goto_table:2
 2. dl_dst=02:42:0a:14:00:03, priority 100, cookie 0xdc0202a1b2c3d4e5
    output:2

Final flow: unchanged
Megaflow: recirc_id=0,eth,ip,in_port=1,dl_src=02:42:0a:14:00:02,dl_dst=02:42:0a:14:00:03,nw_src=10.20.0.2,nw_frag=no
Datapath actions: 2
";
