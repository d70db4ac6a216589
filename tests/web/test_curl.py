"""The "as curl" command: a faithful, inert replay line.

The unit tests read the command back with ``shlex``; the end-to-end tests run it with the
real curl against a real ``webbin serve`` and compare what the bin captured the second time
with what it captured the first.
"""

from __future__ import annotations

import base64
import html
import json
import re
import shlex
import shutil
import subprocess
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import Server, capture_path, raw_http

from webbin.storage.models import CapturedRequest
from webbin.web.curl import MAX_INLINE_BODY, curl_command


def captured(
    body: bytes, headers: list[list[str]] | None = None, method: str = "PATCH"
) -> CapturedRequest:
    return CapturedRequest(
        method=method,
        seq=7,
        path="/x",
        query_string="",
        body=body,
        size=len(body),
        headers=headers
        or [
            ["Host", "bin.example"],
            ["Content-Length", str(len(body))],
            ["X-Sig", "it's; $(rm -rf /) `id`"],
            ["X-Sig", "second"],
        ],
        received_at=datetime.now(UTC),
        url="https://bin.example/c/t/x",
    )


def header_args(command: str) -> list[str]:
    args = shlex.split(command)
    return [args[i + 1] for i, a in enumerate(args) if a == "-H"]


def test_the_command_parses_back_to_the_same_request():
    body = b'{"name": "O\'Brien", "cmd": "$(whoami)"}'
    command, note = curl_command(captured(body), "https://bin.example/c/t/x?a=1&b=2")
    args = shlex.split(command)
    assert args[:4] == ["curl", "-X", "PATCH", "https://bin.example/c/t/x?a=1&b=2"]
    # No Host/Length; curl's own additions switched off.
    assert header_args(command) == [
        "X-Sig: it's; $(rm -rf /) `id`",
        "X-Sig: second",
        "User-Agent:",
        "Accept:",
        "Content-Type:",
        "Expect:",
    ]
    assert args[-2:] == ["--data-raw", body.decode()]
    assert note is None


@pytest.mark.parametrize(
    "body",
    [b"\x00\xff binary", b"x" * (MAX_INLINE_BODY + 1), b"--b\r\nmultipart\r\n--b--\r\n"],
    ids=["binary", "large", "carriage-returns"],
)
def test_binary_or_large_bodies_point_at_the_raw_download_by_its_name(body):
    command, note = curl_command(captured(body), "http://h/c/t")
    assert command.endswith("--data-binary @request-7.bin")
    assert "request-7.bin" in note


def test_a_body_that_starts_with_an_at_sign_is_text_not_a_file_name():
    command, _ = curl_command(captured(b"@/etc/passwd"), "http://h/c/t")
    assert shlex.split(command)[-2:] == ["--data-raw", "@/etc/passwd"]


def test_no_body_no_data_flag_and_no_body_headers_removed():
    command, _ = curl_command(captured(b"", method="GET"), "http://h/c/t")
    assert "--data" not in command and "-X" not in shlex.split(command)
    assert header_args(command)[-2:] == ["User-Agent:", "Accept:"]


def test_head_uses_the_head_option():
    command, note = curl_command(captured(b"", method="HEAD"), "http://h/c/t")
    args = shlex.split(command)
    assert "--head" in args and "-X" not in args and note is None
    command, note = curl_command(captured(b"x", method="HEAD"), "http://h/c/t")
    assert "--data" not in command and "HEAD" in note


def test_an_empty_header_value_is_kept_and_captured_defaults_replace_curls():
    headers = [["X-Empty", ""], ["User-Agent", "Stripe/1.0"], ["Accept", "*/*; q=0.5"]]
    command, _ = curl_command(captured(b"", headers, "GET"), "http://h/c/t")
    assert header_args(command) == [
        "X-Empty;",
        "User-Agent: Stripe/1.0",
        "Accept: */*; q=0.5",
    ]


