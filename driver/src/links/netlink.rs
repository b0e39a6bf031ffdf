//! [`Links`] over rtnetlink: the production implementation, talking to the kernel of the network
//! namespace the connection was opened in.

use async_trait::async_trait;
use futures::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::packet_route::link::{InfoData, InfoVeth, LinkAttribute, LinkMessage};
use rtnetlink::{Handle, LinkUnspec, LinkVeth};

use super::{LinkError, Links, MacAddress};

/// Talks rtnetlink to the kernel. Cheap to share: all clones of the handle use one socket, owned by
/// a connection task spawned on the tokio runtime that created this value.
#[derive(Clone)]
pub struct NetlinkLinks {
    handle: Handle,
}

impl NetlinkLinks {
    /// Opens a netlink socket in the calling thread's network namespace and spawns its connection
    /// task on the current tokio runtime.
    pub fn new() -> Result<Self, LinkError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| LinkError::Netlink(format!("no tokio runtime: {e}")))?;
        let (connection, handle, _) = rtnetlink::new_connection()
            .map_err(|e| LinkError::Netlink(format!("opening netlink socket: {e}")))?;
        runtime.spawn(connection);
        Ok(Self { handle })
    }

    /// The link's current MTU (not part of [`Links`]; used by tests and diagnostics).
    pub async fn mtu(&self, name: &str) -> Result<u32, LinkError> {
        let message = self.get(name).await?;
        message
            .attributes
            .iter()
            .find_map(|attribute| match attribute {
                LinkAttribute::Mtu(mtu) => Some(*mtu),
                _ => None,
            })
            .ok_or_else(|| LinkError::Netlink(format!("link {name} reported no MTU")))
    }

    /// Whether the link is administratively up (not part of [`Links`]; used by tests).
    pub async fn is_up(&self, name: &str) -> Result<bool, LinkError> {
        let message = self.get(name).await?;
        Ok(message
            .header
            .flags
            .contains(rtnetlink::packet_route::link::LinkFlags::Up))
    }

    /// Fetches one link by name.
    async fn get(&self, name: &str) -> Result<LinkMessage, LinkError> {
        let mut replies = self.handle.link().get().match_name(name).execute();
        match replies.try_next().await {
            Ok(Some(message)) => Ok(message),
            Ok(None) => Err(LinkError::NotFound(name.to_string())),
            Err(e) => Err(to_link_error(name, e)),
        }
    }

    async fn index(&self, name: &str) -> Result<u32, LinkError> {
        Ok(self.get(name).await?.header.index)
    }
}

