#!/usr/bin/env bash
# Starts virtlogd and libvirtd on a machine without systemd as PID 1 (containers,
# CI runners), idempotently. On a host managed by systemd, use its units instead.
set -euo pipefail

[ "$(id -u)" -eq 0 ] || { echo "start-libvirtd: must run as root" >&2; exit 1; }

mkdir -p /var/run/libvirt /var/log/libvirt /var/lib/libvirt/images /etc/libvirt

# Without the libvirt-daemon-system package the user and group the QEMU driver
# was built for do not exist, and the driver refuses to start before it reads
# qemu.conf. Create them; guests still run as root (qemu.conf below) so they
# can open images anywhere the tests put them.
getent group kvm >/dev/null || groupadd --system kvm
getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
getent passwd libvirt-qemu >/dev/null || useradd --system --no-create-home --shell /usr/sbin/nologin -g libvirt-qemu libvirt-qemu
if [ ! -f /etc/libvirt/qemu.conf ] || ! grep -q '^user = "root"' /etc/libvirt/qemu.conf; then
  cat > /etc/libvirt/qemu.conf <<'CONF'
user = "root"
group = "root"
CONF
fi

# A short keepalive makes the daemon drop clients that do not answer its PING
# within seconds; our client must answer, and the tests prove it.
if [ ! -f /etc/libvirt/libvirtd.conf ]; then
  cat > /etc/libvirt/libvirtd.conf <<'CONF'
keepalive_interval = 2
keepalive_count = 3
max_clients = 5000
max_anonymous_clients = 5000
max_workers = 20
CONF
fi

if ! pgrep -x virtlogd >/dev/null; then
  virtlogd -d
fi
if ! pgrep -x libvirtd >/dev/null; then
  libvirtd -d
fi

for _ in $(seq 1 100); do
  if [ -S /var/run/libvirt/libvirt-sock ] && virsh -c qemu:///system version >/dev/null 2>&1; then
    echo "libvirtd ready: $(virsh -c qemu:///system version --daemon | grep -i 'running hypervisor\|daemon' | tr '\n' ' ')"
    exit 0
  fi
  sleep 0.1
done
echo "start-libvirtd: libvirtd did not answer on /var/run/libvirt/libvirt-sock within 10 s" >&2
tail -n 20 /var/log/libvirt/libvirtd.log 2>/dev/null >&2 || true
exit 1
