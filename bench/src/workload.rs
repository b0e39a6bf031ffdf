//! What dockerd asks of a network driver when containers come and go, driven through the
//! plugin socket: one network, then endpoints created and joined, then left and deleted, by
//! one or more concurrent clients.

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::plugin::{self, PluginClient};

/// A network created through the driver, with a /16 IPv4 pool.
pub struct BenchNetwork {
    pub id: String,
    /// The bridge the driver makes for it (see the driver contract).
    pub bridge: String,
    pool: Ipv4Addr,
}

impl BenchNetwork {
    /// `NetworkDriver.CreateNetwork` with pool `10.<second_octet>.0.0/16`, gateway `.0.1`.
    pub async fn create(client: &mut PluginClient, second_octet: u8) -> anyhow::Result<Self> {
        let id = plugin::random_id();
        let pool = Ipv4Addr::new(10, second_octet, 0, 0);
        let gateway = Ipv4Addr::from(u32::from(pool) + 1);
        client
            .call(
                "NetworkDriver.CreateNetwork",
                &plugin::create_network(&id, &format!("{pool}/16"), &format!("{gateway}/16")),
            )
            .await?;
        Ok(BenchNetwork {
            bridge: format!("br-{}", &id[..12]),
            id,
            pool,
        })
    }

    /// The address IPAM would give the `index`-th container (after the gateway).
    pub fn endpoint_address(&self, index: usize) -> String {
        let host = u32::from(self.pool) + 2 + index as u32;
        format!("{}/16", Ipv4Addr::from(host))
    }

    pub async fn delete(&self, client: &mut PluginClient) -> anyhow::Result<()> {
        client
            .call("NetworkDriver.DeleteNetwork", &plugin::network(&self.id))
            .await?;
        Ok(())
    }
}

/// Which half of an endpoint's life a client drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// CreateEndpoint, then Join (a container starting).
    Attach,
    /// Leave, then DeleteEndpoint (a container stopping).
    Detach,
}

/// Runs `phase` for every endpoint id with `concurrency` clients (each on its own connection,
/// taking the next id as soon as it is done with one). Returns each endpoint's round-trip time,
/// in the order of `endpoint_ids`.
pub async fn drive(
    socket: &Path,
    network: &BenchNetwork,
    endpoint_ids: &[String],
    concurrency: usize,
    phase: Phase,
) -> anyhow::Result<Vec<Duration>> {
    let next = AtomicUsize::new(0);
    let times = Mutex::new(vec![Duration::ZERO; endpoint_ids.len()]);
    let client_task = || async {
        let mut client = PluginClient::connect(socket).await?;
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(endpoint_id) = endpoint_ids.get(index) else {
                return anyhow::Ok(());
            };
            let started = Instant::now();
            step(&mut client, network, index, endpoint_id, phase)
                .await
                .with_context(|| format!("endpoint #{index} ({phase:?})"))?;
            let elapsed = started.elapsed();
            times.lock().expect("no panics while held")[index] = elapsed;
        }
    };
    futures::future::try_join_all((0..concurrency.max(1)).map(|_| client_task())).await?;
    Ok(times.into_inner().expect("no panics while held"))
}

async fn step(
    client: &mut PluginClient,
    network: &BenchNetwork,
    index: usize,
    endpoint_id: &str,
    phase: Phase,
) -> anyhow::Result<()> {
    match phase {
        Phase::Attach => {
            let address = network.endpoint_address(index);
            client
                .call(
                    "NetworkDriver.CreateEndpoint",
                    &plugin::create_endpoint(&network.id, endpoint_id, &address),
                )
                .await?;
            client
                .call(
                    "NetworkDriver.Join",
                    &plugin::join(&network.id, endpoint_id),
                )
                .await?;
        }
        Phase::Detach => {
            let body = plugin::endpoint(&network.id, endpoint_id);
            client.call("NetworkDriver.Leave", &body).await?;
            client.call("NetworkDriver.DeleteEndpoint", &body).await?;
        }
    }
    Ok(())
}

/// `count` fresh endpoint ids.
pub fn endpoint_ids(count: usize) -> Vec<String> {
    (0..count).map(|_| plugin::random_id()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_follow_the_gateway() {
        let network = BenchNetwork {
            id: "x".repeat(64),
            bridge: "br-xxxxxxxxxxxx".into(),
            pool: Ipv4Addr::new(10, 201, 0, 0),
        };
        assert_eq!(network.endpoint_address(0), "10.201.0.2/16");
        assert_eq!(network.endpoint_address(300), "10.201.1.46/16");
    }
}
