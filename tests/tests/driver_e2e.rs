//! End-to-end tests of the driver against real ovsdb-server, ovs-vswitchd (userspace datapath)
//! and dockerd, each test in its own network namespace (see `e2e_tests::env`).
//!
//! Environments are expensive on a 2-core machine, so each test function shares one
//! environment between several scenarios; `run_scenarios` runs them all, resets the
//! environment in between, and reports every failing scenario by name.

use std::collections::BTreeSet;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use e2e_tests::env::TOOL_TIMEOUT;
use e2e_tests::{
    bridge_name, env_assert, env_assert_eq, is_driver_link, port_name, random_id,
    run_container_args, run_scenarios, wait_for_success, wait_until, CmdOutput, Env, EnvOptions,
};
use serde_json::{json, Value};

// ------------------------------------------------------------------------------ helpers

/// Polls (up to 15 s) until none of the driver's bridges, ports, veths or networks remain
/// (bridges in `keep` may stay, but without driver ports); fails with what is left.
fn assert_nothing_left(env: &Env, keep: &[&str], after: &str) {
    let result = wait_until(
        &format!("no leftovers after {after}"),
        Duration::from_secs(15),
        || {
            let found = env.leftovers(keep);
            if found.is_empty() {
                Ok(())
            } else {
                Err(format!("still present: {found:#?}"))
            }
        },
    );
    if let Err(error) = result {
        env.fail(&error);
    }
}

/// Polls (up to 10 s) until `check` holds, failing with its last complaint.
fn eventually(env: &Env, what: &str, check: impl FnMut() -> Result<(), String>) {
    if let Err(error) = wait_until(what, Duration::from_secs(10), check) {
        env.fail(&error);
    }
}

/// The bridge's internal interface exists in the netns, is administratively up and carries
/// `addresses`.
fn assert_gateway_on_bridge(env: &Env, bridge: &str, addresses: &[&str]) {
    eventually(
        env,
        &format!("gateway addresses {addresses:?} on {bridge}"),
        || {
            if !env.link_exists(bridge) {
                return Err(format!("no link {bridge} in the netns: {:?}", env.links()));
            }
            let configured = env.link_addresses(bridge);
            let missing: Vec<_> = addresses
                .iter()
                .filter(|address| !configured.iter().any(|have| have == *address))
                .collect();
            if !missing.is_empty() {
                return Err(format!("{bridge} has {configured:?}, missing {missing:?}"));
            }
            let details = env.link_details(bridge);
            let flags = details.split(['<', '>']).nth(1).unwrap_or_default();
            if !flags.split(',').any(|flag| flag == "UP") {
                return Err(format!("{bridge} is not up: {details}"));
            }
            Ok(())
        },
    );
}

/// Checks the OVS port and veth of a container's endpoint against the contract.
fn assert_endpoint_port(env: &Env, container: &str, network: &str, bridge: &str) {
    let attachment = env.container_net(container, network);
    let endpoint = &attachment.endpoint_id;
    env_assert!(
        env,
        endpoint.len() == 64,
        "endpoint id of {container}: {attachment:?}"
    );
    let port = port_name(endpoint);
    env_assert_eq!(
        env,
        env.vsctl_ok(&["port-to-br", &port]),
        bridge.to_string(),
        "port {port} of {container} should be on the network's bridge"
    );
    let details = env.link_details(&port);
    env_assert!(
        env,
        details.contains("veth"),
        "{port} should be a veth: {details}"
    );

    let mac = attachment.mac.to_lowercase();
    env_assert!(
        env,
        !mac.is_empty(),
        "docker shows no MAC for {container}: {attachment:?}"
    );
    let container_mac = env.docker_ok(&["exec", container, "cat", "/sys/class/net/eth0/address"]);
    env_assert_eq!(
        env,
        container_mac.to_lowercase(),
        mac,
        "eth0 MAC of {container}"
    );

    for table in ["Interface", "Port"] {
        let ids = env.external_ids(table, &port);
        let get = |key: &str| ids.get(key).cloned().unwrap_or_default();
        env_assert_eq!(
            env,
            get("docker-endpoint-id"),
            endpoint.clone(),
            "{table} {port} docker-endpoint-id ({ids:?})"
        );
        env_assert_eq!(
            env,
            get("docker-network-id"),
            attachment.network_id.clone(),
            "{table} {port} docker-network-id ({ids:?})"
        );
        env_assert_eq!(
            env,
            get("iface-id"),
            endpoint.clone(),
            "{table} {port} iface-id ({ids:?})"
        );
        env_assert_eq!(
            env,
            get("attached-mac").to_lowercase(),
            mac.clone(),
            "{table} {port} attached-mac ({ids:?})"
        );
        let expected_address = format!("{}/{}", attachment.ipv4, attachment.ipv4_prefix);
        env_assert!(
            env,
            get("docker-addresses")
                .split(',')
                .any(|address| address == expected_address),
            "{table} {port} docker-addresses should contain {expected_address}: {ids:?}"
        );
        env_assert_eq!(
            env,
            get("container_iface"),
            format!("ovc{}", &endpoint[..12]),
            "{table} {port} container_iface ({ids:?})"
        );
        env_assert!(
            env,
            !get("docker-sandbox").is_empty(),
            "{table} {port} docker-sandbox after Join ({ids:?})"
        );
    }
}

/// `docker rm -f` and check the container's port and veth are gone.
fn remove_container_and_check_port(env: &Env, container: &str, network: &str, bridge: &str) {
    let port = port_name(&env.container_net(container, network).endpoint_id);
    env.docker_ok(&["rm", "-f", container]);
    eventually(
        env,
        &format!("port {port} of removed {container} to disappear"),
        || {
            let ports = env.ports(bridge);
            if ports.contains(&port) {
                return Err(format!("{port} still on {bridge}: {ports:?}"));
            }
            if env.link_exists(&port) {
                return Err(format!("veth {port} still exists"));
            }
            Ok(())
        },
    );
}

fn json_body(value: Value) -> Vec<u8> {
    serde_json::to_vec(&value).expect("serialize request")
}

/// A CreateNetwork request as dockerd sends it for an IPv4-only network.
fn create_network_request(network_id: &str, pool: &str, gateway: &str) -> Vec<u8> {
    json_body(json!({
        "NetworkID": network_id,
        "Options": {
            "com.docker.network.enable_ipv6": false,
            "com.docker.network.generic": {}
        },
        "IPv4Data": [{
            "AddressSpace": "LocalDefault",
            "Pool": pool,
            "Gateway": gateway,
            "AuxAddresses": {}
        }],
        "IPv6Data": []
    }))
}

