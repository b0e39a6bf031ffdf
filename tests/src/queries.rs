//! Questions tests ask an environment: docker objects, OVS records, links in the netns,
//! connectivity between containers. All of them panic with diagnostics when a tool fails.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::cmd::CmdOutput;
use crate::env::{Env, IMAGE};
use crate::{ovs, wait};

/// A container's attachment to one network, from `docker inspect`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerNet {
    /// IPv4 address without prefix length ("" if none).
    pub ipv4: String,
    /// IPv4 prefix length.
    pub ipv4_prefix: u32,
    /// Global IPv6 address without prefix length ("" if none).
    pub ipv6: String,
    /// MAC address of the container's interface.
    pub mac: String,
    /// Docker endpoint id (64 hex).
    pub endpoint_id: String,
    /// Network id (64 hex).
    pub network_id: String,
    /// IPv4 gateway ("" if none).
    pub gateway: String,
    /// IPv6 gateway ("" if none).
    pub ipv6_gateway: String,
}

/// Default bridge name for a network: `br-` + first 12 hex digits of its id.
pub fn bridge_name(network_id: &str) -> String {
    format!("br-{}", &network_id[..12.min(network_id.len())])
}

/// Host-side veth / OVS port name of an endpoint: `ovs` + first 12 hex digits of its id.
pub fn port_name(endpoint_id: &str) -> String {
    format!("ovs{}", &endpoint_id[..12.min(endpoint_id.len())])
}

/// True for link names the driver creates: `ovs`/`ovc` followed by 12 hex digits.
pub fn is_driver_link(name: &str) -> bool {
    (name.starts_with("ovs") || name.starts_with("ovc"))
        && name.len() == 15
        && name[3..].chars().all(|c| c.is_ascii_hexdigit())
}

/// The arguments of [`Env::run_container`]'s `docker run`, for callers that want the raw output
/// (a run that may fail) or run it from another thread.
pub fn run_container_args<'a>(name: &'a str, network: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "run",
        "-d",
        "--pull",
        "never",
        "--name",
        name,
        "--network",
        network,
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[IMAGE, "sleep", "3600"]);
    args
}

/// A 64-hex-digit id such as docker uses for networks and endpoints, random per call.
pub fn random_id() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    (0..4)
        .map(|index| {
            let mut hasher = RandomState::new().build_hasher();
            hasher.write_usize(index);
            format!("{:016x}", hasher.finish())
        })
        .collect()
}

impl Env {
    /// `docker network create -d <our driver> ARGS NAME`; returns the network id.
    pub fn create_network(&self, name: &str, args: &[&str]) -> String {
        let mut full = vec!["network", "create", "-d", self.driver_name()];
        full.extend_from_slice(args);
        full.push(name);
        self.docker_ok(&full)
    }

    /// The full id of a docker network.
    pub fn network_id(&self, name: &str) -> String {
        self.docker_ok(&["network", "inspect", "-f", "{{.Id}}", name])
    }

    /// `docker run -d --name NAME --network NETWORK EXTRA busybox sleep 3600`; returns the id.
    pub fn run_container(&self, name: &str, network: &str, extra: &[&str]) -> String {
        self.docker_ok(&run_container_args(name, network, extra))
    }

    /// A container's attachment to `network` (by network name).
    pub fn container_net(&self, container: &str, network: &str) -> ContainerNet {
        let text = self.docker_ok(&[
            "inspect",
            "-f",
            "{{json .NetworkSettings.Networks}}",
            container,
        ]);
        let networks: Value = serde_json::from_str(&text)
            .unwrap_or_else(|error| self.fail(&format!("bad inspect JSON {text:?}: {error}")));
        let Some(attachment) = networks.get(network) else {
            self.fail(&format!(
                "container {container} is not attached to {network}: {text}"
            ));
        };
        let field = |name: &str| attachment[name].as_str().unwrap_or_default().to_string();
        ContainerNet {
            ipv4: field("IPAddress"),
            ipv4_prefix: attachment["IPPrefixLen"].as_u64().unwrap_or(0) as u32,
            ipv6: field("GlobalIPv6Address"),
            mac: field("MacAddress"),
            endpoint_id: field("EndpointID"),
            network_id: field("NetworkID"),
            gateway: field("Gateway"),
            ipv6_gateway: field("IPv6Gateway"),
        }
    }

