"""Capture under a keep-alive flood: webbin against a bare Flask app on the same worker.

Both servers run on loopback under gunicorn with webbin's gevent worker class (so the
comparison is the cost of capturing, not of a different server), one worker each. wrk
floods each with ~1 KiB JSON POSTs over C keep-alive connections, one wrk thread per
connection so that its Lua hooks can count requests per connection (the spread says
whether one connection can starve the others). Meanwhile a second client opens a fresh
connection every 50 ms and GETs a small JSON answer (``GET /api/bins/{id}`` on webbin);
its latency is what a dashboard user sees during somebody else's flood.

Afterwards webbin's stored rows are checked against the 2xx answers wrk counted: at least
as many rows as acknowledgements (a 2xx means stored), and at most C more (requests in
flight when wrk stopped may be stored without wrk reading the answer).

    python bench/capture.py [--seconds 10] [--connections 32] [--postgres URL] [--workers 1]

With ``--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres`` a second webbin
run uses a fresh database created on that server for the run (dropped afterwards).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from benchutil import drop_postgres, free_port, fresh_postgres, wait, worker_cpu

WRK = "/usr/bin/wrk"
BODY = json.dumps({"id": "evt_bench", "type": "invoice.paid", "data": "x" * 960})
WORKER = "webbin.serving.worker.Worker"

# One wrk thread per connection: each thread's globals are that connection's counters.
WRK_SCRIPT = textwrap.dedent(
    """
    wrk.method = "POST"
    wrk.body = BODY
    wrk.headers["Content-Type"] = "application/json"

    local threads = {}
    function setup(thread) table.insert(threads, thread) end
    function init(args) answered = 0; ok = 0 end
    function response(status, headers, body)
      answered = answered + 1
      if status >= 200 and status < 300 then ok = ok + 1 end
    end
    function done(summary, latency, requests)
      local counts, oks = {}, 0
      for _, t in ipairs(threads) do
        table.insert(counts, t:get("answered"))
        oks = oks + t:get("ok")
      end
      io.write(string.format(
        'WRK {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
        .. '"max_us": %d, "ok": %d, "non2xx": %d, "socket_errors": %d, '
        .. '"per_connection": [%s]}\\n',
        summary.requests, summary.duration, latency:percentile(50),
        latency:percentile(99), latency.max, oks, summary.errors.status,
        summary.errors.connect + summary.errors.read + summary.errors.write
        + summary.errors.timeout, table.concat(counts, ",")))
    end
    """
)

BARE_APP = textwrap.dedent(
    """
    from flask import Flask, jsonify, request

    app = Flask(__name__)

    @app.post("/c/<token>/<path:rest>")
    def capture(token, rest):
        request.get_data()
        return jsonify(ok=True, id=1, seq=1)

    @app.get("/api/bins/<bin_id>")
    def show(bin_id):
        return jsonify(id=bin_id, request_count=0)
    """
)


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    ok: int
    non2xx: int
    socket_errors: int
    per_connection: list[int]
    get_ms: list[float]
    # The worker's CPU time per request during the flood (set by the caller, which knows
    # the server's process).
    cpu_us: float = float("nan")

    def line(self, name: str) -> str:
        spread = self.per_connection
        gets = sorted(self.get_ms)
        get_p50 = statistics.median(gets) if gets else float("nan")
        get_p99 = gets[min(len(gets) - 1, int(len(gets) * 0.99))] if gets else float("nan")
        return (
            f"{name:<22} {self.rps:8.0f} req/s  p50 {self.p50_ms:6.1f} ms  "
            f"p99 {self.p99_ms:7.1f} ms  max {self.max_ms:7.1f} ms  "
            f"per-conn {min(spread)}..{max(spread)} (median {statistics.median(spread):.0f})  "
            f"GET p50 {get_p50:5.1f} ms p99 {get_p99:6.1f} ms (n={len(gets)})  "
            f"non-2xx {self.non2xx} socket errors {self.socket_errors}  "
            f"worker CPU {self.cpu_us:.0f} us/request"
        )


def second_client(port: int, path: str, stop: threading.Event, out: list[float]) -> None:
    """A fresh connection every 50 ms, one GET each: milliseconds until the whole answer."""
    while not stop.wait(0.05):
        started = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                out.append((time.perf_counter() - started) * 1000)
        except OSError:
            pass
        finally:
            connection.close()


def flood(
    port: int, post_path: str, get_path: str, seconds: int, connections: int, tmp: str
) -> Run:
    script = Path(tmp, "capture.lua")
    script.write_text(f"BODY = {json.dumps(BODY)}\n" + WRK_SCRIPT)
    gets: list[float] = []
    stop = threading.Event()
    getter = threading.Thread(target=second_client, args=(port, get_path, stop, gets))
    getter.start()
    try:
        out = subprocess.run(
            [
                WRK,
                f"-t{connections}",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "30s",
                "-s",
                str(script),
                f"http://127.0.0.1:{port}{post_path}",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        stop.set()
        getter.join()
    data = json.loads(next(line for line in out.splitlines() if line.startswith("WRK "))[4:])
    return Run(
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        ok=data["ok"],
        non2xx=data["non2xx"],
        socket_errors=data["socket_errors"],
        per_connection=data["per_connection"],
        get_ms=gets,
    )


def timed_flood(
    server: subprocess.Popen,
    port: int,
    post_path: str,
    get_path: str,
    seconds: int,
    connections: int,
    tmp: str,
) -> Run:
    """:func:`flood`, with the CPU time ``server``'s workers spent per request."""
    before = worker_cpu(server.pid)
    result = flood(port, post_path, get_path, seconds, connections, tmp)
    spent = worker_cpu(server.pid) - before
    result.cpu_us = spent / max(1.0, result.rps * seconds) * 1e6
    return result


