#!/usr/bin/env bash
# Checks install.sh and uninstall.sh end to end without touching the host: everything runs in a
# new network namespace and a private mount namespace in which /run, /var/lib/docker,
# /var/lib/ovs-docker, /etc/default, /etc/systemd/system, /usr/local/bin and /usr/local/libexec
# are scratch copies. So install.sh sees no systemd and no system OVS, and starts its private
# userspace OVS, the driver and a dockerd of its own; at the end every process in the namespace is
# killed and the scratch directory removed.
#
#   deploy/verify-install.sh            build the driver with cargo (honours CARGO_TARGET_DIR)
#   OVS_DRIVER_BINARY=PATH deploy/verify-install.sh   use a prebuilt driver
#   VERIFY_SYSTEM_OVS=1 deploy/verify-install.sh      first start a stand-in system OVS in
#                                                     /var/run/openvswitch: install.sh must use it
#
# Checks: the plugin socket appears, busybox:latest runs, a second install.sh run restarts nothing
# and keeps lines an administrator added to /etc/default/ovs-driver,
# a third with a changed binary restarts just the driver,
# an ovs network carries traffic between two containers (skipped with VERIFY_DATAPLANE=0), and
# uninstall.sh stops everything and removes the socket.
set -euo pipefail

DEPLOY=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { printf '[verify] %s\n' "$*"; }
# shellcheck source=deploy/common.sh
. "$DEPLOY/common.sh" # for process_alive: a zombie (not yet reaped by init) counts as gone
fail() {
    printf '[verify] FAILED: %s\n' "$*" >&2
    exit 1
}

