"""First-page thumbnails: rendered once per paper version in a guarded child, copied to the site, never fatal."""

from __future__ import annotations

import pytest
from factories import make_issue, make_paper
from pdfmaker import make_pdf
from PIL import Image

from digest.archive.site import build_archive
from digest.pdf.download import cached_pdf_path
from digest.pdf.thumbnail import (
    THUMB_HEIGHT,
    THUMB_WIDTH,
    ensure_thumbnails,
    publish_thumbnails,
    render_thumbnail,
    thumbnail_name,
    thumbnail_path,
)

PAGE = ["Grounded Summaries of Long Documents", "", "Ada Lovelace and Taro Yamada",
        "Abstract. We tie every generated sentence to a passage of the paper."] + [f"Line {i} of the body text."
                                                                                 for i in range(40)]


def _cache_pdf(config, paper, pages=None):
    path = cached_pdf_path(paper, config)
    path.parent.mkdir(parents=True, exist_ok=True)
    return make_pdf(path, pages or [PAGE, ["Second page"]])


def test_first_page_becomes_a_small_jpeg_named_after_the_version(config):
    paper = make_paper(1)
    _cache_pdf(config, paper)
    found = ensure_thumbnails(config, [paper])
    thumb = found[paper.key]
    assert thumb == config.cache_dir / "thumbs" / f"{paper.versioned_id}.jpg" == thumbnail_path(config, paper)
    with Image.open(thumb) as img:
        assert img.format == "JPEG" and img.size == (THUMB_WIDTH, THUMB_HEIGHT)
        # The page's text is drawn: the picture is not a blank sheet.
        assert min(lo for lo, _ in img.convert("RGB").getextrema()) < 128
    assert thumb.stat().st_size < 60_000


def test_a_thumbnail_is_rendered_once_and_a_new_version_gets_its_own(config, monkeypatch):
    paper = make_paper(1)
    _cache_pdf(config, paper)
    first = ensure_thumbnails(config, [paper])[paper.key]
    stamp = first.stat().st_mtime_ns
    monkeypatch.setattr("digest.pdf.thumbnail.render_thumbnail", lambda *a, **k: pytest.fail("rendered again"))
    assert ensure_thumbnails(config, [paper, paper]) == {paper.key: first}
    assert first.stat().st_mtime_ns == stamp
    monkeypatch.undo()
    paper.version += 1
    _cache_pdf(config, paper)
    assert thumbnail_name(paper) != first.name
    assert ensure_thumbnails(config, [paper])[paper.key].name == f"{paper.versioned_id}.jpg"


def test_papers_without_a_pdf_on_disk_have_no_thumbnail(config, tmp_path):
    paper = make_paper(2)
    local = make_paper(3)
    local.local_pdf = str(tmp_path / "gone.pdf")
    assert ensure_thumbnails(config, [paper, local]) == {}
    assert not (config.cache_dir / "thumbs").exists()


def test_a_local_pdf_is_rendered_under_a_hashed_name(config, tmp_path):
    paper = make_paper(4)
    paper.arxiv_id, paper.key, paper.local_pdf = None, "file:abc123", str(make_pdf(tmp_path / "mine.pdf", [PAGE]))
    thumb = ensure_thumbnails(config, [paper])[paper.key]
    assert thumb.name == thumbnail_name(paper) and len(thumb.stem) == 24


@pytest.mark.parametrize("data", [b"", b"not a pdf at all\n" * 50, b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog"])
def test_a_broken_pdf_leaves_a_note_and_is_not_tried_again(config, data, monkeypatch):
    paper = make_paper(5)
    path = cached_pdf_path(paper, config)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    assert ensure_thumbnails(config, [paper]) == {}
    note = thumbnail_path(config, paper).with_name(thumbnail_name(paper) + ".failed")
    assert note.read_text().strip()
    assert not thumbnail_path(config, paper).exists()
    assert not [f for f in note.parent.iterdir() if f.name.endswith(".tmp")]
    monkeypatch.setattr("digest.pdf.thumbnail.render_thumbnail", lambda *a, **k: pytest.fail("tried again"))
    assert ensure_thumbnails(config, [paper]) == {}


def test_a_blank_first_page_is_no_thumbnail(config):
    paper = make_paper(6)
    _cache_pdf(config, paper, pages=[[], PAGE])
    assert ensure_thumbnails(config, [paper]) == {}
    note = thumbnail_path(config, paper).with_name(thumbnail_name(paper) + ".failed")
    assert "blank" in note.read_text()


def test_a_render_over_its_time_is_killed_and_noted(tmp_path):
    pdf = make_pdf(tmp_path / "p.pdf", [PAGE])
    out = tmp_path / "t.jpg"
    # No interpreter starts in a millisecond: the guard fires as it would on a PDF that never finishes.
    assert render_thumbnail(pdf, out, timeout=0.001) is False
    assert not out.exists() and "timed out" in out.with_name("t.jpg.failed").read_text()


def test_every_malformed_corpus_pdf_gives_a_picture_or_a_note(corpus, tmp_path):
    for pdf in sorted((corpus / "pdfs" / "malformed").glob("*.pdf")):
        out = tmp_path / f"{pdf.stem}.jpg"
        ok = render_thumbnail(pdf, out)
        assert ok == out.is_file()
        assert ok or out.with_name(out.name + ".failed").is_file()


def test_publish_copies_once_and_removes_thumbnails_of_papers_gone(config, tmp_path):
    a, b = make_paper(7), make_paper(8)
    for p in (a, b):
        _cache_pdf(config, p)
    site = tmp_path / "site"
    paths = publish_thumbnails(config, [a, b], site)
    assert paths == {a.key: f"thumbs/{a.versioned_id}.jpg", b.key: f"thumbs/{b.versioned_id}.jpg"}
    copied = site / paths[a.key]
    assert copied.read_bytes() == thumbnail_path(config, a).read_bytes()
    stamp = copied.stat().st_mtime_ns
    (site / "thumbs" / "mine.png").write_bytes(b"a user's file")
    assert publish_thumbnails(config, [a], site) == {a.key: paths[a.key]}
    assert copied.stat().st_mtime_ns == stamp  # left alone: its name fixes its content
    assert not (site / paths[b.key]).exists()
    assert (site / "thumbs" / "mine.png").exists()


def test_archive_build_puts_the_thumbnails_in_the_site(config, store):
    issue = make_issue(store, n_papers=2)
    _cache_pdf(config, issue.entries[0].paper)
    result = build_archive(config, store)
    thumbs = sorted(p.name for p in (result.site_dir / "thumbs").iterdir())
    assert thumbs == [f"{issue.entries[0].paper.versioned_id}.jpg"]
    # The issue page and the paper page show it beside the title; the paper without one shows none.
    first, second = (e.paper for e in issue.entries)
    page = (result.site_dir / "issues" / f"{issue.id}.html").read_text(encoding="utf-8")
    assert page.count('<img src="../thumbs/') == 1 and f"../thumbs/{first.versioned_id}.jpg" in page
    paper_page = (result.site_dir / "papers" / f"{first.key}.html").read_text(encoding="utf-8")
    assert f'<img src="../thumbs/{first.versioned_id}.jpg" width="120" height="160"' in paper_page
    assert "thumbs/" not in (result.site_dir / "papers" / f"{second.key}.html").read_text(encoding="utf-8")
