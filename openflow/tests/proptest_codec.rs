//! Property tests: the decoder never panics on arbitrary input, and encoded messages
//! decode back to the same value for both OpenFlow 1.3 and 1.4.

use proptest::collection::vec;
use proptest::prelude::*;

use openflow::codec::error_msg::ErrorMsg;
use openflow::codec::multipart::MultipartBody;
use openflow::codec::{
    self, BundleAdd, BundleControl, BundleCtrlType, Hello, Message, PacketIn, PacketOut,
};
use openflow::{
    Action, AggregateStats, Field, FieldRange, FlowFilter, FlowMod, FlowModCommand, FlowModFlags,
    FlowStats, Instruction, MacAddr, Match, MultipartReply, MultipartRequest, Oxm, Port, PortStats,
    TableStats, Version,
};

fn version() -> impl Strategy<Value = Version> {
    prop_oneof![Just(Version::V1_3), Just(Version::V1_4)]
}

fn field() -> impl Strategy<Value = Field> {
    let all = Field::all();
    (0..all.len()).prop_map(move |i| all[i])
}

fn oxm(allow_mask: bool) -> impl Strategy<Value = Oxm> {
    (
        field(),
        vec(any::<u8>(), 16),
        vec(any::<u8>(), 16),
        any::<bool>(),
    )
        .prop_map(move |(field, value, mask, masked)| {
            let w = field.width().unwrap();
            Oxm {
                field,
                value: value[..w].to_vec(),
                mask: (allow_mask && masked).then(|| mask[..w].to_vec()),
            }
        })
}

fn flow_match() -> impl Strategy<Value = Match> {
    vec(oxm(true), 0..6).prop_map(|fields| Match { fields })
}

fn reg_range() -> impl Strategy<Value = FieldRange> {
    (0u8..16, 0u16..32, 1u16..=32).prop_map(|(r, offset, n_bits)| FieldRange {
        field: Field::Reg(r),
        offset,
        n_bits,
    })
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (any::<u32>(), any::<u16>()).prop_map(|(port, max_len)| Action::Output { port, max_len }),
        any::<u32>().prop_map(Action::Group),
        any::<u16>().prop_map(Action::PushVlan),
        Just(Action::PopVlan),
        Just(Action::DecNwTtl),
        any::<u32>().prop_map(Action::SetQueue),
        oxm(false).prop_map(|o| {
            if o.field == Field::InPort {
                // OVS-style NXM_OF_IN_PORT carries 16-bit port numbers.
                Action::SetField(Oxm::int(Field::InPort, o.value_u64() % 0xff00))
            } else {
                Action::SetField(o)
            }
        }),
        (
            proptest::option::of(0u32..0xff00),
            proptest::option::of(0u8..0xff)
        )
            .prop_map(|(port, table)| Action::Resubmit { port, table }),
        (reg_range(), any::<u64>()).prop_map(|(dst, value)| Action::RegLoad { dst, value }),
        (reg_range(), reg_range()).prop_map(|(src, mut dst)| {
            dst.n_bits = src.n_bits;
            Action::RegMove { src, dst }
        }),
        (
            any::<u32>().prop_filter("not Nicira", |e| *e != 0x2320),
            vec(any::<u64>(), 0..3)
        )
            .prop_map(|(experimenter, words)| Action::Experimenter {
                experimenter,
                data: words.iter().flat_map(|w| w.to_be_bytes()).collect(),
            }),
    ]
}

fn instruction() -> impl Strategy<Value = Instruction> {
    prop_oneof![
        any::<u8>().prop_map(Instruction::GotoTable),
        (any::<u64>(), any::<u64>())
            .prop_map(|(metadata, mask)| Instruction::WriteMetadata { metadata, mask }),
        vec(action(), 0..4).prop_map(Instruction::WriteActions),
        vec(action(), 0..4).prop_map(Instruction::ApplyActions),
        Just(Instruction::ClearActions),
        any::<u32>().prop_map(Instruction::Meter),
    ]
}

fn command() -> impl Strategy<Value = FlowModCommand> {
    prop_oneof![
        Just(FlowModCommand::Add),
        Just(FlowModCommand::Modify),
        Just(FlowModCommand::ModifyStrict),
        Just(FlowModCommand::Delete),
        Just(FlowModCommand::DeleteStrict),
    ]
}

fn flow_mod(version: Version) -> impl Strategy<Value = FlowMod> {
    (
        (
            any::<u64>(),
            any::<u64>(),
            any::<u8>(),
            command(),
            any::<u16>(),
            any::<u16>(),
        ),
        (
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u16>(),
            any::<u16>(),
        ),
        flow_match(),
        vec(instruction(), 0..4),
    )
        .prop_map(move |(a, b, flow_match, instructions)| {
            let mut fm = FlowMod::new(a.3, a.2, b.0, flow_match);
            fm.cookie = a.0;
            fm.cookie_mask = a.1;
            fm.idle_timeout = a.4;
            fm.hard_timeout = a.5;
            fm.buffer_id = b.1;
            fm.out_port = b.2;
            fm.out_group = b.3;
            fm.flags = FlowModFlags(b.4);
            fm.importance = if version == Version::V1_4 { b.5 } else { 0 };
            fm.instructions = instructions;
            fm
        })
}