/// `Ok(message)` if the reply is a JSON object with a non-empty `Err`.
fn driver_error(status: u16, body: &str) -> Result<String, String> {
    let value: Value = serde_json::from_str(body)
        .map_err(|error| format!("reply (HTTP {status}) is not JSON ({error}): {body:?}"))?;
    match value.get("Err").and_then(Value::as_str) {
        Some(message) if !message.is_empty() => Ok(message.to_string()),
        _ => Err(format!(
            "reply (HTTP {status}) has no non-empty Err: {body}"
        )),
    }
}

/// `Ok(())` if the reply is HTTP 200 with a JSON object and no (or an empty) `Err`.
fn driver_success(status: u16, body: &str) -> Result<Value, String> {
    let value: Value = serde_json::from_str(body)
        .map_err(|error| format!("reply (HTTP {status}) is not JSON ({error}): {body:?}"))?;
    let err = value.get("Err").and_then(Value::as_str).unwrap_or_default();
    if status != 200 || !err.is_empty() {
        return Err(format!("expected success, got HTTP {status}: {body}"));
    }
    Ok(value)
}

// ------------------------------------------------------------------------------ networks

#[test]
fn networks_containers_and_options() {
    let env = Env::start(EnvOptions::default());
    run_scenarios(
        &env,
        &[
            (
                "network_create_makes_a_bridge_per_contract",
                network_create_makes_a_bridge_per_contract,
            ),
            (
                "containers_ping_each_other_over_ipv4",
                containers_ping_each_other_over_ipv4,
            ),
            (
                "dual_stack_containers_ping_over_ipv6",
                dual_stack_containers_ping_over_ipv6,
            ),
            (
                "option_bridge_and_existing_bridges",
                option_bridge_and_existing_bridges,
            ),
            (
                "option_mtu_sets_the_container_mtu",
                option_mtu_sets_the_container_mtu,
            ),
            ("option_uplink_and_vlan", option_uplink_and_vlan),
            (
                "uplink_vlan_is_tagged_on_the_wire",
                uplink_vlan_is_tagged_on_the_wire,
            ),
            (
                "internal_network_has_no_gateway",
                internal_network_has_no_gateway,
            ),
            (
                "invalid_options_are_refused_naming_the_key",
                invalid_options_are_refused_naming_the_key,
            ),
        ],
    );
}

fn network_create_makes_a_bridge_per_contract(env: &Env) {
    let id = env.create_network(
        "n1",
        &["--subnet", "10.20.1.0/24", "--gateway", "10.20.1.1"],
    );
    env_assert_eq!(
        env,
        env.network_id("n1"),
        id.clone(),
        "docker network create prints the id"
    );
    let bridge = bridge_name(&id);
    env_assert!(
        env,
        env.bridge_exists(&bridge),
        "bridge {bridge} should exist; bridges: {:?}",
        env.bridges()
    );

    let ids = env.external_ids("Bridge", &bridge);
    let get = |key: &str| ids.get(key).cloned().unwrap_or_default();
    env_assert_eq!(
        env,
        get("docker-network-id"),
        id.clone(),
        "docker-network-id ({ids:?})"
    );
    env_assert_eq!(
        env,
        get("docker-subnets"),
        "10.20.1.0/24",
        "docker-subnets ({ids:?})"
    );
    env_assert_eq!(
        env,
        get("docker-gateways"),
        "10.20.1.1/24",
        "docker-gateways ({ids:?})"
    );
    env_assert_eq!(env, get("docker-owned"), "true", "docker-owned ({ids:?})");
    env_assert_eq!(
        env,
        get("docker-internal"),
        "false",
        "docker-internal ({ids:?})"
    );
    let options: Value = serde_json::from_str(&get("docker-options")).unwrap_or_else(|error| {
        env.fail(&format!("docker-options is not JSON ({error}): {ids:?}"))
    });
    env_assert!(
        env,
        options
            .as_object()
            .is_some_and(|options| options.is_empty()),
        "docker-options should be an empty JSON object without -o: {ids:?}"
    );
    env_assert_eq!(
        env,
        env.ovs_column("Bridge", &bridge, "datapath_type"),
        vec!["netdev".to_string()],
        "datapath_type of {bridge}"
    );
    let protocols = env.ovs_column("Bridge", &bridge, "protocols");
    for protocol in ["OpenFlow10", "OpenFlow13", "OpenFlow14"] {
        env_assert!(
            env,
            protocols.iter().any(|have| have == protocol),
            "protocols of {bridge} should include {protocol}: {protocols:?}"
        );
    }
    // Without -O, ovs-ofctl speaks only OpenFlow 1.0: this fails unless the bridge allows it.
    let flows = env.ofctl_ok(&["dump-flows", &bridge]);
    env_assert!(
        env,
        flows.contains(&format!("cookie=0xdc01{}", &id[..12])),
        "`ovs-ofctl dump-flows {bridge}` (no -O) should list the network's flows:\n{flows}"
    );
    assert_gateway_on_bridge(env, &bridge, &["10.20.1.1/24"]);

    env.docker_ok(&["network", "rm", "n1"]);
    env_assert!(
        env,
        !env.bridge_exists(&bridge),
        "bridge {bridge} should be gone after network rm"
    );
    assert_nothing_left(env, &[], "docker network rm n1");
}

fn containers_ping_each_other_over_ipv4(env: &Env) {
    let id = env.create_network("n4", &["--subnet", "10.20.4.0/24"]);
    let bridge = bridge_name(&id);
    env.run_container("c1", "n4", &[]);
    env.run_container("c2", "n4", &[]);
    let c1 = env.container_net("c1", "n4");
    let c2 = env.container_net("c2", "n4");
    env_assert!(
        env,
        !c1.ipv4.is_empty() && !c2.ipv4.is_empty(),
        "addresses: {c1:?} {c2:?}"
    );
    env_assert_eq!(env, c1.gateway.clone(), "10.20.4.1", "gateway of c1");

    env.wait_ping("c1", &c2.ipv4);
    env.wait_ping("c2", &c1.ipv4);
    env.wait_ping("c1", &c1.gateway);

    assert_endpoint_port(env, "c1", "n4", &bridge);
    assert_endpoint_port(env, "c2", "n4", &bridge);
    let ports: BTreeSet<String> = env
        .ports(&bridge)
        .into_iter()
        .filter(|port| is_driver_link(port))
        .collect();
    env_assert_eq!(env, ports.len(), 2, "driver ports on {bridge}: {ports:?}");

    remove_container_and_check_port(env, "c1", "n4", &bridge);
    env.wait_ping("c2", &c2.gateway);
    remove_container_and_check_port(env, "c2", "n4", &bridge);
    env.docker_ok(&["network", "rm", "n4"]);
    assert_nothing_left(env, &[], "removing c1, c2 and n4");
}

