"""Does a big bin cost more to look at? The same reads on a bin of 100 requests (the
baseline) and on one of 100,000, against one ``webbin serve`` (gevent worker, SQLite), in one
run: the bin page, the list (API), one request's detail, ``GET /api/bins/{id}`` (which
carries the request count) and a stream replay of the newest 50 requests
(``/api/bins/{id}/stream?after=<id>``, with the websockets client).

Both bins are filled in bulk with Core inserts before the server starts (capturing 100,000
requests one by one would take minutes and measure capture instead). Small and big are
timed in alternation, round after round, so a slow moment on the machine hits both alike;
the ratio of medians is what to compare across changes (the target: bin page and
``GET /api/bins/{id}`` at most 1.2x).

    python bench/binsize.py [--big 100000] [--rounds 200]

To measure another checkout (e.g. main, for a "before" figure), put its tree first on the
path with a Python that does not load this checkout's editable install (whose finder would
win over ``PYTHONPATH``): ``PYTHONPATH=/path/to/checkout:.venv/lib/python3.11/site-packages
python3 bench/binsize.py``.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime

from benchutil import free_port, wait
from sqlalchemy import insert, select, update
from websockets.sync.client import connect

from webbin import create_app
from webbin.storage.models import Bin, CapturedRequest, db

SMALL = 100
REPLAYED = 50
CHUNK = 10_000


def make_bins(data_dir: str, sizes: list[int]) -> list[tuple[str, int, int]]:
    """One bin per size, filled in bulk; (bin id, a middle request's id, the id to replay
    after) for each."""
    app = create_app({"DATA_DIR": data_dir})
    made = []
    with app.app_context():
        now = datetime.now(UTC)
        for size in sizes:
            bin_ = Bin(name=f"{size} requests")
            db.session.add(bin_)
            db.session.commit()
            bin_id = bin_.id
            with db.engine.begin() as conn:
                for start in range(0, size, CHUNK):
                    conn.execute(
                        insert(CapturedRequest),
                        [
                            row(bin_id, seq, now)
                            for seq in range(start + 1, min(start + CHUNK, size) + 1)
                        ],
                    )
                filled = {"last_seq": size}
                if "request_count" in Bin.__table__.c:  # absent in checkouts before the counter
                    filled["request_count"] = size
                conn.execute(update(Bin).where(Bin.id == bin_id).values(**filled))
                ids = {
                    r.seq: r.id
                    for r in conn.execute(
                        select(CapturedRequest.seq, CapturedRequest.id).where(
                            CapturedRequest.bin_id == bin_id,
                            CapturedRequest.seq.in_([size // 2, size - REPLAYED]),
                        )
                    )
                }
            made.append((bin_id, ids[size // 2], ids[size - REPLAYED]))
        db.engine.dispose()
    return made


def row(bin_id: str, seq: int, now: datetime) -> dict:
    body = b'{"event": "order.created", "id": %d}' % seq
    return {
        "bin_id": bin_id,
        "seq": seq,
        "method": "POST",
        "path": f"/hook/{seq}",
        "query_string": "",
        "headers": [["Content-Type", "application/json"], ["User-Agent", "bench"]],
        "body": body,
        "content_type": "application/json",
        "size": len(body),
        "remote_addr": "127.0.0.1",
        "received_at": now,
    }


def http_get(conn: http.client.HTTPConnection, path: str) -> Callable[[], None]:
    def get() -> None:
        conn.request("GET", path)
        answer = conn.getresponse()
        answer.read()
        if answer.status != 200:
            raise RuntimeError(f"GET {path}: {answer.status}")

    return get


def replay(port: int, bin_id: str, after: int) -> Callable[[], None]:
    url = f"ws://127.0.0.1:{port}/api/bins/{bin_id}/stream?after={after}"

    def run() -> None:
        with connect(url, open_timeout=10) as ws:
            for _ in range(REPLAYED):
                ws.recv(timeout=10)

    return run


def timed(action: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def compare(small: Callable[[], None], big: Callable[[], None], rounds: int) -> tuple:
    """Median seconds of each, timed in alternation after a short warm-up."""
    for _ in range(10):
        small()
        big()
    small_times, big_times = [], []
    for _ in range(rounds):
        small_times.append(timed(small))
        big_times.append(timed(big))
    return statistics.median(small_times), statistics.median(big_times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        (small_id, small_mid, small_after), (big_id, big_mid, big_after) = make_bins(
            tmp, [SMALL, args.big]
        )
        print(
            f"filled bins of {SMALL} and {args.big} requests"
            f" in {time.perf_counter() - started:.1f} s"
        )
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "webbin.cli", "serve", "--port", str(port)],
            # A closed stream keeps its viewer place until its handler next wakes (at most
            # STREAM_POLL_SECONDS later): lift the cap, which is not what is measured here.
            env={**os.environ, "WEBBIN_DATA_DIR": tmp, "WEBBIN_MAX_VIEWERS_PER_BIN": "0"},
            cwd=tmp,  # ``-m`` puts the working directory first on the path
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        results = []
        try:
            wait(port, server)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            reads = [
                ("bin page", "/bins/{id}"),
                ("list (API)", "/api/bins/{id}/requests"),
                ("detail (API)", "/api/bins/{id}/requests/{mid}"),
                ("GET /api/bins/{id}", "/api/bins/{id}"),
            ]
            for name, path in reads:
                small = http_get(conn, path.format(id=small_id, mid=small_mid))
                big = http_get(conn, path.format(id=big_id, mid=big_mid))
                results.append((name, *compare(small, big, args.rounds)))
            results.append(
                (
                    f"replay {REPLAYED} (stream)",
                    *compare(
                        replay(port, small_id, small_after),
                        replay(port, big_id, big_after),
                        max(args.rounds // 4, 10),
                    ),
                )
            )
            conn.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"{'median of ' + str(args.rounds):<24}{SMALL:>10} (baseline){args.big:>12}   ratio")
    for name, small_s, big_s in results:
        ratio = big_s / small_s
        print(f"{name:<24}{small_s * 1000:10.2f} ms{'':>8}{big_s * 1000:9.2f} ms {ratio:6.2f}x")


if __name__ == "__main__":
    main()
