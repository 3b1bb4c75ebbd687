#!/usr/bin/env bash
# Checks the thread-safety annotations (ABSL_GUARDED_BY, ABSL_EXCLUSIVE_LOCKS_REQUIRED,
# ...) with clang's -Wthread-safety, as errors: every translation unit is compiled by
# clang into build-clang/ (objects only: the analysis is per translation unit, so
# nothing is linked or run). Installs Debian's clang if it is missing. .ci/run runs it.
#   scripts/thread_safety.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rib_install_deps
rib_install_packages clang

dir="${RIB_CLANG_BUILD_DIR:-$RIB_ROOT/build-clang}"
export CCACHE_BASEDIR="$RIB_ROOT"
export CCACHE_SLOPPINESS="pch_defines,time_macros,include_file_mtime,include_file_ctime"
if [ ! -f "$dir/build.ninja" ]; then
  cmake -S "$RIB_ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g0" \
    -DCMAKE_CXX_FLAGS="-Wthread-safety -Werror=thread-safety" \
    -DRIB_BUILD_BENCH=OFF >/dev/null
fi
mapfile -t objects < <(ninja -C "$dir" -t targets all | awk -F: '/\.o: / {print $1}')
rib_log "clang -Wthread-safety: compiling ${#objects[@]} translation units"
ninja -C "$dir" -k 0 -j "${RIB_BUILD_JOBS:-$(nproc)}" "${objects[@]}"
rib_log "thread-safety annotations: no errors"