def start_bare(tmp: str, port: int, workers: int = 1) -> subprocess.Popen:
    Path(tmp, "bare.py").write_text(BARE_APP)
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-k", WORKER, "-w", str(workers)]
        + ["-b", f"127.0.0.1:{port}"]
        + ["--chdir", tmp, "bare:app"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_webbin(
    data_dir: str,
    port: int,
    database_url: str | None,
    workers: int = 1,
    command: list[str] | None = None,
) -> subprocess.Popen:
    """``webbin serve`` on ``data_dir`` (or on ``database_url``), rate limits off; started by
    ``command`` instead of ``python -m webbin.cli`` when given (it must take ``serve``'s
    arguments)."""
    env = {
        **os.environ,
        "WEBBIN_DATA_DIR": data_dir,
        # Rate limits off: this measures capture, not the limiter's refusals.
        "WEBBIN_CAPTURE_CLIENT_RATE": "0",
        "WEBBIN_CAPTURE_BIN_RATE": "0",
    }
    env.pop("WEBBIN_DATABASE_URL", None)
    if database_url:
        env["WEBBIN_DATABASE_URL"] = database_url
    return subprocess.Popen(
        (command or [sys.executable, "-m", "webbin.cli"])
        + ["serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def new_bin(port: int) -> tuple[str, str]:
    """A new bin on the webbin at ``port``: (the path to POST captures to, its API path)."""
    api = f"http://127.0.0.1:{port}/api/bins"
    made = json.load(urllib.request.urlopen(urllib.request.Request(api, method="POST")))
    return made["capture_url"].split(str(port), 1)[1] + "/bench", f"/api/bins/{made['id']}"


def run_webbin(args: argparse.Namespace, tmp: str, database_url: str | None) -> Run:
    port = free_port()
    data_dir = tempfile.mkdtemp(dir=tmp)
    server = start_webbin(data_dir, port, database_url, args.workers)
    try:
        wait(port, server)
        post_path, get_path = new_bin(port)
        flood(port, post_path, get_path, 2, 4, tmp)  # warm up
        before = settled_count(port, get_path)
        result = timed_flood(server, port, post_path, get_path, args.seconds, args.connections, tmp)
        stored = count(port, get_path) - before
        late = stored - result.ok
        verdict = "ok" if 0 <= late <= args.connections else "MISMATCH"
        print(f"  stored rows {stored}, 2xx answers {result.ok}: {verdict}")
        if verdict != "ok":
            raise SystemExit("stored rows do not match the acknowledged captures")
        return result
    finally:
        stop(server)


def settled_count(port: int, get_path: str) -> int:
    """The bin's count once captures still in flight from the warm-up (wrk stops without
    reading their answers) have been stored: the same figure twice, 200 ms apart."""
    previous = count(port, get_path)
    while True:
        time.sleep(0.2)
        current = count(port, get_path)
        if current == previous:
            return current
        previous = current


def count(port: int, get_path: str) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{get_path}") as response:
        return json.load(response)["request_count"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--postgres", help="a PostgreSQL server URL to also run webbin on")
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes of every server (default 1)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        bare = start_bare(tmp, port, args.workers)
        try:
            wait(port, bare)
            flood(port, "/c/x/bench", "/api/bins/x", 2, 4, tmp)  # warm up
            baseline = timed_flood(
                bare, port, "/c/x/bench", "/api/bins/x", args.seconds, args.connections, tmp
            )
        finally:
            stop(bare)
        print(baseline.line("bare Flask (baseline)"))

        results = [("webbin SQLite", run_webbin(args, tmp, None))]
        print(results[0][1].line(results[0][0]))
        if args.postgres:
            url, name = fresh_postgres(args.postgres, "bench_capture")
            try:
                results.append(("webbin PostgreSQL", run_webbin(args, tmp, url)))
            finally:
                drop_postgres(args.postgres, name)
            print(results[1][1].line(results[1][0]))
    for name, result in results:
        print(f"ratio {name} / bare Flask: {result.rps / baseline.rps:.2f}")


if __name__ == "__main__":
    main()