#[async_trait]
impl Links for NetlinkLinks {
    async fn create_veth(
        &self,
        host: &str,
        peer: &str,
        mtu: Option<u32>,
        peer_mac: Option<MacAddress>,
    ) -> Result<(), LinkError> {
        let mut peer_message = LinkUnspec::new_with_name(peer);
        let mut host_message = LinkVeth::new(host, peer);
        if let Some(mtu) = mtu {
            peer_message = peer_message.mtu(mtu);
            host_message = host_message.mtu(mtu);
        }
        if let Some(mac) = peer_mac {
            peer_message = peer_message.address(mac.to_vec());
        }
        let message = host_message
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_message.build())))
            .build();

        if let Err(e) = self.handle.link().add(message).execute().await {
            let error = to_link_error(host, e);
            // EEXIST does not say which end collided; name the one that exists.
            if matches!(error, LinkError::AlreadyExists(_)) && !self.exists(host).await? {
                return Err(LinkError::AlreadyExists(peer.to_string()));
            }
            return Err(error);
        }

        if let Err(e) = self.set_up(host).await {
            // Do not leave a half-configured pair behind for the caller to trip over.
            let _ = self.delete(host).await;
            return Err(e);
        }
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<(), LinkError> {
        self.handle
            .link()
            .del_with_message(LinkUnspec::new_with_name(name).build())
            .execute()
            .await
            .map_err(|e| to_link_error(name, e))
    }

    async fn names(&self) -> Result<Vec<String>, LinkError> {
        let mut replies = self.handle.link().get().execute();
        let mut names = Vec::new();
        while let Some(message) = replies
            .try_next()
            .await
            .map_err(|e| to_link_error("(dump)", e))?
        {
            names.extend(message.attributes.iter().find_map(|a| match a {
                LinkAttribute::IfName(name) => Some(name.clone()),
                _ => None,
            }));
        }
        Ok(names)
    }

    async fn exists(&self, name: &str) -> Result<bool, LinkError> {
        match self.get(name).await {
            Ok(_) => Ok(true),
            Err(LinkError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn mac(&self, name: &str) -> Result<MacAddress, LinkError> {
        let message = self.get(name).await?;
        let address = message
            .attributes
            .iter()
            .find_map(|attribute| match attribute {
                LinkAttribute::Address(bytes) => Some(bytes),
                _ => None,
            });
        match address {
            Some(bytes) => MacAddress::try_from(bytes.as_slice()).map_err(|_| {
                LinkError::Netlink(format!(
                    "link {name} has a {}-byte hardware address, not an Ethernet MAC",
                    bytes.len()
                ))
            }),
            None => Err(LinkError::Netlink(format!(
                "link {name} has no hardware address"
            ))),
        }
    }

    async fn set_up(&self, name: &str) -> Result<(), LinkError> {
        self.handle
            .link()
            .change(LinkUnspec::new_with_name(name).up().build())
            .execute()
            .await
            .map_err(|e| to_link_error(name, e))
    }

    async fn set_mtu(&self, name: &str, mtu: u32) -> Result<(), LinkError> {
        self.handle
            .link()
            .change(LinkUnspec::new_with_name(name).mtu(mtu).build())
            .execute()
            .await
            .map_err(|e| to_link_error(name, e))
    }

    async fn add_address(&self, name: &str, address: IpNet) -> Result<(), LinkError> {
        let index = self.index(name).await?;
        match self
            .handle
            .address()
            .add(index, address.addr(), address.prefix_len())
            .execute()
            .await
            .map_err(|e| to_link_error(name, e))
        {
            Ok(()) | Err(LinkError::AlreadyExists(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn renamed(&self, name: &str) -> Result<bool, LinkError> {
        /// `NET_NAME_RENAMED` of `include/linux/netdevice.h`.
        const NET_NAME_RENAMED: u8 = 4;
        if !crate::options::is_valid_interface_name(name) {
            return Ok(false);
        }
        // Not in rtnetlink; sysfs shows the namespace it was mounted in, which is ours when the
        // driver runs in the host's (or a holder's) namespace. Anything else: cannot tell.
        let path = format!("/sys/class/net/{name}/name_assign_type");
        match tokio::fs::read_to_string(&path).await {
            Ok(text) => Ok(text.trim().parse::<u8>() == Ok(NET_NAME_RENAMED)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !self.exists(name).await? => {
                Err(LinkError::NotFound(name.to_string()))
            }
            Err(_) => Ok(false),
        }
    }

    async fn delete_address(&self, name: &str, address: IpNet) -> Result<(), LinkError> {
        let index = self.index(name).await?;
        let mut found = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .set_address_filter(address.addr())
            .set_prefix_length_filter(address.prefix_len())
            .execute();
        let Some(message) = found.try_next().await.map_err(|e| to_link_error(name, e))? else {
            return Err(LinkError::NotFound(format!("{address} on {name}")));
        };
        self.handle
            .address()
            .del(message)
            .execute()
            .await
            .map_err(|e| to_link_error(name, e))
    }
}

/// Maps the kernel's errno to the variants callers act on; everything else keeps its message.
fn to_link_error(name: &str, error: rtnetlink::Error) -> LinkError {
    if let rtnetlink::Error::NetlinkError(message) = &error {
        match -message.raw_code() {
            libc::EEXIST => return LinkError::AlreadyExists(name.to_string()),
            libc::ENODEV => return LinkError::NotFound(name.to_string()),
            _ => {}
        }
    }
    LinkError::Netlink(format!("{name}: {error}"))
}

#[cfg(test)]
mod tests {
    //! These run against the real kernel, each inside a network namespace of its own so they
    //! neither see nor disturb the host's links. They need root (CAP_NET_ADMIN + CAP_SYS_ADMIN).

    use super::*;
    use std::future::Future;

    /// Runs `test` on a fresh thread that has been moved into a new, empty network namespace.
    /// `unshare` only affects the calling thread, so the netlink socket and the single-threaded
    /// runtime both live on that thread; the namespace disappears when the thread ends.
    fn in_private_netns<F, Fut>(test: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let thread = std::thread::spawn(move || {
            // SAFETY: plain syscall on this thread, no memory is shared with the kernel.
            let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
            assert_eq!(
                rc,
                0,
                "unshare(CLONE_NEWNET) failed (tests need root): {}",
                std::io::Error::last_os_error()
            );
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            runtime.block_on(test());
        });
        if let Err(panic) = thread.join() {
            std::panic::resume_unwind(panic);
        }
    }

    impl NetlinkLinks {
        /// The addresses on a link as `addr/prefix`, in kernel order.
        async fn addresses(&self, name: &str) -> Vec<IpNet> {
            use rtnetlink::packet_route::address::AddressAttribute;
            let index = self.index(name).await.unwrap();
            let messages: Vec<_> = self
                .handle
                .address()
                .get()
                .set_link_index_filter(index)
                .execute()
                .try_collect()
                .await
                .unwrap();
            messages
                .iter()
                .filter_map(|message| {
                    message
                        .attributes
                        .iter()
                        .find_map(|attribute| match attribute {
                            AddressAttribute::Address(ip) => {
                                IpNet::new(*ip, message.header.prefix_len).ok()
                            }
                            _ => None,
                        })
                })
                .collect()
        }
    }

    const PEER_MAC: MacAddress = [0x02, 0x42, 0xac, 0x11, 0x00, 0x07];

    #[test]
    fn renamed_links_are_told_from_fresh_ones() {
        in_private_netns(|| async {
            // sysfs shows the namespace it was mounted in: mount one for ours, in a private
            // mount namespace of this thread.
            // SAFETY: plain syscalls on this thread; the strings are NUL-terminated literals.
            unsafe {
                assert_eq!(libc::unshare(libc::CLONE_NEWNS), 0, "unshare(CLONE_NEWNS)");
                let none = c"none".as_ptr();
                assert_eq!(
                    libc::mount(
                        none,
                        c"/".as_ptr(),
                        std::ptr::null(),
                        libc::MS_REC | libc::MS_PRIVATE,
                        std::ptr::null()
                    ),
                    0
                );
                assert_eq!(
                    libc::mount(
                        c"sysfs".as_ptr(),
                        c"/sys".as_ptr(),
                        c"sysfs".as_ptr(),
                        0,
                        std::ptr::null()
                    ),
                    0,
                    "mount sysfs: {}",
                    std::io::Error::last_os_error()
                );
            }
            let links = NetlinkLinks::new().unwrap();
            links
                .create_veth("ovstest1", "ovctest1", None, None)
                .await
                .unwrap();
            assert!(!links.renamed("ovctest1").await.unwrap(), "fresh peer");
            assert!(!links.renamed("ovstest1").await.unwrap(), "fresh host side");
            // As Docker does: to eth0 in the sandbox, and back at teardown.
            for (from, to) in [("ovctest1", "eth0"), ("eth0", "ovctest1")] {
                let index = links.index(from).await.unwrap();
                links
                    .handle
                    .link()
                    .change(LinkUnspec::new_with_index(index).name(to).build())
                    .execute()
                    .await
                    .unwrap();
            }
            assert!(links.renamed("ovctest1").await.unwrap(), "renamed back");
            assert!(!links.renamed("ovstest1").await.unwrap());
            assert!(!links.renamed("../../x").await.unwrap(), "not a name");
            assert!(matches!(
                links.renamed("ovcnothere").await,
                Err(LinkError::NotFound(_))
            ));
        });
    }

    #[test]
    fn veth_lifecycle() {
        in_private_netns(|| async {
            let links = NetlinkLinks::new().unwrap();
            assert!(!links.exists("ovstest0").await.unwrap());

            links
                .create_veth("ovstest0", "ovctest0", Some(1400), Some(PEER_MAC))
                .await
                .unwrap();
            assert!(links.exists("ovstest0").await.unwrap());
            assert!(links.exists("ovctest0").await.unwrap());
            let mut names = links.names().await.unwrap();
            names.sort();
            assert_eq!(names, ["lo", "ovctest0", "ovstest0"]);
            assert_eq!(links.mac("ovctest0").await.unwrap(), PEER_MAC);
            assert_eq!(links.mtu("ovstest0").await.unwrap(), 1400);
            assert_eq!(links.mtu("ovctest0").await.unwrap(), 1400);
            assert!(links.is_up("ovstest0").await.unwrap());
            assert!(!links.is_up("ovctest0").await.unwrap());

            links.set_up("ovctest0").await.unwrap();
            assert!(links.is_up("ovctest0").await.unwrap());
            links.set_mtu("ovctest0", 1300).await.unwrap();
            assert_eq!(links.mtu("ovctest0").await.unwrap(), 1300);

            let address: IpNet = "10.99.0.1/24".parse().unwrap();
            links.add_address("ovstest0", address).await.unwrap();
            links.add_address("ovstest0", address).await.unwrap();
            let v6: IpNet = "fd00:99::1/64".parse().unwrap();
            links.add_address("ovstest0", v6).await.unwrap();
            links.add_address("ovstest0", v6).await.unwrap();
            let mut present = links.addresses("ovstest0").await;
            present.retain(|a| *a == address || *a == v6);
            present.sort();
            assert_eq!(present, vec![address, v6], "each address once");

            links.delete_address("ovstest0", address).await.unwrap();
            let mut present = links.addresses("ovstest0").await;
            present.retain(|a| *a == address || *a == v6);
            assert_eq!(present, vec![v6]);
            assert!(matches!(
                links.delete_address("ovstest0", address).await,
                Err(LinkError::NotFound(_))
            ));

            links.delete("ovctest0").await.unwrap();
            assert!(!links.exists("ovstest0").await.unwrap(), "both ends go");
            assert!(!links.exists("ovctest0").await.unwrap());
            assert!(matches!(
                links.delete("ovstest0").await,
                Err(LinkError::NotFound(name)) if name == "ovstest0"
            ));
        });
    }

    #[test]
    fn create_without_mtu_or_mac_uses_kernel_defaults() {
        in_private_netns(|| async {
            let links = NetlinkLinks::new().unwrap();
            links
                .create_veth("ovsdflt", "ovcdflt", None, None)
                .await
                .unwrap();
            assert_eq!(links.mtu("ovsdflt").await.unwrap(), 1500);
            let mac = links.mac("ovcdflt").await.unwrap();
            assert_ne!(mac, [0; 6]);
            assert_eq!(mac[0] & 0x01, 0, "unicast");
        });
    }

    #[test]
    fn duplicate_names_are_already_exists() {
        in_private_netns(|| async {
            let links = NetlinkLinks::new().unwrap();
            links
                .create_veth("ovsdup", "ovcdup", None, None)
                .await
                .unwrap();
            assert!(matches!(
                links.create_veth("ovsdup", "ovcother", None, None).await,
                Err(LinkError::AlreadyExists(name)) if name == "ovsdup"
            ));
            assert!(matches!(
                links.create_veth("ovsother", "ovcdup", None, None).await,
                Err(LinkError::AlreadyExists(name)) if name == "ovcdup"
            ));
            assert!(!links.exists("ovcother").await.unwrap());
            assert!(!links.exists("ovsother").await.unwrap());
        });
    }

    #[test]
    fn missing_links_are_not_found() {
        in_private_netns(|| async {
            let links = NetlinkLinks::new().unwrap();
            let address: IpNet = "10.99.0.1/24".parse().unwrap();
            assert!(matches!(
                links.delete("nosuch").await,
                Err(LinkError::NotFound(_))
            ));
            assert!(matches!(
                links.mac("nosuch").await,
                Err(LinkError::NotFound(_))
            ));
            assert!(matches!(
                links.set_up("nosuch").await,
                Err(LinkError::NotFound(_))
            ));
            assert!(matches!(
                links.set_mtu("nosuch", 1400).await,
                Err(LinkError::NotFound(_))
            ));
            assert!(matches!(
                links.add_address("nosuch", address).await,
                Err(LinkError::NotFound(_))
            ));
            assert!(matches!(
                links.delete_address("nosuch", address).await,
                Err(LinkError::NotFound(_))
            ));
        });
    }

    #[test]
    fn other_kernel_errors_keep_their_message() {
        in_private_netns(|| async {
            let links = NetlinkLinks::new().unwrap();
            // IFNAMSIZ is 16 including the NUL: the kernel refuses this name with EINVAL/ERANGE.
            let result = links
                .create_veth("ovs-name-far-too-long", "ovcshort", None, None)
                .await;
            assert!(matches!(result, Err(LinkError::Netlink(_))), "{result:?}");
        });
    }

    #[test]
    fn new_outside_a_runtime_is_an_error() {
        assert!(matches!(NetlinkLinks::new(), Err(LinkError::Netlink(_))));
    }
}
