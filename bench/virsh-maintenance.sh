#!/usr/bin/env bash
# The manual maintenance procedure an operator runs today, one VM at a time,
# with virsh only: the baseline of bench/maintenance-run.ts.
#
#   VERSION=v7 SNAPSHOT=manual-7 bench/virsh-maintenance.sh VM...
#
# Per VM, in order (the same work as a nightshift run with patch
# `echo $VERSION > /data/version && sync` and verify `cat /data/version`):
#   1. virsh domstate              the VM must be running
#   2. guest-ping                  its guest agent must answer
#   3. verify before               `cat /data/version` must print a version (v<digits>)
#   4. snapshot-create-as          an internal snapshot with memory (libvirt's
#                                  default for a running VM on qcow2 disks, the
#                                  same call with the same flags as nightshift's agent)
#   5. patch                       `echo $VERSION > /data/version && sync`, must exit 0
#   6. verify after                `cat /data/version` must print exactly $VERSION
# Guest commands go through guest-exec and are polled with guest-exec-status
# until they exited; the output is base64 in out-data.
#
# Environment: VERSION (default v2), SNAPSHOT (snapshot name, default
# manual-<epoch>), LIBVIRT_DEFAULT_URI (default qemu:///system).
# Exits non-zero at the first VM that fails, naming it and the step.
set -euo pipefail

VERSION=${VERSION:-v2}
SNAPSHOT=${SNAPSHOT:-manual-$(date +%s)}
export LIBVIRT_DEFAULT_URI=${LIBVIRT_DEFAULT_URI:-qemu:///system}

[ "$#" -gt 0 ] || { echo "usage: VERSION=v2 SNAPSHOT=name $0 VM..." >&2; exit 2; }
command -v jq >/dev/null || { echo "$0: needs jq" >&2; exit 2; }

fail() { echo "virsh-maintenance: $*" >&2; exit 1; }

# guest_sh VM COMMAND: runs `/bin/sh -c COMMAND` in the guest, waits for it,
# prints its stdout; fails on a non-zero exit.
guest_sh() {
  local vm=$1 cmd=$2 request reply pid status
  request=$(jq -cn --arg c "$cmd" '{execute: "guest-exec", arguments: {path: "/bin/sh", arg: ["-c", $c], "capture-output": true}}')
  reply=$(virsh qemu-agent-command "$vm" "$request")
  pid=$(jq -er '.return.pid' <<<"$reply")
  # Poll at once, then every 0.1 s (each virsh call itself takes tens of ms).
  while :; do
    status=$(virsh qemu-agent-command "$vm" "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":$pid}}")
    [ "$(jq -r '.return.exited' <<<"$status")" = true ] && break
    sleep 0.1
  done
  local code
  code=$(jq -r '.return.exitcode // "none"' <<<"$status")
  [ "$code" = 0 ] || fail "$vm: \`$cmd\` exited $code: $(jq -r '.return["err-data"] // ""' <<<"$status" | base64 -d)"
  jq -r '.return["out-data"] // ""' <<<"$status" | base64 -d
}

for vm in "$@"; do
  state=$(virsh domstate "$vm")
  [ "$state" = running ] || fail "$vm: state $state, not running"

  virsh qemu-agent-command "$vm" '{"execute":"guest-ping"}' >/dev/null || fail "$vm: the guest agent does not answer"

  before=$(guest_sh "$vm" "cat /data/version")
  [[ "$before" =~ ^v[0-9]+$ ]] || fail "$vm: verify before: /data/version is '$before'"

  virsh snapshot-create-as "$vm" "$SNAPSHOT" --description "manual maintenance $VERSION" >/dev/null ||
    fail "$vm: snapshot $SNAPSHOT failed"

  guest_sh "$vm" "echo $VERSION > /data/version && sync" >/dev/null

  after=$(guest_sh "$vm" "cat /data/version")
  [ "$after" = "$VERSION" ] || fail "$vm: verify after: /data/version is '$after', expected '$VERSION'"
  echo "$vm: $before -> $after, snapshot $SNAPSHOT"
done
