"""The dashboard's rough edges, in a real Chromium against a real ``webbin serve``: settings
saved in place, a 420 px wide screen, the live badge across an outage, raw and pretty
bodies, folding JSON, CORS for senders in a browser, desktop notifications, selecting
several requests, and the API reference page."""

from __future__ import annotations

import http.server
import json
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import Server
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def capture(
    bin_: dict,
    suffix: str = "/hook",
    body: bytes = b'{"a": 1}',
    content_type: str = "application/json",
    headers: dict | None = None,
) -> int:
    """Send one request to the bin; its id."""
    request = urllib.request.Request(
        bin_["capture_url"] + suffix,
        data=body,
        method="POST",
        headers={"Content-Type": content_type, **(headers or {})},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["id"]


def api(server: Server, path: str, method: str = "GET", data: dict | None = None) -> dict:
    request = urllib.request.Request(
        server.url + path,
        data=json.dumps(data).encode() if data is not None else None,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def open_bin(page: Page, bin_: dict) -> None:
    page.goto(bin_["dashboard_url"])
    expect(page.locator("#live-state")).to_have_text("live")


def rows(page: Page):
    return page.locator("#request-list li[data-id]")


def open_row(page: Page, text: str) -> None:
    rows(page).filter(has_text=text).locator("a").click()
    expect(page.locator("#detail .request-detail .path")).to_contain_text(text)


def mark_page(page: Page) -> None:
    """A value only this page load holds: gone after any reload."""
    page.evaluate("window.__notReloaded = true")


def not_reloaded(page: Page) -> bool:
    return page.evaluate("window.__notReloaded === true")


# --- settings saved in place ---------------------------------------------------------


def test_saving_settings_keeps_the_selection_the_open_panel_and_the_scroll(
    page: Page, server: Server
):
    bin_ = server.new_bin()
    for i in range(12):
        capture(bin_, f"/n{i}")
    page.set_viewport_size({"width": 1280, "height": 700})
    open_bin(page, bin_)
    open_row(page, "/n3")
    page.locator("#settings summary").click()
    page.locator("#sender-settings textarea").fill("192.0.2.0/24")
    page.locator("#sender-settings").scroll_into_view_if_needed()
    mark_page(page)
    scrolled = page.evaluate("window.scrollY")
    assert scrolled > 0
    page.locator("#sender-save").click()

    notice = page.locator("#sender-settings .form-notice")
    expect(notice).to_have_text("Sender allow-list saved.")
    assert not_reloaded(page)
    expect(page.locator("#settings")).to_have_attribute("open", "")
    expect(page.locator("#detail .request-detail .path")).to_have_text("/n3")
    expect(page.locator("#request-list li.selected")).to_contain_text("/n3")
    assert page.url.endswith(
        f"?r={page.locator('#request-list li.selected').get_attribute('data-id')}"
    )
    assert abs(page.evaluate("window.scrollY") - scrolled) < 5
    assert page.evaluate("document.activeElement.id") == "sender-save"  # keyboard users stay put
    assert api(server, f"/api/bins/{bin_['id']}")["allowed_networks"] == ["192.0.2.0/24"]
    # The panel shows what was saved, and the page's other forms still work.
    expect(page.locator("#sender-settings textarea")).to_have_value("192.0.2.0/24")
    page.locator("#cors-settings input[name=cors]").uncheck()
    page.locator("#cors-save").click()
    expect(page.locator("#cors-settings .form-notice")).to_contain_text("no longer answers")
    expect(page.locator("#sender-settings .form-notice")).to_be_empty()
    assert api(server, f"/api/bins/{bin_['id']}")["cors"] is False
    assert not_reloaded(page)


def test_a_refused_setting_keeps_what_was_typed(page: Page, server: Server):
    bin_ = server.new_bin()
    open_bin(page, bin_)
    page.locator("#settings summary").click()
    form = page.locator("#response-settings")
    form.locator("input[name=status]").fill("503")
    form.locator("textarea[name=rules]").fill('[{"method": "POST", "response": {"status": "x"}}]')
    mark_page(page)
    page.locator("#response-save").click()
    alert = form.locator(".form-notice [role=alert]")
    expect(alert).to_contain_text("response.rules[0].response.status must be a valid integer")
    assert not_reloaded(page)
    expect(form.locator("input[name=status]")).to_have_value("503")
    expect(form.locator("textarea[name=rules]")).to_have_value(re.compile(r'"status": "x"'))
    assert api(server, f"/api/bins/{bin_['id']}")["response"]["default"] is None
    # Fixed and saved: the error gives way to the confirmation.
    form.locator("textarea[name=rules]").fill("")
    page.locator("#response-save").click()
    expect(form.locator(".form-notice")).to_have_text("Custom response saved.")


def test_re_verifying_in_place_updates_the_rows_and_the_open_detail(page: Page, server: Server):
    bin_ = server.new_bin()
    capture(bin_, "/gl", b"{}", headers={"X-Gitlab-Token": "tok-123"})
    open_bin(page, bin_)
    open_row(page, "/gl")
    expect(page.locator("#detail #signature .badge")).to_have_text("unverified")
    page.locator("#settings summary").click()
    page.select_option("#signature-settings select[name=scheme]", "gitlab")
    page.locator("#signature-settings textarea[name=secrets]").fill("tok-123")
    mark_page(page)
    page.locator("#signature-save").click()
    expect(page.locator("#signature-settings .form-notice")).to_contain_text(
        "1 captured request re-verified."
    )
    expect(rows(page).first.locator(".badge.sig-valid")).to_be_visible()
    expect(page.locator("#detail #signature .badge")).to_have_text("valid")
    expect(page.locator("#request-list li.selected")).to_contain_text("/gl")
    assert not_reloaded(page)


# --- narrow screens ------------------------------------------------------------------

LONG_NAME = "stripe-staging-payments-webhook-endpoint-for-the-europe-region"


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_at_420_px_nothing_is_cut_off_or_broken(page: Page, server: Server, tmp_path, theme):
    bin_ = api(server, "/api/bins", "POST", {"name": LONG_NAME})
    capture(bin_, "/a/rather/long/path/for/a/narrow/screen", b"x", "text/plain")
    page.set_viewport_size({"width": 420, "height": 860})
    page.emulate_media(color_scheme=theme)
    open_bin(page, bin_)
    page.screenshot(path=tmp_path / f"bin-420-{theme}.png")
    box = page.locator("#theme-toggle").bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 420
    assert page.evaluate("document.documentElement.scrollWidth") <= 420  # no sideways scroll
    name = page.locator(".topbar .bin-name")
    expect(name).to_have_attribute("title", LONG_NAME)
    one_line = page.evaluate(
        """el => { const s = getComputedStyle(el);
                  return el.getBoundingClientRect().height <= parseFloat(s.lineHeight) * 1.5; }""",
        name.element_handle(),
    )
    assert one_line, "the bin name wraps"
    assert page.evaluate("el => el.scrollWidth > el.clientWidth", name.element_handle())  # "…"
    method = rows(page).first.locator(".method")
    expect(method).to_have_text("POST")
    assert page.evaluate("el => el.getClientRects().length", method.element_handle()) == 1
    assert method.bounding_box()["height"] < 24, "the method badge wraps"
    # Every control of the top bar is on screen, the notification bell too.
    for control in ("#notify-toggle", "#live-state", ".topbar-link"):
        box = page.locator(control).bounding_box()
        assert box and box["x"] + box["width"] <= 420, control
    dark = page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(15, 17, 23)"
    assert dark == (theme == "dark")


# --- the live badge ------------------------------------------------------------------


def test_the_badge_says_reconnecting_while_the_server_is_down(page: Page, tmp_path: Path):
    server = Server(tmp_path)
    try:
        bin_ = server.new_bin()
        capture(bin_, "/before")
        open_bin(page, bin_)
        page.evaluate(
            """() => { window.__states = [];
                new MutationObserver(() => window.__states.push(
                  document.querySelector('#live-state').dataset.state))
                .observe(document.querySelector('#live-state'), {attributes: true}); }"""
        )
        port = server.port
        server.stop()
        badge = page.locator("#live-state")
        expect(badge).to_have_text("reconnecting…")
        expect(badge).to_have_attribute("data-state", "reconnecting")
        time.sleep(2)  # several failed attempts: still not "connecting…"
        expect(badge).to_have_text("reconnecting…")
        server = Server(tmp_path, port=port)
        capture(bin_, "/during")
        expect(badge).to_have_text("live", timeout=20000)
        capture(bin_, "/after")
        expect(rows(page)).to_have_count(3)
        paths = [p.strip() for p in rows(page).locator(".path").all_inner_texts()]
        assert paths == ["/after", "/during", "/before"]
        states = page.evaluate("window.__states")
        assert "connecting" not in states and states[-1] == "live"
        assert "reconnecting" in states
    finally:
        server.stop()


# --- body views ----------------------------------------------------------------------

FORM_BODY = b"name=J%C3%B6rg+M&amount=42&empty="


def test_form_bodies_have_a_raw_view_and_the_choice_is_kept(page: Page, server: Server):
    bin_ = server.new_bin()
    capture(bin_, "/json", b'{"b": [1, 2]}')
    capture(bin_, "/form", FORM_BODY, "application/x-www-form-urlencoded")
    open_bin(page, bin_)
    open_row(page, "/form")
    body = page.locator("#detail section.body")
    expect(body.locator(".body-pretty table.kv")).to_contain_text("Jörg M")
    expect(body.locator(".body-raw")).to_be_hidden()
    expect(body.get_by_role("button", name="Copy", exact=True)).to_be_visible()
    body.get_by_role("button", name="Raw", exact=True).click()
    expect(body.locator(".body-raw pre")).to_have_text(FORM_BODY.decode())
    expect(body.locator(".body-pretty")).to_be_hidden()
    expect(body.get_by_role("button", name="Raw", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    # The next body opens raw too, and r switches back.
    open_row(page, "/json")
    expect(body.locator(".body-raw pre")).to_have_text('{"b": [1, 2]}')
    page.keyboard.press("r")
    expect(body.locator(".body-pretty pre.highlight")).to_be_visible()
    expect(body.get_by_role("button", name="Pretty", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    page.reload()
    expect(page.locator("#detail .body-pretty pre.highlight")).to_be_visible()


def test_a_large_json_body_folds(page: Page, server: Server):
    data = {"items": [{"id": i, "tags": ["a", "b"], "meta": {"k": i}} for i in range(20)]}
    bin_ = server.new_bin()
    capture(bin_, "/big", json.dumps(data).encode())
    open_bin(page, bin_)
    open_row(page, "/big")
    tree = page.locator("#detail .json-tree")
    expect(tree).to_be_visible()
    # Copy pretty still gets the pretty text, line breaks and all.
    assert tree.text_content() == json.dumps(data, indent=2)
    first_item = tree.locator("details.json-node").nth(2)
    expect(first_item.locator("> summary")).to_have_text("    {")
    expect(first_item).to_contain_text('"id": 0')
    first_item.locator("> summary").focus()
    page.keyboard.press("Enter")  # <details>: folds by keyboard too
    expect(first_item).not_to_have_attribute("open", "")
    expect(tree.get_by_text('"id": 0')).to_be_hidden()
    after = page.evaluate(
        "el => getComputedStyle(el, '::after').content",
        first_item.locator("> summary").element_handle(),
    )
    assert "(3 keys)" in after
    page.locator("#detail").get_by_role("button", name="Unfold all", exact=True).click()
    expect(tree.get_by_text('"id": 0')).to_be_visible()
    page.locator("#detail").get_by_role("button", name="Fold all", exact=True).click()
    expect(tree.locator("details.json-node[open]")).to_have_count(0)


# --- CORS: a sender in a browser -----------------------------------------------------


class Blank(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<!doctype html><title>sender</title><p>another origin")

    def log_message(self, *args):
        pass


@pytest.fixture
def other_origin() -> Iterator[str]:
    """A page on another origin (another port), as a sender's web app would be."""
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Blank)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{site.server_port}/"
    site.shutdown()


SEND = """async ([url, header]) => {
  try {
    const answer = await fetch(url, {method: "PUT", body: JSON.stringify({from: "page"}),
      headers: {"Content-Type": "application/json", [header]: "abc"}});
    return {status: answer.status, body: await answer.json()};
  } catch (err) { return {error: String(err)}; }
}"""


def test_a_web_page_on_another_origin_can_send_and_read_the_answer(
    page: Page, server: Server, other_origin: str
):
    bin_ = server.new_bin()
    page.goto(other_origin)
    result = page.evaluate(SEND, [bin_["capture_url"] + "/from-browser", "X-Webhook-Token"])
    assert result.get("status") == 200 and result["body"]["ok"] is True, result
    listed = api(server, f"/api/bins/{bin_['id']}/requests")["requests"]
    assert [(r["method"], r["response_status"]) for r in listed] == [("PUT", 200), ("OPTIONS", 204)]
    detail = api(server, f"/api/bins/{bin_['id']}/requests/{listed[0]['id']}")
    assert ["X-Webhook-Token", "abc"] in detail["headers"]
    assert json.loads(detail["body_text"]) == {"from": "page"}

    api(server, f"/api/bins/{bin_['id']}", "PATCH", {"cors": False})
    # Another header: the browser cannot reuse the preflight it cached (5 s) for the first.
    refused = page.evaluate(SEND, [bin_["capture_url"] + "/from-browser", "X-Other-Token"])
    assert "error" in refused, refused  # the browser refuses: no CORS
    methods = [r["method"] for r in api(server, f"/api/bins/{bin_['id']}/requests")["requests"]]
    assert methods == ["OPTIONS", "PUT", "OPTIONS"]  # the refused preflight is still captured


# --- desktop notifications -----------------------------------------------------------

# Counts what the page asks of the real Notification API, passing everything through.
NOTIFICATION_SPY = """(() => {
  window.__notes = [];
  window.__asked = 0;
  const Real = window.Notification;
  class Counted extends Real {
    constructor(title, options) {
      super(title, options);
      window.__notes.push({title, body: options && options.body});
    }
    static requestPermission(...args) {
      window.__asked += 1;
      return Real.requestPermission(...args);
    }
  }
  window.Notification = Counted;
})();"""


def hide(page: Page, hidden: bool) -> None:
    page.evaluate(
        "hidden => { Object.defineProperty(document, 'hidden', {value: hidden, configurable: true});"
        " document.dispatchEvent(new Event('visibilitychange')); }",
        hidden,
    )


def test_notifications_are_opt_in_asked_on_click_and_only_while_hidden(page: Page, server: Server):
    page.context.add_init_script(NOTIFICATION_SPY)
    page.context.grant_permissions(["notifications"])
    bin_ = server.new_bin()
    open_bin(page, bin_)
    bell = page.locator("#notify-toggle")
    expect(bell).to_have_attribute("aria-pressed", "false")
    capture(bin_, "/unwanted")
    hide(page, True)
    capture(bin_, "/still-unwanted")
    expect(rows(page)).to_have_count(2)
    assert page.evaluate("[window.__asked, window.__notes.length]") == [0, 0]  # never unasked
    hide(page, False)

    bell.focus()
    page.keyboard.press("Enter")  # permission granted already: nothing to ask
    expect(bell).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("window.__asked") == 0
    capture(bin_, "/seen")  # the tab is visible: no notification
    expect(rows(page)).to_have_count(3)
    hide(page, True)
    capture(bin_, "/while-away")
    expect(rows(page)).to_have_count(4)
    notes = page.evaluate("window.__notes")
    assert len(notes) == 1 and notes[0]["body"] == "POST /while-away", notes
    assert "New request" in notes[0]["title"]

    page.reload()  # remembered, and not asked again
    expect(page.locator("#notify-toggle")).to_have_attribute("aria-pressed", "true")
    page.locator("#notify-toggle").click()
    expect(page.locator("#notify-toggle")).to_have_attribute("aria-pressed", "false")
    hide(page, True)
    capture(bin_, "/off-again")
    expect(rows(page)).to_have_count(5)
    assert page.evaluate("[window.__asked, window.__notes.length]") == [0, 0]


def test_blocked_notifications_say_so(page: Page, server: Server):
    page.context.add_init_script(NOTIFICATION_SPY)
    page.context.clear_permissions()
    bin_ = server.new_bin()
    open_bin(page, bin_)
    assert page.evaluate("Notification.permission") == "default"
    page.locator("#notify-toggle").click()  # asked now, and refused (headless cannot allow)
    expect(page.locator("#toast")).to_contain_text("blocked")
    assert page.evaluate("window.__asked") == 1
    expect(page.locator("#notify-toggle")).to_have_attribute("aria-pressed", "false")
    capture(bin_, "/unannounced")
    hide(page, True)
    capture(bin_, "/still-unannounced")
    expect(rows(page)).to_have_count(2)
    assert page.evaluate("window.__notes") == []


# --- selecting several requests ------------------------------------------------------


def test_select_a_range_compare_export_and_delete_in_one_go(page: Page, server: Server):
    bin_ = server.new_bin()
    ids = [capture(bin_, f"/r{i}") for i in range(6)]  # the list shows r5 first
    open_bin(page, bin_)
    actions = page.locator("#selection-actions")
    expect(actions).to_be_hidden()
    boxes = rows(page).locator(".row-check")
    boxes.nth(1).check()  # r4
    boxes.nth(4).click(modifiers=["Shift"])  # through r1
    expect(page.locator("#selection-count")).to_have_text("4 selected")
    assert page.evaluate("webbin.selectedIds()") == sorted(ids[1:5])
    compare = page.locator("#compare-selected")
    expect(compare).to_have_attribute("aria-disabled", "true")
    assert compare.get_attribute("href") is None
    boxes.nth(2).uncheck()
    boxes.nth(3).uncheck()
    expect(compare).to_have_attribute("href", f"/bins/{bin_['id']}/compare/{ids[1]}/{ids[4]}")
    compare.click()  # the comparison of the two replaces the detail
    expect(page.locator("#detail .request-diff")).to_be_visible()
    expect(page.locator("#export-selected")).to_have_attribute(
        "href", f"/api/bins/{bin_['id']}/export?ids={ids[1]},{ids[4]}"
    )
    # Everything visible, then delete it all but one with a single call.
    page.locator("#select-all").check()
    expect(page.locator("#selection-count")).to_have_text("6 selected")
    boxes.nth(0).uncheck()
    expect(page.locator("#select-all")).not_to_be_checked()
    assert page.evaluate("document.querySelector('#select-all').indeterminate")
    open_row(page, "/r2")
    calls: list[str] = []
    page.on("request", lambda r: calls.append(r.url) if "/delete" in r.url else None)
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#delete-selected").click()
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("/r5")
    expect(page.locator("#request-total")).to_have_text("1")
    expect(page.locator("#detail")).to_contain_text("Request deleted.")
    assert "?r=" not in page.url
    expect(actions).to_be_hidden()
    assert len(calls) == 1 and calls[0].endswith(f"/api/bins/{bin_['id']}/requests/delete")
    assert [r["id"] for r in api(server, f"/api/bins/{bin_['id']}/requests")["requests"]] == [
        ids[5]
    ]


def test_selecting_by_keyboard(page: Page, server: Server):
    bin_ = server.new_bin()
    ids = [capture(bin_, f"/k{i}") for i in range(4)]
    open_bin(page, bin_)
    current = page.locator("#request-list li.selected")

    def press(key: str, then: str | None = None) -> None:
        page.keyboard.press(key)
        if then:
            expect(current).to_contain_text(then)  # the detail loaded: x acts on it

    press("j", "/k3")
    press("x")
    press("j", "/k2")
    press("j", "/k1")
    press("Shift+X")
    assert page.evaluate("webbin.selectedIds()") == sorted(ids[1:4])
    page.keyboard.press("Escape")
    assert page.evaluate("webbin.selectedIds()") == []
    expect(page.locator("#selection-actions")).to_be_hidden()
    # A row's box is a labelled checkbox that Tab reaches and Space toggles.
    box = rows(page).first.locator(".row-check")
    expect(box).to_have_attribute("aria-label", re.compile(r"Select request #4"))
    box.focus()
    page.keyboard.press("Space")
    assert page.evaluate("webbin.selectedIds()") == [ids[3]]


def test_the_selection_survives_arrivals_and_is_announced(page: Page, server: Server):
    bin_ = server.new_bin()
    first = capture(bin_, "/one")
    open_bin(page, bin_)
    page.evaluate(
        "() => { window.__seen = []; document.addEventListener('webbin:selection',"
        " e => window.__seen.push(e.detail.ids)); }"
    )
    page.locator("#select-all").check()
    capture(bin_, "/two")
    expect(rows(page)).to_have_count(2)
    assert page.evaluate("webbin.selectedIds()") == [first]
    assert page.evaluate("document.querySelector('#select-all').indeterminate")
    assert page.evaluate("window.__seen") == [[first]]


# --- the API reference ---------------------------------------------------------------


def test_the_api_link_opens_a_reference_that_runs_under_the_policy(page: Page, server: Server):
    violations: list[str] = []
    page.on(
        "console", lambda m: violations.append(m.text) if "Content Security" in m.text else None
    )
    page.on("pageerror", lambda error: violations.append(str(error)))
    bin_ = server.new_bin()
    page.goto(server.url)
    page.get_by_role("link", name="API").click()
    expect(page).to_have_url(server.url + "/api/docs")
    document = api(server, "/api/openapi.json")  # the JSON stays where it was
    summaries = page.locator(".opblock-summary-path")
    expect(summaries.first).to_be_visible(timeout=20000)  # 1.7 MB of script to start
    shown = {text.replace("\u200b", "") for text in summaries.all_inner_texts()}
    assert shown == set(document["paths"])
    # Open an operation and try it against this webbin.
    operation = page.locator("#operations-bins-getBin")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.locator("input[placeholder=id]").fill(bin_["id"])
    operation.get_by_role("button", name="Execute").click()
    expect(
        operation.locator(".live-responses-table tbody .response-col_status").first
    ).to_have_text("200")
    expect(operation.locator(".live-responses-table")).to_contain_text(bin_["capture_url"])
    # webbin's dark mode reaches the viewer.
    before = page.evaluate("document.documentElement.classList.contains('dark-mode')")
    page.keyboard.press("Escape")
    page.locator("body").click(position={"x": 5, "y": 200})
    page.keyboard.press("t")
    after = page.evaluate("document.documentElement.classList.contains('dark-mode')")
    assert after != before
    assert violations == []
