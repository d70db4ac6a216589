"""Square signatures: the SDK's known answer, the legacy SHA-1 header, round trips with our own
signer, the URL hints, and hostile header values."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from signature_roundtrip import Provider

from webbin.receiver.signatures.base import Options, SignedRequest
from webbin.receiver.signatures.square import SCHEME

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
URL = "https://bin.example/h/abc"
BODY = b'{"merchant_id": "ML1", "type": "payment.updated", "event_id": "e-1"}'
KEY = "sq0wss-signature-key"

# square/square-python-sdk tests/utilities/test_webhooks_helper.py
SDK_BODY = (
    b'{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":"ac3'
    b'ac95b-f97d-458c-a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z","da'
    b'ta":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}'
)
SDK_SIGNATURE = "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4="
SDK_KEY = "Ibxx_5AKakO-3qeNVR61Dw"
SDK_URL = "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9"


def square_signature(key: str, url: str, body: bytes, algorithm: str = "sha256") -> str:
    """Independent signer: base64 HMAC of notification URL + body."""
    return base64.b64encode(
        hmac.new(key.encode(), url.encode() + body, algorithm).digest()
    ).decode()


def request(headers: list[tuple[str, str]], body: bytes = BODY, url: str = URL) -> SignedRequest:
    return SignedRequest(method="POST", url=url, headers=headers, body=body, received_at=NOW)


def signed(
    key: str = KEY, url: str = URL, body: bytes = BODY, sent: bytes | None = None
) -> SignedRequest:
    return request(
        [("x-square-hmacsha256-signature", square_signature(key, url, body))],
        body if sent is None else sent,
    )


CASE = Provider(SCHEME, KEY, signed, lambda: request([]))
verify = CASE.verify


def sdk_request(body: bytes = SDK_BODY, url: str = SDK_URL) -> SignedRequest:
    return request([("x-square-hmacsha256-signature", SDK_SIGNATURE)], body, url)


def test_sdk_vector() -> None:
    # test_signature_validation_pass
    verdict = verify(sdk_request(), SDK_KEY)
    assert verdict.status == "valid"
    assert verdict.expected == SDK_SIGNATURE
    assert verdict.construction == "{notification_url}{body}"


def test_sdk_vector_url_mismatch() -> None:
    # test_signature_validation_url_mismatch
    verdict = verify(
        sdk_request(url="https://webhook.site/79a4f3a-dcfa-49ee-bac5-9d0edad886b9"), SDK_KEY
    )
    assert verdict.status == "invalid"


def test_sdk_vector_wrong_key() -> None:
    # test_signature_validation_invalid_signature_key
    assert verify(sdk_request(), "MCmhFRxGX82xMwg5FsaoQA").status == "invalid"


def test_sdk_vector_body_mismatch() -> None:
    # test_signature_validation_body_mismatch: another created_at
    assert (
        verify(sdk_request(SDK_BODY.replace(b"2022-07-13", b"2022-06-13")), SDK_KEY).status
        == "invalid"
    )


def test_legacy_sha1_header() -> None:
    # Square publishes no vector for the legacy header; this one was computed independently
    # with Python's hmac module over the SDK vector's URL and body.
    req = request([("x-square-signature", "+9Qzy6LPYs08yM75TiRwUupYoS0=")], SDK_BODY, SDK_URL)
    verdict = verify(req, SDK_KEY)
    assert verdict.status == "valid"
    assert verdict.headers_read == ["x-square-hmacsha256-signature", "x-square-signature"]


def test_signed_is_valid() -> None:
    CASE.valid()


def test_one_body_byte_changed_is_invalid() -> None:
    CASE.invalid(sent=BODY.replace(b"e-1", b"e-2"))


def test_header_removed_is_unsigned() -> None:
    CASE.header_removed()


def test_no_secret_is_unverified() -> None:
    CASE.no_secret()


def test_second_key_matches() -> None:
    CASE.second_secret("old-key")


@pytest.mark.parametrize("value", ["", "!!", "AAAA", "\udcff", "A" * 20000, "0" * 64])
def test_garbage_header_is_invalid(value: str) -> None:
    CASE.invalid(request([("x-square-hmacsha256-signature", value)]))


@pytest.mark.parametrize(
    ("configured", "changes"),
    [
        ("http://bin.example/h/abc", "http:// instead of https://"),
        ("https://bin.example/h/abc/", "with a trailing slash"),
        ("https://bin.example:443/h/abc", "with the default port :443"),
        (
            "http://bin.example:80/h/abc/",
            "http:// instead of https://, with a trailing slash, with the default port :80",
        ),
    ],
)
def test_url_mismatch_hints(configured: str, changes: str) -> None:
    assert f"matches the URL {changes} ({configured})" in CASE.hint(url=configured)


def test_url_without_port_hint() -> None:
    req = signed(url="https://bin.example/h/abc")
    captured = request(req.headers, url="https://bin.example:8443/h/abc")
    assert "without the port :8443" in CASE.hint(captured)


def test_reencoded_body_hint() -> None:
    compact = b'{"merchant_id":"ML1","type":"payment.updated","event_id":"e-1"}'
    assert "re-serialised" in CASE.hint(body=compact, sent=BODY)


def test_hex_signature_hint() -> None:
    value = hmac.new(KEY.encode(), URL.encode() + BODY, hashlib.sha256).hexdigest()
    assert "written as hex" in CASE.hint(request([("x-square-hmacsha256-signature", value)]))


def test_sign_sends_both_headers_and_verifies() -> None:
    headers = SCHEME.sign(BODY, KEY, 0, URL, Options())
    assert dict(headers) == {
        "x-square-hmacsha256-signature": square_signature(KEY, URL, BODY),
        "x-square-signature": square_signature(KEY, URL, BODY, "sha1"),
    }
    assert verify(request(headers), KEY).status == "valid"
    assert verify(request(headers[1:]), KEY).status == "valid"
