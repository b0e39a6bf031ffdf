//! Fault-injection suite (tracker issue #5, README "Reliability"): real dockerd, real OVS
//! (userspace datapath), real busybox containers, and one fault at a time: the driver SIGKILLed
//! in the middle of 50 concurrent container starts, ovs-vswitchd SIGKILLed under traffic,
//! ovsdb-server restarted with plugin calls in flight, dockerd restarted with `--restart=always`
//! containers, a container's network namespace gone without a Leave, 10,000 hostile requests on
//! the plugin socket, and unsafe places for the plugin socket.
//!
//! Every scenario ends by checking that nothing is lost and nothing is left behind:
//! [`consistency`] compares Docker's view (`docker network inspect`) with OVSDB (bridges, ports
//! and their `docker-endpoint-id`), the links in the netns and the flow cookies on each bridge,
//! and the running containers are pinged.
//!
//! The environments take turns ([`take_turn`]): the timing assertions (pings back within 2 s of
//! ovs-vswitchd, OVSDB reconnection within 2 s) must not compete for the 2 cores of the CI
//! machine with another environment's 50-container burst.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use e2e_tests::cmd::{self, CmdOutput};
use e2e_tests::wait::{poll, Attempt};
use e2e_tests::{
    bridge_name, env_assert, env_assert_eq, http, is_driver_link, ovs, port_name, process,
    random_id, run_container_args, run_scenarios, wait_for_success, wait_until, Env, EnvOptions,
};
use serde_json::{json, Value};

// ------------------------------------------------------------------------------ turns

static TURNS: Mutex<()> = Mutex::new(());

/// One environment of this file at a time (see the module documentation).
fn take_turn() -> MutexGuard<'static, ()> {
    TURNS.lock().unwrap_or_else(|poison| poison.into_inner())
}

// ------------------------------------------------------------------------------ Docker vs OVS

/// Flow cookie of a network's flows as `ovs-ofctl` prints it.
fn network_cookie(network_id: &str) -> String {
    format!("0xdc01{}", &network_id[..12])
}

/// Flow cookie of an endpoint's flows as `ovs-ofctl` prints it.
fn endpoint_cookie(endpoint_id: &str) -> String {
    format!("0xdc02{}", &endpoint_id[..12])
}

/// A docker command that must succeed, as a `Result` (for polling).
fn docker_out(env: &Env, args: &[&str]) -> Result<String, String> {
    env.docker(args).result()
}

/// What Docker believes about our driver's networks.
#[derive(Debug, Default)]
struct DockerView {
    /// Network id -> (name, endpoint id -> container name) for every endpoint Docker lists.
    networks: BTreeMap<String, (String, BTreeMap<String, String>)>,
    /// Full ids of the running containers.
    running: BTreeSet<String>,
    /// Endpoints Docker lists for containers that are not running (should be none).
    not_running: Vec<String>,
}

fn docker_view(env: &Env) -> Result<DockerView, String> {
    let filter = format!("driver={}", env.driver_name());
    let ids = docker_out(
        env,
        &["network", "ls", "-q", "--no-trunc", "--filter", &filter],
    )?;
    let mut view = DockerView {
        running: docker_out(env, &["ps", "-q", "--no-trunc"])?
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        ..DockerView::default()
    };
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if ids.is_empty() {
        return Ok(view);
    }
    let mut args = vec!["network", "inspect"];
    args.extend(&ids);
    let text = docker_out(env, &args)?;
    let networks: Value = serde_json::from_str(&text)
        .map_err(|error| format!("docker network inspect: bad JSON ({error}): {text}"))?;
    for network in networks.as_array().into_iter().flatten() {
        let id = network["Id"].as_str().unwrap_or_default().to_string();
        let name = network["Name"].as_str().unwrap_or_default().to_string();
        let mut endpoints = BTreeMap::new();
        for (container, attachment) in network["Containers"].as_object().into_iter().flatten() {
            let endpoint = attachment["EndpointID"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let container_name = attachment["Name"].as_str().unwrap_or_default().to_string();
            if !view.running.contains(container) {
                view.not_running.push(format!(
                    "{container_name} ({container}) endpoint {endpoint} on {name}"
                ));
            }
            endpoints.insert(endpoint, container_name);
        }
        view.networks.insert(id, (name, endpoints));
    }
    Ok(view)
}

/// What OVS and the netns hold.
#[derive(Debug, Default)]
struct OvsView {
    /// Bridge -> its `docker-network-id` ("" when it has none).
    bridges: BTreeMap<String, String>,
    /// Bridge -> port (other than the bridge's own) -> the Port's `docker-endpoint-id` ("").
    ports: BTreeMap<String, BTreeMap<String, String>>,
    /// Interface -> `docker-endpoint-id`, for every Interface that has one.
    interfaces: BTreeMap<String, String>,
    /// Bridge -> the cookies of its flows.
    cookies: BTreeMap<String, BTreeSet<String>>,
    /// Driver-named links (`ovs…`/`ovc…` + 12 hex) in the netns.
    links: BTreeSet<String>,
}

fn vsctl_rows(env: &Env, args: &[&str]) -> Result<Vec<BTreeMap<String, Value>>, String> {
    let mut full = vec!["--format=json"];
    full.extend_from_slice(args);
    let output = env.vsctl(&full);
    if !output.success() {
        return Err(output.describe());
    }
    ovs::parse_list_json(&output.stdout)
}

fn flow_cookies(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("cookie="))
        .filter_map(|rest| rest.split([',', ' ']).next())
        .map(str::to_string)
        .collect()
}

fn ovs_view(env: &Env) -> Result<OvsView, String> {
    let mut view = OvsView::default();
    for row in vsctl_rows(env, &["--columns=name,external_ids", "list", "Bridge"])? {
        let name = ovs::atom_text(&row["name"]);
        let ids = ovs::string_map(&row["external_ids"]);
        view.bridges.insert(
            name,
            ids.get("docker-network-id").cloned().unwrap_or_default(),
        );
    }
    let port_ids: BTreeMap<String, String> =
        vsctl_rows(env, &["--columns=name,external_ids", "list", "Port"])?
            .iter()
            .map(|row| {
                let ids = ovs::string_map(&row["external_ids"]);
                (
                    ovs::atom_text(&row["name"]),
                    ids.get("docker-endpoint-id").cloned().unwrap_or_default(),
                )
            })
            .collect();
    for row in vsctl_rows(env, &["--columns=name,external_ids", "list", "Interface"])? {
        let ids = ovs::string_map(&row["external_ids"]);
        if let Some(endpoint) = ids.get("docker-endpoint-id") {
            view.interfaces
                .insert(ovs::atom_text(&row["name"]), endpoint.clone());
        }
    }
    for bridge in view.bridges.keys() {
        let output = env.vsctl(&["list-ports", bridge]);
        if !output.success() {
            return Err(output.describe());
        }
        let ports = output
            .stdout
            .split_whitespace()
            .map(|port| {
                (
                    port.to_string(),
                    port_ids.get(port).cloned().unwrap_or_default(),
                )
            })
            .collect();
        view.ports.insert(bridge.clone(), ports);
        let flows = env.ofctl(&["-O", "OpenFlow13", "--no-stats", "dump-flows", bridge]);
        if !flows.success() {
            return Err(flows.describe());
        }
        view.cookies
            .insert(bridge.clone(), flow_cookies(&flows.stdout));
    }
    let links = env.ip(&["-o", "link", "show"]);
    if !links.success() {
        return Err(links.describe());
    }
    view.links = e2e_tests::queries::parse_link_names(&links.stdout)
        .into_iter()
        .filter(|name| is_driver_link(name))
        .collect();
    Ok(view)
}

/// Differences between two sets, described.
fn set_diff<T: Ord + std::fmt::Debug>(
    what: &str,
    expected: &BTreeSet<T>,
    seen: &BTreeSet<T>,
) -> Option<String> {
    if expected == seen {
        return None;
    }
    let missing: Vec<_> = expected.difference(seen).collect();
    let extra: Vec<_> = seen.difference(expected).collect();
    Some(format!(
        "{what}: expected {} (Docker's view), seen {}; missing {missing:?}, extra {extra:?}",
        expected.len(),
        seen.len()
    ))
}

/// Checks that OVS and the netns hold exactly what Docker's view implies: one bridge per
/// network of our driver, on it one port per endpoint Docker lists (named after it, with its
/// `docker-endpoint-id`) and nothing else, no other Interface with an endpoint id, one veth
/// per endpoint and no other driver link, the network's and each endpoint's flow cookies and
/// no others; also that every endpoint Docker lists belongs to a running container. Returns a
/// one-line summary, or every problem found.
fn consistency(env: &Env) -> Result<String, String> {
    let docker = docker_view(env)?;
    let ovs = ovs_view(env)?;
    let mut problems = Vec::new();
    if !docker.not_running.is_empty() {
        problems.push(format!(
            "Docker lists endpoints of containers that are not running: {:?}",
            docker.not_running
        ));
    }
    let expected_bridges: BTreeMap<String, String> = docker
        .networks
        .keys()
        .map(|id| (bridge_name(id), id.clone()))
        .collect();
    if ovs.bridges != expected_bridges {
        problems.push(format!(
            "bridges (name -> docker-network-id): expected {expected_bridges:?} from Docker's \
             networks, OVSDB has {:?}",
            ovs.bridges
        ));
    }
    let mut all_ports = BTreeSet::new();
    let mut all_interfaces = BTreeSet::new();
    let mut endpoint_count = 0;
    for (network_id, (name, endpoints)) in &docker.networks {
        let bridge = bridge_name(network_id);
        endpoint_count += endpoints.len();
        let expected: BTreeSet<(String, String)> = endpoints
            .keys()
            .map(|endpoint| (port_name(endpoint), endpoint.clone()))
            .collect();
        all_ports.extend(expected.iter().map(|(port, _)| port.clone()));
        all_interfaces.extend(expected.iter().cloned());
        let seen: BTreeSet<(String, String)> = ovs
            .ports
            .get(&bridge)
            .into_iter()
            .flatten()
            .map(|(port, endpoint)| (port.clone(), endpoint.clone()))
            .collect();
        problems.extend(set_diff(
            &format!("ports (name, docker-endpoint-id) of network {name} on {bridge}"),
            &expected,
            &seen,
        ));
        let mut expected_cookies: BTreeSet<String> =
            endpoints.keys().map(|e| endpoint_cookie(e)).collect();
        expected_cookies.insert(network_cookie(network_id));
        let no_cookies = BTreeSet::new();
        let cookies = ovs.cookies.get(&bridge).unwrap_or(&no_cookies);
        problems.extend(set_diff(
            &format!("flow cookies on {bridge} (network {name})"),
            &expected_cookies,
            cookies,
        ));
    }
    let interfaces: BTreeSet<(String, String)> = ovs.interfaces.clone().into_iter().collect();
    problems.extend(set_diff(
        "Interfaces with a docker-endpoint-id",
        &all_interfaces,
        &interfaces,
    ));
    problems.extend(set_diff(
        "driver links (veths) in the netns",
        &all_ports,
        &ovs.links,
    ));
    if problems.is_empty() {
        Ok(format!(
            "{} network(s), {endpoint_count} endpoint(s), {} running container(s)",
            docker.networks.len(),
            docker.running.len()
        ))
    } else {
        Err(problems.join("\n"))
    }
}

/// Polls [`consistency`] until it holds; fails with the last problems. Returns how long it took.
fn wait_consistent(env: &Env, timeout: Duration, after: &str) -> Duration {
    let started = Instant::now();
    match wait_until(
        &format!("OVS to match Docker's view after {after}"),
        timeout,
        || consistency(env),
    ) {
        Ok(summary) => {
            let took = started.elapsed();
            eprintln!(
                "[faults] consistent after {after} ({summary}) within {:.1} s",
                took.as_secs_f64()
            );
            took
        }
        Err(error) => env.fail(&error),
    }
}

