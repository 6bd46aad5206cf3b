"""The store: migrations, paper versions, page texts."""

from datetime import datetime, timedelta, timezone

from digest import migrations
from digest.records import Page, Paper
from digest.store import Store


def test_migrations_are_idempotent(tmp_path):
    from digest.migrations import MIGRATIONS

    path = tmp_path / "d.sqlite"
    first = Store(path)
    first.upsert_paper(Paper(key="2104.12255", title="kept", arxiv_id="2104.12255", version=1))
    first.execute("UPDATE _migrations SET applied='first open'")
    first.close()
    s = Store(path)  # a second open applies nothing again: no error, no data lost, no new record
    rows = [tuple(r) for r in s.query("SELECT name, applied FROM _migrations ORDER BY rowid")]
    assert rows == [(m.__name__, "first open") for m in MIGRATIONS]
    assert rows[0][0] == "m001_papers_pages_feeds"
    assert s.get_paper("2104.12255").title == "kept"
    s.close()


def test_candidates_written_before_the_is_update_column_keep_their_flag(tmp_path, monkeypatch):
    path = tmp_path / "d.sqlite"
    shipped = [m for m in migrations.MIGRATIONS if m.__name__ < "m007"]
    monkeypatch.setattr(migrations, "MIGRATIONS", shipped)
    old = Store(path)
    old.upsert_paper(Paper(key="2611.00001", title="t"))
    old.upsert_paper(Paper(key="2611.00002", title="t"))
    old.execute("INSERT INTO candidates (week, paper_key, reasons) VALUES "
                "('2026-W47', '2611.00001', '[\"listed twice\", \"updated: v2 (published v1 in 2026-W46)\"]'), "
                "('2026-W47', '2611.00002', '[\"rank 1 of 2: selected\"]')")
    old.close()
    monkeypatch.undo()
    rows = Store(path).query("SELECT paper_key, is_update FROM candidates ORDER BY paper_key")
    assert [(r["paper_key"], r["is_update"]) for r in rows] == [("2611.00001", 1), ("2611.00002", 0)]


def test_papers_seen_since_compares_instants_not_strings(store):
    for key, seen in (("2611.00001", "2026-11-16T08:00:00+00:00"), ("2611.00002", "2026-11-16T10:00:00+00:00")):
        store.upsert_paper(Paper(key=key, title="t"))
        store.execute("UPDATE papers SET last_seen=? WHERE key=?", (seen, key))
    tokyo = timezone(timedelta(hours=9))
    since = datetime(2026, 11, 16, 18, 30, tzinfo=tokyo)  # 09:30 UTC
    assert [p.key for p in store.papers_seen_since(since)] == ["2611.00002"]
    assert len(store.papers_seen_since(datetime(2026, 11, 16, 7, 0))) == 2  # naive: taken as UTC


def test_newer_version_keeps_known_fields_and_resets_text(store):
    p = Paper(key="2104.12255", title="0", arxiv_id="2104.12255", version=1, authors=["A. Author"])
    assert store.upsert_paper(p) == "new"
    store.save_pages("2104.12255", 1, [Page(1, "body")], pdf_path=None, token_count=1)
    assert store.upsert_paper(Paper(key="2104.12255", title="0", version=1)) == "seen"
    assert store.get_paper("2104.12255").text_status == "ok"
    assert store.upsert_paper(Paper(key="2104.12255", title="0", version=2)) == "updated"
    got = store.get_paper("2104.12255v2")
    assert (got.title, got.version, got.authors, got.text_status) == ("0", 2, ["A. Author"], "pending")


def test_exclusive_jobs_refuse_a_second_holder(store):
    import pytest

    from digest.errors import DigestError

    busy = DigestError("busy")
    with store.exclusive("send", busy):
        with pytest.raises(DigestError, match="busy"), store.exclusive("send", busy):
            pass
        with store.exclusive("batch-collect", busy):  # another job's lock is independent
            pass
    with store.exclusive("send", busy):  # released on exit
        pass
