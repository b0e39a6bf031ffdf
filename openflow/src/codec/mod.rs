//! Pure OpenFlow 1.3/1.4 codec: framing ([`check`]), decoding ([`decode`]) and encoding
//! ([`encode`]) of messages, independent of any I/O.
//!
//! Framing follows the mini-redis pattern: [`check`] reports [`DecodeError::Incomplete`]
//! until a whole message is buffered, which is not an error but a request for more bytes.

pub mod action;
pub mod error_msg;
pub mod flow;
pub mod multipart;
mod ofctl_format;
pub mod oxm;
pub mod port;
pub(crate) mod wire;

use std::fmt;

use action::{decode_actions, encode_actions, Action};
use error_msg::{ErrorMsg, ERROR_TYPE_EXPERIMENTER, ONF_EXPERIMENTER_ID};
use flow::{FlowMod, FlowRemoved};
use multipart::{MultipartReply, MultipartRequest};
use oxm::Match;
use port::PortStatus;
use wire::{patch_u16, Reader};

/// Length of the common `ofp_header`.
pub const HEADER_LEN: usize = 8;

/// ONF extension message type for OpenFlow 1.3 bundle control (`ONFT_BUNDLE_CONTROL`).
pub const ONF_ET_BUNDLE_CONTROL: u32 = 2300;
/// ONF extension message type for OpenFlow 1.3 bundle add (`ONFT_BUNDLE_ADD_MESSAGE`).
pub const ONF_ET_BUNDLE_ADD: u32 = 2301;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not enough bytes buffered yet for a whole message (not an error when framing).
    #[error("incomplete message")]
    Incomplete,
    /// A structure ended before its fixed fields.
    #[error("message truncated")]
    Truncated,
    /// The header's length is smaller than the header itself.
    #[error("invalid message length {0}")]
    BadLength(u16),
    /// A protocol version this codec does not decode (beyond hello/error).
    #[error("unsupported OpenFlow version {0:#x}")]
    UnsupportedVersion(u8),
    #[error("malformed message: {0}")]
    Malformed(&'static str),
}

/// Why a message could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("encoded structure is {0} bytes, more than its 16-bit length field allows")]
    TooLong(usize),
    #[error("invalid value or mask width for field {0}")]
    BadField(String),
}

/// A negotiated OpenFlow version supported by this crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    V1_3,
    V1_4,
}

impl Version {
    /// The `ofp_header.version` value.
    pub fn wire(self) -> u8 {
        match self {
            Version::V1_3 => 0x04,
            Version::V1_4 => 0x05,
        }
    }

    pub fn from_wire(v: u8) -> Option<Version> {
        match v {
            0x04 => Some(Version::V1_3),
            0x05 => Some(Version::V1_4),
            _ => None,
        }
    }

    /// The `-O` name ovs-ofctl uses.
    pub fn ofctl_name(self) -> &'static str {
        match self {
            Version::V1_3 => "OpenFlow13",
            Version::V1_4 => "OpenFlow14",
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Version::V1_3 => "OpenFlow 1.3",
            Version::V1_4 => "OpenFlow 1.4",
        })
    }
}

/// The common message header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    pub version: u8,
    pub msg_type: u8,
    pub length: u16,
    pub xid: u32,
}

impl Header {
    pub fn parse(buf: &[u8]) -> Result<Header, DecodeError> {
        let mut r = Reader::new(buf);
        let header = Header {
            version: r.u8().map_err(|_| DecodeError::Incomplete)?,
            msg_type: r.u8().map_err(|_| DecodeError::Incomplete)?,
            length: r.u16().map_err(|_| DecodeError::Incomplete)?,
            xid: r.u32().map_err(|_| DecodeError::Incomplete)?,
        };
        if usize::from(header.length) < HEADER_LEN {
            return Err(DecodeError::BadLength(header.length));
        }
        Ok(header)
    }
}

