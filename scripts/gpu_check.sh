#!/usr/bin/env bash
# The GPU check (issue 16 item 5; README, "GPU check"): on a machine with an NVIDIA GPU
# and a CUDA LibTorch (the pip torch's), builds the engine-only configuration
# (-DRIB_ENGINE_ONLY=ON), runs the `cuda`-labelled tests and the PyTorch parity test,
# and prints ViT-B/16 (224) fine-tuning and evaluation images/s in bf16 and fp16, the
# engine's beside the same loop in Python torch (bench/engine/peer.py; timm's
# vit_base_patch16_224 where timm is installed), with the model FLOP utilisation, and the
# parity of the engine's ViT-B/16 with that module (random weights, logits compared).
#
# Everything goes to $OUT: gpu_check.log (all output), gpu_check.md (the table),
# bench.json (both sides' measurements), and configure/build/ctest logs (7 files).
# Exit status: 0 when everything that ran passed (skips included), 1 otherwise.
#
# Without a GPU (a CPU-only torch) it runs the CPU parts it can: the build, the parity
# test, the bench pipeline at toy sizes in fp32; it says "no CUDA device: cuda tests
# skipped" and exits 0.
#
# Prepare HERE (a Debian 12 machine): bash scripts/gpu_check_prepare.sh   (.gpu-deps/)
# Then ONE device call:
#   run(command="bash scripts/gpu_check.sh", carry=[".gpu-deps"], timeout_s=600)
# Not run on a GPU yet: no device was lent to the task that wrote it.
#
# Environment: OUT (default /tmp/gpucheck-out), RIB_GPU_BUILD_DIR (default build-gpu),
# RIB_GPU_DEPS_PREFIX (default /tmp/ribdeps), RIB_GPU_JOBS (default nproc),
# RIB_GPU_CASES (default vit_base_patch16_224), RIB_GPU_TARGETS (default: the five
# below; fewer only to rehearse on a slow machine), RIB_PYTHON.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT:-/tmp/gpucheck-out}"
export OUT
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_check.log") 2>&1
BUILD="${RIB_GPU_BUILD_DIR:-$ROOT/build-gpu}"
PREFIX="${RIB_GPU_DEPS_PREFIX:-/tmp/ribdeps}"
JOBS="${RIB_GPU_JOBS:-$(nproc)}"
CASES="${RIB_GPU_CASES:-vit_base_patch16_224}"
# What this check builds: the cuda tests (and the rank helper they start), the parity
# test and the bench. Not rib-run: it decodes images through OpenCV (see
# gpu_check_prepare.sh).
TARGETS=(dist_nccl_test dist_rank_helper engine_train_cuda_train_test
  engine_models_parity_test rib-bench-engine)
if [[ -n "${RIB_GPU_TARGETS:-}" ]]; then read -r -a TARGETS <<< "$RIB_GPU_TARGETS"; fi
# H200 bf16 dense matmul, as measured on the lent machines (8192³ products; KINDS.md).
PEAK_TFLOPS=790
FAILED=()
SECONDS=0

section() { printf '\n== [%4ds] %s\n' "$SECONDS" "$*"; }
fail() { FAILED+=("$1"); echo "FAILED: $1"; }

PY=""
for candidate in ${RIB_PYTHON:-} python3 /usr/bin/python3; do
  if "$candidate" -c 'import torch, torchvision' >/dev/null 2>&1; then PY="$candidate"; break; fi
done
if [[ -z "$PY" ]]; then
  echo "no python3 with torch and torchvision found"
  exit 1
fi

section "machine"
date -u
grep PRETTY_NAME /etc/os-release 2>/dev/null
uname -m
g++ --version 2>/dev/null | head -1
cmake --version | head -1
command -v nvcc >/dev/null && nvcc --version | tail -1
nvidia-smi -L 2>/dev/null || echo "nvidia-smi: none"
"$PY" - <<'EOF'
import torch
print("python torch", torch.__version__, "cuda", torch.version.cuda,
      "available", torch.cuda.is_available(),
      "cxx11 abi", torch._C._GLIBCXX_USE_CXX11_ABI)
