//! Test harness: private OVS, dockerd and driver inside a network namespace.
//!
//! [`Env::start`] brings up one isolated environment (see [`env`] for the layout); dropping it
//! tears everything down again, also when the test panics, printing the tails of all logs.
//! Helpers that run tools ([`Env::docker_ok`], [`Env::vsctl_ok`], ...) panic with the
//! command's output plus those tails, so a failing end-to-end test explains itself.
//!
//! Must run as root with openvswitch-switch, docker.io, busybox-static and iproute2 installed.

pub mod cmd;
pub mod env;
pub mod http;
pub mod logs;
pub mod ovs;
pub mod process;
pub mod queries;
pub mod rootfs;
pub mod scenario;
pub mod stale;
pub mod wait;

pub use cmd::CmdOutput;
pub use env::{driver_binary, driver_binary_candidates, Env, EnvOptions, Footprint};
pub use queries::{
    bridge_name, is_driver_link, port_name, random_id, run_container_args, ContainerNet,
};
pub use scenario::{run_scenarios, Scenario};
pub use wait::{wait_for_success, wait_until};

/// Like `assert!`, but the panic message carries the environment's diagnostics.
#[macro_export]
macro_rules! env_assert {
    ($env:expr, $condition:expr, $($message:tt)+) => {
        if !$condition {
            $env.fail(&format!(
                "assertion failed: {}: {}",
                stringify!($condition),
                format!($($message)+)
            ));
        }
    };
}

/// Like `assert_eq!`, but the panic message carries the environment's diagnostics.
#[macro_export]
macro_rules! env_assert_eq {
    ($env:expr, $left:expr, $right:expr, $($message:tt)+) => {
        match (&$left, &$right) {
            (left, right) => {
                if left != right {
                    $env.fail(&format!(
                        "{}: expected {:?} == {:?}",
                        format!($($message)+),
                        left,
                        right
                    ));
                }
            }
        }
    };
}