// ------------------------------------------------------------------------------ connectivity

/// `docker inspect` of containers: name -> (running, pid).
fn container_states(env: &Env, names: &[String]) -> BTreeMap<String, (bool, u32)> {
    if names.is_empty() {
        return BTreeMap::new();
    }
    let mut args = vec![
        "inspect",
        "-f",
        "{{.Name}} {{.State.Running}} {{.State.Pid}}",
    ];
    args.extend(names.iter().map(String::as_str));
    env.docker_ok(&args)
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?.trim_start_matches('/').to_string();
            let running = words.next()? == "true";
            let pid = words.next()?.parse().ok()?;
            Some((name, (running, pid)))
        })
        .collect()
}

/// One ping from inside a container's network namespace (the host's `ping`, entered with
/// nsenter: much cheaper than `docker exec` for 50 containers on 2 cores).
fn netns_ping(env: &Env, pid: u32, target: &str) -> CmdOutput {
    let mut command = Command::new("nsenter");
    command
        .arg(format!("--target={pid}"))
        .args(["--net", "--", "ping", "-c", "1", "-W", "1", target]);
    env.run_recorded(command, Duration::from_secs(10))
}

/// Every (container, target) pair pings within 30 s; a few threads at a time. Fails listing
/// every pair that did not.
fn assert_pings(env: &Env, pairs: &[(String, String)]) {
    let names: Vec<String> = pairs
        .iter()
        .map(|(name, _)| name.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let states = container_states(env, &names);
    let failures: Vec<String> = thread::scope(|scope| {
        let handles: Vec<_> = pairs
            .chunks(pairs.len().div_ceil(4).max(1))
            .map(|chunk| {
                let states = &states;
                scope.spawn(move || {
                    let mut failures = Vec::new();
                    for (name, target) in chunk {
                        let Some(&(true, pid)) = states.get(name) else {
                            failures.push(format!(
                                "{name} should be running to ping {target}: {:?}",
                                states.get(name)
                            ));
                            continue;
                        };
                        let result = wait_for_success(
                            &format!("{name} to ping {target}"),
                            Duration::from_secs(30),
                            || netns_ping(env, pid, target),
                        );
                        if let Err(error) = result {
                            failures.push(error);
                        }
                    }
                    failures
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("ping thread"))
            .collect()
    });
    if !failures.is_empty() {
        let first = pairs.first().map(|(name, _)| name.as_str()).unwrap_or("");
        env.fail(&format!(
            "{} of {} pings never got through (expected every running container to reach its \
             targets):\n{}\n\n{}",
            failures.len(),
            pairs.len(),
            failures.join("\n"),
            env.connectivity_report(&[first])
        ));
    }
}

/// Every container pings the gateway and the next container (in a ring) on `network`.
fn assert_all_ping(env: &Env, names: &[String], network: &str, gateway: &str) {
    let addresses: Vec<String> = names
        .iter()
        .map(|name| env.container_net(name, network).ipv4)
        .collect();
    let mut pairs = Vec::new();
    for (index, name) in names.iter().enumerate() {
        pairs.push((name.clone(), gateway.to_string()));
        if names.len() > 1 {
            pairs.push((name.clone(), addresses[(index + 1) % names.len()].clone()));
        }
    }
    assert_pings(env, &pairs);
}

/// A container's IPv4 address on its (only) network.
fn env_ipv4(env: &Env, name: &str) -> String {
    env.docker_ok(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        name,
    ])
}

// ------------------------------------------------------------------------------ environment A

/// The janitor's grace for unjoined endpoints (default 60 s) and the repair interval (default
/// 10 s), shortened through the driver's hidden test settings so orphans left by a SIGKILL are
/// collected within seconds. 20 s stays well above the time Docker takes between
/// CreateEndpoint and Join, even with 50 containers starting at once on 2 cores.
fn janitor_env() -> EnvOptions {
    EnvOptions {
        driver_env: vec![
            ("OVS_DRIVER_UNJOINED_GRACE".into(), "20".into()),
            ("OVS_DRIVER_REPAIR_INTERVAL".into(), "2".into()),
        ],
        ..EnvOptions::default()
    }
}

#[test]
fn faults_driver_crashes_and_vanished_containers() {
    let _turn = take_turn();
    let env = Env::start(janitor_env());
    run_scenarios(
        &env,
        &[
            (
                "sandbox_torn_down_without_leave_is_collected",
                sandbox_torn_down_without_leave_is_collected,
            ),
            (
                "netns_destroyed_while_dockerd_and_driver_are_down",
                netns_destroyed_while_dockerd_and_driver_are_down,
            ),
            // Last: dockerd may leak an endpoint of this network (see the scenario's end), and
            // the reset between scenarios would then leave a network without its bridge.
            (
                "driver_sigkill_during_50_concurrent_starts",
                driver_sigkill_during_50_concurrent_starts,
            ),
        ],
    );
}

fn driver_sigkill_during_50_concurrent_starts(env: &Env) {
    const COUNT: usize = 50;
    const KILL_AT: usize = 12;
    let id = env.create_network("burst", &["--subnet", "10.50.0.0/24"]);
    let bridge = bridge_name(&id);
    let names: Vec<String> = (1..=COUNT).map(|index| format!("b{index}")).collect();
    let finished = AtomicUsize::new(0);
    let started = Instant::now();
    let (outputs, killed_at) = thread::scope(|scope| {
        let handles: Vec<_> = names
            .iter()
            .map(|name| {
                let finished = &finished;
                scope.spawn(move || {
                    let output = env.docker(&run_container_args(name, "burst", &[]));
                    finished.fetch_add(1, Ordering::Relaxed);
                    output
                })
            })
            .collect();
        // SIGKILL the driver once a dozen endpoints are in OVSDB: mid-burst, with requests
        // of every kind in flight.
        let mut ports_at_kill = 0;
        while started.elapsed() < Duration::from_secs(120) {
            let ports = env.vsctl(&["list-ports", &bridge]);
            ports_at_kill = ports.stdout.split_whitespace().count();
            if ports_at_kill >= KILL_AT || finished.load(Ordering::Relaxed) == COUNT {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let done_at_kill = finished.load(Ordering::Relaxed);
        env.kill_driver(libc::SIGKILL);
        let killed = started.elapsed();
        thread::sleep(Duration::from_millis(500));
        env.start_driver();
        let outputs: Vec<CmdOutput> = handles
            .into_iter()
            .map(|handle| handle.join().expect("docker run thread"))
            .collect();
        (outputs, (killed, ports_at_kill, done_at_kill))
    });
    let (killed, ports_at_kill, done_at_kill) = killed_at;
    let failed: Vec<(&String, &CmdOutput)> = names
        .iter()
        .zip(&outputs)
        .filter(|(_, output)| !output.success())
        .collect();
    eprintln!(
        "[faults] driver SIGKILLed {:.1} s into the burst with {ports_at_kill} ports in OVSDB and \
         {done_at_kill} of {COUNT} docker runs done; burst over after {:.1} s; {} docker run(s) \
         failed",
        killed.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        failed.len()
    );
    env_assert!(
        env,
        done_at_kill < COUNT,
        "the driver should die while docker runs are still in flight, but all {COUNT} were done"
    );
    for (name, output) in &failed {
        let gist = output
            .stderr
            .lines()
            .find(|line| !line.trim().is_empty())
            .unwrap_or_default();
        eprintln!("[faults]   {name}: {}", cmd::clip(gist.trim(), 300));
    }

    // Retry what Docker reported as failed: start the container if it exists, else run it.
    let mut retry_failures = Vec::new();
    for (name, _) in &failed {
        let exists = env
            .docker(&["inspect", "-f", "{{.State.Status}}", name])
            .success();
        let output = if exists {
            env.docker(&["start", name])
        } else {
            env.docker(&run_container_args(name, "burst", &[]))
        };
        if !output.success() {
            retry_failures.push(output.describe());
        }
    }
    env_assert!(
        env,
        retry_failures.is_empty(),
        "every retry after the driver restart should succeed; {} failed:\n{}",
        retry_failures.len(),
        retry_failures.join("\n")
    );

    let states = container_states(env, &names);
    let not_running: Vec<_> = states
        .iter()
        .filter(|(_, (running, _))| !running)
        .map(|(name, _)| name.clone())
        .collect();
    env_assert!(
        env,
        not_running.is_empty() && states.len() == COUNT,
        "all {COUNT} containers should run after the retries; not running: {not_running:?} \
         ({} inspected)",
        states.len()
    );
    // Orphans of the kill (endpoints Docker gave up on, veths never recorded) go with the
    // janitor: 20 s unjoined grace and a 2 s round in this environment.
    wait_consistent(env, Duration::from_secs(60), "the SIGKILL during the burst");
    let collected = driver_log_since_start(env, "removed stale endpoint");
    let orphans = driver_log_since_start(env, "removed orphan veth");
    eprintln!(
        "[faults] the restarted driver's janitor removed {} stale endpoint(s) and {} orphan \
         veth(s)",
        collected.len(),
        orphans.len()
    );
    assert_all_ping(env, &names, "burst", "10.50.0.1");
    // And consistency still holds after the pings (nothing was collected by mistake).
    if let Err(problems) = consistency(env) {
        env.fail(&format!(
            "OVS no longer matches Docker after the pings: {problems}"
        ));
    }

    // Everything goes through Docker again: the containers' ports and veths, then the bridge.
    let mut args = vec!["rm", "-f"];
    args.extend(names.iter().map(String::as_str));
    env.docker_ok(&args);
    wait_consistent(env, Duration::from_secs(20), "removing the 50 containers");
    let removed = env.docker(&["network", "rm", "burst"]);
    if removed.success() {
        wait_consistent(env, Duration::from_secs(10), "removing network burst");
        env_assert!(
            env,
            !env.bridge_exists(&bridge),
            "bridge {bridge} should go with network burst"
        );
    } else if removed.stderr.contains("has active endpoints") {
        // dockerd 20.10 sometimes loses count of an endpoint whose Join failed ("Could not
        // rollback container connection" in its log): it lists none and the driver holds none
        // (checked just above), but it refuses to remove the network. Not the driver's.
        eprintln!(
            "[faults] note: dockerd refused `docker network rm burst` ({}) although it lists no \
             endpoint and OVS holds none; dockerd's own endpoint count leaked",
            removed.stderr.trim()
        );
    } else {
        env.fail(&format!(
            "docker network rm burst should succeed: {}",
            removed.describe()
        ));
    }
}

/// Lines of the driver's log since its last start that contain `needle`.
fn driver_log_since_start(env: &Env, needle: &str) -> Vec<String> {
    let log = fs::read_to_string(env.dir().join("driver.log")).unwrap_or_default();
    let since = log
        .rfind("==== [e2e harness] driver start")
        .map_or(&log[..], |start| &log[start..]);
    since
        .lines()
        .filter(|line| line.contains(needle))
        .map(str::to_string)
        .collect()
}

/// Plays a driver that has been down for longer than Docker's 30 s plugin retry window: every
/// request gets `{"Err": ...}` at once, so Docker gives up on Leave and DeleteEndpoint,
/// forgets the endpoint and removes the sandbox without the driver hearing of it.
struct DeadDriverStandIn {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<String>>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl DeadDriverStandIn {
    fn start(path: &Path) -> io::Result<Self> {
        let _ = fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, seen) = (stop.clone(), seen.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            if let Some(path) = answer_with_error(stream) {
                                seen.lock().unwrap_or_else(|p| p.into_inner()).push(path);
                            }
                        }
                        Err(_) => thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        Ok(Self {
            path: path.to_path_buf(),
            stop,
            seen,
            thread: Some(thread),
        })
    }

    /// Stops answering, removes its socket (once: the real driver binds the same path later);
    /// returns the paths of the requests it answered.
    fn stop(&mut self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
            let _ = fs::remove_file(&self.path);
        }
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for DeadDriverStandIn {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads one HTTP request (head and Content-Length body) and answers HTTP 500 with an `Err`.
fn answer_with_error(mut stream: UnixStream) -> Option<String> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(count) => data.extend_from_slice(&chunk[..count]),
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_string();
    let length: usize = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0);
    while data.len() < head_end + 4 + length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(count) => data.extend_from_slice(&chunk[..count]),
        }
    }
    let body = br#"{"Err":"ovs driver is down (fault-injection stand-in)"}"#;
    let reply = format!(
        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes());
    let _ = stream.write_all(body);
    head.split_whitespace().nth(1).map(str::to_string)
}

/// Polls until none of the endpoints' ports, flows or veths remain; returns how long it took.
fn wait_ports_and_flows_gone(env: &Env, bridge: &str, endpoints: &[(String, String)]) -> Duration {
    let started = Instant::now();
    let result = poll(
        "the restarted driver to remove the stale ports, their flows and veths",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || {
            let ports = env.ports(bridge);
            let flows = flow_cookies(&env.ofctl_ok(&[
                "-O",
                "OpenFlow13",
                "--no-stats",
                "dump-flows",
                bridge,
            ]));
            let links = env.driver_links();
            let stale: Vec<String> = endpoints
                .iter()
                .flat_map(|(name, endpoint)| {
                    let port = port_name(endpoint);
                    let cookie = endpoint_cookie(endpoint);
                    [
                        ports
                            .contains(&port)
                            .then(|| format!("{name}'s port {port}")),
                        flows
                            .contains(&cookie)
                            .then(|| format!("{name}'s flows {cookie}")),
                        links
                            .iter()
                            .any(|link| link[3..] == port[3..])
                            .then(|| format!("{name}'s veth")),
                    ]
                })
                .flatten()
                .collect();
            if stale.is_empty() {
                Ok(())
            } else {
                Err(Attempt::Retry(format!("still there: {stale:?}")))
            }
        },
    );
    if let Err(error) = result {
        env.fail(&error);
    }
    started.elapsed()
}

/// The janitor runs when the driver starts; it must find the stale ports in its first round.
const STALE_GONE_WITHIN: Duration = Duration::from_secs(5);

fn sandbox_torn_down_without_leave_is_collected(env: &Env) {
    let id = env.create_network("nl", &["--subnet", "10.51.0.0/24"]);
    let bridge = bridge_name(&id);
    let names: Vec<String> = ["n1", "n2", "n3", "n4"].map(String::from).to_vec();
    for name in &names {
        env.run_container(name, "nl", &[]);
    }
    assert_all_ping(env, &names, "nl", "10.51.0.1");
    let victims: Vec<(String, String)> = ["n3", "n4"]
        .iter()
        .map(|name| (name.to_string(), env.container_net(name, "nl").endpoint_id))
        .collect();

    env.kill_driver(libc::SIGKILL);
    let mut stand_in = DeadDriverStandIn::start(env.plugin_socket())
        .unwrap_or_else(|error| env.fail(&format!("stand-in on the plugin socket: {error}")));
    // n3: `docker kill`; n4: its processes killed through its cgroup, under Docker's feet.
    env.docker_ok(&["kill", "n3"]);
    let n4_id = env.docker_ok(&["inspect", "-f", "{{.Id}}", "n4"]);
    let mut n4_pids = process::container_cgroup_pids(&n4_id);
    if n4_pids.is_empty() {
        n4_pids.push(container_states(env, &names)["n4"].1 as i32);
    }
    for pid in &n4_pids {
        process::send_signal(*pid, libc::SIGKILL);
    }
    // Docker tears the sandboxes down: it moves the container sides of the veths back
    // (`ovc...` reappears here) and forgets the endpoints.
    let torn_down = wait_until(
        "Docker to tear down the sandboxes of n3 and n4",
        Duration::from_secs(30),
        || {
            let states = container_states(env, &names[2..]);
            let view = docker_view(env)?;
            let listed: BTreeSet<&String> = view
                .networks
                .values()
                .flat_map(|(_, endpoints)| endpoints.keys())
                .collect();
            let links = env.driver_links();
            let left: Vec<_> = victims
                .iter()
                .filter(|(name, endpoint)| {
                    states.get(name).is_none_or(|(running, _)| *running)
                        || listed.contains(endpoint)
                        || links.contains(&port_name(endpoint))
                            && !links.contains(&format!("ovc{}", &endpoint[..12]))
                })
                .map(|(name, _)| name.clone())
                .collect();
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "not torn down yet: {left:?} (states {states:?}, links {links:?})"
                ))
            }
        },
    );
    let answered = stand_in.stop();
    if let Err(error) = torn_down {
        env.fail(&error);
    }
    eprintln!("[faults] the dead-driver stand-in answered: {answered:?}");
    // Precondition: the driver has something to notice: the ports are still in OVSDB.
    let ports = env.ports(&bridge);
    for (name, endpoint) in &victims {
        env_assert!(
            env,
            ports.contains(&port_name(endpoint)),
            "{name}'s port {} should still be in OVSDB before the driver is back (Docker never \
             reached the driver), ports: {ports:?}",
            port_name(endpoint)
        );
    }

    env.start_driver();
    let took = wait_ports_and_flows_gone(env, &bridge, &victims);
    eprintln!(
        "[faults] ports, flows and veths of n3 and n4 removed {:.2} s after the driver came back",
        took.as_secs_f64()
    );
    env_assert!(
        env,
        took < STALE_GONE_WITHIN,
        "stale ports should go within {STALE_GONE_WITHIN:?} of the driver's start (its first \
         janitor round), took {took:?}"
    );
    wait_consistent(env, Duration::from_secs(15), "the torn-down sandboxes");
    assert_all_ping(env, &names[..2], "nl", "10.51.0.1");
    // The victims come back as new endpoints.
    env.docker_ok(&["start", "n3"]);
    let n3 = env.container_net("n3", "nl");
    env_assert!(
        env,
        n3.endpoint_id != victims[0].1,
        "n3 restarted should have a new endpoint, has the old {}",
        n3.endpoint_id
    );
    assert_all_ping(env, &names[..3], "nl", "10.51.0.1");
    wait_consistent(env, Duration::from_secs(15), "restarting n3");
}

