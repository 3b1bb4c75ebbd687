#!/usr/bin/env bash
# What PostgreSQL alone sustains on this machine, on the throwaway cluster settings
# bench/coordinator/run.sh uses (fsync off, loopback): pgbench with the coordinator's
# pool size of clients, for three one-statement transactions —
#   select1   SELECT 1 (a round trip and a commit: the floor of any call)
#   update    one UPDATE of a random row of 100,000 (a hand-out's or report's write)
#   eventlock pg_advisory_xact_lock on one key, then one INSERT, then COMMIT: what
#             transactions that log to one sweep can do at most, since each holds that
#             sweep's event lock to its commit (pg_job_writes.h)
# Prints transactions/s of each.
#   bench/coordinator/pg_ceiling.sh [seconds per case, default 10] [clients, default 16]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
SECONDS_EACH=${1:-10}
CLIENTS=${2:-16}
DIR=$(mktemp -d /tmp/rib-pg-ceiling.XXXXXX)
cleanup() { rib_pg_stop; rm -rf "$DIR"; }
trap cleanup EXIT INT TERM
rib_pg_start "$DIR/pg"
rib_pg_createdb rib_ceiling >/dev/null
sql() { psql -h 127.0.0.1 -p "$RIB_PG_PORT" -U postgres -d rib_ceiling -qtAc "$1"; }
sql "CREATE TABLE t (id int PRIMARY KEY, v bigint NOT NULL DEFAULT 0);
     INSERT INTO t (id) SELECT generate_series(1, 100000);
     CREATE TABLE log (id bigserial PRIMARY KEY, payload text NOT NULL)"
echo "SELECT 1;" >"$DIR/select1.sql"
printf '\\set id random(1, 100000)\nUPDATE t SET v = v + 1 WHERE id = :id;\n' \
  >"$DIR/update.sql"
printf 'BEGIN;\nSELECT pg_advisory_xact_lock(1);\nINSERT INTO log (payload) VALUES (%s);\nCOMMIT;\n' \
  "'event'" >"$DIR/eventlock.sql"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for case in select1 update eventlock; do
  tps=$("$RIB_PG_BIN/pgbench" -h 127.0.0.1 -p "$RIB_PG_PORT" -U postgres -n -c "$CLIENTS" \
    -j 2 -T "$SECONDS_EACH" -f "$DIR/$case.sql" rib_ceiling 2>&1 |
    sed -n 's/^tps = \([0-9.]*\).*/\1/p')
  printf '%-10s %10s transactions/s (%s clients)\n' "$case" "$tps" "$CLIENTS"
done
