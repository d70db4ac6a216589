"""The user's story in a real Chromium against a real ``webbin serve``."""

from __future__ import annotations

import http.server
import json
import re
import threading
import urllib.request

import pytest
from helpers import Server
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def send(
    url: str,
    body: bytes = b'{"hello": "webbin"}',
    headers: dict | None = None,
    method: str = "POST",
) -> None:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def new_bin(page: Page, server: Server) -> str:
    page.goto(server.url)
    page.get_by_role("button", name="New bin").click()
    expect(page).to_have_url(re.compile(r"/bins/[\w-]+$"))
    expect(page.locator("#live-state")).to_have_text("live")
    return page.locator("#capture-url").input_value()


class Target(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(202)
        self.end_headers()
        self.wfile.write(b"thanks")

    def log_message(self, *args):
        pass


def test_create_capture_inspect_resend(page: Page, server: Server):
    capture_url = new_bin(page, server)
    expect(page.get_by_text("Waiting for the first request")).to_be_visible()

    send(
        capture_url + "/stripe?live=1",
        b'{"type": "invoice.paid", "amount": 4200}',
        {"Content-Type": "application/json", "Stripe-Signature": "t=1,v1=abc"},
    )
    row = page.locator("#request-list li[data-id]").first
    expect(row).to_contain_text("/stripe")  # arrived without a reload
    expect(page.get_by_text("Waiting for the first request")).to_be_hidden()

    row.locator("a").click()
    detail = page.locator("#detail")
    expect(detail.locator("table.headers")).to_contain_text("Stripe-Signature")
    expect(detail.locator("table.headers")).to_contain_text("t=1,v1=abc")
    expect(detail.locator("pre.highlight")).to_contain_text('"invoice.paid"')
    expect(detail).to_contain_text("live")  # the query table

    target = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Target)
    threading.Thread(target=target.serve_forever, daemon=True).start()
    try:
        detail.locator("input[name=url]").fill(f"http://127.0.0.1:{target.server_port}/hook")
        detail.get_by_role("button", name="Resend").click()
        expect(detail.locator(".resend-results .status").first).to_have_text("202 Accepted")
    finally:
        target.shutdown()

    # Selection survives a reload through the URL, and the resend URL is remembered.
    page.reload()
    expect(page.locator("#detail input[name=url]")).to_have_value(
        re.compile(r"http://127\.0\.0\.1:\d+/hook")
    )


def test_every_tab_gets_every_arrival(page: Page, server: Server):
    capture_url = new_bin(page, server)
    second = page.context.new_page()
    second.goto(page.url)
    expect(second.locator("#live-state")).to_have_text("live")
    for i in range(3):
        send(capture_url + f"/n{i}")
    for tab in (page, second):
        expect(tab.locator("#request-list li[data-id]")).to_have_count(3)
    second.close()


def test_reconnect_fills_in_what_arrived_meanwhile(page: Page, tmp_path):
    server = Server(tmp_path)
    try:
        capture_url = new_bin(page, server)
        send(capture_url + "/before")
        expect(page.locator("#request-list li[data-id]")).to_have_count(1)
        port = server.port
        server.stop()
        expect(page.locator("#live-state")).not_to_have_text("live")
        server = Server(tmp_path, port=port)
        send(capture_url + "/during-1")
        send(capture_url + "/during-2")
        expect(page.locator("#live-state")).to_have_text("live", timeout=15000)
        send(capture_url + "/after")
        rows = page.locator("#request-list li[data-id]")
        expect(rows).to_have_count(4)
        paths = [p.strip() for p in rows.locator(".path").all_inner_texts()]
        assert paths == ["/after", "/during-2", "/during-1", "/before"]
    finally:
        server.stop()


def test_delete_request_and_bin(page: Page, server: Server):
    capture_url = new_bin(page, server)
    send(capture_url + "/doomed")
    page.locator("#request-list li[data-id] a").first.click()
    page.get_by_role("button", name="Delete request").click()
    expect(page.locator("#request-list li[data-id]")).to_have_count(0)
    expect(page.locator("#detail")).to_contain_text("Request deleted")
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete bin").click()
    expect(page).to_have_url(server.url + "/")
    request = urllib.request.Request(capture_url, data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 404


def test_captured_markup_is_shown_as_text(page: Page, server: Server, live_markup):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    capture_url = new_bin(page, server)
    payload = '<script>alert(1)</script><img src=x onerror=alert(2)><button hx-get="/" hx-trigger="load">x</button>'
    send(
        capture_url + "/%3Cscript%3E",
        payload.encode(),
        {"Content-Type": "text/html", "X-Evil": payload},
    )
    page.locator("#request-list li[data-id] a").first.click()
    expect(page.locator("#detail .body-view pre.code")).to_have_text(payload)
    expect(page.locator("#detail .curl pre.code")).to_contain_text("X-Evil")
    expect(page.locator("#detail table.headers")).to_contain_text(payload)
    assert page.locator("#detail img, #detail script, #detail button[hx-get]").count() == 0
    assert live_markup(page) == []  # nothing that could still fire
    assert dialogs == []


def test_home_lists_bins_of_this_browser(page: Page, server: Server):
    new_bin(page, server)
    bin_url = page.url
    page.goto(server.url)
    link = page.locator(".bin-list a").first
    expect(link).to_contain_text("Unnamed bin")
    link.click()
    expect(page).to_have_url(bin_url)


def test_api_json_is_linked(page: Page, server: Server):
    page.goto(server.url + "/api/openapi.json")
    assert json.loads(page.locator("body").inner_text())["openapi"].startswith("3.")