/// Starts dockerd again when a failing scenario left it dead.
struct DockerdBackOnDrop<'a>(&'a Env, bool);

impl Drop for DockerdBackOnDrop<'_> {
    fn drop(&mut self) {
        if self.1 && thread::panicking() {
            self.0.start_dockerd_again();
        }
    }
}

fn netns_destroyed_while_dockerd_and_driver_are_down(env: &Env) {
    let id = env.create_network("nd", &["--subnet", "10.55.0.0/24"]);
    let bridge = bridge_name(&id);
    let names: Vec<String> = ["m1", "m2", "m3"].map(String::from).to_vec();
    // m1 and m2 come back after dockerd's restart (without live-restore dockerd stops the
    // containers it finds running); m3's namespace is destroyed for good.
    env.run_container("m1", "nd", &["--restart=always"]);
    env.run_container("m2", "nd", &["--restart=always"]);
    env.run_container("m3", "nd", &[]);
    assert_all_ping(env, &names, "nd", "10.55.0.1");
    let m3 = env.container_net("m3", "nd");
    let victims = vec![("m3".to_string(), m3.endpoint_id.clone())];
    let sandbox = env.docker_ok(&["inspect", "-f", "{{.NetworkSettings.SandboxKey}}", "m3"]);
    let m3_id = env.docker_ok(&["inspect", "-f", "{{.Id}}", "m3"]);
    let mut m3_pids = process::container_cgroup_pids(&m3_id);
    if m3_pids.is_empty() {
        m3_pids.push(container_states(env, &names)["m3"].1 as i32);
    }
    let m2_address = env_ipv4(env, "m2");
    let m1_pid = container_states(env, &names)["m1"].1;

    env.kill_driver(libc::SIGKILL);
    env.kill_dockerd();
    let mut guard = DockerdBackOnDrop(env, true);
    for pid in &m3_pids {
        process::send_signal(*pid, libc::SIGKILL);
    }
    // Nothing holds the namespace now but its mount: unmount it, and it goes with the veth.
    let output = env.exec_in_netns(&["umount", &sandbox]);
    env_assert!(
        env,
        output.success(),
        "unmounting m3's namespace {sandbox}: {}",
        output.describe()
    );
    let port = port_name(&m3.endpoint_id);
    if let Err(error) = wait_until(
        "m3's veth to vanish with its namespace",
        Duration::from_secs(20),
        || {
            let links = env.driver_links();
            if links.iter().any(|link| link[3..] == port[3..]) {
                Err(format!("still there: {links:?}"))
            } else {
                Ok(())
            }
        },
    ) {
        env.fail(&error);
    }
    env_assert!(
        env,
        env.ports(&bridge).contains(&port),
        "m3's port {port} should still be in OVSDB before the driver is back"
    );

    env.start_driver();
    let took = wait_ports_and_flows_gone(env, &bridge, &victims);
    eprintln!(
        "[faults] port and flows of m3 (veth gone with its namespace) removed {:.2} s after the \
         driver came back",
        took.as_secs_f64()
    );
    env_assert!(
        env,
        took < STALE_GONE_WITHIN,
        "the stale port should go within {STALE_GONE_WITHIN:?} of the driver's start, took \
         {took:?}"
    );
    // The survivors still forward while dockerd is down.
    if let Err(error) = wait_for_success(
        "m1 to ping m2 with dockerd down",
        Duration::from_secs(20),
        || netns_ping(env, m1_pid, &m2_address),
    ) {
        env.fail(&error);
    }

    env.start_dockerd_again();
    guard.1 = false;
    let running = wait_until(
        "m1 and m2 to run again after dockerd's restart",
        Duration::from_secs(60),
        || {
            let states = container_states(env, &names);
            if states.get("m1").is_some_and(|s| s.0) && states.get("m2").is_some_and(|s| s.0) {
                Ok(())
            } else {
                Err(format!("states: {states:?}"))
            }
        },
    );
    if let Err(error) = running {
        env.fail(&error);
    }
    wait_consistent(env, Duration::from_secs(20), "dockerd's restart");
    assert_all_ping(env, &names[..2], "nd", "10.55.0.1");
}

// ------------------------------------------------------------------------------ environment B

#[test]
fn faults_ovs_and_docker_restarts() {
    let _turn = take_turn();
    let env = Env::start(EnvOptions::default());
    run_scenarios(
        &env,
        &[
            (
                "vswitchd_sigkill_under_traffic",
                vswitchd_sigkill_under_traffic,
            ),
            (
                "ovsdb_restart_reconnects_and_leaves_nothing_half_done",
                ovsdb_restart_reconnects_and_leaves_nothing_half_done,
            ),
            (
                "dockerd_restart_brings_endpoints_back",
                dockerd_restart_brings_endpoints_back,
            ),
        ],
    );
}

/// Starts ovs-vswitchd again when dropped, so a failing scenario does not break the rest.
struct VswitchdBackOnDrop<'a>(&'a Env);

impl Drop for VswitchdBackOnDrop<'_> {
    fn drop(&mut self) {
        if let Err(error) = self.0.ensure_vswitchd_running() {
            eprintln!("[faults] could not restart ovs-vswitchd: {error}");
        }
    }
}

/// Starts ovsdb-server again when dropped.
struct OvsdbBackOnDrop<'a>(&'a Env);

