"""The access log's atoms: gunicorn's meanings, with capabilities, queries and secret
headers kept out, worked out only for the atoms the format uses."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger

from webbin.serving.accesslog import LazyAtoms, RedactingLogger

TOKEN = "CaptureToken1234567890"


def request_parts():
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": f"/c/{TOKEN}/hook?sig=hunter2",
        "PATH_INFO": f"/c/{TOKEN}/hook",
        "QUERY_STRING": "sig=hunter2",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.9",
        "HTTP_USER_AGENT": 'Stripe/1.0 "quoted"',
        "HTTP_REFERER": f"https://example.test/bins/{TOKEN}?x=1",
        "HTTP_AUTHORIZATION": "Bearer hunter3",
        "wsgi.url_scheme": "http",
    }
    req = SimpleNamespace(
        headers=[
            ("USER-AGENT", 'Stripe/1.0 "quoted"'),
            ("X-TRACE", f"/c/{TOKEN}"),
            ("AUTHORIZATION", "Bearer hunter3"),
        ]
    )
    resp = SimpleNamespace(status="200 OK", sent=42, headers=[("Content-Type", "text/plain")])
    return resp, req, environ, timedelta(seconds=1, microseconds=2345)


def gunicorn_logger(cls):
    cfg = Config()
    cfg.set("accesslog", "-")
    return cls(cfg)


def test_plain_atoms_mean_what_gunicorn_means():
    resp, req, environ, took = request_parts()
    theirs = gunicorn_logger(Logger).atoms(resp, req, environ, took)
    ours = LazyAtoms(gunicorn_logger(RedactingLogger), resp, req, environ, took)
    for key in ("h", "l", "u", "s", "m", "H", "b", "B", "T", "D", "M", "L", "p", "{content-type}o"):
        assert ours[key] == theirs[key], key
    assert ours["a"] == theirs["a"].replace('"', '\\"')
    assert ours["t"].startswith("[") and ours["t"].endswith("]")
    assert ours["{nonexistent}i"] == "-" and ours["z"] == "-"


def test_capabilities_queries_and_secret_headers_stay_out():
    resp, req, environ, took = request_parts()
    atoms = LazyAtoms(gunicorn_logger(RedactingLogger), resp, req, environ, took)
    line = " ".join(
        str(atoms[key])
        for key in ("r", "U", "q", "f", "{x-trace}i", "{authorization}i", "{http_authorization}e")
    )
    assert TOKEN not in line and "hunter2" not in line and "hunter3" not in line
    assert atoms["r"].startswith("POST /c/~") and atoms["r"].endswith("/hook?… HTTP/1.1")
    assert atoms["{authorization}i"] == "-" and atoms["{raw_uri}e"] == "-"


@pytest.mark.parametrize("fmt", [None, '%(h)s "%(r)s" %(s)s %({x-trace}i)s %(D)s'])
def test_a_formatted_line_is_redacted(fmt, capsys):
    logger = gunicorn_logger(RedactingLogger)
    if fmt:
        logger.cfg.set("access_log_format", fmt)
    resp, req, environ, took = request_parts()
    logger.access(resp, req, environ, took)
    text = capsys.readouterr().out
    assert "203.0.113.9" in text and "/hook?… HTTP/1.1" in text
    assert TOKEN not in text and "hunter" not in text