fn flow_stats(version: Version) -> impl Strategy<Value = FlowStats> {
    (
        (
            any::<u8>(),
            any::<u32>(),
            any::<u32>(),
            any::<u16>(),
            any::<u16>(),
            any::<u16>(),
        ),
        (
            any::<u16>(),
            any::<u16>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
        ),
        flow_match(),
        vec(instruction(), 0..3),
    )
        .prop_map(move |(a, b, flow_match, instructions)| FlowStats {
            table_id: a.0,
            duration_sec: a.1,
            duration_nsec: a.2,
            priority: a.3,
            idle_timeout: a.4,
            hard_timeout: a.5,
            flags: FlowModFlags(b.0),
            importance: if version == Version::V1_4 { b.1 } else { 0 },
            cookie: b.2,
            packet_count: b.3,
            byte_count: b.4,
            flow_match,
            instructions,
        })
}

fn port() -> impl Strategy<Value = Port> {
    (
        any::<u32>(),
        any::<[u8; 6]>(),
        "[a-z0-9]{0,15}",
        vec(any::<u32>(), 8),
    )
        .prop_map(|(port_no, mac, name, v)| Port {
            port_no,
            hw_addr: MacAddr(mac),
            name,
            config: v[0],
            state: v[1],
            curr: v[2],
            advertised: v[3],
            supported: v[4],
            peer: v[5],
            curr_speed: v[6],
            max_speed: v[7],
        })
}

fn port_stats() -> impl Strategy<Value = PortStats> {
    (
        any::<u32>(),
        vec(any::<u64>(), 12),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(port_no, c, s, ns)| PortStats {
            port_no,
            rx_packets: c[0],
            tx_packets: c[1],
            rx_bytes: c[2],
            tx_bytes: c[3],
            rx_dropped: c[4],
            tx_dropped: c[5],
            rx_errors: c[6],
            tx_errors: c[7],
            rx_frame_err: c[8],
            rx_over_err: c[9],
            rx_crc_err: c[10],
            collisions: c[11],
            duration_sec: s,
            duration_nsec: ns,
        })
}

fn filter() -> impl Strategy<Value = FlowFilter> {
    (
        any::<u8>(),
        any::<u32>(),
        any::<u32>(),
        any::<u64>(),
        any::<u64>(),
        flow_match(),
    )
        .prop_map(
            |(table_id, out_port, out_group, cookie, cookie_mask, flow_match)| FlowFilter {
                table_id,
                out_port,
                out_group,
                cookie,
                cookie_mask,
                flow_match,
            },
        )
}

fn multipart_body(version: Version) -> impl Strategy<Value = MultipartBody> {
    prop_oneof![
        vec(flow_stats(version), 0..3).prop_map(MultipartBody::Flow),
        (any::<u64>(), any::<u64>(), any::<u32>()).prop_map(|(p, b, f)| {
            MultipartBody::Aggregate(AggregateStats {
                packet_count: p,
                byte_count: b,
                flow_count: f,
            })
        }),
        vec(
            (any::<u8>(), any::<u32>(), any::<u64>(), any::<u64>()),
            0..4
        )
        .prop_map(|v| {
            MultipartBody::Table(
                v.into_iter()
                    .map(
                        |(table_id, active_count, lookup_count, matched_count)| TableStats {
                            table_id,
                            active_count,
                            lookup_count,
                            matched_count,
                        },
                    )
                    .collect(),
            )
        }),
        vec(port_stats(), 0..3).prop_map(MultipartBody::PortStats),
        vec(port(), 0..3).prop_map(MultipartBody::PortDesc),
    ]
}

fn ctrl_type() -> impl Strategy<Value = BundleCtrlType> {
    prop_oneof![
        Just(BundleCtrlType::OpenRequest),
        Just(BundleCtrlType::OpenReply),
        Just(BundleCtrlType::CloseRequest),
        Just(BundleCtrlType::CommitRequest),
        Just(BundleCtrlType::CommitReply),
        Just(BundleCtrlType::DiscardRequest),
        Just(BundleCtrlType::DiscardReply),
    ]
}

