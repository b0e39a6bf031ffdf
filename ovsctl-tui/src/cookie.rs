//! Decoding of our driver's flow cookies.
//!
//! The driver's cookies carry `0xdc0` in the top 12 bits, a kind nibble in bits 48..51
//! (1 = network flow, 2 = endpoint flow) and the first 12 hex digits of the network or endpoint
//! id in the low 48 bits.

/// Top 12 bits of every driver cookie.
pub const PREFIX: u64 = 0xdc0 << 52;
/// Mask selecting [`PREFIX`].
pub const PREFIX_MASK: u64 = 0xfff << 52;
const KIND_NETWORK: u64 = 1;
const KIND_ENDPOINT: u64 = 2;

/// Who installed a flow, according to its cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CookieOwner {
    /// A flow shared by a whole network; the first 12 hex digits of its id.
    Network(u64),
    /// A flow of one endpoint; the first 12 hex digits of its id.
    Endpoint(u64),
    /// Our prefix with a kind this version does not know.
    Driver { kind: u8 },
    /// Not one of the driver's flows.
    Foreign,
}

impl CookieOwner {
    pub fn of(cookie: u64) -> CookieOwner {
        if cookie & PREFIX_MASK != PREFIX {
            return CookieOwner::Foreign;
        }
        let id = cookie & 0xffff_ffff_ffff;
        match (cookie >> 48) & 0xf {
            KIND_NETWORK => CookieOwner::Network(id),
            KIND_ENDPOINT => CookieOwner::Endpoint(id),
            kind => CookieOwner::Driver { kind: kind as u8 },
        }
    }

    pub fn is_driver(self) -> bool {
        self != CookieOwner::Foreign
    }

    /// `"network"`, `"endpoint"`, `"driver"` or `"foreign"`.
    pub fn kind(self) -> &'static str {
        match self {
            CookieOwner::Network(_) => "network",
            CookieOwner::Endpoint(_) => "endpoint",
            CookieOwner::Driver { .. } => "driver",
            CookieOwner::Foreign => "foreign",
        }
    }

    /// The 12 hex digits of the owner's id, if the cookie names one.
    pub fn id_prefix(self) -> Option<String> {
        match self {
            CookieOwner::Network(id) | CookieOwner::Endpoint(id) => Some(format!("{id:012x}")),
            _ => None,
        }
    }
}

/// The first 12 characters of an id (the part a cookie carries), lower-cased.
pub fn id_prefix(id: &str) -> String {
    id.chars().take(12).collect::<String>().to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_driver_cookies() {
        let network = 0xdc01_1a2b_3c4d_5e6f;
        assert_eq!(
            CookieOwner::of(network),
            CookieOwner::Network(0x1a2b_3c4d_5e6f)
        );
        assert_eq!(
            CookieOwner::of(network).id_prefix().as_deref(),
            Some("1a2b3c4d5e6f")
        );
        let endpoint = 0xdc02_0000_0000_00ff;
        assert_eq!(CookieOwner::of(endpoint), CookieOwner::Endpoint(0xff));
        assert_eq!(
            CookieOwner::of(endpoint).id_prefix().as_deref(),
            Some("0000000000ff")
        );
        assert_eq!(
            CookieOwner::of(0xdc07_0000_0000_0001),
            CookieOwner::Driver { kind: 7 }
        );
        assert!(CookieOwner::of(0xdc07_0000_0000_0001).is_driver());
    }

    #[test]
    fn other_cookies_are_foreign() {
        for cookie in [0, 1, 0xdc1 << 52, 0xfdc0_0000_0000_0000, u64::MAX] {
            assert_eq!(CookieOwner::of(cookie), CookieOwner::Foreign, "{cookie:#x}");
        }
        assert_eq!(CookieOwner::Foreign.kind(), "foreign");
        assert_eq!(id_prefix("1A2B3C4D5E6F7788"), "1a2b3c4d5e6f");
        assert_eq!(id_prefix("abc"), "abc");
    }
}
