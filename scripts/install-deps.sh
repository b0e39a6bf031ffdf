#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, only those that are missing.
# System services of the new packages are NOT started (a temporary policy-rc.d denies it): the
# end-to-end tests start private ovsdb-server, ovs-vswitchd and dockerd inside their own
# network namespaces and need no system-wide daemon.
# Usage (as root): scripts/install-deps.sh [--update]   (--update: always run apt-get update)
set -euo pipefail

PACKAGES=(openvswitch-switch docker.io busybox-static iproute2 iputils-ping tmux)

if [[ ${EUID} -ne 0 ]]; then
    echo "install-deps.sh: must run as root" >&2
    exit 1
fi

missing=()
for package in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "${package}" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("${package}")
    fi
done

if [[ ${#missing[@]} -eq 0 && ${1:-} != "--update" ]]; then
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

echo "install-deps.sh: installing ${missing[*]}"
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e ${policy} ]]; then
    printf '#!/bin/sh\n# Added by scripts/install-deps.sh while installing test dependencies.\nexit 101\n' >"${policy}"
    chmod 0755 "${policy}"
    created_policy=1
fi
cleanup() {
    if [[ ${created_policy} -eq 1 ]]; then
        rm -f "${policy}"
    fi
}
trap cleanup EXIT
apt-get install -y -q --no-install-recommends "${missing[@]}"
