//! Matches in ovs-ofctl's text syntax, as `ovs-ofctl dump-flows` prints them: protocol
//! shorthands (`ip`, `tcp6`, `arp`) instead of `dl_type`/`nw_proto`, the fields in OVS's order
//! and with its names (`nw_tos`, `tp_dst`, `icmp_type` for both ICMP versions), VLAN matches as
//! `dl_vlan`/`dl_vlan_pcp`/`vlan_tci`, reserved ports by name. Operators compare what our tools
//! show with what `ovs-ofctl` shows, so the two must read the same; the integration tests hold
//! this against ovs-ofctl itself.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::action::{decode_actions, format_actions, port, Action, FieldRange};
use super::oxm::{
    bytes_to_u64, prefix_len, Field, MacAddr, Match, Oxm, NX_CONJ_ID, NX_CT_LABEL, NX_CT_MARK,
    NX_CT_STATE, NX_CT_ZONE, NX_IP_FRAG, NX_IP_TTL, NX_PKT_MARK, NX_RECIRC_ID, NX_TCP_FLAGS,
};
use super::wire::Reader;

const ETH_TYPE_IP: u16 = 0x0800;
const ETH_TYPE_ARP: u16 = 0x0806;
const ETH_TYPE_RARP: u16 = 0x8035;
const ETH_TYPE_IPV6: u16 = 0x86dd;
const VLAN_CFI: u16 = 0x1000;
const VLAN_VID_MASK: u16 = 0x0fff;
const VLAN_PCP_MASK: u16 = 0xe000;

/// `value` the way C's `%#x` prints it: `0` for zero, else `0x…`.
pub(crate) fn c_hex(value: u64) -> String {
    if value == 0 {
        "0".into()
    } else {
        format!("{value:#x}")
    }
}

/// The match in ovs-ofctl syntax; empty for a match of everything. Fields ovs-ofctl would
/// show elsewhere or not at all (unknown OXMs, a field outside its protocol) come last in
/// generic `name=value` form, so nothing the switch reported is hidden.
pub(crate) fn format_match(flow_match: &Match) -> String {
    let mut text = MatchText {
        flow_match,
        shown: Vec::new(),
        parts: Vec::new(),
    };
    text.format();
    let MatchText {
        shown, mut parts, ..
    } = text;
    parts.extend(
        flow_match
            .fields
            .iter()
            .filter(|oxm| !shown.contains(&oxm.field))
            .map(ToString::to_string),
    );
    parts.join(",")
}

struct MatchText<'a> {
    flow_match: &'a Match,
    /// Fields already written.
    shown: Vec<Field>,
    parts: Vec<String>,
}

