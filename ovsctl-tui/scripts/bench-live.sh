#!/usr/bin/env bash
# Measured run of ovsctl-tui against a real bridge with many flows: starts a private
# ovsdb-server and ovs-vswitchd (userspace datapath) in a network namespace of its own, adds a
# bridge with a few internal ports and N flows (ovs-ofctl add-flows), then runs
# `ovsctl-tui bench --live` (frame times of every view and RSS while the real collectors poll)
# and prints the one-shot commands' timings. Everything is removed on exit.
#
# Usage: ovsctl-tui/scripts/bench-live.sh [FLOWS] [SECONDS]   (as root)
# OVSCTL_TUI_BIN selects the binary (default: release build in $CARGO_TARGET_DIR or target/).
set -euo pipefail

flows=${1:-10000}
seconds=${2:-10}
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${OVSCTL_TUI_BIN:-${CARGO_TARGET_DIR:-$here/target}/release/ovsctl-tui}
[ -x "$bin" ] || { echo "build it first: cargo build --release -p ovsctl-tui ($bin)" >&2; exit 1; }

dir=$(mktemp -d /tmp/ovtb-XXXXXX)
ns=ovtb-$(basename "$dir" | cut -d- -f2)
cleanup() {
    for pidfile in "$dir"/ovs-vswitchd.pid "$dir"/ovsdb-server.pid; do
        [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    sleep 0.5
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

export OVS_RUNDIR=$dir OVS_DBDIR=$dir OVS_LOGDIR=$dir
ip netns add "$ns"
ip -n "$ns" link set lo up
ovsdb-tool create "$dir/conf.db" /usr/share/openvswitch/vswitch.ovsschema
ip netns exec "$ns" ovsdb-server "$dir/conf.db" --remote="punix:$dir/db.sock" \
    --pidfile="$dir/ovsdb-server.pid" --unixctl="$dir/ovsdb-server.ctl" \
    --log-file="$dir/ovsdb-server.log" --detach --no-chdir -vconsole:off
ovs-vsctl --db="unix:$dir/db.sock" --no-wait init
ip netns exec "$ns" ovs-vswitchd "unix:$dir/db.sock" --pidfile="$dir/ovs-vswitchd.pid" \
    --unixctl="$dir/ovs-vswitchd.ctl" --log-file="$dir/ovs-vswitchd.log" --detach --no-chdir -vconsole:off
vsctl() { ovs-vsctl --db="unix:$dir/db.sock" --timeout=30 "$@"; }
vsctl add-br br-bench -- set Bridge br-bench datapath_type=netdev fail_mode=secure
for i in 1 2 3; do
    vsctl add-port br-bench p$i -- set Interface p$i type=internal ofport_request=$i
done

awk -v n="$flows" 'BEGIN {
    for (i = 0; i < n; i++) {
        a = int(i / 250) % 250; b = i % 250
        printf "table=2,priority=%d,cookie=0xdc01%012x,tcp,nw_dst=10.%d.%d.%d,tp_dst=%d,actions=mod_dl_dst:02:42:0a:%02x:%02x:%02x,output:%d\n",
            1000 + i % 7, i, 100 + int(i / 62500), a, b, 1024 + i % 4000, i % 256, a, b, 1 + i % 3
    }
}' > "$dir/flows.txt"
ms() { echo $(( $(date +%s%N) / 1000000 )); }
start=$(ms)
ovs-ofctl --timeout=60 -O OpenFlow13 add-flows br-bench "$dir/flows.txt"
echo "added $(ovs-ofctl -O OpenFlow13 dump-aggregate br-bench | grep -o 'flow_count=[0-9]*') in $(( $(ms) - start )) ms"

common=(--ovsdb "unix:$dir/db.sock" --ovs-rundir "$dir" --docker-host none)
"$bin" "${common[@]}" bench --live br-bench --flows "$flows" --seconds "$seconds"
for cmd in "show" "show --json" "flows br-bench" "flows br-bench --json"; do
    start=$(ms)
    # shellcheck disable=SC2086
    lines=$("$bin" "${common[@]}" $cmd | wc -l)
    printf '  %-28s %6d lines in %5d ms\n' "ovsctl-tui $cmd" "$lines" "$(( $(ms) - start ))"
done
if [ -x /usr/bin/time ]; then
    /usr/bin/time -f '  flows --json: max RSS %M KiB' "$bin" "${common[@]}" flows br-bench --json >/dev/null
fi
"$bin" "${common[@]}" trace br-bench "in_port=1,tcp,nw_dst=10.100.0.5,tp_dst=1029" | tail -3
