//! Network options given with `docker network create -o ovs.KEY=VALUE`: parsing and validation.
//! Every refusal names the offending key so the operator sees it in Docker's error message.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Key under which Docker passes `-o` driver options in CreateNetwork.
pub const GENERIC_OPTIONS_KEY: &str = "com.docker.network.generic";
/// Key Docker sets for `--internal` networks.
pub const INTERNAL_KEY: &str = "com.docker.network.internal";

/// The validated `ovs.*` options of one network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkOptions {
    /// `ovs.bridge`: use (or create) this bridge instead of `br-<id>`.
    #[serde(rename = "ovs.bridge", skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    /// `ovs.mtu`: MTU of the endpoints' veths and the bridge's internal port.
    #[serde(rename = "ovs.mtu", skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// `ovs.uplink`: an existing host interface attached to the bridge.
    #[serde(rename = "ovs.uplink", skip_serializing_if = "Option::is_none")]
    pub uplink: Option<String>,
    /// `ovs.vlan`: 802.1Q tag of the uplink port.
    #[serde(rename = "ovs.vlan", skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    /// `ovs.arp_responder`: answer ARP for known endpoints in the switch (default on).
    #[serde(rename = "ovs.arp_responder", skip_serializing_if = "Option::is_none")]
    pub arp_responder: Option<bool>,
    /// `ovs.icc`: whether endpoints may reach each other (default on); off, they reach only the
    /// gateway and the uplink.
    #[serde(rename = "ovs.icc", skip_serializing_if = "Option::is_none")]
    pub icc: Option<bool>,
}

/// An option that was refused; the message always contains the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid network option {key}: {reason}")]
pub struct OptionError {
    pub key: String,
    pub reason: String,
}

fn refuse(key: &str, reason: impl Into<String>) -> OptionError {
    OptionError {
        key: key.to_string(),
        reason: reason.into(),
    }
}

/// Whether `name` is usable as a Linux interface / OVS bridge name we create or attach:
/// 1..=15 bytes of `[A-Za-z0-9_.-]`, not `.` or `..`, and not starting with `-` (`ip`,
/// `ovs-vsctl` and `ovs-ofctl` would read such a name as an option).
pub fn is_valid_interface_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

fn interface_name(key: &str, value: &str) -> Result<String, OptionError> {
    if is_valid_interface_name(value) {
        Ok(value.to_string())
    } else {
        Err(refuse(
            key,
            format!(
                "{value:?} is not an interface name (1 to 15 characters of A-Z a-z 0-9 _ . -, \
                 not starting with -)"
            ),
        ))
    }
}

fn boolean(key: &str, value: &str) -> Result<bool, OptionError> {
    match value.trim() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(refuse(key, format!("{value:?} is not true or false"))),
    }
}

fn number_in<T: TryFrom<u64>>(
    key: &str,
    value: &str,
    min: u64,
    max: u64,
) -> Result<T, OptionError> {
    let parsed: u64 = value.trim().parse().map_err(|_| {
        refuse(
            key,
            format!("{value:?} is not a number between {min} and {max}"),
        )
    })?;
    if !(min..=max).contains(&parsed) {
        return Err(refuse(key, format!("{parsed} is outside {min}..{max}")));
    }
    T::try_from(parsed).map_err(|_| refuse(key, format!("{parsed} is out of range")))
}

/// Renders an option value Docker sent (normally a string) as text.
fn option_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Every option the driver understands.
pub const KNOWN_KEYS: [&str; 6] = [
    "ovs.bridge",
    "ovs.mtu",
    "ovs.uplink",
    "ovs.vlan",
    "ovs.arp_responder",
    "ovs.icc",
];

impl NetworkOptions {
    /// Whether the switch answers ARP requests for endpoint addresses itself.
    pub fn arp_responder_enabled(&self) -> bool {
        self.arp_responder.unwrap_or(true)
    }

    /// Whether endpoints of the network may talk to each other.
    pub fn icc_enabled(&self) -> bool {
        self.icc.unwrap_or(true)
    }

