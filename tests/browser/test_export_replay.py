"""Export, import and replay many from the bin page, in a real Chromium against a real server:
download the view as NDJSON and HAR, import the file into another bin, watch a replay's
progress bar and outcomes fill in, cancel one midway, all under the strict CSP."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import Server
from outbound.test_replays import Target
from playwright.sync_api import ConsoleMessage, Page, expect

pytestmark = pytest.mark.browser


@pytest.fixture
def target() -> Iterator[Target]:
    running = Target()
    yield running
    running.stop()


@pytest.fixture
def console_errors(page: Page) -> list[str]:
    """Errors the page logs while the test runs (a CSP violation, a script error); not the
    browser's note on each 4xx answer, which the tests expect where they get one."""
    errors: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    page.on("console", keep)
    return errors


def capture(bin_: dict, path: str, body: bytes, content_type: str = "application/json") -> None:
    request = urllib.request.Request(
        bin_["capture_url"] + path, data=body, method="POST", headers={"Content-Type": content_type}
    )
    urllib.request.urlopen(request, timeout=10).close()


def open_exchange(page: Page, bin_: dict) -> None:
    page.goto(bin_["dashboard_url"])
    expect(page.locator("#live-state")).to_have_text("live")
    page.locator("#exchange > summary").click()


def test_export_the_view_and_import_it_into_another_bin(
    page: Page, server: Server, tmp_path: Path, console_errors: list[str]
):
    source, copy = server.new_bin(), server.new_bin()
    capture(source, "/one?a=1&a=2", b'{"n": 1}')
    capture(source, "/two", b"\xff\xfe binary", "application/octet-stream")
    capture(source, "/three", b"a=1&b=%20", "application/x-www-form-urlencoded")

    open_exchange(page, source)
    with page.expect_download() as ndjson:
        page.locator("#export-ndjson").click()
    assert ndjson.value.suggested_filename.endswith(".ndjson")
    saved = tmp_path / ndjson.value.suggested_filename
    ndjson.value.save_as(saved)
    lines = [json.loads(line) for line in saved.read_text().splitlines()]
    assert [r["path"] for r in lines] == ["/one", "/two", "/three"]
    with page.expect_download() as har:
        page.locator("#export-har").click()
    entries = json.loads(Path(har.value.path()).read_text())["log"]["entries"]
    assert [e["_webbin"]["path"] for e in entries] == ["/one", "/two", "/three"]

    open_exchange(page, copy)
    page.locator("#import input[type=file]").set_input_files(str(saved))
    page.locator("#import button[type=submit]").click()
    expect(page.locator(".flash-info")).to_have_text("Imported 3 requests.")
    expect(page.locator("#request-list > li[data-id]")).to_have_count(3)
    expect(page.locator("#request-total")).to_have_text("3")
    expect(page.locator("#request-list > li[data-id]").first).to_contain_text("/three")

    # A file with a problem imports nothing and says where the problem is.
    broken = tmp_path / "broken.ndjson"
    broken.write_text(saved.read_text().splitlines()[0] + "\n{not json\n")
    page.locator("#exchange > summary").click()
    page.locator("#import input[type=file]").set_input_files(str(broken))
    page.locator("#import button[type=submit]").click()
    expect(page.locator(".flash-error")).to_contain_text("Nothing was imported. line 2")
    expect(page.locator("#request-list > li[data-id]")).to_have_count(3)
    assert console_errors == []


def test_a_replay_shows_its_progress_and_can_be_cancelled(
    page: Page, server: Server, target: Target, console_errors: list[str]
):
    bin_ = server.new_bin()
    for n in range(5):
        capture(bin_, f"/r{n}", b"{}")
    open_exchange(page, bin_)
    form = page.locator(".replay-form")
    form.locator("input[name=url]").fill(target.url())
    form.locator("input[name=rate]").fill("4")
    form.locator("button[type=submit]").click()

    job = page.locator("#replays > li.replay").first
    expect(job).to_have_attribute("data-state", "running")
    expect(job.locator("progress")).to_have_attribute("max", "5")
    expect(job).to_have_attribute("data-state", "done", timeout=15_000)
    expect(job.locator("progress")).to_have_attribute("value", "5")
    expect(job.locator(".replay-count")).to_have_text("5 of 5 sent")
    expect(job.locator(".replay-outcome")).to_have_count(5)
    expect(job.locator(".replay-outcome").first).to_contain_text("204")
    assert [hit["path"] for hit in target.hits] == [f"/r{n}" for n in range(5)]

    # A slower one, cancelled after its first request.
    form.locator("input[name=rate]").fill("0.5")
    form.locator("button[type=submit]").click()
    slow = page.locator("#replays > li.replay").first
    expect(slow).to_have_attribute("data-state", "running")
    expect(slow.locator("progress")).to_have_attribute("value", "1", timeout=10_000)
    slow.locator(".replay-cancel").click()
    expect(slow).to_have_attribute("data-state", "cancelled")
    expect(slow.locator(".replay-cancel")).to_have_count(0)
    time.sleep(2.5)  # the next would have gone after 2 s
    assert len(target.hits) == 5 + 1
    expect(slow.locator(".replay-count")).to_have_text("1 of 5 sent")

    # Reloaded (or opened in another tab), the page shows both as they ended.
    page.reload()
    states = page.locator("#replays > li.replay")
    expect(states).to_have_count(2)
    assert [states.nth(i).get_attribute("data-state") for i in range(2)] == ["cancelled", "done"]
    assert console_errors == []


def test_a_refused_replay_says_why(page: Page, server: Server, console_errors: list[str]):
    bin_ = server.new_bin()
    capture(bin_, "/x", b"{}")
    open_exchange(page, bin_)
    form = page.locator(".replay-form")
    form.locator("input[name=url]").fill("ftp://example.com/")
    form.locator("button[type=submit]").click()
    expect(page.locator("#replays .replay-refused")).to_contain_text("http")
    assert console_errors == []
