#!/usr/bin/env bash
# Builds the tiny Linux guest that integration tests boot under the local
# libvirtd: a Debian kernel, an initramfs with busybox and the QEMU guest agent,
# and a qcow2 template of the guest's ext4 data disk. Everything comes from
# Debian packages fetched with `apt-get download` and unpacked with dpkg-deb;
# nothing is installed on the host.
#
# The guest has no network unless its kernel command line has
# nsnet=ADDR/PREFIX (and the domain a virtio NIC): then eth0 gets that address
# and the guest serves TCP echo on port 7 and HTTP on port 80.
#
# Output (default test/guest/cache/, or $NIGHTSHIFT_GUEST_CACHE):
#   vmlinuz     kernel for direct kernel boot (<os><kernel>)
#   initrd.gz   gzip'd cpio (newc) initramfs (<os><initrd>)
#   data.qcow2  template of the data disk: ext4 holding /version = "v1"
#   stamp       the inputs the artefacts were built from
#
# Safe to run again: with the artefacts present and the inputs unchanged it
# does nothing and returns in a few tens of milliseconds.
#
# Host tools used: apt-get/apt-cache, dpkg-deb, tar, cpio, gzip, mkfs.ext4
# (e2fsprogs), qemu-img (qemu-utils), flock, coreutils, findutils, sed, awk.
set -euo pipefail
export LC_ALL=C
export PATH="$PATH:/usr/sbin:/sbin"

SCRIPT_PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
CACHE_DIR="${NIGHTSHIFT_GUEST_CACHE:-$(dirname "$SCRIPT_PATH")/cache}"
mkdir -p "$CACHE_DIR"
CACHE_DIR="$(cd "$CACHE_DIR" && pwd)"
STAMP="$CACHE_DIR/stamp"
ARTEFACTS=(vmlinuz initrd.gz data.qcow2)

# Loaded in this order by the guest's /init. Each module's `depends=` must come
# earlier in the list or be built into the kernel; the build checks that.
# crc32c_generic is only a soft dependency of ext4/jbd2 (the crypto API's
# "crc32c"), so modinfo would not pull it in. button + evdev turn the ACPI power
# button into /dev/input/event*, which the guest watches for `virsh shutdown
# --mode acpi`.
GUEST_MODULES=(
  virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
  virtio_console virtio_blk
  crc16 crc32c_generic mbcache jbd2 ext4
  button evdev
)
# Loaded only when the kernel command line has nsnet=ADDR/PREFIX, after
# GUEST_MODULES: the virtio NIC (virtio_net needs net_failover, which needs
# failover). A guest without nsnet never loads them, so its boot is unchanged.
NET_MODULES=(failover net_failover virtio_net)
DATA_DISK_SIZE=64M

log() { echo "build-guest: $*" >&2; }
die() { echo "build-guest: error: $*" >&2; exit 1; }

print_artefacts() {
  echo "guest artefacts in $CACHE_DIR:"
  local f
  for f in "${ARTEFACTS[@]}"; do
    printf '  %-11s %s bytes\n' "$f" "$(stat -c %s "$CACHE_DIR/$f")"
  done
  sed -n 's/^package /  package /p' "$STAMP"
}

artefacts_present() {
  local f
  for f in "${ARTEFACTS[@]}" stamp; do [ -s "$CACHE_DIR/$f" ] || return 1; done
}

# Two test processes may ask for the guest at once; the second waits and then
# finds it built.
exec 9>"$CACHE_DIR/.lock"
flock 9

