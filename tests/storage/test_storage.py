"""Storage: the schema, the per-bin numbering, and listing speed on a big bin."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, text

from webbin.storage import queries
from webbin.storage.models import Bin, CapturedRequest, db


def make_bin(app) -> str:
    with app.app_context():
        bin_ = Bin()
        db.session.add(bin_)
        db.session.commit()
        return bin_.id


def fill(app, bin_id: str, count: int) -> None:
    """Insert ``count`` small requests in bulk (far faster than capturing them one by one)."""
    now = datetime.now(UTC)
    rows = [
        {
            "bin_id": bin_id,
            "seq": i + 1,
            "method": "POST",
            "path": f"/{i}",
            "query_string": "",
            "headers": [["Content-Type", "application/json"]],
            "body": b"{}",
            "content_type": "application/json",
            "size": 2,
            "remote_addr": "127.0.0.1",
            "received_at": now,
        }
        for i in range(count)
    ]
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(insert(CapturedRequest), rows)
        conn.execute(
            Bin.__table__.update()
            .where(Bin.id == bin_id)
            .values(last_seq=count, request_count=count)
        )


def test_sqlite_pragmas_are_set(sqlite_app):
    with sqlite_app.app_context(), db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL


def test_database_file_is_created_in_the_data_folder(sqlite_app, tmp_path):
    assert (tmp_path / "webbin.sqlite3").exists()
    assert (tmp_path / "secret_key").read_text().strip() == sqlite_app.config["SECRET_KEY"]


def test_tokens_are_distinct_and_long(app):
    with app.app_context():
        bins = [Bin() for _ in range(20)]
        db.session.add_all(bins)
        db.session.commit()
        tokens = {b.id for b in bins} | {b.capture_token for b in bins}
        assert len(tokens) == 40
        assert all(len(t) >= 22 for t in tokens)  # >= 128 bits of base64url


def test_deleting_a_bin_deletes_its_requests(app):
    bin_id = make_bin(app)
    fill(app, bin_id, 5)
    with app.app_context():
        queries.delete_bin(bin_id)
        assert db.session.query(CapturedRequest).filter_by(bin_id=bin_id).count() == 0


def test_listing_a_big_bin_uses_the_index(sqlite_app):
    bin_id = make_bin(sqlite_app)
    fill(sqlite_app, bin_id, 100_000)
    with sqlite_app.app_context():
        with db.engine.connect() as conn:
            plan = " ".join(
                str(row[-1])
                for row in conn.execute(
                    text(
                        "EXPLAIN QUERY PLAN SELECT id FROM captured_requests "
                        "WHERE bin_id = :b AND id < :i ORDER BY id DESC LIMIT 50"
                    ),
                    {"b": bin_id, "i": 50_000},
                )
            )
        assert "ix_captured_requests_bin_id_id_filters" in plan
        assert "TEMP B-TREE" not in plan  # no sort of the whole bin
        first = queries.page_of_requests(bin_id, None, 50)
        deep = queries.page_of_requests(bin_id, 1_000, 50)
    # The plan above is what keeps page 2,000 as fast as page 1; no clock needed to prove it.
    assert [r.seq for r in first[:2]] == [100_000, 99_999]
    assert deep[0].id == 999 and len(deep) == 50