impl<'a> MatchText<'a> {
    fn take(&mut self, field: Field) -> Option<&'a Oxm> {
        let oxm = self.flow_match.get(field)?;
        self.shown.push(field);
        Some(oxm)
    }

    /// Writes `field`, when the match has it, as `name=` its `text`.
    fn show(&mut self, field: Field, name: &str, text: impl FnOnce(&Oxm) -> String) {
        if let Some(oxm) = self.take(field) {
            self.push(name, text(oxm));
        }
    }

    fn push(&mut self, name: &str, value: String) {
        self.parts.push(format!("{name}={value}"));
    }

    fn format(&mut self) {
        let eth_type = self
            .flow_match
            .get(Field::EthType)
            .map(|o| o.value_u64() as u16);
        let ip_proto = self
            .flow_match
            .get(Field::IpProto)
            .map(|o| o.value_u64() as u8);
        self.format_metadata_fields();
        if let Some((shorthand, covers_proto)) = eth_type.and_then(|t| shorthand(t, ip_proto)) {
            self.parts.push(shorthand.into());
            self.shown.push(Field::EthType);
            if covers_proto {
                self.shown.push(Field::IpProto);
            }
        }
        for index in 0..16 {
            self.show(Field::Reg(index), &format!("reg{index}"), hex_masked);
        }
        self.show(Field::TunnelId, "tun_id", hex_masked);
        self.show(Field::Metadata, "metadata", hex_masked);
        self.show(Field::InPort, "in_port", |oxm| {
            port::name(oxm.value_u64() as u32)
        });
        self.format_vlan();
        for (field, name) in [(Field::EthSrc, "dl_src"), (Field::EthDst, "dl_dst")] {
            self.show(field, name, mac_masked);
        }
        if !self.shown.contains(&Field::EthType) {
            self.show(Field::EthType, "dl_type", |oxm| {
                format!("0x{:04x}", oxm.value_u64())
            });
        }
        let is_arp = matches!(eth_type, Some(ETH_TYPE_ARP | ETH_TYPE_RARP));
        let addresses: &[(Field, &str)] = match eth_type {
            Some(ETH_TYPE_IPV6) => &[(Field::Ipv6Src, "ipv6_src"), (Field::Ipv6Dst, "ipv6_dst")],
            _ if is_arp => &[(Field::ArpSpa, "arp_spa"), (Field::ArpTpa, "arp_tpa")],
            _ => &[(Field::Ipv4Src, "nw_src"), (Field::Ipv4Dst, "nw_dst")],
        };
        for &(field, name) in addresses {
            self.show(field, name, address_masked);
        }
        if eth_type == Some(ETH_TYPE_IPV6) {
            self.show(Field::Ipv6Flabel, "ipv6_label", label_masked);
        }
        if is_arp {
            self.show(Field::ArpOp, "arp_op", decimal);
            for (field, name) in [(Field::ArpSha, "arp_sha"), (Field::ArpTha, "arp_tha")] {
                self.show(field, name, mac_masked);
            }
        } else if !self.shown.contains(&Field::IpProto) {
            self.show(Field::IpProto, "nw_proto", decimal);
        }
        self.show(Field::IpDscp, "nw_tos", |oxm| {
            (oxm.value_u64() << 2).to_string()
        });
        self.show(Field::IpEcn, "nw_ecn", decimal);
        self.show(NX_IP_TTL, "nw_ttl", decimal);
        if let Some(text) = self.flow_match.get(NX_IP_FRAG).and_then(fragment_text) {
            self.show(NX_IP_FRAG, "nw_frag", |_| text.into());
        }
        self.format_transport(eth_type, ip_proto);
        let onf = self
            .flow_match
            .get(ONF_TCP_FLAGS)
            .is_some_and(|oxm| oxm.value.starts_with(&ONF_EXPERIMENTER));
        let tcp_flags = if onf { ONF_TCP_FLAGS } else { NX_TCP_FLAGS };
        self.show(tcp_flags, "tcp_flags", |oxm| {
            // The experimenter form carries its 32-bit experimenter id first.
            let value = bytes_to_u64(&oxm.value[if onf { 4 } else { 0 }..]);
            let mask = oxm.mask.as_deref().map(bytes_to_u64);
            flags_text(value, mask, 0x0fff, &TCP_FLAG_NAMES)
        });
    }

    /// The fields OVS prints before the protocol: packet mark, recirculation, conjunction and
    /// connection tracking.
    fn format_metadata_fields(&mut self) {
        self.show(NX_PKT_MARK, "pkt_mark", hex_masked);
        self.show(NX_RECIRC_ID, "recirc_id", hex_masked);
        self.show(NX_CONJ_ID, "conj_id", decimal);
        self.show(NX_CT_STATE, "ct_state", |oxm| {
            // Eight flags are defined; OVS treats a mask of all of them as an exact match.
            let mask = oxm.mask_u64().unwrap_or(0xff) & 0xff;
            flags_text(oxm.value_u64(), Some(mask), 0xff, &CT_STATE_NAMES)
        });
        self.show(NX_CT_ZONE, "ct_zone", decimal);
        self.show(NX_CT_MARK, "ct_mark", hex_masked);
        self.show(NX_CT_LABEL, "ct_label", wide_hex_masked);
    }

    /// OVS folds the OXM VLAN fields into one TCI match and prints that.
    fn format_vlan(&mut self) {
        let (mut tci, mut mask) = (0u16, 0u16);
        if let Some(oxm) = self.take(Field::VlanVid) {
            let field_mask = oxm.mask_u64().unwrap_or(0x1fff) as u16 & 0x1fff;
            tci |= oxm.value_u64() as u16 & field_mask;
            mask |= field_mask;
        }
        if let Some(oxm) = self.take(Field::VlanPcp) {
            tci |= ((oxm.value_u64() as u16) << 13) & VLAN_PCP_MASK;
            mask |= VLAN_PCP_MASK;
        }
        if mask == 0 {
            return;
        }
        let (vid_mask, pcp_mask) = (mask & VLAN_VID_MASK, mask & VLAN_PCP_MASK);
        if mask & VLAN_CFI != 0
            && tci & VLAN_CFI != 0
            && (vid_mask == 0 || vid_mask == VLAN_VID_MASK)
            && (pcp_mask == 0 || pcp_mask == VLAN_PCP_MASK)
            && (vid_mask != 0 || pcp_mask != 0)
        {
            if vid_mask != 0 {
                self.push("dl_vlan", (tci & VLAN_VID_MASK).to_string());
            }
            if pcp_mask != 0 {
                self.push("dl_vlan_pcp", (tci >> 13).to_string());
            }
        } else if mask == 0xffff {
            self.push("vlan_tci", format!("0x{tci:04x}"));
        } else {
            self.push("vlan_tci", format!("0x{tci:04x}/0x{mask:04x}"));
        }
    }

    fn format_transport(&mut self, eth_type: Option<u16>, ip_proto: Option<u8>) {
        match (eth_type, ip_proto) {
            (Some(ETH_TYPE_IP), Some(1)) => {
                self.transport(&[
                    (Field::Icmpv4Type, "icmp_type"),
                    (Field::Icmpv4Code, "icmp_code"),
                ]);
            }
            (Some(ETH_TYPE_IPV6), Some(58)) => {
                self.transport(&[
                    (Field::Icmpv6Type, "icmp_type"),
                    (Field::Icmpv6Code, "icmp_code"),
                ]);
                self.show(Field::Ipv6NdTarget, "nd_target", address_masked);
                for (field, name) in [(Field::Ipv6NdSll, "nd_sll"), (Field::Ipv6NdTll, "nd_tll")] {
                    self.show(field, name, mac_masked);
                }
            }
            (Some(ETH_TYPE_IP | ETH_TYPE_IPV6), Some(6)) => {
                self.transport(&[(Field::TcpSrc, "tp_src"), (Field::TcpDst, "tp_dst")]);
            }
            (Some(ETH_TYPE_IP | ETH_TYPE_IPV6), Some(17)) => {
                self.transport(&[(Field::UdpSrc, "tp_src"), (Field::UdpDst, "tp_dst")]);
            }
            (Some(ETH_TYPE_IP | ETH_TYPE_IPV6), Some(132)) => {
                self.transport(&[(Field::SctpSrc, "tp_src"), (Field::SctpDst, "tp_dst")]);
            }
            _ => {}
        }
    }

    /// 16-bit transport fields: decimal, or `0x…/0x…` when masked.
    fn transport(&mut self, fields: &[(Field, &str)]) {
        for &(field, name) in fields {
            self.show(field, name, |oxm| match oxm.mask_u64() {
                Some(mask) if mask != 0xffff => {
                    format!("{:#x}/{mask:#x}", oxm.value_u64())
                }
                _ => oxm.value_u64().to_string(),
            });
        }
    }
}

