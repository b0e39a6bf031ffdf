//! Building `ofproto/trace` flows from a source endpoint, a destination and a protocol.

use std::net::IpAddr;

use crate::model::Endpoint;

/// Protocols the trace view can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Icmp,
    Tcp,
    Udp,
    Arp,
}

impl Protocol {
    pub const ALL: [Protocol; 4] = [Protocol::Icmp, Protocol::Tcp, Protocol::Udp, Protocol::Arp];

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Icmp => "icmp",
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Arp => "arp",
        }
    }

    pub fn has_port(self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Udp)
    }
}

const BROADCAST: &str = "ff:ff:ff:ff:ff:ff";
/// Source port of traced TCP/UDP packets.
const SOURCE_PORT: u16 = 40000;

/// Where a traced packet goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub address: IpAddr,
    /// The destination's MAC when it is on the same bridge (an endpoint or the gateway);
    /// otherwise the packet is addressed to the gateway MAC given to [`flow`].
    pub mac: Option<String>,
}

fn address_of(endpoint: &Endpoint, v6: bool) -> Option<IpAddr> {
    endpoint
        .plain_addresses()
        .filter_map(|a| a.parse::<IpAddr>().ok())
        .find(|a| a.is_ipv6() == v6)
}

/// The `ofproto/trace` flow for a packet from `source` to `destination`.
pub fn flow(
    source: &Endpoint,
    destination: &Destination,
    protocol: Protocol,
    port: u16,
    gateway_mac: Option<&str>,
) -> Result<String, String> {
    let ofport = source
        .ofport
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("{} has no OpenFlow port", source.label()))?;
    let src_mac = source
        .mac
        .as_deref()
        .ok_or_else(|| format!("{} has no MAC", source.label()))?;
    let v6 = destination.address.is_ipv6();
    let src_ip = address_of(source, v6).ok_or_else(|| {
        format!(
            "{} has no IPv{} address",
            source.label(),
            if v6 { 6 } else { 4 }
        )
    })?;
    let dst_ip = destination.address;
    let dst_mac = destination
        .mac
        .as_deref()
        .or(gateway_mac)
        .unwrap_or(BROADCAST);
    let head = format!("in_port={ofport},dl_src={src_mac}");
    let flow = match (protocol, v6) {
        (Protocol::Arp, true) => return Err("ARP is IPv4 only".to_string()),
        (Protocol::Arp, false) => format!(
            "arp,{head},dl_dst={BROADCAST},arp_op=1,arp_spa={src_ip},arp_tpa={dst_ip},arp_sha={src_mac}"
        ),
        (Protocol::Icmp, false) => format!(
            "icmp,{head},dl_dst={dst_mac},nw_src={src_ip},nw_dst={dst_ip},nw_ttl=64,icmp_type=8,icmp_code=0"
        ),
        (Protocol::Icmp, true) => format!(
            "icmp6,{head},dl_dst={dst_mac},ipv6_src={src_ip},ipv6_dst={dst_ip},nw_ttl=64,icmpv6_type=128,icmpv6_code=0"
        ),
        (Protocol::Tcp | Protocol::Udp, _) => {
            let name = match (protocol, v6) {
                (Protocol::Tcp, false) => "tcp",
                (Protocol::Tcp, true) => "tcp6",
                (_, false) => "udp",
                (_, true) => "udp6",
            };
            let (src, dst) = if v6 {
                ("ipv6_src", "ipv6_dst")
            } else {
                ("nw_src", "nw_dst")
            };
            format!(
                "{name},{head},dl_dst={dst_mac},{src}={src_ip},{dst}={dst_ip},nw_ttl=64,tp_src={SOURCE_PORT},tp_dst={port}"
            )
        }
    };
    Ok(flow)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web() -> Endpoint {
        Endpoint {
            bridge: "br-test".into(),
            port: "ovs1".into(),
            ofport: Some(3),
            mac: Some("02:42:0a:14:00:02".into()),
            ipv4: vec!["10.20.0.2/24".into()],
            ipv6: vec!["fd00::2/64".into()],
            container: Some("web".into()),
            ..Endpoint::default()
        }
    }

    #[test]
    fn icmp_to_an_endpoint() {
        let destination = Destination {
            address: "10.20.0.3".parse().unwrap(),
            mac: Some("02:42:0a:14:00:03".into()),
        };
        assert_eq!(
            flow(&web(), &destination, Protocol::Icmp, 0, Some("aa:bb:cc:dd:ee:ff")).unwrap(),
            "icmp,in_port=3,dl_src=02:42:0a:14:00:02,dl_dst=02:42:0a:14:00:03,nw_src=10.20.0.2,nw_dst=10.20.0.3,nw_ttl=64,icmp_type=8,icmp_code=0"
        );
    }

    #[test]
    fn tcp_v6_to_an_outside_address_goes_to_the_gateway() {
        let destination = Destination {
            address: "2001:db8::1".parse().unwrap(),
            mac: None,
        };
        let text = flow(
            &web(),
            &destination,
            Protocol::Tcp,
            443,
            Some("aa:bb:cc:dd:ee:ff"),
        )
        .unwrap();
        assert_eq!(
            text,
            "tcp6,in_port=3,dl_src=02:42:0a:14:00:02,dl_dst=aa:bb:cc:dd:ee:ff,ipv6_src=fd00::2,ipv6_dst=2001:db8::1,nw_ttl=64,tp_src=40000,tp_dst=443"
        );
        let udp = flow(&web(), &destination, Protocol::Udp, 53, None).unwrap();
        assert!(
            udp.starts_with("udp6,") && udp.contains("dl_dst=ff:ff:ff:ff:ff:ff"),
            "{udp}"
        );
    }

    #[test]
    fn arp_and_errors() {
        let v4 = Destination {
            address: "10.20.0.1".parse().unwrap(),
            mac: None,
        };
        let arp = flow(&web(), &v4, Protocol::Arp, 0, None).unwrap();
        assert!(
            arp.starts_with("arp,in_port=3,") && arp.contains("arp_tpa=10.20.0.1"),
            "{arp}"
        );
        let v6 = Destination {
            address: "fd00::1".parse().unwrap(),
            mac: None,
        };
        assert!(flow(&web(), &v6, Protocol::Arp, 0, None).is_err());
        let mut no_port = web();
        no_port.ofport = Some(-1);
        assert!(flow(&no_port, &v4, Protocol::Icmp, 0, None)
            .unwrap_err()
            .contains("OpenFlow port"));
        let mut v4_only = web();
        v4_only.ipv6.clear();
        assert!(flow(&v4_only, &v6, Protocol::Icmp, 0, None)
            .unwrap_err()
            .contains("IPv6"));
    }
}
