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
    -e '/^  - lp$/d' -e '/kind: wise-ft/d' -e '/kind: otdd/d' \
  "$root/scripts/demo_sweep_short.yaml" >"$state/live.yaml"

/usr/bin/python3 "$root/tests/e2e/dashboard_browser.py" \
  --url="$RIB_DEMO_DASHBOARD" --token="$(cat "$RIB_DEMO_STATE/run/admin.token")" \
  --rib="$RIB_DEMO_BIN/rib" --sweep="$RIB_DEMO_SWEEP" --live-sweep-file="$state/live.yaml" \
  --workers=demo-worker-1,demo-worker-2 --worker-pids="$RIB_DEMO_WORKER_PIDS" \
  --out="$shots" ||
  { tail -20 "$shots/chromium.log" 2>/dev/null; fail "the browser checks failed"; }

# The Grafana dashboard in deploy/ queries only metrics that the running coordinator
# (its /metrics, on the dashboard port) and workers export.
curl_metrics() { /usr/bin/python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' "$1"; }
curl_metrics "${RIB_DEMO_DASHBOARD%/}/metrics" >"$state/coordinator.metrics" ||
  fail "no /metrics on the dashboard port"
scrapes=(--scrape "$state/coordinator.metrics")
n=0
for w in $RIB_DEMO_WORKER_METRICS; do
  n=$((n + 1))
  curl_metrics "http://$w/metrics" >"$state/worker-$n.metrics" || fail "no /metrics from worker at $w"
  scrapes+=(--scrape "$state/worker-$n.metrics")
done
[ "$n" = 2 ] || fail "expected the metrics addresses of 2 workers in demo.env, got '$RIB_DEMO_WORKER_METRICS'"
/usr/bin/python3 "$root/tests/deploy/check_deploy.py" grafana \
  --dashboard "$root/deploy/grafana/rib-dashboard.json" "${scrapes[@]}" ||
  fail "the Grafana dashboard queries metrics that nothing exports"
echo "dashboard_test: OK (screenshots in $shots)"