if torch.cuda.is_available():
    print("device", torch.cuda.get_device_name(0))
EOF
HAVE_CUDA=$("$PY" -c 'import torch; print(int(torch.cuda.is_available()))')

section "dependencies"
if compgen -G "$ROOT/.gpu-deps/*.deb" >/dev/null; then
  rm -rf "$PREFIX" && mkdir -p "$PREFIX"
  for deb in "$ROOT"/.gpu-deps/*.deb; do dpkg -x "$deb" "$PREFIX"; done
  # Debian's -dev packages point some links at /lib (libz.so -> /lib/.../libz.so.1.2.13):
  # point them into the prefix, or at the machine's own library of that name.
  while IFS= read -r link; do
    target="$(readlink "$link")"
    if [[ -e "$PREFIX$target" ]]; then
      ln -sfn "$PREFIX$target" "$link"
    elif [[ ! -e "$target" ]]; then
      base="$(basename "$link")"
      found="$(ls /lib/x86_64-linux-gnu/"$base".* /usr/lib/x86_64-linux-gnu/"$base".* \
        2>/dev/null | head -1)"
      [[ -n "$found" ]] && ln -sfn "$found" "$link"
    fi
  done < <(find "$PREFIX" -type l -lname '/*')
  echo "unpacked $(ls "$ROOT"/.gpu-deps/*.deb | wc -l) packages into $PREFIX"
  PREFIX_PATH="$PREFIX/usr"
  # protoc and grpc_cpp_plugin from the prefix run during the build and need its
  # libraries; the built programs find them through their RPATH instead.
  BUILD_ENV=(env "LD_LIBRARY_PATH=$PREFIX/usr/lib/x86_64-linux-gnu")
else
  echo "no .gpu-deps/: using the system's packages"
  PREFIX_PATH=""
  BUILD_ENV=(env)
fi

section "configure (engine only)"
TORCH_CMAKE="$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')"
if [[ -f "$TORCH_CMAKE/Torch/TorchConfig.cmake" ]]; then
  PREFIX_PATH="$PREFIX_PATH;$TORCH_CMAKE"
  echo "LibTorch: $TORCH_CMAKE"
else
  echo "LibTorch: the system's (no TorchConfig.cmake in $TORCH_CMAKE)"
fi
CMAKE_ARGS=(-G Ninja -S "$ROOT" -B "$BUILD" -DRIB_ENGINE_ONLY=ON -DCMAKE_BUILD_TYPE=Release
  "-DCMAKE_PREFIX_PATH=$PREFIX_PATH")
if command -v nvcc >/dev/null; then
  # No device query at configure time: the H200 is sm_90.
  export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}"
  CMAKE_ARGS+=("-DCMAKE_CUDA_COMPILER=$(command -v nvcc)")
fi
# NCCL's header and library come with the nvidia-nccl pip package, outside LibTorch's
# include path; without the header worker/dist builds without NCCL (NcclAvailable() false).
NCCL_DIR="$("$PY" -c 'import nvidia.nccl, os; print(list(nvidia.nccl.__path__)[0])' \
  2>/dev/null)"
if [[ -n "$NCCL_DIR" && -f "$NCCL_DIR/include/nccl.h" ]]; then
  echo "NCCL: $NCCL_DIR"
  CMAKE_ARGS+=("-DCMAKE_CXX_FLAGS=-isystem $NCCL_DIR/include"
    "-DCMAKE_CXX_STANDARD_LIBRARIES=$(ls "$NCCL_DIR"/lib/libnccl.so* | head -1)"
    "-DCMAKE_EXE_LINKER_FLAGS=-Wl,-rpath,$NCCL_DIR/lib")
else
  echo "NCCL: no nvidia-nccl package with nccl.h"
fi
if ! "${BUILD_ENV[@]}" cmake "${CMAKE_ARGS[@]}" > "$OUT/configure.txt" 2>&1; then
  tail -40 "$OUT/configure.txt"
  fail "configure"
fi
grep -E "rib: CUDA build|Found Torch|CMake (Error|Warning)" "$OUT/configure.txt" | head -20
CUDA_BUILD=$(grep -c "rib: CUDA build: ON" "$OUT/configure.txt")

section "build: ${TARGETS[*]} (-j$JOBS)"
BUILD_START=$SECONDS
if [[ ${#FAILED[@]} -eq 0 ]]; then
  if ! "${BUILD_ENV[@]}" timeout 420 ninja -C "$BUILD" -j "$JOBS" "${TARGETS[@]}" \
      > "$OUT/build.txt" 2>&1; then
    grep -E "error|FAILED" "$OUT/build.txt" | head -30
    tail -5 "$OUT/build.txt"
    fail "build"
  fi
fi
BUILD_S=$((SECONDS - BUILD_START))
echo "build: $BUILD_S s"

if [[ ${#FAILED[@]} -gt 0 ]]; then
  printf '# GPU check\n\nFailed before the tests: %s (see gpu_check.log)\n' "${FAILED[*]}" \
    > "$OUT/gpu_check.md"
  exit 1
fi

section "cuda tests (ctest -L cuda)"
export RIB_PYTHON="$PY"
if ! timeout 150 ctest --test-dir "$BUILD" -L cuda -V > "$OUT/ctest_cuda.txt" 2>&1; then
  fail "cuda tests"
fi
# Per test case: gtest's OK / FAILED / SKIPPED lines, then ctest's summary.
grep -E "^\S*: \[ +(OK|FAILED|SKIPPED) +\]|Test +#|tests passed|skipping|needs two GPUs" \
  "$OUT/ctest_cuda.txt" | sed 's/^[0-9]*: //'
if [[ "$HAVE_CUDA" != 1 ]]; then
  echo "no CUDA device: cuda tests skipped"
elif [[ "$CUDA_BUILD" != 1 ]]; then
  fail "a CUDA device, but the LibTorch found is not a CUDA build"
fi

section "bench: $CASES"
# The weights and data the two sides share are large (ViT-B/16: 0.3 GB of weights): they
# stay outside $OUT, of which at most 8 files come back; bench.json collects the results.
BENCH="${RIB_GPU_BENCH_DIR:-/tmp/rib-gpu-bench}"
rm -rf "$BENCH" && mkdir -p "$BENCH"
if [[ "$HAVE_CUDA" == 1 && "$CUDA_BUILD" == 1 ]]; then
  DEVICE=cuda
  PRECISIONS=(bf16 fp16)
  SIZES=()
else
  # The pipeline at toy sizes: the CPU cannot fill ViT-B/16's GPU batches in time.
  echo "no CUDA device: bench at toy sizes on the CPU in fp32 (not a measurement)"
  DEVICE=cpu
  PRECISIONS=(fp32)
  SIZES=(--train_batch=2 --eval_batch=4 --timed_steps=1 --eval_batches=1 --repeats=1)
fi
for precision in "${PRECISIONS[@]}"; do
  dir="$BENCH/$precision"
  mkdir -p "$dir"
  timeout 120 "$BUILD/bin/rib-bench-engine" --out="$dir" --cases="$CASES" \
    --device="$DEVICE" --precision="$precision" "${SIZES[@]}" \
    || fail "rib-bench-engine $precision"
  timeout 120 "$PY" "$ROOT/bench/engine/peer.py" --dir "$dir" --cases "$CASES" \
    --device "$DEVICE" --precision "$precision" || fail "peer.py $precision"
done

section "table"
"$PY" - "$BENCH" "$CASES" "$DEVICE" "$PEAK_TFLOPS" "$BUILD_S" "$JOBS" \
  "${PRECISIONS[@]}" > "$OUT/gpu_check.md" <<'EOF' || fail "table"
import json, os, sys

bench, cases, device, peak_tflops, build_s, jobs = sys.argv[1:7]
precisions = sys.argv[7:]
peak = float(peak_tflops) * 1e12
# Parity tolerance on the CPU in fp32, as engine_models_parity_test's (1e-4): the two
# sides sum the same products in different orders.
tolerance = 1e-4
results = {}
for case in cases.split(","):
    for p in precisions:
        for side in ("cpp", "py"):
            f = "%s/%s/%s.%s.json" % (bench, p, case, side)
            if os.path.exists(f):
                results["%s.%s.%s" % (case, p, side)] = json.load(open(f))
json.dump(results, open(os.path.join(os.environ["OUT"], "bench.json"), "w"), indent=1)
print("# GPU check\n")
print("Build of the engine-only targets: %s s at -j%s.\n" % (build_s, jobs))
print("| case | precision | side | train img/s | eval img/s | train MFU | eval MFU |")
print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
notes = []
bad = False
for case in cases.split(","):
    for p in precisions:
        d = os.path.join(bench, p)
        try:
            cpp = json.load(open("%s/%s.cpp.json" % (d, case)))
            py = json.load(open("%s/%s.py.json" % (d, case)))
        except (OSError, ValueError) as e:
            print("| %s | %s | missing: %s | | | | |" % (case, p, e))
            bad = True
            continue
        flops = cpp["forward_flops"]
        # MFU against the H200's bf16 peak on CUDA; against this CPU's measured fp32
        # matmul peak otherwise. Training counts 3x the forward FLOPs (forward, and
        # backward's two products per layer).
        ref = peak if device == "cuda" else cpp["matmul_peak_gflops"] * 1e9
        for side, r in (("rib (C++)", cpp), ("Python torch (%s)" % py["module"], py)):
            print("| %s | %s | %s | %.1f | %.1f | %.1f%% | %.1f%% |" % (
                case, p, side, r["train_images_per_s"], r["eval_images_per_s"],
                100 * 3 * flops * r["train_images_per_s"] / ref,
                100 * flops * r["eval_images_per_s"] / ref))
        diff = py["parity_max_abs_diff"]
        ok = diff is not None and diff <= tolerance
        bad |= not ok
        notes.append("%s %s: rib / Python %.2fx training, %.2fx evaluation; parity with "
                     "%s: max |logit difference| %s (tolerance %g): %s" % (
                         case, p, cpp["train_images_per_s"] / py["train_images_per_s"],
                         cpp["eval_images_per_s"] / py["eval_images_per_s"], py["module"],
                         "n/a" if diff is None else "%.3g" % diff, tolerance,
                         "ok" if ok else "FAILED"))
        if p == precisions[0]:
            notes.append("%s: %.2f GFLOPs per image forward (2 per multiply-add), "
                         "training counted as 3x forward" % (case, flops / 1e9))
print()
if device == "cuda":
    print("MFU against %s TFLOP/s (the H200's measured bf16 matmul rate).\n" % peak_tflops)
else:
    print("No CUDA device: toy sizes on the CPU in fp32 (a rehearsal, not a "
          "measurement); MFU against this CPU's measured fp32 matmul peak.\n")
for n in notes:
    print("* " + n)
sys.exit(1 if bad else 0)
EOF
{
  printf '\n## ctest -L cuda\n\n```\n'
  grep -E "^\S*: \[ +(OK|FAILED|SKIPPED) +\]|tests passed|needs two GPUs" \
    "$OUT/ctest_cuda.txt" | sed 's/^[0-9]*: //'
  [[ "$HAVE_CUDA" == 1 ]] || echo "no CUDA device: cuda tests skipped"
  printf '```\n'
} >> "$OUT/gpu_check.md"
cat "$OUT/gpu_check.md"

section "PyTorch parity (engine_models_parity_test: timm-named ViTs, torchvision ResNets)"
if ! timeout 150 ctest --test-dir "$BUILD" -R '^engine_models_parity_test$' -V \
    > "$OUT/ctest_parity.txt" 2>&1; then
  fail "parity test"
fi
{
  printf '\n## engine_models_parity_test\n\n```\n'
  grep -E "^\S*: \[ +(OK|FAILED|SKIPPED) +\]|tests passed" "$OUT/ctest_parity.txt" \
    | sed 's/^[0-9]*: //'
  printf '```\n'
} | tee -a "$OUT/gpu_check.md"

section "summary"
echo "total: $SECONDS s"
if [[ ${#FAILED[@]} -gt 0 ]]; then
  echo "FAILED: ${FAILED[*]}"
  exit 1
fi
echo "all passed"
exit 0