fn dual_stack_containers_ping_over_ipv6(env: &Env) {
    let id = env.create_network(
        "n6",
        &[
            "--ipv6",
            "--subnet",
            "10.20.6.0/24",
            "--subnet",
            "fd00:20::/64",
        ],
    );
    let bridge = bridge_name(&id);
    let ids = env.external_ids("Bridge", &bridge);
    env_assert_eq!(
        env,
        ids.get("docker-subnets").cloned().unwrap_or_default(),
        "10.20.6.0/24,fd00:20::/64",
        "docker-subnets, v4 then v6 ({ids:?})"
    );
    env_assert_eq!(
        env,
        ids.get("docker-gateways").cloned().unwrap_or_default(),
        "10.20.6.1/24,fd00:20::1/64",
        "docker-gateways ({ids:?})"
    );
    assert_gateway_on_bridge(env, &bridge, &["10.20.6.1/24", "fd00:20::1/64"]);

    env.run_container("c3", "n6", &[]);
    env.run_container("c4", "n6", &[]);
    let c3 = env.container_net("c3", "n6");
    let c4 = env.container_net("c4", "n6");
    env_assert!(
        env,
        !c3.ipv6.is_empty() && !c4.ipv6.is_empty(),
        "IPv6 addresses: {c3:?} {c4:?}"
    );
    env.wait_ping("c3", &c4.ipv6);
    env.wait_ping("c4", &c3.ipv6);
    env.wait_ping("c3", &c4.ipv4);
    let port = port_name(&c3.endpoint_id);
    let addresses = env
        .external_ids("Interface", &port)
        .get("docker-addresses")
        .cloned()
        .unwrap_or_default();
    let addresses: BTreeSet<&str> = addresses.split(',').collect();
    let expected_v4 = format!("{}/24", c3.ipv4);
    let expected_v6 = format!("{}/64", c3.ipv6);
    env_assert_eq!(
        env,
        addresses,
        BTreeSet::from([expected_v4.as_str(), expected_v6.as_str()]),
        "docker-addresses of {port} (both families)"
    );

    env.docker_ok(&["rm", "-f", "c3", "c4"]);
    env.docker_ok(&["network", "rm", "n6"]);
    assert_nothing_left(env, &[], "removing c3, c4 and n6");
}

fn option_bridge_and_existing_bridges(env: &Env) {
    // A bridge the driver creates under the requested name.
    let id = env.create_network(
        "named",
        &["-o", "ovs.bridge=brnamed", "--subnet", "10.20.7.0/24"],
    );
    env_assert!(
        env,
        env.bridge_exists("brnamed"),
        "bridges: {:?}",
        env.bridges()
    );
    env_assert!(
        env,
        !env.bridge_exists(&bridge_name(&id)),
        "no default-named bridge with ovs.bridge"
    );
    let ids = env.external_ids("Bridge", "brnamed");
    env_assert_eq!(
        env,
        ids.get("docker-owned").cloned().unwrap_or_default(),
        "true",
        "docker-owned ({ids:?})"
    );
    let options: Value = serde_json::from_str(ids.get("docker-options").map_or("", String::as_str))
        .unwrap_or_else(|error| {
            env.fail(&format!("docker-options is not JSON ({error}): {ids:?}"))
        });
    env_assert_eq!(
        env,
        options["ovs.bridge"].clone(),
        json!("brnamed"),
        "docker-options ({ids:?})"
    );
    env.run_container("cn", "named", &[]);
    assert_endpoint_port(env, "cn", "named", "brnamed");
    env.wait_ping("cn", "10.20.7.1");
    env.docker_ok(&["rm", "-f", "cn"]);
    env.docker_ok(&["network", "rm", "named"]);
    env_assert!(
        env,
        !env.bridge_exists("brnamed"),
        "a bridge the driver created goes with the network"
    );
    assert_nothing_left(env, &[], "removing network named");

    // A bridge that existed before is used, then left in place.
    env.vsctl_ok(&[
        "add-br",
        "brexist",
        "--",
        "set",
        "Bridge",
        "brexist",
        "datapath_type=netdev",
    ]);
    // `add-br` without fail_mode=secure gives the bridge `priority=0 actions=NORMAL`: the
    // operator's flow, which the driver must neither replace nor delete.
    let has_normal_flow = |after: &str| {
        let flows = env.ofctl_ok(&["dump-flows", "brexist"]);
        env_assert!(
            env,
            flows
                .lines()
                .any(|line| line.contains("priority=0") && line.contains("actions=NORMAL")),
            "brexist should keep its priority=0 actions=NORMAL flow {after}:\n{flows}"
        );
    };
    has_normal_flow("when added");
    env.create_network(
        "existing",
        &["-o", "ovs.bridge=brexist", "--subnet", "10.20.8.0/24"],
    );
    has_normal_flow("while the network uses it");
    let ids = env.external_ids("Bridge", "brexist");
    env_assert!(
        env,
        ids.get("docker-owned").map(String::as_str) != Some("true"),
        "a pre-existing bridge must not be marked docker-owned: {ids:?}"
    );
    env.run_container("ce", "existing", &[]);
    assert_endpoint_port(env, "ce", "existing", "brexist");
    env.wait_ping("ce", "10.20.8.1");
    env.docker_ok(&["rm", "-f", "ce"]);
    env.docker_ok(&["network", "rm", "existing"]);
    env_assert!(
        env,
        env.bridge_exists("brexist"),
        "docker network rm must not delete a pre-existing bridge"
    );
    has_normal_flow("after docker network rm");
    assert_nothing_left(env, &["brexist"], "removing network existing");
    env.vsctl_ok(&["del-br", "brexist"]);
}

fn option_mtu_sets_the_container_mtu(env: &Env) {
    let id = env.create_network("small", &["-o", "ovs.mtu=1400", "--subnet", "10.20.9.0/24"]);
    // The bridge's internal (gateway) port too: in OVSDB and on the link.
    let bridge = bridge_name(&id);
    env_assert_eq!(
        env,
        env.ovs_column("Interface", &bridge, "mtu_request"),
        vec!["1400".to_string()],
        "mtu_request of the internal interface {bridge}"
    );
    eventually(env, &format!("{bridge} to get mtu 1400"), || {
        match env.link_mtu(&bridge) {
            1400 => Ok(()),
            mtu => Err(format!("{bridge} has mtu {mtu}")),
        }
    });
    env.run_container("cm", "small", &[]);
    let mtu = env.docker_ok(&["exec", "cm", "cat", "/sys/class/net/eth0/mtu"]);
    env_assert_eq!(env, mtu, "1400", "container eth0 mtu with ovs.mtu=1400");
    let port = port_name(&env.container_net("cm", "small").endpoint_id);
    env_assert_eq!(
        env,
        env.link_mtu(&port),
        1400,
        "host side {port} of the veth"
    );
    env.wait_ping("cm", "10.20.9.1");
    env.docker_ok(&["rm", "-f", "cm"]);
    env.docker_ok(&["network", "rm", "small"]);
    assert_nothing_left(env, &[], "removing network small");
}

