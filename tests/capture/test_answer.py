"""The capture answer names the stored request both ways: ``id`` for API URLs and
``?after=``, ``seq`` for its number in the bin."""

from __future__ import annotations

from helpers import capture_path


def test_answer_gives_the_id_the_api_takes_and_the_seq_the_page_shows(client):
    other = client.post("/api/bins").get_json()
    client.post(capture_path(other), data=b"first in another bin")  # ids are global, seqs per bin
    bin_ = client.post("/api/bins").get_json()
    answer = client.post(capture_path(bin_), data=b"hello").get_json()
    assert answer["ok"] is True and answer["seq"] == 1 and answer["id"] != answer["seq"]
    detail = client.get(f"/api/bins/{bin_['id']}/requests/{answer['id']}").get_json()
    assert (detail["id"], detail["seq"], detail["body_text"]) == (answer["id"], 1, "hello")
