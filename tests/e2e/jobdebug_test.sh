#!/usr/bin/env bash
# e2e: debugging a job (issue 17 items 6, 7 and 8) against the demo's running system
# (scripts/demo.sh --short --stay): `rib job` shows a finished job's attempts with the
# worker, times, weights digest and reproducibility record; `rib logs` prints the rank
# log its worker uploaded, byte for byte the file on the worker, to the sweep's owner
# only; `rib results` exports the record; `rib plan` / `rib submit --dry-run` say which
# jobs would be reused and why no worker could run the others.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
e2e_name=jobdebug
source "$root/tests/e2e/running_demo.sh"
BIN="$RIB_DEMO_BIN"
ART="$RIB_DEMO_STATE/artifacts"
export RIB_TOKEN="$(cat "$RIB_DEMO_STATE/run/admin.token")"
rib() { "$BIN/rib" --no-color "$@"; }
py() { python3 -c "$1" "${@:2}"; }

# 1. A fine-tuning job of the demo sweep, and what `rib job` says about it.
job="$(rib jobs --sweep "$RIB_DEMO_SWEEP" -o json | py '
import json, sys
jobs = [j for j in json.load(sys.stdin) if j["label"].endswith("/ft/fmnist-v2")]
print(jobs[0]["job"])')"
[ -n "$job" ] || fail "no ft job in the demo sweep"
rib job "$job" -o json >"$state/job.json"
# The record is written by rib-rank: its commit is the rank binary's.
commit="$("$BIN/rib-rank" --version | awk '/^commit/ {print $2}')"
weights="$(py 'import json,sys; print(json.load(open(sys.argv[1]))["attempts"][-1]["weights"])' "$state/job.json")"
[ -f "$ART/$weights" ] || fail "the attempt's weights $weights are not under the artifact root"
digest="$(sha256sum "$ART/$weights" | cut -d' ' -f1)"
py '
import json, socket, sys
j = json.load(open(sys.argv[1]))
commit, digest = sys.argv[2], sys.argv[3]
def check(ok, what):
    if not ok:
        sys.exit("rib job: " + what + ": " + json.dumps(j, indent=1)[:3000])
check(j["state"] == "succeeded", "state")
check(j["spec"]["method"]["kind"] == "ft", "spec")
a = j["attempts"][-1]
check(a["attempt"] == j["attempt"] and a["end_state"] == "succeeded", "last attempt")
check(a["worker"] != "" and a["worker_name"].startswith("demo-worker"), "worker")
check(a["leased_at"] <= a["started_at"] <= a["finished_at"], "times")
check(a["weights_digest"] == digest, "weights digest vs sha256sum")
check(a["rib_commit"] == commit, "rib commit vs rib --version")
check(a["torch_version"].startswith("1.") or a["torch_version"].startswith("2."), "LibTorch")
check(a["host"] == socket.gethostname(), "host")
check(a["world_size"] == 1 and a["threads"] >= 1 and a["devices"].startswith("cpu"), "devices")
check(a["wall_seconds"] > 0, "wall time")
check(a["train_images_per_second"] is not None and a["train_images_per_second"] > 0, "train img/s")
check(a["eval_images_per_second"] is not None and a["eval_images_per_second"] > 0, "eval img/s")
check(a["log_ranks"] == [0], "log ranks")
' "$state/job.json" "$commit" "$digest" || fail "rib job -o json"
rib job "$job" >"$state/job.txt"
grep -q "^attempt [0-9]*: rib .*LibTorch .*wall .* s" "$state/job.txt" || { cat "$state/job.txt"; fail "rib job's table has no reproducibility line"; }
grep -q "sha256 $digest" "$state/job.txt" || fail "rib job's table does not show the weights digest"

# 2. rib logs: the worker's rank log, as uploaded (the demo's logs are far below 1 MiB).
attempt="$(py 'import json,sys; print(json.load(open(sys.argv[1]))["attempt"])' "$state/job.json")"
local_log="$ART/runs/$job/attempt-$attempt/rank0.stderr.log"
[ -s "$local_log" ] || fail "no rank log on the worker at $local_log"
rib logs "$job" >"$state/logs.txt"
cmp "$state/logs.txt" "$local_log" || fail "rib logs differs from the worker's $local_log"
grep -q "attempt $attempt: rank 0/1 on cpu" "$state/logs.txt" || fail "the log lacks the rank's start line"
timeout 30 "$BIN/rib" logs "$job" -f --attempt "$attempt" >"$state/logs-f.txt" \
  || fail "rib logs -f did not end for a finished attempt"
