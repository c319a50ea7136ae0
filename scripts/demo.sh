#!/usr/bin/env bash
# The main job on one machine: a few real demo guests on the local libvirtd, a
# controller, and this host's agent reporting to it; then what an operator sees,
# and a maintenance run over the three guests: snapshot, patch, verify, and a
# rollback of nsdemo-3, whose patch deliberately breaks it; then its evidence.
#
#   scripts/demo.sh          start (or keep) everything and show the fleet
#   scripts/demo.sh stop     stop controller and agent, remove the demo guests
#
# State lives in /var/lib/nightshift-demo; logs in /var/log/nightshift-demo.
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO_DIR=/var/lib/nightshift-demo
LOG_DIR=/var/log/nightshift-demo
LISTEN=127.0.0.1:8650
URL=http://$LISTEN
HOST_NAME=$(hostname)
node_bin=$(command -v node)

stop_pid() {
  local file=$1
  if [ -f "$file" ] && kill -0 "$(cat "$file")" 2>/dev/null; then
    kill -TERM "$(cat "$file")"
    for _ in $(seq 1 50); do kill -0 "$(cat "$file")" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$file"
}

if [ "${1:-}" = "stop" ]; then
  stop_pid "$DEMO_DIR/agent.pid"
  stop_pid "$DEMO_DIR/controller.pid"
  "$node_bin" dist/demo/guests.js down
  exit 0
fi

mkdir -p "$DEMO_DIR" "$LOG_DIR"
echo "== demo guests (real QEMU guests with the guest agent)"
"$node_bin" dist/demo/guests.js up 3

echo "== controller on $URL"
if ! { [ -f "$DEMO_DIR/controller.pid" ] && kill -0 "$(cat "$DEMO_DIR/controller.pid")" 2>/dev/null; }; then
  nohup "$node_bin" dist/controller/cli/main.js --listen "$LISTEN" --data-dir "$DEMO_DIR/controller" \
    >>"$LOG_DIR/controller.log" 2>&1 &
  echo $! >"$DEMO_DIR/controller.pid"
fi
for _ in $(seq 1 100); do curl -sf "$URL/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "$URL/readyz" >/dev/null || { echo "controller did not become ready; see $LOG_DIR/controller.log" >&2; exit 1; }

export NIGHTSHIFT_URL=$URL
NIGHTSHIFT_TOKEN=$(cat "$DEMO_DIR/controller/admin.token")
export NIGHTSHIFT_TOKEN
nightshift() { "$node_bin" dist/cli/main.js "$@"; }

echo "== agent for host $HOST_NAME"
if [ ! -s "$DEMO_DIR/agent.token" ]; then
  nightshift hosts enroll "$HOST_NAME" --json | "$node_bin" -e \
    'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).token))' \
    >"$DEMO_DIR/agent.token"
  chmod 600 "$DEMO_DIR/agent.token"
fi
# The only guest commands this agent runs for the controller: the demo's patch and verify.
PATCH='echo v2 > /data/version && if [ -e /data/fragile ]; then echo broken > /data/health; fi; sync'
VERIFY='cat /data/health'
cat >"$DEMO_DIR/agent.yaml" <<EOF
maintenance:
  guestCommands:
    - '$PATCH'
    - '$VERIFY'
EOF
if ! { [ -f "$DEMO_DIR/agent.pid" ] && kill -0 "$(cat "$DEMO_DIR/agent.pid")" 2>/dev/null; }; then
  NIGHTSHIFT_AGENT_HOST=$HOST_NAME nohup "$node_bin" dist/agent/cli/main.js run --config "$DEMO_DIR/agent.yaml" \
    --controller "ws://$LISTEN/v1/agent" --token-file "$DEMO_DIR/agent.token" \
    --uri qemu:///system --state-dir "$DEMO_DIR/agent" >>"$LOG_DIR/agent.log" 2>&1 &
  echo $! >"$DEMO_DIR/agent.pid"
fi
for _ in $(seq 1 100); do
  [ "$(nightshift vms --json | "$node_bin" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).filter(v=>v.name.startsWith("nsdemo-")).length))')" -ge 3 ] && break
  sleep 0.2
done

echo
echo "== nightshift hosts"
nightshift hosts
echo
echo "== nightshift vms"
nightshift vms
echo
echo "== nightshift findings (this host's health probes)"
for _ in $(seq 1 50); do
  curl -sf "$URL/metrics" | grep -q "^nightshift_probe_success{host=\"$HOST_NAME\"" && break
  sleep 0.2
done
nightshift findings
echo
echo "== nightshift events --since 1h (latest)"
nightshift events --since 1h --limit 10
echo
echo "== nightshift run start: snapshot -> patch -> verify on 3 guests (nsdemo-3 is meant to fail and be rolled back)"
# --wait exits 1 unless every VM succeeded; here one rollback is the point, so the outcome is checked below.
nightshift run start --name "demo: version 2" --vm nsdemo-1 --vm nsdemo-2 --vm nsdemo-3 \
  --patch-exec "$PATCH" --verify-exec "$VERIFY" --verify-output ok --canary 1 --max-failures 2 --wait || true
RUN_ID=$(nightshift runs --json --limit 1 | "$node_bin" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].id))')
echo
echo "== nightshift run show $RUN_ID"
nightshift run show "$RUN_ID"
echo
echo "== nightshift run evidence $RUN_ID"
nightshift run evidence "$RUN_ID"
echo
echo "== nightshift snapshots"
nightshift snapshots
OUTCOMES=$(nightshift run show "$RUN_ID" --json | "$node_bin" -e \
  'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).vms.map(v=>v.vm+"="+v.outcome).join(" ")))')
if [ "$OUTCOMES" != "nsdemo-1=succeeded nsdemo-2=succeeded nsdemo-3=rolled-back" ]; then
  echo "demo run did not end as intended: $OUTCOMES" >&2
  exit 1
fi
echo
echo "Run $RUN_ID: $OUTCOMES"
echo
echo "Metrics:     $URL/metrics   (e.g. curl -s $URL/metrics | grep ^nightshift_vm_state)"
echo "CLI:         export NIGHTSHIFT_URL=$URL NIGHTSHIFT_TOKEN=\$(cat $DEMO_DIR/controller/admin.token)"
echo "             node dist/cli/main.js vms"
echo "Logs:        $LOG_DIR/{controller,agent}.log"
echo "Stop:        scripts/demo.sh stop"
