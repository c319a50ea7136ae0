#!/usr/bin/env bash
# Builds the "hypervisor VM" of the tests: a small Debian 12 system with
# systemd as PID 1, journald with a persistent journal, systemd-networkd (the
# address comes from the kernel command line, ip=...), udev, kmod and
# qemu-guest-agent, made with mmdebstrap from the Debian mirror apt already
# uses. Nothing of nightshift is in it: tests install the agent into it the
# way an operator would (test/helpers/host-vm.ts).
#
# Two units are test instrumentation, both wanted by emergency.target and
# without default dependencies, so they run even when a boot stops in
# emergency mode:
#   nightshift-emergency-marker.service  writes "nightshift-hostvm: emergency.target
#                                        reached" to the serial console
#   nightshift-emergency-ga.service      runs qemu-ga, so the host can look and
#                                        repair (the stock qemu-guest-agent.service
#                                        would pull the normal boot back in)
#
# Output (default test/hostvm/cache/, or $NIGHTSHIFT_HOSTVM_CACHE):
#   vmlinuz     Debian's kernel, for direct kernel boot
#   initrd.gz   busybox initramfs: loads virtio_blk + ext4, mounts /dev/vda, switch_root
#   root.qcow2  the root file system (ext4 on the whole disk, no partition table)
#   stamp       the inputs the artefacts were built from
#
# Safe to run again: with the artefacts present and the inputs unchanged it
# does nothing and returns at once. Needs root (mmdebstrap --mode=root).
#
# Host tools: mmdebstrap, mkfs.ext4 (e2fsprogs), qemu-img, cpio, gzip, flock.
set -euo pipefail
export LC_ALL=C
export PATH="$PATH:/usr/sbin:/sbin"

SCRIPT_PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
CACHE_DIR="${NIGHTSHIFT_HOSTVM_CACHE:-$(dirname "$SCRIPT_PATH")/cache}"
mkdir -p "$CACHE_DIR"
CACHE_DIR="$(cd "$CACHE_DIR" && pwd)"
STAMP="$CACHE_DIR/stamp"
ARTEFACTS=(vmlinuz initrd.gz root.qcow2)
ROOT_DISK_SIZE=2G

PACKAGES=(
  systemd-sysv udev kmod iproute2 procps e2fsprogs qemu-guest-agent
  linux-image-amd64 busybox-static
)
# Loaded by the initramfs, in this order (each one's depends= come earlier or
# are built in: the build checks that). The rest is udev's job after switch_root.
INITRD_MODULES=(
  virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
  virtio_blk crc16 crc32c_generic mbcache jbd2 ext4
)

log() { echo "build-host: $*" >&2; }
die() { echo "build-host: error: $*" >&2; exit 1; }

print_artefacts() {
  echo "hypervisor VM artefacts in $CACHE_DIR:"
  local f
  for f in "${ARTEFACTS[@]}"; do printf '  %-11s %s bytes\n' "$f" "$(stat -c %s "$CACHE_DIR/$f")"; done
  grep -E '^(built|packages)' "$STAMP" | sed 's/^/  /'
}

artefacts_present() {
  local f
  for f in "${ARTEFACTS[@]}" stamp; do [ -s "$CACHE_DIR/$f" ] || return 1; done
}

[ "$(id -u)" = 0 ] || die "must run as root (mmdebstrap --mode=root, root-owned files in the image)"

exec 9>"$CACHE_DIR/.lock"
flock 9