    /// One ping attempt from a container (`ping6` for IPv6 targets): `-c 2 -W 2`.
    pub fn ping(&self, container: &str, target: &str) -> CmdOutput {
        let program = if target.contains(':') {
            "ping6"
        } else {
            "ping"
        };
        self.docker(&["exec", container, program, "-c", "2", "-W", "2", target])
    }

    /// Pings until one attempt succeeds, for up to 30 s (ARP, IPv6 DAD and flow setup take a
    /// moment); panics with connectivity diagnostics otherwise.
    pub fn wait_ping(&self, container: &str, target: &str) {
        let result = wait::wait_for_success(
            &format!("{container} to ping {target}"),
            Duration::from_secs(30),
            || self.ping(container, target),
        );
        if let Err(error) = result {
            self.fail(&format!(
                "{error}\n\n{}",
                self.connectivity_report(&[container])
            ));
        }
    }

    /// `ovs-vsctl show`, flows of every bridge, links in the netns and the given containers'
    /// addresses and routes: what one needs to understand a failed ping.
    pub fn connectivity_report(&self, containers: &[&str]) -> String {
        let mut report = String::from("==== connectivity report ====\n");
        let show = self.vsctl(&["show"]);
        report.push_str(&format!(
            "-- ovs-vsctl show --\n{}{}\n",
            show.stdout, show.stderr
        ));
        for bridge in self.vsctl(&["list-br"]).stdout.split_whitespace() {
            let flows = self.ofctl(&["dump-flows", bridge]);
            report.push_str(&format!(
                "-- ovs-ofctl dump-flows {bridge} --\n{}{}\n",
                flows.stdout, flows.stderr
            ));
        }
        let links = self.ip(&["-br", "addr"]);
        report.push_str(&format!(
            "-- ip -n {} -br addr --\n{}\n",
            self.netns(),
            links.stdout
        ));
        for container in containers {
            for command in [
                &["ip", "addr"][..],
                &["ip", "route"],
                &["ip", "-6", "route"],
            ] {
                let mut args = vec!["exec", container];
                args.extend_from_slice(command);
                let output = self.docker(&args);
                report.push_str(&format!(
                    "-- {container}: {} --\n{}{}\n",
                    command.join(" "),
                    output.stdout,
                    output.stderr
                ));
            }
        }
        report
    }

    /// Names of all links in the environment's netns.
    pub fn links(&self) -> Vec<String> {
        parse_link_names(&self.ip_ok(&["-o", "link", "show"]))
    }

    /// Links named like the driver's veths (`ovs…`/`ovc…` + 12 hex).
    pub fn driver_links(&self) -> Vec<String> {
        self.links()
            .into_iter()
            .filter(|name| is_driver_link(name))
            .collect()
    }

    /// Whether a link exists in the netns.
    pub fn link_exists(&self, name: &str) -> bool {
        self.links().iter().any(|link| link == name)
    }

    /// `ip -d link show dev NAME` output (details: kind, mtu, flags).
    pub fn link_details(&self, name: &str) -> String {
        self.ip_ok(&["-d", "link", "show", "dev", name])
    }

    /// MTU of a link in the netns.
    pub fn link_mtu(&self, name: &str) -> u32 {
        let details = self.link_details(name);
        mtu_from_ip_output(&details)
            .unwrap_or_else(|| self.fail(&format!("no mtu in `ip link` output: {details}")))
    }

