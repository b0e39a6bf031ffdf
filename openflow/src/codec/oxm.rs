//! OXM match fields (OpenFlow basic class plus Nicira registers) and the `ofp_match` structure.
//!
//! OpenFlow requires prerequisites: an `ipv4_src` match is only valid together with
//! `eth_type=0x0800`, a `tcp_dst` match needs `ip_proto=6`, and so on. The switch rejects a
//! flow whose prerequisites are missing with `OFPBMC_BAD_PREREQ`. This module does not add them
//! silently; call [`Match::check_prerequisites`] to catch such mistakes before sending.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::wire::{pad_to_8, Reader};
use super::{DecodeError, EncodeError};

/// OXM class of the OpenFlow basic match fields.
pub const OXM_CLASS_OPENFLOW_BASIC: u16 = 0x8000;
/// OXM class of the original Nicira match fields (`NXM_OF_*`, "NXM0").
pub const OXM_CLASS_NXM0: u16 = 0x0000;
/// OXM class of the Nicira extensible match registers (`NXM_NX_REG0..15`, "NXM1").
pub const OXM_CLASS_NXM1: u16 = 0x0001;

/// Nicira headers (class, field number) that name a basic field with the same width. OVS
/// uses them in `move`/`load` actions it sends back (`move:NXM_OF_ETH_SRC[]->...`), so they
/// must decode to the same [`Field`] a flow was installed with. `NXM_OF_IN_PORT` (16 bits) and
/// `NXM_OF_IP_TOS` (DSCP shifted) differ from their OXM counterparts and stay `Other` (with
/// their names, see [`NXM_OF_IN_PORT`] and [`NXM_OF_IP_TOS`]).
const NXM_ALIASES: &[(u16, u8, Field)] = &[
    (OXM_CLASS_NXM0, 1, Field::EthDst),
    (OXM_CLASS_NXM0, 2, Field::EthSrc),
    (OXM_CLASS_NXM0, 3, Field::EthType),
    (OXM_CLASS_NXM0, 6, Field::IpProto),
    (OXM_CLASS_NXM0, 7, Field::Ipv4Src),
    (OXM_CLASS_NXM0, 8, Field::Ipv4Dst),
    (OXM_CLASS_NXM0, 9, Field::TcpSrc),
    (OXM_CLASS_NXM0, 10, Field::TcpDst),
    (OXM_CLASS_NXM0, 11, Field::UdpSrc),
    (OXM_CLASS_NXM0, 12, Field::UdpDst),
    (OXM_CLASS_NXM0, 13, Field::Icmpv4Type),
    (OXM_CLASS_NXM0, 14, Field::Icmpv4Code),
    (OXM_CLASS_NXM0, 15, Field::ArpOp),
    (OXM_CLASS_NXM0, 16, Field::ArpSpa),
    (OXM_CLASS_NXM0, 17, Field::ArpTpa),
    (OXM_CLASS_NXM1, 16, Field::TunnelId),
    (OXM_CLASS_NXM1, 17, Field::ArpSha),
    (OXM_CLASS_NXM1, 18, Field::ArpTha),
    (OXM_CLASS_NXM1, 19, Field::Ipv6Src),
    (OXM_CLASS_NXM1, 20, Field::Ipv6Dst),
    (OXM_CLASS_NXM1, 21, Field::Icmpv6Type),
    (OXM_CLASS_NXM1, 22, Field::Icmpv6Code),
    (OXM_CLASS_NXM1, 23, Field::Ipv6NdTarget),
    (OXM_CLASS_NXM1, 24, Field::Ipv6NdSll),
    (OXM_CLASS_NXM1, 25, Field::Ipv6NdTll),
    (OXM_CLASS_NXM1, 27, Field::Ipv6Flabel),
    (OXM_CLASS_NXM1, 28, Field::IpEcn),
];

const fn nx(field: u8) -> Field {
    Field::Other {
        class: OXM_CLASS_NXM1,
        field,
    }
}

// Nicira fields ("NXM1") the crate does not model but OVS reports in flows and actions (OVN
// and conntrack use them); only shown, never built.
pub(crate) const NX_IP_FRAG: Field = nx(26);
pub(crate) const NX_IP_TTL: Field = nx(29);
pub(crate) const NX_PKT_MARK: Field = nx(33);
pub(crate) const NX_TCP_FLAGS: Field = nx(34);
pub(crate) const NX_RECIRC_ID: Field = nx(36);
pub(crate) const NX_CONJ_ID: Field = nx(37);
pub(crate) const NX_CT_STATE: Field = nx(105);
pub(crate) const NX_CT_ZONE: Field = nx(106);
pub(crate) const NX_CT_MARK: Field = nx(107);
pub(crate) const NX_CT_LABEL: Field = nx(108);

/// Those fields: width in bytes, ovs-ofctl name, NXM name.
const NX_FIELD_NAMES: &[(Field, usize, &str, &str)] = &[
    (NX_IP_FRAG, 1, "nw_frag", "NXM_NX_IP_FRAG"),
    (NX_IP_TTL, 1, "nw_ttl", "NXM_NX_IP_TTL"),
    (NX_PKT_MARK, 4, "pkt_mark", "NXM_NX_PKT_MARK"),
    (NX_TCP_FLAGS, 2, "tcp_flags", "NXM_NX_TCP_FLAGS"),
    (NX_RECIRC_ID, 4, "recirc_id", "NXM_NX_RECIRC_ID"),
    (NX_CONJ_ID, 4, "conj_id", "NXM_NX_CONJ_ID"),
    (NX_CT_STATE, 4, "ct_state", "NXM_NX_CT_STATE"),
    (NX_CT_ZONE, 2, "ct_zone", "NXM_NX_CT_ZONE"),
    (NX_CT_MARK, 4, "ct_mark", "NXM_NX_CT_MARK"),
    (NX_CT_LABEL, 16, "ct_label", "NXM_NX_CT_LABEL"),
];

