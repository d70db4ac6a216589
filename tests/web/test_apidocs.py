"""The API reference page at /api/docs, through a real ``webbin serve``: served from vendored
files under the strict policy (images from data: URLs the only addition, on that page only),
documented in the OpenAPI document, linked from every page. Chromium renders it in
tests/browser/test_rough_edges.py."""

from __future__ import annotations

import json
import re
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

from helpers import Server

from webbin.web.security import API_DOCS_POLICY, CONTENT_SECURITY_POLICY

VENDOR = Path(__file__).parents[2] / "static" / "vendor"


def get(server: Server, path: str) -> tuple[int, dict, bytes]:
    with urllib.request.urlopen(server.url + path, timeout=10) as response:
        return response.status, dict(response.headers), response.read()


def directives(policy: str) -> dict[str, str]:
    return {
        part.strip().split(" ", 1)[0]: part.strip().partition(" ")[2]
        for part in policy.split(";")
        if part.strip()
    }


class Assets(HTMLParser):
    """Script and stylesheet URLs, and inline scripts, styles and handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            if values.get("src"):
                self.scripts.append(values["src"] or "")
            else:
                self._in_script = True
        if tag == "link" and values.get("rel") == "stylesheet":
            self.styles.append(values.get("href") or "")
        if tag == "style" or "style" in values or any(n.startswith("on") for n, _ in attrs):
            self.inline.append(tag)

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("script")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False


def test_the_page_is_served_under_the_strict_policy_but_for_data_images(server: Server):
    status, headers, html = get(server, "/api/docs")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    policy = directives(headers["Content-Security-Policy"])
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["img-src"] == "'self' data:"
    assert policy["frame-ancestors"] == "'none'" and policy["connect-src"] == "'self'"
    assert "unsafe" not in headers["Content-Security-Policy"]
    assert headers["Content-Security-Policy"] == API_DOCS_POLICY
    # Only that one directive differs from every other page's.
    strict = directives(CONTENT_SECURITY_POLICY)
    assert {k: v for k, v in policy.items() if strict.get(k) != v} == {"img-src": "'self' data:"}
    assert headers["X-Frame-Options"] == "DENY"

    page = Assets()
    page.feed(html.decode())
    assert page.inline == []
    vendored = [s for s in page.scripts + page.styles if "/vendor/swagger-ui" in s]
    assert len(vendored) == 2
    for url in page.scripts + page.styles:
        status, headers, body = get(server, url)
        assert status == 200 and body, url
        assert headers["Content-Type"].split(";")[0] in ("text/javascript", "text/css"), url


def test_other_pages_keep_the_strict_policy(server: Server):
    for path in ("/", "/api/openapi.json"):
        _, headers, _ = get(server, path)
        assert directives(headers["Content-Security-Policy"])["img-src"] == "'self'", path


def test_the_json_stays_where_it_was_and_documents_the_page(server: Server):
    status, headers, body = get(server, "/api/openapi.json")
    assert status == 200 and headers["Content-Type"] == "application/json"
    document = json.loads(body)
    page = document["paths"]["/api/docs"]["get"]
    assert "text/html" in page["responses"]["200"]["content"]
    assert page["tags"] == ["meta"]


def test_every_page_links_the_reference(server: Server):
    _, _, html = get(server, "/")
    assert re.search(rb'<a class="topbar-link" href="/api/docs"[^>]*>API</a>', html)


def test_the_viewer_is_vendored_with_its_version_and_licence():
    for name in (
        "swagger-ui-bundle-5.35.0.js",
        "swagger-ui-5.35.0.css",
        "swagger-ui-bundle-5.35.0.js.LICENSE.txt",
    ):
        assert (VENDOR / name).stat().st_size > 0, name
    licence = (VENDOR / "swagger-ui-LICENSE.txt").read_text()
    assert "Apache License" in licence and "Version 2.0" in licence
    assert "SmartBear" in (VENDOR / "swagger-ui-NOTICE.txt").read_text()
    # The bundle fetches nothing from elsewhere by itself (no validator badge, no telemetry).
    bundle = (VENDOR / "swagger-ui-bundle-5.35.0.js").read_text()
    assert "scarf" not in bundle.lower()
