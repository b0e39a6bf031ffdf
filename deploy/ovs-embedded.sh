#!/usr/bin/env bash
# Runs a private userspace Open vSwitch (ovsdb-server + ovs-vswitchd) whose database, sockets, pid
# files and logs all live in one directory, for hosts without a usable system OVS (e.g. containers
# without the openvswitch kernel module: bridges then use the netdev datapath).
#
#   ovs-embedded.sh start  [DIR]   start what is not running (idempotent)
#   ovs-embedded.sh stop   [DIR]   stop both daemons (idempotent)
#   ovs-embedded.sh status [DIR]   exit 0 when both run
#
# DIR defaults to /var/lib/ovs-docker/ovs. The database is unix:DIR/db.sock, OpenFlow management
# sockets land in DIR (OVS_RUNDIR). Daemons run in the caller's network namespace.
set -euo pipefail

usage() {
    echo "usage: $0 start|stop|status [DIR]" >&2
    exit 2
}

[[ $# -ge 1 && $# -le 2 ]] || usage
command=$1
dir=${2:-/var/lib/ovs-docker/ovs}
schema=${OVS_SCHEMA:-/usr/share/openvswitch/vswitch.ovsschema}
export OVS_RUNDIR=$dir OVS_DBDIR=$dir OVS_LOGDIR=$dir
db=unix:$dir/db.sock

say() { printf '[ovs-embedded] %s\n' "$*"; }
die() {
    printf '[ovs-embedded] error: %s\n' "$*" >&2
    exit 1
}

# True when the pid file names a live process called $2 (guards against recycled pids).
alive() {
    local pidfile=$1 name=$2 pid
    [[ -s $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]]
}

stop_daemon() {
    local name=$1 pidfile=$dir/$1.pid pid
    alive "$pidfile" "$name" || return 0
    pid=$(<"$pidfile")
    say "stopping $name (pid $pid)"
    ovs-appctl --timeout=10 -t "$dir/$name.ctl" exit >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        alive "$pidfile" "$name" || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

start() {
    command -v ovsdb-server >/dev/null || die "ovsdb-server not found (apt-get install openvswitch-switch)"
    [[ -r $schema ]] || die "OVS schema $schema not found"
    mkdir -p "$dir"
    chmod 0750 "$dir"

    if alive "$dir/ovsdb-server.pid" ovsdb-server; then
        say "ovsdb-server already running (pid $(<"$dir/ovsdb-server.pid"))"
    else
        if [[ ! -e $dir/conf.db ]]; then
            say "creating $dir/conf.db"
            ovsdb-tool create "$dir/conf.db" "$schema"
        elif ovsdb-tool needs-conversion "$dir/conf.db" "$schema" | grep -qx yes; then
            say "converting $dir/conf.db to the installed schema"
            ovsdb-tool convert "$dir/conf.db" "$schema"
        fi
        rm -f "$dir/db.sock"
        say "starting ovsdb-server"
        ovsdb-server "$dir/conf.db" --remote="punix:$dir/db.sock" \
            --pidfile="$dir/ovsdb-server.pid" --unixctl="$dir/ovsdb-server.ctl" \
            --log-file="$dir/ovsdb-server.log" -vconsole:err --detach
    fi
    ovs-vsctl --db="$db" --timeout=20 --no-wait init

    if alive "$dir/ovs-vswitchd.pid" ovs-vswitchd; then
        say "ovs-vswitchd already running (pid $(<"$dir/ovs-vswitchd.pid"))"
    else
        say "starting ovs-vswitchd (userspace datapath available)"
        ovs-vswitchd "$db" --pidfile="$dir/ovs-vswitchd.pid" --unixctl="$dir/ovs-vswitchd.ctl" \
            --log-file="$dir/ovs-vswitchd.log" -vconsole:err --detach
    fi
    ovs-appctl --timeout=20 -t "$dir/ovs-vswitchd.ctl" version >/dev/null ||
        die "ovs-vswitchd does not answer; see $dir/ovs-vswitchd.log"
    say "running: database $db, rundir $dir"
}

case $command in
start) start ;;
stop)
    stop_daemon ovs-vswitchd
    stop_daemon ovsdb-server
    ;;
status)
    alive "$dir/ovsdb-server.pid" ovsdb-server && alive "$dir/ovs-vswitchd.pid" ovs-vswitchd
    ;;
*) usage ;;
esac