fn nx_field(field: Field) -> Option<&'static (Field, usize, &'static str, &'static str)> {
    NX_FIELD_NAMES.iter().find(|e| e.0 == field)
}

/// The 16-bit OpenFlow 1.0 input port, as OVS names it in `load`/`move`.
pub const NXM_OF_IN_PORT: Field = Field::Other {
    class: OXM_CLASS_NXM0,
    field: 0,
};
/// The IP TOS byte (DSCP in its upper six bits), as OVS names it in `load`/`move`.
pub const NXM_OF_IP_TOS: Field = Field::Other {
    class: OXM_CLASS_NXM0,
    field: 5,
};
/// OXM class of experimenter fields (followed by a 32-bit experimenter id).
pub const OXM_CLASS_EXPERIMENTER: u16 = 0xffff;

/// `OFPVID_PRESENT`: set in `vlan_vid` values when the packet carries an 802.1Q tag.
pub const VLAN_PRESENT: u16 = 0x1000;

/// An Ethernet address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The all-ones address, also the "exact" mask.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// Error parsing a [`MacAddr`] from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address {0:?}")]
pub struct ParseMacError(String);

impl FromStr for MacAddr {
    type Err = ParseMacError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in out.iter_mut() {
            let part = parts.next().ok_or_else(|| ParseMacError(s.into()))?;
            if part.is_empty() || part.len() > 2 {
                return Err(ParseMacError(s.into()));
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| ParseMacError(s.into()))?;
        }
        if parts.next().is_some() {
            return Err(ParseMacError(s.into()));
        }
        Ok(MacAddr(out))
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(b: [u8; 6]) -> Self {
        MacAddr(b)
    }
}

/// A match field kind, independent of its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    InPort,
    Metadata,
    EthDst,
    EthSrc,
    EthType,
    VlanVid,
    VlanPcp,
    IpDscp,
    IpEcn,
    IpProto,
    Ipv4Src,
    Ipv4Dst,
    TcpSrc,
    TcpDst,
    UdpSrc,
    UdpDst,
    SctpSrc,
    SctpDst,
    Icmpv4Type,
    Icmpv4Code,
    ArpOp,
    ArpSpa,
    ArpTpa,
    ArpSha,
    ArpTha,
    Ipv6Src,
    Ipv6Dst,
    Ipv6Flabel,
    Icmpv6Type,
    Icmpv6Code,
    Ipv6NdTarget,
    Ipv6NdSll,
    Ipv6NdTll,
    TunnelId,
    /// Nicira register `reg0`..`reg15` (32 bits, class 0x0001).
    Reg(u8),
    /// Any field this crate does not model, kept verbatim. For the experimenter class the
    /// value bytes start with the 32-bit experimenter id.
    Other {
        class: u16,
        field: u8,
    },
}

/// How a field's value is best shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Int,
    Mac,
    Ipv4,
    Ipv6,
}

/// A basic field: OXM code, value width in bytes, how its value reads, and its names in
/// ovs-ofctl syntax: in a match, as a `set_field` destination, and in `move`/`load`.
struct BasicField {
    field: Field,
    code: u8,
    width: usize,
    kind: Kind,
    match_name: &'static str,
    set_field_name: &'static str,
    nxm_name: &'static str,
}

const fn field(
    field: Field,
    code: u8,
    width: usize,
    kind: Kind,
    match_name: &'static str,
    set_field_name: &'static str,
    nxm_name: &'static str,
) -> BasicField {
    BasicField {
        field,
        code,
        width,
        kind,
        match_name,
        set_field_name,
        nxm_name,
    }
}

