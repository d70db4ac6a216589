"""A capture opens no session and saves none, even when the browser sends a session cookie;
the dashboard's session is untouched."""

from __future__ import annotations

import re

from flask.sessions import SecureCookieSessionInterface as Cookies
from helpers import capture_path


def csrf_token(page: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def test_capture_never_opens_or_saves_a_session(app, monkeypatch):
    client = app.test_client()
    bin_ = client.post("/api/bins").get_json()
    # The dashboard keeps its CSRF token in the session: the browser now has a session cookie.
    token = csrf_token(client.get(f"/bins/{bin_['id']}").get_data(as_text=True))
    assert client.get_cookie("session") is not None

    opened, saved = [], []
    real_open, real_save = Cookies.open_session, Cookies.save_session
    monkeypatch.setattr(
        Cookies, "open_session", lambda i, a, r: opened.append(r.path) or real_open(i, a, r)
    )
    monkeypatch.setattr(
        Cookies, "save_session", lambda i, a, s, r: saved.append(s) or real_save(i, a, s, r)
    )

    for path in (capture_path(bin_), capture_path(bin_) + "/hook", "/c/no-such-token/x"):
        answer = client.post(path, data=b'{"a": 1}')
        assert answer.status_code in (200, 404)
        assert "Set-Cookie" not in answer.headers
    assert opened == [] and saved == []

    page = client.get("/")  # the dashboard still has the same session
    assert opened == ["/"] and len(saved) == 1
    assert csrf_token(page.get_data(as_text=True)) == token
