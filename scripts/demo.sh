#!/usr/bin/env bash
# The README's first command: the whole rib system on the embedded FMNIST-RIB suite.
#
#   scripts/demo.sh            build (once), start PostgreSQL, the coordinator and two
#                              CPU workers, build FMNIST-RIB and pre-train the two
#                              embedded models (cached), submit the demo sweep, watch it,
#                              print the matrices and write the report directory
#   scripts/demo.sh --fresh    discard the previous state and results (not the build)
#   scripts/demo.sh --short    a small sweep (CI's e2e test of this script)
#   scripts/demo.sh --stay     keep the system running after the report, until Ctrl-C
#                              or SIGTERM ($RIB_STATE_DIR/run/demo.env says where it is)
#
# State lives in $RIB_STATE_DIR (default: state/ in the checkout): the PostgreSQL
# cluster, datasets, model weights, job artifacts and logs. A second run reuses all of
# it: the same sweep file resolves to the same sweep, so it finishes in seconds.
# Everything started here is stopped on exit or Ctrl-C.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

fresh=0
short=0
stay=0
for arg in "$@"; do
  case "$arg" in
    --fresh) fresh=1 ;;
    --short) short=1 ;;
    --stay) stay=1 ;;
    -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "demo.sh: unknown argument '$arg' (expected --fresh, --short, --stay)" >&2; exit 2 ;;
  esac
done

STATE="${RIB_STATE_DIR:-$RIB_ROOT/state}"
REPORT="${RIB_REPORT_DIR:-$STATE/report}"
SWEEP_FILE="$RIB_ROOT/scripts/demo_sweep.yaml"
# The models the sweep uses: both embedded ResNets, or for --short only the plain one.
PRETRAIN_ONLY=fmnist_resnet_plain,fmnist_resnet_rich
if [ "$short" = 1 ]; then
  SWEEP_FILE="$RIB_ROOT/scripts/demo_sweep_short.yaml"
  PRETRAIN_ONLY=fmnist_resnet_plain
fi
BIN="$RIB_BUILD_DIR/bin"

if [ -z "${RIB_DEMO_SKIP_BUILD:-}" ]; then   # set by the e2e test, which runs from a built tree
  rib_install_deps
  rib_log "building (incremental)"
  rib_build rib-coordinator rib-worker rib-rank rib rib-data rib-pretrain >/dev/null
fi

if [ "$fresh" = 1 ] && [ -d "$STATE" ]; then
  rib_log "--fresh: removing $STATE"
  rm -rf "$STATE"
fi
mkdir -p "$STATE/data" "$STATE/artifacts/models" "$STATE/logs" "$STATE/run"
rm -f "$STATE/run/demo.env"

pids=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # Workers first (newest first), then the coordinator.
  rib_stop_pids "${pids[@]}"
  jobs -p | xargs -r kill 2>/dev/null || true
  rib_pg_stop
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. PostgreSQL, kept under the state directory so results survive between runs.
RIB_PG_PORT="" rib_pg_start "$STATE/pg"
DB="$(rib_pg_createdb rib)"
rib_log "PostgreSQL on 127.0.0.1:$RIB_PG_PORT"

# 2. The coordinator, on a free port. Its output file exists before it starts: the
# background job's redirection may open it only after the loop below first reads it.
: >"$STATE/logs/coordinator.out"
"$BIN/rib-coordinator" --listen=127.0.0.1:0 --http-listen=127.0.0.1:0 --database="$DB" \
  --artifact-root="$STATE/artifacts" --lease-timeout=20s --heartbeat-interval=2s \
  >"$STATE/logs/coordinator.out" 2>"$STATE/logs/coordinator.log" &
pids+=($!)
addr=""
dashboard=""
for _ in $(seq 1 300); do
  addr="$(sed -n 's/^listening on //p' "$STATE/logs/coordinator.out" | head -1)"
  dashboard="$(sed -n 's/^dashboard on //p' "$STATE/logs/coordinator.out" | head -1)"
  [ -n "$addr" ] && [ -n "$dashboard" ] && break
  kill -0 "${pids[-1]}" 2>/dev/null || { tail -20 "$STATE/logs/coordinator.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$addr" ] || { rib_log "coordinator did not start"; exit 1; }
