#!/usr/bin/env bash
# Run HERE (a Debian 12 machine with apt), not on the GPU machine: downloads the Debian
# packages an engine-only build needs that a bare CUDA machine lacks (README, "GPU
# check") into .gpu-deps/ (ignored by git), for the device tool to carry. gpu_check.sh
# unpacks them there into a prefix (dpkg -x, never into /).
#
# What the engine-only build needs, and why (grep the includes of common/, spec/,
# worker/{protocol,data,dist,engine}/):
#   Abseil        everywhere (Status, strings, flags, time, Mutex)
#   GoogleTest    the tests (static libraries in the -dev packages)
#   yaml-cpp      spec/ (sweep files)
#   OpenSSL       common/hash.cc (SHA-256)
#   prometheus-cpp common/metrics_http.cc (in rib_common)
#   protobuf, gRPC worker/protocol (rib_dist links it) and worker/agent (dist_nccl_test
#                 starts its ranks through the agent's RankGroup)
#   OpenCV        HEADERS only: worker/data compiles against them, but none of the GPU
#                 check's programs calls OpenCV, and its imgcodecs library would pull in
#                 GDAL (~200 MiB of packages). rib-run, which decodes images, is therefore
#                 not built there.
#   zlib          worker/data (FMNIST's gzip files)
#   benchmark     bench/ (configure only)
#   civetweb, curl configure only: prometheus-cpp's CMake config looks for them
# libpqxx is not carried: an engine-only configure builds no server.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/.gpu-deps"
PACKAGES=(
  libabsl-dev libabsl20220623
  libgtest-dev libgmock-dev
  libyaml-cpp-dev libyaml-cpp0.7
  libssl-dev libssl3
  prometheus-cpp-dev libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libprometheus-cpp-push1.0 libcivetweb1 libcivetweb-dev civetweb
  libcurl4-openssl-dev libcurl4
  libprotobuf-dev libprotobuf32 libprotobuf-lite32 protobuf-compiler libprotoc32
  libgrpc++-dev libgrpc++1.51 libgrpc-dev libgrpc29 protobuf-compiler-grpc
  libre2-9 libre2-dev libc-ares2 libc-ares-dev
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev
  zlib1g-dev
  libbenchmark-dev libbenchmark1debian
)
mkdir -p "$DEST"
cd "$DEST"
rm -f ./*.deb
apt-get download "${PACKAGES[@]}"
du -ch ./*.deb | tail -1
