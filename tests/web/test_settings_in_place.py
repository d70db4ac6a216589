"""Settings forms answered in place for htmx (the panel, or only the refusal), and the plain
redirect-and-flash without it; after a re-verification, the rows the page showed and its
open detail come back re-rendered. The browser side is in tests/browser/test_rough_edges.py."""

from __future__ import annotations

import re

import pytest
from helpers import capture_path

HTMX = {"HX-Request": "true"}


@pytest.fixture
def page(sqlite_app):
    """(client, bin id, csrf token, bin data) for a bin created through the home page."""
    client = sqlite_app.test_client()
    home = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', home).group(1)
    location = client.post("/bins", data={"csrf_token": token}).headers["Location"]
    bin_id = location.rsplit("/", 1)[1]
    return client, bin_id, token, client.get(f"/api/bins/{bin_id}").get_json()


def notice_of(html: str, form: str) -> str:
    """The text of the notice inside the form with id ``form``."""
    start = html.index(f'id="{form}"')
    found = re.search(r'<div class="form-notice"[^>]*>(.*?)</div>', html[start:], re.S)
    return re.sub(r"<[^>]+>", "", found.group(1)).strip() if found else ""


def test_a_save_answers_the_open_panel_with_the_message_in_its_form(page):
    client, bin_id, token, _ = page
    answer = client.post(
        f"/bins/{bin_id}/settings/senders",
        data={"csrf_token": token, "allowed_networks": "192.0.2.0/24"},
        headers=HTMX,
    )
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert re.search(r'<details class="settings" id="settings" open>', html)
    assert notice_of(html, "sender-settings") == "Sender allow-list saved."
    assert notice_of(html, "signature-settings") == ""
    assert "192.0.2.0/24</textarea>" in html
    assert "<hx-partial" not in html  # nothing else changed
    # Nothing left over for the next full page.
    assert "flash-info" not in client.get(f"/bins/{bin_id}").get_data(as_text=True)


def test_a_refusal_answers_only_the_message_into_that_form(page):
    client, bin_id, token, _ = page
    answer = client.post(
        f"/bins/{bin_id}/settings/response",
        data={"csrf_token": token, "status": "99", "content_type": "text/plain"},
        headers=HTMX,
    )
    assert answer.status_code == 400
    assert answer.headers["HX-Retarget"] == "#response-settings .form-notice"
    assert answer.headers["HX-Reswap"] == "innerHTML"
    html = answer.get_data(as_text=True)
    assert html.startswith('<p class="flash flash-error" role="alert">')
    assert "response.default.status must be an integer from 100 to 599" in html
    assert client.get(f"/api/bins/{bin_id}").get_json()["response"]["default"] is None
    bad_rules = client.post(
        f"/bins/{bin_id}/settings/response",
        data={"csrf_token": token, "rules": "not json"},
        headers=HTMX,
    )
    assert bad_rules.status_code == 400 and "Rules must be a JSON list." in bad_rules.text


def test_without_htmx_it_is_still_a_redirect_and_a_flash(page):
    client, bin_id, token, data = page
    answer = client.post(f"/bins/{bin_id}/settings/cors", data={"csrf_token": token})
    assert answer.status_code == 303
    html = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Capture URL no longer answers CORS preflights." in html
    assert client.get(f"/api/bins/{bin_id}").get_json()["cors"] is False
    assert 'name="cors" value="1">' in html  # unchecked now
    preflight = client.options(
        capture_path(data),
        headers={"Origin": "https://x.io", "Access-Control-Request-Method": "PUT"},
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers
    again = client.post(
        f"/bins/{bin_id}/settings/cors", data={"csrf_token": token, "cors": "1"}, headers=HTMX
    )
    assert notice_of(again.get_data(as_text=True), "cors-settings").startswith(
        "Capture URL answers"
    )
    assert client.get(f"/api/bins/{bin_id}").get_json()["cors"] is True


def test_a_re_verification_brings_back_the_rows_shown_and_the_open_detail(page):
    client, bin_id, token, data = page
    evil = "<script>alert(1)</script>"
    mine = [
        client.post(
            capture_path(data) + path,
            data=b"{}",
            headers={"X-Gitlab-Token": "tok-123", "X-Evil": evil},
        ).get_json()["id"]
        for path in ("/a", "/b")
    ]
    other = client.post("/api/bins").get_json()
    theirs = client.post(capture_path(other), data=b"{}").get_json()["id"]
    answer = client.post(
        f"/bins/{bin_id}/settings/signature",
        data={
            "csrf_token": token,
            "scheme": "gitlab",
            "secrets": "tok-123",
            "shown_ids": f"{mine[0]},{mine[1]},{theirs},junk,-3",
            "open_id": str(mine[1]),
        },
        headers=HTMX,
    )
    html = answer.get_data(as_text=True)
    assert "2 captured requests re-verified." in notice_of(html, "signature-settings")
    targets = re.findall(r'<hx-partial hx-target="([^"]+)" hx-swap="([^"]+)">', html)
    assert targets == [
        (f"#req-{mine[1]}", "outerHTML"),
        (f"#req-{mine[0]}", "outerHTML"),
        ("#detail", "innerHTML"),
    ]
    assert html.count("sig-valid") >= 3 and f"#req-{theirs}" not in html
    assert evil not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # escaped
    # Another bin's request is never shown as the open detail.
    answer = client.post(
        f"/bins/{bin_id}/settings/signature",
        data={"csrf_token": token, "scheme": "auto", "open_id": str(theirs)},
        headers=HTMX,
    )
    assert '<hx-partial hx-target="#detail"' not in answer.get_data(as_text=True)


def test_a_test_webhook_answers_in_place_too(page):
    client, bin_id, token, _ = page
    answer = client.post(
        f"/bins/{bin_id}/test-webhook", data={"csrf_token": token, "scheme": "github"}, headers=HTMX
    )
    assert answer.status_code == 200
    said = notice_of(answer.get_data(as_text=True), "test-webhook")
    assert "Sent a signed" in said and "(answered 200)" in said
    refused = client.post(
        f"/bins/{bin_id}/test-webhook", data={"csrf_token": token, "scheme": "nope"}, headers=HTMX
    )
    assert (
        refused.status_code == 400
        and refused.headers["HX-Retarget"] == "#test-webhook .form-notice"
    )
