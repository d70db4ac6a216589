"""The "as curl" command: a faithful, inert replay line."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime

import pytest

from webbin.storage.models import CapturedRequest
from webbin.web.curl import MAX_INLINE_BODY, curl_command


def captured(body: bytes, headers: list[list[str]] | None = None) -> CapturedRequest:
    return CapturedRequest(
        method="PATCH",
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


def test_the_command_parses_back_to_the_same_request():
    body = b'{"name": "O\'Brien", "cmd": "$(whoami)"}'
    command, note = curl_command(captured(body), "https://bin.example/c/t/x?a=1&b=2")
    args = shlex.split(command)
    assert args[:4] == ["curl", "-X", "PATCH", "https://bin.example/c/t/x?a=1&b=2"]
    headers = [args[i + 1] for i, a in enumerate(args) if a == "-H"]
    assert headers == ["X-Sig: it's; $(rm -rf /) `id`", "X-Sig: second"]  # no Host/Length
    assert args[-2:] == ["--data-binary", body.decode()]
    assert note is None


@pytest.mark.parametrize(
    "body", [b"\x00\xff binary", b"x" * (MAX_INLINE_BODY + 1)], ids=["binary", "large"]
)
def test_binary_or_large_bodies_point_at_the_raw_download(body):
    command, note = curl_command(captured(body), "http://h/c/t")
    assert command.endswith("--data-binary @request.bin")
    assert "request.bin" in note


def test_no_body_no_data_flag():
    command, _ = curl_command(captured(b""), "http://h/c/t")
    assert "--data" not in command