# Kills every process except ourselves that lives in the network namespace with inode $1.
kill_namespace_processes() {
    local netns=$1 signal=$2 link pid
    for link in /proc/[0-9]*/ns/net; do
        pid=${link#/proc/}
        pid=${pid%%/*}
        [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
        if [[ $(readlink "$link" 2>/dev/null) == "$netns" ]]; then
            kill "-$signal" "$pid" 2>/dev/null || true
        fi
    done
}

namespace_empty() {
    local netns=$1 link pid
    for link in /proc/[0-9]*/ns/net; do
        pid=${link#/proc/}
        pid=${pid%%/*}
        [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
        [[ $(readlink "$link" 2>/dev/null) == "$netns" ]] && return 1
    done
    return 0
}

# Removes what the outer run created: processes in the private namespace, scratch space and the
# empty mount points it had to make on the host.
cleanup_outer() {
    local netns
    netns=$(cat "$work/netns" 2>/dev/null || true)
    # Never sweep the namespace we run in.
    if [[ -n $netns && $netns != "$(readlink /proc/self/ns/net)" ]]; then
        kill_namespace_processes "$netns" TERM
        for _ in $(seq 100); do
            namespace_empty "$netns" && break
            sleep 0.1
        done
        kill_namespace_processes "$netns" KILL
    fi
    rm -rf "$work"
    for dir in "${created_mountpoints[@]}"; do
        rmdir "$dir" 2>/dev/null || true
    done
}

if [[ ${1:-} != --inner ]]; then
    [[ $EUID -eq 0 ]] || fail "run as root"
    work=$(mktemp -d /tmp/ovs-docker-verify.XXXXXX)
    readlink /proc/self/ns/net >"$work/host-netns"
    created_mountpoints=()
    trap cleanup_outer EXIT
    for dir in /var/lib/docker /var/lib/ovs-docker /usr/local/libexec /etc/systemd/system; do
        if [[ ! -d $dir ]]; then
            mkdir -p "$dir"
            created_mountpoints+=("$dir")
        fi
    done
    status=0
    unshare --net --mount --propagation private -- "$0" --inner "$work" || status=$?
    if ((status == 0)); then
        log "PASSED"
    else
        log "FAILED (exit $status)"
    fi
    exit "$status"
fi

# --- inside the namespaces ---------------------------------------------------------------------

work=$2
[[ -r $work/host-netns && $(readlink /proc/self/ns/net) != "$(cat "$work/host-netns")" ]] ||
    fail "--inner is for the private namespace that the outer run creates"
readlink /proc/self/ns/net >"$work/netns"
ip link set lo up

mkdir -p "$work/run" "$work/docker" "$work/ovs-docker" "$work/libexec" "$work/systemd" \
    "$work/etc-default" "$work/bin" "$work/host-bin"
mount -t tmpfs -o mode=0755 tmpfs /run
mount --bind "$work/docker" /var/lib/docker
mount --bind "$work/ovs-docker" /var/lib/ovs-docker
mount --bind "$work/libexec" /usr/local/libexec
mount --bind "$work/systemd" /etc/systemd/system
cp -a /etc/default/. "$work/etc-default/"
mount --bind "$work/etc-default" /etc/default
# /usr/local/bin: the host's programs (docker CLI...) stay visible through symlinks, while what
# install.sh writes there lands in scratch space.
mount --bind /usr/local/bin "$work/host-bin"
for program in "$work"/host-bin/*; do
    ln -s "$program" "$work/bin/${program##*/}"
done
mount --bind "$work/bin" /usr/local/bin

inner_cleanup() {
    kill_namespace_processes "$(cat "$work/netns")" TERM
}
trap inner_cleanup EXIT

if [[ ${VERIFY_SYSTEM_OVS:-0} == 1 ]]; then
    # Stand-in for a distribution's OVS: default rundir, pid file and control socket names.
    ovs_dir=/var/run/openvswitch
    expected_mode=system
    mkdir -p "$ovs_dir"
    ovsdb-tool create "$ovs_dir/conf.db" /usr/share/openvswitch/vswitch.ovsschema
    OVS_RUNDIR=$ovs_dir OVS_DBDIR=$ovs_dir OVS_LOGDIR=$ovs_dir ovsdb-server "$ovs_dir/conf.db" \
        --remote="punix:$ovs_dir/db.sock" --pidfile --log-file -vconsole:off --detach
    ovs-vsctl --no-wait init
    OVS_RUNDIR=$ovs_dir OVS_DBDIR=$ovs_dir OVS_LOGDIR=$ovs_dir ovs-vswitchd --pidfile --log-file \
        -vconsole:off --detach
else
    ovs_dir=/var/lib/ovs-docker/ovs
    expected_mode=embedded
fi
vsctl() { OVS_RUNDIR=$ovs_dir ovs-vsctl "$@"; }

install_log=$work/install1.log
log "first install.sh run (log: $install_log)"
"$DEPLOY/install.sh" 2>&1 | tee "$install_log" || fail "install.sh failed"
[[ -S /run/docker/plugins/ovs.sock ]] || fail "no plugin socket"
grep -q "OVS: $expected_mode" "$install_log" || fail "expected the $expected_mode OVS to be chosen"
vsctl show >/dev/null || fail "ovs-vsctl show"
grep -q "^OVS_DRIVER_OVSDB=unix:$ovs_dir/db.sock$" /etc/default/ovs-driver ||
    fail "environment file does not point at $ovs_dir"
grep -q "^OVS_RUNDIR=$ovs_dir$" /etc/default/ovs-driver || fail "OVS_RUNDIR is not $ovs_dir"
[[ $(docker run --rm busybox echo hello-from-busybox) == hello-from-busybox ]] ||
    fail "busybox image does not run"

driver_pid=$(cat /var/lib/ovs-docker/ovs-driver.pid)
dockerd_pid=$(cat /var/lib/ovs-docker/dockerd.pid)
vswitchd_pid=$(cat "$ovs_dir/ovs-vswitchd.pid")
log "second install.sh run must change nothing, and keep an administrator's lines"
printf '# added by the administrator\nOVS_DRIVER_ADMIN_NOTE=kept\n' >>/etc/default/ovs-driver
# A remote database an administrator chose is kept too (the running driver does not see it:
# nothing restarts it, and it is put back before the third run).
sed -i 's|^OVS_DRIVER_OVSDB=.*|OVS_DRIVER_OVSDB=tcp:127.0.0.1:6640|' /etc/default/ovs-driver
"$DEPLOY/install.sh" 2>&1 | tee "$work/install2.log" || fail "second install.sh failed"
grep -q "^# added by the administrator$" /etc/default/ovs-driver &&
    grep -q "^OVS_DRIVER_ADMIN_NOTE=kept$" /etc/default/ovs-driver ||
    fail "the second install.sh run dropped the administrator's lines"
grep -q "^OVS_DRIVER_OVSDB=tcp:127.0.0.1:6640$" /etc/default/ovs-driver ||
    fail "the second install.sh run replaced the administrator's tcp: database"
sed -i "s|^OVS_DRIVER_OVSDB=.*|OVS_DRIVER_OVSDB=unix:$ovs_dir/db.sock|" /etc/default/ovs-driver
[[ $(cat /var/lib/ovs-docker/ovs-driver.pid) == "$driver_pid" ]] || fail "driver was restarted"
[[ $(cat /var/lib/ovs-docker/dockerd.pid) == "$dockerd_pid" ]] || fail "dockerd was restarted"
[[ $(cat "$ovs_dir/ovs-vswitchd.pid") == "$vswitchd_pid" ]] ||
    fail "ovs-vswitchd was restarted"
process_alive "$driver_pid" || fail "driver died"

log "third install.sh run with a changed driver binary must restart only the driver"
# Trailing bytes leave an ELF executable (and a script) runnable but make the file differ.
cp /usr/local/bin/ovs-driver "$work/ovs-driver-v2"
printf '\n#upgraded\n' >>"$work/ovs-driver-v2"
OVS_DRIVER_BINARY=$work/ovs-driver-v2 "$DEPLOY/install.sh" 2>&1 | tee "$work/install3.log" ||
    fail "third install.sh failed"
cmp -s "$work/ovs-driver-v2" /usr/local/bin/ovs-driver || fail "new binary not installed"
! process_alive "$driver_pid" || fail "old driver still running"
driver_pid=$(cat /var/lib/ovs-docker/ovs-driver.pid)
process_alive "$driver_pid" || fail "new driver not running"
[[ -S /run/docker/plugins/ovs.sock ]] || fail "no plugin socket after the upgrade"
[[ $(cat /var/lib/ovs-docker/dockerd.pid) == "$dockerd_pid" ]] || fail "dockerd was restarted"

if [[ ${VERIFY_DATAPLANE:-1} == 1 ]]; then
    log "data plane: two containers on an ovs network"
    docker network create -d ovs --subnet 10.20.0.0/24 verify-n1 || fail "network create"
    bridge=$(vsctl --bare --columns=name find Bridge external_ids:docker-owned=true)
    [[ -n $bridge ]] || fail "no OVS bridge for the network"
    docker run -d --name verify-a --network verify-n1 --ip 10.20.0.10 busybox sleep 300 >/dev/null ||
        fail "run container a"
    docker run --rm --network verify-n1 busybox ping -c 3 -W 5 10.20.0.10 ||
        fail "container b cannot ping container a"
    docker run --rm --network verify-n1 busybox ping -c 2 -W 5 10.20.0.1 ||
        fail "container cannot ping the gateway"
    docker rm -f verify-a >/dev/null
    docker network rm verify-n1 >/dev/null || fail "network rm"
fi

log "uninstall.sh --purge --stop-docker"
"$DEPLOY/uninstall.sh" --purge --stop-docker || fail "uninstall.sh failed"
[[ ! -e /run/docker/plugins/ovs.sock ]] || fail "plugin socket left behind"
! process_alive "$driver_pid" || fail "driver still running"
if [[ $expected_mode == embedded ]]; then
    ! process_alive "$vswitchd_pid" || fail "private ovs-vswitchd still running"
else
    process_alive "$vswitchd_pid" || fail "uninstall.sh stopped the system ovs-vswitchd"
    [[ -z $(vsctl --bare --columns=name find Bridge external_ids:docker-owned=true) ]] ||
        fail "--purge left the driver's bridges in the system OVS"
fi
[[ ! -e /usr/local/bin/ovs-driver && ! -e /etc/default/ovs-driver ]] || fail "files left behind"
[[ -z $(ls -A /var/lib/ovs-docker) ]] || fail "state left behind after --purge"
log "all checks passed"
