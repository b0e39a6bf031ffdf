//! Golden tests: bytes we encode are decoded by `ovs-ofctl ofp-print` to the expected text,
//! bytes we encode equal what ovs-ofctl sends for the same request, and bytes captured from
//! OVS decode to the expected values.

mod common;

use std::net::Ipv4Addr;

use common::{hex, ofp_print};
use openflow::codec::error_msg::ErrorMsg;
use openflow::codec::{self, BundleAdd, BundleControl, BundleCtrlType, Hello, Message, PacketOut};
use openflow::{
    port, Action, Field, FieldRange, FlowFilter, FlowMod, FlowModFlags, Instruction, MacAddr,
    Match, MultipartBody, MultipartRequest, Oxm, PortReason, SwitchConfig, Version,
};

/// Encodes with xid 0x42, checks our own decoder round-trips it, returns ofp-print's text.
fn print(version: Version, message: &Message) -> String {
    let bytes = codec::encode_to_vec(version, 0x42, message).expect("encode");
    let (header, decoded) = codec::decode(&bytes).expect("decode own bytes");
    assert_eq!(header.xid, 0x42);
    assert_eq!(&decoded, message, "round trip");
    ofp_print(&bytes)
}

fn assert_prints(version: Version, message: &Message, expected: &str) {
    let text = print(version, message);
    assert!(
        text.trim_end() == expected.trim_end(),
        "ofp-print mismatch\n got: {text}\nwant: {expected}"
    );
}

fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    hex(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

fn decode(bytes: &[u8]) -> Message {
    assert_eq!(codec::check(bytes), Ok(bytes.len()));
    codec::decode(bytes).expect("decode").1
}

// ---- our bytes, checked by ovs-ofctl ofp-print -------------------------------------------

#[test]
fn flow_mod_add_with_many_match_fields_and_output_ports() {
    let m = Match::new()
        .in_port(7)
        .eth_src_masked(mac("00:11:22:33:44:55"), mac("ff:ff:ff:00:00:00"))
        .eth_dst(mac("66:77:88:99:aa:bb"))
        .eth_type(0x0800)
        .vlan_vid(10)
        .vlan_pcp(3)
        .ip_proto(6)
        .ip_dscp(46)
        .ipv4_src_prefix(Ipv4Addr::new(10, 1, 0, 0), 16)
        .ipv4_dst(Ipv4Addr::new(10, 2, 3, 4))
        .tcp_src(1234)
        .tcp_dst(80)
        .metadata_masked(0x12, 0xff)
        .tunnel_id(0x99)
        .reg(0, 1)
        .reg_masked(15, 0x10, 0xf0);
    m.check_prerequisites().unwrap();
    let fm = FlowMod::add(3, 200, m)
        .cookie(0xabc)
        .idle_timeout(10)
        .hard_timeout(20)
        .flags(FlowModFlags::SEND_FLOW_REM | FlowModFlags::CHECK_OVERLAP)
        .apply(vec![
            Action::output(2),
            Action::controller(),
            Action::output(port::IN_PORT),
            Action::output(port::ALL),
            Action::output(port::FLOOD),
            Action::output(port::LOCAL),
            Action::Output {
                port: port::CONTROLLER,
                max_len: 128,
            },
        ]);
    assert_prints(
        Version::V1_3,
        &Message::FlowMod(fm),
        "OFPT_FLOW_MOD (OF1.3) (xid=0x42): ADD table:3 priority=200,tcp,reg0=0x1,reg15=0x10/0xf0,\
         tun_id=0x99,metadata=0x12/0xff,in_port=7,dl_vlan=10,dl_vlan_pcp=3,\
         dl_src=00:11:22:00:00:00/ff:ff:ff:00:00:00,dl_dst=66:77:88:99:aa:bb,nw_src=10.1.0.0/16,\
         nw_dst=10.2.3.4,nw_tos=184,tp_src=1234,tp_dst=80 cookie:0xabc idle:10 hard:20 \
         send_flow_rem check_overlap actions=output:2,CONTROLLER:65535,IN_PORT,ALL,FLOOD,LOCAL,\
         CONTROLLER:128",
    );
}

#[test]
fn flow_mod_modify_strict_ipv6_nd_cookie_mask_of14() {
    let m = Match::prerequisites_for(Field::Ipv6NdSll)
        .icmpv6_code(0)
        .ipv6_src_prefix("fe80::".parse().unwrap(), 64)
        .ipv6_dst("ff02::1".parse().unwrap())
        .ipv6_nd_target("fe80::1".parse().unwrap())
        .ipv6_nd_sll(mac("00:00:00:00:00:01"));
    m.check_prerequisites().unwrap();
    let fm = FlowMod::modify_strict(1, 5, m)
        .cookie_masked(1, 0xff)
        .apply(vec![Action::DecNwTtl]);
    assert_prints(
        Version::V1_4,
        &Message::FlowMod(fm),
        "OFPT_FLOW_MOD (OF1.4) (xid=0x42): MOD_STRICT table:1 priority=5,icmp6,ipv6_src=fe80::/64,\
         ipv6_dst=ff02::1,icmp_type=135,icmp_code=0,nd_target=fe80::1,nd_sll=00:00:00:00:00:01 \
         cookie:0x1/0xff actions=dec_ttl",
    );
}

#[test]
fn flow_mod_delete_arp_with_cookie_mask_out_port_and_group() {
    let m = Match::new()
        .eth_type(0x0806)
        .arp_op(1)
        .arp_spa(Ipv4Addr::new(1, 2, 3, 4))
        .arp_tpa_masked(Ipv4Addr::new(5, 6, 7, 8), Ipv4Addr::new(255, 255, 0, 0))
        .arp_sha(mac("00:00:00:00:00:02"))
        .arp_tha(mac("00:00:00:00:00:03"));
    let fm = FlowMod::delete(openflow::TABLE_ALL, m)
        .cookie_masked(0x100, 0xf00)
        .out_port(5)
        .out_group(9);
    assert_prints(
        Version::V1_3,
        &Message::FlowMod(fm),
        "OFPT_FLOW_MOD (OF1.3) (xid=0x42): DEL table:255 priority=0,arp,arp_spa=1.2.3.4,\
         arp_tpa=5.6.0.0/16,arp_op=1,arp_sha=00:00:00:00:00:02,arp_tha=00:00:00:00:00:03 \
         cookie:0x100/0xf00 out_port:5 actions=drop",
    );
}

#[test]
fn flow_mod_delete_strict_icmp_and_modify_udp_with_instructions() {
    let icmp = Match::prerequisites_for(Field::Icmpv4Type)
        .icmpv4_type(8)
        .icmpv4_code(0);
    assert_prints(
        Version::V1_3,
        &Message::FlowMod(FlowMod::delete_strict(0, 10, icmp)),
        "OFPT_FLOW_MOD (OF1.3) (xid=0x42): DEL_STRICT priority=10,icmp,icmp_type=8,icmp_code=0 \
         actions=drop",
    );
    let udp = Match::prerequisites_for(Field::UdpSrc)
        .udp_src(53)
        .udp_dst(5353);
    let fm = FlowMod::modify(0, udp)
        .instruction(Instruction::ClearActions)
        .instruction(Instruction::WriteActions(vec![Action::Group(4)]))
        .instruction(Instruction::WriteMetadata {
            metadata: 0x1,
            mask: 0xff,
        })
        .instruction(Instruction::GotoTable(5));
    assert_prints(
        Version::V1_3,
        &Message::FlowMod(fm),
        "OFPT_FLOW_MOD (OF1.3) (xid=0x42): MOD priority=0,udp,tp_src=53,tp_dst=5353 \
         actions=clear_actions,write_actions(group:4),write_metadata:0x1/0xff,goto_table:5",
    );
}

#[test]
fn flow_mod_vlan_and_nicira_actions() {
    let sctp = Match::prerequisites_for(Field::SctpSrc)
        .sctp_src(1)
        .sctp_dst(2);
    let fm = FlowMod::add(0, 1, sctp).apply(vec![
        Action::PushVlan(0x8100),
        Action::SetField(Oxm::int(Field::VlanVid, 0x1000 | 5)),
        Action::PopVlan,
        Action::resubmit_table(7),
        Action::Resubmit {
            port: Some(3),
            table: None,
        },
        Action::Resubmit {
            port: None,
            table: Some(2),
        },
        Action::load_reg(2, 0xdead),
        Action::RegLoad {
            dst: FieldRange::bits(Field::Reg(5), 0, 15),
            value: 0x1f,
        },
        Action::RegMove {
            src: FieldRange::whole(Field::Reg(1)),
            dst: FieldRange::whole(Field::Reg(2)),
        },
        Action::RegMove {
            src: FieldRange::bits(Field::Reg(3), 0, 7),
            dst: FieldRange::bits(Field::Reg(4), 8, 15),
        },
    ]);
    assert_prints(
        Version::V1_3,
        &Message::FlowMod(fm),
        "OFPT_FLOW_MOD (OF1.3) (xid=0x42): ADD priority=1,sctp,tp_src=1,tp_dst=2 \
         actions=push_vlan:0x8100,set_field:4101->vlan_vid,pop_vlan,resubmit(,7),resubmit:3,\
         resubmit(,2),load:0xdead->NXM_NX_REG2[],load:0x1f->NXM_NX_REG5[0..15],\
         move:NXM_NX_REG1[]->NXM_NX_REG2[],move:NXM_NX_REG3[0..7]->NXM_NX_REG4[8..15]",
    );
}

/// `set_field` for every match field OVS can write, each with its prerequisites.
#[test]
fn set_field_for_every_writable_field() {
    let expected: &[(Field, &str)] = &[
        (Field::InPort, "set_field:1->in_port"),
        (Field::Metadata, "set_field:0x1->metadata"),
        (Field::EthDst, "set_field:00:00:00:00:00:01->eth_dst"),
        (Field::EthSrc, "set_field:00:00:00:00:00:01->eth_src"),
        (Field::VlanVid, "set_field:4097->vlan_vid"),
        (Field::VlanPcp, "set_field:1->vlan_pcp"),
        (Field::IpDscp, "set_field:1->ip_dscp"),
        (Field::IpEcn, "set_field:1->nw_ecn"),
        (Field::Ipv4Src, "set_field:0.0.0.1->ip_src"),
        (Field::Ipv4Dst, "set_field:0.0.0.1->ip_dst"),
        (Field::TcpSrc, "set_field:1->tcp_src"),
        (Field::TcpDst, "set_field:1->tcp_dst"),
        (Field::UdpSrc, "set_field:1->udp_src"),
        (Field::UdpDst, "set_field:1->udp_dst"),
        (Field::SctpSrc, "set_field:1->sctp_src"),
        (Field::SctpDst, "set_field:1->sctp_dst"),
        (Field::Icmpv4Type, "set_field:1->icmp_type"),
        (Field::Icmpv4Code, "set_field:1->icmp_code"),
        (Field::ArpOp, "set_field:1->arp_op"),
        (Field::ArpSpa, "set_field:0.0.0.1->arp_spa"),
        (Field::ArpTpa, "set_field:0.0.0.1->arp_tpa"),
        (Field::ArpSha, "set_field:00:00:00:00:00:01->arp_sha"),
        (Field::ArpTha, "set_field:00:00:00:00:00:01->arp_tha"),
        (Field::Ipv6Src, "set_field:::1->ipv6_src"),
        (Field::Ipv6Dst, "set_field:::1->ipv6_dst"),
        (Field::Ipv6Flabel, "set_field:0x1->ipv6_label"),
        (Field::Icmpv6Type, "set_field:1->icmpv6_type"),
        (Field::Icmpv6Code, "set_field:1->icmpv6_code"),
        (Field::Ipv6NdTarget, "set_field:::1->nd_target"),
        (Field::Ipv6NdSll, "set_field:00:00:00:00:00:01->nd_sll"),
        (Field::Ipv6NdTll, "set_field:00:00:00:00:00:01->nd_tll"),
        (Field::TunnelId, "set_field:0x1->tun_id"),
        (Field::Reg(0), "set_field:0x1->reg0"),
        (Field::Reg(9), "set_field:0x1->reg9"),
        (Field::Reg(15), "set_field:0x1->reg15"),
    ];
    for (field, want) in expected {
        let len = field.width().unwrap();
        let mut value = vec![0u8; len];
        value[len - 1] = 1;
        if *field == Field::VlanVid {
            value = vec![0x10, 0x01];
        }
        let m = Match::prerequisites_for(*field);
        let fm = FlowMod::add(0, 1, m).apply(vec![Action::SetField(Oxm {
            field: *field,
            value,
            mask: None,
        })]);
        let text = print(Version::V1_3, &Message::FlowMod(fm));
        assert!(
            text.contains(&format!("actions={want}\n")),
            "{field:?}: {text}"
        );
    }
}

#[test]
fn multipart_requests_print_with_filters() {
    let v = Version::V1_3;
    let filter = FlowFilter::all()
        .table(2)
        .cookie(3, 0xf)
        .out_port(4)
        .flow_match(Match::new().in_port(1));
    assert_prints(
        v,
        &Message::MultipartRequest(MultipartRequest::Flow(filter.clone())),
        "OFPST_FLOW request (OF1.3) (xid=0x42): table=2 out_port=4 in_port=1",
    );
    let text = print(
        v,
        &Message::MultipartRequest(MultipartRequest::Aggregate(filter)),
    );
    assert!(
        text.starts_with(
            "OFPST_AGGREGATE request (OF1.3) (xid=0x42): table=2 out_port=4 in_port=1"
        ),
        "{text}"
    );
    assert_prints(
        v,
        &Message::MultipartRequest(MultipartRequest::PortStats(port::ANY)),
        "OFPST_PORT request (OF1.3) (xid=0x42): port_no=ANY",
    );
    assert_prints(
        Version::V1_4,
        &Message::MultipartRequest(MultipartRequest::PortDesc),
        "OFPST_PORT_DESC request (OF1.4) (xid=0x42): port=ANY",
    );
    assert_prints(
        v,
        &Message::MultipartRequest(MultipartRequest::Table),
        "OFPST_TABLE request (OF1.3) (xid=0x42):",
    );
}

#[test]
fn bundle_messages_print_for_both_versions() {
    let add = |v| {
        let fm = FlowMod::add(0, 5, Match::new().in_port(1)).apply(vec![Action::output(2)]);
        let msg = Message::BundleAdd(BundleAdd {
            bundle_id: 7,
            flags: 3,
            message: Box::new(Message::FlowMod(fm)),
        });
        print(v, &msg)
    };
    let ctrl = |v, ctrl_type| {
        print(
            v,
            &Message::BundleControl(BundleControl {
                bundle_id: 7,
                ctrl_type,
                flags: 3,
                properties: vec![],
            }),
        )
    };
    assert_eq!(
        ctrl(Version::V1_3, BundleCtrlType::OpenRequest).trim_end(),
        "ONFT_BUNDLE_CONTROL (OF1.3) (xid=0x42):\n bundle_id=0x7 type=OPEN_REQUEST flags=atomic ordered"
    );
    assert_eq!(
        ctrl(Version::V1_4, BundleCtrlType::CommitRequest).trim_end(),
        "OFPT_BUNDLE_CONTROL (OF1.4) (xid=0x42):\n bundle_id=0x7 type=COMMIT_REQUEST flags=atomic ordered"
    );
    assert!(ctrl(Version::V1_4, BundleCtrlType::DiscardRequest).contains("type=DISCARD_REQUEST"));
    assert!(ctrl(Version::V1_3, BundleCtrlType::CloseRequest).contains("type=CLOSE_REQUEST"));
    assert_eq!(
        add(Version::V1_3).trim_end(),
        "ONFT_BUNDLE_ADD_MESSAGE (OF1.3) (xid=0x42):\n bundle_id=0x7 flags=atomic ordered\n\
         OFPT_FLOW_MOD (OF1.3) (xid=0x42): ADD priority=5,in_port=1 actions=output:2"
    );
    assert_eq!(
        add(Version::V1_4).trim_end(),
        "OFPT_BUNDLE_ADD_MESSAGE (OF1.4) (xid=0x42):\n bundle_id=0x7 flags=atomic ordered\n\
         OFPT_FLOW_MOD (OF1.4) (xid=0x42): ADD priority=5,in_port=1 actions=output:2"
    );
}

#[test]
fn simple_messages_print() {
    let v = Version::V1_3;
    assert_prints(
        v,
        &Message::Hello(Hello {
            versions: vec![4, 5],
        }),
        "OFPT_HELLO (OF1.4) (xid=0x42):\n version bitmap: 0x04, 0x05",
    );
    assert_prints(
        v,
        &Message::SetConfig(SwitchConfig {
            flags: 0,
            miss_send_len: 128,
        }),
        "OFPT_SET_CONFIG (OF1.3) (xid=0x42): frags=normal miss_send_len=128",
    );
    let echo = print(v, &Message::EchoRequest(vec![1, 2, 3]));
    assert!(
        echo.starts_with("OFPT_ECHO_REQUEST (OF1.3) (xid=0x42): 3 bytes of payload\n"),
        "{echo}"
    );
    assert_prints(
        v,
        &Message::EchoReply(vec![]),
        "OFPT_ECHO_REPLY (OF1.3) (xid=0x42): 0 bytes of payload",
    );
    assert_prints(
        v,
        &Message::FeaturesRequest,
        "OFPT_FEATURES_REQUEST (OF1.3) (xid=0x42):",
    );
    assert_prints(
        v,
        &Message::BarrierRequest,
        "OFPT_BARRIER_REQUEST (OF1.3) (xid=0x42):",
    );
    assert_prints(
        Version::V1_4,
        &Message::BarrierReply,
        "OFPT_BARRIER_REPLY (OF1.4) (xid=0x42):",
    );
    let out = PacketOut {
        buffer_id: openflow::NO_BUFFER,
        in_port: port::CONTROLLER,
        actions: vec![Action::output(1)],
        data: hex("ffffffffffff0000000000010806"),
    };
    let text = print(v, &Message::PacketOut(out));
    assert!(
        text.starts_with(
            "OFPT_PACKET_OUT (OF1.3) (xid=0x42): in_port=CONTROLLER actions=output:1 data_len=14"
        ),
        "{text}"
    );
}

// ---- our bytes equal what ovs-ofctl sends ------------------------------------------------

/// `ovs-ofctl -O OpenFlow13 add-flow` of
/// `table=1,priority=100,cookie=0x5,in_port=3,dl_src=00:11:22:33:44:55/ff:ff:ff:00:00:00,
///  reg3=0x7,actions=load:0x1f->NXM_NX_REG5[0..15],move:NXM_NX_REG1[]->NXM_NX_REG2[],
///  resubmit(,5),output:2`, captured on the wire.
const OFCTL_FLOW_MOD: &str = "040e00b000000006000000000000000500000000000000000100000000000064\
    ffffffffffffffffffffffff000000000001002480000004000000038000090c001122000000ffffff000000\
    0001060400000007000000000004005800000000ffff0018000023200007000f00010a04000000000000001f\
    ffff00180000232000060020000000000001020400010404ffff001000002320000efff80500000000000010\
    000000020000000000000000";

#[test]
fn flow_mod_bytes_equal_ovs_ofctl() {
    let fm = FlowMod::add(
        1,
        100,
        Match::new()
            .in_port(3)
            .eth_src_masked(mac("00:11:22:33:44:55"), mac("ff:ff:ff:00:00:00"))
            .reg(3, 7),
    )
    .cookie(5)
    .apply(vec![
        Action::RegLoad {
            dst: FieldRange::bits(Field::Reg(5), 0, 15),
            value: 0x1f,
        },
        Action::RegMove {
            src: FieldRange::whole(Field::Reg(1)),
            dst: FieldRange::whole(Field::Reg(2)),
        },
        Action::resubmit_table(5),
        Action::output(2),
    ]);
    let ours = codec::encode_to_vec(Version::V1_3, 6, &Message::FlowMod(fm.clone())).unwrap();
    assert_eq!(common::to_hex(&ours), common::to_hex(&hex(OFCTL_FLOW_MOD)));
    assert_eq!(decode(&hex(OFCTL_FLOW_MOD)), Message::FlowMod(fm));
}

#[test]
fn bundle_bytes_equal_ovs_ofctl_both_versions() {
    // `ovs-ofctl --bundle add-flows` with `priority=5,ip,nw_src=10.0.0.0/8,actions=drop`.
    let fm = FlowMod::add(
        0,
        5,
        Match::new()
            .eth_type(0x0800)
            .ipv4_src_prefix(Ipv4Addr::new(10, 0, 0, 0), 8),
    );
    let add = Message::BundleAdd(BundleAdd {
        bundle_id: 0,
        flags: 3,
        message: Box::new(Message::FlowMod(fm)),
    });
    let open = Message::BundleControl(BundleControl {
        bundle_id: 0,
        ctrl_type: BundleCtrlType::OpenRequest,
        flags: 3,
        properties: vec![],
    });
    let cases = [
        (Version::V1_3, 8, &open, "04040018000000084f4e4600000008fc0000000000000003"),
        (Version::V1_4, 8, &open, "05210010000000080000000000000003"),
        (
            Version::V1_3,
            6,
            &add,
            "04040060000000064f4e4600000008fd0000000000000003040e00480000000600000000000000000000\
             0000000000000000000000000005ffffffffffffffffffffffff000000000001001680000a0208008000\
             17080a000000ff0000000000",
        ),
        (
            Version::V1_4,
            6,
            &add,
            "05220058000000060000000000000003050e0048000000060000000000000000000000000000000000000000\
             00000005ffffffffffffffffffffffff000000000001001680000a020800800017080a000000ff0000000000",
        ),
    ];
    for (version, xid, msg, want) in cases {
        let ours = codec::encode_to_vec(version, xid, msg).unwrap();
        assert_eq!(
            common::to_hex(&ours),
            common::to_hex(&hex(want)),
            "{version} {}",
            msg.name()
        );
        assert_eq!(&decode(&hex(want)), msg);
        if let Message::BundleAdd(add) = msg {
            let mut direct = vec![0xee];
            codec::encode_bundle_add(version, xid, 0, 3, &add.message, &mut direct).unwrap();
            assert_eq!(
                common::to_hex(&direct[1..]),
                common::to_hex(&ours),
                "{version}"
            );
        }
    }
}

#[test]
fn bundle_add_that_cannot_be_encoded_leaves_the_buffer_alone() {
    let too_many_actions = vec![Action::output(1); 10_000];
    let fm = FlowMod::add(0, 5, Match::new()).apply(too_many_actions);
    let mut out = vec![1, 2, 3];
    let err = codec::encode_bundle_add(Version::V1_4, 9, 1, 3, &Message::FlowMod(fm), &mut out);
    assert!(
        matches!(err, Err(codec::EncodeError::TooLong(_))),
        "{err:?}"
    );
    assert_eq!(out, [1, 2, 3]);
}

// ---- bytes captured from OVS decode to the expected values -------------------------------

#[test]
fn decode_ovs_hello_without_bitmap() {
    let (header, msg) = codec::decode(&hex("0600000800000004")).unwrap();
    assert_eq!(header.version, 6);
    assert_eq!(msg, Message::Hello(Hello { versions: vec![] }));
}

#[test]
fn decode_ovs_flow_stats_reply() {
    for (file, version) in [
        ("of13_flow_stats_reply.hex", 4),
        ("of14_flow_stats_reply.hex", 5),
    ] {
        let bytes = data(file);
        assert_eq!(bytes[0], version);
        let Message::MultipartReply(reply) = decode(&bytes) else {
            panic!("not multipart")
        };
        assert!(!reply.more());
        let MultipartBody::Flow(flows) = reply.body else {
            panic!("not flow stats")
        };
        assert_eq!(flows.len(), 2);
        let f = &flows[0];
        assert_eq!(
            (f.table_id, f.priority, f.cookie, f.packet_count),
            (0, 100, 5, 0)
        );
        assert_eq!(
            f.flow_match,
            Match::new()
                .in_port(3)
                .eth_src_masked(mac("00:11:22:00:00:00"), mac("ff:ff:ff:00:00:00"))
                .reg(3, 7)
        );
        assert_eq!(
            f.instructions,
            vec![Instruction::ApplyActions(vec![
                Action::RegLoad {
                    dst: FieldRange::bits(Field::Reg(5), 0, 15),
                    value: 0x1f
                },
                Action::resubmit_table(5),
                Action::output(2),
            ])]
        );
        let g = &flows[1];
        assert_eq!(
            (g.table_id, g.priority, g.idle_timeout, g.cookie),
            (5, 10, 60, 0)
        );
        assert_eq!(
            g.flow_match,
            Match::new()
                .eth_type(0x0800)
                .ipv4_dst_prefix(Ipv4Addr::new(10, 0, 0, 0), 8)
        );
        assert_eq!(
            g.instructions,
            vec![
                Instruction::ApplyActions(vec![Action::DecNwTtl]),
                Instruction::GotoTable(6)
            ]
        );
        // As `ovs-ofctl ofp-print` shows the same capture.
        assert_eq!(
            f.to_string().split_once(", table=").unwrap().1,
            "0, n_packets=0, n_bytes=0, priority=100,reg3=0x7,in_port=3,\
             dl_src=00:11:22:00:00:00/ff:ff:ff:00:00:00 \
             actions=load:0x1f->NXM_NX_REG5[0..15],resubmit(,5),output:2"
        );
        assert_eq!(
            g.to_string().split_once(", table=").unwrap().1,
            "5, n_packets=0, n_bytes=0, idle_timeout=60, priority=10,ip,nw_dst=10.0.0.0/8 \
             actions=dec_ttl,goto_table:6"
        );
    }
}

#[test]
fn decode_ovs_aggregate_port_and_table_replies() {
    for v in ["13", "14"] {
        let Message::MultipartReply(r) = decode(&data(&format!("of{v}_aggregate_reply.hex")))
        else {
            panic!()
        };
        let MultipartBody::Aggregate(a) = r.body else {
            panic!("not aggregate")
        };
        assert_eq!((a.flow_count, a.packet_count, a.byte_count), (2, 0, 0));

        let Message::MultipartReply(r) = decode(&data(&format!("of{v}_port_desc_reply.hex")))
        else {
            panic!()
        };
        let MultipartBody::PortDesc(ports) = r.body else {
            panic!("not port desc")
        };
        let mut ports = ports;
        ports.sort_by_key(|p| p.port_no);
        let names: Vec<_> = ports.iter().map(|p| (p.port_no, p.name.as_str())).collect();
        assert_eq!(names, vec![(1, "p1"), (port::LOCAL, "br0")], "OF{v}");
        for p in &ports {
            assert!(p.is_down() && p.link_down());
            assert_eq!((p.curr, p.curr_speed), (0x840, 10_000_000), "OF{v} {p:?}");
        }
        assert_eq!(ports[1].hw_addr, mac("0a:88:00:84:4c:4a"));

        let Message::MultipartReply(r) = decode(&data(&format!("of{v}_port_stats_reply.hex")))
        else {
            panic!()
        };
        let MultipartBody::PortStats(stats) = r.body else {
            panic!("not port stats")
        };
        let mut nos: Vec<_> = stats.iter().map(|s| s.port_no).collect();
        nos.sort();
        assert_eq!(nos, vec![1, port::LOCAL], "OF{v}");
        assert!(
            stats
                .iter()
                .all(|s| s.duration_sec > 0 && s.rx_packets == 0),
            "OF{v} {stats:?}"
        );
    }
    let Message::MultipartReply(r) = decode(&data("of13_table_stats_reply.hex")) else {
        panic!()
    };
    let MultipartBody::Table(tables) = r.body else {
        panic!("not table stats")
    };
    assert_eq!(tables.len(), 254);
    assert!(tables
        .iter()
        .enumerate()
        .all(|(i, t)| usize::from(t.table_id) == i));
    assert_eq!(
        (
            tables[0].active_count,
            tables[5].active_count,
            tables[1].active_count
        ),
        (1, 1, 0)
    );
}

#[test]
fn decode_ovs_async_messages() {
    let status = hex(
        "040c005000000000000000000000000000000003000000000a520918499000007033000000000000000000\
         00000000000000000100000001000008400000000000000000000000000098968000000000",
    );
    let Message::PortStatus(ps) = decode(&status) else {
        panic!()
    };
    assert_eq!(ps.reason, PortReason::Add);
    assert_eq!((ps.port.port_no, ps.port.name.as_str()), (3, "p3"));
    assert_eq!(ps.port.hw_addr, mac("0a:52:09:18:49:90"));

    let removed = hex(
        "040b00380000000000000000000000770001010900000001016e360000000001000000000000000000000000000000000001000400000000",
    );
    let Message::FlowRemoved(fr) = decode(&removed) else {
        panic!()
    };
    assert_eq!(
        (fr.cookie, fr.priority, fr.table_id, fr.hard_timeout),
        (0x77, 1, 9, 1)
    );
    assert_eq!(
        fr.reason,
        openflow::codec::flow::FlowRemovedReason::HardTimeout
    );
    assert!(fr.flow_match.is_empty());
}

#[test]
fn decode_ovs_errors_keep_type_code_and_request_xid() {
    // OF1.3: a flow_mod in a bundle used a missing group; then the commit failed (ONF error).
    let add_failed = hex(
        "04010084000000070002000904040078000000074f4e4600000008fd0000000000000003040e006000000007\
         000000000000000000000000000000000000000000000006ffffffffffffffffffffffff000000000001000a\
         80000a020806000000000000000400200000000000000010000000010000000000000000001600080000004d",
    );
    let Message::Error(e) = decode(&add_failed) else {
        panic!()
    };
    assert_eq!(
        (e.type_name().as_str(), e.code_name().as_str()),
        ("OFPET_BAD_ACTION", "OFPBAC_BAD_OUT_GROUP")
    );
    assert_eq!(e.request_xid(), Some(7));
    let commit_failed =
        hex("040100280000000affff09094f4e4600040400180000000a4f4e4600000008fc0000000000040003");
    let Message::Error(e) = decode(&commit_failed) else {
        panic!()
    };
    assert_eq!(e.code_name(), "OFPBFC_MSG_FAILED");
    assert_eq!(e.type_name(), "OFPET_BUNDLE_FAILED");
    assert!(e.is_bundle_error());
    assert_eq!(e.request_xid(), Some(10));
    // OF1.4 native bundle error.
    let commit_failed_14 = hex("0501001c0000000a0011000d052100100000000a0000000000040003");
    let Message::Error(e) = decode(&commit_failed_14) else {
        panic!()
    };
    assert_eq!((e.error_type, e.code), (17, 13));
    assert_eq!(e.code_name(), "OFPBFC_MSG_FAILED");
    assert_eq!(e.to_string(), "OFPBFC_MSG_FAILED (request xid=0xa)");
    // Round trip through our encoder too.
    let again = codec::encode_to_vec(Version::V1_4, 10, &Message::Error(e.clone())).unwrap();
    assert_eq!(again, commit_failed_14);
    let unknown = ErrorMsg {
        error_type: 99,
        code: 1,
        experimenter: None,
        data: vec![],
    };
    assert_eq!(unknown.code_name(), "code 1");
}

#[test]
fn decode_ovs_bundle_replies() {
    let Message::BundleControl(c) =
        decode(&hex("04040018000000084f4e4600000008fc0000000000010000"))
    else {
        panic!()
    };
    assert_eq!((c.bundle_id, c.ctrl_type), (0, BundleCtrlType::OpenReply));
    let Message::BundleControl(c) = decode(&hex("052100100000000a0000000000050000")) else {
        panic!()
    };
    assert_eq!(c.ctrl_type, BundleCtrlType::CommitReply);
}

// ---- codec helpers -----------------------------------------------------------------------

#[test]
fn prerequisites_are_checked() {
    assert!(Match::new()
        .ipv4_src(Ipv4Addr::LOCALHOST)
        .check_prerequisites()
        .is_err());
    assert!(Match::new()
        .eth_type(0x0800)
        .tcp_dst(80)
        .check_prerequisites()
        .is_err());
    assert!(Match::new().vlan_pcp(1).check_prerequisites().is_err());
    for field in Field::all() {
        let len = field.width().unwrap();
        let m = Match::prerequisites_for(field).with(Oxm {
            field,
            value: vec![0; len],
            mask: None,
        });
        m.check_prerequisites()
            .unwrap_or_else(|e| panic!("{field:?}: {e}"));
    }
    let dup = Match {
        fields: vec![Oxm::int(Field::InPort, 1), Oxm::int(Field::InPort, 2)],
    };
    assert!(dup.check_prerequisites().is_err());
}

#[test]
fn check_reports_incomplete_frames() {
    let bytes = hex(OFCTL_FLOW_MOD);
    assert_eq!(
        codec::check(&bytes[..3]),
        Err(codec::DecodeError::Incomplete)
    );
    assert_eq!(
        codec::check(&bytes[..100]),
        Err(codec::DecodeError::Incomplete)
    );
    assert_eq!(codec::check(&bytes), Ok(bytes.len()));
    assert!(matches!(
        codec::check(&hex("0400000400000000")),
        Err(codec::DecodeError::BadLength(4))
    ));
}

#[test]
fn display_reads_like_ovs_ofctl() {
    let fm = FlowMod::add(
        0,
        100,
        Match::new().in_port(3).eth_src(mac("00:11:22:33:44:55")),
    )
    .apply(vec![Action::output(2)]);
    assert_eq!(
        fm.to_string(),
        "ADD priority=100,in_port=3,dl_src=00:11:22:33:44:55 actions=output:2"
    );
    let fm = FlowMod::add(2, 5, Match::new())
        .cookie(0x10)
        .apply(vec![Action::controller(), Action::resubmit_table(3)]);
    assert_eq!(
        fm.to_string(),
        "ADD cookie=0x10,table=2,priority=5 actions=CONTROLLER:65535,resubmit(,3)"
    );
    assert_eq!(
        "00:0A:0b:0c:0d:0e".parse::<MacAddr>().unwrap().to_string(),
        "00:0a:0b:0c:0d:0e"
    );
    assert!("00:0a:0b:0c:0d".parse::<MacAddr>().is_err());
    assert!("00:0a:0b:0c:0d:0e:0f".parse::<MacAddr>().is_err());
}