/// The names are ovs-ofctl's (3.1), as `ovs-ofctl parse-flow` prints them back.
const BASIC_FIELDS: [BasicField; 34] = [
    field(
        Field::InPort,
        0,
        4,
        Kind::Int,
        "in_port",
        "in_port",
        "OXM_OF_IN_PORT",
    ),
    field(
        Field::Metadata,
        2,
        8,
        Kind::Int,
        "metadata",
        "metadata",
        "OXM_OF_METADATA",
    ),
    field(
        Field::EthDst,
        3,
        6,
        Kind::Mac,
        "dl_dst",
        "eth_dst",
        "NXM_OF_ETH_DST",
    ),
    field(
        Field::EthSrc,
        4,
        6,
        Kind::Mac,
        "dl_src",
        "eth_src",
        "NXM_OF_ETH_SRC",
    ),
    field(
        Field::EthType,
        5,
        2,
        Kind::Int,
        "dl_type",
        "eth_type",
        "NXM_OF_ETH_TYPE",
    ),
    field(
        Field::VlanVid,
        6,
        2,
        Kind::Int,
        "vlan_vid",
        "vlan_vid",
        "OXM_OF_VLAN_VID",
    ),
    field(
        Field::VlanPcp,
        7,
        1,
        Kind::Int,
        "dl_vlan_pcp",
        "vlan_pcp",
        "OXM_OF_VLAN_PCP",
    ),
    field(
        Field::IpDscp,
        8,
        1,
        Kind::Int,
        "ip_dscp",
        "ip_dscp",
        "OXM_OF_IP_DSCP",
    ),
    field(
        Field::IpEcn,
        9,
        1,
        Kind::Int,
        "nw_ecn",
        "nw_ecn",
        "NXM_NX_IP_ECN",
    ),
    field(
        Field::IpProto,
        10,
        1,
        Kind::Int,
        "nw_proto",
        "nw_proto",
        "NXM_OF_IP_PROTO",
    ),
    field(
        Field::Ipv4Src,
        11,
        4,
        Kind::Ipv4,
        "nw_src",
        "ip_src",
        "NXM_OF_IP_SRC",
    ),
    field(
        Field::Ipv4Dst,
        12,
        4,
        Kind::Ipv4,
        "nw_dst",
        "ip_dst",
        "NXM_OF_IP_DST",
    ),
    field(
        Field::TcpSrc,
        13,
        2,
        Kind::Int,
        "tcp_src",
        "tcp_src",
        "NXM_OF_TCP_SRC",
    ),
    field(
        Field::TcpDst,
        14,
        2,
        Kind::Int,
        "tcp_dst",
        "tcp_dst",
        "NXM_OF_TCP_DST",
    ),
    field(
        Field::UdpSrc,
        15,
        2,
        Kind::Int,
        "udp_src",
        "udp_src",
        "NXM_OF_UDP_SRC",
    ),
    field(
        Field::UdpDst,
        16,
        2,
        Kind::Int,
        "udp_dst",
        "udp_dst",
        "NXM_OF_UDP_DST",
    ),
    field(
        Field::SctpSrc,
        17,
        2,
        Kind::Int,
        "sctp_src",
        "sctp_src",
        "OXM_OF_SCTP_SRC",
    ),
    field(
        Field::SctpDst,
        18,
        2,
        Kind::Int,
        "sctp_dst",
        "sctp_dst",
        "OXM_OF_SCTP_DST",
    ),
    field(
        Field::Icmpv4Type,
        19,
        1,
        Kind::Int,
        "icmp_type",
        "icmp_type",
        "NXM_OF_ICMP_TYPE",
    ),
    field(
        Field::Icmpv4Code,
        20,
        1,
        Kind::Int,
        "icmp_code",
        "icmp_code",
        "NXM_OF_ICMP_CODE",
    ),
    field(
        Field::ArpOp,
        21,
        2,
        Kind::Int,
        "arp_op",
        "arp_op",
        "NXM_OF_ARP_OP",
    ),
    field(
        Field::ArpSpa,
        22,
        4,
        Kind::Ipv4,
        "arp_spa",
        "arp_spa",
        "NXM_OF_ARP_SPA",
    ),
    field(
        Field::ArpTpa,
        23,
        4,
        Kind::Ipv4,
        "arp_tpa",
        "arp_tpa",
        "NXM_OF_ARP_TPA",
    ),
    field(
        Field::ArpSha,
        24,
        6,
        Kind::Mac,
        "arp_sha",
        "arp_sha",
        "NXM_NX_ARP_SHA",
    ),
    field(
        Field::ArpTha,
        25,
        6,
        Kind::Mac,
        "arp_tha",
        "arp_tha",
        "NXM_NX_ARP_THA",
    ),
    field(
        Field::Ipv6Src,
        26,
        16,
        Kind::Ipv6,
        "ipv6_src",
        "ipv6_src",
        "NXM_NX_IPV6_SRC",
    ),
    field(
        Field::Ipv6Dst,
        27,
        16,
        Kind::Ipv6,
        "ipv6_dst",
        "ipv6_dst",
        "NXM_NX_IPV6_DST",
    ),
    field(
        Field::Ipv6Flabel,
        28,
        4,
        Kind::Int,
        "ipv6_label",
        "ipv6_label",
        "NXM_NX_IPV6_LABEL",
    ),
    field(
        Field::Icmpv6Type,
        29,
        1,
        Kind::Int,
        "icmpv6_type",
        "icmpv6_type",
        "NXM_NX_ICMPV6_TYPE",
    ),
    field(
        Field::Icmpv6Code,
        30,
        1,
        Kind::Int,
        "icmpv6_code",
        "icmpv6_code",
        "NXM_NX_ICMPV6_CODE",
    ),
    field(
        Field::Ipv6NdTarget,
        31,
        16,
        Kind::Ipv6,
        "nd_target",
        "nd_target",
        "NXM_NX_ND_TARGET",
    ),
    field(
        Field::Ipv6NdSll,
        32,
        6,
        Kind::Mac,
        "nd_sll",
        "nd_sll",
        "NXM_NX_ND_SLL",
    ),
    field(
        Field::Ipv6NdTll,
        33,
        6,
        Kind::Mac,
        "nd_tll",
        "nd_tll",
        "NXM_NX_ND_TLL",
    ),
    field(
        Field::TunnelId,
        38,
        8,
        Kind::Int,
        "tun_id",
        "tun_id",
        "NXM_NX_TUN_ID",
    ),
];

const REG_NAMES: [&str; 16] = [
    "reg0", "reg1", "reg2", "reg3", "reg4", "reg5", "reg6", "reg7", "reg8", "reg9", "reg10",
    "reg11", "reg12", "reg13", "reg14", "reg15",
];

impl Field {
    /// All modelled fields, for tests and tools.
    pub fn all() -> Vec<Field> {
        let mut v: Vec<Field> = BASIC_FIELDS.iter().map(|e| e.field).collect();
        v.extend((0..16).map(Field::Reg));
        v
    }