fn option_uplink_and_vlan(env: &Env) {
    // A veth pair stands in for a physical NIC (this kernel may lack the dummy module).
    env.ip_ok(&[
        "link", "add", "upl0", "type", "veth", "peer", "name", "upl0p",
    ]);
    env.ip_ok(&["link", "set", "upl0", "up"]);
    env.ip_ok(&["link", "set", "upl0p", "up"]);
    let id = env.create_network(
        "tagged",
        &[
            "-o",
            "ovs.uplink=upl0",
            "-o",
            "ovs.vlan=100",
            "--subnet",
            "10.20.10.0/24",
        ],
    );
    let bridge = bridge_name(&id);
    let ports = env.ports(&bridge);
    env_assert!(
        env,
        ports.iter().any(|port| port == "upl0"),
        "upl0 should be a port of {bridge}: {ports:?}"
    );
    env_assert_eq!(
        env,
        env.ovs_column("Port", "upl0", "tag"),
        vec!["100".to_string()],
        "tag of the uplink port"
    );
    let ids = env.external_ids("Bridge", &bridge);
    let options: Value = serde_json::from_str(ids.get("docker-options").map_or("", String::as_str))
        .unwrap_or_else(|error| {
            env.fail(&format!("docker-options is not JSON ({error}): {ids:?}"))
        });
    env_assert_eq!(
        env,
        options["ovs.uplink"].clone(),
        json!("upl0"),
        "docker-options ({ids:?})"
    );
    env.run_container("cu", "tagged", &[]);
    env.wait_ping("cu", "10.20.10.1");
    env.docker_ok(&["rm", "-f", "cu"]);
    env.docker_ok(&["network", "rm", "tagged"]);
    assert_nothing_left(env, &[], "removing network tagged");
    env_assert!(
        env,
        env.link_exists("upl0"),
        "the uplink interface itself must survive network rm"
    );
    let port_to_br = env.vsctl(&["port-to-br", "upl0"]);
    env_assert!(
        env,
        !port_to_br.success(),
        "upl0 should no longer be an OVS port: {}",
        port_to_br.describe()
    );
    env.ip_ok(&["link", "del", "upl0"]);
}

/// A network namespace of its own for the far end of an uplink, so that the environment's
/// netns (which holds the bridge's gateway addresses) cannot route around the wire. Deleted on
/// drop, also when the scenario fails (which takes the veth pair with it).
struct WireNetns<'a> {
    env: &'a Env,
    name: String,
}

impl<'a> WireNetns<'a> {
    fn new(env: &'a Env) -> Self {
        let name = format!("{}-wire", env.netns());
        let mut add = Command::new("ip");
        add.args(["netns", "add", &name]);
        env.expect_success(env.run_recorded(add, TOOL_TIMEOUT));
        WireNetns { env, name }
    }

    /// Runs `command` inside the namespace.
    fn exec(&self, command: &[&str]) -> CmdOutput {
        let mut exec = Command::new("ip");
        exec.args(["netns", "exec", &self.name]).args(command);
        self.env.run_recorded(exec, TOOL_TIMEOUT)
    }

    fn sh(&self, script: &str) -> String {
        self.env.expect_success(self.exec(&["sh", "-c", script]))
    }

    /// One `ping -c 2 -W 2` from the namespace.
    fn ping(&self, target: &str) -> CmdOutput {
        self.exec(&["ping", "-c", "2", "-W", "2", target])
    }
}

impl Drop for WireNetns<'_> {
    fn drop(&mut self) {
        let mut del = Command::new("ip");
        del.args(["netns", "del", &self.name]);
        let output = self.env.run_recorded(del, TOOL_TIMEOUT);
        if !output.success() {
            eprintln!(
                "[e2e] could not delete {}: {}",
                self.name,
                output.describe()
            );
        }
    }
}

/// The far end of an uplink (`upl1`, veth peer `upl1p`): an OVS bridge `farbr` that does what
/// a VLAN subinterface would (this kernel may lack 8021q, so `ip link add ... type vlan` is no
/// option): frames from the wire tagged with its VLAN lose the tag and go to the far host, the far
/// host's frames get the tag; everything else is dropped (`fail_mode=secure`). The far host is a
/// veth (`farh`, peer `farhp` with 10.20.16.250/24) in a netns of its own, so the environment's
/// netns (which holds the bridge's gateway address) cannot route around the wire.
fn far_end_of_uplink(env: &Env) -> WireNetns<'_> {
    let wire = WireNetns::new(env);
    env.ip_ok(&[
        "link", "add", "upl1", "type", "veth", "peer", "name", "upl1p",
    ]);
    env.ip_ok(&[
        "link", "add", "farh", "type", "veth", "peer", "name", "farhp", "netns", &wire.name,
    ]);
    for link in ["upl1", "upl1p", "farh"] {
        env.ip_ok(&["link", "set", link, "up"]);
    }
    wire.sh("ip link set farhp up && ip addr add 10.20.16.250/24 dev farhp");
    env.vsctl_ok(&[
        "add-br",
        "farbr",
        "--",
        "set",
        "Bridge",
        "farbr",
        "datapath_type=netdev",
        "fail_mode=secure",
        "--",
        "add-port",
        "farbr",
        "upl1p",
        "--",
        "set",
        "Interface",
        "upl1p",
        "ofport_request=1",
        "--",
        "add-port",
        "farbr",
        "farh",
        "--",
        "set",
        "Interface",
        "farh",
        "ofport_request=2",
    ]);
    wire
}

/// Makes `farbr` terminate `vlan`: tagged frames from the wire (port 1) to the far host (port 2)
/// untagged, and back with the tag.
fn far_end_on_vlan(env: &Env, vlan: u16) {
    env.ofctl_ok(&["del-flows", "farbr"]);
    let flows = [
        format!("in_port=1,dl_vlan={vlan},actions=pop_vlan,output:2"),
        format!(
            "in_port=2,actions=push_vlan:0x8100,set_field:{}->vlan_vid,output:1",
            4096 + vlan
        ),
    ];
    for flow in flows {
        env.ofctl_ok(&["-O", "OpenFlow13", "add-flow", "farbr", &flow]);
    }
}

/// Pings from the far host until one attempt gets through (15 s).
fn far_end_pings(env: &Env, wire: &WireNetns, target: &str) {
    let result = wait_for_success(
        &format!("the far end of the uplink to ping {target}"),
        Duration::from_secs(15),
        || wire.ping(target),
    );
    if let Err(error) = result {
        let far = env.ofctl(&["dump-flows", "farbr"]);
        env.fail(&format!(
            "{error}\n-- far end: ovs-ofctl dump-flows farbr --\n{}\n{}",
            far.stdout,
            env.connectivity_report(&[])
        ));
    }
}

