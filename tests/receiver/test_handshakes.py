"""webbin.handshakes: provider endpoint-verification handshakes, answered per bin.

Each handshake is exercised with the request its provider documents (URL in the comment)
and checked against the exact reply the provider expects.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from urllib.parse import quote, quote_plus

import pytest

from webbin.receiver.handshakes import (
    BODY_CAP,
    PROVIDERS,
    VALUE_CAP,
    HandshakeReply,
    HandshakeSettings,
    reply,
)

TEXT = "text/plain; charset=utf-8"

ZOOM_SECRET = "zoom-webbin-test-secret"
# Example consumer secret and crc_token from X developer relations' sample CRC code
# (https://gist.github.com/jcipriano/373d4d441e8041f775b6227c0e2fd1f3); any values would do.
TWITTER_SECRET = "z3ZX4v7mAAUGykl3EcmkqbartmuW8VFOOzCloLx9Q45P0hLrFu"
TWITTER_CRC = "9b4507b3-9040-4669-9ca3-6b94edb50553"
META_TOKEN = "meatyhamhock"

ALL_CONFIGURED = HandshakeSettings(
    meta_verify_token=META_TOKEN,
    zoom_secret=ZOOM_SECRET,
    twitter_consumer_secret=TWITTER_SECRET,
)
DEFAULT = HandshakeSettings()

JSON_HEADERS = [("Content-Type", "application/json")]

# --- the documented requests ------------------------------------------------------------

# https://api.slack.com/events/url_verification — the example payload, verbatim. Slack
# accepts the challenge back as text/plain, form or JSON; webbin answers in plain text, the
# first form that page shows ("respond in plaintext with the challenge attribute value").
SLACK_CHALLENGE = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
SLACK = (
    "POST",
    "",
    JSON_HEADERS,
    json.dumps(
        {
            "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
            "challenge": SLACK_CHALLENGE,
            "type": "url_verification",
        },
        indent=4,
    ).encode(),
)

# https://developers.facebook.com/docs/graph-api/webhooks/getting-started/ — "Sample
# Verification Request"; the endpoint checks hub.verify_token and responds with hub.challenge.
# WhatsApp Cloud API and Instagram webhooks use the same verification request.
META = ("GET", "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock", [], b"")

# https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks
# ("notificationUrl validation"): Graph POSTs to ?validationToken={opaqueToken}, Content-Type
# text/plain; the endpoint answers 200, text/plain, body = the URL-decoded token, within 10 s.
GRAPH_TOKEN = (
    "Validation: Testing client application reachability for subscription "
    "Request-Id: 5fb4f5a4-6d7c-4a66-8b5c-7b3c3a1d2e9f"
)
GRAPH = (
    "POST",
    "validationToken=" + quote(GRAPH_TOKEN, safe=""),
    [("Content-Type", "text/plain; charset=utf-8")],
    b"",
)

# https://developers.zoom.us/docs/api/webhooks/#validate-your-webhook-endpoint — the example
# challenge body; reply 200 JSON {"plainToken", "encryptedToken": hex HMAC-SHA256(secret token,
# plainToken)}. Zoom's page shows an encryptedToken without the secret that produced it, so
# the expected value here was computed independently for ZOOM_SECRET with
#   printf %s qgg8vlvZRS6UYooatFL8Aw | openssl dgst -sha256 -hmac zoom-webbin-test-secret
ZOOM_PLAIN = "qgg8vlvZRS6UYooatFL8Aw"
ZOOM_ENCRYPTED = "092d01fe8d01446c10130a2905cb01d537c46c3db0bcf47a625348e7f070d97f"
ZOOM = (
    "POST",
    "",
    JSON_HEADERS,
    b'{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,'
    b'"event":"endpoint.url_validation"}',
)

# https://www.dropbox.com/developers/reference/webhooks — "The verification request": a GET
# with a challenge query parameter (example ?challenge=abc123) to echo back, with
# Content-Type: text/plain and X-Content-Type-Options: nosniff.
DROPBOX = ("GET", "challenge=abc123", [], b"")

# https://developer.x.com/en/docs/twitter-api/enterprise/account-activity-api/guides/securing-webhooks
# and https://docs.x.com/x-api/webhooks/quickstart: a GET ?crc_token=...; reply JSON
# {"response_token": "sha256=" + base64(HMAC-SHA256(consumer secret, crc_token))}. Expected
# value computed independently with
#   printf %s $TWITTER_CRC | openssl dgst -sha256 -hmac $TWITTER_SECRET -binary | base64
TWITTER_RESPONSE = "sha256=Cytd4Sq+NvEcV3MMrXxWJGJx5A+y/lXzzU2Maartkx8="
TWITTER = ("GET", "crc_token=" + TWITTER_CRC, [], b"")

DOCUMENTED = {
    "slack": SLACK,
    "meta": META,
    "graph": GRAPH,
    "zoom": ZOOM,
    "dropbox": DROPBOX,
    "twitter": TWITTER,
}


def answer(request: tuple, settings: HandshakeSettings = ALL_CONFIGURED) -> HandshakeReply | None:
    method, query, headers, body = request
    return reply(method, query, headers, body, settings)


@pytest.mark.parametrize(
    ("request_", "provider", "content_type", "body"),
    [
        (SLACK, "slack", TEXT, SLACK_CHALLENGE.encode()),
        (META, "meta", TEXT, b"1158201444"),
        (GRAPH, "graph", TEXT, GRAPH_TOKEN.encode()),
        (DROPBOX, "dropbox", TEXT, b"abc123"),
    ],
    ids=["slack", "meta", "graph", "dropbox"],
)
def test_documented_echo_handshakes(request_, provider, content_type, body):
    got = answer(request_)
    assert got is not None
    assert (got.provider, got.status, got.content_type, got.body) == (
        provider,
        200,
        content_type,
        body,
    )
    assert got.note


def test_slack_note():
    assert answer(SLACK).note == "Answered Slack's url_verification challenge."


def test_zoom_known_answer():
    got = answer(ZOOM)
    assert got is not None
    assert (got.provider, got.status, got.content_type) == ("zoom", 200, "application/json")
    assert json.loads(got.body) == {"plainToken": ZOOM_PLAIN, "encryptedToken": ZOOM_ENCRYPTED}
    # And once more, computed in-process with the standard library's hmac.
    expected = hmac.new(ZOOM_SECRET.encode(), ZOOM_PLAIN.encode(), hashlib.sha256).hexdigest()
    assert expected == ZOOM_ENCRYPTED


def test_twitter_known_answer():
    got = answer(TWITTER)
    assert got is not None
    assert (got.provider, got.status, got.content_type) == ("twitter", 200, "application/json")
    assert json.loads(got.body) == {"response_token": TWITTER_RESPONSE}
    digest = hmac.new(TWITTER_SECRET.encode(), TWITTER_CRC.encode(), hashlib.sha256).digest()
    assert "sha256=" + base64.b64encode(digest).decode() == TWITTER_RESPONSE


@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_documented_request_is_answered_by_its_own_provider(provider):
    got = answer(DOCUMENTED[provider])
    assert got is not None and got.provider == provider and got.status == 200


@pytest.mark.parametrize("provider", PROVIDERS)
def test_switched_off_provider_is_not_answered(provider):
    settings = HandshakeSettings(
        enabled=frozenset(PROVIDERS) - {provider},
        meta_verify_token=META_TOKEN,
        zoom_secret=ZOOM_SECRET,
        twitter_consumer_secret=TWITTER_SECRET,
    )
    assert answer(DOCUMENTED[provider], settings) is None


@pytest.mark.parametrize("provider", PROVIDERS)
def test_all_switched_off(provider):
    assert answer(DOCUMENTED[provider], HandshakeSettings(enabled=frozenset())) is None


@pytest.mark.parametrize("provider", ["slack", "meta", "graph", "dropbox"])
def test_on_by_default_without_configuration(provider):
    got = answer(DOCUMENTED[provider], DEFAULT)
    assert got is not None and got.status == 200


@pytest.mark.parametrize("provider", ["zoom", "twitter"])
def test_cannot_answer_without_the_secret(provider):
    assert answer(DOCUMENTED[provider], DEFAULT) is None


# --- Meta's verify token ----------------------------------------------------------------


def test_meta_without_configured_token_answers_and_says_it_was_not_checked():
    got = answer(META, DEFAULT)
    assert got is not None and got.body == b"1158201444"
    assert "not checked" in got.note


def test_meta_matching_token_says_so():
    got = answer(META)
    assert got is not None and got.status == 200
    assert "matched" in got.note


@pytest.mark.parametrize(
    "query",
    [
        "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=wrong",
        "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhoc",
        "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=",
        "hub.mode=subscribe&hub.challenge=1158201444",
        "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=%FF",
        "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock"
        "&hub.verify_token=meatyhamhock",
    ],
    ids=["wrong", "prefix", "empty", "missing", "not-utf8", "repeated"],
)
def test_meta_token_mismatch_is_403(query):
    got = reply("GET", query, [], b"", ALL_CONFIGURED)
    assert got is not None
    assert (got.provider, got.status, got.content_type, got.body) == (
        "meta",
        403,
        TEXT,
        b"verify token mismatch",
    )
    assert "1158201444" not in got.note


@pytest.mark.parametrize(
    ("method", "query"),
    [
        ("GET", "hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=meatyhamhock"),
        ("GET", "hub.challenge=1&hub.verify_token=meatyhamhock"),
        ("GET", "hub.mode=subscribe&hub.verify_token=meatyhamhock"),
        ("GET", "hub.mode=subscribe&hub.challenge=&hub.verify_token=meatyhamhock"),
        ("GET", "hub.mode=subscribe&hub.mode=subscribe&hub.challenge=1"),
        ("POST", "hub.mode=subscribe&hub.challenge=1&hub.verify_token=meatyhamhock"),
    ],
    ids=["unsubscribe", "no-mode", "no-challenge", "empty-challenge", "repeated-mode", "post"],
)
def test_not_a_meta_verification(method, query):
    assert reply(method, query, [], b"", ALL_CONFIGURED) is None


# --- decoding and method rules ----------------------------------------------------------


@pytest.mark.parametrize("encode", [quote, quote_plus], ids=["percent-20", "plus"])
def test_graph_token_is_url_decoded(encode):
    got = reply("POST", "validationToken=" + encode(GRAPH_TOKEN, safe=""), [], b"", DEFAULT)
    assert got is not None and got.body == GRAPH_TOKEN.encode()


@pytest.mark.parametrize("method", ["GET", "POST", "PUT"])
def test_graph_any_method(method):
    got = reply(method, "validationToken=abc", [], b"", DEFAULT)
    assert got is not None and got.provider == "graph"


def test_graph_non_ascii_token_round_trips():
    token = "jeton-validé-✓"
    got = reply("POST", "validationToken=" + quote(token), [], b"", DEFAULT)
    assert got is not None and got.body == token.encode()


@pytest.mark.parametrize("method", ["POST", "PUT", "get"])
def test_dropbox_and_twitter_are_get_only(method):
    assert reply(method, "challenge=abc123", [], b"", DEFAULT) is None
    assert reply(method, "crc_token=abc", [], b"", ALL_CONFIGURED) is None


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_body_handshakes_are_post_only(method):
    _, query, headers, body = SLACK
    assert reply(method, query, headers, body, ALL_CONFIGURED) is None
    _, query, headers, body = ZOOM
    assert reply(method, query, headers, body, ALL_CONFIGURED) is None


def test_headers_as_lists_are_accepted():
    method, query, _, body = SLACK
    got = reply(method, query, [["Content-Type", "application/json"]], body, DEFAULT)
    assert got is not None and got.provider == "slack"


# --- security: echoes are plain text and capped ------------------------------------------


XSS = "<script>alert(document.domain)</script>"


@pytest.mark.parametrize(
    "request_",
    [
        ("GET", "challenge=" + quote(XSS), [], b""),
        ("GET", "hub.mode=subscribe&hub.challenge=" + quote(XSS), [], b""),
        ("POST", "validationToken=" + quote(XSS), [], b""),
        (
            "POST",
            "",
            JSON_HEADERS,
            json.dumps({"type": "url_verification", "challenge": XSS}).encode(),
        ),
    ],
    ids=["dropbox", "meta", "graph", "slack"],
)
def test_echo_is_never_html(request_):
    got = answer(request_, DEFAULT)
    assert got is not None
    assert got.content_type == TEXT
    assert got.body == XSS.encode()


def test_zoom_json_carries_no_raw_markup():
    body = json.dumps({"event": "endpoint.url_validation", "payload": {"plainToken": XSS}}).encode()
    got = reply("POST", "", JSON_HEADERS, body, ALL_CONFIGURED)
    assert got is not None
    assert b"<" not in got.body and b">" not in got.body
    expected = hmac.new(ZOOM_SECRET.encode(), XSS.encode(), hashlib.sha256).hexdigest()
    assert json.loads(got.body) == {"plainToken": XSS, "encryptedToken": expected}


@pytest.mark.parametrize(
    "build",
    [
        lambda v: ("GET", "challenge=" + v, [], b""),
        lambda v: ("GET", "hub.mode=subscribe&hub.challenge=" + v, [], b""),
        lambda v: ("POST", "validationToken=" + v, [], b""),
        lambda v: ("GET", "crc_token=" + v, [], b""),
        lambda v: (
            "POST",
            "",
            [],
            json.dumps({"type": "url_verification", "challenge": v}).encode(),
        ),
        lambda v: (
            "POST",
            "",
            [],
            json.dumps({"event": "endpoint.url_validation", "payload": {"plainToken": v}}).encode(),
        ),
    ],
    ids=["dropbox", "meta", "graph", "twitter", "slack", "zoom"],
)
def test_values_over_the_cap_are_not_answered(build):
    assert answer(build("a" * VALUE_CAP)) is not None
    assert answer(build("a" * (VALUE_CAP + 1))) is None
    # The cap is on UTF-8 bytes, not characters.
    assert answer(build("é" * (VALUE_CAP // 2 + 1))) is None


# --- ordinary webhooks are not handshakes ------------------------------------------------

STRIPE = json.dumps(
    {
        "id": "evt_1NG8Du2eZvKYlo2CUI79vXWy",
        "object": "event",
        "api_version": "2023-10-16",
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_3MtwBwLkdIwHu7ix28a3tqPa", "amount": 2000}},
    }
).encode()
GITHUB_PUSH = json.dumps(
    {
        "ref": "refs/heads/main",
        "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "after": "0000000000000000000000000000000000000000",
        "repository": {"full_name": "octo-org/octo-repo"},
        "commits": [{"message": "Answer Slack's url_verification challenge in the handler"}],
        "pusher": {"name": "octocat"},
    }
).encode()


@pytest.mark.parametrize(
    "request_",
    [
        (
            "POST",
            "",
            [("Content-Type", "application/json"), ("Stripe-Signature", "t=1,v1=ab")],
            STRIPE,
        ),
        (
            "POST",
            "",
            [("Content-Type", "application/json"), ("X-GitHub-Event", "push")],
            GITHUB_PUSH,
        ),
        ("POST", "source=github&challenge_mode=off", JSON_HEADERS, GITHUB_PUSH),
        ("GET", "", [], b""),
        ("GET", "page=2&q=hello", [], b""),
        ("POST", "", [("Content-Type", "text/plain")], b"url_verification"),
        (
            "POST",
            "",
            JSON_HEADERS,
            json.dumps(
                {"type": "event_callback", "event": {"text": "url_verification"}, "challenge": "x"}
            ).encode(),
        ),
        (
            "POST",
            "",
            JSON_HEADERS,
            json.dumps({"event": "meeting.started", "note": "endpoint.url_validation"}).encode(),
        ),
    ],
    ids=[
        "stripe",
        "github-push",
        "github-push-with-query",
        "bare-get",
        "plain-query",
        "marker-not-json",
        "slack-event-callback",
        "zoom-meeting-started",
    ],
)
def test_ordinary_requests_are_not_handshakes(request_):
    assert answer(request_) is None


# --- hostile input never raises ----------------------------------------------------------


@pytest.mark.parametrize(
    "request_",
    [
        ("POST", "", [], b'{"type": "url_verification", "challenge": '),
        ("POST", "", [], b'{"type": "url_verification", "challenge": "\xff\xfe"}'),
        ("POST", "", [], b"\xff\xfe\x00url_verification\x00"),
        ("POST", "", [], b"[" * 50_000 + b'"url_verification"' + b"]" * 50_000),
        ("POST", "", [], b'{"a":' * 20_000 + b'"endpoint.url_validation"' + b"}" * 20_000),
        ("POST", "", [], b'["url_verification", "endpoint.url_validation"]'),
        ("POST", "", [], b'{"type": "url_verification", "challenge": 12345}'),
        ("POST", "", [], b'{"type": "url_verification", "challenge": null}'),
        ("POST", "", [], b'{"type": "url_verification", "challenge": ""}'),
        ("POST", "", [], b'{"type": "url_verification", "challenge": "\\ud800"}'),
        ("POST", "", [], b'{"type": ["url_verification"], "challenge": "x"}'),
        ("POST", "", [], b'{"type": "url_verification", "challenge": "1' + b"0" * 5000 + b'"}'),
        ("POST", "", [], b'{"type": "url_verification", "challenge": 1' + b"0" * 5000 + b"}"),
        ("POST", "", [], b'{"event": "endpoint.url_validation", "payload": "plainToken"}'),
        ("POST", "", [], b'{"event": "endpoint.url_validation", "payload": {"plainToken": [1]}}'),
        (
            "POST",
            "",
            [],
            b'{"event": "endpoint.url_validation", "payload": {"plainToken": "\\udfff"}}',
        ),
        ("POST", "", [], b'{"event": "endpoint.url_validation"}'),
        ("POST", "", [], b"NaN url_verification Infinity"),
        ("GET", "challenge=a&challenge=b", [], b""),
        ("GET", "crc_token=a&crc_token=a", [], b""),
        ("POST", "validationToken=a&validationToken=b", [], b""),
        ("GET", "challenge=%FF%FE", [], b""),
        ("GET", "challenge=%", [], b""),
        ("GET", "challenge=%zz%", [], b""),
        ("GET", "challenge", [], b""),
        ("GET", "challenge=", [], b""),
        ("GET", "=&&&=challenge&challenge&&", [], b""),
        ("GET", "challenge=\udcff", [], b""),
        ("GET", "challenge=日本", [], b""),
        ("GET", "crc_token=" + "%F0" * 3000, [], b""),
        ("GET", "challenge=" + "a" * 70_000, [], b""),
        ("GET", "x=1&" * 20_000 + "challenge=a&challenge=b", [], b""),
        ("GET", "hub.mode=%00subscribe&hub.challenge=1", [], b""),
        ("", "", [], b""),
        ("POST", "", [], b"url_verification" * (BODY_CAP // 16 + 1)),
    ],
)
def test_hostile_input_does_not_raise(request_):
    method, query, headers, body = request_
    got = reply(method, query, headers, body, ALL_CONFIGURED)
    assert got is None or isinstance(got, HandshakeReply)


def test_hostile_query_outcomes():
    """The ones above that must not be answered, spelled out."""
    for query in ["challenge=a&challenge=b", "challenge=%FF%FE", "challenge=", "challenge"]:
        assert reply("GET", query, [], b"", ALL_CONFIGURED) is None, query
    assert reply("GET", "crc_token=a&crc_token=a", [], b"", ALL_CONFIGURED) is None


def test_hostile_settings_secret_does_not_raise():
    settings = HandshakeSettings(zoom_secret="\ud800", twitter_consumer_secret="\udfff")
    assert answer(ZOOM, settings) is None
    assert answer(TWITTER, settings) is None


def test_body_over_the_parse_cap_is_not_parsed():
    _, _, headers, body = SLACK
    padded = body[:-1] + b" " * (BODY_CAP - len(body) + 1) + b"}"
    assert len(padded) == BODY_CAP + 1
    assert reply("POST", "", headers, padded, DEFAULT) is None
    fits = body[:-1] + b" " * (BODY_CAP - len(body)) + b"}"
    assert len(fits) == BODY_CAP
    assert reply("POST", "", headers, fits, DEFAULT) is not None


@pytest.mark.parametrize(
    "body",
    [
        b"x" * (10 * 1024 * 1024),
        (b'{"type": "url_verification", "challenge": "' + b"a" * (10 * 1024 * 1024) + b'"}'),
        b"endpoint.url_validation" * (10 * 1024 * 1024 // 23),
    ],
    ids=["plain", "slack-shaped", "zoom-markers"],
)
def test_ten_mib_body_is_fast(body, monkeypatch):
    """A body over the cap is never parsed, whatever markers it holds: checked directly, on
    ``json.loads``. Anything else that could grow with the body (scans, decoding) has no
    such hook, so only a CPU budget can catch it becoming costly; ``process_time`` counts
    this process's CPU, not other load on the machine. The bound is some 1000 times what
    the call costs today (about 0.1 ms) and about what one Python-level pass over every
    byte costs, so it catches such a pass, or worse, without depending on machine load."""
    parsed: list[int] = []
    real_loads = json.loads

    def loads(text: str | bytes, **kwargs: object) -> object:
        parsed.append(len(text))
        return real_loads(text, **kwargs)

    monkeypatch.setattr(json, "loads", loads)
    start = time.process_time()
    got = reply("POST", "challenge=abc&page=1", JSON_HEADERS, body, ALL_CONFIGURED)
    spent = time.process_time() - start
    assert got is None
    assert parsed == []
    assert spent < 0.1


# --- settings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "enabled"),
    [
        (None, set(PROVIDERS)),
        ({}, set(PROVIDERS)),
        ([], set(PROVIDERS)),
        ("slack", set(PROVIDERS)),
        ({"enabled": "slack"}, set(PROVIDERS)),
        ({"enabled": None}, set(PROVIDERS)),
        ({"enabled": []}, set()),
        ({"enabled": ["slack", "bogus", 3, None, "zoom"]}, {"slack", "zoom"}),
        ({"enabled": {"zoom": False, "meta": 0, "bogus": False}}, set(PROVIDERS) - {"zoom"}),
        ({"disabled": ["meta", "twitter", 7]}, set(PROVIDERS) - {"meta", "twitter"}),
        ({"enabled": ["slack", "meta"], "disabled": ["meta"]}, {"slack"}),
    ],
)
def test_from_dict_enabled_is_tolerant(data, enabled):
    assert HandshakeSettings.from_dict(data).enabled == frozenset(enabled)


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("s3cret", "s3cret"),
        ("", None),
        (None, None),
        (123, None),
        (["s3cret"], None),
        ("x" * 5000, None),
    ],
)
def test_from_dict_secrets_are_tolerant(value, kept):
    data = {"meta_verify_token": value, "zoom_secret": value, "twitter_consumer_secret": value}
    settings = HandshakeSettings.from_dict(data)
    assert settings.meta_verify_token == kept
    assert settings.zoom_secret == kept
    assert settings.twitter_consumer_secret == kept


def test_to_dict_never_reveals_secrets():
    out = ALL_CONFIGURED.to_dict()
    assert out == {
        "enabled": list(PROVIDERS),
        "meta_verify_token_set": True,
        "zoom_secret_set": True,
        "twitter_consumer_secret_set": True,
    }
    text = json.dumps(out)
    for secret in (META_TOKEN, ZOOM_SECRET, TWITTER_SECRET):
        assert secret not in text
    assert HandshakeSettings(enabled=frozenset({"zoom", "slack"})).to_dict() == {
        "enabled": ["slack", "zoom"],
        "meta_verify_token_set": False,
        "zoom_secret_set": False,
        "twitter_consumer_secret_set": False,
    }


def test_to_dict_is_not_a_way_to_keep_secrets():
    # Feeding the public view back in must not invent secrets.
    again = HandshakeSettings.from_dict(ALL_CONFIGURED.to_dict())
    assert again.meta_verify_token is None and again.zoom_secret is None


@pytest.mark.parametrize(
    "settings",
    [
        ALL_CONFIGURED,
        DEFAULT,
        HandshakeSettings(enabled=frozenset()),
        HandshakeSettings(enabled=frozenset({"meta"}), meta_verify_token="t"),
    ],
)
def test_storage_dict_round_trips(settings):
    stored = json.loads(json.dumps(settings.to_storage_dict()))
    assert HandshakeSettings.from_dict(stored) == settings


def test_settings_ignore_unknown_providers():
    assert HandshakeSettings(enabled=frozenset({"slack", "nope"})).enabled == {"slack"}
