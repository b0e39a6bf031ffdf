//! Self-test of the harness, independent of the driver: an environment with OVS and dockerd
//! starts, runs a container, and leaves nothing behind once dropped.

use std::path::Path;
use std::time::Duration;

use e2e_tests::{run_container_args, wait_until, Env, EnvOptions};

#[test]
fn environment_starts_runs_a_container_and_leaves_nothing_behind() {
    let env = Env::start(EnvOptions::without_driver());
    let footprint = env.footprint();
    assert!(Path::new("/run/netns").join(env.netns()).exists());

    env.docker_ok(&[
        "run",
        "--rm",
        "--pull",
        "never",
        "--network",
        "none",
        "busybox",
        "true",
    ]);

    // A long-running container and an OVS bridge in the netns, so teardown has work to do.
    env.docker_ok(&run_container_args("sleeper", "none", &[]));
    env.vsctl_ok(&[
        "add-br",
        "brtest",
        "--",
        "set",
        "Bridge",
        "brtest",
        "datapath_type=netdev",
    ]);
    assert!(env.bridge_exists("brtest"));
    wait_until(
        "brtest to appear in the netns",
        Duration::from_secs(20),
        || {
            if env.link_exists("brtest") {
                Ok(())
            } else {
                Err(format!("links: {:?}", env.links()))
            }
        },
    )
    .unwrap_or_else(|error| env.fail(&error));
    let output = env.exec_in_netns(&["cat", "/sys/class/net/brtest/mtu"]);
    assert!(
        output.success(),
        "the holder's /sys must show the netns: {}",
        output.describe()
    );
    let ofctl = env.ofctl_ok(&["show", "brtest"]);
    assert!(ofctl.contains("LOCAL(brtest)"), "{ofctl}");
    // The bridge lives in the test netns, not in the root namespace.
    assert!(!Path::new("/sys/class/net/brtest").exists());

    env.restart_ovsdb();
    assert!(
        env.bridge_exists("brtest"),
        "the database survives an ovsdb-server restart"
    );

    drop(env);
    let leftovers = footprint.leftovers();
    assert!(leftovers.is_empty(), "left behind: {leftovers:#?}");
}