impl Drop for OvsdbBackOnDrop<'_> {
    fn drop(&mut self) {
        if let Err(error) = self.0.ensure_ovsdb_running() {
            eprintln!("[faults] could not restart ovsdb-server: {error}");
        }
    }
}

/// `ping -D -i 0.1` from inside a container's netns, in the background; the replies'
/// timestamps are collected when it stops.
struct Pinger {
    child: Child,
    output: Option<thread::JoinHandle<String>>,
}

impl Pinger {
    fn start(pid: u32, target: &str) -> io::Result<Self> {
        let mut child = Command::new("nsenter")
            .arg(format!("--target={pid}"))
            .args(["--net", "--", "ping", "-D", "-n", "-i", "0.1", target])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut stdout = child.stdout.take().expect("piped stdout");
        let output = thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        });
        Ok(Self {
            child,
            output: Some(output),
        })
    }

    /// Stops the ping; returns the time of every reply (seconds since the epoch).
    fn stop(&mut self) -> Vec<f64> {
        process::send_signal(self.child.id() as i32, libc::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let text = self
            .output
            .take()
            .and_then(|output| output.join().ok())
            .unwrap_or_default();
        text.lines()
            .filter(|line| line.contains("bytes from"))
            .filter_map(|line| line.strip_prefix('[')?.split(']').next()?.parse().ok())
            .collect()
    }
}

impl Drop for Pinger {
    fn drop(&mut self) {
        if self.output.is_some() {
            self.stop();
        }
    }
}

fn epoch_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

/// `ovs-ofctl --no-stats dump-flows`, sorted: the pipeline modulo counters and ages.
fn pipeline(env: &Env, bridge: &str) -> Result<Vec<String>, String> {
    let output = env.ofctl(&["-O", "OpenFlow13", "--no-stats", "dump-flows", bridge]);
    if !output.success() {
        return Err(output.describe());
    }
    let mut lines: Vec<String> = output
        .stdout
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("cookie="))
        .map(str::to_string)
        .collect();
    lines.sort();
    Ok(lines)
}

/// Spec: pings resume within 2 s of ovs-vswitchd's bridge being back.
const PINGS_BACK_WITHIN: Duration = Duration::from_secs(2);

fn vswitchd_sigkill_under_traffic(env: &Env) {
    let _guard = VswitchdBackOnDrop(env);
    let id = env.create_network("vs", &["--subnet", "10.52.0.0/24"]);
    let bridge = bridge_name(&id);
    let names: Vec<String> = ["v1", "v2"].map(String::from).to_vec();
    for name in &names {
        env.run_container(name, "vs", &[]);
    }
    assert_all_ping(env, &names, "vs", "10.52.0.1");
    let before = pipeline(env, &bridge).unwrap_or_else(|error| env.fail(&error));
    let v2 = env.container_net("v2", "vs");
    let pid = container_states(env, &names)["v1"].1;
    let mut pinger =
        Pinger::start(pid, &v2.ipv4).unwrap_or_else(|error| env.fail(&format!("ping: {error}")));
    thread::sleep(Duration::from_secs(1));

    let killed = SystemTime::now();
    env.kill_vswitchd();
    env.start_vswitchd();
    // "The bridge is up again": the restarted vswitchd answers OpenFlow on its management
    // socket (polled every 20 ms).
    let up = poll(
        "the restarted ovs-vswitchd to answer on the bridge's management socket",
        Duration::from_secs(20),
        Duration::from_millis(20),
        || {
            let output = env.ofctl(&["-O", "OpenFlow13", "show", &bridge]);
            if output.success() {
                Ok(SystemTime::now())
            } else {
                Err(Attempt::Retry(output.describe()))
            }
        },
    )
    .unwrap_or_else(|error| env.fail(&error));
    let flows_back = poll(
        "the driver to reinstall the same pipeline",
        Duration::from_secs(15),
        Duration::from_millis(50),
        || {
            let now = pipeline(env, &bridge).map_err(Attempt::Retry)?;
            if now == before {
                Ok(SystemTime::now())
            } else {
                let missing: Vec<_> = before.iter().filter(|l| !now.contains(l)).collect();
                let extra: Vec<_> = now.iter().filter(|l| !before.contains(l)).collect();
                Err(Attempt::Retry(format!(
                    "expected the {} flows from before the crash; missing {missing:#?}\nextra \
                     {extra:#?}",
                    before.len()
                )))
            }
        },
    )
    .unwrap_or_else(|error| env.fail(&error));
    // Let pings run a little past the point where they are due.
    let due = epoch_seconds(up) + PINGS_BACK_WITHIN.as_secs_f64() + 1.0;
    while epoch_seconds(SystemTime::now()) < due {
        thread::sleep(Duration::from_millis(100));
    }
    let replies = pinger.stop();
    let (killed, up, flows_back) = (
        epoch_seconds(killed),
        epoch_seconds(up),
        epoch_seconds(flows_back),
    );
    let last_before = replies
        .iter()
        .copied()
        .filter(|t| *t < killed)
        .fold(0.0, f64::max);
    let resumed = replies.iter().copied().find(|t| *t > killed);
    let summary = format!(
        "{} replies; last before the kill {:.2} s before it; vswitchd answering {:.2} s after \
         the kill; pipeline back {:.2} s after that; first reply after the kill {}",
        replies.len(),
        killed - last_before,
        up - killed,
        flows_back - up,
        resumed.map_or("never".to_string(), |t| format!(
            "{:.2} s after vswitchd was back",
            t - up
        ))
    );
    eprintln!("[faults] ovs-vswitchd SIGKILL under traffic: {summary}");
    env_assert!(
        env,
        last_before > 0.0 && killed - last_before < 0.5,
        "pings should flow before the kill: {summary}"
    );
    let Some(resumed) = resumed else {
        env.fail(&format!(
            "pings never resumed after the ovs-vswitchd restart: {summary}\n\n{}",
            env.connectivity_report(&["v1", "v2"])
        ));
    };
    // Resolution: one ping every 0.1 s and the bridge polled every 20 ms, so the measured gap
    // is at most ~0.12 s longer than the real one; the 2 s of the spec are asserted as is.
    env_assert!(
        env,
        resumed - up <= PINGS_BACK_WITHIN.as_secs_f64(),
        "pings should resume within {PINGS_BACK_WITHIN:?} of ovs-vswitchd being back: {summary}"
    );
    // Both directions and the gateway (its address is restored on the new internal port).
    assert_all_ping(env, &names, "vs", "10.52.0.1");
    wait_consistent(env, Duration::from_secs(10), "the ovs-vswitchd restart");
}

/// `{"Err": non-empty}` from a plugin reply, or why it is not one.
fn reply_error(status: u16, body: &str) -> Result<String, String> {
    let value: Value = serde_json::from_str(body)
        .map_err(|error| format!("HTTP {status}, body is not JSON ({error}): {body:?}"))?;
    match value.get("Err").and_then(Value::as_str) {
        Some(message) if !message.is_empty() => Ok(message.to_string()),
        _ => Err(format!("HTTP {status} without a non-empty Err: {body}")),
    }
}

fn create_network_body(network_id: &str, pool: &str, gateway: &str, generic: Value) -> Value {
    json!({
        "NetworkID": network_id,
        "Options": {
            "com.docker.network.enable_ipv6": false,
            "com.docker.network.generic": generic
        },
        "IPv4Data": [{
            "AddressSpace": "LocalDefault",
            "Pool": pool,
            "Gateway": gateway,
            "AuxAddresses": {}
        }],
        "IPv6Data": []
    })
}

fn create_endpoint_body(network_id: &str, endpoint_id: &str, address: &str, mac: &str) -> Value {
    json!({
        "NetworkID": network_id,
        "EndpointID": endpoint_id,
        "Interface": {"Address": address, "AddressIPv6": "", "MacAddress": mac},
        "Options": {}
    })
}

/// Spec: a plugin call during an OVSDB outage fails within 5 s.
const OUTAGE_ERROR_WITHIN: Duration = Duration::from_secs(5);
/// What a docker command adds to that on a loaded 2-core machine (container creation, CLI).
const DOCKER_ALLOWANCE: Duration = Duration::from_secs(3);
/// Spec: the driver reconnects to ovsdb-server within 2 s.
const RECONNECT_WITHIN: Duration = Duration::from_secs(2);

