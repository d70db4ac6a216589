"""Per-client rate limits on resending and on creating bins, and the per-bin cap on delayed
custom responses: over a limit the client gets 429 with Retry-After, as JSON on the API and
as a page or htmx fragment in the dashboard; 0 turns a rate limit off."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from helpers import capture_path
from netguard import loopback_only_fixture, target_fixture  # noqa: F401

from webbin import create_app
from webbin.capture import endpoint
from webbin.storage.models import db

OK = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
# Slow enough that no token comes back during a test.
SLOW = 0.001


def make_app(tmp_path: Path, **config: Any) -> Flask:
    return create_app({"TESTING": True, "DATA_DIR": str(tmp_path), **config})


def client_at(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def csrf_token(client: FlaskClient, bin_id: str) -> str:
    page = client.get(f"/bins/{bin_id}").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def assert_429_json(response: Any, words: str) -> None:
    assert response.status_code == 429
    assert response.get_json()["error"] == "too_many_requests"
    assert words in response.get_json()["message"]
    assert int(response.headers["Retry-After"]) >= 1


# --- resend ------------------------------------------------------------------------------


def captured(client: FlaskClient) -> tuple[dict, int]:
    bin_ = client.post("/api/bins").get_json()
    client.post(capture_path(bin_), data=b"{}")
    return bin_, client.get(f"/api/bins/{bin_['id']}/requests").get_json()["requests"][0]["id"]


def test_resends_are_rate_limited_per_client(tmp_path, loopback_only, target):
    server_ = target(lambda conn: conn.sendall(OK))
    app = make_app(tmp_path, RESEND_CLIENT_RATE=SLOW, RESEND_CLIENT_BURST=2)
    client = client_at(app, "198.51.100.1")
    bin_, rid = captured(client)
    endpoint_ = f"/api/bins/{bin_['id']}/requests/{rid}/resend"
    for _ in range(2):
        assert client.post(endpoint_, json={"url": server_.url()}).status_code == 200
    assert_429_json(client.post(endpoint_, json={"url": server_.url()}), "resending too often")

    page = client.post(
        f"/bins/{bin_['id']}/requests/{rid}/resend",
        data={"url": server_.url()},
        headers={"HX-Request": "true", "X-CSRF-Token": csrf_token(client, bin_["id"])},
    )
    assert page.status_code == 429 and int(page.headers["Retry-After"]) >= 1
    assert "error-fragment" in page.get_data(as_text=True)
    assert server_.connections == 2  # the refused ones never went out

    other = client_at(app, "198.51.100.2")
    assert other.post(endpoint_, json={"url": server_.url()}).status_code == 200
    assert len(client.get(endpoint_ + "s").get_json()["resends"]) == 3


def test_a_zero_resend_rate_turns_the_limit_off(tmp_path, loopback_only, target):
    server_ = target(lambda conn: conn.sendall(OK))
    client = make_app(tmp_path, RESEND_CLIENT_RATE=0, RESEND_CLIENT_BURST=1).test_client()
    bin_, rid = captured(client)
    for _ in range(4):
        answer = client.post(
            f"/api/bins/{bin_['id']}/requests/{rid}/resend", json={"url": server_.url()}
        )
        assert answer.status_code == 200


def test_the_default_limits_are_the_documented_ones(tmp_path):
    config = make_app(tmp_path).config
    assert (config["RESEND_CLIENT_RATE"], config["RESEND_CLIENT_BURST"]) == (1.0, 20)
    assert config["RESEND_MAX_CONCURRENT"] == 8
    assert (config["BIN_CREATE_RATE"], config["BIN_CREATE_BURST"]) == (0.2, 20)


# --- bin creation --------------------------------------------------------------------------


def test_bin_creation_is_rate_limited_per_client_in_the_api(tmp_path):
    app = make_app(tmp_path, BIN_CREATE_RATE=SLOW, BIN_CREATE_BURST=3)
    client = client_at(app, "198.51.100.1")
    assert [client.post("/api/bins").status_code for _ in range(3)] == [201] * 3
    assert_429_json(client.post("/api/bins", json={"name": "x"}), "creating bins too quickly")
    assert client_at(app, "198.51.100.2").post("/api/bins").status_code == 201
    with app.app_context():
        assert db.session.execute(db.text("SELECT count(*) FROM bins")).scalar() == 4


def test_bin_creation_is_rate_limited_in_the_dashboard_too(tmp_path):
    app = make_app(tmp_path, BIN_CREATE_RATE=SLOW, BIN_CREATE_BURST=1)
    client = client_at(app, "198.51.100.1")
    home = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', home).group(1)
    form = {"name": "n", "csrf_token": token}
    assert client.post("/bins", data=form).status_code == 303
    refused = client.post("/bins", data=form)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.mimetype == "text/html"
    assert "creating bins too quickly" in refused.get_data(as_text=True)
    # The API shares the client's bucket: it is empty there as well.
    assert client.post("/api/bins").status_code == 429


def test_a_zero_bin_creation_rate_turns_the_limit_off(tmp_path):
    client = make_app(tmp_path, BIN_CREATE_RATE=0, BIN_CREATE_BURST=1).test_client()
    assert [client.post("/api/bins").status_code for _ in range(5)] == [201] * 5


# --- delayed custom responses ------------------------------------------------------------

DELAY_MS = 25_000  # never really waited: the test decides when the delays end


class HeldDelays:
    """Stands in for the capture endpoint's sleep for exactly ``DELAY_MS``: each delayed
    response waits until the test releases them, and the test can wait until ``n`` are held."""

    def __init__(self, real_sleep: Callable[[float], None]) -> None:
        self.real_sleep = real_sleep
        self.entered = 0
        self.changed = threading.Condition()
        self.released = threading.Event()

    def __call__(self, seconds: float) -> None:
        if seconds != DELAY_MS / 1000:
            self.real_sleep(seconds)
            return
        with self.changed:
            self.entered += 1
            self.changed.notify_all()
        self.released.wait(15)

    def wait_for(self, count: int) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.entered >= count, 15)


def test_a_bin_holds_at_most_its_cap_of_delayed_responses(sqlite_app, monkeypatch):
    delays = HeldDelays(time.sleep)
    monkeypatch.setattr(endpoint.time, "sleep", delays)
    client = sqlite_app.test_client()
    busy, calm = (client.post("/api/bins").get_json() for _ in range(2))
    delayed = {"response": {"default": {"status": 201, "delay_ms": DELAY_MS}}}
    for bin_ in (busy, calm):
        assert client.patch(f"/api/bins/{bin_['id']}", json=delayed).status_code == 200

    answers: list[Any] = []

    def capture(bin_: dict) -> threading.Thread:
        thread = threading.Thread(
            target=lambda: answers.append(sqlite_app.test_client().post(capture_path(bin_))),
            daemon=True,
        )
        thread.start()
        return thread

    cap = endpoint.MAX_DELAYED_PER_BIN
    held = [capture(busy) for _ in range(cap)]
    other: threading.Thread | None = None
    try:
        assert delays.wait_for(cap)
        over = capture(busy)
        over.join(10)
        assert not over.is_alive(), "the request over the cap was delayed too"
        [skipped] = answers
        assert skipped.status_code == 201  # the custom response, only not delayed
        assert f"already holds {cap} delayed" in skipped.headers["X-Webbin-Delay-Skipped"]
        other = capture(calm)  # another bin's cap is its own
        assert delays.wait_for(cap + 1)
    finally:
        delays.released.set()
        for thread in [*held, *([other] if other else [])]:
            thread.join(15)
    assert len(answers) == cap + 2
    assert all("X-Webbin-Delay-Skipped" not in a.headers for a in answers[1:])
    # Every place was given back: the next one is delayed again.
    again = client.post(capture_path(busy))
    assert "X-Webbin-Delay-Skipped" not in again.headers
    assert delays.entered == cap + 2
    stored = client.get(f"/api/bins/{busy['id']}/requests").get_json()["requests"]
    assert len(stored) == cap + 2  # over the cap or not, every request was captured
