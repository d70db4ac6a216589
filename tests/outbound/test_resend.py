"""Resend: no database connection held across the network, the URL placeholders, what a
resend URL must be before anything is recorded, and the per-worker cap on resends in flight.

Every outbound byte goes to a loopback server started here; ``loopback_only`` fails a test
before any packet leaves for another address.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import PG_URL, capture_path
from netguard import loopback_only_fixture, resolve_names, target_fixture  # noqa: F401

from webbin import create_app
from webbin.outbound.resend import MAX_URL_TEMPLATE, target_url
from webbin.storage.models import db

OK = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"


class HeldTarget:
    """A loopback server that takes any number of requests at once and answers none of them
    until ``release()``: a slow target whose slowness the test decides."""

    def __init__(self) -> None:
        self.arrived = 0
        self.changed = threading.Condition()
        self.released = threading.Event()
        self.stopping = threading.Event()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.listener.settimeout(0.05)
        self.port = self.listener.getsockname()[1]
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            worker = threading.Thread(target=self._answer, args=(conn,), daemon=True)
            self.threads.append(worker)
            worker.start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(30)
            try:
                read_request(conn)
                with self.changed:
                    self.arrived += 1
                    self.changed.notify_all()
                self.released.wait(30)
                conn.sendall(OK)
            except OSError:
                pass  # the client gave up

    def wait_for(self, count: int, timeout: float = 15) -> bool:
        """True once ``count`` requests are waiting (or were), False at the deadline."""
        with self.changed:
            return self.changed.wait_for(lambda: self.arrived >= count, timeout)

    def release(self) -> None:
        self.released.set()

    def stop(self) -> None:
        self.released.set()
        self.stopping.set()
        for thread in self.threads:
            thread.join(5)
        self.listener.close()


def read_request(conn: socket.socket) -> bytes:
    """Read the head and a Content-Length body, so closing does not reset the connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    missing = int(length.group(1)) - len(rest) if length else 0
    while missing > 0:
        chunk = conn.recv(missing)
        if not chunk:
            break
        missing -= len(chunk)
    return head


@pytest.fixture
def held() -> Iterator[HeldTarget]:
    server = HeldTarget()
    yield server
    server.stop()


def make_app(tmp_path: Path, **config: Any) -> Flask:
    return create_app({"TESTING": True, "DATA_DIR": str(tmp_path), **config})


def captured(client: FlaskClient, suffix: str = "/orig?a=1&b=") -> tuple[dict, int]:
    bin_ = client.post("/api/bins").get_json()
    client.post(capture_path(bin_) + suffix, data=b'{"event": 1}', content_type="application/json")
    rid = client.get(f"/api/bins/{bin_['id']}/requests").get_json()["requests"][0]["id"]
    return bin_, rid


def in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run ``fn`` in a thread; its result lands in the returned list."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    thread.start()
    return thread, out


def csrf_token(client: FlaskClient, bin_id: str) -> str:
    page = client.get(f"/bins/{bin_id}").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


# --- no connection held across the network -------------------------------------------

