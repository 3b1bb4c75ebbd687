#!/usr/bin/env bash
# e2e: scripts/demo.sh --short --fresh in a scratch state directory, then checks what a
# user gets: the sweep succeeded (exit 0), the matrix printed, and the report directory
# holds the CSV, JSON, SVG heatmaps and the Markdown summary with an mRI per method.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="$(mktemp -d /tmp/rib-demo-short.XXXXXX)"
trap 'rm -rf "$state"' EXIT
out="$state/out.txt"
RIB_STATE_DIR="$state/state" RIB_DEMO_SKIP_BUILD=1 bash "$root/scripts/demo.sh" --short --fresh \
  >"$out" 2>"$state/err.txt" || { cat "$out"; tail -50 "$state/err.txt"; exit 1; }
cat "$out"
report="$state/state/report"
fail() { echo "demo_short_test: $*" >&2; exit 1; }
for f in matrix.csv matrix.json summary.md; do [ -s "$report/$f" ] || fail "missing $report/$f"; done
ls "$report"/*.svg >/dev/null 2>&1 || fail "no SVG heatmap in $report"
# The paper's figures: the headline bar chart and a radar per fine-tune dataset.
[ -s "$report/mean_ood_bars.svg" ] || fail "no mean_ood_bars.svg in $report"
ls "$report"/radar_*.svg >/dev/null 2>&1 || fail "no radar_*.svg in $report"
# One model × 3 methods: the summary has a row per method.
for m in ft lp wise; do grep -q "| *$m *|" "$report/summary.md" || fail "summary.md has no row for $m"; done
# The Findings: each method against ft, tested over the 2 fine-tune datasets.
grep -q "^## Findings" "$report/summary.md" || fail "summary.md has no Findings section"
for m in lp wise; do
  grep -Eq "^\| resnet-plain: $m − ft \| 2 \| .*(significant|not significant) \(p [=<] " \
    "$report/summary.md" || fail "summary.md's Findings have no verdict for $m vs ft"
done
grep -q "mRI" "$out" || fail "the printed matrix has no mRI line"
# The 2 otdd jobs: each fine-tuned row has its OTDD (the csv's otdd column, after
# ri_ci_high) and the scatter is drawn.
[ -s "$report/otdd_vs_change.svg" ] || fail "no otdd_vs_change.svg in $report"
python3 - "$report/matrix.csv" <<'PY' || fail "matrix.csv has no OTDD for a fine-tuned row"
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["finetune_dataset"]]
assert rows and all(float(r["otdd"]) > 0 for r in rows), rows[:2]
PY
# Second run: the same sweep file resolves to the same sweep; nothing is recomputed.
RIB_STATE_DIR="$state/state" RIB_DEMO_SKIP_BUILD=1 bash "$root/scripts/demo.sh" --short \
  >"$state/out2.txt" 2>"$state/err2.txt" || { tail -30 "$state/err2.txt"; fail "second run failed"; }
grep -q "already submitted" "$state/err2.txt" || fail "second run did not reuse the sweep"
echo "demo_short_test: ok"
