//! An in-memory [`Links`] that records what it was asked to do, for tests of the driver's logic
//! without root or a kernel. It follows the kernel's rules closely enough to catch mistakes:
//! names are unique, deleting one end of a veth removes both, missing links are `NotFound`.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use ipnet::IpNet;

use super::{LinkError, Links, MacAddress};

/// The MTU a link gets when none is given, as the kernel does for veth.
pub const DEFAULT_MTU: u32 = 1500;

/// The operations of [`Links`], by the names used in [`FakeLinks::calls`] and
/// [`FakeLinks::fail_next`].
pub const OPERATIONS: [&str; 10] = [
    "create_veth",
    "delete",
    "names",
    "exists",
    "mac",
    "set_up",
    "set_mtu",
    "add_address",
    "delete_address",
    "renamed",
];

/// One fake link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeLink {
    /// The other end when this is one end of a veth pair.
    pub peer: Option<String>,
    pub mtu: u32,
    pub mac: MacAddress,
    pub up: bool,
    /// In the order added, without duplicates.
    pub addresses: Vec<IpNet>,
    /// Renamed since it was created (see [`Links::renamed`]).
    pub renamed: bool,
}

#[derive(Default)]
struct State {
    links: BTreeMap<String, FakeLink>,
    calls: Vec<String>,
    /// Injected failures, consumed first-in first-out per operation.
    failures: Vec<(&'static str, LinkError)>,
}

/// A recording fake of the host's links. Every trait call appends one line to [`calls`] before it
/// runs, failed ones included, formatted as the operation name followed by its arguments:
/// `create_veth HOST PEER mtu=1400|- mac=02:..|-`, `delete NAME`, `exists NAME`, `mac NAME`,
/// `set_up NAME`, `set_mtu NAME MTU`, `add_address NAME CIDR`, `delete_address NAME CIDR`.
///
/// [`calls`]: FakeLinks::calls
#[derive(Default)]
pub struct FakeLinks {
    state: Mutex<State>,
}

impl FakeLinks {
    pub fn new() -> Self {
        Self::default()
    }

    /// The calls made so far, oldest first.
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// Forgets the recorded calls (links stay).
    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// Makes the next call of `operation` (one of [`OPERATIONS`]) fail with a `Netlink` error,
    /// without changing any state.
    pub fn fail_next(&self, operation: &str) {
        self.fail_next_with(
            operation,
            LinkError::Netlink(format!("injected failure of {operation}")),
        );
    }

    /// Makes the next call of `operation` fail with `error`, without changing any state.
    /// Several failures queued for one operation are returned in order.
    ///
    /// # Panics
    /// If `operation` is not one of [`OPERATIONS`] (a typo would otherwise never fire).
    pub fn fail_next_with(&self, operation: &str, error: LinkError) {
        let operation = OPERATIONS
            .iter()
            .find(|known| **known == operation)
            .unwrap_or_else(|| panic!("unknown operation {operation:?}; one of {OPERATIONS:?}"));
        self.lock().failures.push((operation, error));
    }

    /// A snapshot of one link.
    pub fn link(&self, name: &str) -> Option<FakeLink> {
        self.lock().links.get(name).cloned()
    }

    /// The names of all links, sorted.
    pub fn link_names(&self) -> Vec<String> {
        self.lock().links.keys().cloned().collect()
    }

    /// Takes a link out of the namespace, as Docker moves the container side of a veth into a
    /// container's (renaming it `eth0`); [`FakeLinks::move_back`] returns it, renamed back, as
    /// Docker does at teardown.
    pub fn move_away(&self, name: &str) -> Option<FakeLink> {
        self.lock().links.remove(name)
    }

    /// Puts a link taken with [`FakeLinks::move_away`] back.
    pub fn move_back(&self, name: &str, mut link: FakeLink) {
        link.renamed = true;
        self.lock().links.insert(name.to_string(), link);
    }

    /// Adds a standalone link (down, default MTU, generated MAC) as if someone else created it,
    /// e.g. the internal interface OVS makes for a bridge. Not recorded in [`calls`](Self::calls).
    pub fn add_link(&self, name: &str) -> Result<(), LinkError> {
        let mut state = self.lock();
        if state.links.contains_key(name) {
            return Err(LinkError::AlreadyExists(name.to_string()));
        }
        state
            .links
            .insert(name.to_string(), new_link(name, None, None, None));
        Ok(())
    }

