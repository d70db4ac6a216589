"""The search language (webbin.storage.search) on real SQLite and PostgreSQL databases:
every term, combined, negated, OR and grouped; SQL and Python agree on every query; a
malformed query names the offending term and where it starts; bounded scans page on with
a cursor; provider:/event: searches seek their indexes.

The requests are captured through the app's own capture URL, so provider, event, verdict
and retry marks are the ones capture really stores."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from helpers import capture_path
from sqlalchemy import select, text

from webbin.receiver.events import PROVIDERS
from webbin.storage import search
from webbin.storage.models import CapturedRequest, db
from webbin.storage.queries import SUMMARY_COLUMNS
from webbin.storage.search import QueryError, parse

JSON = {"Content-Type": "application/json"}

# name -> (method, path and query, headers, body)
SAMPLES: dict[str, tuple[str, str, dict[str, str], bytes]] = {
    "gh-push": (
        "POST",
        "/github",
        {**JSON, "X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1"},
        json.dumps({"ref": "refs/heads/main", "repository": {"name": "webbin"}}).encode(),
    ),
    "gh-retry": (
        "POST",
        "/github",
        {**JSON, "X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1"},
        json.dumps({"ref": "refs/heads/main", "repository": {"name": "webbin"}}).encode(),
    ),
    "stripe": (
        "POST",
        "/stripe",
        {**JSON, "Stripe-Signature": "t=1,v1=abc"},
        json.dumps(
            {
                "id": "evt_1",
                "type": "payment_intent.succeeded",
                "data": {"object": {"status": "succeeded", "amount": 4200, "paid": True}},
            }
        ).encode(),
    ),
    "shopify": (
        "POST",
        "/orders/create",
        {**JSON, "X-Shopify-Topic": "orders/create"},
        json.dumps({"id": 5, "total_price": "42.00", "line_items": [{"sku": "A-1"}]}).encode(),
    ),
    "gitlab": ("POST", "/gitlab", {**JSON, "X-Gitlab-Event": "Push Hook"}, b"{}"),
    "plain-get": ("GET", "/health?probe=1", {}, b""),
    "orders-put": (
        "PUT",
        "/orders/77/items",
        {"Content-Type": "text/plain"},
        b"Hello World, some text here",
    ),
    "binary": (
        "POST",
        "/upload",
        {"Content-Type": "application/octet-stream"},
        b"\x00\xffBINARY\x00",
    ),
    "slack": (
        "POST",
        "/slack",
        {**JSON, "X-Slack-Signature": "v0=abc", "X-Slack-Request-Timestamp": "1"},
        json.dumps({"type": "event_callback", "event": {"type": "app_mention"}}).encode(),
    ),
}
ALL = set(SAMPLES)
GITHUB = {"gh-push", "gh-retry"}
NO_PROVIDER = {"plain-get", "orders-put", "binary"}

CASES: list[tuple[str, set[str]]] = [
    ("", ALL),
    ("method:POST", ALL - {"plain-get", "orders-put"}),
    ("method:get", {"plain-get"}),
    ("path:/orders/*", {"shopify", "orders-put"}),
    ("path:orders/create", {"shopify"}),
    ("path:/ORDERS/*/items", {"orders-put"}),
    ("path:*create", {"shopify"}),
    ('path:"/orders/*"', set()),  # quoted: the star is a star
    ("header:X-GitHub-Event=push", GITHUB),
    ("header:x-github-event", GITHUB),
    ("header:X-GitHub-Event=PU*", GITHUB),
    ("header:X-GitHub-Event=pull", set()),
    ("header:Stripe-Signature", {"stripe"}),
    ('body:"some text"', {"orders-put"}),
    ("body:SOME", {"orders-put"}),
    ("body:BINARY", {"binary"}),
    ("json:data.object.status=succeeded", {"stripe"}),
    ("json:data.object.amount=4200", {"stripe"}),
    ("json:data.object.paid=true", {"stripe"}),
    ("json:repository.name=webbin", GITHUB),
    ("json:data.object", {"stripe"}),
    ("json:total_price=42.*", {"shopify"}),
    ("json:line_items.sku=a-1", {"shopify"}),  # a name applied to an array: each element
    ("json:line_items.0.sku=A-1", {"shopify"}),
    ("json:*.sku=A-1", {"shopify"}),
    ("verdict:unverified", {"stripe", "slack"}),
    ("verdict:unsigned", ALL - {"stripe", "slack"}),
    ("verdict:valid", set()),
    ("provider:stripe", {"stripe"}),
    ("provider:github", GITHUB),
    ("provider:git*", GITHUB | {"gitlab"}),
    ("provider:*", ALL - NO_PROVIDER),
    ("-provider:*", NO_PROVIDER),
    ("event:push", GITHUB),
    ("event:PUSH", GITHUB),
    ("event:push*", GITHUB | {"gitlab"}),
    ('event:"push hook"', {"gitlab"}),
    ("event:payment_intent.*", {"stripe"}),
    ("event:orders/create", {"shopify"}),
    ("event:app_mention", {"slack"}),
    ("retry:yes", {"gh-retry"}),
    ("retry:no", ALL - {"gh-retry"}),
    ("since:1h", ALL),
    ("before:1h", set()),
    ("after:2000-01-01", ALL),
    ("before:2000-01-01T00:00:00Z", set()),
    ("health", {"plain-get"}),  # bare words: the path,
    ("probe=1", {"plain-get"}),  # the query string,
    ("x-shopify-topic", {"shopify"}),  # header names,
    ('"Hello World"', {"orders-put"}),  # the body, as a phrase
    ("hello world", {"orders-put"}),  # two words, both somewhere
    ("app_mention", {"slack"}),
    ("method:POST provider:github", GITHUB),
    ("method:POST AND provider:github", GITHUB),
    ("method:POST -provider:github", ALL - GITHUB - {"plain-get", "orders-put"}),
    ("provider:stripe OR provider:shopify", {"stripe", "shopify"}),
    ("method:PUT OR provider:stripe method:POST", {"orders-put", "stripe"}),  # AND binds tighter
    ("(provider:stripe OR provider:shopify) json:total_price", {"shopify"}),
    ("-(method:POST)", {"plain-get", "orders-put"}),
    ("NOT method:POST", {"plain-get", "orders-put"}),
    ("-body:text", ALL - {"orders-put"}),
    ("-header:X-GitHub-Event", ALL - GITHUB),
    ("-provider:stripe", ALL - {"stripe"}),  # a NULL provider is "not stripe"
    ("-event:push", ALL - GITHUB),
    ("-verdict:unverified", ALL - {"stripe", "slack"}),
    ("retry:no provider:github", {"gh-push"}),
    ("-json:data.object -body:text method:POST", ALL - {"stripe", "orders-put", "plain-get"}),
    (
        "provider:github OR body:BINARY OR -method:POST",
        GITHUB | {"binary", "plain-get", "orders-put"},
    ),
    ("-(provider:github OR body:text)", ALL - GITHUB - {"orders-put"}),
]


@pytest.fixture
def filled(app: Flask) -> tuple[Flask, str, dict[str, int]]:
    """A bin holding SAMPLES, captured in order; (app, bin id, request id by name)."""
    client = app.test_client()
    bin_ = client.post("/api/bins").get_json()
    base = capture_path(bin_)
    ids = {}
    for name, (method, target, headers, body) in SAMPLES.items():
        answer = client.open(base + target, method=method, headers=headers, data=body)
        assert answer.status_code == 200, answer.data
        ids[name] = answer.get_json()["id"]
    return app, bin_["id"], ids


def names(ids: dict[str, int], found: set[int]) -> set[str]:
    by_id = {v: k for k, v in ids.items()}
    return {by_id[i] for i in found}


def everything(bin_id: str) -> list:
    return list(
        db.session.execute(
            select(*SUMMARY_COLUMNS, CapturedRequest.headers, CapturedRequest.body)
            .where(CapturedRequest.bin_id == bin_id)
            .order_by(CapturedRequest.id.desc())
        )
    )


def test_capture_stores_provider_and_event(filled):
    app, bin_id, ids = filled
    with app.app_context():
        stored = {row.id: (row.provider, row.event) for row in everything(bin_id)}
    assert {name: stored[i] for name, i in ids.items()} == {
        "gh-push": ("github", "push"),
        "gh-retry": ("github", "push"),
        "stripe": ("stripe", "payment_intent.succeeded"),
        "shopify": ("shopify", "orders/create"),
        "gitlab": ("gitlab", "Push Hook"),
        "plain-get": (None, None),
        "orders-put": (None, None),
        "binary": (None, None),
        "slack": ("slack", "app_mention"),
    }


@pytest.mark.parametrize(("q", "expected"), CASES, ids=[q or "(empty)" for q, _ in CASES])
def test_each_query_finds_what_it_says_in_sql_and_in_python(filled, q, expected):
    app, bin_id, ids = filled
    with app.app_context():
        query = parse(q, providers=PROVIDERS)
        page = search.search(bin_id, query, None, 50)
        assert page.next_before is None
        found = [row.id for row in page.rows]
        assert found == sorted(found, reverse=True)  # newest first
        assert names(ids, set(found)) == expected
        # The live streams' path: Python on the summary rows, reading more only if needed.
        summaries = list(
            db.session.execute(select(*SUMMARY_COLUMNS).where(CapturedRequest.bin_id == bin_id))
        )
        assert names(ids, search.matching_ids(query, summaries)) == expected
        # And Python alone on full rows agrees with SQL.
        assert names(ids, {row.id for row in everything(bin_id) if query.matches(row)}) == expected


def test_structured_queries_are_one_sql_query_and_text_ones_are_not():
    assert parse("method:POST path:/a/* verdict:valid provider:stripe event:x retry:no").exact
    assert parse("since:15m OR before:2026-01-01 -after:2025-01-01T10:00:00+02:00").exact
    for q in ("word", "body:x", "header:X", "json:a=b", "method:POST OR body:x"):
        assert not parse(q).exact, q
    assert parse("header:X").needs == {"headers"}
    assert parse("body:x json:a").needs == {"body"}


def test_relative_times_count_back_from_now():
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    for q, ago in [("since:15m", timedelta(minutes=15)), ("since:1h30m", timedelta(minutes=90)),
                   ("since:2d", timedelta(days=2)), ("since:1w", timedelta(weeks=1)),
                   ("since:90s", timedelta(seconds=90))]:  # fmt: skip
        query = parse(q, now=now)

        class Row:
            received_at = now - ago + timedelta(seconds=1)

        assert query.matches(Row), q
        Row.received_at = now - ago - timedelta(seconds=1)
        assert not query.matches(Row), q
    naive = parse("after:2026-11-24T10:00:00")  # no offset: UTC
    assert naive.root.sql.right.value == datetime(2026, 11, 24, 10, tzinfo=UTC)
    offset = parse("before:2026-11-24T12:00:00+02:00")
    assert offset.root.sql.right.value == datetime(2026, 11, 24, 10, tzinfo=UTC)


MALFORMED = [
    ("methd:POST", 0, 10, 'Unknown field "methd"'),
    ("method:POST foo:bar", 12, 19, 'Unknown field "foo"'),
    ('body:"never closed', 5, 18, "never closed"),
    ("method:", 0, 7, "needs a value"),
    ("(method:POST", 0, 1, '"(" is never closed'),
    ("method:POST)", 11, 12, "closes nothing"),
    ("OR method:POST", 0, 2, '"OR" needs a term on both sides'),
    ("method:POST OR", 12, 14, '"OR" needs a term on both sides'),
    ("a OR OR b", 2, 4, '"OR" needs a term on both sides'),
    ("a AND", 2, 5, '"AND" needs a term on both sides'),
    ("- method:POST", 0, 1, "right before the term"),
    ("a NOT", 2, 5, "negates nothing"),
    ("verdict:bogus", 0, 13, "valid, stale, invalid, unsigned, unverified"),
    ("retry:maybe", 0, 11, "yes or no"),
    ("since:15x", 0, 9, "not a duration"),
    ("since:1h30", 0, 10, "15m, 2h, 1d or 1h30m"),
    ("since:999999999w", 0, 16, "further back"),
    ("after:yesterday", 0, 15, "ISO 8601"),
    ("provider:strpe", 0, 14, "no such provider"),
    ("header:=push", 0, 12, "needs a header name"),
    ("json:=x", 0, 7, "needs a path"),
    ("a ()", 2, 4, "group is empty"),
    ('a ""', 2, 4, "empty"),
    ("method:P@ST", 0, 11, "not an HTTP method"),
    ("a " + "(" * 20 + "b" + ")" * 20, 2 + 17, 2 + 18, "Too many nested"),
    (" ".join(["w"] * 41), 80, 81, "more than 40 terms"),
    ("x" * 1001, 1000, 1001, "longer than 1000"),
]


@pytest.mark.parametrize(("q", "start", "end", "message"), MALFORMED, ids=[m[3] for m in MALFORMED])
def test_a_malformed_query_names_the_term_and_where_it_is(q, start, end, message):
    with pytest.raises(QueryError) as raised:
        parse(q, providers=PROVIDERS)
    error = raised.value
    assert message in error.message
    assert (error.start, error.end) == (start, end)


def test_quoting_makes_words_with_colons_and_keywords_plain_text():
    assert parse('"methd:POST"').root.field == "text"
    assert parse('"OR"').root.field == "text"
    assert parse("or").root.field == "text"  # only upper-case OR is the keyword
    assert parse("12:30").root.field == "text"  # not a field name
    assert parse("a-b").root.field == "text"
    assert parse('header:"X-Odd Name"="a b"').root.field == "header"


def test_hostile_queries_parse_or_fail_cleanly_and_run(filled):
    """Random strings of the syntax's own characters: parse answers a Query or a QueryError,
    and every Query runs on both databases."""
    app, bin_id, _ = filled
    alphabet = ['"', "\\", "(", ")", "-", ":", "=", "*", ".", " ", "OR ", "AND ", "NOT ",
                "a", "é", "%", "_", "method:", "path:", "json:", "header:", "event:", "0"]  # fmt: skip
    rng = random.Random(7)
    ran = 0
    with app.app_context():
        for _ in range(400):
            q = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14)))
            try:
                query = parse(q, providers=PROVIDERS)
            except QueryError as error:
                assert 0 <= error.start < error.end <= max(len(q), error.start + 1)
                continue
            search.search(bin_id, query, None, 5)
            ran += 1
    assert ran > 50


@pytest.mark.parametrize(("rows", "chunk"), [(3, 500), (3, 3), (4, 2), (3, 1)])
def test_a_text_search_stops_at_its_budget_and_continues_from_its_cursor(
    filled, monkeypatch, rows, chunk
):
    """Whether the budget runs out inside a round of candidates or at its end."""
    app, bin_id, ids = filled
    monkeypatch.setattr(search, "SCAN_ROWS", rows)
    monkeypatch.setattr(search, "SCAN_CHUNK", chunk)
    expected = {"gh-push", "gh-retry", "orders-put", "shopify"}  # "e" text, newest first
    query = parse("body:e -provider:stripe -provider:slack")
    pages, before = [], None
    with app.app_context():
        while True:
            page = search.search(bin_id, query, before, 2)
            pages.append([row.id for row in page.rows])
            if page.next_before is None:
                break
            assert not page.rows or page.next_before <= page.rows[-1].id
            before = page.next_before
    found = [i for p in pages for i in p]
    assert len(found) == len(set(found))  # nothing twice
    assert found == sorted(found, reverse=True)
    assert names(ids, set(found)) == expected
    assert any(len(p) < 2 for p in pages[:-1]), "no page stopped at the budget: proves nothing"


def test_a_body_search_stops_at_its_byte_budget(filled, monkeypatch):
    app, bin_id, ids = filled
    monkeypatch.setattr(search, "SCAN_BYTES", 1)  # every body is over it: one row per call
    with app.app_context():
        page = search.search(bin_id, parse("body:nothing-has-this"), None, 10)
        assert page.rows == []
        assert page.next_before == ids["slack"]  # scanned the newest one, then stopped


def test_paging_a_structured_query_is_keyset(filled):
    app, bin_id, ids = filled
    query = parse("method:POST")
    with app.app_context():
        first = search.search(bin_id, query, None, 3)
        assert [r.id for r in first.rows] == [ids["slack"], ids["binary"], ids["gitlab"]]
        second = search.search(bin_id, query, first.next_before, 3)
        assert [r.id for r in second.rows] == [ids["shopify"], ids["stripe"], ids["gh-retry"]]
        third = search.search(bin_id, query, second.next_before, 3)
        assert [r.id for r in third.rows] == [ids["gh-push"]]
        assert third.next_before is None


def test_provider_and_event_searches_seek_their_indexes(sqlite_app):
    with sqlite_app.app_context():
        for q, index in [
            ("provider:stripe", "ix_captured_requests_bin_id_provider"),
            ("event:push", "ix_captured_requests_bin_id_event"),
        ]:
            statement = (
                select(CapturedRequest.id)
                .where(CapturedRequest.bin_id == "b", parse(q).where())
                .order_by(CapturedRequest.id.desc())
                .limit(50)
            )
            compiled = statement.compile(db.engine, compile_kwargs={"literal_binds": True})
            plan = " ".join(
                str(row[-1]) for row in db.session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
            )
            assert f"USING COVERING INDEX {index}" in plan or f"USING INDEX {index}" in plan, plan
            assert "TEMP B-TREE" not in plan, plan  # newest first straight off the index
