#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, starts a throwaway
# PostgreSQL 15 cluster, runs every ctest test, and stops the cluster even on failure.
#   scripts/test.sh [ctest arguments...]   e.g. scripts/test.sh -L unit
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rib_install_deps
rib_build

tmp="$(mktemp -d /tmp/rib-test-pg.XXXXXX)"
cleanup() { rib_pg_stop; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
rib_pg_start "$tmp"
export RIB_TEST_DATABASE_URL="$(rib_pg_createdb rib_test)"
export RIB_TEST_PG_ADMIN_URL="postgresql://postgres@127.0.0.1:$RIB_PG_PORT/postgres"
rib_log "PostgreSQL on 127.0.0.1:$RIB_PG_PORT"

cd "$RIB_BUILD_DIR"
ctest --output-on-failure --timeout 900 -j "${RIB_TEST_JOBS:-2}" "$@"
