# Shared by scripts/test.sh, scripts/demo.sh and bench scripts: package install, build,
# and a throwaway PostgreSQL 15 cluster. Source it; do not run it.

RIB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RIB_BUILD_DIR="${RIB_BUILD_DIR:-$RIB_ROOT/build}"

# Everything rib needs, from Debian 12 packages. OpenBLAS matters for speed: without
# it Debian's LibTorch runs matmuls on the reference BLAS (DESIGN §3).
RIB_APT_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git python3
  libtorch-dev libgloo-dev libopenblas0-pthread zlib1g-dev libjpeg62-turbo-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libpqxx-dev postgresql-15 postgresql-client-15
  libgtest-dev libgmock-dev libbenchmark-dev
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev
  libyaml-cpp-dev prometheus-cpp-dev libssl-dev openssl
  dataset-fashion-mnist python3-torch python3-torchvision python3-numpy python3-pil
  chromium python3-websocket   # tests/e2e/dashboard_test.sh: a real browser, over CDP
  python3-yaml                 # tests/deploy: the k8s manifests and compose file, checked
)

rib_log() { printf '[rib] %s\n' "$*" >&2; }

# Installs the packages above that are missing; silent when all are present.
rib_install_deps() {
  rib_install_packages "${RIB_APT_PACKAGES[@]}"
}

# rib_runtime_packages BINARY...: the Debian packages whose shared libraries the binaries
# load (from ldd and dpkg -S), one per line: what a runtime image installs instead of the
# whole build-and-test list above. Libraries outside /usr and /lib (a LibTorch unzipped
# beside the source, which the image copies itself) are skipped; a system library no
# package owns is an error naming it.
rib_runtime_packages() {
  local lib path pkg
  local -A seen=()
  while read -r lib; do
    case "$lib" in /usr/*|/lib*) ;; *) continue ;; esac
    pkg="$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null)" || {
      rib_log "no Debian package owns $lib (needed by $*)"
      return 1
    }
    pkg="${pkg%%:*}"
    seen[$pkg]=1
  done < <(ldd "$@" | awk '/=> \// {print $3}' | sort -u)
  printf '%s\n' "${!seen[@]}" | sort
}

# rib_install_packages NAME...: installs those of the named Debian packages that are
# missing (as root); silent when all are present.
rib_install_packages() {
  local missing=()
  local p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    rib_log "missing packages (run as root to install): ${missing[*]}"
    return 1
  fi
  rib_log "installing ${#missing[@]} packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Configures (once) and builds. Extra arguments are build targets.
rib_build() {
  export CCACHE_BASEDIR="$RIB_ROOT"      # cache hits across clones of the repository
  export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-8G}"
  export CCACHE_SLOPPINESS="pch_defines,time_macros,include_file_mtime,include_file_ctime"
  if [ ! -f "$RIB_BUILD_DIR/build.ninja" ]; then
    cmake -S "$RIB_ROOT" -B "$RIB_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      ${RIB_CMAKE_ARGS:-} >/dev/null
  fi
  local jobs="${RIB_BUILD_JOBS:-$(nproc)}"
  if [ $# -gt 0 ]; then
    cmake --build "$RIB_BUILD_DIR" -j "$jobs" --target "$@"
  else
    cmake --build "$RIB_BUILD_DIR" -j "$jobs"
  fi
}

rib_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

RIB_PG_BIN=/usr/lib/postgresql/15/bin

# rib_pg_start DIR: initdb (if new) and start a PostgreSQL 15 cluster in DIR as the
# postgres user on a free port of 127.0.0.1. Sets RIB_PG_PORT and RIB_PG_DIR.
rib_pg_start() {
  RIB_PG_DIR="$1"
  mkdir -p "$RIB_PG_DIR"
  local runas=()
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$RIB_PG_DIR"
    runas=(runuser -u postgres --)
    # The postgres user must be able to reach the directory: let it traverse (o+x, no
    # read) each parent that stops it, e.g. a 0700 mktemp folder or /root.
    local d="$RIB_PG_DIR"
    while ! runuser -u postgres -- test -x "$RIB_PG_DIR" 2>/dev/null && [ "$d" != / ]; do
      d="$(dirname "$d")"
      runuser -u postgres -- test -x "$d" 2>/dev/null || chmod o+x "$d"
    done
  fi
  if [ ! -f "$RIB_PG_DIR/data/PG_VERSION" ]; then
    "${runas[@]}" "$RIB_PG_BIN/initdb" -D "$RIB_PG_DIR/data" -U postgres --auth=trust \
      -E UTF8 --locale=C.UTF-8 >"$RIB_PG_DIR/initdb.log" 2>&1 ||
      { cat "$RIB_PG_DIR/initdb.log" >&2; return 1; }
  fi
  RIB_PG_PORT="${RIB_PG_PORT:-$(rib_free_port)}"
  "${runas[@]}" "$RIB_PG_BIN/pg_ctl" -D "$RIB_PG_DIR/data" -l "$RIB_PG_DIR/server.log" -w \
    -o "-p $RIB_PG_PORT -k $RIB_PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
    start >/dev/null || { tail -20 "$RIB_PG_DIR/server.log" >&2; return 1; }
  export RIB_PG_PORT RIB_PG_DIR
}

# rib_pg_createdb NAME: creates NAME if missing; prints its libpq URI.
rib_pg_createdb() {
  local name="$1"
  if ! psql -h 127.0.0.1 -p "$RIB_PG_PORT" -U postgres -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname='$name'" | grep -q 1; then
    psql -h 127.0.0.1 -p "$RIB_PG_PORT" -U postgres -d postgres -qc "CREATE DATABASE \"$name\"" >/dev/null
  fi
  echo "postgresql://postgres@127.0.0.1:$RIB_PG_PORT/$name"
}

rib_pg_stop() {
  [ -n "${RIB_PG_DIR:-}" ] && [ -f "$RIB_PG_DIR/data/postmaster.pid" ] || return 0
  local runas=()
  [ "$(id -u)" = 0 ] && runas=(runuser -u postgres --)
  "${runas[@]}" "$RIB_PG_BIN/pg_ctl" -D "$RIB_PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
}

# Stops the processes given by pid, newest first (workers before the coordinator, while
# it can still take their release): a first TERM to each (a worker drains), a second
# after 0.5 s (its ranks stop at once), then waits for each. Only children of this
# shell can be waited for.
rib_stop_pids() {
  local pids=("$@") i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  sleep 0.5
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
}
