//! A client of the driver's plugin socket that speaks like dockerd's plugin client: HTTP/1.1
//! POSTs of JSON bodies on one kept-alive unix-socket connection, errors taken from `Err`; plus
//! the request bodies Docker sends for the methods the benchmark drives.

use std::path::Path;

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value as Json};
use tokio::net::UnixStream;

/// One connection to the plugin socket.
pub struct PluginClient {
    sender: SendRequest<Full<Bytes>>,
    connection: tokio::task::JoinHandle<()>,
}

impl PluginClient {
    pub async fn connect(socket: &Path) -> anyhow::Result<PluginClient> {
        let stream = UnixStream::connect(socket)
            .await
            .with_context(|| format!("connecting to {}", socket.display()))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP handshake on the plugin socket")?;
        let connection = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(PluginClient { sender, connection })
    }

    /// POSTs `body` to `/<method>` and returns the reply; a non-200 status or an `Err` in the
    /// reply is an error carrying the driver's message.
    pub async fn call(&mut self, method: &str, body: &Json) -> anyhow::Result<Json> {
        self.sender
            .ready()
            .await
            .with_context(|| format!("{method}: plugin connection closed"))?;
        let request = hyper::Request::post(format!("/{method}"))
            .header("Host", "plugin")
            .header("Accept", "application/vnd.docker.plugins.v1.2+json")
            .header("Content-Type", "application/json")
            .body(Full::new(Bytes::from(serde_json::to_vec(body)?)))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .with_context(|| format!("{method}: request failed"))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .with_context(|| format!("{method}: reading the reply"))?
            .to_bytes();
        let reply: Json = if bytes.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(&bytes).map_err(|err| {
                anyhow!(
                    "{method}: reply is not JSON ({err}): {}",
                    String::from_utf8_lossy(&bytes)
                )
            })?
        };
        let err = reply.get("Err").and_then(Json::as_str).unwrap_or_default();
        if !status.is_success() || !err.is_empty() {
            bail!("{method}: HTTP {status}: {err}");
        }
        Ok(reply)
    }
}

impl Drop for PluginClient {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

/// A Docker-style id: 64 lowercase hex digits.
pub fn random_id() -> String {
    format!(
        "{:032x}{:032x}",
        rand::random::<u128>(),
        rand::random::<u128>()
    )
}

/// `NetworkDriver.CreateNetwork` for an IPv4 network with one pool, as `docker network create
/// --subnet POOL --gateway GW -d DRIVER` sends it (dockerd leaves out `AuxAddresses` when
/// there are none).
pub fn create_network(network_id: &str, pool: &str, gateway_cidr: &str) -> Json {
    json!({
        "NetworkID": network_id,
        "Options": {
            "com.docker.network.enable_ipv6": false,
            "com.docker.network.generic": {},
        },
        "IPv4Data": [{
            "AddressSpace": "LocalDefault",
            "Pool": pool,
            "Gateway": gateway_cidr,
        }],
        "IPv6Data": [],
    })
}

/// `NetworkDriver.CreateEndpoint` with the address IPAM chose and no MAC (the driver picks it).
pub fn create_endpoint(network_id: &str, endpoint_id: &str, address_cidr: &str) -> Json {
    json!({
        "NetworkID": network_id,
        "EndpointID": endpoint_id,
        "Options": {},
        "Interface": {"Address": address_cidr, "AddressIPv6": "", "MacAddress": ""},
    })
}

/// `NetworkDriver.Join` with a sandbox key like dockerd's.
pub fn join(network_id: &str, endpoint_id: &str) -> Json {
    json!({
        "NetworkID": network_id,
        "EndpointID": endpoint_id,
        "SandboxKey": format!("/var/run/docker/netns/{}", &endpoint_id[..12]),
        "Options": {},
    })
}

/// Body of Leave, DeleteEndpoint and EndpointOperInfo.
pub fn endpoint(network_id: &str, endpoint_id: &str) -> Json {
    json!({"NetworkID": network_id, "EndpointID": endpoint_id})
}

/// Body of DeleteNetwork.
pub fn network(network_id: &str) -> Json {
    json!({"NetworkID": network_id})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex_digits_and_differ() {
        let a = random_id();
        let b = random_id();
        assert_eq!(a.len(), 64);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_uppercase()));
        assert_ne!(a, b);
    }

    #[test]
    fn join_sandbox_key_is_derived_from_the_endpoint() {
        let id = random_id();
        let body = join("n", &id);
        assert_eq!(
            body["SandboxKey"],
            format!("/var/run/docker/netns/{}", &id[..12])
        );
    }
}
