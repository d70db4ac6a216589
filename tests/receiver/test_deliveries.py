"""Retry detection by identical body: the same body is a repeat only with the same method and
path (``POST /orders/created {}`` then ``PUT /users/deleted {}`` are two events)."""

from __future__ import annotations

from helpers import capture_path

from webbin.receiver.deliveries import delivery_key


def rows(client, bin_):
    return client.get(f"/api/bins/{bin_['id']}/requests").get_json()["requests"]


def test_same_body_to_another_method_or_path_is_not_a_retry(client):
    bin_ = client.post("/api/bins").get_json()
    base = capture_path(bin_)
    client.post(base + "/orders/created", data=b"{}")
    client.put(base + "/users/deleted", data=b"{}")
    client.post(base + "/users/deleted", data=b"{}")
    assert [(r["duplicate_of"], r["delivery_attempt"]) for r in rows(client, bin_)] == [
        (None, 1),
        (None, 1),
        (None, 1),
    ]
    client.post(base + "/orders/created", data=b"{}")
    newest, *_, first = rows(client, bin_)
    assert (newest["duplicate_of"], newest["delivery_attempt"]) == (first["id"], 2)


def test_body_key_covers_method_and_path():
    body = b'{"event": "x"}'
    keys = {
        delivery_key(method, path, [], body)
        for method, path in (("POST", "/a"), ("PUT", "/a"), ("POST", "/b"))
    }
    assert len(keys) == 3
    assert delivery_key("POST", "/a", [], body) == delivery_key("POST", "/a", [], body)
    assert delivery_key("POST", "/a", [], b"") is None
