"""Replay many through a forwarder, end to end: a real ``webbin serve`` (two of them sharing a
database, where it matters), the installed ``webbin forward`` and a loopback target reading
raw bytes. The requests reach the target in order, exactly once, byte for byte; each outcome
is what the forwarder reported; cancel stops it; a forwarder that goes away fails the job
with its reason instead of leaving it waiting; the resend rate applies, the address policy
does not; a bad target is refused with a clear message.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from forward.support import Answer, Forward, Received, Target, capture
from helpers import Server, api_call


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    """Two ``webbin serve`` processes on one SQLite file: the forwarder connects to the
    first, replays are started on the second, so they meet only through the database."""
    data = tmp_path_factory.mktemp("data")
    near, far = Server(data), Server(data)
    yield near, far
    near.stop()
    far.stop()


def until(condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    """``condition()``'s first true value, asked again every 50 ms up to ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return found


def finished(server: Server, bin_: dict, job: dict) -> dict:
    path = f"/api/bins/{bin_['id']}/replays/{job['id']}"
    return until(lambda: (now := api_call(server, "GET", path)[1])["state"] != "running" and now)


def connect(forward: Callable[..., Forward], server: Server, bin_: dict, target: Target) -> tuple:
    """A forwarder for the bin (from now on: it forwards nothing captured before), and its
    id as the server lists it."""
    forwarder = forward(f"{server.url}/bins/{bin_['id']}", target.url(), "--name", "ada-laptop")
    forwarder.wait_for("connected")
    _, listed = api_call(server, "GET", f"/api/bins/{bin_['id']}/forwarders")
    (found,) = listed["forwarders"]
    return forwarder, found["id"]


BODIES = [
    ("application/json", b'{"z": 1, "a": [1, 2.50, "\\u00e9"],  "n": null}\n'),
    ("application/octet-stream", bytes(range(256))),
    ("application/x-www-form-urlencoded", b"a=1&b=%C3%A9+x&a=2&empty="),
    ("text/plain; charset=utf-8", "café ☕\r\n".encode()),
    ("application/octet-stream", b"\x00\xff" * 3000),
]


def test_a_replay_through_a_forwarder_arrives_in_order_once_byte_exact(servers, target, forward):
    near, far = servers
    bin_ = near.new_bin()
    ids = []
    for n, (content_type, body) in enumerate(BODIES):
        _, _, answer = capture(bin_, f"/r{n}?n={n}", body, [("Content-Type", content_type)])
        ids.append(json.loads(answer)["id"])
    forwarder, forwarder_id = connect(forward, near, bin_, target)
    # The target's answers differ, so each outcome can be told from the others.
    target.respond = lambda got: Answer(200 + len(target.received), [], got.target.encode())

    status, job = api_call(
        far,
        "POST",
        f"/api/bins/{bin_['id']}/replays",
        {"q": "", "forwarder": forwarder_id, "rate": 20},
    )
    assert status == 201, job
    assert (job["state"], job["total"], job["url"]) == ("running", len(BODIES), target.url())
    assert job["forwarder"] == {"id": forwarder_id, "name": "ada-laptop", "target": target.url()}

    final = finished(far, bin_, job)
    assert (final["state"], final["done"], final["failed"], final["error"]) == (
        "done",
        len(BODIES),
        0,
        None,
    )
    got = target.wait_for(len(BODIES))
    assert [g.target for g in got] == [f"/hook/r{n}?n={n}" for n in range(len(BODIES))]
    assert [g.body for g in got] == [body for _, body in BODIES]

    outcomes = final["outcomes"]
    assert [o["position"] for o in outcomes] == list(range(1, len(BODIES) + 1))
    assert [o["request_id"] for o in outcomes] == ids
    assert [o["status"] for o in outcomes] == [200 + n for n in range(len(BODIES))]
    assert {o["error"] for o in outcomes} == {None}
    for outcome in outcomes:  # each is the forwarder's report, stored as a resend attempt
        path = f"/api/bins/{bin_['id']}/requests/{outcome['request_id']}/resends"
        (attempt,) = api_call(near, "GET", path)[1]["resends"]
        assert attempt["id"] == outcome["attempt_id"]
        assert (attempt["forwarder"], attempt["status"]) == ("ada-laptop", outcome["status"])
    assert [forwarder.wait_for("resend")["id"] for _ in ids] == ids

    # Exactly once: one more replay through the same forwarder, whose resends go one at a
    # time in the order queued, arrives right after them, with nothing between.
    _, marker = api_call(
        far, "POST", f"/api/bins/{bin_['id']}/replays", {"ids": [ids[0]], "forwarder": forwarder_id}
    )
    assert finished(far, bin_, marker)["state"] == "done"
    assert [g.target for g in target.wait_for(len(BODIES) + 1)] == [
        *(f"/hook/r{n}?n={n}" for n in range(len(BODIES))),
        "/hook/r0?n=0",
    ]
    _, listed = api_call(near, "GET", f"/api/bins/{bin_['id']}/replays")
    shown = {j["id"]: j["forwarder"]["name"] for j in listed["replays"]}
    assert shown == {job["id"]: "ada-laptop", marker["id"]: "ada-laptop"}


