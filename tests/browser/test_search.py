"""The search box and provider/event in a real Chromium: the filter lives in the page URL,
filters the list, the older pages and the live arrivals (the rest counted as hidden), shows
a malformed query's error inline; rows show provider · event and how long ago they came."""

from __future__ import annotations

import re
import time
import urllib.parse
import urllib.request

import pytest
from helpers import Server
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def send(bin_: dict, path: str, headers: dict | None = None, body: bytes = b"x", method="POST"):
    request = urllib.request.Request(
        bin_["capture_url"] + path, data=body if method != "GET" else None, method=method,
        headers=headers or {},
    )  # fmt: skip
    urllib.request.urlopen(request, timeout=10).close()


def rows(page: Page):
    return page.locator("#request-list > li[data-id]")


def test_the_filter_lives_in_the_url_and_filters_the_list(page: Page, server: Server):
    bin_ = server.new_bin()
    send(bin_, "/gh", {"X-GitHub-Event": "push", "Content-Type": "application/json"}, b"{}")
    send(bin_, "/stripe", {"Stripe-Signature": "t=1,v1=0", "Content-Type": "application/json"},
         b'{"type": "invoice.paid"}')  # fmt: skip
    send(bin_, "/plain", body=b"hello")
    page.goto(bin_["dashboard_url"])
    expect(rows(page)).to_have_count(3)
    page.locator("#search-q").fill("provider:github OR event:invoice.*")
    page.locator("#search-q").press("Enter")
    expect(rows(page)).to_have_count(2)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)
    assert query["q"] == ["provider:github OR event:invoice.*"]
    expect(page.locator("#search-q")).to_have_value("provider:github OR event:invoice.*")
    # The address is the view: opened again (bookmarked, shared), it shows the same.
    page.goto(page.url)
    expect(rows(page)).to_have_count(2)
    expect(rows(page).first).to_contain_text("/stripe")
    # Selecting a row keeps the filter in the address.
    rows(page).first.locator("a").click()
    expect(page.locator("#detail h2 .path")).to_have_text("/stripe")
    selected = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)
    assert selected["q"] == ["provider:github OR event:invoice.*"] and "r" in selected
    page.locator(".search-clear").click()
    expect(rows(page)).to_have_count(3)


def test_rows_show_provider_event_and_a_relative_time(page: Page, server: Server):
    bin_ = server.new_bin()
    send(bin_, "/gh", {"X-GitHub-Event": "pull_request"}, b"{}")
    page.goto(bin_["dashboard_url"])
    row = rows(page).first
    expect(row.locator(".badge.provider")).to_have_text("github · pull_request")
    when = row.locator("time")
    expect(when).to_have_text(re.compile(r"^\d+ s ago$"))
    iso = when.get_attribute("datetime")
    assert when.get_attribute("title") == iso and iso.endswith("Z")
    first = when.text_content()
    time.sleep(2.2)
    assert when.text_content() != first  # it keeps counting
    row.locator("a").click()
    expect(page.locator("#detail")).to_contain_text("github · pull_request")


def test_a_malformed_query_shows_its_error_inline(page: Page, server: Server):
    bin_ = server.new_bin()
    send(bin_, "/one")
    answer = page.goto(bin_["dashboard_url"] + "?q=" + urllib.parse.quote("method:POST methd:<b>x"))
    assert answer.status == 400
    error = page.locator("#search-error")
    expect(error).to_be_visible()
    expect(error.locator("mark")).to_have_text("methd:<b>x")
    expect(error).to_contain_text('At character 13: Unknown field "methd"')
    expect(page.locator("#search-error b")).to_have_count(0)  # typed text stays text
    expect(page.locator("#search-q")).to_have_attribute("aria-invalid", "true")
    expect(rows(page)).to_have_count(0)
    expect(page.locator(".empty-list")).to_contain_text("Fix the query")


def test_live_arrivals_that_do_not_match_are_counted_as_hidden(page: Page, server: Server):
    bin_ = server.new_bin()
    send(bin_, "/before", method="GET")  # newer than any match: not counted as live
    page.goto(bin_["dashboard_url"] + "?q=" + urllib.parse.quote("method:POST -body:skip"))
    expect(page.locator("#live-state")).to_have_text("live")
    expect(rows(page)).to_have_count(0)
    hidden = page.locator("#hidden-count")
    expect(hidden).to_be_hidden()
    send(bin_, "/get", method="GET")
    send(bin_, "/shown", body=b"keep me")
    send(bin_, "/skipped", body=b"please skip")
    send(bin_, "/also-shown", body=b"keep")
    expect(rows(page)).to_have_count(2)
    expect(rows(page).first).to_contain_text("/also-shown")
    expect(hidden).to_have_text("2 hidden by the filter")
    expect(page.locator("#request-total")).to_have_text("5")


def test_searching_older_pages_keeps_the_filter(page: Page, tmp_path):
    running = Server(tmp_path, env={"WEBBIN_PAGE_SIZE": "3"})
    try:
        bin_ = running.new_bin()
        for i in range(10):
            send(bin_, f"/n/{i}", body=b"even" if i % 2 == 0 else b"odd")
        page.goto(bin_["dashboard_url"] + "?q=body:even")
        expect(rows(page)).to_have_count(3)
        page.get_by_role("button", name="Search older requests").click()
        expect(rows(page)).to_have_count(5)
        paths = [t.strip() for t in rows(page).locator(".path").all_text_contents()]
        assert paths == ["/n/8", "/n/6", "/n/4", "/n/2", "/n/0"]
    finally:
        running.stop()


def test_a_reconnect_neither_repeats_nor_recounts_hidden_rows(page: Page, tmp_path):
    server = Server(tmp_path)
    try:
        bin_ = server.new_bin()
        page.goto(bin_["dashboard_url"] + "?q=method:POST")
        expect(page.locator("#live-state")).to_have_text("live")
        send(bin_, "/shown")
        send(bin_, "/hidden-1", method="GET")
        hidden = page.locator("#hidden-count")
        expect(hidden).to_have_text("1 hidden by the filter")
        expect(rows(page)).to_have_count(1)
        port = server.port
        server.stop()
        expect(page.locator("#live-state")).not_to_have_text("live")
        server = Server(tmp_path, port=port)
        send(bin_, "/hidden-2", method="GET")
        send(bin_, "/during")
        expect(page.locator("#live-state")).to_have_text("live", timeout=15000)
        send(bin_, "/after")
        expect(rows(page)).to_have_count(3)
        paths = [p.strip() for p in rows(page).locator(".path").all_inner_texts()]
        assert paths == ["/after", "/during", "/shown"]
        expect(hidden).to_have_text("2 hidden by the filter")
        expect(page.locator("#request-total")).to_have_text("5")
    finally:
        server.stop()