    fn basic_entry(self) -> Option<&'static BasicField> {
        BASIC_FIELDS.iter().find(|e| e.field == self)
    }

    /// OXM class and field number.
    pub fn class_and_code(self) -> (u16, u8) {
        match self {
            Field::Reg(n) => (OXM_CLASS_NXM1, n),
            Field::Other { class, field } => (class, field),
            f => (
                OXM_CLASS_OPENFLOW_BASIC,
                f.basic_entry().map_or(0, |e| e.code),
            ),
        }
    }

    /// Looks a field up by OXM class and field number.
    pub fn from_class_and_code(class: u16, code: u8) -> Field {
        match class {
            OXM_CLASS_OPENFLOW_BASIC => BASIC_FIELDS
                .iter()
                .find(|e| e.code == code)
                .map_or(Field::Other { class, field: code }, |e| e.field),
            OXM_CLASS_NXM1 if code < 16 => Field::Reg(code),
            _ => NXM_ALIASES
                .iter()
                .find(|e| e.0 == class && e.1 == code)
                .map_or(Field::Other { class, field: code }, |e| e.2),
        }
    }

    /// Width of the value in bytes (`None` for unknown fields).
    pub fn width(self) -> Option<usize> {
        match self {
            Field::Reg(_) => Some(4),
            Field::Other { .. } => None,
            f => f.basic_entry().map(|e| e.width),
        }
    }

    /// Width of the value in bits, as used by `load`/`move` (0 for unknown fields).
    pub fn bits(self) -> u16 {
        match self {
            // OVS's vlan_vid: the 12-bit id, without OFPVID_PRESENT.
            Field::VlanVid => 12,
            Field::VlanPcp => 3,
            f if f == NXM_OF_IN_PORT => 16,
            f if f == NXM_OF_IP_TOS => 8,
            f @ Field::Other { .. } => nx_field(f).map_or(0, |e| (e.1 * 8) as u16),
            Field::IpDscp => 6,
            Field::IpEcn => 2,
            Field::Ipv6Flabel => 20,
            f => (f.width().unwrap_or(0) * 8) as u16,
        }
    }

    /// The 32-bit OXM/NXM header for this field (`masked` doubles the payload length).
    pub fn oxm_header(self, masked: bool) -> u32 {
        let (class, code) = self.class_and_code();
        let len = self.width().unwrap_or(0) * if masked { 2 } else { 1 };
        (u32::from(class) << 16) | (u32::from(code) << 9) | (u32::from(masked) << 8) | len as u32
    }

    /// The field for an OXM/NXM header (ignoring the mask bit and length).
    pub fn from_oxm_header(header: u32) -> Field {
        Field::from_class_and_code((header >> 16) as u16, ((header >> 9) & 0x7f) as u8)
    }

    /// Name in ovs-ofctl flow syntax (`dl_src`, `nw_dst`, `reg3`, ...).
    pub fn name(self) -> String {
        match self {
            Field::Reg(n) => REG_NAMES
                .get(usize::from(n))
                .map_or_else(|| format!("reg{n}"), |s| s.to_string()),
            f @ Field::Other { class, field } => nx_field(f).map_or_else(
                || format!("oxm(0x{class:04x},{field})"),
                |e| e.2.to_string(),
            ),
            f => f.basic_entry().map_or("?", |e| e.match_name).to_string(),
        }
    }

    /// Name as ovs-ofctl shows a `set_field` destination (`eth_src`, `ip_dst`, `reg3`).
    pub fn set_field_name(self) -> String {
        match self {
            Field::Reg(_) | Field::Other { .. } => self.name(),
            f => f
                .basic_entry()
                .map_or("?", |e| e.set_field_name)
                .to_string(),
        }
    }

    /// Name in NXM/OXM notation as ovs-ofctl shows it in `load`/`move`: the Nicira name where
    /// OVS has one (`NXM_OF_ETH_SRC`, `NXM_NX_REG0`), else the OXM one (`OXM_OF_IN_PORT`).
    pub fn nxm_name(self) -> String {
        match self {
            Field::Reg(n) => format!("NXM_NX_REG{n}"),
            f if f == NXM_OF_IN_PORT => "NXM_OF_IN_PORT".into(),
            f if f == NXM_OF_IP_TOS => "NXM_OF_IP_TOS".into(),
            f @ Field::Other { class, field } => nx_field(f).map_or_else(
                || format!("OXM(0x{class:04x},{field})"),
                |e| e.3.to_string(),
            ),
            f => f.basic_entry().map_or("?", |e| e.nxm_name).to_string(),
        }
    }

    fn kind(self) -> Kind {
        match self {
            Field::Reg(_) | Field::Other { .. } => Kind::Int,
            f => f.basic_entry().map_or(Kind::Int, |e| e.kind),
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// One OXM TLV: a field, its value and an optional mask (same width as the value).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Oxm {
    pub field: Field,
    pub value: Vec<u8>,
    pub mask: Option<Vec<u8>>,
}

fn be_bytes(value: u64, len: usize) -> Vec<u8> {
    value.to_be_bytes()[8 - len..].to_vec()
}

impl Oxm {
    /// A field with an integer value (truncated to the field's width).
    pub fn int(field: Field, value: u64) -> Oxm {
        let len = field.width().unwrap_or(8);
        Oxm {
            field,
            value: be_bytes(value, len),
            mask: None,
        }
    }

    /// A field with an integer value and mask.
    pub fn int_masked(field: Field, value: u64, mask: u64) -> Oxm {
        let len = field.width().unwrap_or(8);
        Oxm {
            field,
            value: be_bytes(value & mask, len),
            mask: Some(be_bytes(mask, len)),
        }
    }

    pub fn mac(field: Field, mac: MacAddr) -> Oxm {
        Oxm {
            field,
            value: mac.0.to_vec(),
            mask: None,
        }
    }

    /// Bits of the value outside the mask are cleared (switches reject them).
    pub fn mac_masked(field: Field, mac: MacAddr, mask: MacAddr) -> Oxm {
        Oxm::bytes_masked(field, &mac.0, &mask.0)
    }

    pub fn ipv4(field: Field, addr: Ipv4Addr) -> Oxm {
        Oxm {
            field,
            value: addr.octets().to_vec(),
            mask: None,
        }
    }

    pub fn ipv4_masked(field: Field, addr: Ipv4Addr, mask: Ipv4Addr) -> Oxm {
        Oxm::bytes_masked(field, &addr.octets(), &mask.octets())
    }

    pub fn ipv6(field: Field, addr: Ipv6Addr) -> Oxm {
        Oxm {
            field,
            value: addr.octets().to_vec(),
            mask: None,
        }
    }

    pub fn ipv6_masked(field: Field, addr: Ipv6Addr, mask: Ipv6Addr) -> Oxm {
        Oxm::bytes_masked(field, &addr.octets(), &mask.octets())
    }

    /// A field with raw value and mask bytes; value bits outside the mask are cleared.
    pub fn bytes_masked(field: Field, value: &[u8], mask: &[u8]) -> Oxm {
        let value = value.iter().zip(mask).map(|(v, m)| v & m).collect();
        Oxm {
            field,
            value,
            mask: Some(mask.to_vec()),
        }
    }

    /// The value as an integer (fields up to 8 bytes).
    pub fn value_u64(&self) -> u64 {
        bytes_to_u64(&self.value)
    }

    /// The mask as an integer, if any.
    pub fn mask_u64(&self) -> Option<u64> {
        self.mask.as_deref().map(bytes_to_u64)
    }

    /// Encoded length including the 4-byte header.
    pub fn wire_len(&self) -> usize {
        4 + self.value.len() + self.mask.as_ref().map_or(0, Vec::len)
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if let Some(len) = self.field.width() {
            if self.value.len() != len || self.mask.as_ref().is_some_and(|m| m.len() != len) {
                return Err(EncodeError::BadField(self.field.name()));
            }
        }
        let payload = self.value.len() + self.mask.as_ref().map_or(0, Vec::len);
        let payload =
            u8::try_from(payload).map_err(|_| EncodeError::BadField(self.field.name()))?;
        let (class, code) = self.field.class_and_code();
        out.extend_from_slice(&class.to_be_bytes());
        out.push((code << 1) | u8::from(self.mask.is_some()));
        out.push(payload);
        out.extend_from_slice(&self.value);
        if let Some(mask) = &self.mask {
            out.extend_from_slice(mask);
        }
        Ok(())
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Oxm, DecodeError> {
        let class = r.u16()?;
        let code_mask = r.u8()?;
        let len = usize::from(r.u8()?);
        let payload = r.bytes(len)?;
        let field = Field::from_class_and_code(class, code_mask >> 1);
        let has_mask = code_mask & 1 == 1;
        match field.width() {
            Some(width) => {
                let expected = if has_mask { 2 * width } else { width };
                if len != expected {
                    return Err(DecodeError::Malformed("OXM field length"));
                }
                Ok(Oxm {
                    field,
                    value: payload[..width].to_vec(),
                    mask: has_mask.then(|| payload[width..].to_vec()),
                })
            }
            None if has_mask && class != OXM_CLASS_EXPERIMENTER && len % 2 == 0 => Ok(Oxm {
                field,
                value: payload[..len / 2].to_vec(),
                mask: Some(payload[len / 2..].to_vec()),
            }),
            // An experimenter field's mask covers its value, not the experimenter id before it
            // (OVS sends e.g. `tcp_flags` this way).
            None if has_mask && len >= 4 && (len - 4) % 2 == 0 => {
                let split = 4 + (len - 4) / 2;
                Ok(Oxm {
                    field,
                    value: payload[..split].to_vec(),
                    mask: Some(payload[split..].to_vec()),
                })
            }
            None if has_mask => Err(DecodeError::Malformed("masked experimenter OXM")),
            None => Ok(Oxm {
                field,
                value: payload.to_vec(),
                mask: None,
            }),
        }
    }

    /// The value as ovs-ofctl writes it in `set_field:VALUE->FIELD`: ports by name, addresses
    /// as addresses, metadata, tunnel ids, registers and flow labels in hex, the rest decimal.
    pub fn set_field_value(&self) -> String {
        let value = match self.field {
            Field::InPort => super::action::port::name(self.value_u64() as u32),
            Field::Metadata
            | Field::TunnelId
            | Field::Reg(_)
            | Field::Ipv6Flabel
            | Field::EthType
            | Field::Other { .. } => super::ofctl_format::c_hex(self.value_u64()),
            field if field.kind() != Kind::Int => format_value(field, &self.value),
            _ => self.value_u64().to_string(),
        };
        match self.mask_u64() {
            Some(mask) if self.field.kind() == Kind::Int => {
                format!("{value}/{}", super::ofctl_format::c_hex(mask))
            }
            Some(_) => self.value_string(),
            None => value,
        }
    }

    /// Formats the value (and mask) the way ovs-ofctl does for this field's type.
    pub fn value_string(&self) -> String {
        let v = format_value(self.field, &self.value);
        match &self.mask {
            None => v,
            Some(m) => {
                if self.field.kind() == Kind::Ipv4 {
                    if let Some(prefix) = prefix_len(m) {
                        return format!("{v}/{prefix}");
                    }
                }
                format!("{v}/{}", format_value(self.field, m))
            }
        }
    }
}

pub(crate) fn prefix_len(mask: &[u8]) -> Option<u32> {
    let ones: u32 = mask.iter().map(|b| b.count_ones()).sum();
    let leading: u32 = {
        let mut n = 0;
        for b in mask {
            n += b.leading_ones();
            if *b != 0xff {
                break;
            }
        }
        n
    };
    (ones == leading).then_some(ones)
}

pub(crate) fn bytes_to_u64(b: &[u8]) -> u64 {
    b.iter()
        .rev()
        .take(8)
        .rev()
        .fold(0u64, |acc, x| (acc << 8) | u64::from(*x))
}

fn format_value(field: Field, b: &[u8]) -> String {
    match field.kind() {
        Kind::Mac if b.len() == 6 => MacAddr(b.try_into().unwrap_or_default()).to_string(),
        Kind::Ipv4 if b.len() == 4 => Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string(),
        Kind::Ipv6 if b.len() == 16 => super::ofctl_format::ipv6_text(Ipv6Addr::from(
            <[u8; 16]>::try_from(b).unwrap_or_default(),
        )),
        _ if b.len() > 8 => b.iter().map(|x| format!("{x:02x}")).collect(),
        _ => {
            let v = bytes_to_u64(b);
            match field {
                Field::InPort
                | Field::VlanPcp
                | Field::IpDscp
                | Field::IpEcn
                | Field::IpProto
                | Field::TcpSrc
                | Field::TcpDst
                | Field::UdpSrc
                | Field::UdpDst
                | Field::SctpSrc
                | Field::SctpDst
                | Field::Icmpv4Type
                | Field::Icmpv4Code
                | Field::Icmpv6Type
                | Field::Icmpv6Code
                | Field::ArpOp => v.to_string(),
                _ => format!("{v:#x}"),
            }
        }
    }
}

impl fmt::Display for Oxm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.field, self.value_string())
    }
}

