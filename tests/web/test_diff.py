"""Comparing two requests: ``GET /api/bins/{id}/requests/{a}/diff/{b}`` on a real server, and
the dashboard's fragments, for JSON, text and binary bodies and headers with repeats.

Requests are captured by a real ``webbin serve`` over raw HTTP, so repeated headers arrive
as separate lines in the order sent (no client library would keep them so).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

import pytest
from helpers import Server, capture_path, raw_http

from webbin.web import diff


def send(server: Server, bin_: dict, path: str, headers: list[tuple[str, str]], body: bytes) -> int:
    """Capture one request exactly as written; its id."""
    lines = [f"POST {capture_path(bin_)}{path} HTTP/1.1", "Host: webbin.test"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    answer = raw_http(server.port, head + body)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    return json.loads(answer.partition(b"\r\n\r\n")[2])["id"]


def get(server: Server, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(server.url + path, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def compared(server: Server, bin_: dict, a: int, b: int) -> dict:
    status, body = get(server, f"/api/bins/{bin_['id']}/requests/{a}/diff/{b}")
    assert status == 200, body
    return body


def changes(body: dict) -> set[tuple[str, str, str | None, str | None]]:
    return {(c["op"], c["pointer"], c["old"], c["new"]) for c in body["json_changes"]}


# --- JSON ------------------------------------------------------------------------------------

OLD_EVENT = {
    "id": "evt_1",
    "type": "invoice.paid",
    "data": {"object": {"amount": 100, "currency": "usd", "lines": [{"sku": "a"}, {"sku": "b"}]}},
    "livemode": False,
    "a/b~c": 1,
}
NEW_EVENT = {
    "id": "evt_1",
    "type": "invoice.paid",
    "data": {
        "object": {"amount": 250, "currency": "usd", "lines": [{"sku": "a"}, {"sku": "c"}, {"sku": "d"}]},
        "previous_attributes": {"amount": 100},
    },
    "a/b~c": "1",
}  # fmt: skip


def test_json_bodies_are_compared_structurally(server):
    bin_ = server.new_bin()
    json_type = [("Content-Type", "application/json")]
    a = send(server, bin_, "/stripe", json_type, json.dumps(OLD_EVENT).encode())
    b = send(server, bin_, "/stripe", json_type, json.dumps(NEW_EVENT, indent=2).encode())
    body = compared(server, bin_, a, b)["body"]
    assert (body["kind"], body["truncated"], body["note"]) == ("json", False, None)
    assert changes(body) == {
        ("changed", "/data/object/amount", "100", "250"),  # a nested change
        ("changed", "/data/object/lines/1/sku", '"b"', '"c"'),  # inside an array item
        ("added", "/data/object/lines/2", None, '{"sku":"d"}'),  # an array item added
        ("added", "/data/previous_attributes", None, '{"amount":100}'),  # an added key
        ("removed", "/livemode", "false", None),  # a removed key
        ("changed", "/a~1b~0c", "1", '"1"'),  # a number became a string; pointer escaped
    }
    # Re-indenting alone changes nothing: the other direction is the mirror image.
    mirror = compared(server, bin_, b, a)["body"]
    assert ("removed", "/data/previous_attributes", '{"amount":100}', None) in changes(mirror)


def test_json_numbers_compare_as_written_and_repeated_keys_fall_back_to_text():
    assert changes(diff.body_diff(b'{"n": 1.10}', b'{"n": 1.1}').model_dump()) == {
        ("changed", "/n", "1.10", "1.1")
    }
    assert diff.body_diff(b'{"t": true}', b'{"t": 1}').json_changes[0].new == "1"
    repeated = diff.body_diff(b'{"a": 1, "a": 2}', b'{"a": 2}')
    assert repeated.kind == "text" and "repeats a key" in repeated.note
    assert diff.body_diff(b"[1, 2, 3]", b"[1, 3]").json_changes[0].model_dump() == {
        "op": "removed",
        "pointer": "/1",
        "old": "2",
        "new": None,
    }
    whole = diff.body_diff(b"[1]", b'{"a": 1}').json_changes
    assert [(c.op, c.pointer) for c in whole] == [("changed", "")]


def test_a_large_json_diff_is_cut_and_says_so():
    old = json.dumps({f"k{i}": i for i in range(diff.MAX_CHANGES + 50)}).encode()
    new = json.dumps({f"k{i}": i + 1 for i in range(diff.MAX_CHANGES + 50)}).encode()
    body = diff.body_diff(old, new)
    assert body.truncated and len(body.json_changes) == diff.MAX_CHANGES and body.note
    deep = b"[" * 500 + b"1" + b"]" * 500
    assert diff.body_diff(deep, deep.replace(b"1", b"2")).json_changes[0].pointer.count("/") == (
        diff.DEPTH_CAP
    )


# --- text --------------------------------------------------------------------------------------


def test_text_bodies_get_a_unified_diff(server):
    bin_ = server.new_bin()
    old = "line one\nline two\nline three\n<script>alert(1)</script>\n"
    new = "line one\nline 2\nline three\n<script>alert(1)</script>\nadded\n"
    a = send(server, bin_, "/t", [("Content-Type", "text/plain")], old.encode())
    b = send(server, bin_, "/t", [("Content-Type", "text/plain")], new.encode())
    body = compared(server, bin_, a, b)["body"]
    assert body["kind"] == "text"
    lines = body["text_diff"].splitlines()
    assert lines[:2] == ["--- #1", "+++ #2"]
    assert "-line two" in lines and "+line 2" in lines and "+added" in lines
    assert " line three" in lines


def test_text_differing_only_in_line_endings_says_so():
    body = diff.body_diff(b"a\r\nb\r\n", b"a\nb\n")
    assert (body.kind, body.text_diff) == ("text", "")
    assert "line endings" in body.note


# --- binary ------------------------------------------------------------------------------------


def test_binary_bodies_are_summarised(server):
    bin_ = server.new_bin()
    old = bytes(range(256)) * 4
    new = old[:700] + b"\xde\xad" + old[702:] + b"tail"
    a = send(server, bin_, "/b", [("Content-Type", "application/octet-stream")], old)
    b = send(server, bin_, "/b", [("Content-Type", "application/octet-stream")], new)
    body = compared(server, bin_, a, b)["body"]
    assert (body["kind"], body["size_a"], body["size_b"]) == ("binary", 1024, 1028)
    binary = body["binary"]
    assert binary["first_difference"] == 700
    assert binary["window_offset"] == 672  # 16 bytes before, on a 16-byte line
    assert (
        binary["hex_a"]
        .splitlines()[1]
        .startswith("000002b0  b0 b1 b2 b3 b4 b5 b6 b7 b8 b9 ba bb bc")
    )
    assert (
        binary["hex_b"]
        .splitlines()[1]
        .startswith("000002b0  b0 b1 b2 b3 b4 b5 b6 b7 b8 b9 ba bb de ad")
    )
    assert len(binary["sha256_a"]) == 64 and binary["sha256_a"] != binary["sha256_b"]
    assert diff.first_difference(old, old + b"x") == len(old)  # one the start of the other


def test_identical_bodies():
    body = diff.body_diff(b"same", b"same")
    assert (body.kind, body.json_changes, body.text_diff, body.binary) == (
        "identical",
        None,
        None,
        None,
    )


# --- headers and the request line ----------------------------------------------------------------


def test_headers_are_aligned_in_order_with_repeats_kept(server):
    bin_ = server.new_bin()
    a = send(
        server,
        bin_,
        "/h?x=1",
        [("X-Rep", "1"), ("X-Rep", "2"), ("X-Gone", "bye"), ("X-Same", "s"), ("X-Rep", "3")],
        b"",
    )
    b = send(
        server,
        bin_,
        "/h?x=2",
        [
            ("X-Rep", "1"),
            ("X-Rep", "two"),
            ("X-Same", "s"),
            ("X-Rep", "3"),
            ("X-Rep", "4"),
            ("X-New", "hi"),
        ],
        b"",
    )
    result = compared(server, bin_, a, b)
    assert result["request_line"] == [{"field": "query_string", "old": "x=1", "new": "x=2"}]
    entries = [
        (e["op"], e["old"], e["new"])
        for e in result["headers"]["entries"]
        if (e["old"] or e["new"])[0].lower().startswith("x-")
    ]
    # Names as sent, in the order sent, each occurrence an entry of its own.
    assert entries == [
        ("same", ["X-Rep", "1"], ["X-Rep", "1"]),
        ("removed", ["X-Gone", "bye"], None),
        ("changed", ["X-Rep", "2"], ["X-Rep", "two"]),
        ("same", ["X-Same", "s"], ["X-Same", "s"]),
        ("same", ["X-Rep", "3"], ["X-Rep", "3"]),
        ("added", None, ["X-Rep", "4"]),
        ("added", None, ["X-New", "hi"]),
    ]
    assert (result["headers"]["added"], result["headers"]["removed"]) == (2, 1)
    assert result["headers"]["changed"] == 1
    assert result["body"]["kind"] == "identical"


def test_header_order_alone_is_a_difference():
    moved = diff.headers_diff([["A", "1"], ["B", "2"]], [["B", "2"], ["A", "1"]])
    assert sorted(e.op for e in moved.entries) == ["added", "removed", "same"]  # one moved
    case = diff.headers_diff([["content-type", "x"]], [["Content-Type", "x"]])
    assert [(e.op, e.old, e.new) for e in case.entries] == [
        ("changed", ("content-type", "x"), ("Content-Type", "x"))
    ]


def test_unknown_requests_are_404(server):
    bin_, other = server.new_bin(), server.new_bin()
    a = send(server, bin_, "/", [], b"")
    elsewhere = send(server, other, "/", [], b"")
    for path in (f"{a}/diff/999999", f"{a}/diff/{elsewhere}", f"999999/diff/{a}"):
        status, body = get(server, f"/api/bins/{bin_['id']}/requests/{path}")
        assert (status, body["error"]) == (404, "not_found")


# --- the dashboard's fragments -------------------------------------------------------------------


def dashboard_get(server: Server, path: str) -> tuple[int, str]:
    request = urllib.request.Request(server.url + path, headers={"HX-Request": "true"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


HOSTILE = '"><img src=x onerror=alert(1)>'


def test_compare_previous_picks_the_same_event_then_the_same_path(server):
    bin_ = server.new_bin()
    first = send(server, bin_, "/orders", [("X-GitHub-Delivery", "d-1")], b'{"n": 1}')
    send(server, bin_, "/orders", [("X-Other", "1")], b"{}")
    retry = send(server, bin_, "/other-path", [("X-GitHub-Delivery", "d-1")], b'{"n": 2}')
    later = send(
        server, bin_, "/orders", [("X-Evil", HOSTILE)], b'{"n": "' + HOSTILE.encode() + b'"}'
    )
    lonely = send(server, bin_, "/only-once", [], b"")

    status, html = dashboard_get(server, f"/bins/{bin_['id']}/requests/{retry}/compare-previous")
    assert status == 200
    assert f'data-old="{first}" data-new="{retry}"' in html and "previous of the same event" in html

    status, html = dashboard_get(server, f"/bins/{bin_['id']}/requests/{later}/compare-previous")
    assert f'data-new="{later}"' in html and "previous of the same path" in html
    assert HOSTILE not in html and "&lt;img src=x onerror=alert(1)&gt;" in html  # escaped

    status, html = dashboard_get(server, f"/bins/{bin_['id']}/requests/{lonely}/compare-previous")
    assert "No earlier request has the same event or path" in html


@pytest.mark.parametrize(
    "path", ["/compare/{a}/{b}", "/requests/{a}/compare-previous", "/requests/{a}/edit"]
)
def test_fragments_outside_htmx_lead_to_the_bin_page(server, path):
    bin_ = server.new_bin()
    a = send(server, bin_, "/", [], b"")
    url = server.url + f"/bins/{bin_['id']}" + path.format(a=a, b=a)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as raised:
        opener.open(url, timeout=10)
    assert raised.value.code == 302
    assert re.search(rf"/bins/{re.escape(bin_['id'])}\?r={a}$", raised.value.headers["Location"])
