#!/usr/bin/env bash
# Installs and starts the Docker network driver "ovs" on a Debian host (run as root):
#   1. installs missing packages: openvswitch-switch, docker.io, busybox-static, iproute2, and a C
#      toolchain (build-essential) for the build;
#   2. builds ovs-driver with cargo (Rust >= 1.85 must already be installed; set
#      OVS_DRIVER_BINARY=/path/to/ovs-driver to skip the build) and installs /usr/local/bin/ovs-driver;
#   3. uses the system Open vSwitch when its ovsdb-server (/var/run/openvswitch/db.sock) and
#      ovs-vswitchd run, else starts a private userspace OVS in /var/lib/ovs-docker/ovs;
#   4. starts the driver (systemd unit ovs-driver.service, or a background process with
#      /var/lib/ovs-docker/ovs-driver.{pid,log} where systemd is not init) and waits for
#      /run/docker/plugins/ovs.sock;
#   5. starts Docker if it is not running and imports an offline busybox:latest image.
# Re-running it is safe: it only changes what is missing or out of date.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEPLOY=$REPO/deploy
# shellcheck source=deploy/common.sh
. "$DEPLOY/common.sh"

require_root
export DEBIAN_FRONTEND=noninteractive

# --- 1. packages -------------------------------------------------------------------------------

static_busybox() {
    local candidate
    for candidate in /bin/busybox /usr/bin/busybox; do
        [[ -x $candidate ]] && ! LC_ALL=C ldd "$candidate" >/dev/null 2>&1 && return 0
    done
    return 1
}

missing=()
command -v ovsdb-server >/dev/null && command -v ovs-vswitchd >/dev/null &&
    command -v ovs-vsctl >/dev/null || missing+=(openvswitch-switch)
command -v dockerd >/dev/null && command -v docker >/dev/null || missing+=(docker.io)
command -v ip >/dev/null || missing+=(iproute2)
static_busybox || missing+=(busybox-static)
if [[ -z ${OVS_DRIVER_BINARY:-} ]] && ! command -v cc >/dev/null; then
    missing+=(build-essential)
fi

