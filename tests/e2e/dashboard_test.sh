#!/usr/bin/env bash
# e2e: the web dashboard (issue 18) in a real browser. Starts the demo's system
# (scripts/demo.sh --short --stay: PostgreSQL, the coordinator with --http-listen, two
# workers, the short sweep), then drives Debian's headless chromium over the DevTools
# protocol (tests/e2e/dashboard_browser.py): log in through the form, the pool page lists
# both workers, the sweep page's heatmap equals `rib matrix -o json`, and a result that
# arrives while a sweep's page is open appears without a reload.
# Screenshots: $RIB_DASHBOARD_SHOTS (default build/dashboard-shots/), paths printed; the
# demo's logs are copied to logs/ beside them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$root/scripts/lib.sh"
rib_install_packages chromium python3-websocket
shots="${RIB_DASHBOARD_SHOTS:-${RIB_BUILD_DIR}/dashboard-shots}"
rm -rf "$shots"
mkdir -p "$shots"
e2e_name=dashboard
e2e_keep_logs="$shots"   # the demo's logs beside the screenshots
source "$root/tests/e2e/running_demo.sh"
grep -qF "dashboard: $RIB_DEMO_DASHBOARD" "$state/demo.err" ||
  fail "the demo did not print the dashboard's URL"

# The live sweep: new jobs (another step count), the same datasets, one method.
sed -e 's/^name: .*/name: dashboard-live/' -e 's/max_steps: 5/max_steps: 3/' \
    -e '/^  - lp$/d' -e '/kind: wise-ft/d' \
  "$root/scripts/demo_sweep_short.yaml" >"$state/live.yaml"

/usr/bin/python3 "$root/tests/e2e/dashboard_browser.py" \
  --url="$RIB_DEMO_DASHBOARD" --token="$(cat "$RIB_DEMO_STATE/run/admin.token")" \
  --rib="$RIB_DEMO_BIN/rib" --sweep="$RIB_DEMO_SWEEP" --live-sweep-file="$state/live.yaml" \
  --workers=demo-worker-1,demo-worker-2 --worker-pids="$RIB_DEMO_WORKER_PIDS" \
  --out="$shots" ||
  { tail -20 "$shots/chromium.log" 2>/dev/null; fail "the browser checks failed"; }
echo "dashboard_test: OK (screenshots in $shots)"
