"""A signature setting changed while a capture is between its decision and its write: the
stored verdict follows the settings the write sees, never the stale ones."""

from __future__ import annotations

import hashlib
import hmac

from helpers import capture_path

from webbin.capture import endpoint

SECRET = "It's a Secret to Everybody"
BODY = b'{"zen": "Design for failure."}'


def test_a_secret_added_mid_capture_decides_the_stored_verdict(app, monkeypatch):
    client = app.test_client()
    bin_ = client.post("/api/bins").get_json()
    real_decide = endpoint.decide

    def decide_then_add_secret(delivery, rules):
        decision = real_decide(delivery, rules)  # decided without a secret: "unverified"
        # Meanwhile the user adds the secret; its re-verification finds nothing stored yet.
        answer = app.test_client().patch(
            f"/api/bins/{bin_['id']}", json={"signature": {"secrets": [SECRET]}}
        )
        assert answer.get_json()["reverified"] == 0
        return decision

    monkeypatch.setattr(endpoint, "decide", decide_then_add_secret)
    signature = "sha256=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    client.post(
        capture_path(bin_),
        data=BODY,
        headers={"X-GitHub-Event": "ping", "X-Hub-Signature-256": signature},
    )
    row = client.get(f"/api/bins/{bin_['id']}/requests").get_json()["requests"][0]
    assert (row["signature_scheme"], row["signature_status"]) == ("github", "valid")
