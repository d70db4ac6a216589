"""Custom response settings as stored: what the capture path reads on every request must
never make it fail, whatever an older release let into the database."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from helpers import Server, capture_path

from webbin import create_app
from webbin.receiver import responses
from webbin.storage.models import Bin, db

# Accepted by the API before settings were typed; gunicorn refuses to send such a header.
LEGACY = {"default": {"status": 201, "headers": [["X-Price", "5 €"]]}, "rules": []}


@pytest.mark.parametrize(
    "stored",
    [LEGACY, {"default": {"headers": None}}, {"rules": [{"method": "PÖST", "response": {}}]}, 5],
)
def test_stored_settings_that_no_longer_validate_mean_no_custom_response(stored):
    assert responses.parse(stored) == responses.ResponseSettings()


def test_stored_settings_round_trip():
    sent = {
        "default": {"status": 503, "content_type": "text/plain", "headers": [["Retry-After", "5"]]},
        "rules": [{"method": "POST", "path": "/x/*", "response": {"body": "x", "delay_ms": 5}}],
    }
    stored = responses.to_dict(responses.parse(sent))
    assert responses.parse(stored) == responses.parse(sent)
    assert responses.parse(stored).choose("POST", "/x/1").body == "x"
    assert responses.parse({"default": {}}).default is None  # an empty default is no default


def test_capture_answers_despite_legacy_settings_under_gunicorn(tmp_path: Path):
    """Through ``webbin serve``: before, every capture of such a bin answered 500."""
    server = Server(tmp_path)
    try:
        bin_ = server.new_bin()
        app = create_app({"DATA_DIR": str(tmp_path)})
        with app.app_context():
            db.session.get(Bin, bin_["id"]).response_settings = LEGACY
            db.session.commit()
            db.engine.dispose()
        request = urllib.request.Request(server.url + capture_path(bin_), data=b"{}")
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
            assert b'"ok":true' in answer.read().replace(b" ", b"")
    finally:
        server.stop()