export RIB_COORDINATOR="$addr"
rib_log "coordinator on $addr"

# Every call needs a token: an admin's for the rib CLI (user "demo") and a worker's for
# the workers, made on the database once (`rib-coordinator token create`) and kept
# beside it in the state directory (mode 0600).
make_token() {  # FILE USER ROLE
  if [ ! -s "$1" ]; then
    (umask 077; "$BIN/rib-coordinator" --database="$DB" --log-level=warning token create \
      --user="$2" --role="$3" 2>/dev/null >"$1.tmp") && mv "$1.tmp" "$1"
  fi
}
make_token "$STATE/run/admin.token" demo admin
make_token "$STATE/run/worker.token" demo-worker worker
RIB_TOKEN="$(cat "$STATE/run/admin.token")"
export RIB_TOKEN
rib_log "tokens in $STATE/run/ (admin 'demo' for rib, 'demo-worker' for the workers)"
rib_log "dashboard: $dashboard (log in with the token in $STATE/run/admin.token)"

# 3. FMNIST-RIB and the two embedded pre-trained models (both cached).
"$BIN/rib-data" build-fmnist --data-root="$STATE/data" >&2
"$BIN/rib-pretrain" --data-root="$STATE/data" --out="$STATE/artifacts/models" \
  --only="$PRETRAIN_ONLY" >&2

# 4. Two workers, one CPU slot each (this machine has 2 cores).
worker_pids=()
for i in 1 2; do
  "$BIN/rib-worker" --coordinator="$addr" --devices=cpu:1 --threads-per-slot=1 \
    --data-root="$STATE/data" --artifact-root="$STATE/artifacts" --name="demo-worker-$i" \
    --token-file="$STATE/run/worker.token" --metrics-listen=127.0.0.1:0 \
    --drain-timeout=10s --cache-root="$STATE/eval-cache" 2>"$STATE/logs/worker-$i.log" &
  pids+=($!)
  worker_pids+=($!)
done 2>/dev/null

# 5. Submit, watch, report.
"$BIN/rib" submit "$SWEEP_FILE" >&2
sweep="$("$BIN/rib" submit -q "$SWEEP_FILE")"   # idempotent: the same file → the same sweep
rib_log "watch it fill in: $dashboard#/sweep/$sweep"
watch_rc=0
# In the background + wait, so a SIGINT/SIGTERM sent to this script alone (not only a
# terminal's Ctrl-C to the whole group) runs the cleanup at once.
"$BIN/rib" watch "$sweep" &
wait $! || watch_rc=$?
"$BIN/rib" matrix "$sweep"
rm -rf "$REPORT"
"$BIN/rib" matrix "$sweep" --out "$REPORT" >/dev/null
rib_log "report written to $REPORT (matrix.csv, matrix.json, heatmap_*.svg, summary.md)"
if [ "$watch_rc" != 0 ]; then
  rib_log "some jobs failed: see 'rib status $sweep' and $STATE/logs/"
  exit "$watch_rc"
fi
if [ "$stay" = 1 ]; then
  # Where the running system is, for a second shell (and tests/e2e/security_test.sh).
  cat >"$STATE/run/demo.env.tmp" <<ENV
RIB_COORDINATOR=$addr
RIB_DEMO_DATABASE=$DB
RIB_DEMO_SWEEP=$sweep
RIB_DEMO_STATE=$STATE
RIB_DEMO_BIN=$BIN
RIB_DEMO_DASHBOARD=$dashboard
RIB_DEMO_WORKER_PIDS="${worker_pids[*]}"
RIB_DEMO_WORKER_METRICS="$(sed -n 's/.*] metrics on //p' "$STATE"/logs/worker-*.log | tr '\n' ' ')"
ENV
  mv "$STATE/run/demo.env.tmp" "$STATE/run/demo.env"
  rib_log "running until Ctrl-C: RIB_COORDINATOR=$addr RIB_TOKEN=\$(cat $STATE/run/admin.token) $BIN/rib sweeps"
  rib_log "dashboard: $dashboard#/sweep/$sweep"
  while :; do sleep 1 & wait $!; done
fi
