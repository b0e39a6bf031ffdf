#!/usr/bin/env bash
# Undoes deploy/install.sh: stops and removes the driver (binary, unit, settings) and the private
# userspace OVS if one was started. System packages, Docker, the system OVS and the busybox image
# are left alone.
#   --purge        also delete /var/lib/ovs-docker (the private OVS database, logs) and the bridges
#                  the driver created (external_ids:docker-owned=true) in the OVS it used
#   --stop-docker  also stop a dockerd that install.sh started in the background
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEPLOY=$REPO/deploy
# shellcheck source=deploy/common.sh
. "$DEPLOY/common.sh"

purge=0
stop_docker=0
for argument in "$@"; do
    case $argument in
    --purge) purge=1 ;;
    --stop-docker) stop_docker=1 ;;
    *) die "usage: $0 [--purge] [--stop-docker]" ;;
    esac
done
require_root

ovsdb=$( ([[ -r $ENV_FILE ]] && sed -n 's/^OVS_DRIVER_OVSDB=//p' "$ENV_FILE" | tail -n 1) || true)

if command -v docker >/dev/null && networks=$(timeout 20 docker network ls -q --filter "driver=$PLUGIN_NAME" 2>/dev/null) &&
    [[ -n $networks ]]; then
    warn "Docker still has networks using driver $PLUGIN_NAME; they stop working without it:"
    timeout 20 docker network ls --filter "driver=$PLUGIN_NAME" >&2 || true
    warn "remove them with: docker network rm NAME (after their containers)"
fi

# --- the driver --------------------------------------------------------------------------------

if systemd_is_init && [[ -e $UNIT_DIR/ovs-driver.service ]]; then
    say "stopping and removing ovs-driver.service"
    systemctl disable --now ovs-driver.service || true
    rm -rf "$UNIT_DIR/ovs-driver.service" "$UNIT_DIR/ovs-driver.service.d"
    systemctl daemon-reload
fi
if live_pid "$DRIVER_PIDFILE" ovs-driver >/dev/null; then
    say "stopping ovs-driver (pid $(<"$DRIVER_PIDFILE"))"
fi
stop_pidfile "$DRIVER_PIDFILE" ovs-driver 20
# The driver removes its socket on a clean exit; this covers one that was killed.
rm -f "$PLUGIN_SOCKET"

# --- bridges (purge only; needs the OVS still running) -----------------------------------------

if ((purge)) && [[ -n $ovsdb ]] && command -v ovs-vsctl >/dev/null; then
    for bridge in $(ovs-vsctl --db="$ovsdb" --timeout=10 --bare --columns=name \
        find Bridge external_ids:docker-owned=true 2>/dev/null); do
        say "deleting bridge $bridge"
        ovs-vsctl --db="$ovsdb" --timeout=10 del-br "$bridge" || warn "could not delete $bridge"
    done
fi

# --- the private OVS ---------------------------------------------------------------------------

if systemd_is_init && [[ -e $UNIT_DIR/ovs-docker-ovs.service ]]; then
    say "stopping and removing ovs-docker-ovs.service"
    systemctl disable --now ovs-docker-ovs.service || true
    rm -f "$UNIT_DIR/ovs-docker-ovs.service"
    systemctl daemon-reload
fi
if [[ -d $EMBEDDED_OVS_DIR ]]; then
    "$DEPLOY/ovs-embedded.sh" stop "$EMBEDDED_OVS_DIR"
fi

# --- Docker (only when asked, and only the dockerd install.sh started) --------------------------

if ((stop_docker)); then
    if live_pid "$DOCKERD_PIDFILE" dockerd >/dev/null; then
        say "stopping dockerd (pid $(<"$DOCKERD_PIDFILE"))"
        stop_pidfile "$DOCKERD_PIDFILE" dockerd 30
    else
        note "no dockerd started by install.sh is running"
    fi
fi

# --- files -------------------------------------------------------------------------------------

say "removing $DRIVER_BIN, $ENV_FILE, $LIBEXEC_DIR"
rm -f "$DRIVER_BIN" "$ENV_FILE"
rm -rf "$LIBEXEC_DIR"
if ((purge)); then
    say "removing $STATE_DIR"
    # Emptied rather than removed outright: it may be a mount point.
    [[ -d $STATE_DIR ]] && find "$STATE_DIR" -mindepth 1 -delete
    rmdir "$STATE_DIR" 2>/dev/null || true
fi
say "done; packages, Docker and the system OVS were left in place"
