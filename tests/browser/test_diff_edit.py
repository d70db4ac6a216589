"""Comparing two requests and editing one before resending, in a real Chromium against a real
server: picked from the list, compared with the previous of the same path, JSON, text and
binary bodies, hostile values shown as text; the editor sends what it shows, re-signs for a
loopback target that checks Stripe's signature itself, and the attempt shows what was sent.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from helpers import Server, capture_path, raw_http
from playwright.sync_api import Page, expect
from resend_target import Target, running_target, stripe_header, stripe_valid

pytestmark = pytest.mark.browser

HOSTILE = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
STRIPE_SECRET = "whsec_browser_test_secret"


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    yield from running_target()


def send(server: Server, bin_: dict, path: str, headers: list[tuple[str, str]], body: bytes) -> int:
    """Capture one request as written, repeated headers as separate lines; its id."""
    lines = [f"POST {capture_path(bin_)}{path} HTTP/1.1", "Host: webbin.test"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    answer = raw_http(server.port, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    return json.loads(answer.partition(b"\r\n\r\n")[2])["id"]


def open_request(page: Page, bin_: dict, rid: int) -> None:
    page.goto(bin_["dashboard_url"])
    page.locator(f"#req-{rid} a").click()
    expect(page.locator(f"#detail .request-detail[data-request='{rid}']")).to_be_visible()


def patch(server: Server, bin_: dict, body: dict) -> None:
    request = urllib.request.Request(
        f"{server.url}/api/bins/{bin_['id']}",
        data=json.dumps(body).encode(),
        method="PATCH",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=30).close()


# --- compare -----------------------------------------------------------------------------------


def test_compare_two_requests_picked_from_the_list(
    page: Page, server: Server, live_markup: Callable
):
    bin_ = server.new_bin()
    json_type = ("Content-Type", "application/json")
    old = {"id": "evt_1", "data": {"amount": 100, "items": ["a", "b"]}, "gone": True}
    new = {"id": "evt_1", "data": {"amount": 250, "items": ["a", "b", "c"]}, "added": HOSTILE}
    first = send(
        server, bin_, "/hook", [json_type, ("X-Rep", "1"), ("X-Rep", "2")], json.dumps(old).encode()
    )
    second = send(
        server,
        bin_,
        "/hook",
        [json_type, ("X-Rep", "1"), ("X-Rep", "3"), ("X-Evil", HOSTILE)],
        json.dumps(new).encode(),
    )
    open_request(page, bin_, second)
    page.get_by_role("button", name="With another request…").click()
    expect(page.locator(".compare-hint")).to_be_visible()
    page.locator(f"#req-{first} a").click()  # picks the other one instead of opening it

    compared = page.locator(f"#detail .request-diff[data-old='{first}'][data-new='{second}']")
    expect(compared).to_be_visible()
    rows = compared.locator(".json-changes tbody tr")
    expect(rows).to_have_count(4)
    amount = rows.filter(has_text="/data/amount")
    expect(amount.locator("td.old")).to_have_text("100")
    expect(amount.locator("td.new")).to_have_text("250")
    expect(rows.filter(has_text="/data/items/2").locator("td.new")).to_have_text('"c"')
    expect(rows.filter(has_text="/gone")).to_have_class("diff-removed")
    # Hostile values are text, in the JSON changes and the headers alike; nothing can run.
    added = rows.filter(has_text="/added").locator("td.new")
    expect(added).to_have_text(json.dumps(HOSTILE))
    headers = compared.locator(".diff-headers tbody tr")
    expect(headers.filter(has_text="X-Evil").locator("td.new")).to_have_text(HOSTILE)
    expect(headers.filter(has_text="X-Evil")).to_have_class("diff-added")
    changed = headers.filter(has=page.locator("td.old", has_text="2"))
    expect(changed.locator("td.new")).to_have_text("3")  # the second X-Rep, paired in order
    assert live_markup(page) == []

    # Only the changes, then swapped, then back to the request itself.
    compared.get_by_label("only changes").check()
    # Left: X-Rep 2 -> 3, X-Evil added, Content-Length changed (Host, Connection and the
    # rest are the same).
    expect(headers.locator("visible=true")).to_have_count(3)
    assert compared.locator(".diff-headers tr.diff-same").count() == headers.count() - 3
    compared.get_by_role("button", name="Swap").click()
    expect(
        page.locator(f"#detail .request-diff[data-old='{second}'][data-new='{first}']")
    ).to_be_visible()
    page.locator("#detail .request-diff h2 a").first.click()
    expect(page.locator(f"#detail .request-detail[data-request='{second}']")).to_be_visible()


def test_escape_gives_up_a_pick(page: Page, server: Server):
    bin_ = server.new_bin()
    first = send(server, bin_, "/a", [], b"one")
    second = send(server, bin_, "/b", [], b"two")
    open_request(page, bin_, second)
    page.get_by_role("button", name="With another request…").click()
    page.keyboard.press("Escape")
    expect(page.locator(".compare-hint")).to_be_hidden()
    page.locator(f"#req-{first} a").click()  # opens it, as usual
    expect(page.locator(f"#detail .request-detail[data-request='{first}']")).to_be_visible()


def test_compare_with_the_previous_of_the_same_path_shows_a_text_diff(page: Page, server: Server):
    bin_ = server.new_bin()
    text = ("Content-Type", "text/plain")
    send(server, bin_, "/notes", [text], b"alpha\nbeta\ngamma\n")
    send(server, bin_, "/elsewhere", [text], b"unrelated\n")
    latest = send(server, bin_, "/notes", [text], b"alpha\nBETA\ngamma\n</pre><b>bold</b>\n")
    open_request(page, bin_, latest)
    page.get_by_role("button", name="With the previous of this event or path").click()
    compared = page.locator("#detail .request-diff")
    expect(compared.locator(".badge")).to_have_text("previous of the same path")
    expect(compared.locator(".dl-del")).to_have_text(["-beta"])
    expect(compared.locator(".dl-add")).to_have_text(["+BETA", "+</pre><b>bold</b>"])
    assert compared.locator("b").count() == 0


def test_binary_bodies_show_where_they_first_differ(page: Page, server: Server):
    bin_ = server.new_bin()
    octets = ("Content-Type", "application/octet-stream")
    old = bytes(range(256))
    first = send(server, bin_, "/blob", [octets], old)
    second = send(server, bin_, "/blob", [octets], old[:40] + b"\xff" + old[41:])
    open_request(page, bin_, second)
    page.get_by_role("button", name="With the previous of this event or path").click()
    compared = page.locator(f"#detail .request-diff[data-old='{first}']")
    expect(compared.locator(".first-difference")).to_contain_text("byte 40")
    expect(compared.locator(".hex-new")).to_contain_text("00000020  20 21 22 23 24 25 26 27 ff 29")
    expect(compared.locator(".hex-old")).to_contain_text("00000020  20 21 22 23 24 25 26 27 28 29")


# --- edit and resend ---------------------------------------------------------------------------


def open_editor(page: Page) -> None:
    page.get_by_role("button", name="Edit before sending…").click()
    expect(page.locator("#detail .edit-form")).to_be_visible()


def test_edit_re_sign_and_send_verifies_at_the_target(page: Page, server: Server, target: Target):
    bin_ = server.new_bin()
    patch(server, bin_, {"signature": {"scheme": "stripe", "secrets": [STRIPE_SECRET]}})
    body = b'{"id": "evt_9", "amount": 100}'
    stale = stripe_header(body, STRIPE_SECRET, int(time.time()) - 3600)
    rid = send(
        server,
        bin_,
        "/stripe",
        [("Content-Type", "application/json"), ("Stripe-Signature", stale)],
        body,
    )
    open_request(page, bin_, rid)
    open_editor(page)
    form = page.locator("#detail .edit-form")
    expect(form.get_by_label("Body")).to_have_value(body.decode())
    expect(form.locator("label.inline")).to_contain_text("Re-sign as Stripe")
    form.get_by_label("Target URL").fill(target.url("/stripe{path}"))
    edited = '{"id": "evt_9", "amount": 4200, "note": "' + HOSTILE.replace('"', "'") + '"}'
    form.get_by_label("Body").fill(edited)
    form.get_by_label("Re-sign as Stripe").check()
    form.get_by_role("button", name="Send").click()

    attempt = page.locator("#resend-results .attempt").first
    expect(attempt.locator(".badge.resigned")).to_have_text("re-signed · stripe")
    expect(attempt.locator(".badge.edited")).to_be_visible()
    arrival = target.last()
    assert (arrival.path, arrival.body) == ("/stripe/stripe", edited.encode())
    assert stripe_valid(arrival, STRIPE_SECRET)
    attempt.locator("details.sent summary").click()
    expect(attempt.locator(".sent-body")).to_have_text(edited)
    sent_signature = attempt.locator(".sent-headers tr", has_text="Stripe-Signature").locator("td")
    expect(sent_signature).to_have_text(arrival.header("Stripe-Signature"))

    # Without re-signing the captured signature goes along, and the target refuses it.
    form.get_by_label("Re-sign as Stripe").uncheck()
    form.get_by_role("button", name="Send").click()
    expect(page.locator("#resend-results .attempt")).to_have_count(2)
    newest = page.locator("#resend-results .attempt").first
    expect(newest.locator(".badge.edited")).to_be_visible()
    expect(newest.locator(".badge.resigned")).to_have_count(0)
    assert target.last().header("Stripe-Signature") == stale
    assert not stripe_valid(target.last(), STRIPE_SECRET)
    assert page.locator("img:not(.logo), script:not([src])").count() == 0


def test_the_editor_sends_an_unchanged_request_exactly(page: Page, server: Server, target: Target):
    bin_ = server.new_bin()
    body = b'\r\n{\r\n  "crlf": "lines",\r\n  "tab": "\t"\r\n}\r\n'
    headers = [
        ("Content-Type", "application/json"),
        ("X-Rep", "1"),
        ("X-Other", "x"),
        ("X-Rep", "2"),
    ]
    rid = send(server, bin_, "/exact", headers, body)
    open_request(page, bin_, rid)
    open_editor(page)
    form = page.locator("#detail .edit-form")
    form.get_by_label("Target URL").fill(target.url("/exact"))
    form.get_by_role("button", name="Send").click()
    attempt = page.locator("#resend-results .attempt").first
    expect(attempt.locator(".status")).to_contain_text("200")
    expect(attempt.locator(".badge.edited")).to_have_count(0)  # nothing changed, byte for byte
    arrival = target.last()
    assert arrival.body == body
    sent = [(n, v) for n, v in arrival.headers if n.startswith("X-")]
    assert sent[:3] == [("X-Rep", "1"), ("X-Other", "x"), ("X-Rep", "2")]


def test_the_editor_says_a_private_key_scheme_cannot_be_re_signed(page: Page, server: Server):
    bin_ = server.new_bin()
    patch(server, bin_, {"signature": {"scheme": "discord", "secrets": ["ab" * 32]}})
    rid = send(server, bin_, "/interactions", [], b'{"type": 1}')
    open_request(page, bin_, rid)
    open_editor(page)
    form = page.locator("#detail .edit-form")
    expect(form.locator("input[name=resign]")).to_be_disabled()
    expect(form.locator(".resign-problem")).to_contain_text("private key that only Discord holds")