fn uplink_vlan_is_tagged_on_the_wire(env: &Env) {
    let wire = far_end_of_uplink(env);
    env.create_network(
        "wire",
        &[
            "-o",
            "ovs.uplink=upl1",
            "-o",
            "ovs.vlan=100",
            "--subnet",
            "10.20.16.0/24",
        ],
    );
    env.run_container("cw", "wire", &[]);
    let cw = env.container_net("cw", "wire");
    env.wait_ping("cw", &cw.gateway);
    let far = "10.20.16.250";

    // Negative: the far end on VLAN 200. Nothing gets through, either way.
    far_end_on_vlan(env, 200);
    let (to_far, from_far) = thread::scope(|scope| {
        let to_far = scope.spawn(|| env.ping("cw", far));
        let from_far = scope.spawn(|| wire.ping(&cw.ipv4));
        (
            to_far.join().expect("ping thread"),
            from_far.join().expect("ping thread"),
        )
    });
    for (what, output) in [("cw -> VLAN 200", to_far), ("VLAN 200 -> cw", from_far)] {
        env_assert!(
            env,
            !output.success(),
            "{what} got through although the network is on VLAN 100: {}",
            output.describe()
        );
    }

    // Positive: on VLAN 100 the container's ARP broadcast and its unknown unicast (the far
    // host's MAC is not an endpoint's) leave tagged 100, and the replies tagged 100 come in.
    far_end_on_vlan(env, 100);
    env.wait_ping("cw", far);
    far_end_pings(env, &wire, &cw.ipv4);
    let far_flows = env.ofctl_ok(&["dump-flows", "farbr", "in_port=1"]);
    env_assert!(
        env,
        far_flows.contains("dl_vlan=100") && !far_flows.contains("n_packets=0,"),
        "the far end's flow for VLAN 100 should have counted the container's frames:\n{far_flows}"
    );
    env.docker_ok(&["rm", "-f", "cw"]);
    env.docker_ok(&["network", "rm", "wire"]);
    env.vsctl_ok(&["del-br", "farbr"]);
    assert_nothing_left(env, &[], "removing network wire");
}

fn internal_network_has_no_gateway(env: &Env) {
    let id = env.create_network(
        "inner",
        &[
            "--internal",
            "--ipv6",
            "--subnet",
            "10.20.17.0/24",
            "--subnet",
            "fd00:17::/64",
        ],
    );
    let bridge = bridge_name(&id);
    let ids = env.external_ids("Bridge", &bridge);
    env_assert_eq!(
        env,
        ids.get("docker-internal").cloned().unwrap_or_default(),
        "true",
        "docker-internal of an --internal network ({ids:?})"
    );
    env.run_container("in1", "inner", &[]);
    env.run_container("in2", "inner", &[]);
    // Control: a network that is not internal, to show the checks below see a gateway.
    let outer = env.create_network(
        "outer",
        &[
            "--ipv6",
            "--subnet",
            "10.20.18.0/24",
            "--subnet",
            "fd00:18::/64",
        ],
    );
    env.run_container("out1", "outer", &[]);
    let in1 = env.container_net("in1", "inner");
    let in2 = env.container_net("in2", "inner");
    let out1 = env.container_net("out1", "outer");
    env_assert!(
        env,
        !in1.ipv4.is_empty() && !in1.ipv6.is_empty() && !in2.ipv6.is_empty(),
        "dual-stack addresses on the internal network: {in1:?} {in2:?}"
    );
    env_assert!(
        env,
        in1.gateway.is_empty() && in1.ipv6_gateway.is_empty(),
        "docker shows a gateway on the internal network: {in1:?}"
    );
    env_assert!(
        env,
        !out1.gateway.is_empty() && !out1.ipv6_gateway.is_empty(),
        "control: docker shows both gateways on a network that is not internal: {out1:?}"
    );

    // The bridge's internal interface is there, without an address (but link-local).
    env_assert!(
        env,
        env.link_exists(&bridge),
        "no link {bridge}: {:?}",
        env.links()
    );
    let global = |bridge: &str| -> Vec<String> {
        env.link_addresses(bridge)
            .into_iter()
            .filter(|address| !address.starts_with("fe80:"))
            .collect()
    };
    env_assert_eq!(
        env,
        global(&bridge),
        Vec::<String>::new(),
        "addresses on the internal network's bridge {bridge}"
    );
    assert_gateway_on_bridge(
        env,
        &bridge_name(&outer),
        &["10.20.18.1/24", "fd00:18::1/64"],
    );

    let has_default_route = |container: &str, family: &str| {
        env.docker_ok(&["exec", container, "ip", family, "route"])
            .lines()
            .any(|line| line.starts_with("default"))
    };
    for container in ["in1", "in2"] {
        for family in ["-4", "-6"] {
            env_assert!(
                env,
                !has_default_route(container, family),
                "{container} on the internal network has an `ip {family} route` default:\n{}",
                env.docker_ok(&["exec", container, "ip", family, "route"])
            );
        }
    }
    for family in ["-4", "-6"] {
        env_assert!(
            env,
            has_default_route("out1", family),
            "control: out1 should have an `ip {family} route` default:\n{}",
            env.docker_ok(&["exec", "out1", "ip", family, "route"])
        );
    }

    env.wait_ping("in1", &in2.ipv4);
    env.wait_ping("in2", &in1.ipv6);
    env.docker_ok(&["rm", "-f", "in1", "in2", "out1"]);
    env.docker_ok(&["network", "rm", "inner", "outer"]);
    assert_nothing_left(env, &[], "removing networks inner and outer");
}

fn invalid_options_are_refused_naming_the_key(env: &Env) {
    let cases = [
        ("ovs.foo=1", "ovs.foo"),
        ("ovs.mtu=10", "ovs.mtu"),
        ("ovs.vlan=5000", "ovs.vlan"),
        ("ovs.bridge=has/slash", "ovs.bridge"),
        ("ovs.bridge=abcdefghijklmnop", "ovs.bridge"),
    ];
    let mut problems = Vec::new();
    for (option, key) in cases {
        let output = env.docker(&[
            "network",
            "create",
            "-d",
            env.driver_name(),
            "-o",
            option,
            "--subnet",
            "10.20.11.0/24",
            "bad",
        ]);
        if output.success() {
            problems.push(format!("-o {option} was accepted"));
            let _ = env.docker(&["network", "rm", "bad"]);
            continue;
        }
        if !output.stderr.contains(key) {
            problems.push(format!(
                "-o {option}: error does not name {key}: {}",
                output.stderr.trim()
            ));
        }
        let networks = env.docker_ok(&["network", "ls", "--format", "{{.Name}}"]);
        if networks.split_whitespace().any(|name| name == "bad") {
            problems.push(format!(
                "-o {option}: network `bad` exists after the refusal"
            ));
            let _ = env.docker(&["network", "rm", "bad"]);
        }
        let bridges = env.bridges();
        if !bridges.is_empty() {
            problems.push(format!(
                "-o {option}: bridges left after the refusal: {bridges:?}"
            ));
        }
    }
    env_assert!(
        env,
        problems.is_empty(),
        "bad options:\n  {}",
        problems.join("\n  ")
    );
}

