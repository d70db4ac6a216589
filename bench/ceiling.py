"""Where a capture's time goes: webbin with its storage taken away, beside the real thing.

``capture.py`` says how far webbin is from a bare Flask app; this script says how much of
the gap storage is. It floods (as ``capture.py`` does: wrk, ~1 KiB JSON POSTs, C keep-alive
connections, one gunicorn gevent worker each, rate limits off) four servers in one sitting:

* a bare Flask app (``capture.py``'s baseline);
* ``webbin serve`` on SQLite, as shipped;
* webbin whose writer sleeps instead of writing: each batch forms and waits exactly as with
  SQLite (the captures' greenlets park until their batch is done, the batch runs in a real
  thread), but the thread sleeps ``--commit-ms`` instead of touching the database, so the
  worker's core does no database work at all;
* webbin whose writer answers at once: nothing stored, no wait (``Writer.write`` returns
  made-up ids). What is left is the request path itself: gunicorn, Flask, the capture view,
  deciding the verdict, the answer.

For each: requests per second and the worker's CPU time per request (user + system, read
from ``/proc``: steadier than the rate on a shared machine), and each one's ratio to the bare
app. The two variants exist only here (the script patches them in before ``webbin serve``
starts its worker); they store nothing and must never serve anyone.

    python bench/ceiling.py [--seconds 10] [--connections 32] [--commit-ms 4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from benchutil import free_port, wait
from capture import flood, new_bin, start_bare, start_webbin, stop, timed_flood

VARIANTS = ("webbin", "webbin, writer sleeps", "webbin, nothing stored")


def start_variant(variant: str, data_dir: str, port: int, commit_ms: float) -> subprocess.Popen:
    """``webbin serve`` as ``capture.py`` starts it, through this script for the variants."""
    if variant == "webbin":
        return start_webbin(data_dir, port, None)
    command = [sys.executable, __file__, "--serve", variant, "--commit-ms", str(commit_ms)]
    return start_webbin(data_dir, port, None, command=command)


def serve_variant(variant: str, serve_args: list[str], commit_ms: float) -> None:
    """Patch the writer as ``variant`` says, then run ``webbin serve`` (its worker forks from
    this process, patch included)."""
    import itertools

    from webbin.capture import writer
    from webbin.cli import main as webbin

    ids = itertools.count(1)

    def made_up(job: writer._Job) -> writer.Stored:
        n = next(ids)
        return writer.Stored(job.bin_row.id, n, n, job.decision, job.bin_row)

    if variant == "webbin, writer sleeps":

        def sleep_instead(_conn: object, batch: list[writer._Job]) -> None:
            time.sleep(commit_ms / 1000)  # in the writer's real thread, as a commit would be
            for job in batch:
                job.stored = made_up(job)
            for job in {job.bin_row.id: job for job in batch}.values():
                job.publish = True

        writer._write_batch = sleep_instead
    elif variant == "webbin, nothing stored":

        def answer_at_once(
            _self: writer.Writer, _engine: Any, *job: Any
        ) -> tuple[writer.Stored, bool]:
            return made_up(writer._Job(*job)), True  # (bin_row, delivery, record, decision)

        writer.Writer.write = answer_at_once
    webbin(serve_args)


def measure(
    server: subprocess.Popen, port: int, post: str, get: str, args: argparse.Namespace, tmp: str
) -> tuple[float, float]:
    """(requests per second, the worker's CPU microseconds per request) under the flood."""
    flood(port, post, get, 2, 4, tmp)  # warm up
    result = timed_flood(server, port, post, get, args.seconds, args.connections, tmp)
    return result.rps, result.cpu_us


def run_variant(variant: str, args: argparse.Namespace, tmp: str) -> tuple[float, float]:
    port = free_port()
    server = start_variant(variant, tempfile.mkdtemp(dir=tmp), port, args.commit_ms)
    try:
        wait(port, server)
        return measure(server, port, *new_bin(port), args, tmp)
    finally:
        stop(server)


def run_bare(args: argparse.Namespace, tmp: str) -> tuple[float, float]:
    port = free_port()
    server = start_bare(tmp, port)
    try:
        wait(port, server)
        return measure(server, port, "/c/x/bench", "/api/bins/x", args, tmp)
    finally:
        stop(server)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--commit-ms", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)
    args, serve_args = parser.parse_known_args()
    if args.serve:  # started by start_variant: the rest are ``webbin serve``'s arguments
        serve_variant(args.serve, serve_args, args.commit_ms)
        return
    if serve_args:
        parser.error(f"unrecognized arguments: {' '.join(serve_args)}")

    figures: dict[str, list[tuple[float, float]]] = {"bare Flask": []}
    figures.update({variant: [] for variant in VARIANTS})
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):  # in turn, so a noisy minute spreads over all of them
            figures["bare Flask"].append(run_bare(args, tmp))
            for variant in VARIANTS:
                figures[variant].append(run_variant(variant, args, tmp))
    bare_rps = statistics.median(rps for rps, _ in figures["bare Flask"])
    bare_cpu = statistics.median(cpu for _, cpu in figures["bare Flask"])
    for name, runs in figures.items():
        rps = statistics.median(r for r, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(
            f"{name:<24} {rps:7.0f} req/s ({rps / bare_rps:4.2f}x bare)  "
            f"worker CPU {cpu:6.0f} us/request ({cpu / bare_cpu:4.2f}x bare)  "
            f"runs: {', '.join(f'{r:.0f}' for r, _ in runs)} req/s"
        )


if __name__ == "__main__":
    main()