/// ONF's `tcp_flags` (experimenter 0x4f4e4600), which OVS uses in OpenFlow 1.3.
const ONF_TCP_FLAGS: Field = Field::Other {
    class: super::oxm::OXM_CLASS_EXPERIMENTER,
    field: 42,
};
const ONF_EXPERIMENTER: [u8; 4] = [0x4f, 0x4e, 0x46, 0x00];

const TCP_FLAG_NAMES: [&str; 9] = ["fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr", "ns"];
const CT_STATE_NAMES: [&str; 8] = ["new", "est", "rel", "rpl", "inv", "trk", "snat", "dnat"];

/// Flags the way OVS's `format_flags_masked` writes them: `+name` for each set bit of the mask
/// and `-name` for each clear one, lowest first; with the whole mask, the set flags joined by
/// `|` (`0` for none).
fn flags_text(value: u64, mask: Option<u64>, whole: u64, names: &[&str]) -> String {
    let name = |bit: u32| names.get(bit as usize).copied().unwrap_or("[Unknown]");
    let mask = mask.unwrap_or(whole);
    if mask == whole {
        let set: Vec<&str> = (0..64).filter(|b| value >> b & 1 == 1).map(name).collect();
        return if set.is_empty() {
            "0".into()
        } else {
            set.join("|")
        };
    }
    if mask == 0 {
        return "0/0".into();
    }
    (0..64)
        .filter(|b| mask >> b & 1 == 1)
        .map(|b| format!("{}{}", if value >> b & 1 == 1 { '+' } else { '-' }, name(b)))
        .collect()
}

