"""Conveniences of the bin page in a real browser: keyboard, dark mode, background tabs,
copying a request as curl."""

from __future__ import annotations

import urllib.request

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


def test_copy_as_curl(page: Page, server: Server):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    bin_ = server.new_bin()
    request = urllib.request.Request(
        f"{bin_['capture_url']}/hook",
        data=b'{"a": 1}',
        method="POST",
        headers={"X-Token": "t0k"},
    )
    urllib.request.urlopen(request, timeout=10).close()
    page.goto(bin_["dashboard_url"])
    page.locator("#request-list li[data-id] a").first.click()
    page.locator("#detail .curl button.copy").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("curl http") and "'X-Token: t0k'" in copied  # POST: inferred
    assert copied.endswith("--data-raw '{\"a\": 1}'")
