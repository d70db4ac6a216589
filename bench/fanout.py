"""Fan-out latency: captures at a steady rate to one bin, watched by 1 and by 50 WebSocket
viewers, on ``webbin serve`` and on a minimal flask-sock broadcaster, in one run.

Both servers run one gunicorn gevent worker on loopback. A sender posts N captures at R/s
over one keep-alive connection, each naming its sequence number and the time just before it
was sent (``time.monotonic_ns``, the same clock in every process) in its path; the viewers
(asyncio ``websockets`` clients in a separate process, compression off for both servers)
record when each arrives. Printed per server and viewer count: latency p50/p99/max over every
viewer's every event, events missing and duplicated, and the sender's POST p50/p99; then
webbin's ratios to the baseline, and webbin's capture p50 with 50 viewers over with 1.

    python bench/fanout.py [--captures 2000] [--rate 200] [--viewers 1,50]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

from benchutil import free_port, percentile, wait

BROADCASTER = textwrap.dedent(
    """
    import json

    from flask import Flask
    from flask_sock import Sock
    from gevent.queue import Queue

    app = Flask(__name__)
    sock = Sock(app)
    queues = set()


    @app.post("/c/<path:rest>")
    def capture(rest):
        message = json.dumps({"path": "/" + rest})
        for queue in list(queues):
            queue.put(message)
        return "ok"


    @sock.route("/ws")
    def stream(ws):
        queue = Queue()
        queues.add(queue)
        try:
            while True:
                ws.send(queue.get())
        finally:
            queues.discard(queue)
    """
)

VIEWERS = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from websockets.asyncio.client import connect

    url, count, expected, quiet = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), 10.0

    async def view(ws, latencies, seen):
        while len(seen) < expected:
            try:
                message = await asyncio.wait_for(ws.recv(), quiet)
            except TimeoutError:
                return
            now = time.monotonic_ns()
            n, sent = json.loads(message)["path"].rsplit("/", 1)[-1].split("-")
            seen.append(int(n))
            latencies.append((now - int(sent)) / 1e6)

    async def main():
        sockets = [await connect(url, compression=None, ping_interval=None, max_queue=None)
                   for _ in range(count)]
        print("ready", flush=True)
        results = [([], []) for _ in sockets]
        await asyncio.gather(*(view(ws, lat, seen) for ws, (lat, seen) in zip(sockets, results)))
        missing = duplicated = 0
        for _, seen in results:
            missing += expected - len(set(seen))
            duplicated += len(seen) - len(set(seen))
        latencies = sorted(x for lat, _ in results for x in lat)
        print(json.dumps({"latencies": latencies, "missing": missing, "duplicated": duplicated}))
        for ws in sockets:
            await ws.close()

    asyncio.run(main())
    """
)


def send(port: int, path: str, captures: int, rate: float) -> list[float]:
    """POST ``captures`` times at ``rate``/s; each POST's latency in ms."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies = []
    start = time.monotonic()
    for n in range(captures):
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sent = time.monotonic_ns()
        conn.request("POST", f"{path}/{n}-{sent}", b"{}", {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"capture answered {response.status}")
        latencies.append((time.monotonic_ns() - sent) / 1e6)
    conn.close()
    return sorted(latencies)


def run(script: Path, port: int, ws_path: str, post_path: str, viewers: int, args) -> dict:
    watching = subprocess.Popen(
        [
            sys.executable,
            str(script),
            f"ws://127.0.0.1:{port}{ws_path}",
            str(viewers),
            str(args.captures),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert watching.stdout is not None
    if watching.stdout.readline().strip() != "ready":
        raise RuntimeError("viewers did not connect")
    posts = send(port, post_path, args.captures, args.rate)
    result = json.loads(watching.stdout.readline())
    watching.wait()
    latencies = result["latencies"]
    return {
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "max": latencies[-1] if latencies else float("nan"),
        "missing": result["missing"],
        "duplicated": result["duplicated"],
        "post_p50": percentile(posts, 0.5),
        "post_p99": percentile(posts, 0.99),
    }


def new_bin(port: int) -> tuple[str, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/bins", method="POST")
    created = json.load(urllib.request.urlopen(request))
    capture = created["capture_url"].split(str(port), 1)[1]
    return f"/api/bins/{created['id']}/stream", capture


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--captures", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--viewers", default="1,50")
    args = parser.parse_args()
    counts = [int(v) for v in args.viewers.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "broadcaster.py").write_text(BROADCASTER)
        script = Path(tmp, "viewers.py")
        script.write_text(VIEWERS)
        bare_port, webbin_port = free_port(), free_port()
        gunicorn = [sys.executable, "-m", "gunicorn", "-k", "gevent", "--chdir", tmp]
        bare = subprocess.Popen(
            [*gunicorn, "-b", f"127.0.0.1:{bare_port}", "broadcaster:app"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        webbin = subprocess.Popen(
            [sys.executable, "-m", "webbin.cli", "serve", "--port", str(webbin_port)],
            # Rate limits and the viewer cap off: this measures fan-out, not refusals.
            env={
                **os.environ,
                "WEBBIN_DATA_DIR": tmp,
                "WEBBIN_CAPTURE_CLIENT_RATE": "0",
                "WEBBIN_CAPTURE_BIN_RATE": "0",
                "WEBBIN_MAX_VIEWERS_PER_BIN": "0",
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        results: dict[tuple[str, int], dict] = {}
        try:
            wait(bare_port)
            wait(webbin_port)
            for viewers in counts:
                results["baseline", viewers] = run(
                    script, bare_port, "/ws", "/c/bench", viewers, args
                )
                results["webbin", viewers] = run(
                    script, webbin_port, *new_bin(webbin_port), viewers, args
                )
        finally:
            bare.terminate()
            webbin.terminate()

    print(f"{args.captures} captures at {args.rate:.0f}/s; latency send -> each viewer, ms")
    print(
        f"{'server':9} {'viewers':>7} {'p50':>7} {'p99':>7} {'max':>7} {'missing':>8} "
        f"{'dup':>5} {'POST p50':>9} {'POST p99':>9}"
    )
    for (server, viewers), r in results.items():
        print(
            f"{server:9} {viewers:7} {r['p50']:7.1f} {r['p99']:7.1f} {r['max']:7.1f} "
            f"{r['missing']:8} {r['duplicated']:5} {r['post_p50']:9.1f} {r['post_p99']:9.1f}"
        )
    for viewers in counts:
        w, b = results["webbin", viewers], results["baseline", viewers]
        print(
            f"ratio webbin / baseline, {viewers} viewer(s): p50 {w['p50'] / b['p50']:.2f}, "
            f"p99 {w['p99'] / b['p99']:.2f}"
        )
    if len(counts) > 1:
        few, many = results["webbin", counts[0]], results["webbin", counts[-1]]
        print(
            f"webbin POST p50 with {counts[-1]} viewers / with {counts[0]}: "
            f"{many['post_p50'] / few['post_p50']:.2f}"
        )


if __name__ == "__main__":
    main()
