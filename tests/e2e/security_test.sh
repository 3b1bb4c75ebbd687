#!/usr/bin/env bash
# e2e: the attacks of issue 13, each tried from outside against the demo's running
# system (scripts/demo.sh --short --stay): with the rib CLI as other users, and with
# rib-test-forge as a hostile worker-API client. Each must be refused with a clear
# error, and afterwards the database (every table a call could change) and the demo
# sweep's matrix must be exactly as they were.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# 1. The demo, left running.
e2e_name=security
source "$root/tests/e2e/running_demo.sh"
BIN="$RIB_DEMO_BIN"
ART="$RIB_DEMO_STATE/artifacts"
ADMIN="$(cat "$RIB_DEMO_STATE/run/admin.token")"
WORKER_TOKEN_FILE="$RIB_DEMO_STATE/run/worker.token"
PSQL="$(ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | head -1)"
[ -x "$PSQL" ] || PSQL=psql
rib() { "$BIN/rib" --no-color "$@"; }
forge() { "$BIN/rib-test-forge" --coordinator="$RIB_COORDINATOR" "$@"; }
# Every table a call could change, as one digest.
digest() {
  local t out=""
  for t in sweeps jobs results events tokens quotas workers; do
    out+="$("$PSQL" "$RIB_DEMO_DATABASE" -Atc \
      "SELECT md5(COALESCE(string_agg(x::text, ',' ORDER BY x::text), '')) FROM $t x");"
  done
  echo "$out"
}

# 2. Set-up by the admin (allowed, before the digest): mallory (a user), carol (a user,
# revoked), an evil worker token; the demo's workers stopped so that a job stays queued
# for the legitimate holder below.
mallory="$(RIB_TOKEN="$ADMIN" rib token create --user mallory --role user 2>/dev/null)"
carol_json="$(RIB_TOKEN="$ADMIN" rib token create --user carol --role user -o json)"
carol="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' <<<"$carol_json")"
carol_id="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$carol_json")"
RIB_TOKEN="$ADMIN" rib token revoke "$carol_id" >/dev/null
(umask 077; RIB_TOKEN="$ADMIN" rib token create --user evil-worker --role worker \
  2>/dev/null >"$state/evil.token")
printf '%s\n' "$mallory" >"$state/mallory.token"
# Only this demo's workers (by pid): other checkouts on the machine may run demos too.
# shellcheck disable=SC2086
kill -TERM $RIB_DEMO_WORKER_PIDS 2>/dev/null || true
# shellcheck disable=SC2086
for _ in $(seq 1 100); do kill -0 $RIB_DEMO_WORKER_PIDS 2>/dev/null || break; sleep 0.2; done
sed -e 's/^name: .*/name: security-target/' -e 's/max_steps: 5/max_steps: 4/' \
  "$root/scripts/demo_sweep_short.yaml" >"$state/target.yaml"
target="$(RIB_TOKEN="$ADMIN" rib submit -q "$state/target.yaml")"
read -r _ job attempt secret holder < <(forge lease --token_file="$WORKER_TOKEN_FILE")
[ -n "$secret" ] || fail "the legitimate holder got no lease"
matrix_before="$(RIB_TOKEN="$ADMIN" rib matrix "$RIB_DEMO_SWEEP" --format json)"
before="$(digest)"

# 3. The attacks. expect_refused NAME SUBSTRING COMMAND...: non-zero exit, message names it.
n=0
expect_refused() {
  local name="$1" want="$2"; shift 2
  local out rc=0
  out="$("$@" 2>&1)" || rc=$?
  [ "$rc" != 0 ] || fail "$name: accepted (exit 0): $out"
  grep -qF -- "$want" <<<"$out" || fail "$name: message does not say '$want': $out"
  printf '  refused  %-52s %s\n' "$name" "$(head -1 <<<"$out" | cut -c1-110)"
  n=$((n + 1))
}
# forge prints "WHAT CODE MESSAGE"; expect_forge NAME CODE SUBSTRING ARGS...
expect_forge() {
  local name="$1" code="$2" want="$3"; shift 3
  local out
  out="$(forge "$@" 2>&1)"
  [ "$(awk '{print $2}' <<<"$out")" = "$code" ] || fail "$name: expected code $code: $out"
  grep -qF -- "$want" <<<"$out" || fail "$name: message does not say '$want': $out"
  printf '  refused  %-52s %s\n' "$name" "$(cut -c1-110 <<<"$out")"
  n=$((n + 1))
}
echo "security_test: attacks against the demo at $RIB_COORDINATOR"
expect_refused "no token" "rib login" env -u RIB_TOKEN "$BIN/rib" sweeps
expect_refused "a token that is not a rib token" "not a rib token" env RIB_TOKEN=hunter2 "$BIN/rib" sweeps
expect_refused "a revoked token" "revoked" env RIB_TOKEN="$carol" "$BIN/rib" sweeps
expect_refused "another user cancels the demo's sweep" "sweep's owner (demo)" \
  env RIB_TOKEN="$mallory" "$BIN/rib" cancel "$RIB_DEMO_SWEEP"
expect_refused "another user retries it" "sweep's owner (demo)" \
  env RIB_TOKEN="$mallory" "$BIN/rib" retry "$RIB_DEMO_SWEEP"
expect_refused "another user re-prioritises it" "sweep's owner (demo)" \
  env RIB_TOKEN="$mallory" "$BIN/rib" priority "$RIB_DEMO_SWEEP" 9