    /// The MAC a link created without one gets: derived from its name only, so tests can
    /// predict it; locally administered and unicast like the kernel's random ones.
    pub fn generated_mac(name: &str) -> MacAddress {
        // FNV-1a: any stable hash would do.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in name.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        let bytes = hash.to_be_bytes();
        [0x02, bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]]
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock must not hide the state from the others.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records the call and takes the injected failure for `operation`, if any, in one step.
    fn begin(
        &self,
        operation: &'static str,
        call: String,
    ) -> Result<MutexGuard<'_, State>, LinkError> {
        let mut state = self.lock();
        state.calls.push(call);
        if let Some(position) = state.failures.iter().position(|(op, _)| *op == operation) {
            return Err(state.failures.remove(position).1);
        }
        Ok(state)
    }
}

fn new_link(name: &str, peer: Option<&str>, mtu: Option<u32>, mac: Option<MacAddress>) -> FakeLink {
    FakeLink {
        peer: peer.map(str::to_string),
        mtu: mtu.unwrap_or(DEFAULT_MTU),
        mac: mac.unwrap_or_else(|| FakeLinks::generated_mac(name)),
        up: false,
        addresses: Vec::new(),
        renamed: false,
    }
}

fn format_mac(mac: &MacAddress) -> String {
    mac.iter()
        .map(|byte| format!("{byte:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl State {
    fn link_mut(&mut self, name: &str) -> Result<&mut FakeLink, LinkError> {
        self.links
            .get_mut(name)
            .ok_or_else(|| LinkError::NotFound(name.to_string()))
    }
}

#[async_trait]
impl Links for FakeLinks {
    async fn create_veth(
        &self,
        host: &str,
        peer: &str,
        mtu: Option<u32>,
        peer_mac: Option<MacAddress>,
    ) -> Result<(), LinkError> {
        let call = format!(
            "create_veth {host} {peer} mtu={} mac={}",
            mtu.map_or_else(|| "-".to_string(), |mtu| mtu.to_string()),
            peer_mac
                .as_ref()
                .map_or_else(|| "-".to_string(), format_mac),
        );
        let mut state = self.begin("create_veth", call)?;
        for name in [host, peer] {
            if state.links.contains_key(name) {
                return Err(LinkError::AlreadyExists(name.to_string()));
            }
        }
        if host == peer {
            return Err(LinkError::AlreadyExists(peer.to_string()));
        }
        let mut host_link = new_link(host, Some(peer), mtu, None);
        host_link.up = true;
        state.links.insert(host.to_string(), host_link);
        state
            .links
            .insert(peer.to_string(), new_link(peer, Some(host), mtu, peer_mac));
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<(), LinkError> {
        let mut state = self.begin("delete", format!("delete {name}"))?;
        let link = state
            .links
            .remove(name)
            .ok_or_else(|| LinkError::NotFound(name.to_string()))?;
        if let Some(peer) = link.peer {
            state.links.remove(&peer);
        }
        Ok(())
    }

    async fn names(&self) -> Result<Vec<String>, LinkError> {
        let state = self.begin("names", "names".to_string())?;
        Ok(state.links.keys().cloned().collect())
    }

    async fn exists(&self, name: &str) -> Result<bool, LinkError> {
        let state = self.begin("exists", format!("exists {name}"))?;
        Ok(state.links.contains_key(name))
    }

    async fn mac(&self, name: &str) -> Result<MacAddress, LinkError> {
        let mut state = self.begin("mac", format!("mac {name}"))?;
        Ok(state.link_mut(name)?.mac)
    }

    async fn set_up(&self, name: &str) -> Result<(), LinkError> {
        let mut state = self.begin("set_up", format!("set_up {name}"))?;
        state.link_mut(name)?.up = true;
        Ok(())
    }

    async fn set_mtu(&self, name: &str, mtu: u32) -> Result<(), LinkError> {
        let mut state = self.begin("set_mtu", format!("set_mtu {name} {mtu}"))?;
        state.link_mut(name)?.mtu = mtu;
        Ok(())
    }

    async fn add_address(&self, name: &str, address: IpNet) -> Result<(), LinkError> {
        let mut state = self.begin("add_address", format!("add_address {name} {address}"))?;
        let link = state.link_mut(name)?;
        if !link.addresses.contains(&address) {
            link.addresses.push(address);
        }
        Ok(())
    }

    async fn renamed(&self, name: &str) -> Result<bool, LinkError> {
        let mut state = self.begin("renamed", format!("renamed {name}"))?;
        Ok(state.link_mut(name)?.renamed)
    }

    async fn delete_address(&self, name: &str, address: IpNet) -> Result<(), LinkError> {
        let mut state = self.begin("delete_address", format!("delete_address {name} {address}"))?;
        let link = state.link_mut(name)?;
        let before = link.addresses.len();
        link.addresses.retain(|a| *a != address);
        if link.addresses.len() == before {
            return Err(LinkError::NotFound(format!("{address} on {name}")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddress = [0x02, 0x42, 0x0a, 0x00, 0x00, 0x05];

    fn run<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn create_veth_records_both_ends() {
        run(async {
            let links = FakeLinks::new();
            links
                .create_veth("ovsa", "ovca", Some(1400), Some(MAC))
                .await
                .unwrap();

            let host = links.link("ovsa").unwrap();
            let peer = links.link("ovca").unwrap();
            assert_eq!(host.peer.as_deref(), Some("ovca"));
            assert_eq!(peer.peer.as_deref(), Some("ovsa"));
            assert_eq!((host.mtu, peer.mtu), (1400, 1400));
            assert_eq!(peer.mac, MAC);
            assert_eq!(host.mac, FakeLinks::generated_mac("ovsa"));
            assert!(host.up, "host end is brought up");
            assert!(!peer.up, "peer end stays down");
            assert_eq!(links.mac("ovca").await.unwrap(), MAC);
            assert_eq!(
                links.calls(),
                vec![
                    "create_veth ovsa ovca mtu=1400 mac=02:42:0a:00:00:05",
                    "mac ovca"
                ]
            );
        });
    }

    #[test]
    fn defaults_without_mtu_or_mac() {
        run(async {
            let links = FakeLinks::new();
            links.create_veth("ovsb", "ovcb", None, None).await.unwrap();
            let peer = links.link("ovcb").unwrap();
            assert_eq!(peer.mtu, DEFAULT_MTU);
            assert_eq!(peer.mac, FakeLinks::generated_mac("ovcb"));
            assert_eq!(links.calls(), vec!["create_veth ovsb ovcb mtu=- mac=-"]);
        });
    }

    #[test]
    fn generated_macs_are_stable_unicast_and_distinct() {
        let a = FakeLinks::generated_mac("ovc000000000001");
        assert_eq!(a, FakeLinks::generated_mac("ovc000000000001"));
        assert_ne!(a, FakeLinks::generated_mac("ovc000000000002"));
        assert_eq!(a[0] & 0x01, 0, "unicast");
        assert_eq!(a[0] & 0x02, 0x02, "locally administered");
    }

    #[test]
    fn names_are_unique() {
        run(async {
            let links = FakeLinks::new();
            links.create_veth("ovsc", "ovcc", None, None).await.unwrap();
            assert!(matches!(
                links.create_veth("ovsc", "ovcx", None, None).await,
                Err(LinkError::AlreadyExists(name)) if name == "ovsc"
            ));
            assert!(matches!(
                links.create_veth("ovsx", "ovcc", None, None).await,
                Err(LinkError::AlreadyExists(name)) if name == "ovcc"
            ));
            assert!(links.create_veth("same", "same", None, None).await.is_err());
            assert_eq!(links.link_names(), vec!["ovcc", "ovsc"]);
        });
    }

    #[test]
    fn deleting_either_end_removes_the_pair() {
        run(async {
            let links = FakeLinks::new();
            links.create_veth("ovsd", "ovcd", None, None).await.unwrap();
            links.create_veth("ovse", "ovce", None, None).await.unwrap();
            links.delete("ovcd").await.unwrap();
            links.delete("ovse").await.unwrap();
            assert!(links.link_names().is_empty());
            assert!(!links.exists("ovsd").await.unwrap());
            assert!(matches!(
                links.delete("ovsd").await,
                Err(LinkError::NotFound(name)) if name == "ovsd"
            ));
        });
    }

    #[test]
    fn missing_links_are_not_found() {
        run(async {
            let links = FakeLinks::new();
            let address: IpNet = "10.0.0.1/24".parse().unwrap();
            assert!(matches!(links.mac("x").await, Err(LinkError::NotFound(_))));
            assert!(matches!(
                links.set_up("x").await,
                Err(LinkError::NotFound(_))
            ));
            assert!(matches!(
                links.set_mtu("x", 1400).await,
                Err(LinkError::NotFound(_))
            ));
            assert!(matches!(
                links.add_address("x", address).await,
                Err(LinkError::NotFound(_))
            ));
        });
    }

    #[test]
    fn external_link_can_be_configured() {
        run(async {
            let links = FakeLinks::new();
            links.add_link("br-0123456789ab").unwrap();
            assert!(links.add_link("br-0123456789ab").is_err());
            assert!(links.calls().is_empty(), "add_link is not a trait call");
            let gateway: IpNet = "10.20.0.1/24".parse().unwrap();
            let v6: IpNet = "fd00::1/64".parse().unwrap();
            links.set_up("br-0123456789ab").await.unwrap();
            links.set_mtu("br-0123456789ab", 9000).await.unwrap();
            links.add_address("br-0123456789ab", gateway).await.unwrap();
            links.add_address("br-0123456789ab", v6).await.unwrap();
            links.add_address("br-0123456789ab", gateway).await.unwrap();

            let bridge = links.link("br-0123456789ab").unwrap();
            assert!(bridge.up);
            assert_eq!(bridge.mtu, 9000);
            assert_eq!(bridge.addresses, vec![gateway, v6]);
            assert_eq!(bridge.peer, None);
            assert_eq!(
                links.calls(),
                vec![
                    "set_up br-0123456789ab",
                    "set_mtu br-0123456789ab 9000",
                    "add_address br-0123456789ab 10.20.0.1/24",
                    "add_address br-0123456789ab fd00::1/64",
                    "add_address br-0123456789ab 10.20.0.1/24",
                ]
            );
            links.clear_calls();
            assert!(links.calls().is_empty());

            links
                .delete_address("br-0123456789ab", gateway)
                .await
                .unwrap();
            assert_eq!(links.link("br-0123456789ab").unwrap().addresses, vec![v6]);
            assert!(matches!(
                links.delete_address("br-0123456789ab", gateway).await,
                Err(LinkError::NotFound(_))
            ));
            assert!(matches!(
                links.delete_address("nosuch", gateway).await,
                Err(LinkError::NotFound(_))
            ));
            links.fail_next("delete_address");
            assert!(links.delete_address("br-0123456789ab", v6).await.is_err());
            assert_eq!(links.link("br-0123456789ab").unwrap().addresses, vec![v6]);
        });
    }

    #[test]
    fn injected_failures_fire_once_in_order_and_change_nothing() {
        run(async {
            let links = FakeLinks::new();
            links.fail_next("create_veth");
            links.fail_next_with("create_veth", LinkError::AlreadyExists("ovsf".into()));
            links.fail_next("delete");

            assert!(matches!(
                links.create_veth("ovsf", "ovcf", None, None).await,
                Err(LinkError::Netlink(message)) if message.contains("create_veth")
            ));
            assert!(matches!(
                links.create_veth("ovsf", "ovcf", None, None).await,
                Err(LinkError::AlreadyExists(_))
            ));
            assert!(links.link_names().is_empty(), "failed calls change nothing");

            links.create_veth("ovsf", "ovcf", None, None).await.unwrap();
            assert!(links.delete("ovsf").await.is_err());
            assert!(links.exists("ovcf").await.unwrap());
            links.delete("ovsf").await.unwrap();
            assert_eq!(
                links.calls(),
                vec![
                    "create_veth ovsf ovcf mtu=- mac=-",
                    "create_veth ovsf ovcf mtu=- mac=-",
                    "create_veth ovsf ovcf mtu=- mac=-",
                    "delete ovsf",
                    "exists ovcf",
                    "delete ovsf",
                ]
            );
        });
    }

    #[test]
    #[should_panic(expected = "unknown operation")]
    fn unknown_operation_names_are_rejected() {
        FakeLinks::new().fail_next("create");
    }

    #[test]
    fn usable_as_a_trait_object_across_tasks() {
        let links: std::sync::Arc<dyn Links> = std::sync::Arc::new(FakeLinks::new());
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap()
            .block_on(async move {
                let tasks: Vec<_> = (0..8)
                    .map(|i| {
                        let links = links.clone();
                        tokio::spawn(async move {
                            links
                                .create_veth(&format!("ovs{i}"), &format!("ovc{i}"), None, None)
                                .await
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap().unwrap();
                }
                for i in 0..8 {
                    assert!(links.exists(&format!("ovc{i}")).await.unwrap());
                }
            });
    }
}
