"""Capture-to-pixels: how long after a capture is sent its row appears on the bin page in
headless Chromium, at 50 captures/s and at 200/s, in one run.

One ``webbin serve`` (one gunicorn gevent worker, SQLite, rate limits off) on loopback; for
each rate a fresh bin, its page open in Chromium (Playwright, Debian's ``/usr/bin/chromium``)
and live. A page script installed with ``add_init_script`` (the CSP forbids eval, which rules
out ``wait_for_function``; Playwright's own scripts are not subject to it) watches
``#request-list`` with a MutationObserver and records, per added ``li[data-id]``, its path and
``performance.timeOrigin + performance.now()`` (epoch ms) when the row entered the DOM, and
again at the next animation frame (the frame that paints it). A sender posts N captures at
R/s over one keep-alive connection, each with a unique sub-path, noting ``time.time()`` just
before each send: both clocks are the epoch on the same machine, so their difference is the
latency. Printed per rate: p50/p99/max of send -> row in the DOM and send -> next frame,
rows missing and duplicated; then the 200/s figures against the target (p99 <= 50 ms, read
at the next frame) and their ratio to the 50/s baseline.

Where the time goes, per rate: a plain WebSocket client on the page's own live endpoint
(same feed, same frames) times the server's side; the page also notes when each message's
``htmx:ws:before:message:incoming`` fires, which splits the rest into waiting for the page's
main thread and the swap itself; the p99 over the first and the last fifth of the run shows
whether the page slows as its list grows; and Chromium's Performance metrics give the
renderer's main-thread time per capture (task, script, style, layout). CPU of the server
and of the browser (driver + Chromium) is read from /proc. All of it is wall-clock on a
shared machine: the load average is printed at the end.

    python bench/pixels.py [--captures 1000] [--rates 50,200]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from benchutil import free_port, percentile, wait
from playwright.sync_api import Page, sync_playwright
from websockets.sync.client import connect

TARGET_P99_MS = 50.0

# Records every row added to the request list: its path, when it entered the DOM and the
# next animation frame after that. Installed before the page's own scripts run; the list
# exists only once the document has parsed, hence the DOMContentLoaded wait.
OBSERVER = """
(() => {
  const now = () => performance.timeOrigin + performance.now();
  window.__pixels = [];
  // When each row's message reached htmx, before it is swapped in: splits the latency into
  // server + socket and the page's own work.
  window.__arrivals = [];
  document.addEventListener("htmx:ws:before:message:incoming", (evt) => {
    window.__arrivals.push({data: String(evt.detail.message.data), at: now()});
  });
  const watch = () => {
    const list = document.getElementById("request-list");
    if (!list) return;
    new MutationObserver((mutations) => {
      const at = now();
      const added = [];
      for (const m of mutations) {
        for (const node of m.addedNodes) {
          if (node.nodeType === 1 && node.matches("li[data-id]")) {
            const path = node.querySelector(".path");
            const entry = {path: path ? path.textContent.trim() : "", dom: at, frame: null};
            window.__pixels.push(entry);
            added.push(entry);
          }
        }
      }
      if (added.length) {
        requestAnimationFrame(() => {
          const frame = now();
          for (const entry of added) entry.frame = frame;
        });
      }
    }).observe(list, {childList: true});
  };
  document.addEventListener("DOMContentLoaded", watch);
})();
"""


def poll(
    page: Page, script: str, done: Callable[[Any], bool], deadline: float, interval: float = 0.05
) -> Any:
    """Evaluate ``script`` until ``done(result)`` or ``deadline`` (monotonic); the last result."""
    while True:
        result = page.evaluate(script)
        if done(result) or time.monotonic() > deadline:
            return result
        time.sleep(interval)


def new_bin(port: int) -> tuple[str, str]:
    """A fresh bin: its page path and its capture path."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/bins", method="POST")
    created = json.load(urllib.request.urlopen(request))
    capture = created["capture_url"].split(str(port), 1)[1]
    return f"/bins/{created['id']}", capture


