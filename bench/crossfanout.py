"""Fan-out across processes and hosts: captures sent to one ``webbin serve`` instance, watched
by WebSocket viewers on another, through each cross-process notifier, with the in-process
figure (viewers and captures on the same one-worker instance) as the same-run baseline.

Configurations, each with fresh instances on loopback (rate limits and the viewer cap off,
the default 5 s safety poll):

* ``inprocess``: one instance, one worker, PostgreSQL; viewers and captures on it (baseline);
* ``redis``: two instances of ``--workers`` workers on one PostgreSQL database and a private
  ``redis-server``; viewers on B, captures on A;
* ``pgnotify``: the same without Redis (PostgreSQL's LISTEN/NOTIFY);
* ``sqlite``: two instances of ``--workers`` workers on one SQLite file (the local notifier);
* ``sqlite-redis``: the same through Redis.

A sender posts N captures at R/s over one keep-alive connection, each naming its sequence
number and the time just before it was sent (``time.monotonic_ns``, one clock for every
process) in its path; the viewers (asyncio ``websockets`` clients in a separate process)
record when each arrives. A few warm-up captures first let every viewer's worker subscribe.
Printed per configuration: latency p50/p99/max over every viewer's every event, events missing
and duplicated, the sender's POST p50/p99, and p99 over the baseline's.

    python bench/crossfanout.py [--captures 1000] [--rate 50] [--viewers 10] [--workers 2]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
        [--configs inprocess,redis,pgnotify,sqlite,sqlite-redis]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

from benchutil import drop_postgres, free_port, fresh_postgres, percentile, wait

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
            last = json.loads(message)["path"].rsplit("/", 1)[-1]
            if last.startswith("warm"):
                continue
            n, sent = last.split("-")
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


class Instance:
    """One ``webbin serve`` on a free port."""

    def __init__(self, data_dir: Path, workers: int, env: dict[str, str]) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "webbin.cli", "serve", "--port", str(self.port)],
            env={
                **os.environ,
                "WEBBIN_DATA_DIR": str(data_dir),
                "WEBBIN_WORKERS": str(workers),
                "WEBBIN_REDIS_URL": "",
                "WEBBIN_CAPTURE_CLIENT_RATE": "0",
                "WEBBIN_CAPTURE_BIN_RATE": "0",
                "WEBBIN_MAX_VIEWERS_PER_BIN": "0",
                **env,
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait(self.port, self.process)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(20)


def new_bin(port: int) -> tuple[str, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/bins", method="POST")
    created = json.load(urllib.request.urlopen(request))
    capture = created["capture_url"].split(str(port), 1)[1]
    return f"/api/bins/{created['id']}/stream", capture


def send(port: int, path: str, captures: int, rate: float, prefix: str = "") -> list[float]:
    """POST ``captures`` times at ``rate``/s over one connection; each POST's latency in ms."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies = []
    start = time.monotonic()
    for n in range(captures):
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sent = time.monotonic_ns()
        conn.request("POST", f"{path}/{prefix}{n}-{sent}", b"{}", {"Content-Type": "text/x"})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"capture answered {response.status}")
        latencies.append((time.monotonic_ns() - sent) / 1e6)
    conn.close()
    return sorted(latencies)


def measure(script: Path, viewing: Instance, capturing: Instance, args) -> dict:
    ws_path, post_path = new_bin(capturing.port)
    watching = subprocess.Popen(
        [
            sys.executable,
            str(script),
            f"ws://127.0.0.1:{viewing.port}{ws_path}",
            str(args.viewers),
            str(args.captures),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert watching.stdout is not None
    if watching.stdout.readline().strip() != "ready":
        raise RuntimeError("viewers did not connect")
    send(capturing.port, post_path, 5, 5.0, prefix="warm")  # every worker's listener is up
    time.sleep(1.5)
    posts = send(capturing.port, post_path, args.captures, args.rate)
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


def start_redis(folder: Path) -> tuple[subprocess.Popen, str]:
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        + ["--appendonly", "no", "--daemonize", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait(port, process)
    return process, f"redis://127.0.0.1:{port}/0"


def run(config: str, tmp: Path, script: Path, database: str, args) -> dict:
    """Start the configuration's instances, measure, stop them."""
    folder = tmp / config
    started: list[Instance] = []
    redis = None
    try:
        if config == "inprocess":
            started.append(Instance(folder, 1, {"WEBBIN_DATABASE_URL": database}))
            return measure(script, started[0], started[0], args)
        sqlite = config.startswith("sqlite")
        # SQLite: one data folder for both, so one database file.
        env = {} if sqlite else {"WEBBIN_DATABASE_URL": database}
        if config in ("redis", "sqlite-redis"):
            redis, env["WEBBIN_REDIS_URL"] = start_redis(tmp)
        for name in ("a", "b"):
            where = folder if sqlite else folder / name
            started.append(Instance(where, args.workers, env))
        return measure(script, started[1], started[0], args)
    finally:
        for instance in started:
            instance.stop()
        if redis is not None:
            redis.terminate()
            redis.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--captures", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--viewers", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--configs", default="inprocess,redis,pgnotify,sqlite,sqlite-redis")
    args = parser.parse_args()
    configs = args.configs.split(",")

    results: dict[str, dict] = {}
    database, name = fresh_postgres(args.postgres, "bench_crossfanout")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp, "viewers.py")
            script.write_text(VIEWERS)
            for config in configs:
                results[config] = run(config, Path(tmp), script, database, args)
    finally:
        drop_postgres(args.postgres, name)

    print(
        f"{args.captures} captures at {args.rate:.0f}/s to instance A, {args.viewers} viewers "
        f"on instance B ({args.workers} workers each); latency send -> each viewer, ms"
    )
    print(
        f"{'config':12} {'p50':>7} {'p99':>7} {'max':>7} {'missing':>8} {'dup':>5} "
        f"{'POST p50':>9} {'POST p99':>9}"
    )
    for config, r in results.items():
        print(
            f"{config:12} {r['p50']:7.1f} {r['p99']:7.1f} {r['max']:7.1f} {r['missing']:8} "
            f"{r['duplicated']:5} {r['post_p50']:9.1f} {r['post_p99']:9.1f}"
        )
    base = results.get("inprocess")
    if base:
        for config, r in results.items():
            if config != "inprocess":
                print(f"p99 {config} / inprocess: {r['p99'] / base['p99']:.2f}")


if __name__ == "__main__":
    main()