# Fast path without asking apt (apt-cache re-reads the package lists on every
# call here, ~0.5 s each): the inputs can only have changed if this script or
# the apt package lists changed.
script_sha=$(sha256sum "$SCRIPT_PATH" | cut -d' ' -f1)
apt_lists_sha=$( { stat -c '%n %s %Y' /var/lib/apt/lists/*Packages* 2>/dev/null || true; } | sha256sum | cut -d' ' -f1)
quick_key="script=$script_sha apt-lists=$apt_lists_sha"
if artefacts_present && grep -qxF "quick-key $quick_key" "$STAMP"; then
  print_artefacts
  exit 0
fi

# --- resolve the exact package versions -------------------------------------

kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '!found && $1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; found = 1 }') || true
if [ -z "$kernel_pkg" ]; then
  log "apt knows no linux-image-amd64; running apt-get update once"
  apt-get update -qq
  kernel_pkg=$(apt-cache depends linux-image-amd64 | awk '!found && $1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; found = 1 }')
  [ -n "$kernel_pkg" ] || die "cannot find the kernel package that linux-image-amd64 depends on"
fi

# qemu-ga's shared libraries come from the same Debian release as qemu-ga, not
# from the host: its whole Depends closure (no Pre-Depends: that is only
# init-system-helpers, which the guest has no use for).
mapfile -t agent_pkgs < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances --no-pre-depends qemu-guest-agent | grep -v '^ ' | grep -v '^<' | sort -u)
[ "${#agent_pkgs[@]}" -gt 1 ] || die "cannot resolve the dependencies of qemu-guest-agent"

packages=("$kernel_pkg" busybox-static "${agent_pkgs[@]}")
mapfile -t package_versions < <(apt-cache policy "${packages[@]}" | awk '
  /^[^ ]/ { pkg = $1; sub(/:$/, "", pkg) }
  $1 == "Candidate:" { print pkg, $2 }' | sort -u)
[ "${#package_versions[@]}" -eq "${#packages[@]}" ] || die "apt-cache policy did not give one candidate per package: ${package_versions[*]}"
for pv in "${package_versions[@]}"; do
  [ "${pv#* }" != "(none)" ] || die "no installable version of ${pv% *}"
done

inputs=$(printf 'script %s\n' "$script_sha"; printf 'package %s\n' "${package_versions[@]}")
inputs_sha=$(printf '%s\n' "$inputs" | sha256sum | cut -d' ' -f1)

write_stamp() {
  {
    echo "# inputs of the nightshift test guest; delete this file to force a rebuild"
    echo "inputs-sha256 $inputs_sha"
    echo "quick-key $quick_key"
    printf '%s\n' "$inputs"
  } >"$STAMP.tmp"
  mv "$STAMP.tmp" "$STAMP"
}

if artefacts_present && grep -qxF "inputs-sha256 $inputs_sha" "$STAMP"; then
  # Only the apt lists' timestamps moved (apt-get update with nothing new).
  write_stamp
  print_artefacts
  exit 0
fi

started=$(date +%s.%N)
log "building the test guest in $CACHE_DIR"

# --- download ---------------------------------------------------------------

DEB_DIR="$CACHE_DIR/debs"
mkdir -p "$DEB_DIR"
deb_file() { # name version -> path of its .deb, or nothing
  local name=$1 version=$2 f
  for f in "$DEB_DIR/${name}_${version//:/%3a}_"*.deb; do
    [ -f "$f" ] && { echo "$f"; return; }
  done
  return 0
}
to_download=()
for pv in "${package_versions[@]}"; do
  [ -n "$(deb_file "${pv% *}" "${pv#* }")" ] || to_download+=("${pv% *}=${pv#* }")
done
if [ "${#to_download[@]}" -gt 0 ]; then
  log "apt-get download ${to_download[*]}"
  # Sandbox user root: apt's _apt user cannot write into a root-owned cache dir.
  (cd "$DEB_DIR" && apt-get download -qq -o APT::Sandbox::User=root "${to_download[@]}")
fi
# Drop .debs of versions no longer wanted, so the cache does not grow forever.
wanted_debs=()
for pv in "${package_versions[@]}"; do
  f=$(deb_file "${pv% *}" "${pv#* }")
  [ -n "$f" ] || die "apt-get download did not produce ${pv% *} ${pv#* }"
  wanted_debs+=("$f")
done
for f in "$DEB_DIR"/*.deb; do
  [[ " ${wanted_debs[*]} " == *" $f "* ]] || rm -f "$f"
done

# --- unpack -----------------------------------------------------------------

WORK="$CACHE_DIR/work"
rm -rf "$WORK"
mkdir -p "$WORK/kernel" "$WORK/pkgroot" "$WORK/initrd"
deb_of() { deb_file "$1" "$(printf '%s\n' "${package_versions[@]}" | awk -v p="$1" '$1 == p { print $2 }')"; }

# The kernel package is ~70 MB; take only the image, modules.builtin and the
# modules the guest loads, in one pass over the archive. Names that are built
# into this kernel are "not found", which tar reports but we check below.
module_patterns=()
for m in "${GUEST_MODULES[@]}" "${NET_MODULES[@]}"; do module_patterns+=("./lib/modules/*/kernel/*/$m.ko"); done
dpkg-deb --fsys-tarfile "$(deb_of "$kernel_pkg")" |
  tar -x -C "$WORK/kernel" --wildcards './boot/vmlinuz-*' './lib/modules/*/modules.builtin' "${module_patterns[@]}" 2>/dev/null || true
vmlinuz=$(find "$WORK/kernel/boot" -name 'vmlinuz-*' -type f -print -quit)
[ -n "$vmlinuz" ] || die "no vmlinuz in $kernel_pkg"
kernel_release=${vmlinuz##*/vmlinuz-}
modules_dir="$WORK/kernel/lib/modules/$kernel_release"
[ -f "$modules_dir/modules.builtin" ] || die "no modules.builtin in $kernel_pkg"

for pv in "${package_versions[@]}"; do
  [ "${pv% *}" = "$kernel_pkg" ] || dpkg-deb -x "$(deb_of "${pv% *}")" "$WORK/pkgroot"
done

# --- initramfs --------------------------------------------------------------

R="$WORK/initrd"
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,run,tmp,var,data,root,lib/modules,lib/x86_64-linux-gnu,lib64}
ln -s ../run "$R/var/run"
chmod 1777 "$R/tmp"

install -m 0755 "$WORK/pkgroot/bin/busybox" "$R/bin/busybox"
# busybox-static is static, so it runs on the host to list its own applets.
"$R/bin/busybox" --list-full | while read -r applet; do
  case "$applet" in bin/busybox|linuxrc) continue ;; esac
  rel=$(dirname "$applet" | sed 's#[^/][^/]*#..#g')
  [ -e "$R/$applet" ] || ln -s "$rel/bin/busybox" "$R/$applet"
done

# Modules: skip built-ins, insist on everything else, check load order (the
# network modules are loaded after all of GUEST_MODULES, so they may depend on
# those).
modules_order=()
net_modules_order=()
for m in "${GUEST_MODULES[@]}" "${NET_MODULES[@]}"; do
  if grep -qE "(^|/)$m\.ko$" "$modules_dir/modules.builtin"; then
    log "module $m is built into $kernel_release"
    continue
  fi
  ko=$(find "$modules_dir/kernel" -name "$m.ko" -type f -print -quit)
  [ -n "$ko" ] || die "module $m is neither in $kernel_pkg nor built into it"
  # Read to the end: quitting early would SIGPIPE tr and fail the pipeline.
  deps=$(tr '\0' '\n' <"$ko" | sed -n 's/^depends=//p')
  for dep in ${deps//,/ }; do
    [[ " ${modules_order[*]} ${net_modules_order[*]} " == *" $dep "* ]] ||
      grep -qE "(^|/)$dep\.ko$" "$modules_dir/modules.builtin" ||
      die "module $m needs $dep, which is not loaded before it"
  done
  install -m 0644 "$ko" "$R/lib/modules/$m.ko"
  if [[ " ${NET_MODULES[*]} " == *" $m "* ]]; then net_modules_order+=("$m"); else modules_order+=("$m"); fi
done
printf '%s\n' "${modules_order[@]}" >"$R/etc/modules.order"
printf '%s\n' "${net_modules_order[@]}" >"$R/etc/modules.net"

# qemu-ga and the shared libraries it needs, resolved by the unpacked glibc's
# own loader against the unpacked packages only (--inhibit-cache keeps the
# host's ld.so.cache out of it).
install -m 0755 "$WORK/pkgroot/usr/sbin/qemu-ga" "$R/usr/sbin/qemu-ga"
libdirs="$WORK/pkgroot/lib/x86_64-linux-gnu:$WORK/pkgroot/usr/lib/x86_64-linux-gnu"
loader="$WORK/pkgroot/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
[ -e "$loader" ] || die "no ld-linux-x86-64.so.2 in libc6"
lib_list=$(env -u LD_LIBRARY_PATH -u LD_PRELOAD "$loader" --inhibit-cache --library-path "$libdirs" \
  --list "$WORK/pkgroot/usr/sbin/qemu-ga") || die "cannot resolve qemu-ga's libraries: $lib_list"
while read -r soname arrow path _; do
  # The loader lists itself by its absolute path; it is copied below.
  [ "$arrow" = "=>" ] && [ "${soname#/}" = "$soname" ] || continue
  case "$path" in
    "$WORK/pkgroot/"*) cp -L "$path" "$R/lib/x86_64-linux-gnu/$soname" ;;
    *) die "qemu-ga needs $soname, found only at '$path' (not in the downloaded packages)" ;;
  esac