fn ovsdb_restart_reconnects_and_leaves_nothing_half_done(env: &Env) {
    let _guard = OvsdbBackOnDrop(env);
    // `ovsdb_outage_fails_fast_and_recovers` in driver_e2e.rs checks one CreateNetwork and one
    // `docker network create` during an outage; here calls of every kind run at once, and what
    // they leave behind is checked against Docker.
    let id = env.create_network("db", &["--subnet", "10.53.0.0/24"]);
    let names: Vec<String> = ["d1", "d2"].map(String::from).to_vec();
    for name in &names {
        env.run_container(name, "db", &[]);
    }
    assert_all_ping(env, &names, "db", "10.53.0.1");

    env.stop_ovsdb();
    let outage = Instant::now();
    type Call<'a> = (
        &'static str,
        Box<dyn Fn() -> Result<String, String> + Send + Sync + 'a>,
    );
    let docker_call = |args: Vec<String>| {
        move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let output = env.docker(&args);
            if output.success() {
                Err(format!(
                    "succeeded during the outage: {}",
                    output.describe()
                ))
            } else {
                Ok(output.stderr.trim().to_string())
            }
        }
    };
    let plugin_call = |path: &'static str, body: Value| {
        move || match env.try_plugin_request(path, body.to_string()) {
            Ok(response) => reply_error(response.status, &response.body_text()),
            Err(error) => Err(format!("no HTTP response: {error}")),
        }
    };
    let driver = env.driver_name().to_string();
    let calls: Vec<Call<'_>> = vec![
        (
            "plugin CreateNetwork",
            Box::new(plugin_call(
                "/NetworkDriver.CreateNetwork",
                create_network_body(&random_id(), "10.53.9.0/24", "10.53.9.1/24", json!({})),
            )),
        ),
        (
            "plugin CreateEndpoint",
            Box::new(plugin_call(
                "/NetworkDriver.CreateEndpoint",
                create_endpoint_body(&id, &random_id(), "10.53.0.99/24", ""),
            )),
        ),
        (
            "plugin DeleteNetwork",
            Box::new(plugin_call(
                "/NetworkDriver.DeleteNetwork",
                json!({"NetworkID": random_id()}),
            )),
        ),
        (
            "docker network create",
            Box::new(docker_call(
                [
                    "network",
                    "create",
                    "-d",
                    &driver,
                    "--subnet",
                    "10.53.1.0/24",
                    "dbdown",
                ]
                .map(String::from)
                .to_vec(),
            )),
        ),
        (
            "docker run",
            Box::new(docker_call(
                run_container_args("d3", "db", &[])
                    .into_iter()
                    .map(String::from)
                    .collect(),
            )),
        ),
    ];
    let results: Vec<(&str, Result<String, String>, Duration)> = thread::scope(|scope| {
        let handles: Vec<_> = calls
            .iter()
            .map(|(what, call)| {
                scope.spawn(move || {
                    let started = Instant::now();
                    let result = call();
                    (*what, result, started.elapsed())
                })
            })
            .collect();
        // Also a container removed during the outage: Docker forgets it, the driver cannot
        // hear of it (Leave and DeleteEndpoint fail), so its port is left for the janitor.
        let started = Instant::now();
        let removed = env.docker(&["rm", "-f", "d2"]);
        let removed_after = started.elapsed();
        let mut results: Vec<_> = handles
            .into_iter()
            .map(|handle| handle.join().expect("outage call thread"))
            .collect();
        results.push((
            "docker rm -f d2 (Leave and DeleteEndpoint)",
            if removed.success() {
                Ok("removed".to_string())
            } else {
                Err(removed.describe())
            },
            removed_after,
        ));
        results
    });
    let mut problems = Vec::new();
    for (what, result, took) in &results {
        eprintln!(
            "[faults] during the OVSDB outage: {what} -> {:.2} s: {}",
            took.as_secs_f64(),
            match result {
                Ok(message) => cmd::clip(message, 200),
                Err(problem) => format!("PROBLEM: {}", cmd::clip(problem, 300)),
            }
        );
        let limit = if what.starts_with("docker rm") {
            // Two plugin calls in a row (Leave, then DeleteEndpoint), each failing.
            2 * OUTAGE_ERROR_WITHIN + DOCKER_ALLOWANCE
        } else if what.starts_with("docker") {
            OUTAGE_ERROR_WITHIN + DOCKER_ALLOWANCE
        } else {
            OUTAGE_ERROR_WITHIN
        };
        match result {
            Err(problem) => problems.push(format!("{what}: {problem}")),
            Ok(message) if !what.starts_with("docker rm") => {
                if !message.to_lowercase().contains("ovsdb") {
                    problems.push(format!(
                        "{what}: the error should say OVSDB is unavailable, got {message:?}"
                    ));
                }
            }
            Ok(_) => {}
        }
        if *took > limit {
            problems.push(format!(
                "{what}: expected an answer within {limit:?}, took {took:?}"
            ));
        }
    }
    env_assert!(
        env,
        env.driver_alive(),
        "the driver must survive the OVSDB outage"
    );

    env.start_ovsdb();
    let back = Instant::now();
    eprintln!(
        "[faults] ovsdb-server was down {:.1} s",
        (back - outage).as_secs_f64()
    );
    // A request that needs OVSDB: queued by the driver's client until it is connected again,
    // then answered "not found". Its answer time is the reconnection time.
    let probe = create_endpoint_body(&id, &random_id(), "", "");
    let reconnected = wait_until(
        "the driver to answer from OVSDB again",
        Duration::from_secs(20),
        || {
            let response = env
                .try_plugin_request("/NetworkDriver.EndpointOperInfo", probe.to_string())
                .map_err(|error| format!("no HTTP response: {error}"))?;
            let message = reply_error(response.status, &response.body_text())?;
            if message.contains("not found") {
                Ok(back.elapsed())
            } else {
                Err(format!("not yet: {message}"))
            }
        },
    )
    .unwrap_or_else(|error| env.fail(&error));
    eprintln!(
        "[faults] the driver answered from OVSDB {:.2} s after ovsdb-server was back",
        reconnected.as_secs_f64()
    );
    env_assert!(
        env,
        reconnected <= RECONNECT_WITHIN,
        "the driver should reconnect to ovsdb-server within {RECONNECT_WITHIN:?}, took \
         {reconnected:?}"
    );
    for problem in &problems {
        eprintln!("[faults] PROBLEM during the OVSDB outage: {problem}");
    }

    // Nothing half-done: d2's port goes (janitor), no dbdown bridge, no d3 endpoint.
    wait_consistent(env, Duration::from_secs(15), "the OVSDB outage");
    assert_all_ping(env, &names[..1], "db", "10.53.0.1");
    // New networks and containers work.
    env.create_network("dbnew", &["--subnet", "10.53.2.0/24"]);
    env.run_container("d4", "dbnew", &[]);
    env.docker_ok(&["start", "d3"]);
    assert_pings(
        env,
        &[
            ("d4".to_string(), "10.53.2.1".to_string()),
            ("d3".to_string(), "10.53.0.1".to_string()),
            ("d3".to_string(), env.container_net("d1", "db").ipv4),
        ],
    );
    wait_consistent(
        env,
        Duration::from_secs(15),
        "new networks after the outage",
    );
    env_assert!(
        env,
        problems.is_empty(),
        "plugin calls during the OVSDB outage (each should fail with a clear error naming \
         OVSDB, within the limit):\n  {}",
        problems.join("\n  ")
    );
}

fn dockerd_restart_brings_endpoints_back(env: &Env) {
    env.create_network("rs1", &["--subnet", "10.54.1.0/24"]);
    env.create_network("rs2", &["--subnet", "10.54.2.0/24"]);
    let policy = ["--restart=always", "--stop-timeout", "1"];
    let names: Vec<String> = ["r1", "r2", "r3"].map(String::from).to_vec();
    env.run_container("r1", "rs1", &policy);
    env.run_container("r2", "rs1", &policy);
    env.run_container("r3", "rs2", &policy);
    env.docker_ok(&["network", "connect", "rs1", "r3"]);
    let attached = |name: &str| -> BTreeSet<String> {
        let text = env.docker_ok(&[
            "inspect",
            "-f",
            "{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}",
            name,
        ]);
        text.split_whitespace().map(str::to_string).collect()
    };
    let before: BTreeMap<String, BTreeSet<String>> = names
        .iter()
        .map(|name| (name.clone(), attached(name)))
        .collect();
    let old_endpoints: Vec<String> = ["rs1", "rs2"]
        .iter()
        .flat_map(|network| {
            let networks = &before;
            names
                .iter()
                .filter(move |name| networks[*name].contains(*network))
                .map(move |name| env.container_net(name, network).endpoint_id)
        })
        .collect();
    assert_all_ping(env, &names, "rs1", "10.54.1.1");
    wait_consistent(env, Duration::from_secs(10), "starting r1-r3");

    let restart = Instant::now();
    env.restart_dockerd();
    let running = wait_until(
        "the --restart=always containers to run again",
        Duration::from_secs(60),
        || {
            let states = container_states(env, &names);
            if states.values().all(|(running, _)| *running) && states.len() == names.len() {
                Ok(restart.elapsed())
            } else {
                Err(format!("states: {states:?}"))
            }
        },
    )
    .unwrap_or_else(|error| env.fail(&error));
    eprintln!(
        "[faults] dockerd restarted and r1-r3 running again after {:.1} s",
        running.as_secs_f64()
    );
    for name in &names {
        env_assert_eq!(
            env,
            attached(name),
            before[name].clone(),
            "{name} should be back on the same networks"
        );
    }
    wait_consistent(env, Duration::from_secs(20), "the dockerd restart");
    let ovs = ovs_view(env).unwrap_or_else(|error| env.fail(&error));
    let stale: Vec<&String> = old_endpoints
        .iter()
        .filter(|endpoint| ovs.interfaces.values().any(|e| e == *endpoint))
        .collect();
    env_assert!(
        env,
        stale.is_empty(),
        "endpoints from before the restart should be gone from OVSDB: {stale:?}"
    );
    assert_all_ping(env, &names, "rs1", "10.54.1.1");
    assert_pings(env, &[("r3".to_string(), "10.54.2.1".to_string())]);
}

// ------------------------------------------------------------------------------ environment C

#[test]
fn faults_hostile_plugin_input_and_socket_safety() {
    let env = Env::start(EnvOptions {
        // 10,000 refused requests are 10,000 warnings; debug would add every body.
        driver_log_filter: "info".to_string(),
        ..EnvOptions::default()
    });
    run_scenarios(
        &env,
        &[
            (
                "hostile_requests_get_errors_and_change_nothing",
                hostile_requests_get_errors_and_change_nothing,
            ),
            (
                "plugin_socket_is_private_and_unsafe_places_are_refused",
                plugin_socket_is_private_and_unsafe_places_are_refused,
            ),
        ],
    );
}

/// splitmix64: small, deterministic, good enough to pick cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn choose<T: Copy>(&mut self, items: &[T]) -> T {
        *self.pick(items)
    }

    fn hex(&mut self, digits: usize) -> String {
        (0..digits)
            .map(|_| char::from(b"0123456789abcdef"[self.below(16)]))
            .collect()
    }

    fn bytes(&mut self, count: usize) -> Vec<u8> {
        (0..count).map(|_| self.next() as u8).collect()
    }
}

/// What a hostile request must get back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A JSON object with a non-empty `Err` (any status: the server answers 400 for bad
    /// requests, 404 for unknown ids, 405 for other HTTP methods, 413 for bodies over 1 MiB;
    /// Docker's plugin client reads `Err` from any status).
    Err,
    /// HTTP 404: unknown method (path).
    NotFound,
    /// HTTP 200 `{}`: a delete of an id that does not exist, which the protocol requires to
    /// succeed (Docker retries deletes); it must change nothing.
    EmptyOk,
    /// Either of the two: a Leave of an endpoint that does not exist may be refused, or taken
    /// as already done (it is after a janitor removed the endpoint).
    ErrOrEmptyOk,
    /// Not HTTP at all, or broken HTTP: any status >= 400, or the connection closed.
    Refused,
}

struct Hostile {
    kind: &'static str,
    method: &'static str,
    path: String,
    body: Vec<u8>,
    /// Bytes sent as they are instead of an HTTP request built from the fields above.
    raw: Option<Vec<u8>>,
    expect: Expect,
    /// A word the `Err` must contain (the option key, for refused options).
    mentions: Option<&'static str>,
}

/// Every method that decodes its body.
const DECODING: [&str; 13] = [
    "NetworkDriver.CreateNetwork",
    "NetworkDriver.DeleteNetwork",
    "NetworkDriver.AllocateNetwork",
    "NetworkDriver.FreeNetwork",
    "NetworkDriver.CreateEndpoint",
    "NetworkDriver.EndpointOperInfo",
    "NetworkDriver.DeleteEndpoint",
    "NetworkDriver.Join",
    "NetworkDriver.Leave",
    "NetworkDriver.DiscoverNew",
    "NetworkDriver.DiscoverDelete",
    "NetworkDriver.ProgramExternalConnectivity",
    "NetworkDriver.RevokeExternalConnectivity",
];

/// Option values that must never become interface or bridge names.
const UNSAFE_NAMES: [&str; 16] = [
    "../x",
    "a b",
    "x/y",
    "..",
    ".",
    "",
    "br0;reboot",
    "$(id)",
    "`id`",
    "-",
    "bridge\n",
    "tab\there",
    "brüdge",
    "网络",
    "\u{0}nul",
    "abcdefghijklmnop",
];

/// Interface name rule of the driver (README "Network options"), to keep generated names bad.
fn valid_interface_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

fn unsafe_name(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => rng.pick(&UNSAFE_NAMES).to_string(),
        1 => "x".repeat(16 + rng.below(100)),
        2 => {
            let alphabet: Vec<char> = "aZ09_.-/ \\\"'$;|&<>*?~é😀\u{202e}\u{0}\n"
                .chars()
                .collect();
            let name: String = (0..1 + rng.below(40))
                .map(|_| rng.choose(&alphabet))
                .collect();
            if valid_interface_name(&name) {
                format!("{name}/")
            } else {
                name
            }
        }
        _ => format!("{}/../{}", rng.hex(4), rng.hex(4)),
    }
}

/// Values that are not valid for the numeric and boolean options, huge numbers first.
fn bad_option(rng: &mut Rng) -> (&'static str, Value) {
    let huge: [Value; 8] = [
        json!(18446744073709551615u64),
        json!(-9223372036854775807i64),
        json!(1e300),
        json!("99999999999999999999999999999"),
        json!("-1"),
        json!(0),
        json!("1.5"),
        json!("0x10"),
    ];
    match rng.below(6) {
        0 => ("ovs.mtu", rng.pick(&huge).clone()),
        1 => ("ovs.mtu", json!(rng.pick(&[67u64, 65536, 4294967296]))),
        2 => ("ovs.vlan", rng.pick(&huge).clone()),
        3 => ("ovs.vlan", json!(rng.pick(&["4095", "5000", "65536"]))),
        4 => ("ovs.icc", json!(rng.pick(&["maybe", "", "2", "truee"]))),
        _ => ("ovs.arp_responder", json!(rng.pick(&["nope", "-1", "tru"]))),
    }
}

