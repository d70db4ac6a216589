"""HubSpot: v1/v2 (SHA-256 of secret-prefixed strings) and v3 (HMAC-SHA256 with a ms timestamp)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
from signature_roundtrip import Provider

from webbin.receiver.signatures._common import BODY_REENCODED_HINT, OTHER_ENDPOINT_HINT
from webbin.receiver.signatures.base import Options, SignedRequest
from webbin.receiver.signatures.hubspot import SCHEME, v3_uri

SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
URL = "https://www.example.com/webhook_uri"
NOW = datetime.now(UTC)
NOW_MS = int(NOW.timestamp() * 1000)
BODY = (
    b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"subscriptionType":"contact.creation"}]'
)


def v1(body: bytes, secret: str = SECRET) -> str:
    return hashlib.sha256(secret.encode() + body).hexdigest()


def v2(method: str, uri: str, body: bytes, secret: str = SECRET) -> str:
    return hashlib.sha256(f"{secret}{method}{uri}".encode() + body).hexdigest()


def v3(method: str, uri: str, body: bytes, millis: int, secret: str = SECRET) -> str:
    """The test's own v3 signer; ``uri`` is used exactly as given (decode it first)."""
    message = f"{method}{uri}".encode() + body + str(millis).encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def v3_headers(uri: str = URL, body: bytes = BODY, millis: int = NOW_MS, secret: str = SECRET):
    return [
        ("X-HubSpot-Signature-v3", v3("POST", uri, body, millis, secret)),
        ("X-HubSpot-Request-Timestamp", str(millis)),
    ]


def request(
    headers: list[tuple[str, str]],
    body: bytes = BODY,
    *,
    method: str = "POST",
    url: str = URL,
    received_at: datetime = NOW,
) -> SignedRequest:
    return SignedRequest(
        method=method,
        url=url,
        headers=[("Content-Type", "application/json"), *headers],
        body=body,
        received_at=received_at,
    )


def signed(body: bytes = BODY, sent: bytes | None = None, **changes) -> SignedRequest:
    """A v3-signed request (HubSpot sends v3 alongside v1 or v2, and v3 wins)."""
    return request(v3_headers(body=body, **changes), body if sent is None else sent)


CASE = Provider(
    SCHEME, SECRET, signed, lambda: request([("X-HubSpot-Request-Timestamp", str(NOW_MS))])
)


# Known answers. Sources:
# - HubSpot docs, "v1 request validation": https://developers.hubspot.com/docs/faq/v1-request-validation
# - HubSpot docs, "v2 request validation": https://developers.hubspot.com/docs/faq/v2-request-validation
# - HubSpot's Python SDK tests: HubSpot/hubspot-api-python, tests/spec/utils/test_signature.py
DOCS_BODY = (
    b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
    b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,'
    b'"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
)
SDK_BODY = b"{'example_field':'example_value'}"


@pytest.mark.parametrize(
    ("version", "method", "body", "signature"),
    [
        (
            "v1",
            "POST",
            DOCS_BODY,
            "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de",
        ),  # v1 docs
        (
            "v2",
            "GET",
            b"",
            "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e",
        ),  # v2 docs
        (
            "v1",
            "POST",
            SDK_BODY,
            "69fc6631a867edd4f9e9e627fc5c1148e3fbdd8b21837b6d2b8901c1fa57f750",
        ),  # SDK
        (
            "v2",
            "POST",
            SDK_BODY,
            "4fe4e3a7d3cf09db53be39d0a58130e2aaba074ec123a9e355b876a689a1c383",
        ),  # SDK
    ],
)
def test_known_answer_v1_v2(version, method, body, signature):
    headers = [("X-HubSpot-Signature", signature), ("X-HubSpot-Signature-Version", version)]
    verdict = SCHEME.verify(request(headers, body, method=method), Options(secrets=(SECRET,)))
    assert verdict.status == "valid"
    assert verdict.expected == signature
    assert verdict.timestamp is None