/// Why a [`Match`] would be rejected by the switch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    #[error("{field} requires {requirement}")]
    MissingPrerequisite {
        field: Field,
        requirement: &'static str,
    },
    #[error("field {0} appears more than once")]
    Duplicate(Field),
}

/// An OXM match (`ofp_match` of type `OFPMT_OXM`): an ordered list of fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Match {
    pub fields: Vec<Oxm>,
}

macro_rules! int_setters {
    ($($name:ident, $masked:ident, $field:expr, $ty:ty;)*) => {
        $(
            #[doc = concat!("Matches `", stringify!($name), "` exactly.")]
            pub fn $name(self, value: $ty) -> Self {
                self.with(Oxm::int($field, u64::from(value)))
            }
            #[doc = concat!("Matches `", stringify!($name), "` under a mask.")]
            pub fn $masked(self, value: $ty, mask: $ty) -> Self {
                self.with(Oxm::int_masked($field, u64::from(value), u64::from(mask)))
            }
        )*
    };
}

macro_rules! exact_setters {
    ($($name:ident, $field:expr, $ty:ty;)*) => {
        $(
            #[doc = concat!("Matches `", stringify!($name), "`.")]
            pub fn $name(self, value: $ty) -> Self {
                self.with(Oxm::int($field, u64::from(value)))
            }
        )*
    };
}