/// `OFPT_HELLO`: the versions the sender supports (from the version bitmap element).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Hello {
    /// Wire versions from the bitmap; empty when the hello carried no bitmap, in which case
    /// the header version is the highest the peer supports.
    pub versions: Vec<u8>,
}

/// `OFPT_FEATURES_REPLY`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SwitchFeatures {
    pub datapath_id: u64,
    pub n_buffers: u32,
    pub n_tables: u8,
    pub auxiliary_id: u8,
    pub capabilities: u32,
}

/// `OFPT_SET_CONFIG` / `OFPT_GET_CONFIG_REPLY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SwitchConfig {
    /// `OFPC_FRAG_*`.
    pub flags: u16,
    /// Bytes of a packet sent to the controller on a table miss.
    pub miss_send_len: u16,
}

/// `OFPT_PACKET_IN`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PacketIn {
    pub buffer_id: u32,
    pub total_len: u16,
    /// `OFPR_*`: 0 no match, 1 action, 2 invalid TTL (1.4 adds more).
    pub reason: u8,
    pub table_id: u8,
    pub cookie: u64,
    pub flow_match: Match,
    pub data: Vec<u8>,
}

/// `OFPT_PACKET_OUT`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PacketOut {
    pub buffer_id: u32,
    pub in_port: u32,
    pub actions: Vec<Action>,
    pub data: Vec<u8>,
}

/// Bundle control operations (`OFPBCT_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BundleCtrlType {
    OpenRequest,
    OpenReply,
    CloseRequest,
    CloseReply,
    CommitRequest,
    CommitReply,
    DiscardRequest,
    DiscardReply,
    Other(u16),
}

impl BundleCtrlType {
    fn to_wire(self) -> u16 {
        match self {
            Self::OpenRequest => 0,
            Self::OpenReply => 1,
            Self::CloseRequest => 2,
            Self::CloseReply => 3,
            Self::CommitRequest => 4,
            Self::CommitReply => 5,
            Self::DiscardRequest => 6,
            Self::DiscardReply => 7,
            Self::Other(n) => n,
        }
    }

    fn from_wire(v: u16) -> Self {
        match v {
            0 => Self::OpenRequest,
            1 => Self::OpenReply,
            2 => Self::CloseRequest,
            3 => Self::CloseReply,
            4 => Self::CommitRequest,
            5 => Self::CommitReply,
            6 => Self::DiscardRequest,
            7 => Self::DiscardReply,
            n => Self::Other(n),
        }
    }
}

/// `OFPBF_ATOMIC`: apply all messages or none.
pub const BUNDLE_ATOMIC: u16 = 1;
/// `OFPBF_ORDERED`: apply messages in order.
pub const BUNDLE_ORDERED: u16 = 2;

/// Bundle control (OpenFlow 1.4 `OFPT_BUNDLE_CONTROL`, or ONF 2300 on OpenFlow 1.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BundleControl {
    pub bundle_id: u32,
    pub ctrl_type: BundleCtrlType,
    pub flags: u16,
    /// Raw properties, if any.
    pub properties: Vec<u8>,
}

/// Bundle add (OpenFlow 1.4 `OFPT_BUNDLE_ADD_MESSAGE`, or ONF 2301 on OpenFlow 1.3). The
/// inner message is encoded with the same version and xid as the outer one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BundleAdd {
    pub bundle_id: u32,
    pub flags: u16,
    pub message: Box<Message>,
}

/// `OFPT_EXPERIMENTER` messages not modelled otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Experimenter {
    pub experimenter: u32,
    pub exp_type: u32,
    pub data: Vec<u8>,
}

