#!/usr/bin/python3
"""Drives Debian's headless chromium over the DevTools protocol against the dashboard of
a running rib system (tests/e2e/dashboard_test.sh starts it). Logs in through the form,
then checks what a user relies on:

  1. the pool page lists both workers;
  2. the sweep page's heatmap cells equal `rib matrix -o json`, cell by cell;
  3. with the worker agents stopped (SIGSTOP), a second sweep's page is opened; they
     go on (SIGCONT) and its results appear on the open page without a reload.

Screenshots go to --out (their paths are printed). Exits non-zero naming the failure.
"""
import argparse
import base64
import decimal
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket  # python3-websocket


def fail(msg):
    print(f"dashboard_browser: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


class Browser:
    """One chromium page, driven over its DevTools websocket."""

    def __init__(self, out_dir):
        self.profile = tempfile.mkdtemp(prefix="rib-chromium-")
        args = ["chromium", "--headless=new", "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions",
                "--remote-debugging-port=0", "--remote-allow-origins=*",
                f"--user-data-dir={self.profile}", "--window-size=1500,1100",
                "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # chromium refuses to sandbox as root
        self.log = open(os.path.join(out_dir, "chromium.log"), "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        port = self._devtools_port()
        deadline = time.time() + 30
        page = None
        while page is None and time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as r:
                    page = next((t for t in json.load(r) if t["type"] == "page"), None)
            except OSError:
                time.sleep(0.2)
        if page is None:
            fail("chromium opened no page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30)
        self.next_id = 0
        self.call("Page.enable")
        self.call("Runtime.enable")

    def _devtools_port(self):
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                fail(f"chromium exited with {self.proc.returncode} (see chromium.log)")
            if os.path.exists(port_file):
                lines = open(port_file).read().split()
                if lines:
                    return int(lines[0])
            time.sleep(0.1)
        fail("chromium did not open its DevTools port")

    def call(self, method, **params):
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    fail(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if msg.get("method") == "Runtime.exceptionThrown":
                print("page exception:", msg["params"]["exceptionDetails"].get("text"),
                      json.dumps(msg["params"]["exceptionDetails"].get("exception", {}))[:300],
                      file=sys.stderr)

    def eval(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            fail(f"script error in {expression[:80]}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expression, what, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = self.eval(expression)
            if value:
                return value
            time.sleep(0.25)
        status = self.eval("document.getElementById('status') && "
                           "document.getElementById('status').textContent")
        fail(f"timed out waiting for {what} (page status: {status!r})")

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data["data"]))
        print(f"screenshot: {path}")

    def close(self):
        try:
            self.call("Browser.close")
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# Every heatmap cell with a result: (model, method, row, column) -> accuracy.
CELLS_JS = """[...document.querySelectorAll('table.heatmap td[data-accuracy]')].map((td) => [
  td.dataset.model, td.dataset.method, td.dataset.row, td.dataset.col,
  Number(td.dataset.accuracy), td.firstChild.textContent])"""


def rib(args, *cmd):
    r = subprocess.run([args.rib, "--no-color", *cmd], capture_output=True, text=True,
                       env={**os.environ, "RIB_TOKEN": args.token})
    if r.returncode != 0:
        fail(f"rib {' '.join(cmd)}: {r.stderr.strip()}")
    return r.stdout


def cli_cells(matrix_json):
    """The same cells from `rib matrix --format json`."""
    out = {}
    for m in json.loads(matrix_json):
        rows = [("pre", m["baseline"])] + [(r["finetune_dataset"], r) for r in m["rows"]]
        for name, row in rows:
            for c in row["cells"]:
                if c["accuracy"] is not None:
                    out[(m["model"], m["method"], name, c["eval_dataset"])] = c["accuracy"]
    return out


def to_fixed_1(x):
    """JavaScript's x.toFixed(1): the exact binary value, a tie rounded up (20.25 ->
    "20.3"), where Python's format rounds a tie to even ("20.2")."""
    return str(decimal.Decimal(x).quantize(decimal.Decimal("0.1"),
                                           rounding=decimal.ROUND_HALF_UP))


def page_cells(browser):
    cells = {}
    for model, method, row, col, acc, text in browser.eval(CELLS_JS):
        if text != to_fixed_1(100 * acc):
            fail(f"cell {model}/{method}/{row}/{col} shows {text!r} for accuracy {acc}")
        cells[(model, method, row, col)] = acc
    return cells


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--rib", required=True)
    p.add_argument("--sweep", required=True, help="the demo's finished sweep")
    p.add_argument("--live-sweep-file", required=True, help="a sweep file to submit live")
    p.add_argument("--worker-pids", required=True,
                   help="the worker agents' pids (space-separated), stopped while the "
                        "live sweep's page opens")
    p.add_argument("--workers", required=True, help="comma-separated worker names")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    workers = args.workers.split(",")

    b = Browser(args.out)
    try:
        # Log in through the form.
        b.call("Page.navigate", url=args.url)
        b.wait_for("!!document.getElementById('login') && "
                   "!document.getElementById('login').hidden", "the login form")
        b.screenshot(os.path.join(args.out, "login.png"))
        b.eval(f"document.getElementById('token').value = {json.dumps(args.token)};"
               "document.getElementById('login-submit').click(); true")
        b.wait_for("document.getElementById('who').textContent.includes('admin')",
                   "the logged-in user")

        # 1. The pool page lists both workers.
        names = b.wait_for(
            "(() => { const n = [...document.querySelectorAll('table.workers tr[data-worker]')]"
            f".map((r) => r.dataset.worker); return n.length >= {len(workers)} ? n : null; }})()",
            "the workers on the pool page")
        if sorted(names) != sorted(workers):
            fail(f"the pool page lists {names}, expected {workers}")
        worker_ids = b.eval("[...document.querySelectorAll('table.workers tr[data-worker]')]"
                            ".map((r) => r.dataset.workerId)")
        b.screenshot(os.path.join(args.out, "pool.png"))
        print(f"pool page: workers {sorted(names)}")

        # The sweeps list shows the demo sweep with its owner.
        b.eval("location.hash = '#/sweeps'; true")
        owner = b.wait_for(f"(() => {{ const r = document.querySelector('tr[data-sweep=\"{args.sweep}\"]');"
                           " return r && r.children[1].textContent; })()", "the demo sweep in the list")
        if owner != "demo":
            fail(f"the sweeps page says the demo sweep's owner is {owner!r}")
        b.screenshot(os.path.join(args.out, "sweeps.png"))

        # 2. The sweep page's heatmap equals `rib matrix -o json`.
        want = cli_cells(rib(args, "matrix", args.sweep, "--format", "json"))
        b.eval(f"location.hash = '#/sweep/{args.sweep}'; true")
        b.wait_for(f"document.querySelectorAll('table.heatmap td[data-accuracy]').length >= {len(want)}",
                   "the demo sweep's heatmap")
        got = page_cells(b)
        if set(got) != set(want):
            fail(f"cells differ: only on the page {sorted(set(got) - set(want))}, "
                 f"only in rib matrix {sorted(set(want) - set(got))}")
        for key, acc in want.items():
            if abs(got[key] - acc) > 1e-6:
                fail(f"cell {key}: page {got[key]}, rib matrix {acc}")
        mri_text = b.eval("[...document.querySelectorAll('table.heatmap .mri')].map((e) => e.textContent)")
        print(f"sweep page: {len(got)} cells equal rib matrix -o json; {mri_text}")
        b.screenshot(os.path.join(args.out, "sweep.png"))
        b.eval(f"location.hash = '#/summary/{args.sweep}'; true")
        b.wait_for("document.querySelectorAll('svg.ood rect').length > 0", "the summary chart")
        b.screenshot(os.path.join(args.out, "summary.png"))

        # 3. Live: a second sweep, submitted while the worker agents are stopped
        # (SIGSTOP), so its page is open before any of its results exist; then they go on
        # (SIGCONT) and run it. (A drain would not do: a drained agent exits.) They are
        # stopped for seconds, well within their lease timeout.
        pids = [int(p) for p in args.worker_pids.split()]
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        live = rib(args, "submit", "-q", args.live_sweep_file).strip()
        b.eval(f"location.hash = '#/sweep/{live}'; true")
        b.wait_for("document.querySelectorAll('table.heatmap').length > 0", "the live sweep's page")
        before = len(b.eval(CELLS_JS))
        b.screenshot(os.path.join(args.out, "live-before.png"))
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
        b.wait_for(f"document.querySelectorAll('table.heatmap td[data-accuracy]').length > {before}",
                   "a result to appear without a reload", timeout=120)
        during = len(b.eval(CELLS_JS))
        print(f"live sweep {live}: {before} cells when opened, {during} after results arrived "
              "(no reload)")
        b.screenshot(os.path.join(args.out, "live-during.png"))
        # The page still equals the CLI once the sweep is done.
        subprocess.run([args.rib, "--no-color", "watch", live], capture_output=True,
                       timeout=180, env={**os.environ, "RIB_TOKEN": args.token})
        want = cli_cells(rib(args, "matrix", live, "--format", "json"))
        b.wait_for(f"document.querySelectorAll('table.heatmap td[data-accuracy]').length == {len(want)}",
                   "the finished live sweep's cells", timeout=30)
        # A cell of a many-subset dataset (fmnist-c) is shown as soon as its first subset
        # is in, so the count can be complete while the page still holds a poll from before
        # the last subsets arrived. The page must catch up within a few polls (POLL_MS is
        # 2 s); it is compared until it does, or fails naming the cells and both values.
        deadline = time.time() + 20
        while True:
            got = page_cells(b)
            bad = [k for k, a in want.items() if k not in got or abs(got[k] - a) > 1e-6]
            if not bad or time.time() > deadline:
                break
            time.sleep(0.5)
        if bad:
            fail("live sweep cells differ from rib matrix 20 s after it finished: " +
                 ", ".join(f"{k}: page {got.get(k)}, rib matrix {want[k]}" for k in bad[:5]))
        print(f"live sweep: all {len(want)} cells equal rib matrix -o json at the end")
        b.screenshot(os.path.join(args.out, "live-after.png"))
    finally:
        b.close()
    print("dashboard_browser: OK")


if __name__ == "__main__":
    main()