def send(
    port: int, path: str, tag: str, captures: int, rate: float
) -> tuple[dict[str, float], list[float], float]:
    """POST ``captures`` times at ``rate``/s: the epoch time (ms) just before each send, by
    its unique sub-path; each POST's latency (ms); the seconds the sending took."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    sent: dict[str, float] = {}
    posts: list[float] = []
    start = time.monotonic()
    for n in range(captures):
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        name = f"{tag}-{n}"
        sent[name] = time.time() * 1000
        conn.request("POST", f"{path}/{name}", b"{}", {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"capture answered {response.status}")
        posts.append(time.time() * 1000 - sent[name])
    conn.close()
    return sent, sorted(posts), time.monotonic() - start


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its descendants."""
    total, pids = 0.0, [pid]
    while pids:
        current = pids.pop()
        try:
            with open(f"/proc/{current}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{current}/task/{current}/children") as f:
                children = f.read().split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        pids.extend(int(c) for c in children)
    return total


# Chromium's Performance-domain durations: all main-thread tasks, script, style, layout.
METRICS = ("TaskDuration", "ScriptDuration", "RecalcStyleDuration", "LayoutDuration")


def renderer_metrics(cdp: Any) -> dict[str, float]:
    found = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return {k: float(found.get(k, 0.0)) for k in METRICS}


def tree_cpu_except(root: int, *subtrees: int) -> float:
    """CPU seconds of ``root``'s process tree outside ``subtrees`` and ``root`` itself:
    here, the Playwright driver and Chromium."""
    return tree_cpu(root) - sum(tree_cpu(pid) for pid in subtrees) - sum(os.times()[:2])


class SocketViewer(threading.Thread):
    """A plain WebSocket client on the page's own live endpoint, beside the page: the same
    feed sends it the same frames, so its arrival times are the server's side of the split."""

    def __init__(self, url: str, tag: str, expected: int) -> None:
        super().__init__(daemon=True)
        self.url, self.expected = url, expected
        self.pattern = re.compile(rf"/({re.escape(tag)}-\d+)[<?]")
        self.arrived: dict[str, float] = {}
        self.ready = threading.Event()

    def run(self) -> None:
        with connect(self.url, compression=None, max_size=None) as ws:
            self.ready.set()
            while len(self.arrived) < self.expected:
                try:
                    message = ws.recv(timeout=10)
                except TimeoutError:
                    return
                at = time.time() * 1000
                match = self.pattern.search(str(message))
                if match:
                    self.arrived.setdefault(match.group(1), at)


