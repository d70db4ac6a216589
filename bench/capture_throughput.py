"""Capture throughput of ``webbin serve`` against a bare gunicorn gevent app, in one run.

Both servers run on loopback with the same worker; the same client load (N requests over
C keep-alive connections, a 1 KiB JSON body) goes to each. The ratio says what capturing
(parse, one SQLite transaction with synchronous=FULL, publish) costs over serving at all.

    python bench/capture_throughput.py [--requests 3000] [--connections 8]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
from pathlib import Path

BODY = json.dumps({"id": "evt_bench", "data": "x" * 1000}).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(port: int) -> None:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def load(port: int, path: str, requests: int, connections: int) -> float:
    """Requests per second for ``requests`` POSTs spread over ``connections`` threads."""
    per = requests // connections
    errors: list[str] = []

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(per):
            conn.request("POST", path, BODY, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors.append(str(response.status))
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed, e.g. {errors[0]}")
    return per * connections / elapsed


BARE_APP = textwrap.dedent(
    """
    def app(environ, start_response):
        environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"ok": true}']
    """
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "bare.py").write_text(BARE_APP)
        bare_port, webbin_port = free_port(), free_port()
        bare = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-k",
                "gevent",
                "-b",
                f"127.0.0.1:{bare_port}",
                "--chdir",
                tmp,
                "bare:app",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        webbin = subprocess.Popen(
            [sys.executable, "-m", "webbin.cli", "serve", "--port", str(webbin_port)],
            # Rate limits off: this measures capture, not the limiter's refusals.
            env={
                **os.environ,
                "WEBBIN_DATA_DIR": tmp,
                "WEBBIN_CAPTURE_CLIENT_RATE": "0",
                "WEBBIN_CAPTURE_BIN_RATE": "0",
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait(bare_port)
            wait(webbin_port)
            api = f"http://127.0.0.1:{webbin_port}/api/bins"
            request = urllib.request.Request(api, method="POST")
            capture = json.load(urllib.request.urlopen(request))["capture_url"]
            path = capture.split(str(webbin_port), 1)[1] + "/bench"
            load(bare_port, "/", 200, 2)  # warm up both
            load(webbin_port, path, 200, 2)
            bare_rps = load(bare_port, "/", args.requests, args.connections)
            webbin_rps = load(webbin_port, path, args.requests, args.connections)
        finally:
            bare.terminate()
            webbin.terminate()
    print(f"bare gunicorn gevent app : {bare_rps:8.0f} req/s (baseline)")
    print(f"webbin capture           : {webbin_rps:8.0f} req/s")
    print(f"ratio capture / baseline : {webbin_rps / bare_rps:8.2f}")


if __name__ == "__main__":
    main()