/// An OpenFlow message (without its header).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    Hello(Hello),
    Error(ErrorMsg),
    EchoRequest(Vec<u8>),
    EchoReply(Vec<u8>),
    Experimenter(Experimenter),
    FeaturesRequest,
    FeaturesReply(SwitchFeatures),
    GetConfigRequest,
    GetConfigReply(SwitchConfig),
    SetConfig(SwitchConfig),
    PacketIn(PacketIn),
    FlowRemoved(FlowRemoved),
    PortStatus(PortStatus),
    PacketOut(PacketOut),
    FlowMod(FlowMod),
    MultipartRequest(MultipartRequest),
    MultipartReply(MultipartReply),
    BarrierRequest,
    BarrierReply,
    BundleControl(BundleControl),
    BundleAdd(BundleAdd),
    /// Any other message type, body kept verbatim.
    Other {
        msg_type: u8,
        body: Vec<u8>,
    },
}

mod msg_type {
    pub const HELLO: u8 = 0;
    pub const ERROR: u8 = 1;
    pub const ECHO_REQUEST: u8 = 2;
    pub const ECHO_REPLY: u8 = 3;
    pub const EXPERIMENTER: u8 = 4;
    pub const FEATURES_REQUEST: u8 = 5;
    pub const FEATURES_REPLY: u8 = 6;
    pub const GET_CONFIG_REQUEST: u8 = 7;
    pub const GET_CONFIG_REPLY: u8 = 8;
    pub const SET_CONFIG: u8 = 9;
    pub const PACKET_IN: u8 = 10;
    pub const FLOW_REMOVED: u8 = 11;
    pub const PORT_STATUS: u8 = 12;
    pub const PACKET_OUT: u8 = 13;
    pub const FLOW_MOD: u8 = 14;
    pub const MULTIPART_REQUEST: u8 = 18;
    pub const MULTIPART_REPLY: u8 = 19;
    pub const BARRIER_REQUEST: u8 = 20;
    pub const BARRIER_REPLY: u8 = 21;
    pub const BUNDLE_CONTROL: u8 = 33;
    pub const BUNDLE_ADD: u8 = 34;
}

impl Message {
    /// Short name for logs, e.g. `FLOW_MOD`.
    pub fn name(&self) -> &'static str {
        match self {
            Message::Hello(_) => "HELLO",
            Message::Error(_) => "ERROR",
            Message::EchoRequest(_) => "ECHO_REQUEST",
            Message::EchoReply(_) => "ECHO_REPLY",
            Message::Experimenter(_) => "EXPERIMENTER",
            Message::FeaturesRequest => "FEATURES_REQUEST",
            Message::FeaturesReply(_) => "FEATURES_REPLY",
            Message::GetConfigRequest => "GET_CONFIG_REQUEST",
            Message::GetConfigReply(_) => "GET_CONFIG_REPLY",
            Message::SetConfig(_) => "SET_CONFIG",
            Message::PacketIn(_) => "PACKET_IN",
            Message::FlowRemoved(_) => "FLOW_REMOVED",
            Message::PortStatus(_) => "PORT_STATUS",
            Message::PacketOut(_) => "PACKET_OUT",
            Message::FlowMod(_) => "FLOW_MOD",
            Message::MultipartRequest(_) => "MULTIPART_REQUEST",
            Message::MultipartReply(_) => "MULTIPART_REPLY",
            Message::BarrierRequest => "BARRIER_REQUEST",
            Message::BarrierReply => "BARRIER_REPLY",
            Message::BundleControl(_) => "BUNDLE_CONTROL",
            Message::BundleAdd(_) => "BUNDLE_ADD_MESSAGE",
            Message::Other { .. } => "OTHER",
        }
    }
}

/// Checks whether `buf` starts with a whole message and returns its length.
///
/// Returns [`DecodeError::Incomplete`] when more bytes are needed.
pub fn check(buf: &[u8]) -> Result<usize, DecodeError> {
    let header = Header::parse(buf)?;
    let len = usize::from(header.length);
    if buf.len() < len {
        return Err(DecodeError::Incomplete);
    }
    Ok(len)
}

