"""``POST /api/bins/{id}/requests/delete``: several requests deleted in one transaction, on
SQLite and PostgreSQL; only the bin's own, counted once, and strict about its body."""

from __future__ import annotations

import pytest
from helpers import capture_path

from webbin.web.schemas import MAX_DELETE


def filled(client, count: int) -> tuple[dict, list[int]]:
    bin_ = client.post("/api/bins").get_json()
    ids = [client.post(capture_path(bin_), data=b"x").get_json()["id"] for _ in range(count)]
    return bin_, ids


def listed(client, bin_: dict) -> list[int]:
    return [r["id"] for r in client.get(f"/api/bins/{bin_['id']}/requests").get_json()["requests"]]


def test_deletes_those_asked_for_and_says_which(client):
    bin_, ids = filled(client, 5)
    answer = client.post(
        f"/api/bins/{bin_['id']}/requests/delete", json={"ids": [ids[3], ids[0], ids[3]]}
    )
    assert answer.status_code == 200
    assert answer.get_json() == {"deleted": [ids[0], ids[3]]}
    assert listed(client, bin_) == [ids[4], ids[2], ids[1]]
    assert client.get(f"/api/bins/{bin_['id']}").get_json()["request_count"] == 3


def test_another_bins_requests_and_gone_ones_are_skipped(client):
    mine, my_ids = filled(client, 2)
    theirs, their_ids = filled(client, 2)
    client.delete(f"/api/bins/{mine['id']}/requests/{my_ids[0]}")
    answer = client.post(
        f"/api/bins/{mine['id']}/requests/delete", json={"ids": [*my_ids, their_ids[0]]}
    )
    assert answer.get_json() == {"deleted": [my_ids[1]]}
    assert listed(client, theirs) == their_ids[::-1]
    assert client.get(f"/api/bins/{mine['id']}").get_json()["request_count"] == 0
    assert client.get(f"/api/bins/{theirs['id']}").get_json()["request_count"] == 2


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({}, "ids"),
        ({"ids": []}, "ids"),
        ({"ids": ["1"]}, "ids[0]"),
        ({"ids": [0]}, "ids[0]"),
        ({"ids": [1.5]}, "ids[0]"),
        ({"ids": [2**63]}, "ids[0]"),
        ({"ids": [1], "all": True}, "all"),
        ({"ids": list(range(1, MAX_DELETE + 2))}, "ids"),
    ],
)
def test_a_bad_body_is_refused_field_by_field(client, body, path):
    bin_, ids = filled(client, 1)
    answer = client.post(f"/api/bins/{bin_['id']}/requests/delete", json=body)
    assert answer.status_code == 400
    assert path in [e["path"] for e in answer.get_json()["errors"]]
    assert listed(client, bin_) == ids


def test_an_unknown_bin_is_404(client):
    answer = client.post("/api/bins/nope/requests/delete", json={"ids": [1]})
    assert answer.status_code == 404
