#!/usr/bin/env bash
# Control-plane throughput: simulated workers (rib-bench-coordinator) against the real
# rib-coordinator and a throwaway PostgreSQL 15, loopback only. Prints lease grants/s and
# AcquireJob / Heartbeat / ReportResults latencies per (workers, queued jobs), the time
# of one SubmitSweep of a 20k-job sweep and of GetMatrix on it, and the deadlocks
# PostgreSQL detected. Everything it starts is stopped on exit.
#   bench/coordinator/run.sh [rib-bench-coordinator flags...]
#   e.g. bench/coordinator/run.sh --workers=10,100,1000 --queued=1000,100000 --duration=10s
# RIB_BENCH_COORDINATOR_FLAGS: more rib-coordinator flags (e.g. --acquire-threads=8).
# RIB_BENCH_COORDINATOR_LOG=FILE: keep the coordinator's log there.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
BUILD=${BUILD:-build}
cmake --build "$BUILD" --target rib-coordinator rib-bench-coordinator >/dev/null
DIR=$(mktemp -d /tmp/rib-bench-coord.XXXXXX)
coordinator=""
cleanup() {
  [ -n "$coordinator" ] && kill "$coordinator" 2>/dev/null && wait "$coordinator" 2>/dev/null
  [ -n "${RIB_BENCH_COORDINATOR_LOG:-}" ] && cp "$DIR/coordinator.log" "$RIB_BENCH_COORDINATOR_LOG"
  rib_pg_stop
  rm -rf "$DIR"
}
trap cleanup EXIT INT TERM
rib_pg_start "$DIR/pg"
DB="$(rib_pg_createdb rib_bench)"
mkdir -p "$DIR/artifacts/models"
# A stand-in weights file (the coordinator only hashes it at submit).
head -c $((256 * 1024)) /dev/urandom > "$DIR/artifacts/models/bench.safetensors"

# Made first: the loop below may read it before the background shell has opened it.
: >"$DIR/coordinator.log"
"$BUILD/bin/rib-coordinator" --listen=127.0.0.1:0 --database="$DB" \
  --artifact-root="$DIR/artifacts" --lease-timeout=120s --heartbeat-interval=1s \
  --max-jobs-per-sweep=100000 --log-level=warning ${RIB_BENCH_COORDINATOR_FLAGS:-} \
  >"$DIR/coordinator.log" 2>&1 &
coordinator=$!
addr=""
for _ in $(seq 1 300); do
  addr="$(sed -n 's/^listening on //p' "$DIR/coordinator.log" | head -1)"
  [ -n "$addr" ] && break
  kill -0 "$coordinator" 2>/dev/null || { cat "$DIR/coordinator.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$addr" ] || { echo "rib-coordinator did not start" >&2; exit 1; }
for who in user:user worker:worker; do
  (umask 077; "$BUILD/bin/rib-coordinator" --database="$DB" --log-level=warning token create \
    --user="bench-${who%%:*}" --role="${who##*:}" >"$DIR/${who%%:*}.token")
done
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; coordinator $addr"
"$BUILD/bin/rib-bench-coordinator" --address="$addr" --user-token-file="$DIR/user.token" \
  --worker-token-file="$DIR/worker.token" --weights=models/bench.safetensors "$@"
psql -h 127.0.0.1 -p "$RIB_PG_PORT" -U postgres -d rib_bench -tAc \
  "SELECT 'PostgreSQL deadlocks detected: ' || deadlocks || '; transactions: '
   || xact_commit || ' committed, ' || xact_rollback || ' rolled back'
   FROM pg_stat_database WHERE datname = 'rib_bench'"
echo "\"deadlock detected\" lines in PostgreSQL's log: $(grep -c 'deadlock detected' "$DIR/pg/server.log" || true)"