done <<<"$lib_list"
cp -L "$loader" "$R/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
ln -s ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$R/lib64/ld-linux-x86-64.so.2"

cat >"$R/init" <<'EOF'
#!/bin/sh
# First process of the nightshift test guest: prepares devices, modules and the
# data disk, then hands PID 1 to busybox init (/etc/inittab), which keeps the
# guest agent running, reaps orphans and runs the shutdown hook on power-off.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
log() { echo "nightshift-guest: $*"; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/virtio-ports /run/qemu-ga
mount -t devpts devpts /dev/pts
hostname nsguest
# Loopback up, as on any real guest: guest-network-get-interfaces reports it.
ifconfig lo 127.0.0.1 netmask 255.0.0.0 up
log "kernel $(uname -r) up after $(cut -d' ' -f1 /proc/uptime) s"

loaded=
while read -r module; do
  if insmod "/lib/modules/$module.ko"; then loaded="$loaded $module"; else log "insmod $module failed"; fi
done </etc/modules.order
log "modules loaded:$loaded"

# devtmpfs makes /dev/vda from its own kernel thread, possibly after insmod
# returned; give it a moment.
i=0
while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if [ ! -b /dev/vda ]; then
  log "no /dev/vda: running without /data"
elif mount -t ext4 /dev/vda /data; then
  log "mounted /dev/vda (ext4) at /data"
else
  log "mounting /dev/vda at /data failed"
fi

# Optional network, only with nsnet=ADDR/PREFIX on the kernel command line
# (shell builtins only until then, so a guest without it boots as before):
# eth0 gets that address, and init keeps an echo service on TCP port 7 and
# busybox httpd on port 80 running for tests that check a guest from outside.
read -r cmdline </proc/cmdline
nsnet=
for arg in $cmdline; do
  case "$arg" in nsnet=*) nsnet=${arg#nsnet=} ;; esac
done
if [ -n "$nsnet" ]; then
  loaded=
  while read -r module; do
    [ -n "$module" ] || continue
    if insmod "/lib/modules/$module.ko"; then loaded="$loaded $module"; else log "insmod $module failed"; fi
  done </etc/modules.net
  log "network modules loaded:$loaded"
  i=0
  while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  if [ ! -e /sys/class/net/eth0 ]; then
    log "nsnet=$nsnet but no eth0 (is there a virtio <interface> in the domain XML?)"
  elif ip addr add "$nsnet" dev eth0 && ip link set eth0 up; then
    log "eth0 up with $nsnet at $(cut -d' ' -f1 /proc/uptime) s"
    mkdir -p /www
    cat >/www/index.html <<PAGE
<!DOCTYPE html>
<html><head><title>$(hostname)</title></head>
<body><h1>$(hostname)</h1><p>nightshift test guest at ${nsnet%/*}</p></body></html>
PAGE
    printf '%s\n' "::respawn:/sbin/echo-service" "::respawn:/sbin/http-service" >>/etc/inittab
  else
    log "configuring eth0 with nsnet=$nsnet failed"
  fi
fi

log "starting busybox init at $(cut -d' ' -f1 /proc/uptime) s"
exec /sbin/init
EOF

cat >"$R/etc/inittab" <<'EOF'
# busybox init: respawn the guest agent and the power-button watcher; run the
# shutdown hook before poweroff/reboot/halt (from the agent or the button).
# With nsnet=, /init appends the echo and http services.
::respawn:/sbin/guest-agent
::respawn:/sbin/power-button-watch
ttyS0::askfirst:-/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/sbin/before-poweroff
EOF

cat >"$R/sbin/guest-agent" <<'EOF'
#!/bin/sh
# There is no udev in this guest, so the stable name qemu-ga is told to open
# (/dev/virtio-ports/<channel name>) has to be made here from sysfs.
log() { echo "nightshift-guest: $*" >/dev/console; }
port=/dev/virtio-ports/org.qemu.guest_agent.0
mkdir -p /dev/virtio-ports /run/qemu-ga
for name_file in /sys/class/virtio-ports/*/name; do
  [ -f "$name_file" ] || continue
  name=$(cat "$name_file")
  [ -n "$name" ] || continue
  ln -sfn "../$(basename "$(dirname "$name_file")")" "/dev/virtio-ports/$name"
done
if [ ! -e "$port" ]; then
  log "no virtio port named org.qemu.guest_agent.0 (is the <channel> in the domain XML?); retrying in 5 s"
  sleep 5
  exit 1
fi
log "starting qemu-ga on $port at $(cut -d' ' -f1 /proc/uptime) s"
exec /usr/sbin/qemu-ga -m virtio-serial -p "$port" -t /run/qemu-ga -f /run/qemu-ga.pid
EOF

cat >"$R/sbin/power-button-watch" <<'EOF'
#!/bin/sh
# ACPI shutdown (virsh shutdown --mode acpi, and libvirt's fallback when the
# agent does not answer) only presses the power button; nothing in this guest
# would react to it but this. Any event from the button device means a press;
# 24 bytes is one struct input_event on x86_64.
log() { echo "nightshift-guest: $*" >/dev/console; }
found=
for event in /sys/class/input/event*; do
  [ "$(cat "$event/device/name" 2>/dev/null)" = "Power Button" ] || continue
  found=1
  (
    dd if="/dev/input/${event##*/}" of=/dev/null bs=24 count=1 2>/dev/null || exit 1
    log "ACPI power button pressed: powering off"
    poweroff
  ) &
done
if [ -z "$found" ]; then
  log "no ACPI power button input device; ACPI shutdown will not work"
  exec sleep 2147483647
fi
wait
EOF

cat >"$R/sbin/echo-service" <<'EOF'
#!/bin/sh
# Started by init only when the guest has a network (nsnet=): echoes whatever a
# client sends on TCP port 7. Two or more -l keep listening and fork one cat
# per connection; busybox nc also uses the number of -l as listen()'s backlog,
# and with -ll (a backlog of 2) a few simultaneous connects to the slow TCG
# guest were reset, so it gets 64.
nc -$(printf 'l%.0s' $(seq 64)) -p 7 -e /bin/cat
echo "nightshift-guest: echo service on port 7 exited ($?); restarting in 1 s" >/dev/console
sleep 1
EOF

cat >"$R/sbin/http-service" <<'EOF'
#!/bin/sh
# Started by init only when the guest has a network (nsnet=): serves /www
# (index.html names the guest's hostname and address) on TCP port 80.
httpd -f -p 80 -h /www
echo "nightshift-guest: httpd on port 80 exited ($?); restarting in 1 s" >/dev/console
sleep 1
EOF

cat >"$R/sbin/shutdown" <<'EOF'
#!/bin/sh
# busybox has no shutdown applet, but qemu-ga's guest-shutdown runs
# "/sbin/shutdown -h -P|-H|-r +0 'hypervisor initiated shutdown'" and reports
# an error unless it exits 0. poweroff/reboot/halt are busybox applets that
# signal init, which runs /sbin/before-poweroff (sync, unmount /data), stops
# every process and only then powers off, reboots or halts.
action=poweroff
for arg in "$@"; do
  case "$arg" in
    -r) action=reboot ;;
    -H) action=halt ;;
    -P) action=poweroff ;;
  esac
