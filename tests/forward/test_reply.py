"""``--reply``: the provider gets the local app's answer when it comes in time, the bin's
usual answer when it does not; either way the capture is stored first and its answer noted."""

from __future__ import annotations

import json
import time

import pytest
from forward.support import Answer, api, capture
from helpers import Server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    running = Server(tmp_path_factory.mktemp("server"))
    yield running
    running.stop()


def answered(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [v for n, v in headers if n.lower() == name.lower()]


def test_the_local_apps_answer_reaches_the_provider(server, target, forward):
    target.answer = Answer(
        202,
        [
            ("Content-Type", "application/json"),
            ("X-App", "one"),
            ("X-App", "two"),
            ("Set-Cookie", "session=stolen"),  # would land on webbin's origin: never passed
        ],
        b'{"accepted": "by the app"}',
    )
    bin_ = server.new_bin()
    forwarder = forward(bin_["dashboard_url"], target.url(), "--reply", "--name", "replier")
    forwarder.wait_for("connected")
    time.sleep(1.2)  # servers re-read who replies once a second
    status, headers, body = capture(bin_, "/hook", b'{"ping": 1}')
    assert (status, body) == (202, b'{"accepted": "by the app"}')
    assert answered(headers, "X-App") == ["one", "two"]
    assert answered(headers, "Content-Type") == ["application/json"]
    assert answered(headers, "Set-Cookie") == []
    assert answered(headers, "Content-Security-Policy") == ["sandbox; default-src 'none'"]

    (row,) = api(server, f"/api/bins/{bin_['id']}/requests")["requests"]
    assert row["response_status"] == 202  # the answer the provider got, recorded
    (attempt,) = api(server, f"/api/bins/{bin_['id']}/requests/{row['id']}/resends")["resends"]
    assert (attempt["forwarder"], attempt["replied"], attempt["status"]) == ("replier", True, 202)
    assert len(target.received) == 1


def test_a_late_answer_leaves_the_bins_usual_answer(server, target, forward):
    def slow(_got):
        time.sleep(2.5)
        return Answer(201, body=b"too late")

    target.respond = slow
    bin_ = server.new_bin()
    forwarder = forward(bin_["dashboard_url"], target.url(), "--reply", "1")
    forwarder.wait_for("connected")
    time.sleep(1.2)
    started = time.monotonic()
    status, _, body = capture(bin_, "", b"x")
    waited = time.monotonic() - started
    assert status == 200 and json.loads(body)["ok"] is True  # the usual answer
    assert 0.9 < waited < 2.4  # it waited for the forwarder, up to its timeout
    request_id = json.loads(body)["id"]
    forwarder.wait_for("forward", id=request_id, status=201)
    deadline = time.monotonic() + 10
    while not (
        attempts := api(server, f"/api/bins/{bin_['id']}/requests/{request_id}/resends")["resends"]
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert (attempts[0]["status"], attempts[0]["replied"]) == (201, False)
    (row,) = api(server, f"/api/bins/{bin_['id']}/requests")["requests"]
    assert row["response_status"] == 200


def test_without_reply_captures_do_not_wait(server, target, forward):
    def slow(_got):
        time.sleep(2)
        return Answer(201)

    target.respond = slow
    bin_ = server.new_bin()
    forward(bin_["dashboard_url"], target.url()).wait_for("connected")
    time.sleep(1.2)
    started = time.monotonic()
    status, _, _ = capture(bin_, "", b"x")
    assert status == 200 and time.monotonic() - started < 0.5
