"""Hostile captures in a real Chromium: every field is shown as text, no script runs, no
htmx attribute in captured content fires a request, and the page's policy is never violated."""

from __future__ import annotations

import http.server
import re
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import Server, capture_path
from playwright.sync_api import Page, expect

from webbin import create_app

pytestmark = pytest.mark.browser


# Each payload calls a different marker, so a failure says which field got through.
def payload(n: int) -> str:
    return (
        f'<script>window.__pwned={n}</script><img src=x onerror="window.__pwned={n}">'
        f'<svg onload="window.__pwned={n}"></svg>'
        f'<button hx-get="/pwned-{n}" hx-trigger="load">x{n}</button>'
    )


BIN_NAME = '<img src=x onerror="window.__pwned=99">"><script>window.__pwned=98</script>'


class Watch:
    """What the page did: dialogs, requests, policy violations."""

    def __init__(self, page: Page, live_markup: Callable[[Page], list[str]]) -> None:
        self.live_markup = live_markup
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.violations: list[str] = []
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on("request", lambda r: self.requests.append(r.url))
        page.on(
            "console",
            lambda m: (
                self.violations.append(m.text)
                if "Content Security Policy" in m.text or "Refused to" in m.text
                else None
            ),
        )

    def assert_clean(self, page: Page) -> None:
        # Nothing left that could fire later, so what did fire has fired.
        assert self.live_markup(page) == []
        assert self.dialogs == []
        assert [u for u in self.requests if "pwned" in u] == []
        assert self.violations == []
        assert page.evaluate("window.__pwned") is None


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[tuple[Server, object]]:
    """A server, and the same database opened in-process to store what HTTP cannot carry."""
    server = Server(tmp_path, env={"WEBBIN_STREAM_POLL_SECONDS": "0.3"})
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path)})
    yield server, app
    server.stop()


def send(url: str, body: bytes, headers: dict[str, str]) -> None:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    urllib.request.urlopen(request, timeout=10).close()


def test_hostile_captures_are_inert_text_everywhere(page: Page, hostile, live_markup):
    server, app = hostile
    watch = Watch(page, live_markup)
    page.goto(server.url)
    page.locator("input[name=name]").fill(BIN_NAME)
    page.get_by_role("button", name="New bin").click()
    expect(page).to_have_url(re.compile(r"/bins/[\w-]+$"))
    expect(page.locator("#live-state")).to_have_text("live")
    capture = page.locator("#capture-url").input_value()

    # Through HTTP: body, header value, path, query, multipart file name.
    send(
        capture + "/" + urllib.request.quote(payload(1)) + "?q=" + urllib.request.quote(payload(2)),
        payload(3).encode(),
        {"Content-Type": "text/html", "X-Evil": payload(4)},
    )
    multipart = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="'
        + payload(5).replace('"', "'").encode()
        + b'"\r\nContent-Type: text/html\r\n\r\n'
        + payload(6).encode()
        + b"\r\n--B--\r\n"
    )
    send(capture + "/upload", multipart, {"Content-Type": "multipart/form-data; boundary=B"})
    send(
        capture + "/json",
        f'{{"html": "{payload(7).replace(chr(34), chr(39))}"}}'.encode(),
        {"Content-Type": "application/json"},
    )
    # A header name no HTTP server would accept, stored as another server might pass it on.
    app.test_client().post(
        capture_path({"capture_url": capture}) + "/names",
        data=b"x",
        environ_base={"webbin.raw_headers": [(payload(8), "value"), ("Host", "x")]},
    )

    rows = page.locator("#request-list li[data-id]")
    expect(rows).to_have_count(4, timeout=10_000)  # all arrived live, the last by polling
    expect(page.locator("#request-list")).to_contain_text("/%3Cscript%3Ewindow.__pwned")
    expect(page.locator(".bin-name")).to_have_text(BIN_NAME)
    watch.assert_clean(page)

    detail = page.locator("#detail")
    for index, shown in (
        (3, [payload(3), payload(4), "__pwned=2"]),
        (2, ["__pwned=5", payload(6)]),
        (1, ["__pwned=7"]),
        (0, [payload(8).lower()[:40]]),
    ):
        rows.nth(index).locator("a").click()
        expect(detail.locator(".request-detail")).to_have_count(1)
        for text in shown:
            expect(detail).to_contain_text(text)
        watch.assert_clean(page)
        # The same detail, rendered by the server on a full page load.
        page.goto(page.url)
        expect(detail.locator(".request-detail")).to_have_count(1)
        watch.assert_clean(page)
    assert page.locator("#detail img[src=x], #detail script, #detail svg[onload]").count() == 0
    assert page.locator("[hx-get^='/pwned']").count() == 0

    page.goto(server.url)  # the home page lists the bin by its (hostile) name
    expect(page.locator(".bin-list")).to_contain_text(BIN_NAME)
    watch.assert_clean(page)


class Counter(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        Counter.hits.append(self.path)
        self.send_response(200)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        self.wfile.write(b"<b>from elsewhere</b>")

    def log_message(self, *args):
        pass


def test_htmx_only_talks_to_webbin(page: Page, server: Server):
    """Even an htmx element pointing at another origin (here: another loopback port) fires
    nothing: htmx is pinned to same-origin and the policy allows no other connection."""
    elsewhere = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Counter)
    threading.Thread(target=elsewhere.serve_forever, daemon=True).start()
    try:
        page.goto(server.url)
        assert page.evaluate("htmx.config.mode") == "same-origin"
        finished = page.evaluate(
            """port => {
                const b = document.createElement("button");
                b.id = "probe";
                b.setAttribute("hx-get", `http://127.0.0.1:${port}/cross`);
                document.body.append(b);
                htmx.process(b);
                const done = new Promise((resolve) =>
                    b.addEventListener("htmx:finally:request", () => resolve(true)));
                b.click();
                return Promise.race([done, new Promise((resolve) => setTimeout(resolve, 10000))]);
            }""",
            elsewhere.server_port,
        )
        assert finished, "htmx never finished the request"
        # The request has run its course: had it reached the other server, that server
        # would have recorded it before answering.
        assert Counter.hits == []
    finally:
        elsewhere.shutdown()


def test_pages_run_under_the_policy_without_violations(page: Page, server: Server):
    violations: list[str] = []
    page.on(
        "console", lambda m: violations.append(m.text) if "Content Security" in m.text else None
    )
    page.goto(server.url)
    page.get_by_role("button", name="New bin").click()
    expect(page.locator("#live-state")).to_have_text("live")  # the WebSocket is allowed
    send(
        page.locator("#capture-url").input_value() + "/ok",
        b'{"a": 1}',
        {"Content-Type": "application/json"},
    )
    page.locator("#request-list li[data-id] a").first.click()
    expect(page.locator("#detail pre.highlight")).to_contain_text('"a"')
    assert violations == []
    header = page.evaluate(
        "() => fetch(location.href).then(r => r.headers.get('content-security-policy'))"
    )
    assert "script-src 'self'" in header and "frame-ancestors 'none'" in header
