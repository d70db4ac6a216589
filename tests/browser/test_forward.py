"""Resend through a forwarder from the dashboard, in a real Chromium, with the forwarder and
the browser on two different ``webbin serve`` processes sharing one database: the click, the
forwarder's connection and the outcome meet only through the database."""

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
