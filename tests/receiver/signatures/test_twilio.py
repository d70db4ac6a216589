"""Twilio signatures: twilio-python's known answers (form posts, repeated fields, the port
rule, bodySHA256), round trips with our own signer, URL and body hints, hostile values."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from signature_roundtrip import Provider

from webbin.receiver.signatures.base import Options, SignedRequest
from webbin.receiver.signatures.twilio import SCHEME

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
FORM = "application/x-www-form-urlencoded"
URL = "https://bin.example/h/abc?source=sms"
FIELDS = [
    ("MessageSid", "SM123"),
    ("Body", "Hello & welcome"),
    ("From", "+15550001111"),
    ("To", "+15550002222"),
]
BODY = urlencode(FIELDS).encode()
TOKEN = "0123456789abcdef0123456789abcdef"

# twilio/twilio-python tests/unit/test_request_validator.py
SDK_TOKEN = "12345"
SDK_URI = "https://mycompany.com/myapp.php?foo=1&bar=2"
SDK_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}
SDK_EXPECTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def twilio_signature(token: str, url: str, fields: list[tuple[str, str]]) -> str:
    """Independent signer: URL, then each field's name+value sorted by name, HMAC-SHA1,
    base64."""
    data = url + "".join(name + value for name, value in sorted(fields))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def request(
    signature: str | None,
    url: str = URL,
    body: bytes = BODY,
    content_type: str = FORM,
    method: str = "POST",
) -> SignedRequest:
    headers = [("Content-Type", content_type)]
    if signature is not None:
        headers.append(("X-Twilio-Signature", signature))
    return SignedRequest(method=method, url=url, headers=headers, body=body, received_at=NOW)


def signed(token: str = TOKEN, url: str = URL, body: bytes = BODY) -> SignedRequest:
    return request(twilio_signature(token, url, FIELDS), url, body)


CASE = Provider(SCHEME, TOKEN, signed, lambda: request(None))
verify = CASE.verify


# Known answers ----------------------------------------------------------------------------------


def sdk_request(
    signature: str, uri: str = SDK_URI, params: dict[str, str] | list[tuple[str, str]] = SDK_PARAMS
) -> SignedRequest:
    return request(signature, uri, urlencode(params).encode())


def test_sdk_form_vector() -> None:
    # test_compute_signature / test_validation
    verdict = verify(sdk_request(SDK_EXPECTED), SDK_TOKEN)
    assert verdict.status == "valid"
    assert verdict.expected == SDK_EXPECTED


def test_sdk_repeated_field_vector() -> None:
    # test_compute_signature_duplicate_query_dict
    params = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    assert (
        verify(sdk_request("IK+Dwps556ElfBT0I3Rgjkr1wJU=", params=params), SDK_TOKEN).status
        == "valid"
    )


@pytest.mark.parametrize(
    ("uri", "signature"),
    [
        # test_validation_removes_port_on_https
        ("https://mycompany.com:1234/myapp.php?foo=1&bar=2", SDK_EXPECTED),
        # test_validation_removes_port_on_http ("hash of http uri with port 1234")
        ("http://mycompany.com:1234/myapp.php?foo=1&bar=2", "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
        # test_validation_adds_port_on_https ("hash of uri with port 443")
        (SDK_URI, "kvajT1Ptam85bY51eRf/AJRuM3w="),
        # test_validation_adds_port_on_http ("hash of uri with port 80")
        ("http://mycompany.com/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4="),
    ],
)
def test_sdk_port_rule_vectors(uri: str, signature: str) -> None:
    assert verify(sdk_request(signature, uri), SDK_TOKEN).status == "valid"


def test_sdk_body_sha256_vector() -> None:
    # test_validation_of_body_succeeds
    body = b'{"property": "value", "boolean": true}'
    uri = SDK_URI + "&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
    verdict = verify(
        request("a9nBmqA0ju/hNViExpshrM61xv4=", uri, body, "application/json"), SDK_TOKEN
    )
    assert verdict.status == "valid"
    assert "bodySHA256" in verdict.construction


# Round trips ------------------------------------------------------------------------------------


def test_signed_is_valid() -> None:
    verdict = CASE.valid()
    assert verdict.headers_read == ["X-Twilio-Signature"]
    assert verdict.timestamp is None


def test_one_body_byte_changed_is_invalid() -> None:
    CASE.invalid(body=BODY.replace(b"SM123", b"SM124"))


def test_header_removed_is_unsigned() -> None:
    CASE.header_removed()


def test_no_secret_is_unverified() -> None:
    CASE.no_secret()


def test_second_token_matches() -> None:
    CASE.second_secret("secondary-auth-token")


def test_get_request_signs_the_url_only() -> None:
    url = URL + "&MessageSid=SM1"
    req = request(twilio_signature(TOKEN, url, []), url, b"", method="GET")
    assert verify(req, TOKEN).status == "valid"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "=",
        "not-base64",
        "AAAA",
        "\udcff\x00",
        "A" * 10000,
        "0123456789abcdef0123456789abcdef01234567",  # SHA-1 sized hex, wrong value
    ],
)
def test_garbage_header_is_invalid(value: str) -> None:
    CASE.invalid(request(value))


@pytest.mark.parametrize("url", ["https://[broken/h", "not a url", "https://h:99999/x", ""])
def test_garbage_url_does_not_raise(url: str) -> None:
    assert verify(request(twilio_signature(TOKEN, URL, FIELDS), url), TOKEN).status == "invalid"


def test_too_many_form_fields_is_invalid() -> None:
    body = b"&".join(b"a%d=1" % i for i in range(1001))
    assert "fields" in CASE.invalid(request(twilio_signature(TOKEN, URL, []), body=body)).reason


# Hints ------------------------------------------------------------------------------------------


def test_http_instead_of_https_hint() -> None:
    hint = CASE.hint(request(twilio_signature(TOKEN, URL.replace("https:", "http:"), FIELDS)))
    assert "http:// instead of https://" in hint
    assert "http://bin.example/h/abc?source=sms" in hint


def test_trailing_slash_hint() -> None:
    signed_url = "https://bin.example/h/abc/?source=sms"
    assert "with a trailing slash" in CASE.hint(
        request(twilio_signature(TOKEN, signed_url, FIELDS))
    )


def test_body_changed_under_body_sha256() -> None:
    original = b'{"property": "value", "boolean": true}'
    digest = hashlib.sha256(original).hexdigest()
    url = f"{URL}&bodySHA256={digest}"
    signature = twilio_signature(TOKEN, url, [])
    verdict = verify(
        request(signature, url, original.replace(b"value", b"valve"), "application/json"), TOKEN
    )
    assert verdict.status == "invalid"
    assert "bodySHA256" in verdict.reason
    assert verdict.hint is None
    compact = b'{"property":"value","boolean":true}'
    verdict = verify(request(signature, url, compact, "application/json"), TOKEN)
    assert verdict.status == "invalid"
    assert "re-serialised" in verdict.hint


def test_unknown_token_hint() -> None:
    assert "another endpoint" in CASE.hint(token="other")


# sign -------------------------------------------------------------------------------------------


def test_sign_form_post() -> None:
    headers = SCHEME.sign(BODY, TOKEN, 0, URL, Options())
    assert dict(headers) == {
        "Content-Type": FORM,
        "X-Twilio-Signature": twilio_signature(TOKEN, URL, FIELDS),
    }
    req = SignedRequest(method="POST", url=URL, headers=headers, body=BODY, received_at=NOW)
    assert verify(req, TOKEN).status == "valid"


def test_sign_json_post_with_body_sha256() -> None:
    body = b'{"CallSid": "CA1"}'
    url = f"{URL}&bodySHA256={hashlib.sha256(body).hexdigest()}"
    headers = SCHEME.sign(body, TOKEN, 0, url, Options())
    assert dict(headers)["X-Twilio-Signature"] == twilio_signature(TOKEN, url, [])
    req = SignedRequest(method="POST", url=url, headers=headers, body=body, received_at=NOW)
    assert verify(req, TOKEN).status == "valid"