def measure(page: Page, port: int, server: int, captures: int, rate: float) -> dict:
    """One rate on a fresh bin, its page open in ``page``: latencies (sorted, ms), rows
    missing and duplicated, and the split of where the time went. ``server`` is the pid of
    ``webbin serve``, for its CPU."""
    bin_page, capture = new_bin(port)
    page.goto(f"http://127.0.0.1:{port}{bin_page}")
    state = poll(
        page,
        "document.getElementById('live-state').dataset.state",
        lambda s: s == "live",
        time.monotonic() + 15,
    )
    if state != "live":
        raise RuntimeError(f"bin page did not go live ({state})")
    tag = f"px{rate:g}"
    latest = page.evaluate(
        "Math.max(0, ...Array.from(document.querySelectorAll('#request-list > li[data-id]'),"
        " (li) => Number(li.dataset.id)))"
    )
    viewer = SocketViewer(f"ws://127.0.0.1:{port}{bin_page}/live?after={latest}", tag, captures)
    viewer.start()
    if not viewer.ready.wait(10):
        raise RuntimeError("the WebSocket viewer did not connect")
    # Chromium's own accounting of the renderer's main thread (seconds, cumulative).
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    metrics_before = renderer_metrics(cdp)
    cpu_before = tree_cpu(server)
    browser_before = tree_cpu_except(os.getpid(), server)
    sent, posts, seconds = send(port, capture, tag, captures, rate)
    cpu = (tree_cpu(server) - cpu_before) / seconds
    browser_cpu = (tree_cpu_except(os.getpid(), server) - browser_before) / seconds
    # Rows still arriving after the last send: wait until all are in, or 10 s without one.
    count, last_change = 0, time.monotonic()
    while count < captures and time.monotonic() - last_change < 10:
        seen = page.evaluate("window.__pixels.filter((e) => e.frame !== null).length")
        if seen != count:
            count, last_change = seen, time.monotonic()
        time.sleep(0.05)
    entries = page.evaluate("window.__pixels")
    pattern = re.compile(rf"/({re.escape(tag)}-\d+)$")
    first: dict[str, dict] = {}
    duplicated = 0
    for entry in entries:
        match = pattern.search(entry["path"])
        if not match:
            continue
        if match.group(1) in first:
            duplicated += 1
        else:
            first[match.group(1)] = entry
    arrived: dict[str, float] = {}
    for arrival in page.evaluate("window.__arrivals"):
        match = re.search(rf"/({re.escape(tag)}-\d+)[<?]", arrival["data"])
        if match:
            arrived.setdefault(match.group(1), arrival["at"])
    metrics_after = renderer_metrics(cdp)
    renderer = {k: (metrics_after[k] - metrics_before[k]) * 1000 / captures for k in METRICS}
    cdp.detach()
    viewer.join(15)
    shown = [k for k in sent if k in first]  # in send order
    server_part = sorted(viewer.arrived[k] - sent[k] for k in shown if k in viewer.arrived)
    dom = sorted(first[k]["dom"] - sent[k] for k in shown)
    frame = sorted(first[k]["frame"] - sent[k] for k in shown if first[k]["frame"])
    socket_part = sorted(arrived[k] - sent[k] for k in shown if k in arrived)
    page_part = sorted(first[k]["dom"] - arrived[k] for k in shown if k in arrived)
    # The same latency over the first and the last fifth of the run: growth means the page's
    # cost rises with the rows it already holds.
    fifth = max(1, len(shown) // 5)
    early = sorted(first[k]["dom"] - sent[k] for k in shown[:fifth])
    late = sorted(first[k]["dom"] - sent[k] for k in shown[-fifth:])
    return {
        "rate": rate,
        "dom": dom,
        "frame": frame,
        "socket": socket_part,
        "page": page_part,
        "early": early,
        "late": late,
        "posts": posts,
        "achieved": captures / seconds,
        "cpu": cpu,
        "browser_cpu": browser_cpu,
        "renderer": renderer,
        "server": server_part,
        "viewer_missing": sum(1 for k in sent if k not in viewer.arrived),
        "missing": sum(1 for k in sent if k not in first),
        "duplicated": duplicated,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--captures", type=int, default=1000)
    parser.add_argument("--rates", default="50,200")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        webbin = subprocess.Popen(
            [sys.executable, "-m", "webbin.cli", "serve", "--port", str(port)],
            # Rate limits off: this measures the path to the screen, not refusals.
            env={
                **os.environ,
                "WEBBIN_DATA_DIR": tmp,
                "WEBBIN_CAPTURE_CLIENT_RATE": "0",
                "WEBBIN_CAPTURE_BIN_RATE": "0",
                "WEBBIN_PROBE_RATE": "0",
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        results = []
        try:
            wait(port)
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path="/usr/bin/chromium",
                    headless=True,
                    args=[
                        "--no-sandbox",
                        "--disable-gpu",
                        "--disable-background-networking",
                        "--disable-component-update",
                        "--no-first-run",
                        "--disable-sync",
                    ],
                )
                for rate in rates:
                    # A fresh page per rate, so each starts from an empty list.
                    page = browser.new_page()
                    page.add_init_script(OBSERVER)
                    results.append(measure(page, port, webbin.pid, args.captures, rate))
                    page.close()
                browser.close()
        finally:
            webbin.terminate()
            webbin.wait()

    print(f"{args.captures} captures per rate; latency send -> row on the bin page, ms")
    print(
        f"{'rate/s':>6} {'DOM p50':>8} {'DOM p99':>8} {'DOM max':>8} "
        f"{'frame p50':>10} {'frame p99':>10} {'frame max':>10} {'missing':>8} {'dup':>5}"
    )
    for r in results:
        d, f = r["dom"], r["frame"]
        print(
            f"{r['rate']:6.0f} {percentile(d, 0.5):8.1f} {percentile(d, 0.99):8.1f} "
            f"{(d[-1] if d else float('nan')):8.1f} {percentile(f, 0.5):10.1f} "
            f"{percentile(f, 0.99):10.1f} {(f[-1] if f else float('nan')):10.1f} "
            f"{r['missing']:8} {r['duplicated']:5}"
        )
    print(
        "where it goes, ms: send -> a plain WebSocket viewer beside the page (server); "
        "send -> the message's event in the page (socket); that event -> row in the DOM (page)"
    )
    print(
        f"{'rate/s':>6} {'server p50':>10} {'p99':>7} {'socket p50':>10} {'p99':>7} "
        f"{'page p50':>9} {'p99':>7} {'DOM p99 first 1/5':>18} {'last 1/5':>9}"
    )
    for r in results:
        print(
            f"{r['rate']:6.0f} {percentile(r['server'], 0.5):10.1f} "
            f"{percentile(r['server'], 0.99):7.1f} {percentile(r['socket'], 0.5):10.1f} "
            f"{percentile(r['socket'], 0.99):7.1f} {percentile(r['page'], 0.5):9.1f} "
            f"{percentile(r['page'], 0.99):7.1f} {percentile(r['early'], 0.99):18.1f} "
            f"{percentile(r['late'], 0.99):9.1f}"
        )
    for r in results:
        print(
            f"{r['rate']:.0f}/s: sent at {r['achieved']:.0f}/s, POST p50 "
            f"{percentile(r['posts'], 0.5):.1f} ms p99 {percentile(r['posts'], 0.99):.1f} ms, "
            f"CPU (share of one core) server {r['cpu']:.0%}, browser {r['browser_cpu']:.0%}; "
            f"WebSocket viewer missed {r['viewer_missing']}"
        )
    if len(results) > 1:
        base, top = results[0], results[-1]
        for kind in ("dom", "frame"):
            print(
                f"ratio {top['rate']:.0f}/s / {base['rate']:.0f}/s ({kind}): "
                f"p50 {percentile(top[kind], 0.5) / percentile(base[kind], 0.5):.2f}, "
                f"p99 {percentile(top[kind], 0.99) / percentile(base[kind], 0.99):.2f}"
            )
    for r in results:
        m = r["renderer"]
        print(
            f"{r['rate']:.0f}/s: renderer main thread per capture, ms: tasks "
            f"{m['TaskDuration']:.2f} (script {m['ScriptDuration']:.2f}, style "
            f"{m['RecalcStyleDuration']:.2f}, layout {m['LayoutDuration']:.2f}); "
            f"busy {m['TaskDuration'] * r['rate'] / 1000:.0%} of the time at this rate"
        )
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    top = results[-1]
    p99 = percentile(top["frame"], 0.99)
    clean = top["missing"] == 0 and top["duplicated"] == 0
    verdict = "met" if p99 <= TARGET_P99_MS and clean else "NOT met"
    print(
        f"target p99 <= {TARGET_P99_MS:.0f} ms at {top['rate']:.0f}/s, nothing missing or "
        f"duplicated (next-frame p99 {p99:.1f} ms): {verdict}"
    )


if __name__ == "__main__":
    main()
