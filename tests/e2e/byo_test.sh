#!/usr/bin/env bash
# e2e: the README's "Bring your own models and data" walkthrough, run as written
# (issue 17: "the README has a 'bring your own models and data' section that was
# followed literally in a test").
#
# Writes what a user brings, at test time (tests/e2e/byo_fixtures.py): a hub cache in
# the hub's layout holding a timm-named ViT-Tiny (random weights, config.json), a
# torchvision resnet18 .pth in $TORCH_HOME/hub/checkpoints/, and a data root as the
# datasets are downloaded (sketch/, a flat imagenet/val/ + LOC_val_solution.csv,
# imagenet-r/). Starts a real system: PostgreSQL, rib-coordinator --hf-cache, two
# rib-workers, tokens as scripts/demo.sh makes them. Then cuts the block between
# <!-- byo-walkthrough --> and <!-- /byo-walkthrough --> out of README.md and runs it
# with only HF_CACHE, TORCH_HOME, ARTIFACTS and DATA set, and checks: the sweep is
# submitted with each model's resolved settings, every job SUCCEEDED, and
# `rib matrix -o json` has a measured cell for every dataset the sweep names, for both
# models. And two guided errors: a hub name not in the cache names the path searched;
# a data root with a folder under another download's name gets where it belongs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$root/scripts/lib.sh"
BIN="$RIB_BUILD_DIR/bin"
for b in rib rib-coordinator rib-worker rib-rank rib-data rib-run; do
  [ -x "$BIN/$b" ] || { echo "byo_test: FAIL: $BIN/$b is not built" >&2; exit 1; }
done