// ------------------------------------------------------------------------------ restarts and load

#[test]
fn driver_restart_and_many_containers() {
    let env = Env::start(EnvOptions::default());
    run_scenarios(
        &env,
        &[
            (
                "sigkill_keeps_the_datapath_and_restart_recovers",
                sigkill_keeps_the_datapath_and_restart_recovers,
            ),
            ("sigterm_shuts_down_cleanly", sigterm_shuts_down_cleanly),
            (
                "twenty_containers_started_in_parallel",
                twenty_containers_started_in_parallel,
            ),
        ],
    );
}

fn sigkill_keeps_the_datapath_and_restart_recovers(env: &Env) {
    let id = env.create_network("r1", &["--subnet", "10.20.12.0/24"]);
    env.run_container("k1", "r1", &[]);
    env.run_container("k2", "r1", &[]);
    let k1 = env.container_net("k1", "r1");
    let k2 = env.container_net("k2", "r1");
    env.wait_ping("k1", &k2.ipv4);
    env.wait_ping("k2", &k1.ipv4);

    let status = env.kill_driver(libc::SIGKILL);
    env_assert!(env, status.is_some(), "no driver was running");
    env_assert!(env, !env.driver_alive(), "the driver should be dead");
    // The datapath is OVS's: connectivity must not depend on the driver process.
    env.wait_ping("k1", &k2.ipv4);
    env.wait_ping("k2", &k1.ipv4);

    env.start_driver();
    env.wait_ping("k1", &k2.ipv4);
    env.wait_ping("k2", &k1.ipv4);
    env.run_container("k3", "r1", &[]);
    let k3 = env.container_net("k3", "r1");
    env.wait_ping("k3", &k1.ipv4);
    env.wait_ping("k1", &k3.ipv4);
    assert_endpoint_port(env, "k3", "r1", &bridge_name(&id));

    env.docker_ok(&["rm", "-f", "k1", "k2", "k3"]);
    env.docker_ok(&["network", "rm", "r1"]);
    assert_nothing_left(env, &[], "removing k1-k3 and r1 after a driver restart");
}

fn sigterm_shuts_down_cleanly(env: &Env) {
    let status = env.kill_driver(libc::SIGTERM);
    let Some(status) = status else {
        env.fail("no driver was running");
    };
    env_assert!(env, status.success(), "exit status after SIGTERM: {status}");
    env_assert!(
        env,
        !env.plugin_socket().exists(),
        "the plugin socket {} should be removed on SIGTERM",
        env.plugin_socket().display()
    );
    env.start_driver();
    let (code, body) = env.plugin_request("/Plugin.Activate", "");
    env_assert_eq!(env, code, 200, "Plugin.Activate after restart: {body}");
    env.create_network("after-term", &["--subnet", "10.20.14.0/24"]);
    env.docker_ok(&["network", "rm", "after-term"]);
    assert_nothing_left(env, &[], "network create/rm after a SIGTERM restart");
}

fn twenty_containers_started_in_parallel(env: &Env) {
    const COUNT: usize = 20;
    let id = env.create_network("many", &["--subnet", "10.20.13.0/24"]);
    let bridge = bridge_name(&id);
    let names: Vec<String> = (1..=COUNT).map(|index| format!("p{index}")).collect();
    let started = Instant::now();
    let failures: Vec<String> = thread::scope(|scope| {
        let handles: Vec<_> = names
            .iter()
            .map(|name| scope.spawn(move || env.docker(&run_container_args(name, "many", &[]))))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("docker run thread"))
            .filter(|output| !output.success())
            .map(|output| output.describe())
            .collect()
    });
    eprintln!(
        "[e2e] {COUNT} parallel docker run took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    env_assert!(
        env,
        failures.is_empty(),
        "{} of {COUNT} docker run failed:\n{}",
        failures.len(),
        failures.join("\n")
    );

    for name in &names {
        let running = env.docker_ok(&["inspect", "-f", "{{.State.Running}}", name]);
        env_assert_eq!(env, running, "true", "{name} running");
    }
    let ports: BTreeSet<String> = env
        .ports(&bridge)
        .into_iter()
        .filter(|port| is_driver_link(port))
        .collect();
    env_assert_eq!(
        env,
        ports.len(),
        COUNT,
        "distinct driver ports on {bridge}: {ports:?}"
    );
    let attachments: Vec<_> = names
        .iter()
        .map(|name| env.container_net(name, "many"))
        .collect();
    for (name, attachment) in names.iter().zip(&attachments) {
        let port = port_name(&attachment.endpoint_id);
        env_assert!(
            env,
            ports.contains(&port),
            "port {port} of {name} on {bridge}: {ports:?}"
        );
    }
    let addresses: BTreeSet<&str> = attachments
        .iter()
        .map(|attachment| attachment.ipv4.as_str())
        .collect();
    env_assert_eq!(env, addresses.len(), COUNT, "distinct addresses");

    // Every container reaches the gateway; a few threads keep docker exec load reasonable.
    let unreachable: Vec<String> = thread::scope(|scope| {
        let handles: Vec<_> = names
            .chunks(5)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .filter_map(|name| {
                            wait_for_success(
                                &format!("{name} to ping the gateway"),
                                Duration::from_secs(30),
                                || env.ping(name, "10.20.13.1"),
                            )
                            .err()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("ping thread"))
            .collect()
    });
    if !unreachable.is_empty() {
        env.fail(&format!(
            "{} of {COUNT} containers cannot ping the gateway:\n{}\n{}",
            unreachable.len(),
            unreachable.join("\n"),
            env.connectivity_report(&["p1"])
        ));
    }
    // And a peer, across the bridge.
    env.wait_ping("p1", &attachments[COUNT - 1].ipv4);

    let mut args = vec!["rm", "-f"];
    args.extend(names.iter().map(String::as_str));
    env.docker_ok(&args);
    env.docker_ok(&["network", "rm", "many"]);
    assert_nothing_left(env, &[], "removing 20 containers and their network");
}

// ------------------------------------------------------------------------------ plugin API

