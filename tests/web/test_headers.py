"""Nothing executed, nothing framed: the headers and markup every response carries."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from helpers import capture_path

from webbin.web.security import CONTENT_SECURITY_POLICY

MULTIPART = (
    b'--XX\r\nContent-Disposition: form-data; name="f"; filename="<b>x</b>.html"\r\n'
    b"Content-Type: text/html\r\n\r\n<script>alert(1)</script>\r\n--XX--\r\n"
)


@pytest.fixture
def client(sqlite_app):
    """Headers do not depend on the database: SQLite only."""
    return sqlite_app.test_client()


@pytest.fixture
def filled(client) -> dict:
    """A bin holding one multipart request, and the URLs of everything that shows it."""
    bin_ = client.post("/api/bins", json={"name": "h"}).get_json()
    client.post(capture_path(bin_), data=MULTIPART, content_type="multipart/form-data; boundary=XX")
    rid = client.get(f"/api/bins/{bin_['id']}/requests").get_json()["requests"][0]["id"]
    base = f"/bins/{bin_['id']}"
    return {
        "bin": bin_,
        "rid": rid,
        "pages": ["/", base, f"{base}?r={rid}", "/no-such-page", "/bins/unknown"],
        "fragments": [f"{base}/rows", f"{base}/requests/{rid}"],
        "json": [
            "/api/openapi.json",
            f"/api/bins/{bin_['id']}",
            f"/api/bins/{bin_['id']}/requests",
            f"/api/bins/{bin_['id']}/requests/{rid}",
            "/api/bins/unknown",
        ],
        "downloads": [
            f"/api/bins/{bin_['id']}/requests/{rid}/raw",
            f"{base}/requests/{rid}/raw",
            f"{base}/requests/{rid}/parts/0",
        ],
    }


def directives(policy: str) -> dict[str, str]:
    return {
        part.strip().split(" ", 1)[0]: part.strip().partition(" ")[2]
        for part in policy.split(";")
        if part.strip()
    }


def test_policy_is_strict():
    policy = directives(CONTENT_SECURITY_POLICY)
    assert policy["script-src"] == "'self'"  # no inline script, no eval, no nonce to leak
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["base-uri"] == "'none'"
    assert policy["object-src"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


def test_every_page_fragment_and_api_answer_carries_the_headers(client, filled):
    htmx = {"HX-Request": "true"}
    answers = [client.get(url) for url in filled["pages"] + filled["json"]]
    answers += [client.get(url, headers=htmx) for url in filled["fragments"]]
    answers.append(client.post(capture_path(filled["bin"]), data=b"x"))
    answers.append(client.get("/static/webbin.js"))
    for answer in answers:
        where = answer.request.path
        assert answer.headers["Referrer-Policy"] == "no-referrer", where
        assert answer.headers["X-Content-Type-Options"] == "nosniff", where
        assert answer.headers["X-Frame-Options"] == "DENY", where
        policy = directives(answer.headers["Content-Security-Policy"])
        assert "unsafe-inline" not in answer.headers["Content-Security-Policy"], where
        if "sandbox" not in policy:
            assert policy["frame-ancestors"] == "'none'", where
            assert policy["script-src"] == "'self'", where


def test_pages_holding_captured_data_are_not_cached(client, filled):
    for url in filled["pages"][1:3] + filled["json"][1:]:
        assert client.get(url).headers["Cache-Control"] == "no-store", url


def test_every_download_is_an_inert_attachment(client, filled):
    for url in filled["downloads"]:
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert answer.headers["Content-Disposition"].startswith("attachment"), url
        assert answer.headers["X-Content-Type-Options"] == "nosniff", url
        assert answer.mimetype == "application/octet-stream", url
        assert directives(answer.headers["Content-Security-Policy"]).keys() >= {
            "sandbox",
            "default-src",
        }, url


class ScriptAudit(HTMLParser):
    """Collects inline scripts, event-handler attributes and javascript: URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.in_inline_script = False
        self.htmx_config: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and not values.get("src"):
            self.in_inline_script = True
            self.problems.append("inline <script>")
        if tag == "meta" and values.get("name") == "htmx-config":
            self.htmx_config = values.get("content")
        for name, value in attrs:
            if name.startswith("on") or name.startswith("hx-on"):
                self.problems.append(f"<{tag} {name}>")
            if value and re.match(r"\s*javascript:", value, re.I):
                self.problems.append(f"<{tag} {name}={value}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self.in_inline_script = False


def test_pages_have_no_inline_script_and_pin_htmx_to_same_origin(client, filled):
    import json

    for url in filled["pages"]:
        audit = ScriptAudit()
        audit.feed(client.get(url).get_data(as_text=True))
        assert audit.problems == [], url
        assert json.loads(audit.htmx_config or "{}").get("mode") == "same-origin", url
        assert "inlineScriptNonce" not in (audit.htmx_config or "")


def test_session_cookie_is_samesite_lax_and_httponly(client):
    cookie = client.get("/").headers["Set-Cookie"]
    assert "SameSite=Lax" in cookie
    assert "HttpOnly" in cookie


def test_session_cookie_is_secure_behind_https(tmp_path):
    from webbin import create_app

    app = create_app(
        {"TESTING": True, "DATA_DIR": str(tmp_path), "PUBLIC_URL": "https://hooks.example"}
    )
    assert "Secure" in app.test_client().get("/").headers["Set-Cookie"]