# The inputs: this script and the package lists apt has (a new Debian point
# release or security update rebuilds the image; an unchanged mirror does not).
script_sha=$(sha256sum "$SCRIPT_PATH" | cut -d' ' -f1)
apt_lists_sha=$( { stat -c '%n %s %Y' /var/lib/apt/lists/*Packages* 2>/dev/null || true; } | sha256sum | cut -d' ' -f1)
key="script=$script_sha apt-lists=$apt_lists_sha"
if artefacts_present && grep -qxF "key $key" "$STAMP"; then
  print_artefacts
  exit 0
fi
command -v mmdebstrap >/dev/null || die "mmdebstrap is not installed (apt-get install mmdebstrap; scripts/setup.sh does)"

# The Debian entries of apt's own sources (deb822 or one-line), never a
# third-party repository the host may also have.
mirrors=()
while IFS= read -r line; do mirrors+=("$line"); done < <(
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'BEGIN { RS = ""; FS = "\n" }
      {
        types = uris = suites = comps = ""
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^Types:/) types = substr($i, 7)
          if ($i ~ /^URIs:/) uris = substr($i, 6)
          if ($i ~ /^Suites:/) suites = substr($i, 8)
          if ($i ~ /^Components:/) comps = substr($i, 12)
        }
        if (types !~ /(^| )deb( |$)/) next
        n = split(uris, u, " "); m = split(suites, s, " ")
        for (a = 1; a <= n; a++) if (u[a] ~ /debian/) for (b = 1; b <= m; b++) print "deb " u[a] " " s[b] comps
      }' "$f"
  done
  [ -f /etc/apt/sources.list ] && grep -E '^deb\s+\S*debian\S*\s+bookworm' /etc/apt/sources.list || true
)
[ "${#mirrors[@]}" -gt 0 ] || die "no Debian bookworm entry in apt's sources"

started=$(date +%s.%N)
log "building the hypervisor VM in $CACHE_DIR from: ${mirrors[*]}"
# Outside the source tree: while mmdebstrap runs, the tree has /proc mounted in it, which
# tsc, eslint and vitest would wander into.
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/nightshift-hostvm.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
T="$WORK/root"

# The .debs are kept in $CACHE_DIR/debs between builds (only new versions are downloaded).
mkdir -p "$CACHE_DIR/debs"
mmdebstrap --mode=root --variant=minbase --quiet --include="$(IFS=,; echo "${PACKAGES[*]}")" \
  --skip=essential/unlink \
  --setup-hook="mkdir -p \"\$1/var/cache/apt/archives\" && cp -a '$CACHE_DIR/debs/.' \"\$1/var/cache/apt/archives/\"" \
  --customize-hook="find '$CACHE_DIR/debs' -name '*.deb' -delete && cp -a \"\$1/var/cache/apt/archives/.\" '$CACHE_DIR/debs/' && rm -f '$CACHE_DIR/debs/lock' && rm -rf '$CACHE_DIR/debs/partial'" \
  --aptopt='Acquire::Languages "none"' --dpkgopt='path-exclude=/usr/share/{doc,man,locale,info}/*' \
  bookworm "$T" "${mirrors[@]}"

# --- configuration ----------------------------------------------------------

echo nshost >"$T/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 nshost\n' >"$T/etc/hosts"
# Root is mounted by the initramfs; systemd-remount-fs makes it read-write.
printf '# <file system> <mount point> <type> <options> <dump> <pass>\n/dev/vda / ext4 defaults 0 1\n' >"$T/etc/fstab"
# Persistent journal (Storage=auto keeps it in /var/log/journal when that exists).
mkdir -p "$T/var/log/journal"
# No empty machine-id: systemd makes one at first boot (and journald names its directory after it).
: >"$T/etc/machine-id"
# The root account stays locked: the emergency shell asks for a password nobody has, as on
# a host whose operator is not at the console.

# The network comes from ip= on the kernel command line (systemd-network-generator writes
# /run/systemd/network/70-eth0.network); no IPv6 link-local or router advertisements, or
# systemd-networkd-wait-online waits for an IPv6 address this bridge never hands out.
mkdir -p "$T/etc/systemd/network/70-eth0.network.d"
printf '[Network]\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n' >"$T/etc/systemd/network/70-eth0.network.d/nightshift.conf"
systemctl --root="$T" enable systemd-networkd.service systemd-network-generator.service >/dev/null 2>&1
# Nothing a test waits behind, and no timers writing to disks behind the tests' backs.
systemctl --root="$T" mask getty-static.service apt-daily.timer apt-daily-upgrade.timer \
  e2scrub_all.timer e2scrub_reap.service fstrim.timer >/dev/null 2>&1

cat >"$T/etc/systemd/system/nightshift-emergency-marker.service" <<'UNIT'
# Test instrumentation: tells the serial console that this boot reached emergency mode.
[Unit]
Description=nightshift test rig: mark emergency mode on the serial console
DefaultDependencies=no

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "nightshift-hostvm: emergency.target reached at $(cut -d" " -f1 /proc/uptime) s uptime, boot $(cat /proc/sys/kernel/random/boot_id)" >/dev/ttyS0'

[Install]
WantedBy=emergency.target
UNIT
cat >"$T/etc/systemd/system/nightshift-emergency-ga.service" <<'UNIT'
# Test instrumentation: the QEMU guest agent in emergency mode. The stock
# qemu-guest-agent.service has default dependencies (sysinit.target), which would
# pull the normal boot back in; this one has none.
[Unit]
Description=nightshift test rig: QEMU guest agent in emergency mode
DefaultDependencies=no
Conflicts=qemu-guest-agent.service

[Service]
ExecStartPre=/bin/sh -c 'for i in $(seq 100); do [ -e /dev/virtio-ports/org.qemu.guest_agent.0 ] && exit 0; sleep 0.1; done; exit 1'
ExecStart=/usr/sbin/qemu-ga -m virtio-serial -p /dev/virtio-ports/org.qemu.guest_agent.0
Restart=always
RestartSec=1

[Install]
WantedBy=emergency.target
UNIT
systemctl --root="$T" enable nightshift-emergency-marker.service nightshift-emergency-ga.service >/dev/null 2>&1

# Kernel modules a virtio guest never loads (two thirds of the package's 400 MB).
kernel_release=$(basename "$(find "$T/boot" -name 'vmlinuz-*' -type f -print -quit)")
kernel_release=${kernel_release#vmlinuz-}
km="$T/lib/modules/$kernel_release/kernel"
rm -rf "$km/sound" "$km/drivers/"{gpu,media,infiniband,staging,usb,bluetooth,iio,isdn,mtd,video,hid,scsi,ata,md,target,thunderbolt,nfc,misc,mmc,power,hwmon,platform,input/touchscreen,net/wireless,net/ethernet,net/can,net/usb,net/phy} \
  "$km/net/"{wireless,bluetooth,mac80211}
depmod -b "$T" "$kernel_release"
log "image tree ready after $(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.0f", e - s }') s ($(du -sm "$T" | cut -f1) MB)"
rm -rf "$T/var/cache/apt/archives"/*.deb "$T/var/lib/apt/lists"/* 2>/dev/null || true

# --- initramfs --------------------------------------------------------------

vmlinuz=$(find "$T/boot" -name 'vmlinuz-*' -type f -print -quit)
[ -n "$vmlinuz" ] || die "no kernel in the image"
kernel_release=${vmlinuz##*/vmlinuz-}
modules_dir="$T/lib/modules/$kernel_release"
R="$WORK/initrd"
mkdir -p "$R"/{bin,dev,proc,sys,newroot,lib/modules}
install -m 0755 "$T/bin/busybox" "$R/bin/busybox"
for applet in sh mount umount insmod switch_root sleep cat echo mkdir; do ln -s busybox "$R/bin/$applet"; done
loaded=()
for m in "${INITRD_MODULES[@]}"; do
  if grep -qE "(^|/)$m\.ko$" "$modules_dir/modules.builtin"; then continue; fi
  ko=$(find "$modules_dir/kernel" -name "$m.ko" -type f -print -quit)
  [ -n "$ko" ] || die "module $m is neither a file nor built into $kernel_release"
  deps=$(tr '\0' '\n' <"$ko" | sed -n 's/^depends=//p')
  for dep in ${deps//,/ }; do
    [[ " ${loaded[*]} " == *" $dep "* ]] || grep -qE "(^|/)$dep\.ko$" "$modules_dir/modules.builtin" ||
      die "module $m needs $dep, which is not loaded before it"
  done
  install -m 0644 "$ko" "$R/lib/modules/$m.ko"
  loaded+=("$m")
done
printf '%s\n' "${loaded[@]}" >"$R/modules"
cat >"$R/init" <<'INIT'
#!/bin/sh
# Mounts the root disk and hands PID 1 to systemd.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r m; do insmod "/lib/modules/$m.ko" || echo "initrd: insmod $m failed"; done </modules
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if ! mount -t ext4 -o ro /dev/vda /newroot; then
  echo "initrd: cannot mount /dev/vda; dropping to a shell"
  exec sh
fi
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/init
INIT
chmod 0755 "$R/init"
find "$R" -exec touch -h -d @0 {} +
(cd "$R" && find . -mindepth 1 | sort | cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -9n >"$WORK/initrd.gz"
install -m 0644 "$vmlinuz" "$WORK/vmlinuz"

# --- root disk --------------------------------------------------------------

truncate -s "$ROOT_DISK_SIZE" "$WORK/root.raw"
mkfs.ext4 -q -F -L nsroot -E lazy_itable_init=0,lazy_journal_init=0 -d "$T" "$WORK/root.raw"
qemu-img convert -f raw -O qcow2 "$WORK/root.raw" "$WORK/root.qcow2"

npackages=$(chroot "$T" dpkg-query -W -f '${Package}\n' | wc -l)
for f in "${ARTEFACTS[@]}"; do mv -f "$WORK/$f" "$CACHE_DIR/$f"; done
seconds=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
{
  echo "# inputs of the nightshift hypervisor VM; delete this file to force a rebuild"
  echo "key $key"
  echo "built in $seconds s, kernel $kernel_release"
  echo "packages $npackages installed (${PACKAGES[*]} and their dependencies)"
} >"$STAMP.tmp"
mv "$STAMP.tmp" "$STAMP"
rm -rf "$WORK"
log "built in $seconds s"
print_artefacts