state="$(mktemp -d /tmp/rib-byo.XXXXXX)"
export HOME="$state/home"   # no config file of the caller's is read
mkdir -p "$HOME" "$state/logs" "$state/run" "$state/work"
pids=()
cleanup() {
  local rc=$?
  trap - EXIT
  if [ "$rc" != 0 ]; then
    for f in "$state"/logs/*; do echo "== $f" >&2; tail -25 "$f" >&2; done
  fi
  rib_stop_pids "${pids[@]}"   # the workers, then the coordinator
  rib_pg_stop
  rm -rf "$state"
  exit "$rc"
}
trap cleanup EXIT
fail() { echo "byo_test: FAIL: $*" >&2; exit 1; }

# What the user brings: their own paths, nothing converted.
export HF_CACHE="$state/user/huggingface/hub"
export TORCH_HOME="$state/user/torch"
export ARTIFACTS="$state/shared/rib"
export DATA="$state/datasets"
misnamed="$state/misnamed-datasets"
/usr/bin/python3 "$root/tests/e2e/byo_fixtures.py" --hf-cache "$HF_CACHE" \
  --torch-home "$TORCH_HOME" --data "$DATA" --misnamed "$misnamed" ||
  fail "could not write the fixtures"
mkdir -p "$ARTIFACTS"

# The system, as scripts/demo.sh starts it (the coordinator's output file made first, as
# there: the background job may open it after the loop first reads it).
RIB_PG_PORT="" rib_pg_start "$state/pg" >"$state/logs/pg.log" 2>&1
DB="$(rib_pg_createdb rib)"
: >"$state/run/coordinator.out"
"$BIN/rib-coordinator" --listen=127.0.0.1:0 --database="$DB" --artifact-root="$ARTIFACTS" \
  --hf-cache="$HF_CACHE" --lease-timeout=20s --heartbeat-interval=2s \
  >"$state/run/coordinator.out" 2>"$state/logs/coordinator.log" &
pids+=($!)
addr=""
for _ in $(seq 1 300); do
  addr="$(sed -n 's/^listening on //p' "$state/run/coordinator.out" | head -1)"
  [ -n "$addr" ] && break
  kill -0 "${pids[-1]}" 2>/dev/null || fail "the coordinator exited"
  sleep 0.1
done
[ -n "$addr" ] || fail "the coordinator did not start"
export RIB_COORDINATOR="$addr"
make_token() {  # FILE USER ROLE
  (umask 077; "$BIN/rib-coordinator" --database="$DB" --log-level=warning token create \
    --user="$2" --role="$3" 2>/dev/null >"$1")
}
make_token "$state/run/user.token" alice user
make_token "$state/run/worker.token" byo-worker worker
RIB_TOKEN="$(cat "$state/run/user.token")"
export RIB_TOKEN
for i in 1 2; do
  "$BIN/rib-worker" --coordinator="$addr" --devices=cpu:1 --threads-per-slot=1 \
    --data-root="$DATA" --artifact-root="$ARTIFACTS" --name="byo-worker-$i" \
    --token-file="$state/run/worker.token" --drain-timeout=5s \
    2>"$state/logs/worker-$i.log" &
  pids+=($!)
done

# The walkthrough, cut out of the README between its markers, fences dropped.
awk '/^<!-- byo-walkthrough -->$/ {on = 1; next} /^<!-- \/byo-walkthrough -->$/ {on = 0}
     on && !/^```/' "$root/README.md" >"$state/walkthrough.sh"
grep -q '^rib submit ' "$state/walkthrough.sh" ||
  fail "no walkthrough between <!-- byo-walkthrough --> markers in README.md"
start=$SECONDS
rc=0
(cd "$state/work" && PATH="$BIN:$PATH" bash -euo pipefail "$state/walkthrough.sh") \
  >"$state/walkthrough.out" 2>"$state/logs/walkthrough.err" || rc=$?
if [ "$rc" != 0 ]; then
  tail -40 "$state/walkthrough.out" >&2
  fail "the README's walkthrough failed (exit $rc)"
fi
echo "byo_test: the walkthrough ran in $((SECONDS - start)) s"
out="$state/walkthrough.out"
err="$state/logs/walkthrough.err"

# rib-data check found each dataset in its downloaded folder.
grep -Eq '^imagenet-sketch +differs +sketch +20 ' "$out" ||
  fail "rib-data check did not find imagenet-sketch's 20 images in sketch/"
grep -Eq '^imagenet-val +differs +imagenet/val +20 ' "$out" ||
  fail "rib-data check did not find the flat imagenet/val's 20 images"
grep -Eq '^imagenet-r +differs +imagenet-r +20 ' "$out" ||
  fail "rib-data check did not find imagenet-r's 20 images"
# rib submit said what each model runs with: the hub model's arch and preprocessing
# from its config.json, the .pth's from rib's table for resnet18.tv_in1k.
cat "$out" "$err" >"$state/all.out"
grep -Eq 'sweep [0-9a-f-]+ submitted: 4 jobs, 4 new, 0 reused' "$state/all.out" ||
  fail "rib submit did not submit 4 new jobs"
grep -F 'model vit-tiny: vit_tiny_patch16_224' "$state/all.out" | grep -F 'crop 0.9, bicubic' |
  grep -qF 'hf-hub/models--timm--vit_tiny_patch16_224.augreg_in21k_ft_in1k/snapshots/' ||
  fail "rib submit did not print the hub model resolved from its snapshot"
grep -F 'model resnet18: resnet18.tv_in1k, 1000 classes, weights models/resnet18.pth' \
  "$state/all.out" | grep -qF '224 px, crop 0.875, bilinear' ||
  fail "rib submit did not print the .pth model with torchvision V1 preprocessing"

sweep="$(cd "$state/work" && "$BIN/rib" submit -q byo_sweep.yaml)"
"$BIN/rib" jobs --sweep "$sweep" -o json >"$state/jobs.json"
"$BIN/rib" results "$sweep" -o json >"$state/results.json"
/usr/bin/python3 - "$state/jobs.json" "$state/work/byo_matrix.json" "$state/results.json" \
  "$state/totals.json" <<'PY' ||
import json, sys
jobs = json.load(open(sys.argv[1]))
states = sorted(j["state"].lower() for j in jobs)
assert states == ["succeeded"] * 4, f"job states: {states}"
matrices = json.load(open(sys.argv[2]))
evals = ["imagenet-val", "imagenet-sketch", "imagenet-r"]
totals = {}
got = sorted((m["model"], m["method"]) for m in matrices)
assert got == [("resnet18", "lp"), ("vit-tiny", "lp")], f"matrices: {got}"
for m in matrices:
    where = f'{m["model"]}/{m["method"]}'
    assert m["eval_datasets"] == evals, f'{where}: eval datasets {m["eval_datasets"]}'
    rows = [("pre-trained", m["baseline"]["cells"])]
    assert [r["finetune_dataset"] for r in m["rows"]] == ["imagenet-sketch"], where
    rows += [(r["finetune_dataset"], r["cells"]) for r in m["rows"]]
    for name, cells in rows:
        assert [c["eval_dataset"] for c in cells] == evals, f"{where} {name}"
        for c in cells:
            # 20 images per dataset. Held-out evaluation (README, "Held-out evaluation
            # on every image not trained on"): the pre-trained model trained on none of
            # them and is scored on all 20; a model fine-tuned on imagenet-sketch on its
            # test split (test_fraction 0.2, which depends on the data and seed, not the
            # model), and on all of imagenet-val and -r, which share no photo with it.
            d = c["eval_dataset"]
            held_out = name == "imagenet-sketch" and d == "imagenet-sketch"
            if held_out:
                assert 0 < c["total"] < 20, f"{where} {name} {c}: not the test split"
            else:
                assert c["total"] == 20, f"{where} {name} {c}: not all 20 images"
            assert 0 <= c["correct"] <= c["total"], f"{where} {name} {c}"
            key = d + (" test" if held_out else "")
            assert c["total"] == totals.setdefault(key, c["total"]), \
                f"{where} {name} {c}: other jobs tested {totals[key]} images"
            assert abs(c["accuracy"] - c["correct"] / c["total"]) < 1e-9, f"{where} {c}"
results = json.load(open(sys.argv[3]))
assert len(results) == 4 * 3, f"{len(results)} result rows, expected 12"
json.dump(totals, open(sys.argv[4], "w"))
print(f"byo_test: 4 jobs succeeded; vit-tiny and resnet18 matrices have all 3 datasets, test images {totals}")
PY
  fail "the sweep's jobs or matrices are not what the walkthrough promises"

# rib-run --sweep resolves the same hub name in the same cache to the coordinator's job:
# the same hash (it covers the weights' sha256, the arch and the preprocessing from
# config.json), evaluated on the same images per dataset (all of each, as the workers'
# pre jobs).
# (From the artifact root: rib-run reads the sweep's other weights paths, models/...,
# relative to the current folder.)
(cd "$ARTIFACTS" && "$BIN/rib-run" --sweep="$state/work/byo_sweep.yaml" --cell=vit-tiny/pre \
  --hf-cache="$HF_CACHE" --data-root="$DATA" --out="$state/rib-run-out" --threads=1) \
  >"$state/rib-run.json" 2>"$state/logs/rib-run.err" || fail "rib-run --sweep with hub weights failed"
db_hash="$(psql -h 127.0.0.1 -p "$RIB_PG_PORT" -U postgres -d rib -tAc \
  "SELECT hash FROM jobs WHERE sweep_id = '$sweep' AND key = 'vit-tiny/pre'")"
/usr/bin/python3 - "$state/rib-run.json" "$db_hash" "$state/totals.json" <<'PY' ||
import json, sys
run = json.load(open(sys.argv[1]))
assert len(sys.argv[2]) == 64 and run["job_hash"] == sys.argv[2], \
    f'rib-run job {run["job_hash"]}, coordinator job {sys.argv[2]!r}'
totals = {r["dataset"]: r["total"] for r in run["rows"]}
expected = {d: n for d, n in json.load(open(sys.argv[3])).items() if " " not in d}
assert totals == expected, f"rib-run tested {totals}, the workers {expected}"
PY
  fail "rib-run --sweep did not run the coordinator's vit-tiny/pre job"

# Without a sweep file, rib-run says how to run hub weights instead of "file not found".
if "$BIN/rib-run" --weights=hf-hub:timm/vit_tiny_patch16_224.augreg_in21k_ft_in1k \
    --data-root="$DATA" >/dev/null 2>"$state/rib-run-flags.err"; then
  fail "rib-run --weights=hf-hub:... without --sweep ran"
fi
grep -qF 'hub weights are resolved from a sweep file (--sweep FILE --cell ... --hf-cache DIR)' \
  "$state/rib-run-flags.err" || { cat "$state/rib-run-flags.err" >&2; fail "rib-run's hub error"; }

# Guided error 1: a hub name that is not in the cache names the path it searched.
sed 's/vit_tiny_patch16_224.augreg_in21k_ft_in1k/vit_tiny_patch16_224.augreg_in21k_ft_in1kk/' \
  "$state/work/byo_sweep.yaml" >"$state/work/typo.yaml"
if (cd "$state/work" && "$BIN/rib" submit typo.yaml) >"$state/typo.out" 2>&1; then
  fail "a hub name not in the cache was accepted"
fi
grep -F "hf-hub:timm/vit_tiny_patch16_224.augreg_in21k_ft_in1kk: model not found in the hub cache" \
  "$state/typo.out" |
  grep -qF "($HF_CACHE/models--timm--vit_tiny_patch16_224.augreg_in21k_ft_in1kk/refs/main) does not exist" ||
  { cat "$state/typo.out" >&2; fail "the error does not name the path searched"; }
grep -qF 'huggingface-cli download timm/vit_tiny_patch16_224.augreg_in21k_ft_in1kk' \
  "$state/typo.out" || { cat "$state/typo.out" >&2; fail "the error does not say how to fetch it"; }

# Guided error 2: a data root with ImageNet val at the top (val/) is told where it goes.
"$BIN/rib-data" check "$misnamed" >"$state/misnamed.out" 2>&1 || true
grep -qF 'misnamed: val/ should be imagenet/val' "$state/misnamed.out" ||
  { cat "$state/misnamed.out" >&2; fail "rib-data check did not say where val/ belongs"; }
grep -Eq '^imagenet-val +missing ' "$state/misnamed.out" ||
  fail "rib-data check did not report imagenet-val missing from the misnamed root"
echo "byo_test: OK"