if ((${#missing[@]})); then
    say "installing packages: ${missing[*]}"
    command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} by hand"
    apt-get update -q || die "apt-get update failed"
    apt-get install -y -q --no-install-recommends "${missing[@]}" ||
        die "apt-get install ${missing[*]} failed"
else
    say "packages: all present"
fi

# --- 2. the driver binary ----------------------------------------------------------------------

find_cargo() {
    local home
    if command -v cargo >/dev/null; then
        command -v cargo
        return
    fi
    for home in "$HOME" ${SUDO_USER:+"$(getent passwd "$SUDO_USER" | cut -d: -f6)"}; do
        if [[ -x $home/.cargo/bin/cargo ]]; then
            # rustup's proxies find their toolchains through RUSTUP_HOME.
            [[ -d $home/.rustup ]] && export RUSTUP_HOME=${RUSTUP_HOME:-$home/.rustup}
            echo "$home/.cargo/bin/cargo"
            return
        fi
    done
    return 1
}

if [[ -n ${OVS_DRIVER_BINARY:-} ]]; then
    built=$OVS_DRIVER_BINARY
    [[ -x $built ]] || die "OVS_DRIVER_BINARY=$built is not an executable file"
    say "using prebuilt driver $built"
else
    cargo=$(find_cargo) || die "cargo not found. Install Rust >= 1.85 (https://rustup.rs; Debian's" \
        "own cargo is too old), or build elsewhere and set OVS_DRIVER_BINARY=/path/to/ovs-driver"
    say "building ovs-driver (cargo build --release --locked -p ovs-driver; takes a few minutes)"
    (cd "$REPO" && "$cargo" build --release --locked -p ovs-driver) || die "build failed"
    target_dir=$(cd "$REPO" && "$cargo" metadata --format-version 1 --no-deps --locked |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    built=${target_dir:-$REPO/target}/release/ovs-driver
    [[ -x $built ]] || die "build finished but $built is missing"
fi

driver_changed=0
if ! cmp -s "$built" "$DRIVER_BIN"; then
    say "installing $DRIVER_BIN"
    install -D -m 0755 "$built" "$DRIVER_BIN.new"
    mv -f "$DRIVER_BIN.new" "$DRIVER_BIN"
    driver_changed=1
else
    say "$DRIVER_BIN is up to date"
fi

# --- 3. Open vSwitch ---------------------------------------------------------------------------

mkdir -p "$STATE_DIR"
chmod 0750 "$STATE_DIR"

system_ovs_usable() {
    [[ -S $SYSTEM_OVS_DIR/db.sock ]] &&
        ovs-vsctl --db="unix:$SYSTEM_OVS_DIR/db.sock" --timeout=5 show >/dev/null 2>&1 &&
        OVS_RUNDIR=$SYSTEM_OVS_DIR ovs-appctl --timeout=5 -t ovs-vswitchd version >/dev/null 2>&1
}

embedded_ovs_running() {
    if systemd_is_init; then
        systemctl is-active --quiet ovs-docker-ovs.service
    else
        "$DEPLOY/ovs-embedded.sh" status "$EMBEDDED_OVS_DIR"
    fi
}

start_embedded_ovs() {
    if systemd_is_init; then
        install -D -m 0755 "$DEPLOY/ovs-embedded.sh" "$LIBEXEC_DIR/ovs-embedded.sh"
        install -m 0644 "$DEPLOY/ovs-docker-ovs.service" "$UNIT_DIR/ovs-docker-ovs.service"
        systemctl daemon-reload
        systemctl enable ovs-docker-ovs.service
        systemctl start ovs-docker-ovs.service ||
            die "ovs-docker-ovs.service failed; see journalctl -u ovs-docker-ovs"
    else
        "$DEPLOY/ovs-embedded.sh" start "$EMBEDDED_OVS_DIR" ||
            die "the private OVS did not start; see $EMBEDDED_OVS_DIR/*.log"
    fi
}

if embedded_ovs_running; then
    ovs_mode=embedded
    say "OVS: the private userspace OVS in $EMBEDDED_OVS_DIR is running"
elif system_ovs_usable; then
    ovs_mode=system
    say "OVS: using the system Open vSwitch ($SYSTEM_OVS_DIR)"
else
    if systemd_is_init && systemctl cat openvswitch-switch.service >/dev/null 2>&1; then
        say "OVS: starting openvswitch-switch.service"
        systemctl start openvswitch-switch.service || true
    fi
    if system_ovs_usable; then
        ovs_mode=system
        say "OVS: using the system Open vSwitch ($SYSTEM_OVS_DIR)"
    else
        ovs_mode=embedded
        say "OVS: no usable system OVS; starting a private userspace OVS in $EMBEDDED_OVS_DIR"
        start_embedded_ovs
    fi
fi
if [[ $ovs_mode == system ]]; then
    ovs_rundir=$SYSTEM_OVS_DIR
else
    ovs_rundir=$EMBEDDED_OVS_DIR
fi
ovsdb=unix:$ovs_rundir/db.sock
# An administrator who pointed the driver at a database over tcp: or ssl: keeps it.
configured_ovsdb=$(env_file_setting "$ENV_FILE" OVS_DRIVER_OVSDB "")
if [[ $configured_ovsdb == tcp:* || $configured_ovsdb == ssl:* ]]; then
    ovsdb=$configured_ovsdb
    note "keeping OVS_DRIVER_OVSDB=$ovsdb from $ENV_FILE"
fi

# --- 4. the driver -----------------------------------------------------------------------------

# Where OVS is comes from what install.sh finds (a tcp: or ssl: database an administrator set
# is kept); the plugin name, datapath and log level an administrator set are kept, and so is
# every other line of the file.
env_contents=$(env_file_with "$ENV_FILE" \
    "# Settings for ovs-driver, written by deploy/install.sh. Re-running it rewrites
# OVS_DRIVER_OVSDB (unless it is tcp: or ssl:), OVS_RUNDIR and OVS_DRIVER_PLUGIN_DIR from what
# it finds; other lines (OVS_DRIVER_PLUGIN_NAME, OVS_DRIVER_DATAPATH, RUST_LOG,
# OVS_DRIVER_SSL_*, ...) are kept." \
    "OVS_DRIVER_OVSDB=$ovsdb" \
    "OVS_RUNDIR=$ovs_rundir" \
    "OVS_DRIVER_PLUGIN_NAME=$PLUGIN_NAME" \
    "OVS_DRIVER_PLUGIN_DIR=$PLUGIN_DIR" \
    "OVS_DRIVER_DATAPATH=$(env_file_setting "$ENV_FILE" OVS_DRIVER_DATAPATH auto)" \
    "RUST_LOG=$(env_file_setting "$ENV_FILE" RUST_LOG info)")

if [[ ! -r $ENV_FILE ]] || [[ $(<"$ENV_FILE") != "$env_contents" ]]; then
    say "writing $ENV_FILE"
    mkdir -p "$(dirname "$ENV_FILE")"
    printf '%s\n' "$env_contents" >"$ENV_FILE.new"
    mv -f "$ENV_FILE.new" "$ENV_FILE"
    driver_changed=1
fi
mkdir -p "$PLUGIN_DIR"

driver_running() {
    if systemd_is_init; then
        systemctl is-active --quiet ovs-driver.service
    else
        live_pid "$DRIVER_PIDFILE" ovs-driver >/dev/null
    fi
}

if systemd_is_init; then
    unit=$(sed "s|/usr/local/bin/ovs-driver|$DRIVER_BIN|" "$DEPLOY/ovs-driver.service")
    if [[ ! -r $UNIT_DIR/ovs-driver.service ]] || [[ $(<"$UNIT_DIR/ovs-driver.service") != "$unit" ]]; then
        printf '%s\n' "$unit" >"$UNIT_DIR/ovs-driver.service"
        driver_changed=1
    fi
    dropin=$UNIT_DIR/ovs-driver.service.d/ovs-docker.conf
    if [[ $ovs_mode == embedded ]]; then
        mkdir -p "$(dirname "$dropin")"
        printf '[Unit]\nRequires=ovs-docker-ovs.service\nAfter=ovs-docker-ovs.service\n' >"$dropin"
    else
        rm -f "$dropin"
    fi
    systemctl daemon-reload
    systemctl enable --quiet ovs-driver.service
    if ((driver_changed)) || ! driver_running; then
        say "(re)starting ovs-driver.service"
        systemctl restart ovs-driver.service
    else
        say "ovs-driver.service is running and up to date"
    fi
else
    if driver_running && ((driver_changed)); then
        say "stopping the old driver"
        stop_pidfile "$DRIVER_PIDFILE" ovs-driver 20
    fi
    if driver_running; then
        say "ovs-driver is running (pid $(live_pid "$DRIVER_PIDFILE" ovs-driver)) and up to date"
    else
        say "starting ovs-driver in the background (log: $DRIVER_LOG)"
        # A socket left by a driver that died cannot be served; the new driver binds afresh.
        rm -f "$PLUGIN_SOCKET"
        (
            set -a
            # shellcheck source=/dev/null
            . "$ENV_FILE"
            set +a
            exec setsid "$DRIVER_BIN"
        ) >>"$DRIVER_LOG" 2>&1 </dev/null &
        echo $! >"$DRIVER_PIDFILE"
    fi
fi

# The pid checked while waiting: right after the start its command line is still the shell's.
driver_pid=$(cat "$DRIVER_PIDFILE" 2>/dev/null || true)
driver_alive() {
    if systemd_is_init; then
        driver_running
    else
        process_alive "$driver_pid"
    fi
}
plugin_socket_ready() {
    [[ -S $PLUGIN_SOCKET ]] && return 0
    driver_alive || die "ovs-driver exited; last log lines:
$(if systemd_is_init; then journalctl -u ovs-driver.service -n 20 --no-pager; else tail -n 20 "$DRIVER_LOG"; fi)"
    return 1
}
say "waiting for $PLUGIN_SOCKET"
wait_for 30 plugin_socket_ready || die "no $PLUGIN_SOCKET after 30 s; see the driver's log"

# --- 5. Docker ---------------------------------------------------------------------------------

docker_up() { timeout 20 docker info >/dev/null 2>&1; }

if docker_up; then
    say "Docker is running"
else
    if systemd_is_init; then
        say "starting docker.service"
        systemctl enable --now docker.service || die "docker.service did not start"
    elif live_pid "$DOCKERD_PIDFILE" dockerd >/dev/null; then
        say "dockerd (pid $(<"$DOCKERD_PIDFILE")) is starting"
    else
        say "starting dockerd in the background (log: $DOCKERD_LOG)"
        (exec setsid dockerd) >>"$DOCKERD_LOG" 2>&1 </dev/null &
        echo $! >"$DOCKERD_PIDFILE"
    fi
    wait_for 60 docker_up || die "Docker did not come up within 60 s; see $DOCKERD_LOG"
fi

if docker image inspect busybox:latest >/dev/null 2>&1; then
    say "image busybox:latest is present"
else
    say "importing busybox:latest from the host's busybox"
    "$DEPLOY/busybox-image.sh" "${DOCKER_HOST:-unix:///var/run/docker.sock}" busybox:latest >/dev/null
fi

# --- done --------------------------------------------------------------------------------------

echo
say "ovs-driver is serving $PLUGIN_SOCKET (OVS: $ovs_mode, database $ovsdb)"
echo "Try:"
echo "    docker network create -d $PLUGIN_NAME --subnet 10.20.0.0/24 n1"
echo "    docker run --rm -it --network n1 busybox sh"
if [[ $ovs_mode == embedded ]]; then
    echo "    OVS_RUNDIR=$ovs_rundir ovs-vsctl show"
else
    echo "    ovs-vsctl show"
fi
if systemd_is_init; then
    echo "Driver log: journalctl -u ovs-driver"
else
    echo "Driver log: $DRIVER_LOG (not restarted on reboot: re-run $0 after a reboot)"
fi
echo "Remove: $DEPLOY/uninstall.sh"
