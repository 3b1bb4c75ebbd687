#!/usr/bin/env bash
# Engine throughput against the Python peer (issue 4's benchmark; not a test).
#
# Builds rib-bench-engine, then for each case runs the C++ engine and the equivalent
# plain PyTorch loop (bench/engine/peer.py on Debian's python3-torch: the same libtorch)
# one after the other, on the same initial weights, the same in-memory random data and
# the same thread count, and prints one table: training and evaluation images/s of both,
# their ratio, the achieved GFLOP/s (analytic FLOPs) beside this CPU's measured fp32
# matmul peak, and whether the per-step training losses are identical.
#
# Each case runs RIB_BENCH_ROUNDS times (default 2), alternating C++ and Python, and the
# best round of each side is reported, so a burst of load from other processes on a shared
# machine hurts both sides alike.
#
# Environment: RIB_BENCH_THREADS (default: nproc), RIB_BENCH_CASES (default: all three),
# RIB_BENCH_OUT (scratch folder; default: a fresh temporary one), RIB_BUILD_DIR.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../../scripts/lib.sh
source "$HERE/../../scripts/lib.sh"

THREADS="${RIB_BENCH_THREADS:-$(nproc)}"
CASES="${RIB_BENCH_CASES:-fmnist_vit,fmnist_resnet,vit_small_patch16_224}"
OUT="${RIB_BENCH_OUT:-$(mktemp -d -t rib-bench-engine.XXXXXX)}"
mkdir -p "$OUT"

PY=python3
for candidate in /usr/bin/python3 python3; do
  if "$candidate" -c 'import torch, torchvision' >/dev/null 2>&1; then PY="$candidate"; break; fi
done

rib_build rib-bench-engine >&2
rib_log "threads=$THREADS cases=$CASES out=$OUT"
ROUNDS="${RIB_BENCH_ROUNDS:-2}"
for c in ${CASES//,/ }; do
  for ((r = 1; r <= ROUNDS; r++)); do
    "$RIB_BUILD_DIR/bin/rib-bench-engine" --out="$OUT" --threads="$THREADS" --cases="$c"
    "$PY" "$HERE/peer.py" --dir "$OUT" --threads "$THREADS" --cases "$c"
    mv "$OUT/$c.cpp.json" "$OUT/$c.cpp.r$r.json"
    mv "$OUT/$c.py.json" "$OUT/$c.py.r$r.json"
  done
done
"$PY" "$HERE/report.py" "$OUT" "$CASES"