/// `nw_frag`: `no`/`yes` (fragment or not), `first`/`later`, `not_later`.
fn fragment_text(oxm: &Oxm) -> Option<&'static str> {
    const ANY: u64 = 1;
    const LATER: u64 = 2;
    let value = oxm.value_u64();
    Some(
        match oxm.mask_u64().unwrap_or(ANY | LATER) & (ANY | LATER) {
            3 if value & ANY == 0 => "no",
            3 if value & LATER == 0 => "first",
            3 => "later",
            ANY if value & ANY == 0 => "no",
            ANY => "yes",
            LATER if value & LATER == 0 => "not_later",
            LATER => "later",
            _ => return None,
        },
    )
}

/// A value wider than 64 bits (`ct_label`) in hex without leading zeros, with its mask.
fn wide_hex_masked(oxm: &Oxm) -> String {
    let hex = |bytes: &[u8]| {
        let digits: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        match digits.trim_start_matches('0') {
            "" => "0".to_string(),
            rest => format!("0x{rest}"),
        }
    };
    match &oxm.mask {
        Some(mask) if mask.iter().any(|&b| b != 0xff) => {
            format!("{}/{}", hex(&oxm.value), hex(mask))
        }
        _ => hex(&oxm.value),
    }
}

const NXAST_NOTE: u16 = 8;
const NXAST_OUTPUT_REG: u16 = 15;
const NXAST_CONTROLLER: u16 = 20;
const NXAST_CONTROLLER2: u16 = 37;
const NXAST_CONJUNCTION: u16 = 34;
const NXAST_CT: u16 = 35;
const NXAST_NAT: u16 = 36;
const NXAST_CT_CLEAR: u16 = 43;

/// Nicira actions the crate does not build but OVS reports (OVN and conntrack flows use them),
/// in ovs-ofctl syntax: `note:`, `output:FIELD[..]`, `conjunction(..)`, `ct(..)`, `ct_clear`.
/// `data` starts at the subtype. `None` for anything it cannot show exactly.
pub(crate) fn nicira_action(data: &[u8]) -> Option<String> {
    let mut r = Reader::new(data);
    let subtype = r.u16().ok()?;
    Some(match subtype {
        NXAST_NOTE => {
            let bytes: Vec<String> = r.rest().iter().map(|b| format!("{b:02x}")).collect();
            format!("note:{}", bytes.join("."))
        }
        NXAST_OUTPUT_REG => {
            let ofs_nbits = r.u16().ok()?;
            let source = subfield(r.u32().ok()?, ofs_nbits);
            match r.u16().ok()? {
                0xffff => format!("output:{source}"),
                max_len => format!("output({source},max_len={max_len})"),
            }
        }
        NXAST_CONJUNCTION => {
            let clause = r.u8().ok()?;
            let clauses = r.u8().ok()?;
            let id = r.u32().ok()?;
            format!("conjunction({id},{}/{clauses})", u16::from(clause) + 1)
        }
        NXAST_CT => conntrack(&mut r)?,
        NXAST_CONTROLLER => {
            let max_len = r.u16().ok()?;
            let id = r.u16().ok()?;
            let reason = r.u8().ok()?;
            controller(&ControllerAction {
                max_len,
                id,
                reason,
                ..ControllerAction::default()
            })
        }
        NXAST_CONTROLLER2 => {
            r.skip(6).ok()?;
            let mut action = ControllerAction::default();
            while !r.is_empty() {
                let kind = r.u16().ok()?;
                let len = usize::from(r.u16().ok()?);
                let value = r.bytes(len.checked_sub(4)?).ok()?;
                r.skip((len.div_ceil(8) * 8 - len).min(r.remaining()))
                    .ok()?;
                // Integer properties lead their value (OVS pads a u16 to four bytes).
                let int = |width: usize| value.get(..width).map(bytes_to_u64);
                match kind {
                    0 => action.max_len = int(2)? as u16,
                    1 => action.id = int(2)? as u16,
                    2 => action.reason = int(1)? as u8,
                    3 => action.userdata = value.to_vec(),
                    4 => action.pause = true,
                    5 => action.meter_id = Some(int(4)? as u32),
                    _ => return None,
                }
            }
            controller(&action)
        }
        NXAST_CT_CLEAR => "ct_clear".into(),
        _ => return None,
    })
}

