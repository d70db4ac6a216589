"""Signature verdicts in a real browser: badges in the list, the explanation in the detail."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import urllib.request

import pytest
from helpers import Server
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

STRIPE_SECRET = "whsec_test_secret_for_webbin"


def stripe_header(body: bytes, timestamp: int, secret: str = STRIPE_SECRET) -> str:
    """Stripe-Signature as Stripe builds it, written here independently of webbin."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def call(url: str, method: str = "POST", data: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def test_valid_invalid_and_stale_are_shown_and_explained(page: Page, server: Server):
    bin_ = server.new_bin()
    call(
        f"{server.url}/api/bins/{bin_['id']}",
        "PATCH",
        json.dumps({"signature": {"scheme": "stripe", "secrets": [STRIPE_SECRET]}}).encode(),
        {"Content-Type": "application/json"},
    )
    body = b'{"id": "evt_1", "type": "invoice.paid"}'
    now = int(time.time())
    deliveries = {
        "/valid": stripe_header(body, now),
        "/invalid": stripe_header(body, now, "whsec_some_other_endpoint"),
        "/stale": stripe_header(body, now - 3600),
    }
    for path, signature in deliveries.items():
        call(
            bin_["capture_url"] + path,
            data=body,
            headers={"Content-Type": "application/json", "Stripe-Signature": signature},
        )

    page.goto(bin_["dashboard_url"])
    rows = page.locator("#request-list li[data-id]")
    expect(rows).to_have_count(3)
    for path, status in (("/valid", "valid"), ("/invalid", "invalid"), ("/stale", "stale")):
        row = rows.filter(has_text=path)
        expect(row.locator(f".badge.sig-{status}")).to_have_text(f"stripe · {status}")
        row.locator("a").click()
        verdict = page.locator("#detail #signature")
        expect(verdict.locator(".badge")).to_have_text(status)
        expect(verdict).to_contain_text("{t}.{body}")
        expect(verdict).to_contain_text("Stripe-Signature")
    # The stale one says how old it was.
    expect(page.locator("#detail #signature")).to_contain_text(re.compile(r"age 36\d\d s"))


def test_secret_added_in_the_page_reverifies(page: Page, server: Server):
    bin_ = server.new_bin()
    body = b'{"id": "evt_2"}'
    call(
        bin_["capture_url"],
        data=body,
        headers={"Stripe-Signature": stripe_header(body, int(time.time()))},
    )
    page.goto(bin_["dashboard_url"])
    expect(page.locator(".badge.sig-unverified")).to_be_visible()
    page.locator("#settings summary").click()
    page.locator("#signature-settings textarea[name=secrets]").fill(STRIPE_SECRET)
    page.locator("#signature-settings button[type=submit]").click()
    expect(page.locator(".flash")).to_contain_text("1 captured request re-verified")
    expect(page.locator("#request-list .badge.sig-valid")).to_be_visible()


def test_signed_test_webhook_from_the_page(page: Page, server: Server):
    bin_ = server.new_bin()
    page.goto(bin_["dashboard_url"])
    page.locator("#settings summary").click()
    page.select_option("#test-webhook select[name=scheme]", "standard-webhooks")
    page.locator("#test-webhook button[type=submit]").click()
    expect(page.locator(".flash")).to_contain_text("test webhook (answered 200)")
    row = page.locator("#request-list li[data-id]").first
    expect(row.locator(".badge.sig-valid")).to_be_visible()
    row.locator("a").click()
    expect(page.locator("#detail table.headers")).to_contain_text("Webhook-Signature")