fn message(version: Version) -> impl Strategy<Value = Message> {
    prop_oneof![
        proptest::collection::btree_set(1u8..32, 1..4).prop_map(|s| Message::Hello(Hello {
            versions: s.into_iter().collect()
        })),
        vec(any::<u8>(), 0..32).prop_map(Message::EchoRequest),
        vec(any::<u8>(), 0..32).prop_map(Message::EchoReply),
        (0u16..20, any::<u16>(), vec(any::<u8>(), 0..40)).prop_map(|(t, code, data)| {
            Message::Error(ErrorMsg {
                error_type: t,
                code,
                experimenter: None,
                data,
            })
        }),
        (any::<u16>(), any::<u32>(), vec(any::<u8>(), 0..40)).prop_map(|(code, e, data)| {
            Message::Error(ErrorMsg {
                error_type: 0xffff,
                code,
                experimenter: Some(e),
                data,
            })
        }),
        Just(Message::FeaturesRequest),
        Just(Message::BarrierRequest),
        Just(Message::BarrierReply),
        (any::<u16>(), any::<u16>()).prop_map(|(flags, miss_send_len)| {
            Message::SetConfig(openflow::SwitchConfig {
                flags,
                miss_send_len,
            })
        }),
        flow_mod(version).prop_map(Message::FlowMod),
        filter().prop_map(|f| Message::MultipartRequest(MultipartRequest::Flow(f))),
        filter().prop_map(|f| Message::MultipartRequest(MultipartRequest::Aggregate(f))),
        any::<u32>().prop_map(|p| Message::MultipartRequest(MultipartRequest::PortStats(p))),
        Just(Message::MultipartRequest(MultipartRequest::PortDesc)),
        Just(Message::MultipartRequest(MultipartRequest::Table)),
        (any::<u16>(), multipart_body(version))
            .prop_map(|(flags, body)| Message::MultipartReply(MultipartReply { flags, body })),
        (any::<u32>(), ctrl_type(), any::<u16>()).prop_map(|(bundle_id, ctrl_type, flags)| {
            Message::BundleControl(BundleControl {
                bundle_id,
                ctrl_type,
                flags,
                properties: vec![],
            })
        }),
        (any::<u32>(), any::<u16>(), flow_mod(version)).prop_map(|(bundle_id, flags, fm)| {
            Message::BundleAdd(BundleAdd {
                bundle_id,
                flags,
                message: Box::new(Message::FlowMod(fm)),
            })
        }),
        (
            any::<u32>(),
            any::<u16>(),
            any::<u8>(),
            any::<u8>(),
            any::<u64>(),
            flow_match(),
            vec(any::<u8>(), 0..64)
        )
            .prop_map(
                |(buffer_id, total_len, reason, table_id, cookie, flow_match, data)| {
                    Message::PacketIn(PacketIn {
                        buffer_id,
                        total_len,
                        reason,
                        table_id,
                        cookie,
                        flow_match,
                        data,
                    })
                }
            ),
        (
            any::<u32>(),
            any::<u32>(),
            vec(action(), 0..4),
            vec(any::<u8>(), 0..64)
        )
            .prop_map(|(buffer_id, in_port, actions, data)| {
                Message::PacketOut(PacketOut {
                    buffer_id,
                    in_port,
                    actions,
                    data,
                })
            }),
        (any::<u8>(), port()).prop_map(|(r, port)| {
            let reason = match r % 3 {
                0 => openflow::PortReason::Add,
                1 => openflow::PortReason::Delete,
                _ => openflow::PortReason::Modify,
            };
            Message::PortStatus(openflow::PortStatus { reason, port })
        }),
    ]
}

/// `cases` unless `PROPTEST_CASES` is set (a longer run: `PROPTEST_CASES=100000`).
fn config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config
}

fn versioned_message() -> impl Strategy<Value = (Version, Message)> {
    version().prop_flat_map(|v| message(v).prop_map(move |m| (v, m)))
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn decoder_never_panics_on_arbitrary_bytes(bytes in vec(any::<u8>(), 0..600)) {
        let _ = codec::check(&bytes);
        let _ = codec::decode(&bytes);
    }

    #[test]
    fn decoder_never_panics_on_bytes_with_a_plausible_header(
        version in 4u8..=5,
        msg_type in 0u8..36,
        xid in any::<u32>(),
        body in vec(any::<u8>(), 0..600),
    ) {
        let mut bytes = vec![version, msg_type, 0, 0];
        bytes.extend_from_slice(&xid.to_be_bytes());
        bytes.extend_from_slice(&body);
        let len = bytes.len() as u16;
        bytes[2..4].copy_from_slice(&len.to_be_bytes());
        prop_assert_eq!(codec::check(&bytes), Ok(bytes.len()));
        let _ = codec::decode(&bytes);
    }

    #[test]
    fn decoder_never_panics_on_mutated_valid_messages(
        (version, message) in versioned_message(),
        flips in vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = codec::encode_to_vec(version, 1, &message).unwrap();
        for (pos, value) in flips {
            let i = pos % bytes.len();
            bytes[i] = value;
        }
        let _ = codec::check(&bytes);
        let _ = codec::decode(&bytes);
    }

    #[test]
    fn encoded_messages_round_trip((version, message) in versioned_message(), xid in any::<u32>()) {
        let bytes = codec::encode_to_vec(version, xid, &message).unwrap();
        prop_assert_eq!(codec::check(&bytes), Ok(bytes.len()));
        let (header, decoded) = codec::decode(&bytes).unwrap();
        prop_assert_eq!(header.xid, xid);
        prop_assert_eq!(usize::from(header.length), bytes.len());
        prop_assert_eq!(decoded, message);
    }
}
