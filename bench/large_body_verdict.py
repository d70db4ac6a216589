"""What a signature secret adds to capturing a large body with a wrong signature, in one run.

One ``webbin serve`` on loopback, two bins: one with a signing secret, one without (the
baseline). The same 9 MiB JSON body, carrying a GitHub signature that matches no secret, is
posted to each in turn, one request at a time. For each bin the script reports the server's
CPU time per capture (every process of ``webbin serve``, read from /proc) and the wall time
per capture, then the ratio secret / no secret. Capture stores only the verdict's status
(``invalid`` with the secret, ``unverified`` without); explaining it, such as looking for a
re-encoded body, waits until someone views the request.

    python bench/large_body_verdict.py [--requests 10] [--mib 9]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from benchutil import free_port, wait

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(root: int) -> list[int]:
    """``root`` and every process below it (gunicorn's master and its workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(root: int) -> float:
    """User + system CPU time of ``root``'s process tree so far."""
    total = 0
    for pid in process_tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def large_body(mib: int) -> bytes:
    """A JSON document of about ``mib`` MiB, shaped like a real export or batch event."""
    item = {"id": 0, "name": "x" * 40, "tags": ["a", "b"], "active": True}
    per_item = len(json.dumps({**item, "id": 100_000})) + 2  # with ", " between items
    items = [{**item, "id": i} for i in range(mib * 1024 * 1024 // per_item)]
    return json.dumps({"event": "export.finished", "items": items}).encode()


HEADERS = {
    "Content-Type": "application/json",
    "X-GitHub-Event": "push",
    "X-Hub-Signature-256": "sha256=" + "0" * 64,  # matches no secret
}


def capture(port: int, path: str, body: bytes, requests: int, server: int) -> tuple[float, float]:
    """(server CPU seconds, wall seconds) per capture of ``body`` into ``path``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    cpu_before, started = cpu_seconds(server), time.perf_counter()
    for _ in range(requests):
        conn.request("POST", path, body, HEADERS)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"capture answered {response.status}")
    wall = time.perf_counter() - started
    cpu = cpu_seconds(server) - cpu_before
    conn.close()
    return cpu / requests, wall / requests


def new_bin(port: int, secret: str | None) -> tuple[str, str]:
    """(bin id, capture path) of a fresh bin, with ``secret`` when given."""
    api = f"http://127.0.0.1:{port}/api/bins"
    created = json.load(urllib.request.urlopen(urllib.request.Request(api, method="POST")))
    if secret is not None:
        patch = urllib.request.Request(
            f"{api}/{created['id']}",
            data=json.dumps({"signature": {"secrets": [secret]}}).encode(),
            headers={"Content-Type": "application/json"},
            method="PATCH",
        )
        urllib.request.urlopen(patch).read()
    return created["id"], urlsplit(created["capture_url"]).path + "/bench"


def newest_status(port: int, bin_id: str) -> str:
    url = f"http://127.0.0.1:{port}/api/bins/{bin_id}/requests?limit=1"
    return json.load(urllib.request.urlopen(url))["requests"][0]["signature_status"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--mib", type=int, default=9)
    args = parser.parse_args()
    body = large_body(args.mib)

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        webbin = subprocess.Popen(
            [sys.executable, "-m", "webbin.cli", "serve", "--port", str(port)],
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
            wait(port)
            plain_id, plain = new_bin(port, None)
            secret_id, secret = new_bin(port, "bench-secret")
            capture(port, plain, body, 1, webbin.pid)  # warm up both
            capture(port, secret, body, 1, webbin.pid)
            plain_cpu, plain_wall = capture(port, plain, body, args.requests, webbin.pid)
            secret_cpu, secret_wall = capture(port, secret, body, args.requests, webbin.pid)
            statuses = newest_status(port, plain_id), newest_status(port, secret_id)
        finally:
            webbin.terminate()
            webbin.wait(30)
    if statuses != ("unverified", "invalid"):
        raise RuntimeError(f"unexpected verdicts {statuses}")
    size = f"{len(body) / 2**20:.1f} MiB JSON, wrong signature"
    print(f"{size}, {args.requests} captures per bin")
    print(
        f"bin without a secret (baseline) : {plain_cpu * 1000:7.1f} ms CPU, "
        f"{plain_wall * 1000:7.1f} ms wall per capture"
    )
    print(
        f"bin with a secret               : {secret_cpu * 1000:7.1f} ms CPU, "
        f"{secret_wall * 1000:7.1f} ms wall per capture"
    )
    print(
        f"ratio secret / no secret        : {secret_cpu / plain_cpu:7.2f} CPU, "
        f"{secret_wall / plain_wall:7.2f} wall"
    )


if __name__ == "__main__":
    main()
