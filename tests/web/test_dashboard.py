"""Dashboard pages and fragments through the Flask test client."""

from __future__ import annotations

import re

import pytest
from helpers import capture_path


@pytest.fixture
def browser_client(sqlite_app):
    return sqlite_app.test_client()


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def new_bin(client) -> str:
    home = client.get("/").get_data(as_text=True)
    response = client.post("/bins", data={"csrf_token": csrf_of(home), "name": "mine"})
    assert response.status_code == 303
    return response.headers["Location"].rsplit("/", 1)[1]


def test_home_has_new_bin_button_and_empty_state(browser_client):
    html = browser_client.get("/").get_data(as_text=True)
    assert "New bin" in html
    assert "No bins yet" in html


def test_new_bin_is_listed_on_home(browser_client):
    bin_id = new_bin(browser_client)
    assert f"/bins/{bin_id}" in browser_client.get("/").get_data(as_text=True)


def test_state_change_without_csrf_token_is_refused(browser_client):
    response = browser_client.post("/bins", data={"name": "x"})
    assert response.status_code == 403
    assert "Reload the page" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b'{"amount": 4200}', "application/json", 'class="mi">4200<'),
        (b"a=1&b=two+words", "application/x-www-form-urlencoded", "two words"),
        (b"plain words", "text/plain", "plain words"),
        (b"\x00\x01\x02\xff", "application/octet-stream", "00 01 02 ff"),
        (
            b'--XX\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n'
            b"Content-Type: text/plain\r\n\r\nfile text\r\n--XX--\r\n",
            "multipart/form-data; boundary=XX",
            "a.txt",
        ),
    ],
)
def test_detail_renders_each_body_kind(browser_client, body, content_type, expected):
    bin_id = new_bin(browser_client)
    data = browser_client.get(f"/api/bins/{bin_id}").get_json()
    browser_client.post(capture_path(data) + "/x?q=1", data=body, content_type=content_type)
    rid = browser_client.get(f"/api/bins/{bin_id}/requests").get_json()["requests"][0]["id"]
    html = browser_client.get(f"/bins/{bin_id}?r={rid}").get_data(as_text=True)
    assert expected in html
    fragment = browser_client.get(
        f"/bins/{bin_id}/requests/{rid}", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert expected in fragment and "<html" not in fragment


def test_multipart_part_download(browser_client):
    bin_id = new_bin(browser_client)
    data = browser_client.get(f"/api/bins/{bin_id}").get_json()
    body = (
        b'--XX\r\nContent-Disposition: form-data; name="f"; filename="a.bin"\r\n\r\n'
        b"\x00\xffexact\r\n--XX--\r\n"
    )
    browser_client.post(
        capture_path(data), data=body, content_type="multipart/form-data; boundary=XX"
    )
    rid = browser_client.get(f"/api/bins/{bin_id}/requests").get_json()["requests"][0]["id"]
    part = browser_client.get(f"/bins/{bin_id}/requests/{rid}/parts/0")
    assert part.data == b"\x00\xffexact"
    assert part.headers["X-Content-Type-Options"] == "nosniff"
    assert browser_client.get(f"/bins/{bin_id}/requests/{rid}/parts/5").status_code == 404


def test_captured_markup_is_escaped(browser_client):
    bin_id = new_bin(browser_client)
    data = browser_client.get(f"/api/bins/{bin_id}").get_json()
    evil = "<script>alert(1)</script>"
    browser_client.post(
        capture_path(data) + "/%3Cscript%3E",
        data=evil.encode(),
        headers={"X-Evil": evil},
        content_type="text/html",
    )
    rid = browser_client.get(f"/api/bins/{bin_id}/requests").get_json()["requests"][0]["id"]
    html = browser_client.get(f"/bins/{bin_id}?r={rid}").get_data(as_text=True)
    assert evil not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_unknown_bin_page_is_a_readable_404(browser_client):
    response = browser_client.get("/bins/does-not-exist")
    assert response.status_code == 404
    assert "No bin with this id" in response.get_data(as_text=True)


def test_older_rows_page(sqlite_app):
    sqlite_app.config["PAGE_SIZE"] = 2
    client = sqlite_app.test_client()
    bin_id = new_bin(client)
    data = client.get(f"/api/bins/{bin_id}").get_json()
    for i in range(5):
        client.post(capture_path(data) + f"/p{i}")
    page = client.get(f"/bins/{bin_id}").get_data(as_text=True)
    assert "/p4" in page and "/p3" in page and "/p2" not in page
    before = re.search(r"rows\?before=(\d+)", page).group(1)
    older = client.get(f"/bins/{bin_id}/rows?before={before}").get_data(as_text=True)
    assert "/p2" in older and "/p1" in older and "/p4" not in older
