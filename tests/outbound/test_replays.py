"""Replay many: a background job sends a selection of a bin's requests to a loopback target
in order, at the chosen rate, with its progress in the database; cancel stops it; the
resend limits and the outbound policy apply to each request, each is recorded as a resend
attempt; a job whose process went away is marked interrupted, not left running.

Every outbound byte goes to a loopback server started here (the tests' servers run the
``local`` profile, which lets resends reach loopback; the policy test switches to
``production`` and checks nothing leaves).
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import Server, api_call, capture_path
from netguard import loopback_only_fixture  # noqa: F401
from web.test_openapi import Contract

from webbin import create_app
from webbin.outbound import replays
from webbin.ratelimit import limiters
from webbin.storage.models import ReplayJob, db, utcnow
from webbin.web.openapi import openapi_document


class Target:
    """A loopback HTTP server that records each request it gets and answers 204, unless
    its gate is closed: then it holds the answer until the gate opens."""

    def __init__(self) -> None:
        self.hits: list[dict[str, Any]] = []
        self.gate = threading.Event()
        self.gate.set()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def handle_one(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                target.hits.append(
                    {
                        "at": time.monotonic(),
                        "method": self.command,
                        "path": self.path,
                        "headers": list(self.headers.items()),
                        "body": body,
                    }
                )
                target.gate.wait(30)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = do_PURGE = handle_one

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "{path_and_query}") -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def stop(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def target() -> Iterator[Target]:
    running = Target()
    yield running
    running.stop()


def until(condition: Callable[[], Any], timeout: float = 20.0, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every)
    return found


# --- through a real server ----------------------------------------------------------------


def capture(bin_: dict, path: str, body: bytes) -> None:
    request = urllib.request.Request(bin_["capture_url"] + path, data=body, method="POST")
    urllib.request.urlopen(request, timeout=10).close()


def test_a_replay_sends_in_order_at_the_rate_with_progress(server: Server, target: Target):
    bin_ = server.new_bin()
    for n in range(6):
        capture(bin_, f"/r{n}?n={n}", f"body {n}".encode())
    status, job = api_call(
        server, "POST", f"/api/bins/{bin_['id']}/replays", {"q": "", "url": target.url(), "rate": 5}
    )
    assert status == 201, job
    assert (job["state"], job["total"], job["done"], job["outcomes"]) == ("running", 6, 0, [])

    seen = []

    def finished() -> bool:
        _, now = api_call(server, "GET", f"/api/bins/{bin_['id']}/replays/{job['id']}")
        seen.append((now["state"], now["done"]))
        return now["state"] != "running" and now

    final = until(finished, every=0.1)
    assert any(state == "running" and 0 < done < 6 for state, done in seen), seen
    assert (final["state"], final["done"], final["failed"], final["error"]) == ("done", 6, 0, None)
    assert final["finished_at"] and final["next_after"] is None
    assert [hit["path"] for hit in target.hits] == [f"/r{n}?n={n}" for n in range(6)]
    assert [hit["body"] for hit in target.hits] == [f"body {n}".encode() for n in range(6)]
    # At most 5 per second: starts 0.2 s apart (some slack for the clocks), yet not crawling.
    gaps = [b["at"] - a["at"] for a, b in zip(target.hits, target.hits[1:], strict=False)]
    assert min(gaps) > 0.15, gaps
    assert sum(gaps) < 3.0, gaps

    # Each went out as a resend does, and is recorded as one under its request.
    assert all(any(name == "X-Webbin-Resend" for name, _ in hit["headers"]) for hit in target.hits)
    outcomes = final["outcomes"]
    assert [o["position"] for o in outcomes] == [1, 2, 3, 4, 5, 6]
    assert {o["status"] for o in outcomes} == {204}
    for outcome in outcomes:
        _, attempts = api_call(
            server, "GET", f"/api/bins/{bin_['id']}/requests/{outcome['request_id']}/resends"
        )
        assert [a["id"] for a in attempts["resends"]] == [outcome["attempt_id"]]
    _, later = api_call(server, "GET", f"/api/bins/{bin_['id']}/replays/{job['id']}?after=4")
    assert [o["position"] for o in later["outcomes"]] == [5, 6]
    _, listed = api_call(server, "GET", f"/api/bins/{bin_['id']}/replays")
    assert [(j["id"], j["state"]) for j in listed["replays"]] == [(job["id"], "done")]


def test_cancel_stops_a_replay_midway(server: Server, target: Target):
    bin_ = server.new_bin()
    for n in range(12):
        capture(bin_, f"/c{n}", b"x")
    _, job = api_call(
        server, "POST", f"/api/bins/{bin_['id']}/replays", {"q": "", "url": target.url(), "rate": 4}
    )
    path = f"/api/bins/{bin_['id']}/replays/{job['id']}"
    until(lambda: api_call(server, "GET", path)[1]["done"] >= 2)

    status, cancelled = api_call(server, "POST", path + "/cancel")
    assert (status, cancelled["state"]) == (200, "cancelled")
    sent = len(target.hits)
    time.sleep(1.5)  # six more would have gone at 4/s
    assert len(target.hits) <= sent + 1  # at most the one already out
    final = api_call(server, "GET", path)[1]
    assert final["state"] == "cancelled"
    assert final["done"] == len(target.hits) < 12
    assert api_call(server, "POST", path + "/cancel")[1]["state"] == "cancelled"  # no change


def test_a_replay_left_running_by_a_stopped_server_is_interrupted(tmp_path: Path, target: Target):
    first = Server(tmp_path)
    try:
        bin_ = first.new_bin()
        for n in range(4):
            capture(bin_, f"/i{n}", b"x")
        _, job = api_call(
            first,
            "POST",
            f"/api/bins/{bin_['id']}/replays",
            {"q": "", "url": target.url(), "rate": 0.2},
        )
        path = f"/api/bins/{bin_['id']}/replays/{job['id']}"
        until(lambda: api_call(first, "GET", path)[1]["done"] == 1)
    finally:
        first.process.kill()  # no goodbye: as a crash, or a machine going away
        first.process.wait()
    second = Server(tmp_path)
    try:
        # The killed master's worker notices and exits within a few seconds; from then on
        # its pid names no process, and the job reads as interrupted.
        found = until(
            lambda: (job := api_call(second, "GET", path)[1])["state"] != "running" and job
        )
        assert (found["state"], found["done"], found["total"]) == ("interrupted", 1, 4)
        assert "stopped before it finished" in found["error"]
        assert found["finished_at"]
        assert len(target.hits) == 1
    finally:
        second.stop()


# --- through the app ------------------------------------------------------------------------


def make_app(tmp_path: Path, **config: Any) -> Flask:
    return create_app({"TESTING": True, "DATA_DIR": str(tmp_path), **config})


def bin_with(client: FlaskClient, count: int) -> tuple[dict, list[int]]:
    bin_ = client.post("/api/bins").get_json()
    ids = [
        client.post(capture_path(bin_) + f"/p{n}", data=f"{n}".encode()).get_json()["id"]
        for n in range(count)
    ]
    return bin_, ids


def wait_done(client: FlaskClient, bin_: dict, job: dict, timeout: float = 20.0) -> dict:
    path = f"/api/bins/{bin_['id']}/replays/{job['id']}"
    return until(
        lambda: (now := client.get(path).get_json())["state"] != "running" and now, timeout
    )


def test_ids_replay_those_requests_oldest_first_and_a_deleted_one_is_skipped(app, target):
    client = app.test_client()
    bin_, ids = bin_with(client, 4)
    job = client.post(
        f"/api/bins/{bin_['id']}/replays",
        json={"ids": [ids[3], ids[0], ids[2]], "url": target.url(), "rate": 2},
    ).get_json()
    client.delete(f"/api/bins/{bin_['id']}/requests/{ids[3]}")  # before its turn comes
    final = wait_done(client, bin_, job)
    assert [hit["path"] for hit in target.hits] == ["/p0", "/p2"]
    assert (final["state"], final["done"], final["failed"]) == ("done", 3, 1)
    skipped = final["outcomes"][2]
    assert (skipped["request_id"], skipped["error_kind"], skipped["attempt_id"]) == (
        ids[3],
        "deleted",
        None,
    )


def test_the_clients_resend_rate_paces_a_replay(tmp_path, target):
    app = make_app(tmp_path, RESEND_CLIENT_RATE=2, RESEND_CLIENT_BURST=1)
    client = app.test_client()
    bin_, _ = bin_with(client, 4)
    job = client.post(
        f"/api/bins/{bin_['id']}/replays", json={"q": "", "url": target.url(), "rate": 100}
    ).get_json()
    assert wait_done(client, bin_, job)["done"] == 4
    span = target.hits[-1]["at"] - target.hits[0]["at"]
    assert span > 1.2, span  # three more tokens at 2 per second, not 100 per second


def test_a_replay_waits_for_a_resend_place_of_its_worker(tmp_path, target):
    app = make_app(tmp_path, RESEND_MAX_CONCURRENT=1)
    client = app.test_client()
    bin_, _ = bin_with(client, 2)
    running = limiters(app).resend_running
    assert running.enter()  # a resend in flight holds the only place
    try:
        job = client.post(
            f"/api/bins/{bin_['id']}/replays", json={"q": "", "url": target.url(), "rate": 50}
        ).get_json()
        time.sleep(1.0)
        assert target.hits == []
        assert (
            client.get(f"/api/bins/{bin_['id']}/replays/{job['id']}").get_json()["state"]
            == "running"
        )
    finally:
        running.leave()
    assert wait_done(client, bin_, job)["done"] == 2
    assert len(target.hits) == 2
    assert running.held() == 0


def test_the_outbound_policy_applies_to_every_replayed_request(tmp_path, target, loopback_only):
    app = make_app(tmp_path, PROFILE="production")
    client = app.test_client()
    bin_, ids = bin_with(client, 3)
    job = client.post(
        f"/api/bins/{bin_['id']}/replays", json={"q": "", "url": target.url(), "rate": 50}
    ).get_json()
    final = wait_done(client, bin_, job)
    assert (final["state"], final["done"], final["failed"]) == ("done", 3, 3)
    assert {o["error_kind"] for o in final["outcomes"]} == {"blocked"}
    assert "loopback" in final["outcomes"][0]["error"]
    assert target.hits == []
    attempts = client.get(f"/api/bins/{bin_['id']}/requests/{ids[0]}/resends").get_json()["resends"]
    assert [a["error_kind"] for a in attempts] == ["blocked"]  # recorded as a resend is


@pytest.mark.parametrize(
    ("body", "path", "words"),
    [
        ({"url": "http://127.0.0.1:9/"}, "", '"q"'),
        ({"q": "verdict:sideways", "url": "http://127.0.0.1:9/"}, "q", "At character 1"),
        ({"q": "", "ids": [1], "url": "http://127.0.0.1:9/"}, "", "not both"),
        ({"ids": [999999], "url": "http://127.0.0.1:9/"}, "ids[0]", "no request 999999"),
        ({"ids": [], "url": "http://127.0.0.1:9/"}, "ids", "at least 1"),
        ({"ids": ["1"], "url": "http://127.0.0.1:9/"}, "ids[0]", "integer"),
        ({"q": "", "url": "ftp://example.com/"}, "url", "http"),
        ({"q": ""}, "url", "no resend_url"),
        (
            {"q": "", "url": "http://127.0.0.1:9/", "rate": 0},
            "rate",
            "greater than or equal to 0.01",
        ),
        ({"q": "", "url": "http://127.0.0.1:9/", "rate": 101}, "rate", "less than or equal to 100"),
        ({"q": "", "url": "http://127.0.0.1:9/", "rate": "fast"}, "rate", "number"),
        ({"q": "", "url": "http://127.0.0.1:9/", "extra": 1}, "extra", "not a known field"),
    ],
)
def test_bad_replays_are_refused_with_the_field_named(app, body, path, words):
    client = app.test_client()
    bin_, _ = bin_with(client, 1)
    answer = client.post(f"/api/bins/{bin_['id']}/replays", json=body)
    assert answer.status_code == 400, answer.get_json()
    errors = answer.get_json()["errors"]
    assert any(e["path"] == path and words in e["message"] for e in errors), errors
    assert client.get(f"/api/bins/{bin_['id']}/replays").get_json() == {"replays": []}


def test_an_empty_bin_has_nothing_to_replay(app):
    client = app.test_client()
    bin_ = client.post("/api/bins").get_json()
    answer = client.post(
        f"/api/bins/{bin_['id']}/replays", json={"q": "", "url": "http://127.0.0.1:9/"}
    )
    assert answer.status_code == 400
    assert "holds no requests" in answer.get_json()["message"]
    assert (
        client.post("/api/bins/nope/replays", json={"q": "", "url": "http://x/"}).status_code == 404
    )
    assert client.get(f"/api/bins/{bin_['id']}/replays/1").status_code == 404


def test_a_bin_runs_at_most_three_replays_at_once(app, target):
    client = app.test_client()
    bin_, _ = bin_with(client, 1)
    target.gate.clear()  # every request waits at the target
    started = []
    try:
        for _ in range(replays.MAX_RUNNING_PER_BIN):
            answer = client.post(
                f"/api/bins/{bin_['id']}/replays", json={"q": "", "url": target.url()}
            )
            assert answer.status_code == 201
            started.append(answer.get_json())
        refused = client.post(
            f"/api/bins/{bin_['id']}/replays", json={"q": "", "url": target.url()}
        )
        assert refused.status_code == 409
        assert "already has 3 replays running" in refused.get_json()["message"]
        client.post(f"/api/bins/{bin_['id']}/replays/{started[0]['id']}/cancel")
        assert (
            client.post(
                f"/api/bins/{bin_['id']}/replays", json={"q": "", "url": target.url()}
            ).status_code
            == 201
        )
    finally:
        target.gate.set()
    for job in client.get(f"/api/bins/{bin_['id']}/replays").get_json()["replays"]:
        wait_done(client, bin_, job)


def test_lost_jobs_are_marked_interrupted_when_next_looked_at(app):
    """A job's process is gone (same host, no such pid), or it has not been heard of for
    longer than a send may take: either way it no longer says running."""
    client = app.test_client()
    bin_, ids = bin_with(client, 1)
    ended = subprocess.Popen(["true"])
    ended.wait()
    now = utcnow()
    rows = {
        "dead process": (f"{socket.gethostname()}:{ended.pid}", now),
        "silent elsewhere": ("elsewhere:123", now - timedelta(minutes=10)),
        "alive elsewhere": ("elsewhere:123", now),
        "this process": (replays.owner(), now),
    }
    with app.app_context():
        jobs = {}
        for name, (owner, heartbeat) in rows.items():
            job = ReplayJob(
                bin_id=bin_["id"],
                url="http://127.0.0.1:9/",
                rate=1,
                state="running",
                request_ids=ids,
                total=1,
                done=0,
                failed=0,
                created_at=now,
                owner=owner,
                heartbeat_at=heartbeat,
            )
            db.session.add(job)
            db.session.commit()
            jobs[name] = job.id
    states = {
        name: client.get(f"/api/bins/{bin_['id']}/replays/{job_id}").get_json()
        for name, job_id in jobs.items()
    }
    assert {name: found["state"] for name, found in states.items()} == {
        "dead process": "interrupted",
        "silent elsewhere": "interrupted",
        "alive elsewhere": "running",
        "this process": "running",
    }
    assert "stopped before it finished" in states["dead process"]["error"]


def test_replay_answers_match_the_document(app, target):
    client, check = app.test_client(), Contract(app, openapi_document()).check
    bin_, _ = bin_with(client, 2)
    api_path = f"/api/bins/{bin_['id']}/replays"
    job = check(client.post(api_path, json={"q": "", "url": target.url(), "rate": 50}))
    final = wait_done(client, bin_, job)
    assert check(client.get(f"{api_path}/{job['id']}")) == final
    assert check(client.get(f"{api_path}/{job['id']}?after=1"))["outcomes"][0]["position"] == 2
    assert check(client.get(api_path))["replays"][0]["id"] == job["id"]
    assert check(client.post(f"{api_path}/{job['id']}/cancel"))["state"] == "done"
    check(client.post(api_path, json={"q": "x", "url": target.url()}))
    check(client.get(f"{api_path}/99999"))
    check(client.get(f"{api_path}/{job['id']}?after=-1"))
    imported = client.post(
        f"/api/bins/{bin_['id']}/import",
        data=client.get(f"/api/bins/{bin_['id']}/export").data,
        content_type="application/x-ndjson",
    )
    assert check(imported)["imported"] == 2
    check(
        client.post(
            f"/api/bins/{bin_['id']}/import", data=b"{", content_type="application/x-ndjson"
        )
    )


@pytest.mark.parametrize(
    ("query", "label"),
    [("", "Replay all 3"), ("?q=method%3APUT", "Replay every match of the search")],
)
def test_the_replay_button_counts_the_bin_only_without_a_search(app, query: str, label: str):
    """With a search on, the bin's count is not what would be replayed: the button says so."""
    client = app.test_client()
    bin_ = client.post("/api/bins").get_json()
    for method in ("PUT", "POST", "PUT"):
        client.open(capture_path(bin_), method=method, data=b"x")
    page = client.get(f"/bins/{bin_['id']}{query}").get_data(as_text=True)
    assert f'<button type="submit" class="primary">{label}</button>' in page