expect_refused "a user makes an admin token" "needs role admin" \
  env RIB_TOKEN="$mallory" "$BIN/rib" token create --user mallory2 --role admin
expect_refused "a user lifts their own quota" "needs role admin" \
  env RIB_TOKEN="$mallory" "$BIN/rib" quota set mallory --devices 1000
expect_refused "a user drains a worker" "needs role admin" \
  env RIB_TOKEN="$mallory" "$BIN/rib" drain "$holder"
expect_refused "a worker token on the client API" "needs role user or admin" \
  env RIB_TOKEN="$(cat "$WORKER_TOKEN_FILE")" "$BIN/rib" sweeps

# Sweeps a user may not submit.
sed -e 's/^name: .*/name: greedy/' -e 's/^max_attempts: 3/priority: 11\nmax_attempts: 3/' \
  "$root/scripts/demo_sweep_short.yaml" >"$state/greedy.yaml"
expect_refused "a priority above the users' cap" "limit of 10" \
  env RIB_TOKEN="$mallory" "$BIN/rib" submit "$state/greedy.yaml"
python3 - "$state/huge.yaml" <<'PY'
import sys
models = "".join(f"  - {{name: m{i}, arch: fmnist_resnet, weights: models/m{i}.safetensors}}\n"
                 for i in range(250))
methods = "".join(f"  - {{name: wise{i}, kind: wise-ft, params: {{alpha: {i / 100}}}}}\n"
                  for i in range(1, 51))  # 250 x (1 + 50 x 8) = 100,250 jobs
open(sys.argv[1], "w").write(
    "name: huge\nsuite: fmnist-rib\nmodels:\n" + models + "methods:\n" + methods)
PY
t0=$(date +%s%N)
expect_refused "a sweep of over 100,000 jobs" "more than the 20000" \
  env RIB_TOKEN="$mallory" "$BIN/rib" submit "$state/huge.yaml"
echo "           (refused in $(( ($(date +%s%N) - t0) / 1000000 )) ms)"
weights_sweep() {  # FILE WEIGHTS
  sed -e "s/^name: .*/name: weights-$(basename "$1" .yaml)/" \
      -e "s|weights: models/fmnist_resnet_plain.safetensors|weights: $2|" \
      "$root/scripts/demo_sweep_short.yaml" >"$1"
}
ln -sf /etc/passwd "$ART/models/escape.safetensors"
weights_sweep "$state/symlink.yaml" models/escape.safetensors
expect_refused "weights that are a symlink out of the artifact root" "resolves outside its root" \
  env RIB_TOKEN="$mallory" "$BIN/rib" submit "$state/symlink.yaml"
rm -f "$ART/models/pipe.safetensors"; mkfifo "$ART/models/pipe.safetensors"
weights_sweep "$state/fifo.yaml" models/pipe.safetensors
t0=$(date +%s%N)
expect_refused "weights that are a FIFO" "not a regular file" \
  env RIB_TOKEN="$mallory" "$BIN/rib" submit "$state/fifo.yaml"
echo "           (refused in $(( ($(date +%s%N) - t0) / 1000000 )) ms)"
cp "$ART/models/fmnist_resnet_plain.safetensors" "$ART/models/scripted.pt"
weights_sweep "$state/torchscript.yaml" models/scripted.pt
expect_refused "TorchScript weights" "--allow-torchscript" \
  env RIB_TOKEN="$mallory" "$BIN/rib" submit "$state/torchscript.yaml"

# The worker API from outside.
expect_forge "a user token on the worker API" 7 "needs role worker" \
  heartbeat --token_file="$state/mallory.token" --worker="$holder"
expect_forge "another worker heartbeats for the holder" 7 "another worker token" \
  heartbeat --token_file="$state/evil.token" --worker="$holder"
expect_forge "another worker acquires as the holder" 7 "another worker token" \
  acquire --token_file="$state/evil.token" --worker="$holder"
expect_forge "another worker reports, with the secret" 7 "leased to another worker" \
  report --token_file="$state/evil.token" --job="$job" --attempt="$attempt" --secret="$secret"
expect_forge "the holder's token without the secret" 7 "lease secret" \
  report --token_file="$WORKER_TOKEN_FILE" --job="$job" --attempt="$attempt"
expect_forge "a forged checkpoint" 7 "lease secret" \
  report --token_file="$WORKER_TOKEN_FILE" --job="$job" --attempt="$attempt" --kind=checkpoint
expect_forge "a forged finish" 7 "leased to another worker" \
  report --token_file="$state/evil.token" --job="$job" --attempt="$attempt" --secret="$secret" --kind=finished
expect_forge "no token on the worker API" 16 "no token" \
  report --job="$job" --attempt="$attempt" --secret="$secret"

# 4. Nothing changed.
after="$(digest)"
[ "$after" = "$before" ] || fail "the database changed: $before -> $after"
[ "$(RIB_TOKEN="$ADMIN" rib matrix "$RIB_DEMO_SWEEP" --format json)" = "$matrix_before" ] ||
  fail "the demo sweep's matrix changed"
# The holder, with its secret, is still accepted (the checks above refused only forgers).
out="$(forge release --token_file="$WORKER_TOKEN_FILE" --job="$job" --attempt="$attempt" --secret="$secret")"
[ "$(awk '{print $2}' <<<"$out")" = 0 ] || fail "the holder's own release was refused: $out"
RIB_TOKEN="$ADMIN" rib cancel "$target" >/dev/null
echo "security_test: ok ($n attacks refused; database and matrix unchanged)"