cmp "$state/logs-f.txt" "$local_log" || fail "rib logs -f differs from the worker's log"
if rib logs "$job" --attempt 99 >"$state/bad.txt" 2>&1; then fail "attempt 99 was answered"; fi
grep -q "NOT_FOUND: .*no attempt 99" "$state/bad.txt" || { cat "$state/bad.txt"; fail "attempt 99's error"; }
# Another user may read the job, not its logs.
mallory="$(rib token create --user mallory --role user 2>/dev/null)"
RIB_TOKEN="$mallory" rib job "$job" >/dev/null || fail "a user cannot read a job"
if RIB_TOKEN="$mallory" rib logs "$job" >"$state/denied.txt" 2>&1; then fail "mallory read the logs"; fi
grep -q "PERMISSION_DENIED: GetAttemptLog needs the sweep's owner (demo)" "$state/denied.txt" \
  || { cat "$state/denied.txt"; fail "mallory's refusal"; }

# 3. rib results exports the record of the attempt each result comes from.
rib results "$RIB_DEMO_SWEEP" -o csv >"$state/results.csv"
py '
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert rows, "no results"
for r in rows:
    if r["job_state"] != "succeeded": continue
    assert r["rib_commit"] == sys.argv[2], r
    assert float(r["wall_seconds"]) > 0, r
' "$state/results.csv" "$commit" || fail "rib results lacks the reproducibility columns"

# 4. rib workers lists each worker's datasets.
rib workers -o json | py '
import json, sys
ws = json.load(sys.stdin)
assert len(ws) == 2 and all("fmnist-v2" in w["datasets"] for w in ws), ws' \
  || fail "rib workers has no datasets"

# 5. rib plan / submit --dry-run: the demo sweep again is all reused; asking for 4 devices
# per job (devices are not in the job hash, so --force makes them new) or cuda, no
# worker (two 1-slot CPU workers) can run them, with why.
sweep_file="$root/scripts/demo_sweep_short.yaml"
rib plan "$sweep_file" >"$state/plan.txt"
grep -q "0 new, [0-9]* reused; 0 that no registered worker can run" "$state/plan.txt" \
  || { cat "$state/plan.txt"; fail "the demo sweep's plan is not all reused"; }
sed 's/^devices: 1/devices: 4/' "$sweep_file" >"$state/four.yaml"
rib submit --dry-run --force "$state/four.yaml" -o json >"$state/four.json"
py '
import json, sys
jobs = json.load(open(sys.argv[1]))
assert jobs and all(j["reused_from"] == "" and j["devices"] == 4 for j in jobs), jobs
for j in jobs:
    assert j["workers"] == [], j
    assert any("has 1 device, the job needs 4" in w for w in j["why_not"]), j
' "$state/four.json" || fail "the 4-device plan"
n="$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$state/four.json")"
rib plan --force "$state/four.yaml" >"$state/four.txt"
tail -1 "$state/four.txt" | grep -q "$n new, 0 reused; $n that no registered worker can run" \
  || { tail -3 "$state/four.txt"; fail "the 4-device plan's summary line (expected $n new)"; }
before="$(rib sweeps -o json | py 'import json,sys; print(len(json.load(sys.stdin)))')"
sed 's/^devices: 1/device_kind: cuda/' "$sweep_file" >"$state/cuda.yaml"
rib plan "$state/cuda.yaml" -o json | py '
import json, sys
jobs = json.load(sys.stdin)
assert all(any("has no cuda devices" in w for w in j["why_not"]) for j in jobs), jobs' \
  || fail "the cuda plan"
after="$(rib sweeps -o json | py 'import json,sys; print(len(json.load(sys.stdin)))')"
[ "$before" = "$after" ] || fail "a plan created a sweep"
echo "jobdebug_test: ok"
