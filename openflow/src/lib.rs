//! OpenFlow 1.3/1.4 for Open vSwitch: a pure codec ([`codec`]) and an async connection
//! ([`Switch`]) with request/reply matching, multipart reassembly, bundles, keepalive and
//! reconnection.
//!
//! ```no_run
//! use openflow::{Action, FlowFilter, FlowMod, Match, MacAddr, Options, Switch};
//!
//! # async fn demo() -> Result<(), openflow::Error> {
//! let sw = Switch::connect_and_wait("unix:/var/run/openvswitch/br0.mgmt", Options::default())
//!     .await?;
//! let mac: MacAddr = "02:00:00:00:00:01".parse().unwrap();
//! let flows = vec![
//!     FlowMod::add(0, 100, Match::new().in_port(3).eth_dst(mac))
//!         .cookie(0x1234)
//!         .apply(vec![Action::output(2)]),
//! ];
//! sw.bundle(flows).await?; // atomic: all or nothing
//! let installed = sw.flow_stats(FlowFilter::all().cookie(0x1234, u64::MAX)).await?;
//! for flow in installed {
//!     println!("{flow}"); // cookie=0x1234, duration=..., priority=100,in_port=3,... actions=output:2
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Matches must carry their prerequisites (`eth_type` before IP fields, `ip_proto` before
//! ports, ...); [`Match::check_prerequisites`] and [`Match::prerequisites_for`] help.

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
