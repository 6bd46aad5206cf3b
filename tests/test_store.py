"""The store: migrations, paper versions, page texts."""

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


def test_newer_version_keeps_known_fields_and_resets_text(store):
    p = Paper(key="2104.12255", title="0", arxiv_id="2104.12255", version=1, authors=["A. Author"])
    assert store.upsert_paper(p) == "new"
    store.save_pages("2104.12255", 1, [Page(1, "body")], pdf_path=None, pdf_sha256=None, token_count=1)
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