/// Decodes one whole message (as delimited by [`check`]).
pub fn decode(frame: &[u8]) -> Result<(Header, Message), DecodeError> {
    let header = Header::parse(frame)?;
    let len = usize::from(header.length);
    if frame.len() < len {
        return Err(DecodeError::Truncated);
    }
    let mut r = Reader::new(&frame[HEADER_LEN..len]);
    let message = match header.msg_type {
        msg_type::HELLO => Message::Hello(decode_hello(r)?),
        msg_type::ERROR => Message::Error(decode_error(&mut r)?),
        _ => {
            let version = Version::from_wire(header.version)
                .ok_or(DecodeError::UnsupportedVersion(header.version))?;
            decode_body(version, header, &mut r)?
        }
    };
    Ok((header, message))
}

fn decode_hello(mut r: Reader<'_>) -> Result<Hello, DecodeError> {
    let mut versions = Vec::new();
    while r.remaining() >= 4 {
        let elem_type = r.u16()?;
        let elem_len = usize::from(r.u16()?);
        if elem_len < 4 {
            return Err(DecodeError::Malformed("hello element length"));
        }
        let mut body = r.sub(elem_len - 4)?;
        r.skip((wire::pad8(elem_len) - elem_len).min(r.remaining()))?;
        if elem_type == 1 {
            let mut word = 0u32;
            while body.remaining() >= 4 {
                let bits = body.u32()?;
                for bit in 0..32 {
                    if bits & (1 << bit) != 0 {
                        if let Ok(v) = u8::try_from(word * 32 + bit) {
                            versions.push(v);
                        }
                    }
                }
                word += 1;
            }
        }
    }
    Ok(Hello { versions })
}

fn decode_error(r: &mut Reader<'_>) -> Result<ErrorMsg, DecodeError> {
    let error_type = r.u16()?;
    let code = r.u16()?;
    let experimenter = if error_type == ERROR_TYPE_EXPERIMENTER {
        Some(r.u32()?)
    } else {
        None
    };
    Ok(ErrorMsg {
        error_type,
        code,
        experimenter,
        data: r.rest().to_vec(),
    })
}

fn decode_body(
    version: Version,
    header: Header,
    r: &mut Reader<'_>,
) -> Result<Message, DecodeError> {
    use msg_type::*;
    Ok(match header.msg_type {
        ECHO_REQUEST => Message::EchoRequest(r.rest().to_vec()),
        ECHO_REPLY => Message::EchoReply(r.rest().to_vec()),
        EXPERIMENTER => {
            let experimenter = r.u32()?;
            let exp_type = r.u32()?;
            match (experimenter, exp_type) {
                (ONF_EXPERIMENTER_ID, ONF_ET_BUNDLE_CONTROL) => {
                    Message::BundleControl(decode_bundle_control(r)?)
                }
                (ONF_EXPERIMENTER_ID, ONF_ET_BUNDLE_ADD) => {
                    Message::BundleAdd(decode_bundle_add(header, r)?)
                }
                _ => Message::Experimenter(Experimenter {
                    experimenter,
                    exp_type,
                    data: r.rest().to_vec(),
                }),
            }
        }
        FEATURES_REQUEST => Message::FeaturesRequest,
        FEATURES_REPLY => {
            let datapath_id = r.u64()?;
            let n_buffers = r.u32()?;
            let n_tables = r.u8()?;
            let auxiliary_id = r.u8()?;
            r.skip(2)?;
            let capabilities = r.u32()?;
            Message::FeaturesReply(SwitchFeatures {
                datapath_id,
                n_buffers,
                n_tables,
                auxiliary_id,
                capabilities,
            })
        }
        GET_CONFIG_REQUEST => Message::GetConfigRequest,
        GET_CONFIG_REPLY | SET_CONFIG => {
            let config = SwitchConfig {
                flags: r.u16()?,
                miss_send_len: r.u16()?,
            };
            if header.msg_type == SET_CONFIG {
                Message::SetConfig(config)
            } else {
                Message::GetConfigReply(config)
            }
        }
        PACKET_IN => {
            let buffer_id = r.u32()?;
            let total_len = r.u16()?;
            let reason = r.u8()?;
            let table_id = r.u8()?;
            let cookie = r.u64()?;
            let flow_match = Match::decode(r)?;
            r.skip(2)?;
            Message::PacketIn(PacketIn {
                buffer_id,
                total_len,
                reason,
                table_id,
                cookie,
                flow_match,
                data: r.rest().to_vec(),
            })
        }
        FLOW_REMOVED => Message::FlowRemoved(FlowRemoved::decode(r)?),
        PORT_STATUS => Message::PortStatus(PortStatus::decode(version, r)?),
        PACKET_OUT => {
            let buffer_id = r.u32()?;
            let in_port = r.u32()?;
            let actions_len = usize::from(r.u16()?);
            r.skip(6)?;
            let actions = decode_actions(r.sub(actions_len)?)?;
            Message::PacketOut(PacketOut {
                buffer_id,
                in_port,
                actions,
                data: r.rest().to_vec(),
            })
        }
        FLOW_MOD => Message::FlowMod(FlowMod::decode(version, r)?),
        MULTIPART_REQUEST => Message::MultipartRequest(MultipartRequest::decode(r)?),
        MULTIPART_REPLY => Message::MultipartReply(MultipartReply::decode(version, r)?),
        BARRIER_REQUEST => Message::BarrierRequest,
        BARRIER_REPLY => Message::BarrierReply,
        BUNDLE_CONTROL if version >= Version::V1_4 => {
            Message::BundleControl(decode_bundle_control(r)?)
        }
        BUNDLE_ADD if version >= Version::V1_4 => Message::BundleAdd(decode_bundle_add(header, r)?),
        msg_type => Message::Other {
            msg_type,
            body: r.rest().to_vec(),
        },
    })
}