    /// Parses the CreateNetwork `Options` map: the `ovs.*` keys of
    /// `com.docker.network.generic`. Keys outside the `ovs.` namespace belong to Docker or other
    /// tools and are ignored; an unknown `ovs.*` key is refused.
    pub fn from_create_options(
        options: &BTreeMap<String, serde_json::Value>,
    ) -> Result<Self, OptionError> {
        let generic = match options.get(GENERIC_OPTIONS_KEY) {
            None | Some(serde_json::Value::Null) => return Ok(Self::default()),
            Some(serde_json::Value::Object(map)) => map,
            Some(_) => {
                return Err(refuse(GENERIC_OPTIONS_KEY, "expected an object of options"));
            }
        };
        let mut parsed = Self::default();
        for (key, value) in generic {
            if !key.starts_with("ovs.") {
                continue;
            }
            let text = option_text(value);
            match key.as_str() {
                "ovs.bridge" => parsed.bridge = Some(interface_name(key, &text)?),
                "ovs.mtu" => parsed.mtu = Some(number_in(key, &text, 68, 65535)?),
                "ovs.uplink" => parsed.uplink = Some(interface_name(key, &text)?),
                "ovs.vlan" => parsed.vlan = Some(number_in(key, &text, 1, 4094)?),
                "ovs.arp_responder" => parsed.arp_responder = Some(boolean(key, &text)?),
                "ovs.icc" => parsed.icc = Some(boolean(key, &text)?),
                _ => {
                    return Err(refuse(
                        key,
                        format!("unknown option (known: {})", KNOWN_KEYS.join(", ")),
                    ))
                }
            }
        }
        if parsed.vlan.is_some() && parsed.uplink.is_none() {
            return Err(refuse(
                "ovs.vlan",
                "tags the uplink port, so it needs ovs.uplink",
            ));
        }
        if let (Some(bridge), Some(uplink)) = (&parsed.bridge, &parsed.uplink) {
            if bridge == uplink {
                return Err(refuse("ovs.uplink", "cannot be the bridge itself"));
            }
        }
        Ok(parsed)
    }
}

/// Whether the CreateNetwork options mark the network `--internal`.
pub fn is_internal(options: &BTreeMap<String, serde_json::Value>) -> bool {
    match options.get(INTERNAL_KEY) {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => s == "true",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(generic: serde_json::Value) -> Result<NetworkOptions, OptionError> {
        let mut options = BTreeMap::new();
        options.insert(GENERIC_OPTIONS_KEY.to_string(), generic);
        NetworkOptions::from_create_options(&options)
    }

    #[test]
    fn parses_all_known_options() {
        let parsed = parse(json!({"ovs.bridge": "br-x", "ovs.mtu": "1400",
            "ovs.uplink": "eth9", "ovs.vlan": "42", "com.docker.other": "ignored"}))
        .unwrap();
        assert_eq!(
            parsed,
            NetworkOptions {
                bridge: Some("br-x".into()),
                mtu: Some(1400),
                uplink: Some("eth9".into()),
                vlan: Some(42),
                ..Default::default()
            }
        );
    }

    #[test]
    fn switches_default_on() {
        let parsed = parse(json!({"ovs.icc": "false"})).unwrap();
        assert!(!parsed.icc_enabled());
        assert!(parsed.arp_responder_enabled());
    }

    #[test]
    fn no_options_is_default() {
        assert_eq!(
            NetworkOptions::from_create_options(&BTreeMap::new()).unwrap(),
            NetworkOptions::default()
        );
    }

    #[test]
    fn refusals_name_the_key() {
        for (generic, key) in [
            (json!({"ovs.foo": "1"}), "ovs.foo"),
            (json!({"ovs.mtu": "10"}), "ovs.mtu"),
            (json!({"ovs.mtu": "65536"}), "ovs.mtu"),
            (json!({"ovs.mtu": "big"}), "ovs.mtu"),
            (json!({"ovs.uplink": "e", "ovs.vlan": "0"}), "ovs.vlan"),
            (json!({"ovs.uplink": "e", "ovs.vlan": "4095"}), "ovs.vlan"),
            (json!({"ovs.vlan": "5"}), "ovs.vlan"),
            (json!({"ovs.bridge": "has/slash"}), "ovs.bridge"),
            (json!({"ovs.bridge": "sixteen-bytes-xx"}), "ovs.bridge"),
            (json!({"ovs.bridge": ""}), "ovs.bridge"),
            (json!({"ovs.uplink": "a b"}), "ovs.uplink"),
            (json!({"ovs.icc": "maybe"}), "ovs.icc"),
            (json!({"ovs.arp_responder": "2"}), "ovs.arp_responder"),
        ] {
            let err = parse(generic.clone()).unwrap_err();
            assert_eq!(err.key, key, "for {generic}");
            assert!(err.to_string().contains(key));
        }
    }

    #[test]
    fn internal_flag() {
        let mut options = BTreeMap::new();
        assert!(!is_internal(&options));
        options.insert(INTERNAL_KEY.to_string(), json!(true));
        assert!(is_internal(&options));
    }

    #[test]
    fn interface_names() {
        assert!(is_valid_interface_name("br-0123456789ab"));
        assert!(!is_valid_interface_name("br-0123456789abc"));
        assert!(!is_valid_interface_name(".."));
        assert!(!is_valid_interface_name("a;rm"));
        assert!(is_valid_interface_name("a-b"));
        for leading_dash in ["-", "-h", "--help", "-br0"] {
            assert!(!is_valid_interface_name(leading_dash), "{leading_dash}");
        }
        let err = parse(json!({"ovs.bridge": "-"})).unwrap_err();
        assert_eq!(err.key, "ovs.bridge");
    }
}