class Held:
    """A target answer that waits, for the ``nth`` request, until released; ``arrived``
    says that request is at the target."""

    def __init__(self, nth: int) -> None:
        self.nth = nth
        self.count = 0
        self.arrived = threading.Event()
        self.release = threading.Event()

    def __call__(self, got: Received) -> Answer:
        self.count += 1
        if self.count == self.nth:
            self.arrived.set()
            self.release.wait(30)
        return Answer()


def test_cancel_stops_a_replay_through_a_forwarder(servers, target, forward):
    near, far = servers
    bin_ = near.new_bin()
    ids = [json.loads(capture(bin_, f"/c{n}")[2])["id"] for n in range(6)]
    _, forwarder_id = connect(forward, near, bin_, target)
    held = Held(2)
    target.respond = held
    _, job = api_call(
        far,
        "POST",
        f"/api/bins/{bin_['id']}/replays",
        {"q": "", "forwarder": forwarder_id, "rate": 50},
    )
    path = f"/api/bins/{bin_['id']}/replays/{job['id']}"
    try:
        assert held.arrived.wait(20)
        status, cancelled = api_call(far, "POST", path + "/cancel")
        assert (status, cancelled["state"]) == (200, "cancelled")
    finally:
        held.release.set()
    # The request already out completes and is recorded; nothing after it is queued.
    until(lambda: api_call(far, "GET", path)[1]["done"] == 2)
    _, marker = api_call(
        far, "POST", f"/api/bins/{bin_['id']}/replays", {"ids": [ids[5]], "forwarder": forwarder_id}
    )
    assert finished(far, bin_, marker)["state"] == "done"
    assert [g.target for g in target.wait_for(3)] == ["/hook/c0", "/hook/c1", "/hook/c5"]
    final = api_call(far, "GET", path)[1]
    assert (final["state"], final["done"]) == ("cancelled", 2)
    assert [o["status"] for o in final["outcomes"]] == [200, 200]


def test_a_forwarder_that_goes_away_fails_the_replay_with_its_reason(servers, target, forward):
    near, far = servers
    bin_ = near.new_bin()
    for n in range(5):
        capture(bin_, f"/g{n}")
    forwarder, forwarder_id = connect(forward, near, bin_, target)
    held = Held(3)
    target.respond = held
    _, job = api_call(
        far,
        "POST",
        f"/api/bins/{bin_['id']}/replays",
        {"q": "", "forwarder": forwarder_id, "rate": 50},
    )
    try:
        assert held.arrived.wait(20)
        forwarder.kill()  # gone while the third is at the target, before it could report
    finally:
        held.release.set()
    final = finished(far, bin_, job)
    assert (final["state"], final["done"], final["failed"]) == ("failed", 3, 1)
    assert "ada-laptop disconnected at request 3 of 5" in final["error"]
    assert [o["status"] for o in final["outcomes"]] == [200, 200, None]
    gone = final["outcomes"][2]
    assert gone["error_kind"] == "forwarder_gone"
    assert "disconnected before it said how this one went" in gone["error"]
    assert len(target.wait_for(3)) == 3

    # Started for a forwarder that is no longer there: refused, nothing queued.
    status, refused = api_call(
        far, "POST", f"/api/bins/{bin_['id']}/replays", {"q": "", "forwarder": forwarder_id}
    )
    assert status == 409, refused
    assert "No forwarder with this id is connected to this bin" in refused["message"]


