# Sourced by the e2e tests that run against the demo's system left running
# (scripts/demo.sh --short --fresh --stay): security_test.sh, dashboard_test.sh.
#
#   e2e_name=security; source "$root/tests/e2e/running_demo.sh"
#
# Makes $state (a temporary folder, removed at exit, with HOME inside it so no config
# file of the caller's is read), starts the demo there, waits for its demo.env and
# sources it (RIB_COORDINATOR exported; RIB_DEMO_* set). Defines fail() and the EXIT trap
# that stops the demo; with $e2e_keep_logs set, the demo's logs are copied there first.
# Needs $root (the checkout) and $e2e_name.
state="$(mktemp -d "/tmp/rib-$e2e_name.XXXXXX")"
export HOME="$state/home"
mkdir -p "$HOME"
demo_pid=""
cleanup() {
  if [ -n "${e2e_keep_logs:-}" ] && [ -d "$state/state/logs" ]; then
    cp -r "$state/state/logs" "$e2e_keep_logs/" 2>/dev/null || true
  fi
  if [ -n "$demo_pid" ]; then kill -TERM "$demo_pid" 2>/dev/null || true; wait "$demo_pid" 2>/dev/null || true; fi
  rm -rf "$state"
}
trap cleanup EXIT
fail() { echo "${e2e_name}_test: FAIL: $*" >&2; exit 1; }

RIB_STATE_DIR="$state/state" RIB_DEMO_SKIP_BUILD=1 \
  bash "$root/scripts/demo.sh" --short --fresh --stay >"$state/demo.out" 2>"$state/demo.err" &
demo_pid=$!
env_file="$state/state/run/demo.env"
for _ in $(seq 1 1800); do
  [ -s "$env_file" ] && break
  kill -0 "$demo_pid" 2>/dev/null || { tail -40 "$state/demo.err"; fail "the demo exited"; }
  sleep 0.5
done
[ -s "$env_file" ] || fail "the demo did not come up"
# shellcheck disable=SC1090
source "$env_file"
export RIB_COORDINATOR
