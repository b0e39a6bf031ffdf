#!/usr/bin/env bash
# Builds a tiny busybox image offline: a rootfs holding the host's static busybox (package
# busybox-static) plus one symlink per applet, imported with `docker import`, default command `sh`.
#
#   busybox-image.sh DOCKER_HOST_SOCK [TAG]
#
# DOCKER_HOST_SOCK is the daemon's socket, as a path (/var/run/docker.sock) or a URL
# (unix:///var/run/docker.sock). TAG defaults to busybox:latest. An existing TAG is kept unless
# FORCE=1. Prints the image id.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 DOCKER_HOST_SOCK [TAG]" >&2
    exit 2
fi
socket=$1
tag=${2:-busybox:latest}
case $socket in
*://*) export DOCKER_HOST=$socket ;;
*) export DOCKER_HOST=unix://$socket ;;
esac

die() {
    printf '[busybox-image] error: %s\n' "$*" >&2
    exit 1
}

if [[ ${FORCE:-0} != 1 ]] && docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null; then
    exit 0
fi

busybox=${BUSYBOX:-}
if [[ -z $busybox ]]; then
    for candidate in /bin/busybox /usr/bin/busybox; do
        [[ -x $candidate ]] && busybox=$candidate && break
    done
fi
[[ -n $busybox ]] || die "busybox not found (apt-get install busybox-static)"
# A dynamically linked busybox would find no libc in the image.
if LC_ALL=C ldd "$busybox" >/dev/null 2>&1; then
    die "$busybox is dynamically linked; install busybox-static"
fi

rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs"/{bin,dev,etc,proc,root,sys,tmp,var/run}
chmod 1777 "$rootfs/tmp"
install -m 0755 "$busybox" "$rootfs/bin/busybox"
# Relative links: `busybox --install -s` would point them at the host path of the binary.
for applet in $("$busybox" --list); do
    [[ $applet == busybox ]] || ln -sf busybox "$rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
    >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"

tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -c . |
    docker import --change 'CMD ["sh"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --message "busybox from $busybox" - "$tag" >/dev/null
docker image inspect --format '{{.Id}}' "$tag"
