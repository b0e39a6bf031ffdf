//! Host network links (veth pairs, addresses, MTU) behind a trait, so the driver's domain logic can
//! be tested against a recording fake while production talks rtnetlink.

pub mod fake;
pub mod netlink;

use async_trait::async_trait;
use ipnet::IpNet;

/// A 48-bit Ethernet address.
pub type MacAddress = [u8; 6];

/// Errors from link operations. `NotFound` is separate so teardown can treat "already gone" as done.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("link {0} not found")]
    NotFound(String),
    #[error("link {0} already exists")]
    AlreadyExists(String),
    #[error("netlink: {0}")]
    Netlink(String),
}

/// What the driver needs from the kernel's link layer.
#[async_trait]
pub trait Links: Send + Sync + 'static {
    /// Creates a veth pair `host` <-> `peer`. `mtu` applies to both ends, `peer_mac` to the peer.
    /// The host end is brought up; the peer stays down (Docker moves it into the sandbox).
    async fn create_veth(
        &self,
        host: &str,
        peer: &str,
        mtu: Option<u32>,
        peer_mac: Option<MacAddress>,
    ) -> Result<(), LinkError>;
    /// Deletes a link (deleting one end of a veth removes both). `NotFound` when it does not exist.
    async fn delete(&self, name: &str) -> Result<(), LinkError>;
    /// Names of every link in our namespace.
    async fn names(&self) -> Result<Vec<String>, LinkError>;
    /// Whether a link with this name exists in our namespace.
    async fn exists(&self, name: &str) -> Result<bool, LinkError>;
    /// The link's current MAC address.
    async fn mac(&self, name: &str) -> Result<MacAddress, LinkError>;
    /// Brings a link up.
    async fn set_up(&self, name: &str) -> Result<(), LinkError>;
    /// Sets a link's MTU.
    async fn set_mtu(&self, name: &str, mtu: u32) -> Result<(), LinkError>;
    /// Adds an address (with prefix length) to a link; an address already present is not an error.
    async fn add_address(&self, name: &str, address: IpNet) -> Result<(), LinkError>;
    /// Removes an address from a link; `NotFound` when the link or the address is not there.
    async fn delete_address(&self, name: &str, address: IpNet) -> Result<(), LinkError>;
    /// Whether the link was renamed since it was created (the kernel's `name_assign_type` is
    /// `NET_NAME_RENAMED`): Docker renames the container side of a veth to `eth0` in the
    /// sandbox, and back when it moves it out again at teardown. `false` when it cannot tell.
    async fn renamed(&self, name: &str) -> Result<bool, LinkError>;
}
