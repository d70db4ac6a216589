"""GitLab: X-Gitlab-Token is the secret token itself, compared for equality."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from signature_roundtrip import Provider

from webbin.receiver.signatures.base import Options, SignedRequest
from webbin.receiver.signatures.gitlab import SCHEME

TOKEN = "s3cr3t-w3bh00k-t0k3n"
BODY = b'{"object_kind":"push","ref":"refs/heads/main"}'


def request(headers: list[tuple[str, str]], body: bytes = BODY) -> SignedRequest:
    return SignedRequest(
        method="POST",
        url="https://bin.example/gitlab",
        headers=[("Content-Type", "application/json"), ("X-Gitlab-Event", "Push Hook"), *headers],
        body=body,
        received_at=datetime.now(UTC),
    )


def signed(token: str = TOKEN, body: bytes = BODY) -> SignedRequest:
    return request([("X-Gitlab-Token", token)], body)


CASE = Provider(SCHEME, TOKEN, signed, lambda: request([]))


def test_known_answer():
    # GitLab signs nothing, so there is no vector to publish: per
    # https://docs.gitlab.com/user/project/integrations/webhooks/ the configured secret token is
    # sent verbatim in X-Gitlab-Token.
    verdict = SCHEME.verify(request([("X-Gitlab-Token", TOKEN)]), Options(secrets=(TOKEN,)))
    assert verdict.status == "valid"
    assert verdict.construction == "token equality (no signature)"
    assert verdict.received == [TOKEN]
    assert verdict.expected is None  # it would be the secret itself
    assert verdict.headers_read == ["X-Gitlab-Token"]


def test_round_trip_valid():
    CASE.valid()


def test_body_is_not_covered():
    # A changed body still passes: the token authenticates the sender, not the content.
    CASE.valid(body=BODY + b" ")


def test_wrong_token_is_invalid():
    assert "another token" in CASE.hint(token=TOKEN + "x")


def test_header_removed_is_unsigned():
    assert CASE.header_removed().reason == "No X-Gitlab-Token header."


def test_no_secret_is_unverified():
    CASE.no_secret()


def test_second_secret_matches():
    CASE.second_secret("old-token")


@pytest.mark.parametrize("garbage", ["", " ", "\x00\xff\u202e", "\udcff", "A" * 100_000])
def test_garbage_header_is_invalid(garbage):
    CASE.invalid(signed(garbage))


def test_hint_stray_whitespace():
    assert "whitespace" in CASE.hint(None, TOKEN + "\n")


def test_sign_round_trips():
    headers = SCHEME.sign(BODY, TOKEN, 1_700_000_000, "https://bin.example/gitlab", Options())
    assert headers == [("X-Gitlab-Token", TOKEN)]
    assert CASE.verify(request(headers), TOKEN).status == "valid"


def test_detect():
    assert SCHEME.detect(request([("x-gitlab-token", "t")]))
    assert not SCHEME.detect(request([]))
