"""One pruner at a time, on SQLite (a file lock) and PostgreSQL (an advisory lock): while one
process prunes, every other skips its turn; a process that dies holding the lock frees it;
what a pass deletes is counted in the metrics."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from prometheus_client import REGISTRY

from webbin import create_app
from webbin.storage.retention import prune_once, pruning_lock

HOLDER = """
import sys, time
from webbin import create_app
from webbin.storage.retention import pruning_lock
app = create_app({"DATA_DIR": sys.argv[1], "DATABASE_URL": sys.argv[2]})
with app.app_context(), pruning_lock() as mine:
    print("held" if mine else "not held", flush=True)
    time.sleep(60)
"""


def same_database(app, **extra):
    """Another app (another worker) on ``app``'s database."""
    return create_app(
        {
            "TESTING": True,
            "DATA_DIR": app.config["DATA_DIR"],
            "DATABASE_URL": app.config["DATABASE_URL"],
            **extra,
        }
    )


def test_one_process_prunes_at_a_time(app):
    other = same_database(app)
    with app.app_context(), pruning_lock() as mine:
        assert mine
        with other.app_context(), pruning_lock() as theirs:
            assert not theirs
        assert prune_once(other) is None  # skipped its turn
    with other.app_context(), pruning_lock() as theirs:
        assert theirs  # given back


def test_a_dead_holder_frees_the_lock(app):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, app.config["DATA_DIR"], app.config["DATABASE_URL"]],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert prune_once(app) is None
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        assert prune_once(app) is not None
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def pruned(reason: str) -> float:
    return REGISTRY.get_sample_value("webbin_pruned_rows_total", {"reason": reason}) or 0.0


def test_a_pass_counts_what_it_deleted(app):
    limited = same_database(app, MAX_REQUESTS_PER_BIN=1)
    client = limited.test_client()
    made = client.post("/api/bins").json
    token_path = made["capture_url"].split("://", 1)[1].split("/", 1)[1]
    for n in range(3):
        assert client.post(f"/{token_path}", data=f"request {n}").status_code == 200
    before = pruned("evicted_over_bin_limit")
    report = prune_once(limited)
    assert report is not None and report.evicted_over_bin_limit == 2
    assert pruned("evicted_over_bin_limit") == before + 2


def test_the_prune_command_waits_its_turn_too(app, monkeypatch, capsys):
    """``webbin prune`` by hand takes the same lock as the servers' background pruning."""
    from webbin import cli

    monkeypatch.setenv("WEBBIN_DATA_DIR", app.config["DATA_DIR"])
    monkeypatch.setenv("WEBBIN_DATABASE_URL", app.config["DATABASE_URL"])
    with app.app_context(), pruning_lock() as mine:
        assert mine
        try:
            cli.main(["prune"])
        except SystemExit as stopped:
            assert stopped.code == 3
        else:
            raise AssertionError("webbin prune ran while another process held the lock")
    assert "another process is pruning right now" in capsys.readouterr().err
    cli.main(["prune"])  # the lock given back: a pass, and what it removed
    assert "evicted over bin limit: 0" in capsys.readouterr().out