#[test]
fn plugin_api_robustness_and_ovsdb_outage() {
    let env = Env::start(EnvOptions::default());
    run_scenarios(
        &env,
        &[
            ("handshake", handshake),
            (
                "malformed_requests_get_json_errors",
                malformed_requests_get_json_errors,
            ),
            (
                "create_network_is_idempotent_and_conflicts_are_refused",
                create_network_is_idempotent_and_conflicts_are_refused,
            ),
            (
                "endpoint_updates_keep_other_tools_external_ids",
                endpoint_updates_keep_other_tools_external_ids,
            ),
            (
                "ovsdb_outage_fails_fast_and_recovers",
                ovsdb_outage_fails_fast_and_recovers,
            ),
        ],
    );
}

/// Join and Leave rewrite only the driver's keys of an endpoint's Port and Interface: what
/// ovn-controller (`ovn-installed`) or an operator put there stays. Real ovsdb-server.
fn endpoint_updates_keep_other_tools_external_ids(env: &Env) {
    let network_id = random_id();
    let endpoint_id = random_id();
    let port = port_name(&endpoint_id);
    let call = |method: &str, body: Value| {
        let (code, reply) =
            env.plugin_request(&format!("/NetworkDriver.{method}"), json_body(body));
        if let Err(problem) = driver_success(code, &reply) {
            env.fail(&format!("{method}: {problem}"));
        }
    };
    env.plugin_request(
        "/NetworkDriver.CreateNetwork",
        create_network_request(&network_id, "10.20.24.0/24", "10.20.24.1/24"),
    );
    call(
        "CreateEndpoint",
        json!({
            "NetworkID": network_id,
            "EndpointID": endpoint_id,
            "Interface": {"Address": "10.20.24.2/24", "AddressIPv6": "", "MacAddress": ""},
            "Options": {}
        }),
    );
    env.vsctl_ok(&[
        "set",
        "Interface",
        &port,
        "external_ids:ovn-installed=true",
        "--",
        "set",
        "Port",
        &port,
        "external_ids:owner=ops",
    ]);
    let ids = json!({"NetworkID": network_id, "EndpointID": endpoint_id});
    let mut join = ids.clone();
    join["SandboxKey"] = json!("/var/run/docker/netns/e2e");
    join["Options"] = json!({});
    for (method, body, sandbox) in [("Join", join, true), ("Leave", ids.clone(), false)] {
        call(method, body);
        let interface = env.external_ids("Interface", &port);
        let port_ids = env.external_ids("Port", &port);
        env_assert_eq!(
            env,
            (
                interface.get("ovn-installed").cloned(),
                port_ids.get("owner").cloned()
            ),
            (Some("true".to_string()), Some("ops".to_string())),
            "after {method}: other tools' keys must stay ({interface:?}, {port_ids:?})"
        );
        env_assert_eq!(
            env,
            interface.contains_key("docker-sandbox"),
            sandbox,
            "after {method}: docker-sandbox ({interface:?})"
        );
        env_assert_eq!(
            env,
            interface.get("docker-endpoint-id"),
            Some(&endpoint_id),
            "after {method}: the driver's own keys ({interface:?})"
        );
    }
    call("DeleteEndpoint", ids);
    call("DeleteNetwork", json!({"NetworkID": network_id}));
}

fn handshake(env: &Env) {
    let (code, body) = env.plugin_request("/Plugin.Activate", "");
    env_assert_eq!(env, code, 200, "Plugin.Activate: {body}");
    let value: Value = serde_json::from_str(&body)
        .unwrap_or_else(|error| env.fail(&format!("Activate reply is not JSON ({error}): {body}")));
    let implements = value["Implements"].as_array().cloned().unwrap_or_default();
    env_assert!(
        env,
        implements.contains(&json!("NetworkDriver")),
        "Implements: {body}"
    );

    let (code, body) = env.plugin_request("/NetworkDriver.GetCapabilities", "");
    env_assert_eq!(env, code, 200, "GetCapabilities: {body}");
    let value: Value = serde_json::from_str(&body).unwrap_or_else(|error| {
        env.fail(&format!(
            "GetCapabilities reply is not JSON ({error}): {body}"
        ))
    });
    env_assert_eq!(env, value["Scope"].clone(), json!("local"), "Scope: {body}");
}

fn malformed_requests_get_json_errors(env: &Env) {
    let mut huge = br#"{"NetworkID":""#.to_vec();
    huge.extend(std::iter::repeat_n(b'a', 2 * 1024 * 1024));
    huge.extend_from_slice(br#""}"#);
    let unknown_endpoint = json_body(json!({
        "NetworkID": random_id(),
        "EndpointID": random_id(),
        "Interface": {"Address": "10.20.30.2/24", "AddressIPv6": "", "MacAddress": ""},
        "Options": {}
    }));
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        (
            "invalid JSON",
            "/NetworkDriver.CreateNetwork",
            b"{\"NetworkID\": ".to_vec(),
        ),
        ("empty body", "/NetworkDriver.CreateNetwork", Vec::new()),
        (
            "missing NetworkID",
            "/NetworkDriver.CreateNetwork",
            b"{\"Options\": {}}".to_vec(),
        ),
        (
            "JSON that is not an object",
            "/NetworkDriver.CreateNetwork",
            b"[1, 2]".to_vec(),
        ),
        ("2 MiB body", "/NetworkDriver.CreateNetwork", huge),
        (
            "unknown network on CreateEndpoint",
            "/NetworkDriver.CreateEndpoint",
            unknown_endpoint,
        ),
    ];
    let mut problems = Vec::new();
    for (what, path, body) in cases {
        match env.try_plugin_request(path, &body) {
            Ok(response) => {
                if let Err(problem) = driver_error(response.status, &response.body_text()) {
                    problems.push(format!("{what}: {problem}"));
                } else if response.status == 200 {
                    eprintln!("[e2e] note: {what} answered HTTP 200 with an Err");
                }
            }
            Err(error) => problems.push(format!("{what}: no HTTP response: {error}")),
        }
        if !env.driver_alive() {
            env.fail(&format!(
                "the driver died after the {what} request; problems so far: {problems:#?}"
            ));
        }
    }
    match env.try_plugin_request("/NetworkDriver.Frobnicate", "{}") {
        Ok(response) if response.status == 404 => {}
        Ok(response) => problems.push(format!(
            "unknown path: expected 404, got {}: {}",
            response.status,
            response.body_text()
        )),
        Err(error) => problems.push(format!("unknown path: no HTTP response: {error}")),
    }
    env_assert!(
        env,
        env.driver_alive(),
        "the driver must survive malformed requests"
    );
    let (code, body) = env.plugin_request("/Plugin.Activate", "");
    env_assert_eq!(
        env,
        code,
        200,
        "Plugin.Activate after malformed requests: {body}"
    );
    env_assert!(
        env,
        problems.is_empty(),
        "malformed requests:\n  {}",
        problems.join("\n  ")
    );
}