done
echo "nightshift-guest: shutdown $* -> $action" >/dev/console
exec "$action"
EOF

cat >"$R/sbin/before-poweroff" <<'EOF'
#!/bin/sh
# Run by init before it kills everything and powers off or reboots, so that
# the data disk is clean for whoever boots it next.
echo "nightshift-guest: going down: syncing and unmounting /data" >/dev/console
sync
umount /data 2>/dev/null || mount -o remount,ro /data 2>/dev/null || true
EOF

cat >"$R/etc/os-release" <<'EOF'
NAME="nightshift test guest"
ID=nightshift-test-guest
VERSION_ID=1
PRETTY_NAME="nightshift test guest (busybox + qemu-ga on Debian's kernel)"
EOF
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\n' >"$R/etc/group"
chmod 0755 "$R/init" "$R/sbin/guest-agent" "$R/sbin/power-button-watch" "$R/sbin/echo-service" "$R/sbin/http-service" "$R/sbin/shutdown" "$R/sbin/before-poweroff"

# Order, owners and times fixed so the same inputs give the same archive.
find "$R" -exec touch -h -d @0 {} +
(cd "$R" && find . -mindepth 1 | sort | cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -9n >"$WORK/initrd.gz"
install -m 0644 "$vmlinuz" "$WORK/vmlinuz"

# --- data disk template -----------------------------------------------------

mkdir -p "$WORK/data-root"
echo v1 >"$WORK/data-root/version"
truncate -s "$DATA_DISK_SIZE" "$WORK/data.raw"
# Inode tables and journal zeroed now, so the guest's ext4lazyinit thread does
# not write to the disk behind the tests' backs.
mkfs.ext4 -q -F -L nsdata -E lazy_itable_init=0,lazy_journal_init=0 -d "$WORK/data-root" "$WORK/data.raw"
qemu-img convert -f raw -O qcow2 "$WORK/data.raw" "$WORK/data.qcow2"

# --- publish ----------------------------------------------------------------

for f in "${ARTEFACTS[@]}"; do mv -f "$WORK/$f" "$CACHE_DIR/$f"; done
write_stamp
rm -rf "$WORK"
log "built in $(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s (kernel $kernel_release, modules: ${modules_order[*]}; with nsnet: ${net_modules_order[*]})"
print_artefacts
