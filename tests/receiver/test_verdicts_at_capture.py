"""Through the app: capture stores the status without explaining it (the costly hints run when
the request is viewed, never at capture), and a shared signature header that no provider's
own headers claim is reported for what it is."""

from __future__ import annotations

import hashlib
import hmac
import json
from importlib import import_module

import pytest
from helpers import capture_path

from webbin.receiver.signatures import _common, registry
from webbin.receiver.signatures._common import BODY_REENCODED_HINT, MAX_REENCODE_BYTES

SECRET = "It's a Secret to Everybody"


@pytest.fixture
def reencoding_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Body sizes ``reencoded_bodies`` is called with, from any signature module."""
    calls: list[int] = []
    real = _common.reencoded_bodies

    def spy(body: bytes) -> list[bytes]:
        calls.append(len(body))
        return real(body)

    for module in {
        _common,
        *(import_module(type(s).__module__) for s in registry.SCHEMES.values()),
    }:
        if hasattr(module, "reencoded_bodies"):
            monkeypatch.setattr(module, "reencoded_bodies", spy)
    return calls


def reencoded_delivery(size: int) -> tuple[bytes, dict[str, str]]:
    """A GitHub delivery whose signature is over the compact JSON, while the body carried is
    pretty-printed: the signature is wrong, and only a re-encoding explains it."""
    data = {"action": "opened", "padding": "x" * size}
    compact = json.dumps(data, separators=(",", ":")).encode()
    digest = hmac.new(SECRET.encode(), compact, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": f"sha256={digest}",
    }
    return json.dumps(data, indent=2).encode(), headers


def bin_with_secret(client) -> dict:
    bin_ = client.post("/api/bins").get_json()
    client.patch(f"/api/bins/{bin_['id']}", json={"signature": {"secrets": [SECRET]}})
    return bin_


def test_capture_never_re_encodes_a_body_and_viewing_explains_it(client, reencoding_calls):
    bin_ = bin_with_secret(client)
    body, headers = reencoded_delivery(100)
    answer = client.post(capture_path(bin_), data=body, headers=headers).get_json()

    assert reencoding_calls == []
    listed = client.get(f"/api/bins/{bin_['id']}/requests").get_json()["requests"][0]
    assert (listed["signature_scheme"], listed["signature_status"]) == ("github", "invalid")
    detail = client.get(f"/api/bins/{bin_['id']}/requests/{answer['id']}").get_json()
    assert detail["signature"]["hint"] == BODY_REENCODED_HINT
    assert reencoding_calls == [len(body)]


def test_a_body_over_1_mib_is_not_examined_for_re_encoding_even_when_viewed(client):
    bin_ = bin_with_secret(client)
    body, headers = reencoded_delivery(MAX_REENCODE_BYTES)
    answer = client.post(capture_path(bin_), data=body, headers=headers).get_json()
    detail = client.get(f"/api/bins/{bin_['id']}/requests/{answer['id']}").get_json()
    assert detail["signature"]["status"] == "invalid"
    assert "too large to look for re-encoding" in detail["signature"]["hint"]


def test_legacy_github_signature_without_event_header_is_not_called_unsigned(client):
    # An older GitHub Enterprise Server, or a proxy that dropped X-GitHub-Event.
    bin_ = client.post("/api/bins").get_json()
    body = b'{"zen": "Practicality beats purity."}'
    digest = hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
    headers = {"Content-Type": "application/json", "X-Hub-Signature": f"sha1={digest}"}
    answer = client.post(capture_path(bin_), data=body, headers=headers).get_json()

    detail = client.get(f"/api/bins/{bin_['id']}/requests/{answer['id']}").get_json()
    assert detail["signature_status"] == "unverified"
    assert detail["signature"]["reason"] == (
        "X-Hub-Signature is present, but no other header says which provider sent it: "
        "GitHub, Intercom and Bitbucket Cloud use it."
    )

    changed = client.patch(f"/api/bins/{bin_['id']}", json={"signature": {"secrets": [SECRET]}})
    assert changed.get_json()["reverified"] == 1
    detail = client.get(f"/api/bins/{bin_['id']}/requests/{answer['id']}").get_json()
    assert (detail["signature_scheme"], detail["signature_status"]) == ("github", "valid")