/// A structurally valid request for `method` whose ids never exist (random), except where
/// `real_network` is used in ways that cannot change it.
fn template(rng: &mut Rng, method: &str) -> Value {
    let id = |rng: &mut Rng| rng.hex(64);
    match method {
        "NetworkDriver.CreateNetwork" | "NetworkDriver.AllocateNetwork" => create_network_body(
            &id(rng),
            "10.77.0.0/24",
            "10.77.0.1/24",
            json!({"ovs.mtu": "1400"}),
        ),
        "NetworkDriver.CreateEndpoint" => {
            create_endpoint_body(&id(rng), &id(rng), "10.77.0.2/24", "02:42:0a:4d:00:02")
        }
        "NetworkDriver.Join" => json!({
            "NetworkID": id(rng),
            "EndpointID": id(rng),
            "SandboxKey": "/var/run/docker/netns/0123456789ab",
            "Options": {}
        }),
        "NetworkDriver.DeleteNetwork" | "NetworkDriver.FreeNetwork" => {
            json!({"NetworkID": id(rng)})
        }
        "NetworkDriver.DiscoverNew" | "NetworkDriver.DiscoverDelete" => {
            json!({"DiscoveryType": 1, "DiscoveryData": {"Address": "10.0.0.1"}})
        }
        _ => json!({"NetworkID": id(rng), "EndpointID": id(rng)}),
    }
}

/// A value of a JSON type other than the one `current` has (never null, which serde may take
/// as a default).
fn wrong_type(rng: &mut Rng, current: &Value) -> Value {
    let candidates: Vec<Value> = vec![
        json!(rng.next()),
        json!(-(rng.below(1000) as i64) - 1),
        json!(true),
        json!([1, "two", {"three": 3}]),
        json!({"nested": {"deeper": [rng.hex(8)]}}),
        json!(format!("{}ü\u{202e}", rng.hex(6))),
        json!(1e300),
    ];
    loop {
        let candidate = rng.pick(&candidates).clone();
        let same = matches!(
            (&candidate, current),
            (Value::Number(_), Value::Number(_))
                | (Value::Bool(_), Value::Bool(_))
                | (Value::String(_), Value::String(_))
                | (Value::Array(_), Value::Array(_))
                | (Value::Object(_), Value::Object(_))
        );
        if !same {
            return candidate;
        }
    }
}

/// Replaces one field (at the top or one level down) of a request by a wrongly typed value.
fn mistype(rng: &mut Rng, request: &mut Value) {
    let Some(object) = request.as_object_mut() else {
        return;
    };
    let keys: Vec<String> = object.keys().cloned().collect();
    let key = rng.pick(&keys).clone();
    let field = object.get_mut(&key).expect("picked key");
    // One level down into Interface / IPv4Data entries, sometimes.
    let nested = match field {
        Value::Object(inner) if !inner.is_empty() && key != "Options" && rng.below(2) == 0 => {
            let inner_keys: Vec<String> = inner.keys().cloned().collect();
            let inner_key = rng.pick(&inner_keys).clone();
            inner.get_mut(&inner_key)
        }
        Value::Array(items) if !items.is_empty() && rng.below(2) == 0 => match items.first_mut() {
            Some(Value::Object(inner)) if !inner.is_empty() => {
                let inner_keys: Vec<String> = inner.keys().cloned().collect();
                let inner_key = rng.pick(&inner_keys).clone();
                inner.get_mut(&inner_key)
            }
            _ => None,
        },
        _ => None,
    };
    match nested {
        Some(inner) => {
            let replacement = wrong_type(rng, inner);
            *inner = replacement;
        }
        None => {
            let replacement = wrong_type(rng, field);
            *field = replacement;
        }
    }
}

/// Byte-level damage to a valid JSON body; always ends up as invalid JSON.
fn damage(rng: &mut Rng, body: &[u8]) -> Vec<u8> {
    let mut bytes = body.to_vec();
    for _ in 0..1 + rng.below(4) {
        if bytes.is_empty() {
            break;
        }
        let at = rng.below(bytes.len());
        match rng.below(5) {
            0 => bytes[at] ^= 1 << rng.below(8),
            1 => {
                bytes.remove(at);
            }
            2 => bytes.insert(at, rng.choose(b"{}[]\",:\\\x00\xff")),
            3 => bytes.truncate(at),
            _ => {
                let end = (at + 1 + rng.below(16)).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                bytes.splice(at..at, copy);
            }
        }
    }
    if serde_json::from_slice::<Value>(&bytes).is_ok() || bytes.iter().all(u8::is_ascii_whitespace)
    {
        bytes.extend_from_slice(b"}x");
    }
    bytes
}

fn post(kind: &'static str, method: &str, body: Vec<u8>, expect: Expect) -> Hostile {
    Hostile {
        kind,
        method: "POST",
        path: format!("/{method}"),
        body,
        raw: None,
        expect,
        mentions: None,
    }
}

const TEN_MIB: usize = 10 << 20;

/// The `index`-th hostile request of a run. `real_network` exists (with one container) and
/// must survive everything.
fn hostile(rng: &mut Rng, index: usize, real_network: &str) -> Hostile {
    // A few 10 MiB bodies, spread over the run (the first within the first 1000 requests).
    if index % 1000 == 500 {
        let method = rng.pick(&DECODING);
        let mut body = br#"{"NetworkID":""#.to_vec();
        body.resize(TEN_MIB, b'a');
        body.extend_from_slice(br#""}"#);
        return post("10 MiB body", method, body, Expect::Err);
    }
    match rng.below(100) {
        // Not JSON at all.
        0..=9 => {
            let method = rng.pick(&DECODING);
            let count = rng.below(512);
            let mut body = rng.bytes(count);
            if serde_json::from_slice::<Value>(&body).is_ok()
                || body.iter().all(u8::is_ascii_whitespace)
            {
                body.push(b'{');
            }
            post("random bytes", method, body, Expect::Err)
        }
        // Valid requests with bytes damaged.
        10..=29 => {
            let method = rng.pick(&DECODING);
            let body = template(rng, method).to_string().into_bytes();
            post("damaged JSON", method, damage(rng, &body), Expect::Err)
        }
        // Fields of the wrong type, huge numbers among them.
        30..=44 => {
            let method = rng.choose(&DECODING);
            let mut request = template(rng, method);
            if method.starts_with("NetworkDriver.Discover") {
                // Discover* takes any JSON: wrong types there are fine; send a non-object.
                request = json!(["not", "an", "object"]);
                let mut body = request.to_string().into_bytes();
                body.extend_from_slice(b",");
                return post("wrong types", method, body, Expect::Err);
            }
            mistype(rng, &mut request);
            post(
                "wrong types",
                method,
                request.to_string().into_bytes(),
                Expect::Err,
            )
        }
        // Unsafe interface names as option values.
        45..=56 => {
            let key = rng.choose(&["ovs.bridge", "ovs.uplink"]);
            let request = create_network_body(
                &rng.hex(64),
                "10.77.1.0/24",
                "10.77.1.1/24",
                json!({ key: unsafe_name(rng) }),
            );
            let mut case = post(
                "unsafe option value",
                "NetworkDriver.CreateNetwork",
                request.to_string().into_bytes(),
                Expect::Err,
            );
            case.mentions = Some(key);
            case
        }
        // Bad numbers and booleans, unknown ovs.* keys.
        57..=63 => {
            let (key, value) = if rng.below(4) == 0 {
                ("ovs.", json!("1"))
            } else {
                bad_option(rng)
            };
            let generic = if key == "ovs." {
                let mut map = serde_json::Map::new();
                map.insert(format!("ovs.{}", unsafe_name(rng)), value);
                Value::Object(map)
            } else {
                json!({ key: value })
            };
            let request =
                create_network_body(&rng.hex(64), "10.77.2.0/24", "10.77.2.1/24", generic);
            let mut case = post(
                "bad option value",
                "NetworkDriver.CreateNetwork",
                request.to_string().into_bytes(),
                Expect::Err,
            );
            case.mentions = Some(if key == "ovs." { "ovs." } else { key });
            case
        }
        // Ids that are not ids: too short, too long, upper case, unicode, path-like.
        64..=71 => {
            let method = rng.choose(&DECODING[..9]);
            let bad_id = match rng.below(6) {
                0 => rng.hex(11),
                1 => {
                    let count = 65 + rng.below(100);
                    rng.hex(count)
                }
                2 => rng.hex(64).to_uppercase(),
                3 => format!("{}ü{}", rng.hex(30), rng.hex(30)),
                4 => format!("../{}", rng.hex(61)),
                _ => format!("{} {}", rng.hex(20), rng.hex(20)),
            };
            let mut request = template(rng, method);
            let field = if method.contains("Endpoint") || method.contains("Join") {
                rng.choose(&["NetworkID", "EndpointID"])
            } else {
                "NetworkID"
            };
            request[field] = json!(bad_id);
            let mut case = post(
                "malformed id",
                method,
                request.to_string().into_bytes(),
                Expect::Err,
            );
            case.mentions = Some(field);
            case
        }
        // Ids that do not exist, and bad values next to the real network's id.
        72..=83 => {
            let real = real_network;
            let digits = 12 + rng.below(53);
            let random = rng.hex(digits);
            match rng.below(8) {
                0 => post(
                    "unknown network",
                    "NetworkDriver.CreateEndpoint",
                    create_endpoint_body(&random, &rng.hex(64), "10.77.3.2/24", "")
                        .to_string()
                        .into_bytes(),
                    Expect::Err,
                ),
                1 => {
                    let method = rng.choose(&[
                        "NetworkDriver.Join",
                        "NetworkDriver.Leave",
                        "NetworkDriver.EndpointOperInfo",
                    ]);
                    post(
                        "unknown endpoint",
                        method,
                        json!({"NetworkID": real, "EndpointID": random, "SandboxKey": "/x"})
                            .to_string()
                            .into_bytes(),
                        if method == "NetworkDriver.Leave" {
                            Expect::ErrOrEmptyOk
                        } else {
                            Expect::Err
                        },
                    )
                }
                2 => {
                    let address = rng.choose(&[
                        "10.77.3.256/24",
                        "10.77.3.2",
                        "not-an-address",
                        "10.77.3.2/33",
                        "::g/64",
                        "../../etc",
                        "10.77.3.2/24 ",
                    ]);
                    post(
                        "bad address on the real network",
                        "NetworkDriver.CreateEndpoint",
                        create_endpoint_body(real, &rng.hex(64), address, "")
                            .to_string()
                            .into_bytes(),
                        Expect::Err,
                    )
                }
                3 => {
                    let mac = rng.choose(&[
                        "01:00:5e:00:00:01",
                        "ff:ff:ff:ff:ff:ff",
                        "02:42:0a:4d:00",
                        "zz:42:0a:4d:00:02",
                        "02-42-0a-4d-00-02-03",
                    ]);
                    post(
                        "bad MAC on the real network",
                        "NetworkDriver.CreateEndpoint",
                        create_endpoint_body(real, &rng.hex(64), "10.60.0.77/24", mac)
                            .to_string()
                            .into_bytes(),
                        Expect::Err,
                    )
                }
                4 => post(
                    "conflicting CreateNetwork for the real network",
                    "NetworkDriver.CreateNetwork",
                    create_network_body(
                        real,
                        &format!("10.78.{}.0/24", rng.below(250)),
                        "",
                        json!({}),
                    )
                    .to_string()
                    .into_bytes(),
                    Expect::Err,
                ),
                5 => post(
                    "delete of an unknown network",
                    "NetworkDriver.DeleteNetwork",
                    json!({ "NetworkID": random }).to_string().into_bytes(),
                    Expect::EmptyOk,
                ),
                6 => post(
                    "delete of an unknown endpoint",
                    "NetworkDriver.DeleteEndpoint",
                    json!({"NetworkID": real, "EndpointID": random})
                        .to_string()
                        .into_bytes(),
                    Expect::EmptyOk,
                ),
                _ => post(
                    "duplicate keys",
                    "NetworkDriver.CreateNetwork",
                    format!(
                        r#"{{"NetworkID":"{}","NetworkID":"{}","IPv4Data":[]}}"#,
                        rng.hex(64),
                        rng.hex(64)
                    )
                    .into_bytes(),
                    Expect::Err,
                ),
            }
        }
        // Unknown methods.
        84..=91 => {
            let path = match rng.below(7) {
                0 => format!("/NetworkDriver.{}", rng.hex(8)),
                1 => "/Plugin.Deactivate".to_string(),
                2 => "/networkdriver.createnetwork".to_string(),
                3 => "/NetworkDriver.CreateNetwork/../../x".to_string(),
                4 => format!("/{}", "A".repeat(1 + rng.below(2000))),
                5 => "/".to_string(),
                _ => format!("/%2e%2e/%{:02x}{}", rng.below(256), rng.hex(4)),
            };
            Hostile {
                kind: "unknown method",
                method: "POST",
                path,
                body: template(rng, "NetworkDriver.Leave")
                    .to_string()
                    .into_bytes(),
                raw: None,
                expect: Expect::NotFound,
                mentions: None,
            }
        }
        // Other HTTP methods on known paths.
        92..=94 => Hostile {
            kind: "wrong HTTP method",
            method: rng.choose(&["GET", "PUT", "DELETE", "PATCH"]),
            path: format!("/{}", rng.pick(&DECODING)),
            body: template(rng, "NetworkDriver.Leave")
                .to_string()
                .into_bytes(),
            raw: None,
            expect: Expect::Err,
            mentions: None,
        },
        // Deeply nested JSON.
        95..=96 => {
            let depth = 200 + rng.below(100_000);
            let mut body = br#"{"NetworkID":"#.to_vec();
            body.extend(std::iter::repeat_n(b'[', depth));
            body.extend(std::iter::repeat_n(b']', depth));
            body.push(b'}');
            post(
                "deeply nested JSON",
                rng.choose(&DECODING),
                body,
                Expect::Err,
            )
        }
        // Broken HTTP.
        _ => {
            let raw = match rng.below(5) {
                0 => {
                    let count = 1 + rng.below(256);
                    rng.bytes(count)
                }
                1 => b"POST /NetworkDriver.CreateNetwork HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n{}".to_vec(),
                2 => b"POST /NetworkDriver.CreateNetwork HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n".to_vec(),
                3 => {
                    let mut raw = b"POST /NetworkDriver.Leave HTTP/1.1\r\nX-Big: ".to_vec();
                    raw.resize(200_000, b'x');
                    raw.extend_from_slice(b"\r\n\r\n");
                    raw
                }
                _ => b"POST /NetworkDriver.Leave HTTP/1.1\r\nContent-Length: 50\r\n\r\n{\"NetworkID\"".to_vec(),
            };
            Hostile {
                kind: "broken HTTP",
                method: "POST",
                path: String::new(),
                body: Vec::new(),
                raw: Some(raw),
                expect: Expect::Refused,
                mentions: None,
            }
        }
    }
}

/// Sends raw bytes, half-closes, reads until EOF (or 10 s); `None` when no response came.
fn send_raw(socket: &Path, raw: &[u8]) -> Result<Option<http::HttpResponse>, String> {
    let mut stream = UnixStream::connect(socket).map_err(|error| format!("connect: {error}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|error| error.to_string())?;
    let _ = stream.write_all(raw);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut received = Vec::new();
    let started = Instant::now();
    let mut chunk = [0u8; 8192];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(count) => received.extend_from_slice(&chunk[..count]),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) if started.elapsed() >= Duration::from_secs(10) => {
                return Err(format!("no end of the response within 10 s: {error}"))
            }
            Err(_) => break,
        }
    }
    if received.is_empty() {
        return Ok(None);
    }
    http::parse_response(&received, true)
}