def test_globs_and_dot_segments_reach_curl_as_written():
    command, _ = curl_command(captured(b"", method="GET"), "http://h/c/t/a/../{x}[1]")
    args = shlex.split(command)
    assert {"--globoff", "--path-as-is"} <= set(args)
    assert "http://h/c/t/a/../{x}[1]" in args


# --- end to end with the real curl -----------------------------------------------------

CURL = shutil.which("curl")
# Headers the client's connection decides, not the request: neither side keeps them.
CONNECTION_HEADERS = {"host", "content-length", "connection"}


def get_json(server: Server, path: str) -> dict:
    with urllib.request.urlopen(server.url + path, timeout=10) as response:
        return json.load(response)


def curl_block(server: Server, bin_id: str, request_id: int) -> str:
    with urllib.request.urlopen(f"{server.url}/bins/{bin_id}?r={request_id}", timeout=10) as r:
        page = r.read().decode()
    match = re.search(rf'<pre class="code" id="curl-{request_id}"[^>]*>(.*?)</pre>', page, re.S)
    assert match, "the request's page has no curl block"
    return html.unescape(match.group(1))


def kept_headers(detail: dict) -> list[list[str]]:
    return [pair for pair in detail["headers"] if pair[0].lower() not in CONNECTION_HEADERS]


@pytest.mark.skipif(CURL is None, reason="curl is not installed (.ci/run installs it)")
@pytest.mark.parametrize(
    ("method", "headers", "body"),
    [
        (
            "POST",
            [("Content-Type", "application/json"), ("X-Sig", "a"), ("X-Empty", ""), ("X-Sig", "b")],
            b'{"it\'s": "$(id)", "at": "@x"}\n',
        ),
        ("POST", [("X-Only", "1")], b"@request.bin"),  # no Content-Type; @ is not a file
        ("HEAD", [("User-Agent", "GitHub-Hookshot/1"), ("Accept", "*/*")], b""),
        ("GET", [], b""),  # nothing of curl's own may appear
        ("PUT", [("Content-Type", "application/octet-stream")], bytes(range(256)) * 3),
        ("DELETE", [("X-Trace", "t")], b"--b\r\nx\r\n--b--\r\n"),
    ],
    ids=["json", "no-content-type", "head", "bare-get", "binary-put", "crlf-delete"],
)
def test_running_the_command_captures_the_same_request(
    server: Server, tmp_path: Path, method: str, headers: list[tuple[str, str]], body: bytes
):
    bin_ = server.new_bin()
    lines = [
        f"{method} {capture_path(bin_)}/hook/a?x=1&y= HTTP/1.1",
        f"Host: 127.0.0.1:{server.port}",
    ]
    lines += [f"{name}: {value}" for name, value in headers]
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    raw_http(server.port, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    [first] = get_json(server, f"/api/bins/{bin_['id']}/requests")["requests"]

    command = curl_block(server, bin_["id"], first["id"])
    if "--data-binary @" in command:
        name = shlex.split(command)[-1].removeprefix("@")
        url = f"{server.url}/bins/{bin_['id']}/requests/{first['id']}/raw"
        with urllib.request.urlopen(url, timeout=10) as download:
            assert download.headers.get_filename() == name
            (tmp_path / name).write_bytes(download.read())
    run = subprocess.run(
        ["bash", "-c", command + " --silent --show-error --output /dev/null"],
        cwd=tmp_path,
        capture_output=True,
        timeout=20,  # `-X HEAD` would hang here
    )
    assert run.returncode == 0, run.stderr

    second, again = get_json(server, f"/api/bins/{bin_['id']}/requests")["requests"]
    original = get_json(server, f"/api/bins/{bin_['id']}/requests/{first['id']}")
    replay = get_json(server, f"/api/bins/{bin_['id']}/requests/{second['id']}")
    assert again["id"] == first["id"]
    assert (replay["method"], replay["path"], replay["query_string"]) == (
        original["method"],
        original["path"],
        original["query_string"],
    )
    assert kept_headers(replay) == kept_headers(original)
    assert base64.b64decode(replay["body_base64"]) == body
