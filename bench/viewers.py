"""Idle viewers: RSS and CPU of one ``webbin serve`` worker holding 1,000 idle WebSocket
viewers, against the same worker holding none, in one run.

The viewers (asyncio ``websockets`` clients in a separate process, 20 per bin, the default
cap, over 50 bins; no client pings, as browsers send none) connect, then nothing is captured.
The worker's CPU (user + system, from /proc) is sampled over the same window length with no
viewers and with them; RSS is read at the end of each window.

    python bench/viewers.py [--viewers 1000] [--per-bin 20] [--window 30]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

from benchutil import free_port, wait

CLIENTS = textwrap.dedent(
    """
    import asyncio, sys
    from websockets.asyncio.client import connect

    async def main():
        urls = sys.argv[1:]
        sockets = []
        for url in urls:
            sockets.append(await connect(url, ping_interval=None))
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        for ws in sockets:
            await ws.close()

    asyncio.run(main())
    """
)

TICK = os.sysconf("SC_CLK_TCK")


def worker_of(master: int) -> int:
    for _ in range(200):
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise RuntimeError("no worker process")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def window(pid: int, seconds: float) -> tuple[float, float]:
    """(CPU as a percentage of one core, RSS in MB) over ``seconds``."""
    before, started = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    used, elapsed = cpu_seconds(pid) - before, time.monotonic() - started
    return 100 * used / elapsed, rss_mb(pid)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--per-bin", type=int, default=20)
    parser.add_argument("--window", type=float, default=30.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp, "clients.py")
        script.write_text(CLIENTS)
        port = free_port()
        webbin = subprocess.Popen(
            [sys.executable, "-m", "webbin.cli", "serve", "--port", str(port)],
            env={**os.environ, "WEBBIN_DATA_DIR": tmp, "WEBBIN_BIN_CREATE_BURST": "1000"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        clients = None
        try:
            wait(port)
            worker = worker_of(webbin.pid)
            urls = []
            for _ in range(-(-args.viewers // args.per_bin)):
                request = urllib.request.Request(f"http://127.0.0.1:{port}/api/bins", method="POST")
                bin_id = json.load(urllib.request.urlopen(request))["id"]
                urls += [f"ws://127.0.0.1:{port}/api/bins/{bin_id}/stream"] * args.per_bin
            urls = urls[: args.viewers]
            time.sleep(2)  # let start-up settle before the baseline window
            idle_cpu, idle_rss = window(worker, args.window)
            clients = subprocess.Popen(
                [sys.executable, str(script), *urls],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert clients.stdout is not None and clients.stdin is not None
            if clients.stdout.readline().strip() != "ready":
                raise RuntimeError("viewers did not connect")
            time.sleep(2)  # connecting is not idling
            busy_cpu, busy_rss = window(worker, args.window)
            clients.stdin.write("\n")
            clients.stdin.flush()
            clients.wait(30)
        finally:
            if clients is not None and clients.poll() is None:
                clients.kill()
            webbin.terminate()
            webbin.wait(30)
    print(f"one worker, {args.window:.0f} s windows")
    print(f"no viewers (baseline)   : CPU {idle_cpu:5.2f} % of a core, RSS {idle_rss:6.1f} MB")
    label = f"{args.viewers} idle viewers"
    print(f"{label:24}: CPU {busy_cpu:5.2f} % of a core, RSS {busy_rss:6.1f} MB")
    per = (busy_rss - idle_rss) * 1024 / args.viewers
    print(
        f"difference              : CPU {busy_cpu - idle_cpu:+5.2f} points, "
        f"RSS {busy_rss - idle_rss:+6.1f} MB ({per:.0f} KB per viewer), "
        f"RSS ratio {busy_rss / idle_rss:.2f}"
    )


if __name__ == "__main__":
    main()
