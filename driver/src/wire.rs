//! Wire types of the libnetwork remote network driver protocol, in one place, with the exact field
//! names Docker sends and expects. Every request type tolerates missing fields (Docker omits empty
//! ones); required fields are checked by the driver, which names the missing one in its error.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Reply of `Plugin.Activate`.
#[derive(Debug, Serialize)]
pub struct ActivateResponse {
    #[serde(rename = "Implements")]
    pub implements: Vec<&'static str>,
}

/// Reply of `NetworkDriver.GetCapabilities`.
#[derive(Debug, Serialize)]
pub struct CapabilitiesResponse {
    #[serde(rename = "Scope")]
    pub scope: &'static str,
    #[serde(rename = "ConnectivityScope")]
    pub connectivity_scope: &'static str,
}

/// One address pool of a network as IPAM assigned it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct IpamData {
    #[serde(rename = "AddressSpace")]
    pub address_space: String,
    #[serde(rename = "Pool")]
    pub pool: String,
    /// Gateway in CIDR form (`10.20.0.1/24`), or empty.
    #[serde(rename = "Gateway")]
    pub gateway: String,
    #[serde(rename = "AuxAddresses")]
    pub aux_addresses: BTreeMap<String, String>,
}

/// Request of `NetworkDriver.CreateNetwork` (and `AllocateNetwork`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CreateNetworkRequest {
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    #[serde(rename = "Options", deserialize_with = "null_as_default")]
    pub options: BTreeMap<String, serde_json::Value>,
    #[serde(rename = "IPv4Data", deserialize_with = "null_as_default")]
    pub ipv4_data: Vec<IpamData>,
    #[serde(rename = "IPv6Data", deserialize_with = "null_as_default")]
    pub ipv6_data: Vec<IpamData>,
}

/// Requests that only name a network (`DeleteNetwork`, `FreeNetwork`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NetworkRequest {
    #[serde(rename = "NetworkID")]
    pub network_id: String,
}

/// The interface part of `CreateEndpoint`, in both directions.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct EndpointInterface {
    #[serde(rename = "Address", skip_serializing_if = "String::is_empty")]
    pub address: String,
    #[serde(rename = "AddressIPv6", skip_serializing_if = "String::is_empty")]
    pub address_ipv6: String,
    #[serde(rename = "MacAddress", skip_serializing_if = "String::is_empty")]
    pub mac_address: String,
}

/// Request of `NetworkDriver.CreateEndpoint`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CreateEndpointRequest {
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    #[serde(rename = "Options", deserialize_with = "null_as_default")]
    pub options: BTreeMap<String, serde_json::Value>,
    #[serde(rename = "Interface", deserialize_with = "null_as_default")]
    pub interface: EndpointInterface,
}

/// Reply of `NetworkDriver.CreateEndpoint`: only the fields Docker left empty.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CreateEndpointResponse {
    #[serde(rename = "Interface", skip_serializing_if = "Option::is_none")]
    pub interface: Option<EndpointInterface>,
}

/// Requests that name an endpoint (`DeleteEndpoint`, `EndpointOperInfo`, `Leave`,
/// `RevokeExternalConnectivity`, `ProgramExternalConnectivity`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EndpointRequest {
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
}

/// Reply of `NetworkDriver.EndpointOperInfo`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EndpointOperInfoResponse {
    #[serde(rename = "Value")]
    pub value: BTreeMap<String, serde_json::Value>,
}

/// Request of `NetworkDriver.Join`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct JoinRequest {
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    #[serde(rename = "SandboxKey")]
    pub sandbox_key: String,
    #[serde(rename = "Options", deserialize_with = "null_as_default")]
    pub options: BTreeMap<String, serde_json::Value>,
}

/// Names of the interface Docker moves into the sandbox.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct InterfaceName {
    #[serde(rename = "SrcName")]
    pub src_name: String,
    #[serde(rename = "DstPrefix")]
    pub dst_prefix: String,
}

/// Reply of `NetworkDriver.Join`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct JoinResponse {
    #[serde(rename = "InterfaceName")]
    pub interface_name: InterfaceName,
    #[serde(rename = "Gateway", skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    #[serde(rename = "GatewayIPv6", skip_serializing_if = "String::is_empty")]
    pub gateway_ipv6: String,
    /// Set for `--internal` networks so Docker adds no `docker_gwbridge` NIC of its own.
    #[serde(
        rename = "DisableGatewayService",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub disable_gateway_service: bool,
}

/// The error body of the network driver protocol.
#[derive(Debug, Serialize)]
pub struct ErrorResponse {
    #[serde(rename = "Err")]
    pub err: String,
}

/// Docker sends `null` for empty lists and maps; treat it as empty.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_network_accepts_docker_shape_with_nulls() {
        let body = r#"{"NetworkID":"abc","Options":{"com.docker.network.enable_ipv6":false,
            "com.docker.network.generic":{"ovs.mtu":"1400"}},
            "IPv4Data":[{"AddressSpace":"LocalDefault","Gateway":"10.20.0.1/24","Pool":"10.20.0.0/24"}],
            "IPv6Data":null}"#;
        let req: CreateNetworkRequest = serde_json::from_str(body).unwrap();
        assert_eq!(req.network_id, "abc");
        assert_eq!(req.ipv4_data[0].gateway, "10.20.0.1/24");
        assert!(req.ipv6_data.is_empty());
        let bare: CreateNetworkRequest =
            serde_json::from_str(r#"{"NetworkID":"abc","Options":null}"#).unwrap();
        assert!(bare.options.is_empty());
    }

    #[test]
    fn create_endpoint_response_omits_empty_fields() {
        let resp = CreateEndpointResponse {
            interface: Some(EndpointInterface {
                mac_address: "02:00:00:00:00:01".into(),
                ..Default::default()
            }),
        };
        assert_eq!(
            serde_json::to_string(&resp).unwrap(),
            r#"{"Interface":{"MacAddress":"02:00:00:00:00:01"}}"#
        );
        let empty = CreateEndpointResponse::default();
        assert_eq!(serde_json::to_string(&empty).unwrap(), "{}");
    }

    #[test]
    fn join_response_shape() {
        let resp = JoinResponse {
            interface_name: InterfaceName {
                src_name: "ovc0123".into(),
                dst_prefix: "eth".into(),
            },
            gateway: "10.0.0.1".into(),
            gateway_ipv6: String::new(),
            disable_gateway_service: false,
        };
        assert_eq!(
            serde_json::to_string(&resp).unwrap(),
            r#"{"InterfaceName":{"SrcName":"ovc0123","DstPrefix":"eth"},"Gateway":"10.0.0.1"}"#
        );
    }
}
