#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (root, with or without systemd) for
# nightshift development: Debian packages, npm packages, a running libvirtd,
# and the cached test guest. Safe to run again; it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  # libvirt daemon with the QEMU driver, and virsh (the benchmark's baseline)
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
  qemu-system-x86 qemu-utils
  # building the test guest from Debian packages
  dpkg-dev cpio busybox-static e2fsprogs
  # building the hypervisor VM (Debian 12 with systemd as PID 1, test/hostvm/build-host.sh)
  mmdebstrap
  # promtool (metrics and alert-rule checks), systemd-analyze and systemd-notify
  prometheus systemd
  # hung-mount tests: a FUSE mount whose daemon is stopped hangs like a dead NFS server
  bindfs
  # pgrep/pkill, runuser, useradd used by scripts and tests
  procps util-linux mount passwd openssl
  # the systemd-notify test receives datagrams with a python3 socket
  python3 kmod
  # `ip`: the host bridge the test guest's optional network hangs off (test/helpers/guest-network.ts)
  iproute2
)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund
fi

scripts/start-libvirtd.sh
test/guest/build-guest.sh
# ~2-4 min once (141 Debian packages), then cached in test/hostvm/cache/.
test/hostvm/build-host.sh
npm run build --silent
