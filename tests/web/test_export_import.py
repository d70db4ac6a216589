"""Export and import: NDJSON round trips byte for byte, HAR is valid HAR 1.2 (checked against
a schema written from the spec) and round trips too, DevTools and HTTP Toolkit files import,
malformed files are refused whole, an import is one transaction that keeps the bin's count
and numbering exact and tells live viewers, and retention ages imported requests from their
import. Against a real ``webbin serve`` where it is about what goes over the wire."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import Server, allow_captured_rows, capture_path, raw_http, refuse_captured_rows
from jsonschema import Draft202012Validator
from websockets.sync.client import connect as ws_connect

from webbin.storage.retention import prune

HAR_SCHEMA = json.loads((Path(__file__).parent / "fixtures" / "har-1.2.schema.json").read_text())
BINARY = bytes(range(256)) * 3
# Compared between a request and its imported copy: everything but what the import renews.
EXACT = ("method", "path", "query_string", "headers", "body_base64", "received_at", "url")


# --- helpers ----------------------------------------------------------------------------


def call(
    server: Server, method: str, path: str, data: bytes | None = None, content_type: str = ""
) -> tuple[int, Any, dict[str, str]]:
    """(status, body as JSON or bytes, headers) of one API call."""
    request = urllib.request.Request(server.url + path, data=data, method=method)
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, body, headers = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        status, body, headers = error.code, error.read(), dict(error.headers)
    exported = "/export" in path and status == 200  # a file: the test reads it itself
    if headers.get("Content-Type", "").startswith("application/json") and not exported:
        return status, json.loads(body), headers
    return status, body, headers


def send(server: Server, bin_: dict, method: str, target: str, headers: list, body: bytes) -> None:
    """One request exactly as written (repeated headers, odd methods), answered 200."""
    head = [f"{method} {capture_path(bin_)}{target} HTTP/1.1", "Host: 127.0.0.1"]
    head += [f"{name}: {value}" for name, value in headers]
    head += [f"Content-Length: {len(body)}", "Connection: close"]
    answer = raw_http(server.port, ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]


def odd_requests(server: Server, bin_: dict) -> None:
    """Requests that are easy to get wrong: binary, repeated and underscored headers, an
    extension method, a lowercase method, repeated and odd query parameters, a form."""
    send(
        server,
        bin_,
        "POST",
        "/bin?a=1&a=2&b=%20&c&d=%ff",
        [("X-Dup", "one"), ("X-Dup", "two"), ("Content-Type", "application/octet-stream")],
        BINARY,
    )
    send(server, bin_, "PURGE", "/cache/x%2Fy", [("X_Under", "1"), ("X-Dup", "a,b")], b"")
    send(
        server,
        bin_,
        "post",
        "/lower",
        [("Content-Type", "application/json")],
        '{"snow": "\u2603"}'.encode(),
    )
    send(
        server,
        bin_,
        "PUT",
        "/form?z=9",
        [("Content-Type", "application/x-www-form-urlencoded")],
        b"a=1&b=%20+x&a=2&empty=",
    )
    send(server, bin_, "GET", "/frag#x?y=1#z", [("Accept", "*/*")], b"")  # "#" reaches servers


def details(server: Server, bin_id: str) -> list[dict]:
    """Every request of the bin with headers and body, oldest first."""
    status, page, _ = call(server, "GET", f"/api/bins/{bin_id}/requests?limit=500")
    assert status == 200
    found = []
    for summary in reversed(page["requests"]):
        status, detail, _ = call(server, "GET", f"/api/bins/{bin_id}/requests/{summary['id']}")
        found.append(detail)
    return found


def exact(requests: list[dict]) -> list[tuple]:
    return [tuple(json.dumps(r[key]) for key in EXACT) for r in requests]


def har_entries(har: dict) -> list[dict]:
    Draft202012Validator(HAR_SCHEMA).validate(har)
    for entry in har["log"]["entries"]:
        # "The time value for the request must be equal to the sum of the timings."
        timings = [v for k, v in entry["timings"].items() if k != "comment" and v != -1]
        assert entry["time"] == sum(timings)
    return har["log"]["entries"]


# --- NDJSON -----------------------------------------------------------------------------


def test_ndjson_round_trip_is_byte_exact(server: Server):
    source, target = server.new_bin(), server.new_bin()
    odd_requests(server, source)
    originals = details(server, source["id"])
    assert [r["method"] for r in originals] == ["POST", "PURGE", "post", "PUT", "GET"]
    assert [h for h in originals[0]["headers"] if h[0] == "X-Dup"] == [
        ["X-Dup", "one"],
        ["X-Dup", "two"],
    ]

    status, exported, headers = call(server, "GET", f"/api/bins/{source['id']}/export")
    assert status == 200
    assert headers["Content-Type"] == "application/x-ndjson"
    assert headers["Content-Disposition"].startswith('attachment; filename="webbin-bin-')
    assert headers.get("Transfer-Encoding") == "chunked"  # written while it is read
    lines = exported.decode().splitlines()
    assert [json.loads(line) for line in lines] == originals  # the API's own objects

    status, result, _ = call(
        server, "POST", f"/api/bins/{target['id']}/import", exported, "application/x-ndjson"
    )
    assert status == 201, result
    copies = details(server, target["id"])
    assert result == {"imported": 5, "ids": [c["id"] for c in copies]}
    assert exact(copies) == exact(originals)
    assert base64.b64decode(copies[0]["body_base64"]) == BINARY
    assert [c["seq"] for c in copies] == [1, 2, 3, 4, 5]
    assert min(c["id"] for c in copies) > max(o["id"] for o in originals)  # new ids

    # The count and the numbering go on exactly from there.
    status, bin_, _ = call(server, "GET", f"/api/bins/{target['id']}")
    assert bin_["request_count"] == 5
    request = urllib.request.Request(target["capture_url"] + "/after", data=b"x", method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert json.load(answer)["seq"] == 6

    # Exporting the copy gives the same requests again, but for their new ids and numbers.
    _, again, _ = call(server, "GET", f"/api/bins/{target['id']}/export")
    renewed = ("id", "seq", "duplicate_of")
    strip = lambda r: {k: v for k, v in r.items() if k not in renewed}  # noqa: E731
    assert [strip(json.loads(line)) for line in again.decode().splitlines()[:5]] == [
        strip(o) for o in originals
    ]


def test_export_selects_by_ids_and_refuses_what_it_cannot_select(server: Server):
    bin_, other = server.new_bin(), server.new_bin()
    odd_requests(server, bin_)
    odd_requests(server, other)
    ids = [r["id"] for r in details(server, bin_["id"])]
    theirs = details(server, other["id"])[0]["id"]
    api = f"/api/bins/{bin_['id']}/export"

    _, chosen, _ = call(server, "GET", f"{api}?ids={ids[3]},{ids[0]}&ids={ids[3]}")
    assert [json.loads(line)["id"] for line in chosen.decode().splitlines()] == [ids[0], ids[3]]

    # A search selects as the list's search box does: only the PURGE, oldest first.
    _, searched, _ = call(server, "GET", f"{api}?q=method:PURGE")
    lines = [json.loads(line) for line in searched.decode().splitlines()]
    assert [line["method"] for line in lines] == ["PURGE"]
    _, negated, _ = call(server, "GET", f"{api}?q=-method:PURGE")
    assert [json.loads(line)["id"] for line in negated.decode().splitlines()] == sorted(
        i for i in ids if i != lines[0]["id"]
    )

    for query, path, words in [
        (f"?ids={theirs}", "ids[0]", f"no request {theirs} in this bin"),
        ("?ids=1,x", "ids", "whole numbers"),
        ("?q=verdict:sideways", "q", "At character 1"),
        (f"?q=&ids={ids[0]}", "", "not both"),
    ]:
        status, error, _ = call(server, "GET", api + query)
        assert status == 400, query
        assert error["errors"][0]["path"] == path
        assert words in error["errors"][0]["message"]
    status, error, _ = call(server, "GET", api + "?format=xml")
    assert (status, error["message"]) == (400, "'format' must be ndjson or har.")
    assert call(server, "GET", "/api/bins/nope/export")[0] == 404


# --- HAR --------------------------------------------------------------------------------


def test_har_export_is_valid_har_1_2_and_round_trips(server: Server):
    source, target = server.new_bin(), server.new_bin()
    odd_requests(server, source)
    originals = details(server, source["id"])

    status, exported, headers = call(server, "GET", f"/api/bins/{source['id']}/export?format=har")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    har = json.loads(exported)
    entries = har_entries(har)
    assert har["log"]["creator"]["name"] == "webbin"
    binary, purge, text, form, get = entries

    assert binary["request"]["url"] == originals[0]["url"]
    assert binary["request"]["postData"]["text"] == ""  # not text: the bytes are aside
    assert base64.b64decode(binary["request"]["postData"]["_bodyBase64"]) == BINARY
    assert binary["request"]["bodySize"] == len(BINARY)
    assert [
        (h["name"], h["value"]) for h in binary["request"]["headers"] if h["name"] == "X-Dup"
    ] == [("X-Dup", "one"), ("X-Dup", "two")]
    assert binary["request"]["queryString"] == [
        {"name": "a", "value": "1"},
        {"name": "a", "value": "2"},
        {"name": "b", "value": " "},
        {"name": "c", "value": ""},
        {"name": "d", "value": "\ufffd"},
    ]
    assert "postData" not in purge["request"] and "postData" not in get["request"]
    assert get["request"]["url"].endswith("/frag%23x?y=1%23z")
    assert (get["_webbin"]["path"], get["_webbin"]["query_string"]) == ("/frag#x", "y=1#z")
    assert text["request"]["postData"] == {
        "mimeType": "application/json",
        "text": '{"snow": "\u2603"}',
    }
    assert form["request"]["postData"]["params"] == [
        {"name": "a", "value": "1"},
        {"name": "b", "value": "  x"},
        {"name": "a", "value": "2"},
        {"name": "empty", "value": ""},
    ]
    assert "text" not in form["request"]["postData"]  # text and params are exclusive
    for entry, original in zip(entries, originals, strict=True):
        assert entry["startedDateTime"] == original["received_at"]
        assert entry["response"]["status"] == original["response_status"] == 200
        assert entry["_webbin"]["path"] == original["path"]
        assert entry["_webbin"]["id"] == original["id"]

    status, result, _ = call(
        server, "POST", f"/api/bins/{target['id']}/import", exported, "application/json"
    )
    assert status == 201, result
    assert exact(details(server, target["id"])) == exact(originals)


def devtools_har() -> dict:
    """What Chrome's DevTools saves ("Save all as HAR with content"), in its own shape:
    HTTP/2 pseudo-headers, lowercase names, a form with both text and params, extra fields."""
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "WebInspector", "version": "537.36"},
            "pages": [
                {
                    "startedDateTime": "2026-11-20T09:00:00.000Z",
                    "id": "page_1",
                    "title": "x",
                    "pageTimings": {"onContentLoad": -1, "onLoad": -1},
                }
            ],
            "entries": [
                {
                    "_initiator": {"type": "script"},
                    "_priority": "High",
                    "_resourceType": "fetch",
                    "cache": {},
                    "connection": "443",
                    "pageref": "page_1",
                    "request": {
                        "method": "POST",
                        "url": "https://api.example.com/v1/hooks?source=devtools&x=1&x=2",
                        "httpVersion": "http/2.0",
                        "headers": [
                            {"name": ":authority", "value": "api.example.com"},
                            {"name": ":method", "value": "POST"},
                            {"name": ":path", "value": "/v1/hooks?source=devtools&x=1&x=2"},
                            {"name": ":scheme", "value": "https"},
                            {"name": "content-type", "value": "application/x-www-form-urlencoded"},
                            {"name": "cookie", "value": "a=1"},
                            {"name": "cookie", "value": "b=2"},
                        ],
                        "queryString": [{"name": "source", "value": "devtools"}],
                        "cookies": [
                            {
                                "name": "a",
                                "value": "1",
                                "path": "/",
                                "domain": "api.example.com",
                                "expires": None,
                                "httpOnly": False,
                                "secure": True,
                            }
                        ],
                        "headersSize": -1,
                        "bodySize": 13,
                        "postData": {
                            "mimeType": "application/x-www-form-urlencoded",
                            "text": "a=1&b=%20+%C3",
                            "params": [
                                {"name": "a", "value": "1"},
                                {"name": "b", "value": "  \ufffd"},
                            ],
                        },
                        "_bodyBase64": "aWdub3JlZA==",  # another tool's custom field: ignored
                    },
                    "response": {
                        "status": 201,
                        "statusText": "",
                        "httpVersion": "http/2.0",
                        "headers": [],
                        "cookies": [],
                        "content": {"size": 0, "mimeType": "x-unknown"},
                        "redirectURL": "",
                        "headersSize": -1,
                        "bodySize": -1,
                        "_transferSize": 120,
                        "_error": None,
                    },
                    "serverIPAddress": "93.184.216.34",
                    "startedDateTime": "2026-11-20T10:15:30.123+01:00",
                    "time": 42.5,
                    "timings": {
                        "blocked": 1.2,
                        "dns": -1,
                        "ssl": -1,
                        "connect": -1,
                        "send": 0.1,
                        "wait": 40,
                        "receive": 1.2,
                        "_blocked_queueing": 0.8,
                    },
                },
                {
                    "cache": {},
                    "request": {
                        "method": "GET",
                        "url": "https://api.example.com/",
                        "httpVersion": "http/2.0",
                        "headers": [],
                        "queryString": [],
                        "cookies": [],
                        "headersSize": -1,
                        "bodySize": 0,
                    },
                    "response": {
                        "status": 200,
                        "statusText": "",
                        "httpVersion": "http/2.0",
                        "headers": [],
                        "cookies": [],
                        "content": {"size": 0, "mimeType": "text/html"},
                        "redirectURL": "",
                        "headersSize": -1,
                        "bodySize": -1,
                    },
                    "startedDateTime": "2026-11-20T09:15:31Z",
                    "time": 0,
                    "timings": {"send": 0, "wait": 0, "receive": 0},
                },
            ],
        }
    }


def test_a_devtools_har_imports(server: Server):
    bin_ = server.new_bin()
    data = json.dumps(devtools_har()).encode()
    status, result, _ = call(
        server, "POST", f"/api/bins/{bin_['id']}/import", data, "application/json"
    )
    assert status == 201, result
    form, root = details(server, bin_["id"])
    assert (form["method"], form["path"], form["query_string"]) == (
        "POST",
        "/v1/hooks",
        "source=devtools&x=1&x=2",
    )
    assert form["headers"] == [
        ["content-type", "application/x-www-form-urlencoded"],
        ["cookie", "a=1"],
        ["cookie", "b=2"],
    ]
    assert base64.b64decode(form["body_base64"]) == b"a=1&b=%20+%C3"  # text wins over params
    assert form["received_at"] == "2026-11-20T09:15:30.123000Z"
    assert form["url"] == "https://api.example.com/v1/hooks?source=devtools&x=1&x=2"
    assert form["content_type"] == "application/x-www-form-urlencoded"
    assert (root["method"], root["path"], root["query_string"], root["body_base64"]) == (
        "GET",
        "/",
        "",
        "",
    )


def test_http_toolkit_and_other_har_bodies_import(server: Server):
    """HTTP Toolkit puts a body that is not text in ``_content`` (base64); other tools put
    base64 in ``postData.text`` with ``encoding``, or only ``params``."""

    def entry(request: dict) -> dict:
        base = {
            "method": "POST",
            "url": "http://example.com/p",
            "httpVersion": "HTTP/1.1",
            "headers": [],
            "queryString": [],
            "cookies": [],
            "headersSize": -1,
            "bodySize": -1,
        }
        return {
            "startedDateTime": "2026-11-20T10:00:00Z",
            "time": 0,
            "request": {**base, **request},
            "response": {},
            "cache": {},
            "timings": {"send": 0, "wait": 0, "receive": 0},
        }

    toolkit = {
        "log": {
            "version": "1.2",
            "creator": {"name": "HTTP Toolkit", "version": "1.19.0"},
            "entries": [
                entry(
                    {
                        "_requestBodyStatus": "discarded:not-representable",
                        "_content": {
                            "text": base64.b64encode(BINARY).decode(),
                            "size": len(BINARY),
                            "encoding": "base64",
                        },
                    }
                ),
                entry({"postData": {"mimeType": "text/plain", "text": "plain", "params": []}}),
            ],
        }
    }
    other = {
        "log": {
            "version": "1.2",
            "creator": {"name": "Charles Proxy", "version": "4.6"},
            "entries": [
                entry(
                    {
                        "postData": {
                            "mimeType": "application/octet-stream",
                            "text": base64.b64encode(b"\x00\x01").decode(),
                            "encoding": "base64",
                        }
                    }
                ),
                entry(
                    {
                        "postData": {
                            "mimeType": "application/x-www-form-urlencoded",
                            "params": [{"name": "a b", "value": "c&d"}, {"name": "e"}],
                        }
                    }
                ),
                entry(
                    {"_content": {"text": "aWdub3JlZA==", "encoding": "base64"}}
                ),  # not Charles's field
            ],
        }
    }
    for har, bodies in [
        (toolkit, [BINARY, b"plain"]),
        (other, [b"\x00\x01", b"a+b=c%26d&e=", b""]),
    ]:
        bin_ = server.new_bin()
        status, result, _ = call(
            server, "POST", f"/api/bins/{bin_['id']}/import", json.dumps(har).encode()
        )
        assert status == 201, result  # no content type: recognised as HAR by its content
        assert [base64.b64decode(r["body_base64"]) for r in details(server, bin_["id"])] == bodies


# --- refusals ---------------------------------------------------------------------------

GOOD = json.dumps(
    {
        "method": "POST",
        "path": "/ok",
        "query_string": "",
        "headers": [["A", "1"]],
        "body_base64": "",
        "received_at": "2026-11-20T10:00:00.000001Z",
    }
)


def line(**changes: Any) -> str:
    return json.dumps({**json.loads(GOOD), **changes})


MALFORMED = [
    (f"{GOOD}\n{GOOD}\nnot json\n", "ndjson", "line 3", "Invalid JSON"),
    (f"{GOOD}\n{line(body_base64='%%%')}\n", "ndjson", "line 2: body_base64", "not valid base64"),
    (
        line(headers=[["A", "1"], ["B", "x\r\nInjected: yes"]]),
        "ndjson",
        "line 1: headers[1]",
        "CR, LF or NUL",
    ),
    (line(headers=[["Bad Name", "1"]]), "ndjson", "line 1: headers[0]", "header name"),
    (line(headers=[["A"]]), "ndjson", "line 1: headers[0][1]", "required"),
    (line(method="GET /x"), "ndjson", "line 1: method", "HTTP method"),
    (line(path="no-slash"), "ndjson", "line 1: path", "start with /"),
    (line(path="/a?b"), "ndjson", "line 1: path", "?"),
    (line(query_string="a\nb"), "ndjson", "line 1: query_string", "CR, LF or NUL"),
    (line(received_at="2026-11-20T10:00:00"), "ndjson", "line 1: received_at", "time zone"),
    (line(received_at="yesterday"), "ndjson", "line 1: received_at", "ISO 8601"),
    (line(body_base64="eA==", size=2), "ndjson", "line 1: size", "holds 1 bytes"),
    (line(path="/\ud800"), "ndjson", "line 1", "hex escape"),  # JSON with a lone surrogate
    (
        json.dumps(
            {
                "log": {
                    "entries": [
                        {
                            "startedDateTime": "2026-11-20T10:00:00Z",
                            "request": {"method": "GET", "url": "http://x/\ud800", "headers": []},
                        }
                    ]
                }
            }
        ),
        "har",
        "log.entries[0].request.url",
        "Unicode",
    ),
    (line(method=5), "ndjson", "line 1: method", "string"),
    ("[]", "ndjson", "line 1", "object"),
    ("\n\n", "ndjson", "", "holds no requests"),
    ("{", "har", "", "not a JSON document"),
    ('{"log": {"entries": {}}}', "har", "log.entries", "list"),
    ('{"log": {"entries": []}}', "har", "", "holds no requests"),
    (
        json.dumps(
            {
                "log": {
                    "entries": [
                        {
                            "startedDateTime": "2026-11-20T10:00:00Z",
                            "request": {"method": "GET", "url": "/relative", "headers": []},
                        }
                    ]
                }
            }
        ),
        "har",
        "log.entries[0].request.url",
        "absolute",
    ),
    (
        json.dumps(
            {
                "log": {
                    "entries": [
                        {
                            "startedDateTime": "2026-11-20T10:00:00Z",
                            "request": {"method": "GET", "headers": []},
                        }
                    ]
                }
            }
        ),
        "har",
        "log.entries[0].request.url",
        "required",
    ),
    (
        json.dumps(
            {
                "log": {
                    "entries": [
                        {
                            "startedDateTime": "2026-11-20T10:00:00Z",
                            "request": {
                                "method": "POST",
                                "url": "http://x/",
                                "headers": [],
                                "bodySize": 10,
                            },
                        }
                    ]
                }
            }
        ),
        "har",
        "log.entries[0].request",
        "left out",
    ),
    (
        json.dumps(
            {
                "log": {
                    "entries": [
                        {
                            "startedDateTime": "2026-11-20T10:00:00Z",
                            "request": {
                                "method": "POST",
                                "url": "http://x/",
                                "headers": [],
                                "postData": {
                                    "mimeType": "multipart/form-data",
                                    "params": [{"name": "f", "fileName": "a.bin"}],
                                },
                            },
                        }
                    ]
                }
            }
        ),
        "har",
        "log.entries[0].request.postData.params",
        "URL-encoded",
    ),
    (
        json.dumps(
            {
                "log": {
                    "creator": {"name": "webbin", "version": "0"},
                    "entries": [
                        {
                            "startedDateTime": "2026-11-20T10:00:00Z",
                            "request": {
                                "method": "POST",
                                "url": "http://x/",
                                "headers": [],
                                "postData": {"mimeType": "", "text": "", "_bodyBase64": "!"},
                            },
                        }
                    ],
                }
            }
        ),
        "har",
        "log.entries[0].request.postData._bodyBase64",
        "base64",
    ),
]


@pytest.fixture(scope="module")
def empty_bin(server: Server) -> dict:
    """One bin for every refused import: each must leave it as empty as it was."""
    return server.new_bin()


@pytest.mark.parametrize(("data", "fmt", "path", "words"), MALFORMED)
def test_malformed_imports_are_refused_and_nothing_is_applied(
    server: Server, empty_bin, data, fmt, path, words
):
    bin_ = empty_bin
    status, error, _ = call(
        server,
        "POST",
        f"/api/bins/{bin_['id']}/import?format={fmt}",
        data.encode("utf-8", "surrogatepass"),
    )
    assert status == 400, error
    assert error["message"].startswith("Nothing was imported.")
    assert any(e["path"] == path and words in e["message"] for e in error["errors"]), error[
        "errors"
    ]
    assert call(server, "GET", f"/api/bins/{bin_['id']}")[1]["request_count"] == 0
    assert call(server, "GET", f"/api/bins/{bin_['id']}/requests")[1]["requests"] == []


def test_an_import_past_the_limit_is_413(tmp_path: Path):
    server = Server(tmp_path, env={"WEBBIN_IMPORT_MAX_BYTES": "1000"})
    try:
        bin_ = server.new_bin()
        too_large = ((GOOD + "\n") * 20).encode()
        status, error, _ = call(
            server, "POST", f"/api/bins/{bin_['id']}/import", too_large, "application/x-ndjson"
        )
        assert status == 413
        assert "IMPORT_MAX_BYTES" in error["message"]
        assert call(server, "GET", f"/api/bins/{bin_['id']}")[1]["request_count"] == 0
        ok = ((GOOD + "\n") * 3).encode()
        assert len(ok) < 1000
        assert (
            call(server, "POST", f"/api/bins/{bin_['id']}/import", ok, "application/x-ndjson")[0]
            == 201
        )
    finally:
        server.stop()


# --- one transaction, counts, live viewers ------------------------------------------------


def test_live_viewers_are_told_of_an_import(server: Server):
    bin_ = server.new_bin()
    data = "\n".join(line(path=f"/live/{n}") for n in range(3)).encode()
    with ws_connect(
        f"ws://127.0.0.1:{server.port}/api/bins/{bin_['id']}/stream", open_timeout=10
    ) as ws:
        status, result, _ = call(
            server, "POST", f"/api/bins/{bin_['id']}/import", data, "application/x-ndjson"
        )
        assert status == 201
        seen = [json.loads(ws.recv(timeout=10)) for _ in range(3)]
    assert [s["path"] for s in seen] == ["/live/0", "/live/1", "/live/2"]
    assert [s["id"] for s in seen] == result["ids"]


def test_an_import_failing_in_the_database_stores_nothing(app: Flask, client: FlaskClient):
    """A row late in a large import is refused by the database: none are kept."""
    bin_ = client.post("/api/bins").get_json()
    client.post(capture_path(bin_) + "/before", data=b"x")
    data = "\n".join(line(path=f"/n/{n}") for n in range(1500)).encode()
    refuse_captured_rows(app, path="/n/1200")
    try:
        failed = client.post(
            f"/api/bins/{bin_['id']}/import", data=data, content_type="application/x-ndjson"
        )
    finally:
        allow_captured_rows(app)
    assert failed.status_code == 503
    assert client.get(f"/api/bins/{bin_['id']}").get_json()["request_count"] == 1
    assert len(client.get(f"/api/bins/{bin_['id']}/requests").get_json()["requests"]) == 1
    assert client.post(capture_path(bin_) + "/after", data=b"x").get_json()["seq"] == 2

    done = client.post(
        f"/api/bins/{bin_['id']}/import", data=data, content_type="application/x-ndjson"
    )
    assert done.status_code == 201
    assert client.get(f"/api/bins/{bin_['id']}").get_json()["request_count"] == 1502
    assert client.post(capture_path(bin_) + "/last", data=b"x").get_json()["seq"] == 1503


def test_retention_ages_imported_requests_from_their_import(app: Flask, client: FlaskClient):
    """Imported requests keep their old received time but have the newest ids: pruning by
    age must neither delete the bin's fresh captures nor an import made today."""
    bin_ = client.post("/api/bins").get_json()
    for name in ("live-1", "live-2"):
        client.post(capture_path(bin_) + "/" + name, data=b"x")
    old = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    data = "\n".join(line(path=f"/old/{n}", received_at=old) for n in range(2)).encode()
    assert client.post(f"/api/bins/{bin_['id']}/import", data=data).status_code == 201

    with app.app_context():
        assert prune(app).expired_requests == 0
    paths = {
        r["path"] for r in client.get(f"/api/bins/{bin_['id']}/requests").get_json()["requests"]
    }
    assert paths == {"/live-1", "/live-2", "/old/0", "/old/1"}
    with app.app_context():
        assert prune(app, now=datetime.now(UTC) + timedelta(days=31)).expired_requests == 4
    assert client.get(f"/api/bins/{bin_['id']}").get_json()["request_count"] == 0
