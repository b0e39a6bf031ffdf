//! ovs-driver: a Docker (libnetwork remote) network driver that makes each Docker network an
//! Open vSwitch bridge and each endpoint a veth pair whose host side is an OVS port.
//!
//! - [`server`]: the plugin's HTTP server on a unix socket.
//! - [`wire`]: the remote-driver protocol's JSON types.
//! - [`driver`]: the domain logic, over the [`switch::Switch`] and [`links::Links`] traits.
//! - [`switch`]: OVSDB records of networks and endpoints, real backend and fake.
//! - [`links`]: veth pairs and addresses over rtnetlink, and a fake.
//! - [`pipeline`]: the OpenFlow pipeline each bridge should have; [`flows`] installs it.
//! - [`options`], [`naming`]: option validation, names and MAC addresses.
//! - [`plugin_socket`]: safe creation of the plugin socket.

pub mod driver;
pub mod flows;
pub mod links;
pub mod naming;
pub mod options;
pub mod pipeline;
pub mod plugin_socket;
pub mod server;
pub mod switch;
pub mod wire;