/// What a Nicira `controller(...)` action says.
struct ControllerAction {
    max_len: u16,
    id: u16,
    reason: u8,
    userdata: Vec<u8>,
    pause: bool,
    meter_id: Option<u32>,
}

impl Default for ControllerAction {
    fn default() -> Self {
        ControllerAction {
            max_len: u16::MAX,
            id: 0,
            reason: 1, // OFPR_ACTION
            userdata: Vec::new(),
            pause: false,
            meter_id: None,
        }
    }
}

/// `CONTROLLER:N` when nothing but the length is set, else `controller(reason=..,max_len=..,
/// id=..,userdata=..,pause,meter_id=..)` with only what differs from the defaults.
fn controller(action: &ControllerAction) -> String {
    const REASONS: [&str; 6] = [
        "no_match",
        "action",
        "invalid_ttl",
        "action_set",
        "group",
        "packet_out",
    ];
    let plain = action.reason == 1
        && action.id == 0
        && action.userdata.is_empty()
        && !action.pause
        && action.meter_id.is_none();
    if plain {
        return format!("CONTROLLER:{}", action.max_len);
    }
    let mut parts = Vec::new();
    if action.reason != 1 {
        let reason = REASONS
            .get(usize::from(action.reason))
            .map_or_else(|| action.reason.to_string(), |r| r.to_string());
        parts.push(format!("reason={reason}"));
    }
    if action.max_len != u16::MAX {
        parts.push(format!("max_len={}", action.max_len));
    }
    if action.id != 0 {
        parts.push(format!("id={}", action.id));
    }
    if !action.userdata.is_empty() {
        let bytes: Vec<String> = action.userdata.iter().map(|b| format!("{b:02x}")).collect();
        parts.push(format!("userdata={}", bytes.join(".")));
    }
    if action.pause {
        parts.push("pause".into());
    }
    if let Some(meter) = action.meter_id {
        parts.push(format!("meter_id={meter}"));
    }
    format!("controller({})", parts.join(","))
}

/// A Nicira `ofs_nbits` bit range of the field with NXM header `header`.
fn subfield(header: u32, ofs_nbits: u16) -> FieldRange {
    FieldRange {
        field: Field::from_oxm_header(header),
        offset: ofs_nbits >> 6,
        n_bits: (ofs_nbits & 0x3f) + 1,
    }
}

/// `ct(commit,force,table=N,zone=..,nat..,exec(..),alg=..)` in OVS's order.
fn conntrack(r: &mut Reader<'_>) -> Option<String> {
    let flags = r.u16().ok()?;
    let zone_source = r.u32().ok()?;
    let zone = r.u16().ok()?;
    let table = r.u8().ok()?;
    r.skip(3).ok()?;
    let alg = r.u16().ok()?;
    let mut nested = decode_actions(Reader::new(r.rest())).ok()?;
    let mut parts = Vec::new();
    if flags & 1 != 0 {
        parts.push("commit".to_string());
    }
    if flags & 2 != 0 {
        parts.push("force".to_string());
    }
    if flags & !3 != 0 {
        return None;
    }
    if table != 0xff {
        parts.push(format!("table={table}"));
    }
    if zone_source != 0 {
        parts.push(format!("zone={}", subfield(zone_source, zone)));
    } else if zone != 0 {
        parts.push(format!("zone={zone}"));
    }
    if let Some(Action::Experimenter { experimenter, data }) = nested.first() {
        if *experimenter == super::action::NX_VENDOR_ID
            && data.get(..2) == Some(&NXAST_NAT.to_be_bytes()[..])
        {
            parts.push(nat(&data[2..])?);
            nested.remove(0);
        }
    }
    if !nested.is_empty() {
        parts.push(format!("exec({})", format_actions(&nested)));
    }
    match alg {
        0 => {}
        21 => parts.push("alg=ftp".into()),
        69 => parts.push("alg=tftp".into()),
        other => parts.push(format!("alg={other}")),
    }
    Some(format!("ct({})", parts.join(",")))
}