def test_a_bad_target_is_refused_with_a_clear_message(servers, target, forward):
    near, far = servers
    bin_, other = near.new_bin(), near.new_bin()
    capture(bin_, "/x")
    _, forwarder_id = connect(forward, near, other, target)  # the other bin's forwarder
    replays = f"/api/bins/{bin_['id']}/replays"

    status, both = api_call(
        far, "POST", replays, {"q": "", "url": target.url(), "forwarder": forwarder_id}
    )
    assert status == 400, both
    assert both["errors"] == [{"path": "", "message": 'give "url" or "forwarder", not both'}]
    for forwarder in (forwarder_id, "no-such-forwarder"):
        status, refused = api_call(far, "POST", replays, {"q": "", "forwarder": forwarder})
        assert status == 409, refused
        assert "No forwarder with this id is connected to this bin" in refused["message"]
    status, empty = api_call(far, "POST", replays, {"q": "", "forwarder": ""})
    assert status == 400 and empty["errors"][0]["path"] == "forwarder", empty
    status, neither = api_call(far, "POST", replays, {"q": ""})
    assert status == 400, neither
    assert "give the target URL or a forwarder" in neither["errors"][0]["message"]
    assert api_call(far, "GET", replays)[1] == {"replays": []}
    assert target.received == []


def test_the_resend_rate_applies_and_the_address_policy_does_not(tmp_path: Path, target, forward):
    # Production refuses loopback resends from the server; the forwarder's target is on the
    # developer's machine, so a replay through it still arrives. Two tokens per second.
    running = Server(
        tmp_path,
        env={
            "WEBBIN_PROFILE": "production",
            "WEBBIN_RESEND_CLIENT_RATE": "2",
            "WEBBIN_RESEND_CLIENT_BURST": "1",
        },
    )
    try:
        bin_ = running.new_bin()
        for n in range(4):
            capture(bin_, f"/p{n}")
        _, forwarder_id = connect(forward, running, bin_, target)
        _, job = api_call(
            running,
            "POST",
            f"/api/bins/{bin_['id']}/replays",
            {"q": "", "forwarder": forwarder_id, "rate": 100},
        )
        final = finished(running, bin_, job)
        assert (final["state"], final["done"], final["failed"]) == ("done", 4, 0)
        sent = [o["sent_at"] for o in final["outcomes"]]
        got = target.wait_for(4)
        assert [g.target for g in got] == [f"/hook/p{n}" for n in range(4)]
        # Three more tokens at 2 per second, not 100 per second.
        span = datetime.fromisoformat(sent[-1]) - datetime.fromisoformat(sent[0])
        assert span.total_seconds() > 1.2, sent

        # The same target as a URL: the server itself may not send there.
        _, direct = api_call(
            running,
            "POST",
            f"/api/bins/{bin_['id']}/replays",
            {"ids": [final["outcomes"][0]["request_id"]], "url": target.url()},
        )
        blocked = finished(running, bin_, direct)
        assert [o["error_kind"] for o in blocked["outcomes"]] == ["blocked"]
        assert len(target.received) == 4
    finally:
        running.stop()


def test_the_api_resends_one_request_through_a_forwarder(servers, target, forward):
    """``POST …/resend {"forwarder": id}`` on another server: the captured bytes reach the
    forwarder's target and the answer is the attempt it reported."""
    near, far = servers
    bin_ = near.new_bin()
    content_type, body = BODIES[1]
    rid = json.loads(capture(bin_, "/one?x=1", body, [("Content-Type", content_type)])[2])["id"]
    _, forwarder_id = connect(forward, near, bin_, target)
    target.respond = lambda got: Answer(202, [], b"taken")
    path = f"/api/bins/{bin_['id']}/requests/{rid}/resend"

    status, attempt = api_call(far, "POST", path, {"forwarder": forwarder_id})
    assert status == 200, attempt
    assert (attempt["forwarder"], attempt["status"], attempt["error"]) == ("ada-laptop", 202, None)
    (got,) = target.wait_for(1)
    assert (got.target, got.body) == ("/hook/one?x=1", body)
    (listed,) = api_call(near, "GET", path + "s")[1]["resends"]
    assert listed["id"] == attempt["id"]

    status, refused = api_call(far, "POST", path, {"forwarder": forwarder_id, "url": "http://x/"})
    assert status == 400 and 'give "forwarder" alone' in refused["message"], refused
    status, refused = api_call(far, "POST", path, {"forwarder": "nobody"})
    assert (status, refused["error"]) == (409, "conflict")
    assert "No forwarder with this id is connected" in refused["message"]