# More than SQLAlchemy's default pool lends (5 + 10 overflow): holding one connection each,
# they would starve the pool, and the capture below would wait the pool's 30 s timeout.
CONCURRENT = 16


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgres",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(not PG_URL, reason="WEBBIN_TEST_DATABASE_URL is not set"),
            ],
        ),
    ]
)
def app_for_load(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    config: dict[str, Any] = {"RESEND_MAX_CONCURRENT": CONCURRENT, "RESEND_CLIENT_BURST": 100}
    if request.param == "postgres":
        config["DATABASE_URL"] = request.getfixturevalue("pg_schema_url")
    application = make_app(tmp_path, **config)
    yield application
    with application.app_context():
        db.engine.dispose()


def test_slow_resends_hold_no_connection_and_captures_go_on(app_for_load, loopback_only, held):
    app = app_for_load
    bin_, rid = captured(app.test_client())
    endpoint = f"/api/bins/{bin_['id']}/requests/{rid}/resend"
    template = held.url("/hook{path}")
    resends = [
        in_thread(lambda: app.test_client().post(endpoint, json={"url": template}))
        for _ in range(CONCURRENT)
    ]
    try:
        assert held.wait_for(CONCURRENT), f"only {held.arrived} resends reached the target"
        with app.app_context():
            assert db.engine.pool.checkedout() == 0  # every waiting resend gave its back

        capture, answers = in_thread(
            lambda: app.test_client().post(capture_path(bin_) + "/during", data=b"x")
        )
        capture.join(5)
        assert not capture.is_alive(), "a capture waited on the resends"
        assert answers[0].status_code == 200
    finally:
        held.release()
        for thread, _ in resends:
            thread.join(15)
    assert [out[0].get_json()["status"] for _, out in resends] == [204] * CONCURRENT
    client = app.test_client()
    attempts = client.get(f"/api/bins/{bin_['id']}/requests/{rid}/resends").get_json()
    assert len(attempts["resends"]) == CONCURRENT
    assert client.get(f"/api/bins/{bin_['id']}").get_json()["resend_url"] == template


def test_a_request_deleted_while_its_resend_is_out_is_reported_not_a_500(
    tmp_path, loopback_only, held
):
    app = make_app(tmp_path)
    client = app.test_client()
    bin_, rid = captured(client)
    endpoint = f"/api/bins/{bin_['id']}/requests/{rid}/resend"
    thread, out = in_thread(lambda: app.test_client().post(endpoint, json={"url": held.url()}))
    assert held.wait_for(1)
    assert client.delete(f"/api/bins/{bin_['id']}/requests/{rid}").status_code == 204
    held.release()
    thread.join(15)
    assert out[0].status_code == 200
    assert out[0].get_json()["status"] == 204


def test_the_dashboard_resend_holds_no_connection_either(tmp_path, loopback_only, held):
    app = make_app(tmp_path)
    client = app.test_client()
    bin_, rid = captured(client)
    token = csrf_token(client, bin_["id"])
    thread, out = in_thread(
        lambda: client.post(
            f"/bins/{bin_['id']}/requests/{rid}/resend",
            data={"url": held.url("{path}")},
            headers={"HX-Request": "true", "X-CSRF-Token": token},
        )
    )
    try:
        assert held.wait_for(1)
        with app.app_context():
            assert db.engine.pool.checkedout() == 0
    finally:
        held.release()
        thread.join(15)
    assert out[0].status_code == 200
    assert "204" in out[0].get_data(as_text=True)


# --- the per-worker cap on resends in flight ------------------------------------------------


def test_resends_past_the_worker_cap_get_429_until_one_finishes(tmp_path, loopback_only, held):
    app = make_app(tmp_path, RESEND_MAX_CONCURRENT=2)
    client = app.test_client()
    bin_, rid = captured(client)
    endpoint = f"/api/bins/{bin_['id']}/requests/{rid}/resend"
    running = [
        in_thread(lambda: app.test_client().post(endpoint, json={"url": held.url()}))
        for _ in range(2)
    ]
    try:
        assert held.wait_for(2)
        refused = client.post(endpoint, json={"url": held.url()})
        assert refused.status_code == 429
        assert refused.get_json()["error"] == "too_many_requests"
        assert "already sending 2 resends" in refused.get_json()["message"]
        assert int(refused.headers["Retry-After"]) >= 1

        token = csrf_token(client, bin_["id"])
        page = client.post(
            f"/bins/{bin_['id']}/requests/{rid}/resend",
            data={"url": held.url()},
            headers={"HX-Request": "true", "X-CSRF-Token": token},
        )
        assert page.status_code == 429 and "Retry-After" in page.headers
        assert "error-fragment" in page.get_data(as_text=True)
    finally:
        held.release()
        for thread, _ in running:
            thread.join(15)
    assert [out[0].status_code for _, out in running] == [200, 200]
    again = client.post(endpoint, json={"url": held.url()})  # the places are free again
    assert again.status_code == 200 and again.get_json()["status"] == 204
    # The refused ones recorded nothing.
    assert len(client.get(endpoint + "s").get_json()["resends"]) == 3


# --- the URL -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "sent"),
    [
        ("http://h{path}", "http://h/orders/1"),
        ("http://h/in{path}?{query}", "http://h/in/orders/1?a=1&b="),
        ("http://h{path_and_query}", "http://h/orders/1?a=1&b="),
        ("http://h/x?from=webbin&{query}", "http://h/x?from=webbin&a=1&b="),
    ],
)
def test_placeholders(template, sent):
    assert target_url(template, "/orders/1", "a=1&b=") == sent


def test_placeholders_without_a_query():
    assert target_url("http://h{path_and_query}", "/", "") == "http://h/"
    assert target_url("http://h{path}?{query}", "/p", "") == "http://h/p?"


