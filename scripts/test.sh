#!/usr/bin/env bash
# The project's test command (see README): formatting, lints, build, then every test,
# including the end-to-end tests that start private ovsdb-server, ovs-vswitchd, dockerd and
# the driver in network namespaces of their own (no system OVS or Docker service is needed).
#
# Run as root. Extra arguments go to `cargo test`, e.g.
#   scripts/test.sh -- --nocapture            # show harness progress and scenario timings
#   scripts/test.sh --test driver_e2e         # only the driver end-to-end tests
# Environment: CARGO_TARGET_DIR is honoured; OVS_DRIVER_BIN overrides the driver binary the
# end-to-end tests run; OVS_E2E_RUST_LOG sets the driver's RUST_LOG (default debug).
set -euo pipefail

cd "$(dirname "$0")/.."

if [[ ${EUID} -ne 0 ]]; then
    echo "scripts/test.sh: must run as root (network namespaces, Open vSwitch, dockerd)" >&2
    exit 1
fi

scripts/install-deps.sh

for tool in ovsdb-server ovs-vswitchd ovs-vsctl ovs-ofctl ovsdb-tool dockerd docker busybox ip ping nsenter unshare tar; do
    if ! command -v "${tool}" >/dev/null; then
        echo "scripts/test.sh: ${tool} not found after installing dependencies" >&2
        exit 1
    fi
done

step() {
    echo
    echo "==== $* ===="
}

step cargo fmt --check
cargo fmt --all -- --check

step cargo clippy
cargo clippy --workspace --all-targets --locked -- -D warnings

step cargo build
# Builds the ovs-driver binary that the end-to-end tests run.
cargo build --workspace --locked

step cargo test
# --no-fail-fast: a failing test binary must not hide the results of the others.
cargo test --workspace --locked --no-fail-fast "$@"

# The README's set-up command itself: install.sh (twice, then with an upgraded binary), a ping
# between two containers on an ovs network and uninstall.sh, in namespaces of their own with
# scratch copies of /run, /etc/default and the install paths. Skipped when only some tests
# were asked for.
if [[ $# -eq 0 ]]; then
    step deploy/verify-install.sh
    target_dir=${CARGO_TARGET_DIR:-target}
    [[ ${target_dir} == /* ]] || target_dir=$(pwd)/${target_dir}
    OVS_DRIVER_BINARY="${target_dir}/debug/ovs-driver" deploy/verify-install.sh
fi
