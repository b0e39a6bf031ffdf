//! How Docker ids become OVS and Linux names, and MAC address handling.
//!
//! Interface names are limited to 15 bytes, so names carry the first 12 hex digits of the id.

use std::fmt;

/// Digits of an id that go into names.
pub const ID_DIGITS: usize = 12;
/// Prefix of the host side of an endpoint's veth (the OVS port).
pub const HOST_VETH_PREFIX: &str = "ovs";
/// Prefix of the container side of an endpoint's veth before Docker renames it.
pub const PEER_VETH_PREFIX: &str = "ovc";
/// Prefix of bridges the driver names itself.
pub const BRIDGE_PREFIX: &str = "br-";

/// A validated Docker network or endpoint id: 12 to 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DockerId(String);

/// An id that is not a Docker id; it names which id (`NetworkID`, `EndpointID`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("{field} {value:?} is not a Docker id (12 to 64 lowercase hex digits)")]
    Malformed { field: &'static str, value: String },
}

impl DockerId {
    /// Validates `value` as the id in field `field` of a request.
    pub fn parse(field: &'static str, value: &str) -> Result<Self, IdError> {
        if value.is_empty() {
            return Err(IdError::Missing(field));
        }
        let ok = (ID_DIGITS..=64).contains(&value.len())
            && value
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if ok {
            Ok(Self(value.to_string()))
        } else {
            Err(IdError::Malformed {
                field,
                value: value.chars().take(80).collect(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 digits, used in interface names.
    pub fn short(&self) -> &str {
        &self.0[..ID_DIGITS]
    }
}

impl fmt::Display for DockerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Bridge name the driver gives a network that names none: `br-` + 12 digits (15 bytes).
pub fn default_bridge_name(network: &DockerId) -> String {
    format!("{BRIDGE_PREFIX}{}", network.short())
}

/// Host side of an endpoint's veth, which becomes its OVS port.
pub fn host_veth_name(endpoint: &DockerId) -> String {
    format!("{HOST_VETH_PREFIX}{}", endpoint.short())
}

/// Container side of an endpoint's veth.
pub fn peer_veth_name(endpoint: &DockerId) -> String {
    format!("{PEER_VETH_PREFIX}{}", endpoint.short())
}

/// An Ethernet address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// A locally administered unicast address derived from the endpoint id, so a retried
    /// CreateEndpoint gets the same address.
    pub fn for_endpoint(endpoint: &DockerId) -> Self {
        Self::from_id(endpoint.as_str())
    }

    /// A locally administered unicast address from the first 10 digits of a Docker id. The
    /// gateway of a network gets the one of the network id, so it survives vswitchd restarts.
    pub fn from_id(id: &str) -> Self {
        let digits = id.as_bytes();
        let mut mac = [0x02, 0, 0, 0, 0, 0];
        for (i, byte) in mac.iter_mut().enumerate().skip(1) {
            *byte = digits
                .get((i - 1) * 2..i * 2)
                .and_then(|pair| std::str::from_utf8(pair).ok())
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .unwrap_or(0);
        }
        Self(mac)
    }

    /// Parses `aa:bb:cc:dd:ee:ff` (also with `-`), refusing multicast addresses.
    pub fn parse(text: &str) -> Option<Self> {
        let parts: Vec<&str> = text.split([':', '-']).collect();
        if parts.len() != 6 {
            return None;
        }
        let mut mac = [0u8; 6];
        for (byte, part) in mac.iter_mut().zip(parts) {
            if part.len() != 2 {
                return None;
            }
            *byte = u8::from_str_radix(part, 16).ok()?;
        }
        if mac[0] & 1 == 1 || mac == [0; 6] {
            return None;
        }
        Some(Self(mac))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn names_fit_in_fifteen_bytes() {
        let id = DockerId::parse("NetworkID", NET).unwrap();
        assert_eq!(default_bridge_name(&id), "br-0123456789ab");
        assert_eq!(host_veth_name(&id), "ovs0123456789ab");
        assert_eq!(peer_veth_name(&id), "ovc0123456789ab");
        assert!(host_veth_name(&id).len() <= 15);
    }

    #[test]
    fn ids_are_validated() {
        assert_eq!(
            DockerId::parse("NetworkID", ""),
            Err(IdError::Missing("NetworkID"))
        );
        assert!(DockerId::parse("EndpointID", "short").is_err());
        assert!(DockerId::parse("EndpointID", "../../etc/passwd0000").is_err());
        assert!(DockerId::parse("EndpointID", "0123456789AB").is_err());
        assert!(DockerId::parse("EndpointID", &"a".repeat(65)).is_err());
        assert!(DockerId::parse("EndpointID", "0123456789ab").is_ok());
    }

    #[test]
    fn macs() {
        let id = DockerId::parse("EndpointID", NET).unwrap();
        let mac = Mac::for_endpoint(&id);
        assert_eq!(mac.to_string(), "02:01:23:45:67:89");
        assert_eq!(Mac::parse("02:01:23:45:67:89"), Some(mac));
        assert_eq!(Mac::parse("02-01-23-45-67-89"), Some(mac));
        assert_eq!(Mac::parse("01:00:5e:00:00:01"), None);
        assert_eq!(Mac::parse("02:01:23:45:67"), None);
        assert_eq!(Mac::parse("zz:01:23:45:67:89"), None);
    }
}