macro_rules! addr_setters {
    ($($name:ident, $masked:ident, $field:expr, $ty:ty, $ctor:ident, $mctor:ident;)*) => {
        $(
            #[doc = concat!("Matches `", stringify!($name), "` exactly.")]
            pub fn $name(self, value: $ty) -> Self {
                self.with(Oxm::$ctor($field, value))
            }
            #[doc = concat!("Matches `", stringify!($name), "` under a mask.")]
            pub fn $masked(self, value: $ty, mask: $ty) -> Self {
                self.with(Oxm::$mctor($field, value, mask))
            }
        )*
    };
}

impl Match {
    /// An empty match (matches every packet).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a field, replacing an earlier entry for the same field.
    pub fn with(mut self, oxm: Oxm) -> Self {
        self.set(oxm);
        self
    }

    /// Adds a field, replacing an earlier entry for the same field.
    pub fn set(&mut self, oxm: Oxm) {
        if let Some(existing) = self.fields.iter_mut().find(|o| o.field == oxm.field) {
            *existing = oxm;
        } else {
            self.fields.push(oxm);
        }
    }

    /// The entry for `field`, if present.
    pub fn get(&self, field: Field) -> Option<&Oxm> {
        self.fields.iter().find(|o| o.field == field)
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    int_setters! {
        metadata, metadata_masked, Field::Metadata, u64;
        tunnel_id, tunnel_id_masked, Field::TunnelId, u64;
        ipv6_flabel, ipv6_flabel_masked, Field::Ipv6Flabel, u32;
    }

    exact_setters! {
        in_port, Field::InPort, u32;
        eth_type, Field::EthType, u16;
        vlan_pcp, Field::VlanPcp, u8;
        ip_dscp, Field::IpDscp, u8;
        ip_ecn, Field::IpEcn, u8;
        ip_proto, Field::IpProto, u8;
        tcp_src, Field::TcpSrc, u16;
        tcp_dst, Field::TcpDst, u16;
        udp_src, Field::UdpSrc, u16;
        udp_dst, Field::UdpDst, u16;
        sctp_src, Field::SctpSrc, u16;
        sctp_dst, Field::SctpDst, u16;
        icmpv4_type, Field::Icmpv4Type, u8;
        icmpv4_code, Field::Icmpv4Code, u8;
        icmpv6_type, Field::Icmpv6Type, u8;
        icmpv6_code, Field::Icmpv6Code, u8;
        arp_op, Field::ArpOp, u16;
    }

    addr_setters! {
        eth_src, eth_src_masked, Field::EthSrc, MacAddr, mac, mac_masked;
        eth_dst, eth_dst_masked, Field::EthDst, MacAddr, mac, mac_masked;
        arp_sha, arp_sha_masked, Field::ArpSha, MacAddr, mac, mac_masked;
        arp_tha, arp_tha_masked, Field::ArpTha, MacAddr, mac, mac_masked;
        ipv4_src, ipv4_src_masked, Field::Ipv4Src, Ipv4Addr, ipv4, ipv4_masked;
        ipv4_dst, ipv4_dst_masked, Field::Ipv4Dst, Ipv4Addr, ipv4, ipv4_masked;
        arp_spa, arp_spa_masked, Field::ArpSpa, Ipv4Addr, ipv4, ipv4_masked;
        arp_tpa, arp_tpa_masked, Field::ArpTpa, Ipv4Addr, ipv4, ipv4_masked;
        ipv6_src, ipv6_src_masked, Field::Ipv6Src, Ipv6Addr, ipv6, ipv6_masked;
        ipv6_dst, ipv6_dst_masked, Field::Ipv6Dst, Ipv6Addr, ipv6, ipv6_masked;
    }

    /// Matches packets tagged with VLAN `vid` (sets `OFPVID_PRESENT`).
    pub fn vlan_vid(self, vid: u16) -> Self {
        self.with(Oxm::int(
            Field::VlanVid,
            u64::from(VLAN_PRESENT | (vid & 0xfff)),
        ))
    }

    /// Matches untagged packets only.
    pub fn vlan_untagged(self) -> Self {
        self.with(Oxm::int(Field::VlanVid, 0))
    }

    /// Matches `vlan_vid` with a raw value and mask (value includes `OFPVID_PRESENT`).
    pub fn vlan_vid_masked(self, value: u16, mask: u16) -> Self {
        self.with(Oxm::int_masked(
            Field::VlanVid,
            u64::from(value),
            u64::from(mask),
        ))
    }

    /// Matches an IPv4 source prefix such as `10.0.0.0/8`.
    pub fn ipv4_src_prefix(self, addr: Ipv4Addr, prefix: u8) -> Self {
        self.ipv4_src_masked(addr, ipv4_mask(prefix))
    }

    /// Matches an IPv4 destination prefix.
    pub fn ipv4_dst_prefix(self, addr: Ipv4Addr, prefix: u8) -> Self {
        self.ipv4_dst_masked(addr, ipv4_mask(prefix))
    }

    /// Matches an IPv6 source prefix.
    pub fn ipv6_src_prefix(self, addr: Ipv6Addr, prefix: u8) -> Self {
        self.ipv6_src_masked(addr, ipv6_mask(prefix))
    }

    /// Matches an IPv6 destination prefix.
    pub fn ipv6_dst_prefix(self, addr: Ipv6Addr, prefix: u8) -> Self {
        self.ipv6_dst_masked(addr, ipv6_mask(prefix))
    }

    pub fn ipv6_nd_target(self, addr: Ipv6Addr) -> Self {
        self.with(Oxm::ipv6(Field::Ipv6NdTarget, addr))
    }

    pub fn ipv6_nd_sll(self, mac: MacAddr) -> Self {
        self.with(Oxm::mac(Field::Ipv6NdSll, mac))
    }

    pub fn ipv6_nd_tll(self, mac: MacAddr) -> Self {
        self.with(Oxm::mac(Field::Ipv6NdTll, mac))
    }

    /// Matches Nicira register `reg{index}` exactly.
    pub fn reg(self, index: u8, value: u32) -> Self {
        self.with(Oxm::int(Field::Reg(index), u64::from(value)))
    }

    /// Matches Nicira register `reg{index}` under a mask.
    pub fn reg_masked(self, index: u8, value: u32, mask: u32) -> Self {
        self.with(Oxm::int_masked(
            Field::Reg(index),
            u64::from(value),
            u64::from(mask),
        ))
    }

    /// The smallest match that satisfies the prerequisites of `field` (e.g. `eth_type=0x0800`
    /// and `ip_proto=6` for `tcp_dst`), to which the field itself can then be added. Also
    /// what a `set_field` action on that field needs in the flow's match.
    pub fn prerequisites_for(field: Field) -> Match {
        let m = Match::new();
        match field {
            // For vlan_vid this is what `set_field` needs (a tag to modify); matching on
            // vlan_vid replaces the entry.
            Field::VlanPcp | Field::VlanVid => m.vlan_vid_masked(VLAN_PRESENT, VLAN_PRESENT),
            Field::IpDscp | Field::IpEcn | Field::IpProto | Field::Ipv4Src | Field::Ipv4Dst => {
                m.eth_type(0x0800)
            }
            Field::Ipv6Src | Field::Ipv6Dst | Field::Ipv6Flabel => m.eth_type(0x86dd),
            Field::ArpOp | Field::ArpSpa | Field::ArpTpa | Field::ArpSha | Field::ArpTha => {
                m.eth_type(0x0806)
            }
            Field::TcpSrc | Field::TcpDst => m.eth_type(0x0800).ip_proto(6),
            Field::UdpSrc | Field::UdpDst => m.eth_type(0x0800).ip_proto(17),
            Field::SctpSrc | Field::SctpDst => m.eth_type(0x0800).ip_proto(132),
            Field::Icmpv4Type | Field::Icmpv4Code => m.eth_type(0x0800).ip_proto(1),
            Field::Icmpv6Type | Field::Icmpv6Code => m.eth_type(0x86dd).ip_proto(58),
            Field::Ipv6NdTarget | Field::Ipv6NdSll => {
                m.eth_type(0x86dd).ip_proto(58).icmpv6_type(135)
            }
            Field::Ipv6NdTll => m.eth_type(0x86dd).ip_proto(58).icmpv6_type(136),
            _ => m,
        }
    }

    fn value_of(&self, field: Field) -> Option<u64> {
        self.get(field)
            .filter(|o| o.mask.is_none())
            .map(Oxm::value_u64)
    }

    /// Checks OpenFlow prerequisites (e.g. `nw_src` needs `eth_type=0x0800`) and duplicates.
    pub fn check_prerequisites(&self) -> Result<(), MatchError> {
        for (i, oxm) in self.fields.iter().enumerate() {
            if self.fields[..i].iter().any(|o| o.field == oxm.field) {
                return Err(MatchError::Duplicate(oxm.field));
            }
        }
        let eth_type = self.value_of(Field::EthType);
        let ip_proto = self.value_of(Field::IpProto);
        let is_ip = matches!(eth_type, Some(0x0800) | Some(0x86dd));
        let missing =
            |field, requirement| Err(MatchError::MissingPrerequisite { field, requirement });
        for oxm in &self.fields {
            let field = oxm.field;
            match field {
                Field::VlanPcp => {
                    let present = u64::from(VLAN_PRESENT);
                    let tagged = self.get(Field::VlanVid).is_some_and(|o| {
                        o.value_u64() & present != 0
                            && o.mask_u64().is_none_or(|m| m & present != 0)
                    });
                    if !tagged {
                        return missing(field, "vlan_vid with OFPVID_PRESENT");
                    }
                }
                Field::IpDscp | Field::IpEcn | Field::IpProto if !is_ip => {
                    return missing(field, "eth_type=0x0800 or 0x86dd");
                }
                Field::Ipv4Src | Field::Ipv4Dst if eth_type != Some(0x0800) => {
                    return missing(field, "eth_type=0x0800");
                }
                Field::Ipv6Src | Field::Ipv6Dst | Field::Ipv6Flabel if eth_type != Some(0x86dd) => {
                    return missing(field, "eth_type=0x86dd");
                }
                Field::ArpOp | Field::ArpSpa | Field::ArpTpa | Field::ArpSha | Field::ArpTha
                    if eth_type != Some(0x0806) =>
                {
                    return missing(field, "eth_type=0x0806");
                }
                Field::TcpSrc | Field::TcpDst if !(is_ip && ip_proto == Some(6)) => {
                    return missing(field, "ip_proto=6 and an IP eth_type");
                }
                Field::UdpSrc | Field::UdpDst if !(is_ip && ip_proto == Some(17)) => {
                    return missing(field, "ip_proto=17 and an IP eth_type");
                }
                Field::SctpSrc | Field::SctpDst if !(is_ip && ip_proto == Some(132)) => {
                    return missing(field, "ip_proto=132 and an IP eth_type");
                }
                Field::Icmpv4Type | Field::Icmpv4Code
                    if !(eth_type == Some(0x0800) && ip_proto == Some(1)) =>
                {
                    return missing(field, "eth_type=0x0800 and ip_proto=1");
                }
                Field::Icmpv6Type | Field::Icmpv6Code
                    if !(eth_type == Some(0x86dd) && ip_proto == Some(58)) =>
                {
                    return missing(field, "eth_type=0x86dd and ip_proto=58");
                }
                Field::Ipv6NdTarget => {
                    let t = self.value_of(Field::Icmpv6Type);
                    if !(eth_type == Some(0x86dd) && matches!(t, Some(135) | Some(136))) {
                        return missing(field, "icmpv6_type=135 or 136");
                    }
                }
                Field::Ipv6NdSll if self.value_of(Field::Icmpv6Type) != Some(135) => {
                    return missing(field, "icmpv6_type=135");
                }
                Field::Ipv6NdTll if self.value_of(Field::Icmpv6Type) != Some(136) => {
                    return missing(field, "icmpv6_type=136");
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Encodes the `ofp_match` structure (type OXM, padded to 8 bytes).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        for oxm in &self.fields {
            oxm.encode(out)?;
        }
        let len = out.len() - start;
        super::wire::patch_u16(out, start + 2, len)?;
        pad_to_8(out, start);
        Ok(())
    }

    /// Decodes an `ofp_match` including its padding.
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Match, DecodeError> {
        let match_type = r.u16()?;
        let len = usize::from(r.u16()?);
        if match_type != 1 {
            return Err(DecodeError::Malformed("match type is not OXM"));
        }
        if len < 4 {
            return Err(DecodeError::Malformed("match length"));
        }
        let mut fields_reader = r.sub(len - 4)?;
        let padding = super::wire::pad8(len) - len;
        r.skip(padding.min(r.remaining()))?;
        let mut fields = Vec::new();
        while !fields_reader.is_empty() {
            fields.push(Oxm::decode(&mut fields_reader)?);
        }
        Ok(Match { fields })
    }
}

impl fmt::Display for Match {
    /// ovs-ofctl's syntax, as `dump-flows` prints the match (empty for "everything").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&super::ofctl_format::format_match(self))
    }
}

/// The IPv4 netmask for a prefix length (`/24` -> `255.255.255.0`).
pub fn ipv4_mask(prefix: u8) -> Ipv4Addr {
    let prefix = u32::from(prefix.min(32));
    Ipv4Addr::from(if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    })
}

/// The IPv6 netmask for a prefix length.
pub fn ipv6_mask(prefix: u8) -> Ipv6Addr {
    let prefix = u32::from(prefix.min(128));
    Ipv6Addr::from(if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    })
}
