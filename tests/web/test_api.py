"""The JSON API through the Flask test client."""

from __future__ import annotations

import pytest
from helpers import capture_path


def test_create_bin_returns_urls(client):
    response = client.post("/api/bins", json={"name": "stripe"})
    assert response.status_code == 201
    data = response.get_json()
    assert data["name"] == "stripe"
    assert len(data["id"]) >= 22 and data["id"] not in data["capture_url"]
    assert data["capture_url"].startswith("http://localhost/c/")
    assert data["dashboard_url"] == f"http://localhost/bins/{data['id']}"


def test_public_url_is_used_for_capture_urls(app):
    app.config["PUBLIC_URL"] = "https://hooks.example.com"
    data = app.test_client().post("/api/bins").get_json()
    assert data["capture_url"].startswith("https://hooks.example.com/c/")


def test_get_patch_delete_bin(client):
    bin_id = client.post("/api/bins").get_json()["id"]
    assert client.get(f"/api/bins/{bin_id}").get_json()["request_count"] == 0
    patched = client.patch(
        f"/api/bins/{bin_id}", json={"name": "renamed", "resend_url": "http://localhost:3000/"}
    )
    assert patched.status_code == 200
    assert patched.get_json()["name"] == "renamed"
    assert patched.get_json()["resend_url"] == "http://localhost:3000/"
    assert client.delete(f"/api/bins/{bin_id}").status_code == 204
    assert client.get(f"/api/bins/{bin_id}").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("get", "/api/bins/nope", {}, 404),
        ("patch", "/api/bins/{id}", {"data": "not json", "content_type": "application/json"}, 400),
        ("patch", "/api/bins/{id}", {"json": {"name": 5}}, 400),
        ("patch", "/api/bins/{id}", {"json": ["a list"]}, 400),
        ("get", "/api/bins/{id}/requests?limit=0", {}, 400),
        ("get", "/api/bins/{id}/requests?limit=abc", {}, 400),
        ("get", "/api/bins/{id}/requests?before=-1", {}, 400),
        ("get", "/api/bins/{id}/requests/999999", {}, 404),
        ("get", "/api/bins/{id}/requests/abc", {}, 404),
        ("post", "/api/bins/{id}/requests/999999/resend", {"json": {"url": "http://x"}}, 404),
        ("get", "/api/no-such-endpoint", {}, 404),
        ("put", "/api/bins", {}, 405),
    ],
)
def test_errors_are_json_with_status(client, method, path, kwargs, status):
    bin_id = client.post("/api/bins").get_json()["id"]
    response = getattr(client, method)(path.format(id=bin_id), **kwargs)
    assert response.status_code == status
    body = response.get_json()
    assert {"error", "message"} <= set(body) <= {"error", "message", "errors"}
    assert body["message"]


def test_requests_of_another_bin_are_not_visible(client):
    first = client.post("/api/bins").get_json()
    second = client.post("/api/bins").get_json()
    client.post(capture_path(first), data=b"secret")
    rid = client.get(f"/api/bins/{first['id']}/requests").get_json()["requests"][0]["id"]
    assert client.get(f"/api/bins/{second['id']}/requests/{rid}").status_code == 404
    assert client.get(f"/api/bins/{second['id']}/requests/{rid}/raw").status_code == 404


def test_keyset_paging_newest_first(client):
    bin_ = client.post("/api/bins").get_json()
    for i in range(7):
        client.post(capture_path(bin_) + f"/{i}")
    seen, before = [], None
    while True:
        url = f"/api/bins/{bin_['id']}/requests?limit=3" + (f"&before={before}" if before else "")
        page = client.get(url).get_json()
        seen += [r["path"] for r in page["requests"]]
        before = page["next_before"]
        if before is None:
            break
    assert seen == [f"/{i}" for i in reversed(range(7))]


def test_clear_and_delete_request(client):
    bin_ = client.post("/api/bins").get_json()
    for _ in range(3):
        client.post(capture_path(bin_))
    rows = client.get(f"/api/bins/{bin_['id']}/requests").get_json()["requests"]
    assert client.delete(f"/api/bins/{bin_['id']}/requests/{rows[0]['id']}").status_code == 204
    assert len(client.get(f"/api/bins/{bin_['id']}/requests").get_json()["requests"]) == 2
    assert client.delete(f"/api/bins/{bin_['id']}/requests").status_code == 204
    assert client.get(f"/api/bins/{bin_['id']}/requests").get_json()["requests"] == []
    # Numbering continues after a clear: a new request never reuses an old number.
    client.post(capture_path(bin_))
    assert client.get(f"/api/bins/{bin_['id']}/requests").get_json()["requests"][0]["seq"] == 4


def test_resend_without_url_is_400(client):
    bin_ = client.post("/api/bins").get_json()
    client.post(capture_path(bin_))
    rid = client.get(f"/api/bins/{bin_['id']}/requests").get_json()["requests"][0]["id"]
    response = client.post(f"/api/bins/{bin_['id']}/requests/{rid}/resend", json={})
    assert response.status_code == 400