def test_the_request_line_has_one_question_mark(tmp_path, loopback_only, target):
    server_ = target(lambda conn: conn.sendall(OK))
    client = make_app(tmp_path).test_client()
    bin_, rid = captured(client, "/orders/1?a=1&b=")
    endpoint = f"/api/bins/{bin_['id']}/requests/{rid}/resend"
    for template in (server_.url("{path}?{query}"), server_.url("{path_and_query}")):
        assert client.post(endpoint, json={"url": template}).get_json()["status"] == 204
    lines = [head.split(b"\r\n")[0] for head in server_.requests]
    assert lines == [b"POST /orders/1?a=1&b= HTTP/1.1"] * 2


INVALID = [
    ("ftp://x/", "only http and https"),
    ("http://", "a host is required"),
    ("http:///path", "a host is required"),
    ("localhost:3000/hook", "only http and https"),
    ("http://exa mple.com/", "spaces"),
    ("http://[::1/", "IPv6"),
    ("http://h:99999/", "not a valid port"),
    pytest.param("http://" + "a" * MAX_URL_TEMPLATE, f"{MAX_URL_TEMPLATE} characters", id="long"),
    # Short enough as typed, too long once expanded.
    pytest.param("http://h/" + "{path}" * 300, "longer than 8192", id="long-expanded"),
]


@pytest.mark.parametrize(("url", "reason"), INVALID)
def test_an_invalid_url_is_400_and_saves_nothing(tmp_path, loopback_only, url, reason):
    client = make_app(tmp_path).test_client()
    bin_, rid = captured(client, "/" + "p" * 100)
    client.patch(f"/api/bins/{bin_['id']}", json={"resend_url": "http://127.0.0.1:9/kept"})
    answer = client.post(f"/api/bins/{bin_['id']}/requests/{rid}/resend", json={"url": url})
    assert answer.status_code == 400, answer.get_json()
    assert reason in answer.get_json()["message"]
    assert client.get(f"/api/bins/{bin_['id']}/requests/{rid}/resends").get_json() == {
        "resends": []
    }
    assert (
        client.get(f"/api/bins/{bin_['id']}").get_json()["resend_url"] == "http://127.0.0.1:9/kept"
    )
    assert loopback_only.connects == []


@pytest.mark.parametrize(
    ("url", "reason"), [INVALID[0], INVALID[4], INVALID[7], ("", "Enter a URL")]
)
def test_the_dashboard_shows_an_invalid_url_in_the_result(tmp_path, loopback_only, url, reason):
    client = make_app(tmp_path).test_client()
    bin_, rid = captured(client)
    answer = client.post(
        f"/bins/{bin_['id']}/requests/{rid}/resend",
        data={"url": url},
        headers={"HX-Request": "true", "X-CSRF-Token": csrf_token(client, bin_["id"])},
    )
    assert answer.status_code == 400
    text = answer.get_data(as_text=True)
    assert 'class="attempt failed"' in text and reason in text
    assert client.get(f"/api/bins/{bin_['id']}/requests/{rid}/resends").get_json() == {
        "resends": []
    }
    assert client.get(f"/api/bins/{bin_['id']}").get_json()["resend_url"] is None


def test_only_a_url_that_went_out_becomes_the_default(tmp_path, monkeypatch, loopback_only):
    resolve_names(monkeypatch, {})  # every name fails to resolve, without DNS traffic
    client = make_app(tmp_path, PROFILE="production").test_client()
    bin_, rid = captured(client)
    endpoint = f"/api/bins/{bin_['id']}/requests/{rid}/resend"

    def resend(url: str) -> str:
        result = client.post(endpoint, json={"url": url}).get_json()
        return result["error_kind"]

    def default() -> str | None:
        return client.get(f"/api/bins/{bin_['id']}").get_json()["resend_url"]

    assert resend("http://127.0.0.1:9/") == "blocked"  # the policy refused it: not saved
    assert resend("http://nowhere.invalid/") == "dns"  # never reached a target: not saved
    assert default() is None
    assert len(client.get(endpoint + "s").get_json()["resends"]) == 2  # both are recorded

    allowed = make_app(tmp_path / "local").test_client()
    bin_, rid = captured(allowed)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: the connection is refused
    answer = allowed.post(
        f"/api/bins/{bin_['id']}/requests/{rid}/resend", json={"url": f"http://127.0.0.1:{port}/"}
    )
    assert answer.get_json()["error_kind"] == "refused"
    assert allowed.get(f"/api/bins/{bin_['id']}").get_json()["resend_url"] == (
        f"http://127.0.0.1:{port}/"
    )  # it went out, so it is the default, although the target failed
