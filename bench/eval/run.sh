#!/usr/bin/env bash
# Evaluation time per job without the evaluation cache, with a cold one (the job fills
# it) and with the warm one (worker/data/eval_cache.h), and the input pipeline alone
# (decode + preprocess, or the cache's read, with no model) the same three ways:
#   1. the demo sweep's evaluation: its model architecture (fmnist_resnet, random
#      weights: the time does not depend on them) over the 9 FMNIST-RIB eval datasets'
#      test splits, as every demo job evaluates them;
#   2. ImageNet-sized JPEGs (bench/data's generator, 500x375 and similar): resnet18 at
#      224 px (torchvision's preprocessing) over COUNT images (split: reference, so all
#      of them are evaluated), where decoding is most of the input cost.
# Prints a markdown table.   BUILD=build THREADS=2 COUNT=400 ROUNDS=1 bench/eval/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
THREADS=${THREADS:-$(nproc)}
COUNT=${COUNT:-400}
ROUNDS=${ROUNDS:-1}
cmake --build "$BUILD" --target rib-bench-eval rib-bench-data rib-data >/dev/null
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
mkdir -p "$DIR/data"
"$BUILD/bin/rib-data" build-fmnist --data-root="$DIR/data" >/dev/null
"$BUILD/bin/rib-bench-data" generate --dir "$DIR/jpeg" --count "$COUNT" --seed 0 >/dev/null
# Read every file once so that no way pays for a cold page cache.
cat "$DIR"/jpeg/imagenet-sketch/*/* > /dev/null
echo "| case | cache | images | job wall (s) | job images/s | input-only images/s | of which open (s) |"
echo "|---|---|---:|---:|---:|---:|---:|"
"$BUILD/bin/rib-bench-eval" --data_root="$DIR/data" --datasets=suite:fmnist-rib \
  --arch=fmnist_resnet --num_classes=10 --threads="$THREADS" --rounds="$ROUNDS" \
  --cache_dir="$DIR/cache-fmnist" --label="demo eval (fmnist_resnet, 9 datasets)" \
  2> "$DIR/fmnist.log" || { cat "$DIR/fmnist.log" >&2; exit 1; }
"$BUILD/bin/rib-bench-eval" --data_root="$DIR/jpeg" --datasets=imagenet-sketch \
  --arch=resnet18 --num_classes=1000 --split=reference --batch=64 --threads="$THREADS" \
  --rounds="$ROUNDS" --cache_dir="$DIR/cache-jpeg" \
  --label="$COUNT ImageNet-sized JPEGs (resnet18, 224 px)" \
  2> "$DIR/jpeg.log" || { cat "$DIR/jpeg.log" >&2; exit 1; }