def test_known_answer_v3():
    # SDK test_get_signature__v3: POST, the SDK body and URL, timestamp 15000000 (ms).
    signature = "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw="
    headers = [("X-HubSpot-Signature-v3", signature), ("X-HubSpot-Request-Timestamp", "15000000")]
    verdict = SCHEME.verify(
        request(headers, SDK_BODY, received_at=datetime.fromtimestamp(15_001, UTC)),
        Options(secrets=(SECRET,)),
    )
    assert verdict.status == "valid"
    assert verdict.expected == signature
    assert (verdict.timestamp, verdict.age_seconds) == (15_000, 1.0)
    assert verdict.construction == "{method}{uri}{body}{X-HubSpot-Request-Timestamp}, uri = " + URL
    assert verdict.headers_read == ["X-HubSpot-Signature-v3", "X-HubSpot-Request-Timestamp"]


def test_v3_uri_decodes_exactly_the_documented_escapes():
    # HubSpot docs, "Validate the v3 request signature" (developers.hubspot.com/docs/apps/legacy-apps/
    # authentication/validating-requests): %3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B.
    encoded = "https://x.example/a%3A%2F%3F%40%21%24%27%28%29%2A%2C%3B?q=%3a%20%25%26%2B%3D"
    assert v3_uri(encoded) == "https://x.example/a:/?@!$'()*,;?q=:%20%25%26%2B%3D"


def test_v3_round_trip_valid():
    assert CASE.valid().timestamp == NOW_MS // 1000


def test_v3_signed_over_the_decoded_uri():
    url = "https://bin.example/hook?next=https%3A%2F%2Fapp.example%2Fa%20b"
    decoded = "https://bin.example/hook?next=https://app.example/a%20b"
    verdict = SCHEME.verify(request(v3_headers(decoded), url=url), Options(secrets=(SECRET,)))
    assert verdict.status == "valid"


def test_v3_is_preferred_over_v1():
    headers = [
        *v3_headers(),
        ("X-HubSpot-Signature", "0" * 64),
        ("X-HubSpot-Signature-Version", "v1"),
    ]
    assert SCHEME.verify(request(headers), Options(secrets=(SECRET,))).status == "valid"


def test_one_body_byte_changed_is_invalid():
    tampered = BODY.replace(b"62515", b"62516")
    verdict = CASE.invalid(sent=tampered)
    assert verdict.expected == v3("POST", URL, tampered, NOW_MS)
    assert verdict.hint == OTHER_ENDPOINT_HINT


def test_timestamp_aged_past_tolerance_is_stale():
    verdict = CASE.stale(millis=NOW_MS - 301_000)
    assert verdict.age_seconds == pytest.approx(301, abs=1)


def test_headers_removed_is_unsigned():
    verdict = CASE.header_removed()
    assert verdict.reason == "No X-HubSpot-Signature-v3 or X-HubSpot-Signature header."


def test_no_secret_is_unverified():
    CASE.no_secret()
    v1_headers = [("X-HubSpot-Signature", v1(BODY)), ("X-HubSpot-Signature-Version", "v1")]
    assert CASE.verify(request(v1_headers)).status == "unverified"


def test_second_secret_matches():
    CASE.second_secret("other-app-secret")
    v2_headers = [
        ("X-HubSpot-Signature", v2("POST", URL, BODY)),
        ("X-HubSpot-Signature-Version", "v2"),
    ]
    verdict = CASE.verify(request(v2_headers), "other-app-secret", SECRET)
    assert (verdict.status, verdict.matched_secret) == ("valid", 1)


@pytest.mark.parametrize(
    "garbage", ["", "not base64", "A" * 43, "A" * 44 + "=", "A" * 100_000 + "=", "\x00\xff\u202e"]
)
def test_garbage_v3_signature_is_invalid(garbage):
    headers = [("X-HubSpot-Signature-v3", garbage), ("X-HubSpot-Request-Timestamp", str(NOW_MS))]
    CASE.invalid(request(headers))


@pytest.mark.parametrize(
    "timestamp", [None, "", "abc", "-1", "1.7e12", "9" * 16, "9" * 5000, "١٢٣"]
)
def test_garbage_v3_timestamp_is_invalid(timestamp):
    headers = v3_headers()[:1] + (
        [] if timestamp is None else [("X-HubSpot-Request-Timestamp", timestamp)]
    )
    assert "X-HubSpot-Request-Timestamp" in CASE.invalid(request(headers)).reason


