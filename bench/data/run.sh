#!/usr/bin/env bash
# Decode + preprocess throughput: rib's BatchLoader vs torchvision ImageFolder +
# DataLoader on the same ~2,000 generated ImageNet-sized JPEGs, same thread count, same
# preprocessing (Resize(256) bicubic, CenterCrop(224), ImageNet Normalize). Prints
# images/s and CPU ms/image (getrusage user + sys over the best epoch) for both, the
# ratios, and the largest pixel difference of the outputs. BEFORE=<another
# rib-bench-data binary> (e.g. built from an older commit) adds its row to the same run.
#   BUILD=build THREADS=2 COUNT=2000 bench/data/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
THREADS=${THREADS:-$(nproc)}
COUNT=${COUNT:-2000}
PYTHON=${PYTHON:-/usr/bin/python3}   # Debian's python3 has python3-torchvision
cmake --build "$BUILD" --target rib-bench-data >/dev/null
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
"$BUILD/bin/rib-bench-data" generate --dir "$DIR" --count "$COUNT" --seed 0
# Read every file once so that neither side pays for a cold page cache.
cat "$DIR"/imagenet-sketch/*/* > /dev/null
"$BUILD/bin/rib-bench-data" run --dir "$DIR" --threads "$THREADS" --batch 64 --dump 100 > "$DIR/rib.txt"
BEFORE_ARGS=()
if [ -n "${BEFORE:-}" ]; then
  "$BEFORE" run --dir "$DIR" --threads "$THREADS" --batch 64 > "$DIR/before.txt"
  BEFORE_ARGS=(--before-result "$DIR/before.txt")
fi
"$PYTHON" bench/data/peer.py --dir "$DIR" --threads "$THREADS" --batch 64 --dump 100 \
  --rib-result "$DIR/rib.txt" "${BEFORE_ARGS[@]}"