    /// Addresses (`10.0.0.1/24`, `fd00::1/64`) configured on a link in the netns.
    pub fn link_addresses(&self, name: &str) -> Vec<String> {
        self.ip_ok(&["-o", "addr", "show", "dev", name])
            .lines()
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                words.find(|word| *word == "inet" || *word == "inet6")?;
                words.next().map(str::to_string)
            })
            .collect()
    }

    /// `ovs-vsctl list-br`.
    pub fn bridges(&self) -> Vec<String> {
        words(&self.vsctl_ok(&["list-br"]))
    }

    /// `ovs-vsctl br-exists NAME` (exit 0 yes, 2 no).
    pub fn bridge_exists(&self, name: &str) -> bool {
        let output = self.vsctl(&["br-exists", name]);
        match output.code {
            Some(0) => true,
            Some(2) => false,
            _ => self.fail(&format!("br-exists failed: {}", output.describe())),
        }
    }

    /// `ovs-vsctl list-ports BRIDGE`.
    pub fn ports(&self, bridge: &str) -> Vec<String> {
        words(&self.vsctl_ok(&["list-ports", bridge]))
    }

    /// Columns of one OVSDB record (`ovs-vsctl --format=json list TABLE RECORD`).
    pub fn ovs_record(&self, table: &str, record: &str) -> BTreeMap<String, Value> {
        let text = self.vsctl_ok(&["--format=json", "list", table, record]);
        let rows = ovs::parse_list_json(&text).unwrap_or_else(|error| self.fail(&error));
        match rows.into_iter().next() {
            Some(row) => row,
            None => self.fail(&format!("no {table} record {record}")),
        }
    }

    /// `external_ids` of one OVSDB record as a string map.
    pub fn external_ids(&self, table: &str, record: &str) -> BTreeMap<String, String> {
        ovs::string_map(&self.ovs_record(table, record)["external_ids"])
    }

    /// One column of an OVSDB record as a list of atoms (empty for an empty set).
    pub fn ovs_column(&self, table: &str, record: &str, column: &str) -> Vec<String> {
        let row = self.ovs_record(table, record);
        match row.get(column) {
            Some(value) => ovs::atoms(value),
            None => self.fail(&format!("{table} has no column {column}")),
        }
    }

    /// Removes all containers, our driver's networks, all OVS bridges and all links except
    /// `lo`/`ovs-netdev`, so the next scenario starts clean. Best effort; returns problems.
    pub fn reset(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(error) = self.remove_docker_objects() {
            problems.push(error);
        }
        let bridges = self.vsctl(&["list-br"]);
        for bridge in bridges.stdout.split_whitespace() {
            let output = self.vsctl(&["--if-exists", "del-br", bridge]);
            if !output.success() {
                problems.push(output.describe());
            }
        }
        for link in parse_link_names(&self.ip(&["-o", "link", "show"]).stdout) {
            if link != "lo" && link != "ovs-netdev" {
                let _ = self.ip(&["link", "del", &link]);
            }
        }
        problems
    }

    /// Driver-made leftovers: OVS bridges (except `keep`), driver-named links and networks of
    /// our driver. Empty when everything was cleaned up.
    pub fn leftovers(&self, keep: &[&str]) -> Vec<String> {
        let mut found = Vec::new();
        for bridge in self.bridges() {
            if !keep.contains(&bridge.as_str()) {
                found.push(format!(
                    "OVS bridge {bridge} (ports: {:?})",
                    self.ports(&bridge)
                ));
            }
        }
        for bridge in keep {
            if self.bridge_exists(bridge) {
                for port in self.ports(bridge) {
                    if is_driver_link(&port) {
                        found.push(format!("port {port} on kept bridge {bridge}"));
                    }
                }
            }
        }
        for link in self.driver_links() {
            found.push(format!("link {link}"));
        }
        let filter = format!("driver={}", self.driver_name());
        let networks = self.docker_ok(&[
            "network",
            "ls",
            "--filter",
            &filter,
            "--format",
            "{{.Name}}",
        ]);
        for network in networks.split_whitespace() {
            found.push(format!("docker network {network}"));
        }
        found
    }
}

/// Link names from `ip -o link show` output (`5: name@peer: <...> ...`).
pub fn parse_link_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let name = line.split(": ").nth(1)?;
            Some(name.split('@').next()?.trim().to_string())
        })
        .collect()
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

/// The number after `mtu` in `ip link` output.
pub fn mtu_from_ip_output(text: &str) -> Option<u32> {
    let mut words = text.split_whitespace();
    words.find(|word| *word == "mtu")?;
    words.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_contract() {
        let id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(bridge_name(id), "br-0123456789ab");
        assert_eq!(port_name(id), "ovs0123456789ab");
        assert!(is_driver_link("ovs0123456789ab"));
        assert!(is_driver_link("ovc0123456789ab"));
        assert!(!is_driver_link("ovs-netdev"));
        assert!(!is_driver_link("ovs0123456789abc"));
    }

    #[test]
    fn random_ids_are_64_hex_and_differ() {
        let (a, b) = (random_id(), random_id());
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn parses_link_names() {
        let text = "1: lo: <LOOPBACK,UP> mtu 65536\n7: ovs0123456789ab@if6: <BROADCAST> mtu 1500\n";
        assert_eq!(parse_link_names(text), vec!["lo", "ovs0123456789ab"]);
    }

    #[test]
    fn reads_mtu() {
        let text = "5: ovs1@if4: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1400 qdisc noqueue";
        assert_eq!(mtu_from_ip_output(text), Some(1400));
        assert_eq!(mtu_from_ip_output("nothing"), None);
    }
}
