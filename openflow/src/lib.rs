//! OpenFlow 1.3/1.4 for Open vSwitch: a pure codec ([`codec`]) and an async connection
//! ([`Switch`]) with request/reply matching, multipart reassembly, bundles, keepalive and
//! reconnection.

pub mod codec;

pub use codec::action::{port, Action, FieldRange, Instruction};
pub use codec::error_msg::ErrorMsg;
pub use codec::flow::{
    AggregateStats, FlowFilter, FlowMod, FlowModCommand, FlowModFlags, FlowRemoved, FlowStats,
    NO_BUFFER, TABLE_ALL,
};
pub use codec::multipart::{MultipartBody, MultipartReply, MultipartRequest};
pub use codec::oxm::{Field, MacAddr, Match, MatchError, Oxm};
pub use codec::port::{Port, PortReason, PortStats, PortStatus, SwitchDesc, TableStats};
pub use codec::{DecodeError, EncodeError, Message, Version};

mod connection;
mod error;
mod switch;
pub mod transport;

pub use codec::{PacketIn, PacketOut, SwitchConfig, SwitchFeatures};
pub use error::{Error, FlowModFailure};
pub use switch::{Connection, Event, Options, Switch};
pub use transport::{Target, TlsFiles};
