"""Resend through a forwarder from the dashboard, in a real Chromium, with the forwarder and
the browser on two different ``webbin serve`` processes sharing one database: the click, the
forwarder's connection and the outcome meet only through the database. Replay many through
a forwarder from the replay form, its progress followed to the end."""

from __future__ import annotations

import json

import pytest
from forward.support import Answer, Forward, Target, capture
from helpers import Server
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def test_resend_to_my_forwarder_from_another_process(page: Page, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    near, far = Server(data), Server(data)  # one folder, one SQLite file, two processes
    target = Target()
    target.answer = Answer(201, [("Content-Type", "text/plain")], b"hello from localhost")
    forwarder = None
    try:
        bin_ = near.new_bin()
        forwarder = Forward(
            f"{near.url}/bins/{bin_['id']}",
            target.url(),
            tmp_path / "state",
            "--name",
            "ada-laptop",
        )
        forwarder.wait_for("connected")
        request_id = json.loads(capture(bin_, "/github/push", b'{"zen": "hi"}')[2])["id"]
        forwarder.wait_for("forward", id=request_id)

        page.goto(f"{far.url}/bins/{bin_['id']}?r={request_id}")
        expect(page.locator("#forwarders")).to_contain_text("ada-laptop")
        expect(page.locator("#forwarders")).to_contain_text(target.url())
        detail = page.locator("#detail")
        button = detail.get_by_role(
            "button", name=f"Resend to my forwarder ada-laptop → {target.url()}"
        )
        button.click()
        result = detail.locator(".resend-results .attempt").first
        expect(result.locator(".status")).to_have_text("201 X")
        expect(result).to_contain_text("forward from ada-laptop")
        expect(result).to_contain_text(target.url() + "/github/push")
        resent = forwarder.wait_for("resend", id=request_id)
        assert resent["status"] == 201
        got = target.wait_for(2)
        assert [g.body for g in got] == [b'{"zen": "hi"}'] * 2
        assert got[0].headers == got[1].headers

        forwarder.interrupt()
        expect(page.locator("#forwarders")).to_contain_text("No forwarder connected", timeout=10000)
    finally:
        if forwarder is not None:
            forwarder.close()
        target.stop()
        near.stop()
        far.stop()


def test_replay_many_to_my_forwarder_from_the_replay_form(page: Page, tmp_path):
    server = Server(tmp_path)
    target = Target()
    forwarder = None
    try:
        bin_ = server.new_bin()
        for n in range(4):
            capture(
                bin_, f"/r{n}", f'{{"n": {n}}}'.encode(), [("Content-Type", "application/json")]
            )
        page.goto(bin_["dashboard_url"])
        expect(page.locator("#live-state")).to_have_text("live")
        page.locator("#exchange > summary").click()
        form = page.locator(".replay-form")
        expect(form.locator(".replay-to-forwarder")).to_have_count(0)
        # Connected after the page was drawn: its button appears when the forwarders box
        # refreshes, without a reload.
        forwarder = Forward(
            bin_["dashboard_url"], target.url(), tmp_path / "state", "--name", "ada <laptop>"
        )
        forwarder.wait_for("connected")
        button = form.get_by_role(
            "button", name=f"Replay all 4 to my forwarder ada <laptop> → {target.url()}"
        )
        expect(button).to_be_visible(timeout=15_000)
        form.locator("input[name=url]").fill("")  # not needed for a forwarder
        form.locator("input[name=rate]").fill("10")
        button.click()

        job = page.locator("#replays > li.replay").first
        expect(job).to_have_attribute("data-state", "running")
        expect(job.locator(".replay-through")).to_have_text(
            f"through my forwarder ada <laptop> → {target.url()}"
        )
        expect(job.locator("progress")).to_have_attribute("max", "4")
        expect(job).to_have_attribute("data-state", "done", timeout=15_000)
        expect(job.locator("progress")).to_have_attribute("value", "4")
        expect(job.locator(".replay-count")).to_have_text("4 of 4 sent")
        expect(job.locator(".replay-outcome")).to_have_count(4)
        expect(job.locator(".replay-outcome").first).to_contain_text("200")
        # The forwarder chose its name: it stays text, in the form and in the job.
        expect(page.locator("laptop")).to_have_count(0)
        got = target.wait_for(4)
        assert [g.target for g in got] == [f"/hook/r{n}" for n in range(4)]
        assert [g.body for g in got] == [f'{{"n": {n}}}'.encode() for n in range(4)]
    finally:
        if forwarder is not None:
            forwarder.close()
        target.stop()
        server.stop()