@pytest.mark.parametrize(
    "headers",
    [
        [("X-HubSpot-Signature", "0" * 64)],
        [("X-HubSpot-Signature", "0" * 64), ("X-HubSpot-Signature-Version", "v3")],
        [("X-HubSpot-Signature", "0" * 64), ("X-HubSpot-Signature-Version", "\x00\xff")],
        [("X-HubSpot-Signature", "nope"), ("X-HubSpot-Signature-Version", "v1")],
        [("X-HubSpot-Signature", "F" * 64), ("X-HubSpot-Signature-Version", "v2")],
        [("X-HubSpot-Signature", "0" * 100_000), ("X-HubSpot-Signature-Version", "v1")],
    ],
)
def test_garbage_v1_v2_headers_are_invalid(headers):
    CASE.invalid(request(headers))


def test_hint_v1_digest_written_in_uppercase():
    headers = [("X-HubSpot-Signature", v1(BODY).upper()), ("X-HubSpot-Signature-Version", "v1")]
    assert "uppercase hex" in CASE.hint(request(headers))


def test_hostile_url_does_not_raise():
    headers = [
        ("X-HubSpot-Signature", v2("POST", URL, BODY)),
        ("X-HubSpot-Signature-Version", "v2"),
    ]
    for url in ["http://[::1", "https://host:99999/", "\udcff://x", ""]:
        assert (
            SCHEME.verify(request(headers, url=url), Options(secrets=(SECRET,))).status == "invalid"
        )


def test_hint_body_reencoded():
    pretty = json.dumps(json.loads(BODY), indent=2).encode()
    assert CASE.hint(body=pretty, sent=BODY) == BODY_REENCODED_HINT
    v1_headers = [("X-HubSpot-Signature", v1(pretty)), ("X-HubSpot-Signature-Version", "v1")]
    assert CASE.verify(request(v1_headers), SECRET).hint == BODY_REENCODED_HINT


@pytest.mark.parametrize(
    ("received_url", "signed_url", "difference"),
    [
        ("http://bin.example/h", "https://bin.example/h", "https:// instead of http://"),
        ("https://bin.example/h", "https://bin.example/h/", "with a trailing slash"),
        ("https://bin.example/h/", "https://bin.example/h", "without the trailing slash"),
        ("https://bin.example/h", "https://bin.example:443/h", "with the default port :443"),
        ("http://bin.example:80/h", "http://bin.example/h", "without the port :80"),
        (
            "http://bin.example/h",
            "https://bin.example/h/",
            "https:// instead of http://, with a trailing slash",
        ),
    ],
)
def test_hint_url_mismatch(received_url, signed_url, difference):
    verdict = SCHEME.verify(
        request(v3_headers(signed_url), url=received_url), Options(secrets=(SECRET,))
    )
    assert verdict.status == "invalid"
    assert f"matches the URL {difference} ({signed_url})" in verdict.hint
    v2_headers = [
        ("X-HubSpot-Signature", v2("POST", signed_url, BODY)),
        ("X-HubSpot-Signature-Version", "v2"),
    ]
    verdict = SCHEME.verify(request(v2_headers, url=received_url), Options(secrets=(SECRET,)))
    assert f"matches the URL {difference} ({signed_url})" in verdict.hint


def test_hint_uri_left_encoded_by_sender():
    url = "https://bin.example/hook?next=https%3A%2F%2Fapp.example"
    assert "left percent-encoded" in CASE.hint(request(v3_headers(url), url=url))


def test_sign_round_trips():
    url = "https://bin.example/hook?next=%2Fhome"
    headers = SCHEME.sign(BODY, SECRET, NOW_MS // 1000, url, Options())
    assert dict(headers) == {
        "X-HubSpot-Signature": v1(BODY),
        "X-HubSpot-Signature-Version": "v1",
        "X-HubSpot-Signature-v3": v3(
            "POST", "https://bin.example/hook?next=/home", BODY, NOW_MS // 1000 * 1000
        ),
        "X-HubSpot-Request-Timestamp": str(NOW_MS // 1000 * 1000),
    }
    assert SCHEME.verify(request(headers, url=url), Options(secrets=(SECRET,))).status == "valid"
    v1_only = [h for h in headers if h[0] in ("X-HubSpot-Signature", "X-HubSpot-Signature-Version")]
    assert SCHEME.verify(request(v1_only, url=url), Options(secrets=(SECRET,))).status == "valid"


def test_detect():
    assert SCHEME.detect(request([("x-hubspot-signature-v3", "x")]))
    assert SCHEME.detect(request([("X-HubSpot-Signature", "x")]))
    assert not SCHEME.detect(request([("X-HubSpot-Request-Timestamp", "1")]))