/// `nat` with no options, or `nat(src=A[-B][:P[-Q]])` / `nat(dst=..)` for IPv4 ranges; `None`
/// for the forms it does not know how to show (IPv6 ranges, persistent, hash, random).
fn nat(data: &[u8]) -> Option<String> {
    const SRC: u16 = 1;
    const DST: u16 = 2;
    let mut r = Reader::new(data);
    r.skip(2).ok()?;
    let flags = r.u16().ok()?;
    let present = r.u16().ok()?;
    if flags == 0 && present == 0 {
        return Some("nat".into());
    }
    // Range bits: IPv4 min, IPv4 max, IPv6 min, IPv6 max, proto min, proto max.
    if flags & !(SRC | DST) != 0 || present & 0b1100 != 0 || flags.count_ones() != 1 {
        return None;
    }
    // A range value is on the wire only when its bit is set.
    let mut read = |bit: u16, width: usize| -> Option<Option<u64>> {
        if present & bit == 0 {
            return Some(None);
        }
        r.bytes(width).ok().map(|bytes| Some(bytes_to_u64(bytes)))
    };
    let min = read(1, 4)?.map(|v| Ipv4Addr::from(v as u32));
    let max = read(2, 4)?.map(|v| Ipv4Addr::from(v as u32));
    let port_min = read(16, 2)?.map(|v| v as u16);
    let port_max = read(32, 2)?.map(|v| v as u16);
    let mut text = format!("nat({}", if flags & SRC != 0 { "src" } else { "dst" });
    if let Some(min) = min {
        text += &format!("={min}");
        if let Some(max) = max.filter(|&m| m != min) {
            text += &format!("-{max}");
        }
        if let Some(low) = port_min.filter(|&p| p != 0) {
            text += &format!(":{low}");
            if let Some(high) = port_max.filter(|&p| p != low && p != 0) {
                text += &format!("-{high}");
            }
        }
    }
    Some(text + ")")
}

/// ovs-ofctl's name for a match on this ethertype (and IP protocol), and whether the name
/// also says the protocol.
fn shorthand(eth_type: u16, ip_proto: Option<u8>) -> Option<(&'static str, bool)> {
    Some(match (eth_type, ip_proto) {
        (ETH_TYPE_IP, Some(1)) => ("icmp", true),
        (ETH_TYPE_IP, Some(6)) => ("tcp", true),
        (ETH_TYPE_IP, Some(17)) => ("udp", true),
        (ETH_TYPE_IP, Some(132)) => ("sctp", true),
        (ETH_TYPE_IP, _) => ("ip", false),
        (ETH_TYPE_IPV6, Some(58)) => ("icmp6", true),
        (ETH_TYPE_IPV6, Some(6)) => ("tcp6", true),
        (ETH_TYPE_IPV6, Some(17)) => ("udp6", true),
        (ETH_TYPE_IPV6, Some(132)) => ("sctp6", true),
        (ETH_TYPE_IPV6, _) => ("ipv6", false),
        (ETH_TYPE_ARP, _) => ("arp", false),
        (ETH_TYPE_RARP, _) => ("rarp", false),
        (0x8847, _) => ("mpls", false),
        (0x8848, _) => ("mplsm", false),
        _ => return None,
    })
}

fn decimal(oxm: &Oxm) -> String {
    oxm.value_u64().to_string()
}

fn hex_masked(oxm: &Oxm) -> String {
    let value = c_hex(oxm.value_u64());
    let full = match oxm.field.width().unwrap_or(oxm.value.len()) {
        width if width < 8 => (1u64 << (width * 8)) - 1,
        _ => u64::MAX,
    };
    match oxm.mask_u64() {
        Some(mask) if mask != full => format!("{value}/{}", c_hex(mask)),
        _ => value,
    }
}

fn label_masked(oxm: &Oxm) -> String {
    let value = oxm.value_u64();
    match oxm.mask_u64() {
        Some(mask) if mask & 0xfffff != 0xfffff => format!("{value:#07x}/{mask:#07x}"),
        _ => format!("{value:#07x}"),
    }
}

fn mac_masked(oxm: &Oxm) -> String {
    let mac = |bytes: &[u8]| MacAddr(bytes.try_into().unwrap_or_default()).to_string();
    match &oxm.mask {
        Some(mask) if mask.iter().any(|&b| b != 0xff) => {
            format!("{}/{}", mac(&oxm.value), mac(mask))
        }
        _ => mac(&oxm.value),
    }
}

/// An IPv6 address as glibc's `inet_ntop` (and so ovs-ofctl) writes it: like Rust's, except
/// that an IPv4-compatible address (`::a.b.c.d`) ends in dotted decimal.
pub(crate) fn ipv6_text(address: Ipv6Addr) -> String {
    let words = address.segments();
    if words[..6].iter().all(|&w| w == 0) && words[6] != 0 {
        let [.., a, b, c, d] = address.octets();
        format!("::{a}.{b}.{c}.{d}")
    } else {
        address.to_string()
    }
}