fn decode_bundle_control(r: &mut Reader<'_>) -> Result<BundleControl, DecodeError> {
    Ok(BundleControl {
        bundle_id: r.u32()?,
        ctrl_type: BundleCtrlType::from_wire(r.u16()?),
        flags: r.u16()?,
        properties: r.rest().to_vec(),
    })
}

fn decode_bundle_add(outer: Header, r: &mut Reader<'_>) -> Result<BundleAdd, DecodeError> {
    let bundle_id = r.u32()?;
    r.skip(2)?;
    let flags = r.u16()?;
    let inner = r.rest();
    let inner_len = check(inner).map_err(|_| DecodeError::Malformed("bundled message length"))?;
    let (inner_header, message) = decode(&inner[..inner_len])?;
    if inner_header.version != outer.version {
        return Err(DecodeError::Malformed("bundled message version"));
    }
    if matches!(message, Message::BundleAdd(_)) {
        return Err(DecodeError::Malformed("nested bundle add"));
    }
    Ok(BundleAdd {
        bundle_id,
        flags,
        message: Box::new(message),
    })
}

/// Appends the encoding of `message` (header included) to `out`.
///
/// On error `out` is left as it was.
pub fn encode(
    version: Version,
    xid: u32,
    message: &Message,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    untouched_on_error(out, |out| encode_inner(version, xid, message, out))
}