/// Sends one hostile request; `Err` says what was expected and what came back.
fn check_hostile(socket: &Path, case: &Hostile) -> Result<u16, String> {
    let started = Instant::now();
    let response = match &case.raw {
        Some(raw) => match send_raw(socket, raw)? {
            None => return Ok(0),
            Some(response) => response,
        },
        None => http::request(
            socket,
            case.method,
            &case.path,
            &case.body,
            Duration::from_secs(20),
        )
        .map_err(|error| format!("no HTTP response after {:?}: {error}", started.elapsed()))?,
    };
    let took = started.elapsed();
    if took > Duration::from_secs(5) {
        return Err(format!("answered only after {took:?} (expected < 5 s)"));
    }
    let body = response.body_text();
    let shown = cmd::clip(&body, 300);
    match case.expect {
        Expect::NotFound if response.status == 404 => {}
        Expect::NotFound => {
            return Err(format!(
                "expected 404, got HTTP {}: {shown}",
                response.status
            ))
        }
        Expect::EmptyOk if response.status == 200 && body.trim() == "{}" => {}
        Expect::EmptyOk => {
            return Err(format!(
                "expected HTTP 200 {{}}, got HTTP {}: {shown}",
                response.status
            ))
        }
        Expect::ErrOrEmptyOk if response.status == 200 && body.trim() == "{}" => {}
        Expect::ErrOrEmptyOk if reply_error(response.status, &body).is_ok() => {}
        Expect::ErrOrEmptyOk => {
            return Err(format!(
                "expected HTTP 200 {{}} or a JSON Err, got HTTP {}: {shown}",
                response.status
            ))
        }
        Expect::Refused if response.status >= 400 => {}
        Expect::Refused => {
            return Err(format!(
                "expected a 4xx/5xx or a closed connection, got HTTP {}: {shown}",
                response.status
            ))
        }
        Expect::Err => {
            let message = reply_error(response.status, &body)
                .map_err(|problem| format!("expected a JSON Err: {problem}"))?;
            if let Some(word) = case.mentions {
                if !message.contains(word) {
                    return Err(format!(
                        "expected the Err to name {word}, got {:?}",
                        cmd::clip(&message, 300)
                    ));
                }
            }
        }
    }
    Ok(response.status)
}

