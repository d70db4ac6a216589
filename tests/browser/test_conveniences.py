"""Conveniences of the bin page in a real browser: keyboard, dark mode, background tabs,
copying a request as curl and its body as received, the request counter."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable

import pytest
from helpers import Server
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def test_j_and_k_move_through_requests(page: Page, server: Server):
    bin_ = server.new_bin()
    for name in ("first", "second", "third"):
        request = urllib.request.Request(f"{bin_['capture_url']}/{name}", data=b"x", method="POST")
        urllib.request.urlopen(request, timeout=10).close()
    page.goto(bin_["dashboard_url"])
    expect(page.locator("#live-state")).to_have_text("live")
    path = page.locator("#detail h2 .path")
    page.keyboard.press("j")
    expect(path).to_have_text("/third")
    page.keyboard.press("j")
    expect(path).to_have_text("/second")
    expect(page.locator("#request-list li.selected")).to_contain_text("/second")
    page.keyboard.press("k")
    expect(path).to_have_text("/third")
    assert page.url.endswith(
        f"?r={page.locator('#request-list li.selected').get_attribute('data-id')}"
    )


def test_t_toggles_dark_mode_and_it_sticks(page: Page, server: Server):
    page.goto(server.url)
    page.keyboard.press("t")
    theme = page.evaluate("document.documentElement.dataset.theme")
    assert theme in ("dark", "light")
    page.reload()
    assert page.evaluate("document.documentElement.dataset.theme") == theme


def test_background_tab_counts_arrivals_in_its_title(page: Page, server: Server):
    bin_ = server.new_bin()
    page.goto(bin_["dashboard_url"])
    expect(page.locator("#live-state")).to_have_text("live")
    title = page.title()
    page.evaluate("Object.defineProperty(document, 'hidden', {value: true, configurable: true})")
    for name in ("one", "two"):
        request = urllib.request.Request(f"{bin_['capture_url']}/{name}", data=b"x", method="POST")
        urllib.request.urlopen(request, timeout=10).close()
    expect(page).to_have_title(f"(2) {title}")
    page.evaluate(
        "Object.defineProperty(document, 'hidden', {value: false, configurable: true});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    expect(page).to_have_title(title)


NOTHING_COPIED = "(nothing copied yet)"


def copied_by(page: Page, action: Callable[[], None], timeout: float = 5.0) -> str:
    """What ``action`` put on the clipboard: copies are asynchronous, so wait for it to change."""
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.evaluate("text => navigator.clipboard.writeText(text)", NOTHING_COPIED)
    action()
    deadline = time.monotonic() + timeout
    while (copied := page.evaluate("navigator.clipboard.readText()")) == NOTHING_COPIED:
        assert time.monotonic() < deadline, "nothing reached the clipboard"
        time.sleep(0.05)
    return copied


def capture(bin_: dict, suffix: str, body: bytes, headers: dict | None = None) -> None:
    request = urllib.request.Request(
        bin_["capture_url"] + suffix, data=body, method="POST", headers=headers or {}
    )
    urllib.request.urlopen(request, timeout=10).close()


def open_newest(page: Page, bin_: dict) -> None:
    page.goto(bin_["dashboard_url"])
    page.locator("#request-list li[data-id] a").first.click()
    expect(page.locator("#detail .request-detail")).to_be_visible()


def test_copy_as_curl(page: Page, server: Server):
    bin_ = server.new_bin()
    capture(bin_, "/hook", b'{"a": 1}', {"X-Token": "t0k"})
    open_newest(page, bin_)
    copied = copied_by(page, page.locator("#detail .curl button.copy").click)
    assert copied.startswith("curl http") and "'X-Token: t0k'" in copied  # POST: inferred
    assert copied.endswith("--data-raw '{\"a\": 1}'")


# Compact JSON as providers send it, with what re-indenting would lose: a BOM, CRLF, a tab,
# a number spelled 1.10, a repeated key, escapes, non-ASCII text.
EXACT_JSON = (
    b'\xef\xbb\xbf{"event":"caf\xc3\xa9 \xe2\x98\x95","n":1.10,"n":2,\r\n\t"s":"\\u00e9\\n"}\n'
)


def test_copy_gives_the_body_exactly_as_received(page: Page, server: Server):
    bin_ = server.new_bin()
    capture(bin_, "/exact", EXACT_JSON, {"Content-Type": "application/json"})
    open_newest(page, bin_)
    body = page.locator("#detail section.body")
    copied = copied_by(page, body.get_by_role("button", name="Copy", exact=True).click)
    assert copied.encode("utf-8") == EXACT_JSON
    expect(page.locator("#toast")).to_have_text("Copied the body exactly as received")
    # The second choice copies what the page shows: the JSON re-indented.
    pretty = copied_by(page, body.get_by_role("button", name="Copy pretty").click)
    assert pretty == page.locator("#detail .body-view .body-pretty pre.code").text_content()
    assert pretty != copied and '\n  "n": 1.10' in pretty


def test_copy_of_a_long_text_body_is_whole(page: Page, server: Server):
    text = "".join(f"line {i}: ünïcode\r\n" for i in range(40_000)).encode()  # ~0.8 MB
    bin_ = server.new_bin()
    capture(bin_, "/long", text, {"Content-Type": "text/plain; charset=utf-8"})
    open_newest(page, bin_)
    expect(page.locator("#detail")).to_contain_text("Shown in part")
    button = page.locator("#detail section.body").get_by_role("button", name="Copy", exact=True)
    assert copied_by(page, button.click).encode("utf-8") == text


def test_a_body_that_is_not_utf8_is_not_copied_as_if_it_were(page: Page, server: Server):
    bin_ = server.new_bin()
    capture(bin_, "/latin1", b"caf\xe9", {"Content-Type": "text/plain; charset=iso-8859-1"})
    open_newest(page, bin_)
    expect(page.locator("#detail .body-view")).to_contain_text("café")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.evaluate("text => navigator.clipboard.writeText(text)", NOTHING_COPIED)
    page.locator("#detail section.body").get_by_role("button", name="Copy", exact=True).click()
    expect(page.locator("#toast")).to_contain_text("not UTF-8 text")
    expect(page.locator("#toast")).to_contain_text("Download raw")
    assert page.evaluate("navigator.clipboard.readText()") == NOTHING_COPIED


def test_a_binary_body_offers_download_raw_instead_of_copy(page: Page, server: Server):
    bin_ = server.new_bin()
    capture(bin_, "/bin", bytes(range(256)), {"Content-Type": "application/octet-stream"})
    open_newest(page, bin_)
    body = page.locator("#detail section.body")
    expect(body.locator(".hexdump")).to_be_visible()
    expect(body.get_by_role("button", name="Copy", exact=True)).to_have_count(0)
    expect(body).to_contain_text("binary: Download raw gives its exact bytes")
    expect(body.get_by_role("link", name="Download raw")).to_be_visible()


def test_request_counter_follows_arrivals_deletions_and_clearing(page: Page, server: Server):
    bin_ = server.new_bin()
    for name in ("one", "two", "three"):
        capture(bin_, f"/{name}", b"x")
    page.goto(bin_["dashboard_url"])
    expect(page.locator("#live-state")).to_have_text("live")
    total = page.locator("#request-total")
    rows = page.locator("#request-list li[data-id]")
    expect(total).to_have_text("3")
    capture(bin_, "/four", b"x")
    expect(rows).to_have_count(4)
    expect(total).to_have_text("4")
    for remaining in (3, 2):
        rows.first.locator("a").click()
        page.get_by_role("button", name="Delete request").click()
        expect(page.locator("#detail")).to_contain_text("Request deleted.")
        expect(rows).to_have_count(remaining)
        expect(total).to_have_text(str(remaining))
    page.reload()  # the server agrees
    expect(total).to_have_text("2")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Clear bin").click()
    expect(rows).to_have_count(0)
    expect(total).to_have_text("0")
    expect(page.locator("#live-state")).to_have_text("live")
    capture(bin_, "/after", b"x")
    expect(total).to_have_text("1")