/// Runs `append` on `out`, and takes back what it appended if it fails.
fn untouched_on_error(
    out: &mut Vec<u8>,
    append: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let start = out.len();
    let result = append(out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Appends an OpenFlow header with a length to be filled in by [`end_message`]; returns
/// where the message starts.
fn begin_message(out: &mut Vec<u8>, header_version: u8, msg_type: u8, xid: u32) -> usize {
    let start = out.len();
    out.extend_from_slice(&[header_version, msg_type, 0, 0]);
    out.extend_from_slice(&xid.to_be_bytes());
    start
}

/// Sets the length of the message that starts at `start` and ends at the end of `out`.
fn end_message(out: &mut [u8], start: usize) -> Result<(), EncodeError> {
    let end = out.len();
    patch_u16(out, start + 2, end - start)
}

/// The experimenter id and type that start an ONF extension message (bundles on 1.3).
fn push_onf(out: &mut Vec<u8>, exp_type: u32) {
    out.extend_from_slice(&ONF_EXPERIMENTER_ID.to_be_bytes());
    out.extend_from_slice(&exp_type.to_be_bytes());
}

/// Appends a bundle add of `inner` to bundle `bundle_id`, as `encode` would for a
/// [`Message::BundleAdd`], without the caller boxing `inner` into one.
///
/// On error `out` is left as it was.
pub fn encode_bundle_add(
    version: Version,
    xid: u32,
    bundle_id: u32,
    flags: u16,
    inner: &Message,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let msg_type = match version {
        Version::V1_3 => msg_type::EXPERIMENTER,
        Version::V1_4 => msg_type::BUNDLE_ADD,
    };
    untouched_on_error(out, |out| {
        let start = begin_message(out, version.wire(), msg_type, xid);
        encode_bundle_add_body(version, xid, bundle_id, flags, inner, out)?;
        end_message(out, start)
    })
}

/// The part of a bundle add after the OpenFlow header; the bundled message shares the
/// add's xid (OVS reports errors found at commit time with it).
fn encode_bundle_add_body(
    version: Version,
    xid: u32,
    bundle_id: u32,
    flags: u16,
    inner: &Message,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    if version == Version::V1_3 {
        push_onf(out, ONF_ET_BUNDLE_ADD);
    }
    out.extend_from_slice(&bundle_id.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&flags.to_be_bytes());
    encode_inner(version, xid, inner, out)
}

/// Encodes `message` into a new buffer.
pub fn encode_to_vec(
    version: Version,
    xid: u32,
    message: &Message,
) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    encode(version, xid, message, &mut out)?;
    Ok(out)
}

fn encode_inner(
    version: Version,
    xid: u32,
    message: &Message,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    use msg_type::*;
    let msg_type = match message {
        Message::Hello(_) => HELLO,
        Message::Error(_) => ERROR,
        Message::EchoRequest(_) => ECHO_REQUEST,
        Message::EchoReply(_) => ECHO_REPLY,
        Message::Experimenter(_) => EXPERIMENTER,
        Message::FeaturesRequest => FEATURES_REQUEST,
        Message::FeaturesReply(_) => FEATURES_REPLY,
        Message::GetConfigRequest => GET_CONFIG_REQUEST,
        Message::GetConfigReply(_) => GET_CONFIG_REPLY,
        Message::SetConfig(_) => SET_CONFIG,
        Message::PacketIn(_) => PACKET_IN,
        Message::FlowRemoved(_) => FLOW_REMOVED,
        Message::PortStatus(_) => PORT_STATUS,
        Message::PacketOut(_) => PACKET_OUT,
        Message::FlowMod(_) => FLOW_MOD,
        Message::MultipartRequest(_) => MULTIPART_REQUEST,
        Message::MultipartReply(_) => MULTIPART_REPLY,
        Message::BarrierRequest => BARRIER_REQUEST,
        Message::BarrierReply => BARRIER_REPLY,
        Message::BundleControl(_) | Message::BundleAdd(_) if version == Version::V1_3 => {
            EXPERIMENTER
        }
        Message::BundleControl(_) => BUNDLE_CONTROL,
        Message::BundleAdd(_) => BUNDLE_ADD,
        Message::Other { msg_type, .. } => *msg_type,
    };
    let header_version = match message {
        Message::Hello(h) => h.versions.iter().copied().max().unwrap_or(version.wire()),
        _ => version.wire(),
    };
    let start = begin_message(out, header_version, msg_type, xid);
    match message {
        Message::Hello(h) => {
            if !h.versions.is_empty() {
                let words = usize::from(h.versions.iter().copied().max().unwrap_or(0) / 32) + 1;
                let mut bitmap = vec![0u32; words];
                for v in &h.versions {
                    bitmap[usize::from(*v / 32)] |= 1 << (v % 32);
                }
                let elem_start = out.len();
                out.extend_from_slice(&1u16.to_be_bytes());
                out.extend_from_slice(&[0, 0]);
                bitmap
                    .iter()
                    .for_each(|w| out.extend_from_slice(&w.to_be_bytes()));
                let elem_len = out.len() - elem_start;
                patch_u16(out, elem_start + 2, elem_len)?;
                wire::pad_to_8(out, elem_start);
            }
        }
        Message::Error(e) => {
            out.extend_from_slice(&e.error_type.to_be_bytes());
            out.extend_from_slice(&e.code.to_be_bytes());
            if e.error_type == ERROR_TYPE_EXPERIMENTER {
                out.extend_from_slice(&e.experimenter.unwrap_or(0).to_be_bytes());
            }
            out.extend_from_slice(&e.data);
        }
        Message::EchoRequest(d) | Message::EchoReply(d) => out.extend_from_slice(d),
        Message::Experimenter(e) => {
            out.extend_from_slice(&e.experimenter.to_be_bytes());
            out.extend_from_slice(&e.exp_type.to_be_bytes());
            out.extend_from_slice(&e.data);
        }
        Message::FeaturesRequest
        | Message::GetConfigRequest
        | Message::BarrierRequest
        | Message::BarrierReply => {}
        Message::FeaturesReply(f) => {
            out.extend_from_slice(&f.datapath_id.to_be_bytes());
            out.extend_from_slice(&f.n_buffers.to_be_bytes());
            out.push(f.n_tables);
            out.push(f.auxiliary_id);
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&f.capabilities.to_be_bytes());
            out.extend_from_slice(&[0; 4]);
        }
        Message::GetConfigReply(c) | Message::SetConfig(c) => {
            out.extend_from_slice(&c.flags.to_be_bytes());
            out.extend_from_slice(&c.miss_send_len.to_be_bytes());
        }
        Message::PacketIn(p) => {
            out.extend_from_slice(&p.buffer_id.to_be_bytes());
            out.extend_from_slice(&p.total_len.to_be_bytes());
            out.push(p.reason);
            out.push(p.table_id);
            out.extend_from_slice(&p.cookie.to_be_bytes());
            p.flow_match.encode(out)?;
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&p.data);
        }
        Message::FlowRemoved(f) => f.encode(out)?,
        Message::PortStatus(p) => p.encode(version, out)?,
        Message::PacketOut(p) => {
            out.extend_from_slice(&p.buffer_id.to_be_bytes());
            out.extend_from_slice(&p.in_port.to_be_bytes());
            let len_at = out.len();
            out.extend_from_slice(&[0; 8]);
            let actions_start = out.len();
            encode_actions(&p.actions, out)?;
            let actions_len = out.len() - actions_start;
            patch_u16(out, len_at, actions_len)?;
            out.extend_from_slice(&p.data);
        }
        Message::FlowMod(f) => f.encode(version, out)?,
        Message::MultipartRequest(m) => m.encode(out)?,
        Message::MultipartReply(m) => m.encode(version, out)?,
        Message::BundleControl(b) => {
            if version == Version::V1_3 {
                push_onf(out, ONF_ET_BUNDLE_CONTROL);
            }
            out.extend_from_slice(&b.bundle_id.to_be_bytes());
            out.extend_from_slice(&b.ctrl_type.to_wire().to_be_bytes());
            out.extend_from_slice(&b.flags.to_be_bytes());
            out.extend_from_slice(&b.properties);
        }
        Message::BundleAdd(b) => {
            encode_bundle_add_body(version, xid, b.bundle_id, b.flags, &b.message, out)?
        }
        Message::Other { body, .. } => out.extend_from_slice(body),
    }
    end_message(out, start)
}