/// An IPv4 or IPv6 address with its mask as a prefix length when it is one, else as an
/// address; no suffix for a full mask.
fn address_masked(oxm: &Oxm) -> String {
    let address = |bytes: &[u8]| match bytes.len() {
        4 => Ipv4Addr::from(<[u8; 4]>::try_from(bytes).unwrap_or_default()).to_string(),
        16 => ipv6_text(Ipv6Addr::from(
            <[u8; 16]>::try_from(bytes).unwrap_or_default(),
        )),
        _ => oxm.value_string(),
    };
    let Some(mask) = oxm.mask.as_deref().filter(|m| m.iter().any(|&b| b != 0xff)) else {
        return address(&oxm.value);
    };
    match prefix_len(mask) {
        Some(ones) => format!("{}/{ones}", address(&oxm.value)),
        None => format!("{}/{}", address(&oxm.value), address(mask)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_ovs_would_not_show_there_are_kept_at_the_end() {
        // A TCP port without its prerequisites and an experimenter field: still shown.
        let flow_match = Match::new().tcp_dst(80).in_port(port::LOCAL).with(Oxm {
            field: Field::Other {
                class: 0xffff,
                field: 7,
            },
            value: vec![0, 0, 0x23, 0x20, 1],
            mask: None,
        });
        assert_eq!(
            flow_match.to_string(),
            "in_port=LOCAL,tcp_dst=80,oxm(0xffff,7)=0x232001"
        );
    }

    #[test]
    fn c_hex_prints_zero_without_prefix() {
        assert_eq!(
            (c_hex(0), c_hex(255)),
            ("0".to_string(), "0xff".to_string())
        );
    }

    #[test]
    fn a_masked_experimenter_field_survives_the_wire() {
        use crate::codec::wire::Reader;
        // ONF's tcp_flags (experimenter 0x4f4e4600), flags 0x002 under mask 0x002.
        let tcp_flags = Oxm {
            field: Field::Other {
                class: 0xffff,
                field: 42,
            },
            value: vec![0x4f, 0x4e, 0x46, 0x00, 0x00, 0x02],
            mask: Some(vec![0x00, 0x02]),
        };
        let mut bytes = Vec::new();
        tcp_flags.encode(&mut bytes).unwrap();
        assert_eq!(Oxm::decode(&mut Reader::new(&bytes)).unwrap(), tcp_flags);
    }

    #[test]
    fn bit_ranges_from_the_wire_print_without_overflow() {
        use crate::codec::action::FieldRange;
        let far = FieldRange {
            field: Field::Reg(0),
            offset: 0xfff0,
            n_bits: 32,
        };
        assert_eq!(far.to_string(), "NXM_NX_REG0[65520..65551]");
        let empty = FieldRange {
            field: Field::Reg(0),
            offset: 0,
            n_bits: 0,
        };
        assert_eq!(empty.to_string(), "NXM_NX_REG0[0]");
    }

    #[test]
    fn ipv4_compatible_ipv6_addresses_end_in_dotted_decimal() {
        for (address, text) in [
            ("::10.0.0.1", "::10.0.0.1"),
            ("::1", "::1"),
            ("::", "::"),
            ("::ffff:10.0.0.1", "::ffff:10.0.0.1"),
            ("fd00::a00:1", "fd00::a00:1"),
        ] {
            assert_eq!(ipv6_text(address.parse().unwrap()), text);
        }
    }

    #[test]
    fn nicira_actions_of_any_shape_format_without_panicking() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for subtype in [
            NXAST_NOTE,
            NXAST_OUTPUT_REG,
            NXAST_CONJUNCTION,
            NXAST_CT,
            NXAST_CT_CLEAR,
            NXAST_CONTROLLER,
            NXAST_CONTROLLER2,
        ] {
            for _ in 0..2000 {
                let len = (next() % 64) as usize;
                let mut data = subtype.to_be_bytes().to_vec();
                data.extend((0..len).map(|_| next() as u8));
                let _ = nicira_action(&data);
            }
        }
        assert_eq!(
            nicira_action(&[0, 34, 0, 2, 0, 0, 0, 9]).as_deref(),
            Some("conjunction(9,1/2)")
        );
    }
}
