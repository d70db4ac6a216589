"""Search through the API of a real ``webbin serve``: ``GET /api/bins/{id}/requests?q=`` for
each kind of term, combined, negated and OR'd, with keyset paging; a malformed ``q`` is a
400 naming the term and its position; provider and event in every request object; the
live stream with ``q`` sends only what matches."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import Server
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

SECRET = "s3cret"


def send(
    bin_: dict, method: str, target: str, headers: dict | None = None, body: bytes = b""
) -> int:
    request = urllib.request.Request(
        bin_["capture_url"] + target, data=body or None, method=method, headers=headers or {}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)["id"]


def github(event: str, delivery: str, payload: dict, secret: str | None = SECRET) -> dict:
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "X-GitHub-Event": event,
               "X-GitHub-Delivery": delivery}  # fmt: skip
    if secret is not None:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers["X-Hub-Signature-256"] = f"sha256={digest}"
    return {"headers": headers, "body": body}


def api(server: Server, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(server.url + path, timeout=10) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def listing(server: Server, bin_: dict, q: str, **params: str | int) -> tuple[int, dict]:
    query = urllib.parse.urlencode({"q": q, **params})
    return api(server, f"/api/bins/{bin_['id']}/requests?{query}")


class Filled:
    """A bin on the server holding one request per name, and the moment between the first
    six and the rest."""

    def __init__(self, server: Server) -> None:
        self.bin = server.new_bin()
        patch = urllib.request.Request(
            f"{server.url}/api/bins/{self.bin['id']}",
            data=json.dumps({"signature": {"secrets": [SECRET]}}).encode(),
            method="PATCH",
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(patch, timeout=10).close()
        self.ids: dict[str, int] = {}
        push = github("push", "d-1", {"ref": "refs/heads/main", "repository": {"name": "webbin"}})
        self.add("push", "POST", "/github", **push)
        self.add("push-retry", "POST", "/github", **push)
        self.add("forged", "POST", "/github", **github("issues", "d-2", {"a": 1}, secret="wrong"))
        stripe = json.dumps({"id": "evt_9", "type": "payment_intent.succeeded",
                             "data": {"object": {"status": "succeeded", "amount": 4200}}})  # fmt: skip
        self.add("stripe", "POST", "/stripe", body=stripe.encode(),
                 headers={"Content-Type": "application/json", "Stripe-Signature": "t=1,v1=00"})  # fmt: skip
        self.add("shopify", "POST", "/orders/create", body=b'{"total_price": "42.00"}',
                 headers={"Content-Type": "application/json", "X-Shopify-Topic": "orders/create"})  # fmt: skip
        self.add("health", "GET", "/health?probe=1")
        time.sleep(0.05)
        self.between = datetime.now(UTC)
        time.sleep(0.05)
        self.add("note", "PUT", "/orders/7/note", body=b"Please ship some text today",
                 headers={"Content-Type": "text/plain"})  # fmt: skip
        self.add("gitlab", "POST", "/gitlab", body=b"{}",
                 headers={"Content-Type": "application/json", "X-Gitlab-Event": "Push Hook"})  # fmt: skip
        self.all = set(self.ids)

    def add(self, name: str, method: str, target: str, headers: dict | None = None,
            body: bytes = b"") -> None:  # fmt: skip
        self.ids[name] = send(self.bin, method, target, headers, body)

    def names(self, found: list[dict]) -> list[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return [by_id[r["id"]] for r in found]


@pytest.fixture(scope="module")
def filled(server: Server) -> Filled:
    return Filled(server)


def cases(f: Filled) -> list[tuple[str, set[str]]]:
    at = f.between.isoformat().replace("+00:00", "Z")
    github_all = {"push", "push-retry", "forged"}
    return [
        ("method:POST", f.all - {"health", "note"}),
        ("method:put", {"note"}),
        ("path:/orders/*", {"shopify", "note"}),
        ("path:/github", github_all),
        ("header:X-GitHub-Event=push", {"push", "push-retry"}),
        ("header:X-Hub-Signature-256", github_all),
        ('body:"some text"', {"note"}),
        ("json:data.object.status=succeeded", {"stripe"}),
        ("json:repository.name=webbin", {"push", "push-retry"}),
        ("verdict:valid", {"push", "push-retry"}),
        ("verdict:invalid", {"forged", "stripe"}),
        ("verdict:unsigned", {"shopify", "health", "note", "gitlab"}),
        ("provider:stripe", {"stripe"}),
        ("provider:github", github_all),
        ("event:push", {"push", "push-retry"}),
        ("event:push*", {"push", "push-retry", "gitlab"}),
        ("event:orders/create", {"shopify"}),
        ("retry:yes", {"push-retry"}),
        ("since:1h", f.all),
        (f"after:{at}", {"note", "gitlab"}),
        (f"before:{at}", f.all - {"note", "gitlab"}),
        ("probe", {"health"}),
        ('"ship some"', {"note"}),
        ("provider:github verdict:valid retry:no", {"push"}),
        ("provider:github -verdict:valid", {"forged"}),
        ("-provider:github -provider:stripe", {"shopify", "health", "note", "gitlab"}),
        ("provider:stripe OR provider:shopify", {"stripe", "shopify"}),
        ("method:GET OR provider:github event:issues", {"health", "forged"}),
        ("(method:GET OR method:PUT) -body:text", {"health"}),
        ("NOT (provider:* OR method:GET)", {"note"}),
    ]


def test_each_term_and_their_combinations(server, filled):
    for q, expected in cases(filled):
        status, page = listing(server, filled.bin, q)
        assert status == 200, (q, page)
        found = filled.names(page["requests"])
        assert set(found) == expected, q
        assert [r["id"] for r in page["requests"]] == sorted(
            (r["id"] for r in page["requests"]), reverse=True
        ), q
        assert page["next_before"] is None, q


def test_request_objects_carry_provider_and_event(server, filled):
    _, page = listing(server, filled.bin, "")
    by_name = dict(zip(filled.names(page["requests"]), page["requests"], strict=True))
    assert (by_name["push"]["provider"], by_name["push"]["event"]) == ("github", "push")
    assert (by_name["stripe"]["provider"], by_name["stripe"]["event"]) == (
        "stripe",
        "payment_intent.succeeded",
    )
    assert (by_name["gitlab"]["provider"], by_name["gitlab"]["event"]) == ("gitlab", "Push Hook")
    assert (by_name["health"]["provider"], by_name["health"]["event"]) == (None, None)
    _, detail = api(server, f"/api/bins/{filled.bin['id']}/requests/{filled.ids['shopify']}")
    assert (detail["provider"], detail["event"]) == ("shopify", "orders/create")


@pytest.mark.parametrize("q", ["method:POST", "-provider:stripe", "e"])
def test_paging_with_q_is_the_same_list_in_pieces(server, filled, q):
    _, whole = listing(server, filled.bin, q, limit=100)
    expected = [r["id"] for r in whole["requests"]]
    assert len(expected) >= 3
    found, before = [], None
    while True:
        params = {"limit": 2, **({"before": before} if before else {})}
        status, page = listing(server, filled.bin, q, **params)
        assert status == 200
        found += [r["id"] for r in page["requests"]]
        before = page["next_before"]
        if before is None:
            break
    assert found == expected


@pytest.mark.parametrize(
    ("q", "character", "says"),
    [
        ("methd:POST", 1, 'Unknown field "methd"'),
        ("method:POST verdict:maybe", 13, "a verdict is one of"),
        ('provider:github body:"open', 22, "never closed"),
        ("provider:strpe", 1, "no such provider"),
        ("(a OR b", 1, "never closed"),
        ("a OR", 3, '"OR" needs a term'),
        ("since:yesterday", 1, "not a duration"),
    ],
)
def test_a_malformed_query_is_a_400_naming_the_term_and_position(
    server, filled, q, character, says
):
    status, answer = listing(server, filled.bin, q)
    assert status == 400
    assert answer["error"] == "bad_request"
    (error,) = answer["errors"]
    assert error["path"] == "q"
    assert error["message"].startswith(f"At character {character}: ")
    assert says in error["message"]


def test_an_empty_q_is_no_filter(server, filled):
    _, plain = api(server, f"/api/bins/{filled.bin['id']}/requests")
    _, empty = listing(server, filled.bin, "   ")
    assert empty == plain


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path)
    yield running
    running.stop()


def test_the_live_stream_with_q_sends_only_matches(fresh):
    bin_ = fresh.new_bin()
    early = send(bin_, "POST", "/early", {"X-GitHub-Event": "push"}, b"{}")
    send(bin_, "POST", "/early-other", {}, b"x")
    url = f"ws://127.0.0.1:{fresh.port}/api/bins/{bin_['id']}/stream"
    query = urllib.parse.quote("provider:github OR body:needle")
    with ws_connect(f"{url}?after=0&q={query}") as ws:
        assert json.loads(ws.recv(timeout=10))["id"] == early  # replayed, filtered
        sent = []

        def sender() -> None:
            for i in range(30):
                if i % 3 == 0:
                    sent.append(send(bin_, "POST", f"/gh/{i}", {"X-GitHub-Event": "push"}, b"{}"))
                elif i % 3 == 1:
                    sent.append(send(bin_, "POST", f"/n/{i}", {}, b"a needle here"))
                else:
                    send(bin_, "POST", f"/other/{i}", {}, b"hay")

        thread = threading.Thread(target=sender)
        thread.start()
        received = [json.loads(ws.recv(timeout=10)) for _ in range(20)]
        thread.join()
        assert [r["id"] for r in received] == sent
        assert {r["provider"] for r in received} == {"github", None}
        marker = send(bin_, "POST", "/marker", {}, b"needle")
        assert json.loads(ws.recv(timeout=10))["id"] == marker  # nothing else came between


def test_the_live_stream_refuses_a_malformed_q(server, filled):
    url = f"ws://127.0.0.1:{server.port}/api/bins/{filled.bin['id']}/stream?q=methd:POST"
    with ws_connect(url) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=10)
    assert closed.value.rcvd.code == 4400
    assert "Unknown field" in closed.value.rcvd.reason