/// VmRSS of a process in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Everything hostile requests could change: OVSDB's bridges, ports and interfaces (with
/// their external_ids), the flows, and the links and addresses in the netns.
fn state_snapshot(env: &Env) -> Vec<String> {
    let mut lines = Vec::new();
    for (table, columns) in [
        (
            "Bridge",
            "name,external_ids,other_config,fail_mode,protocols,datapath_type",
        ),
        ("Port", "name,external_ids,tag"),
        (
            "Interface",
            "name,type,external_ids,ofport_request,mtu_request",
        ),
    ] {
        let rows = vsctl_rows(env, &[&format!("--columns={columns}"), "list", table])
            .unwrap_or_else(|error| env.fail(&error));
        let mut rendered: Vec<String> = rows
            .iter()
            .map(|row| format!("{table} {}", serde_json::to_string(row).unwrap_or_default()))
            .collect();
        rendered.sort();
        lines.extend(rendered);
    }
    for bridge in env.bridges() {
        lines.extend(
            pipeline(env, &bridge)
                .unwrap_or_else(|error| env.fail(&error))
                .into_iter()
                .map(|flow| format!("flow {bridge} {flow}")),
        );
        lines.extend(
            env.ports(&bridge)
                .into_iter()
                .map(|p| format!("port {bridge} {p}")),
        );
    }
    let mut links: Vec<String> = env
        .ip_ok(&["-o", "addr", "show"])
        .lines()
        .map(|line| {
            line.split_whitespace()
                .skip(1)
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    links.extend(env.links().into_iter().map(|link| format!("link {link}")));
    links.sort();
    lines.extend(links);
    lines
}

const HOSTILE_REQUESTS: usize = 10_000;
const HOSTILE_THREADS: usize = 4;
/// Bound on the driver's resident memory during the run.
const RSS_LIMIT_KIB: u64 = 64 * 1024;
/// Bound on its growth after the first 1000 requests (the 10 MiB bodies, the allocator's
/// arenas and hyper's buffers are all warmed up by then).
const RSS_GROWTH_KIB: u64 = 8 * 1024;

fn hostile_requests_get_errors_and_change_nothing(env: &Env) {
    let network = env.create_network("fz", &["--subnet", "10.60.0.0/24"]);
    env.run_container("f1", "fz", &[]);
    assert_all_ping(env, &["f1".to_string()], "fz", "10.60.0.1");
    let before = state_snapshot(env);
    let pid = env
        .driver_pid()
        .unwrap_or_else(|| env.fail("the driver is not running"));
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    env_assert!(
        env,
        comm.trim() == "ovs-driver",
        "pid {pid} should be the driver itself (nsenter execs it), it is {comm:?}"
    );
    let seed: u64 = std::env::var("OVS_E2E_FUZZ_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(1, |since| since.as_nanos() as u64)
        });
    eprintln!(
        "[faults] hostile requests: seed {seed} (repeat with OVS_E2E_FUZZ_SEED={seed}); \
         {HOSTILE_REQUESTS} requests on {HOSTILE_THREADS} threads"
    );
    let rss_start = rss_kib(pid).unwrap_or(0);
    let sent = AtomicUsize::new(0);
    let rss_after_1000 = Mutex::new(None::<u64>);
    let rss_max = Mutex::new(rss_start);
    let started = Instant::now();
    let socket = env.plugin_socket().to_path_buf();
    let per_thread = HOSTILE_REQUESTS / HOSTILE_THREADS;
    type Outcome = (BTreeMap<String, usize>, Vec<String>);
    let outcomes: Vec<Outcome> = thread::scope(|scope| {
        let handles: Vec<_> = (0..HOSTILE_THREADS)
            .map(|thread_index| {
                let (socket, sent, network) = (&socket, &sent, &network);
                let (rss_after_1000, rss_max) = (&rss_after_1000, &rss_max);
                scope.spawn(move || {
                    let mut rng = Rng(seed ^ (thread_index as u64).wrapping_mul(0x2545_f491));
                    let mut counts = BTreeMap::new();
                    let mut failures = Vec::new();
                    for local in 0..per_thread {
                        let index = local * HOSTILE_THREADS + thread_index;
                        let case = hostile(&mut rng, index, network);
                        let outcome = check_hostile(socket, &case);
                        let status = match &outcome {
                            Ok(status) => *status,
                            Err(_) => 999,
                        };
                        *counts
                            .entry(format!("{} -> {}", case.kind, status))
                            .or_insert(0) += 1;
                        if let Err(problem) = outcome {
                            if failures.len() < 20 {
                                let sent = case.raw.as_ref().unwrap_or(&case.body);
                                failures.push(format!(
                                    "request #{index} ({}, {} {}, {} bytes): {problem}; \
                                     starts {:?}",
                                    case.kind,
                                    case.method,
                                    cmd::clip(&case.path, 80),
                                    sent.len(),
                                    String::from_utf8_lossy(&sent[..sent.len().min(160)])
                                ));
                            }
                        }
                        let total = sent.fetch_add(1, Ordering::Relaxed) + 1;
                        if total % 250 == 0 {
                            if let Some(rss) = rss_kib(pid) {
                                let mut max = rss_max.lock().unwrap_or_else(|p| p.into_inner());
                                *max = (*max).max(rss);
                                if total == 1000 {
                                    *rss_after_1000.lock().unwrap_or_else(|p| p.into_inner()) =
                                        Some(rss);
                                }
                            } else {
                                failures.push(format!(
                                    "the driver (pid {pid}) is gone after {total} requests"
                                ));
                                return (counts, failures);
                            }
                        }
                    }
                    (counts, failures)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("hostile request thread"))
            .collect()
    });
    let elapsed = started.elapsed();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for (thread_counts, thread_failures) in outcomes {
        for (key, count) in thread_counts {
            *counts.entry(key).or_insert(0) += count;
        }
        failures.extend(thread_failures);
    }
    let rss_end = rss_kib(pid);
    let rss_after_1000 = rss_after_1000
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    let rss_max = rss_max.into_inner().unwrap_or_else(|p| p.into_inner());
    eprintln!(
        "[faults] {} hostile requests in {:.1} s ({:.0}/s); driver RSS {} KiB at the start, {:?} \
         KiB after 1000, {:?} KiB at the end, {} KiB at most",
        sent.load(Ordering::Relaxed),
        elapsed.as_secs_f64(),
        sent.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64(),
        rss_start,
        rss_after_1000,
        rss_end,
        rss_max
    );
    for (key, count) in &counts {
        eprintln!("[faults]   {count:5} x {key}");
    }
    env_assert!(
        env,
        env.driver_alive() && env.driver_pid() == Some(pid),
        "the driver (pid {pid}) must survive the hostile requests"
    );
    env_assert!(
        env,
        failures.is_empty(),
        "every hostile request should get an Err (or 404, or {{}} for deletes of unknown ids); \
         seed {seed}; first failures:\n  {}",
        failures.join("\n  ")
    );
    let rss_end = rss_end.unwrap_or(0);
    env_assert!(
        env,
        rss_max < RSS_LIMIT_KIB,
        "driver RSS should stay below {RSS_LIMIT_KIB} KiB, reached {rss_max} KiB (seed {seed})"
    );
    if let Some(after_1000) = rss_after_1000 {
        env_assert!(
            env,
            rss_end <= after_1000 + RSS_GROWTH_KIB,
            "driver RSS should grow by at most {RSS_GROWTH_KIB} KiB after the first 1000 \
             requests: {after_1000} KiB then, {rss_end} KiB at the end (seed {seed})"
        );
    }
    let after = state_snapshot(env);
    if before != after {
        let gone: Vec<_> = before.iter().filter(|l| !after.contains(l)).collect();
        let new: Vec<_> = after.iter().filter(|l| !before.contains(l)).collect();
        env.fail(&format!(
            "hostile requests changed the state (seed {seed}): expected it unchanged; gone \
             {gone:#?}\nnew {new:#?}"
        ));
    }
    let (code, body) = env.plugin_request("/Plugin.Activate", "");
    env_assert_eq!(
        env,
        code,
        200,
        "Plugin.Activate after the hostile requests: {body}"
    );
    assert_all_ping(env, &["f1".to_string()], "fz", "10.60.0.1");
    wait_consistent(env, Duration::from_secs(10), "the hostile requests");
}

/// Runs the driver binary directly (outside any environment's netns) against a plugin
/// directory, with an OVSDB remote where nothing listens; returns its output.
fn run_driver_directly(env: &Env, plugin_dir: &Path, name: &str, ovsdb: &Path) -> CmdOutput {
    let mut command = Command::new(env.driver_bin());
    command
        .arg("--ovsdb")
        .arg(format!("unix:{}", ovsdb.display()))
        .arg("--ovs-rundir")
        .arg(plugin_dir)
        .arg("--plugin-dir")
        .arg(plugin_dir)
        .args(["--plugin-name", name, "--datapath", "netdev"])
        .env("RUST_LOG", "info")
        .env("RUST_BACKTRACE", "0")
        .env("NO_COLOR", "1");
    env.run_recorded(command, Duration::from_secs(20))
}

fn plugin_socket_is_private_and_unsafe_places_are_refused(env: &Env) {
    // The environment's socket: a socket, not accessible to others.
    let meta = fs::symlink_metadata(env.plugin_socket())
        .unwrap_or_else(|error| env.fail(&format!("plugin socket: {error}")));
    env_assert!(
        env,
        meta.file_type().is_socket(),
        "{} should be a socket",
        env.plugin_socket().display()
    );
    env_assert_eq!(
        env,
        format!("{:o}", meta.mode() & 0o777),
        "660",
        "mode of the plugin socket"
    );

    let scratch = env.dir().join("sockets");
    fs::create_dir_all(&scratch).unwrap_or_else(|error| env.fail(&error.to_string()));
    // Nothing listens here; a driver that starts talking to OVSDB would connect to it.
    let fake_ovsdb_path = scratch.join("db.sock");
    let fake_ovsdb = UnixListener::bind(&fake_ovsdb_path)
        .unwrap_or_else(|error| env.fail(&format!("fake ovsdb socket: {error}")));
    fake_ovsdb
        .set_nonblocking(true)
        .unwrap_or_else(|error| env.fail(&error.to_string()));
    let mode = |path: &Path, mode: u32| {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .unwrap_or_else(|error| env.fail(&format!("chmod {}: {error}", path.display())));
    };

    // Refusals: (what, plugin dir, name, words the message must contain).
    let open = scratch.join("open");
    fs::create_dir_all(&open).unwrap_or_else(|error| env.fail(&error.to_string()));
    mode(&open, 0o777);
    let blocked = scratch.join("blocked");
    fs::create_dir_all(&blocked).unwrap_or_else(|error| env.fail(&error.to_string()));
    mode(&blocked, 0o755);
    fs::write(blocked.join("t.sock"), b"not a socket")
        .unwrap_or_else(|error| env.fail(&error.to_string()));
    let linked = scratch.join("linked");
    std::os::unix::fs::symlink(&blocked, &linked)
        .unwrap_or_else(|error| env.fail(&error.to_string()));
    let foreign = scratch.join("foreign");
    fs::create_dir_all(&foreign).unwrap_or_else(|error| env.fail(&error.to_string()));
    mode(&foreign, 0o755);
    std::os::unix::fs::chown(&foreign, Some(65534), Some(65534))
        .unwrap_or_else(|error| env.fail(&error.to_string()));
    let file_dir = scratch.join("file");
    fs::write(&file_dir, b"").unwrap_or_else(|error| env.fail(&error.to_string()));
    let plugins = env
        .plugin_socket()
        .parent()
        .expect("socket in a directory")
        .to_path_buf();
    let inode_before = meta.ino();
    let cases: Vec<(&str, PathBuf, String, Vec<&str>)> = vec![
        (
            "world-writable plugin directory",
            open.clone(),
            "t".to_string(),
            vec!["writable by everyone"],
        ),
        (
            "a regular file where the socket goes",
            blocked.clone(),
            "t".to_string(),
            vec!["is not a socket", "t.sock"],
        ),
        (
            "a plugin directory that is a symlink",
            linked.clone(),
            "t".to_string(),
            vec!["is not a directory"],
        ),
        (
            "a plugin directory owned by another user",
            foreign.clone(),
            "t".to_string(),
            vec!["owned by uid 65534"],
        ),
        (
            "a plugin directory that is a file",
            file_dir.clone(),
            "t".to_string(),
            vec!["is not a directory"],
        ),
        (
            "the live socket of another driver (this environment's)",
            plugins.clone(),
            env.driver_name().to_string(),
            vec!["another driver is already serving", env.driver_name()],
        ),
    ];
    let mut problems = Vec::new();
    for (what, dir, name, words) in &cases {
        let output = run_driver_directly(env, dir, name, &fake_ovsdb_path);
        // The refusal is the last line: `Error: <what> <path>: <why>`.
        let text = output
            .stderr
            .trim()
            .lines()
            .last()
            .unwrap_or_default()
            .to_string();
        if output.timed_out || output.success() || output.code.is_none() {
            problems.push(format!(
                "{what}: expected a non-zero exit, got {}",
                output.describe()
            ));
            continue;
        }
        let missing: Vec<_> = words.iter().filter(|word| !text.contains(**word)).collect();
        if !missing.is_empty() {
            problems.push(format!(
                "{what}: expected the last line to contain {missing:?}; stderr: {}",
                output.stderr.trim()
            ));
        }
        let dir_text = dir.display().to_string();
        if !text.contains(&dir_text) {
            problems.push(format!(
                "{what}: expected the last line to name {dir_text}; stderr: {}",
                output.stderr.trim()
            ));
        }
        if !text.starts_with("Error: ") {
            problems.push(format!(
                "{what}: expected the last line to be the error (`Error: ...`); stderr: {}",
                output.stderr.trim()
            ));
        }
        eprintln!("[faults] refused ({what}): exit {:?}: {text}", output.code);
        // A refused driver must not have touched OVSDB (or anything else) first.
        if fake_ovsdb.accept().is_ok() {
            problems.push(format!(
                "{what}: the refused driver connected to OVSDB before giving up"
            ));
            while fake_ovsdb.accept().is_ok() {}
        }
    }
    // Nothing was replaced or created.
    let content = fs::read(blocked.join("t.sock")).unwrap_or_default();
    if content != b"not a socket" {
        problems.push(format!("the regular file t.sock was changed: {content:?}"));
    }
    for dir in [&open, &foreign] {
        if dir.join("t.sock").exists() {
            problems.push(format!("a socket was created in {}", dir.display()));
        }
    }
    let inode_after = fs::symlink_metadata(env.plugin_socket()).map(|m| m.ino());
    if inode_after.as_ref().ok() != Some(&inode_before) {
        problems.push(format!(
            "the live driver's socket was replaced (inode {inode_before} -> {inode_after:?})"
        ));
    }
    let (code, body) = env.plugin_request("/Plugin.Activate", "");
    if code != 200 {
        problems.push(format!(
            "the live driver should still answer after the refused start: HTTP {code}: {body}"
        ));
    }

    // A driver started under umask 000 still makes its socket 0660, and removes it on SIGTERM.
    let private = scratch.join("private");
    fs::create_dir_all(&private).unwrap_or_else(|error| env.fail(&error.to_string()));
    mode(&private, 0o755);
    let script = format!(
        "umask 000; exec {} --ovsdb unix:{} --ovs-rundir {dir} --plugin-dir {dir} --plugin-name \
         t --datapath netdev",
        env.driver_bin().display(),
        fake_ovsdb_path.display(),
        dir = private.display()
    );
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| env.fail(&format!("spawn driver: {error}")));
    let socket = private.join("t.sock");
    let served = wait_until(
        "the umask-000 driver's socket",
        Duration::from_secs(15),
        || {
            UnixStream::connect(&socket)
                .map(drop)
                .map_err(|error| format!("{}: {error}", socket.display()))
        },
    );
    let socket_mode = fs::symlink_metadata(&socket).map(|m| m.mode() & 0o777);
    process::send_signal(child.id() as i32, libc::SIGTERM);
    let status = {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
        }
    };
    match served {
        Err(error) => problems.push(format!("umask 000: {error}")),
        Ok(()) => {
            if socket_mode.as_ref().ok() != Some(&0o660) {
                problems.push(format!(
                    "umask 000: expected socket mode 660, got {socket_mode:?}"
                ));
            }
            if !status.is_some_and(|status| status.success()) {
                problems.push(format!(
                    "umask 000: expected exit 0 on SIGTERM, got {status:?}"
                ));
            }
            if socket.exists() {
                problems.push("umask 000: the socket should be removed on SIGTERM".to_string());
            }
        }
    }
    let _ = fs::remove_dir_all(&scratch);
    env_assert!(
        env,
        problems.is_empty(),
        "plugin socket safety:\n  {}",
        problems.join("\n  ")
    );
}