fn create_network_is_idempotent_and_conflicts_are_refused(env: &Env) {
    let network_id = random_id();
    let bridge = bridge_name(&network_id);
    let request = create_network_request(&network_id, "10.20.20.0/24", "10.20.20.1/24");
    for attempt in ["first", "repeated identical"] {
        let (code, body) = env.plugin_request("/NetworkDriver.CreateNetwork", &request);
        if let Err(problem) = driver_success(code, &body) {
            env.fail(&format!("{attempt} CreateNetwork: {problem}"));
        }
    }
    env_assert_eq!(
        env,
        env.bridges(),
        vec![bridge.clone()],
        "exactly one bridge after two identical CreateNetwork"
    );

    let conflicting = create_network_request(&network_id, "10.20.21.0/24", "10.20.21.1/24");
    let (code, body) = env.plugin_request("/NetworkDriver.CreateNetwork", &conflicting);
    if let Err(problem) = driver_error(code, &body) {
        env.fail(&format!(
            "a conflicting CreateNetwork with the same id must be refused: {problem}"
        ));
    }
    let subnets = env
        .external_ids("Bridge", &bridge)
        .get("docker-subnets")
        .cloned()
        .unwrap_or_default();
    env_assert_eq!(
        env,
        subnets,
        "10.20.20.0/24",
        "the refused request must not change the network"
    );

    let (code, body) = env.plugin_request(
        "/NetworkDriver.DeleteNetwork",
        json_body(json!({"NetworkID": network_id})),
    );
    if let Err(problem) = driver_success(code, &body) {
        env.fail(&format!("DeleteNetwork: {problem}"));
    }
    env_assert!(
        env,
        !env.bridge_exists(&bridge),
        "bridge {bridge} should be gone after DeleteNetwork"
    );
    env_assert!(env, env.driver_alive(), "driver alive");
}

/// Restarts ovsdb-server when dropped, so a failing outage scenario does not break the
/// scenarios and teardown after it.
struct OvsdbBackOnDrop<'a>(&'a Env);

impl Drop for OvsdbBackOnDrop<'_> {
    fn drop(&mut self) {
        if let Err(error) = self.0.ensure_ovsdb_running() {
            eprintln!("[e2e] could not restart ovsdb-server: {error}");
        }
    }
}

fn ovsdb_outage_fails_fast_and_recovers(env: &Env) {
    let _guard = OvsdbBackOnDrop(env);
    env.stop_ovsdb();

    let request = create_network_request(&random_id(), "10.20.22.0/24", "10.20.22.1/24");
    let started = Instant::now();
    let reply = env.try_plugin_request("/NetworkDriver.CreateNetwork", &request);
    let elapsed = started.elapsed();
    let (code, body) = match reply {
        Ok(response) => (response.status, response.body_text()),
        Err(error) => env.fail(&format!(
            "CreateNetwork with ovsdb down: no HTTP response after {elapsed:?}: {error}"
        )),
    };
    let message = driver_error(code, &body).unwrap_or_else(|problem| {
        env.fail(&format!(
            "CreateNetwork with ovsdb down must fail: {problem}"
        ))
    });
    env_assert!(
        env,
        message.to_lowercase().contains("ovsdb"),
        "the error should mention ovsdb: {message}"
    );
    env_assert!(
        env,
        elapsed < Duration::from_secs(5),
        "CreateNetwork with ovsdb down took {elapsed:?} from sending it (spec: fail within 5 s)"
    );

    let output = env.docker(&[
        "network",
        "create",
        "-d",
        env.driver_name(),
        "--subnet",
        "10.20.23.0/24",
        "down",
    ]);
    env_assert!(
        env,
        !output.success(),
        "docker network create with ovsdb down must fail: {}",
        output.describe()
    );
    env_assert!(
        env,
        output.stderr.to_lowercase().contains("ovsdb"),
        "docker's error should mention ovsdb: {}",
        output.stderr
    );
    env_assert!(
        env,
        env.driver_alive(),
        "the driver must survive an ovsdb outage"
    );

    env.start_ovsdb();
    let created = wait_until(
        "network create to work again after ovsdb restart",
        Duration::from_secs(20),
        || {
            env.docker(&[
                "network",
                "create",
                "-d",
                env.driver_name(),
                "--subnet",
                "10.20.23.0/24",
                "back",
            ])
            .result()
        },
    );
    let id = created.unwrap_or_else(|error| env.fail(&error));
    env_assert!(
        env,
        env.bridge_exists(&bridge_name(&id)),
        "bridge of the network created after the outage"
    );
    env.run_container("cb", "back", &[]);
    env.wait_ping("cb", "10.20.23.1");
    env.docker_ok(&["rm", "-f", "cb"]);
    env.docker_ok(&["network", "rm", "back"]);
    assert_nothing_left(env, &[], "removing network back");
}

// ------------------------------------------------------------------------------ VLAN uplink and ARP

/// README, `ovs.vlan`: the tag is pushed on frames to the uplink. A host on the VLAN must
/// resolve an endpoint's address before the endpoint ever talked to it. The ARP responder's
/// `IN_PORT` reply would leave untagged (table 0 popped the tag), so requests from a VLAN
/// uplink skip it and the endpoint answers through the tagging flows; this once failed. With
/// `ovs.arp_responder=false` the endpoint answers too: that is the control.
#[test]
fn arp_answers_to_a_vlan_uplink_are_tagged() {
    let env = Env::start(EnvOptions::default());
    run_scenarios(
        &env,
        &[(
            "far_end_resolves_an_endpoint_first",
            far_end_resolves_an_endpoint_first,
        )],
    );
}

fn far_end_resolves_an_endpoint_first(env: &Env) {
    let wire = far_end_of_uplink(env);
    far_end_on_vlan(env, 100);
    for (network, responder) in [("wire-noar", "false"), ("wire-ar", "true")] {
        env.create_network(
            network,
            &[
                "-o",
                "ovs.uplink=upl1",
                "-o",
                "ovs.vlan=100",
                "-o",
                &format!("ovs.arp_responder={responder}"),
                "--subnet",
                "10.20.16.0/24",
            ],
        );
        env.run_container("ct", network, &[]);
        let ct = env.container_net("ct", network);
        env.wait_ping("ct", &ct.gateway);
        // The far end asks first: it has no entry for the container, nor the container for it.
        wire.sh("ip neigh flush dev farhp");
        far_end_pings(env, &wire, &ct.ipv4);
        env.docker_ok(&["rm", "-f", "ct"]);
        env.docker_ok(&["network", "rm", network]);
    }
}
