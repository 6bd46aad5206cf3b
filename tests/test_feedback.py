"""Reader feedback: signed vote links in the email and on the site, `digest serve` recording them over real
HTTP, the owner's `digest like`/`dislike`, and votes moving the next week's ranking (with --explain reasons)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import httpx
import pytest
from factories import make_issue
from pdfmaker import make_pdf
from smtp_helpers import Inbox, smtp_server
from web_helpers import web_server
from weekfeed import Item, rss_listing

from digest.archive.site import build_archive
from digest.config import SelectionConfig
from digest.feedback import (
    LESS,
    MORE,
    OWNER,
    SITE,
    feedback_secret,
    load_feedback,
    make_token,
    read_token,
    record_vote,
    subscriber_voter,
)
from digest.mail.delivery import send_issue
from digest.mail.subscribers import add_subscriber
from digest.records import Paper
from digest.select import select_papers
from digest.store import Store

DISLIKED_TITLE = "Retrieval-augmented generation for clinical question answering over hospital notes"

# The fixed candidate set of the following week: without votes the clinical paper ranks first.
CANDIDATES = [
    ("2611.20001", "Clinical question answering over hospital notes with retrieval-augmented generation",
     "We answer clinical questions from hospital notes using retrieval-augmented generation and a language model."),
    ("2611.20002", "Retrieval-augmented generation with citation grounding",
     "Every claim of a retrieval-augmented language model cites a retrieved passage."),
    ("2611.20003", "Quantum error correction with surface codes",
     "Surface codes protect logical qubits against noise."),
]


def candidate(key: str, title: str, abstract: str) -> Paper:
    return Paper(key=key, arxiv_id=key, version=1, title=title, abstract=abstract, authors=["Some One"],
                 categories=["cs.CL"], primary_category="cs.CL", published="2026-11-23T00:00:00+00:00",
                 announce_type="new")


def selection() -> SelectionConfig:
    sel = SelectionConfig()
    sel.interests = "retrieval-augmented generation"
    sel.categories = []
    sel.max_papers = 2
    return sel


@pytest.fixture
def mailed(config, store):
    """An issue with the disliked-to-be paper, mailed over SMTP to a subscriber, with `digest serve` running."""
    inbox = Inbox()
    config.mail.host, config.mail.security, config.mail.per_minute = "127.0.0.1", "none", 0
    issue = make_issue(store, n_papers=1, titles=[DISLIKED_TITLE])
    sub, _ = add_subscriber(store, "reader@example.org")
    with smtp_server(inbox) as smtp_port, web_server(config, store) as base:
        config.mail.port = smtp_port
        config.web.public_url = base  # vote links point at this server
        assert send_issue(config, store).sent == ["reader@example.org"]
        yield issue, sub, inbox.messages[0].msg, base


def links(msg, name: str) -> list[str]:
    """The vote links of one kind ('More like this' / 'Less like this') in the plain-text part."""
    text = msg.get_body(("plain",)).get_content()
    return re.findall(rf"^{name}: (\S+)\r?$", text, re.M)


def ranking(store: Store) -> list:
    return select_papers([candidate(*c) for c in CANDIDATES], selection(), feedback=load_feedback(store))


def test_a_less_like_this_click_changes_next_weeks_ranking(mailed, store):
    issue, sub, msg, base = mailed
    disliked = issue.entries[0].paper.key
    before = ranking(store)
    assert [c.paper.key for c in before][:2] == ["2611.20001", "2611.20002"]
    assert not any("ranked" in r for c in before for r in c.reasons)

    [less] = links(msg, "Less like this")
    assert less.startswith(base + "/feedback/")
    assert less in msg.get_body(("html",)).get_content()  # the HTML part carries the same link
    with httpx.Client(timeout=60) as client:
        # GET only asks (a link scanner following it votes nothing) ...
        page = client.get(less)
        assert page.status_code == 200 and '<form method="post"' in page.text and DISLIKED_TITLE in page.text
        assert page.headers["referrer-policy"] == "no-referrer"
        assert load_feedback(store) == []
        # ... the button's POST votes.
        r = client.post(less)
        assert r.status_code == 200 and "lean away from papers like" in r.text

    [fb] = load_feedback(store)
    assert (fb.paper.key, fb.likes, fb.dislikes, fb.owner) == (disliked, 0, 1, 0)
    after = ranking(store)
    assert [c.paper.key for c in after][:2] == ["2611.20002", "2611.20001"]
    clinical = next(c for c in after if c.paper.key == "2611.20001")
    assert f"ranked down: similar to {disliked} you disliked" in "; ".join(clinical.reasons)
    assert clinical.score < next(c for c in before if c.paper.key == "2611.20001").score
    quantum = next(c for c in after if c.paper.key == "2611.20003")
    assert not any("ranked" in r for r in quantum.reasons)  # nothing in common, nothing moved


def test_clicking_twice_counts_once_and_the_opposite_vote_replaces(mailed, store):
    issue, sub, msg, _ = mailed
    [more], [less] = links(msg, "More like this"), links(msg, "Less like this")
    with httpx.Client(timeout=60) as client:
        assert client.post(less).status_code == 200
        assert client.post(less).status_code == 200
        assert [(f.likes, f.dislikes) for f in load_feedback(store)] == [(0, 1)]
        assert client.post(more).status_code == 200
        assert [(f.likes, f.dislikes) for f in load_feedback(store)] == [(1, 0)]
    rows = store.query("SELECT voter, vote FROM feedback")
    assert [(r["voter"], r["vote"]) for r in rows] == [(subscriber_voter(sub.id), 1)]
    # Another voter's vote adds to it rather than replacing it.
    record_vote(store, issue.entries[0].paper.key, 1, OWNER)
    [fb] = load_feedback(store)
    assert (fb.likes, fb.dislikes, fb.net, fb.owner) == (2, 0, 2, 1)


def test_tokens_cannot_be_guessed_forged_or_moved_to_another_paper(mailed, store, config):
    issue, sub, msg, base = mailed
    [less] = links(msg, "Less like this")
    token = less.rsplit("/", 1)[1]
    key = issue.entries[0].paper.key
    other = make_issue(store, week=1, n_papers=1).entries[0].paper.key
    secret = feedback_secret(store)
    assert read_token(secret, token).paper_key == key
    body, sig = token.split(".")
    # The same signature over another paper's payload, a flipped character, another store's key, junk.
    moved = make_token(secret, other, LESS, subscriber_voter(sub.id)).split(".")[0] + "." + sig
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    other_store = Store(config.archive_dir / "other.sqlite")
    foreign = make_token(feedback_secret(other_store), key, LESS, subscriber_voter(sub.id))
    other_store.close()
    assert foreign != token  # each store signs with its own random key
    with httpx.Client(base_url=base, timeout=60) as client:
        for bad in (moved, flipped, foreign, body, "x" * len(token), token + "A", "%27%20OR%201%3D1"):
            assert client.get(f"/feedback/{bad}").status_code == 404, bad
            r = client.post(f"/feedback/{bad}")
            assert r.status_code == 404 and "not valid" in r.text, bad
    assert load_feedback(store) == []
    # A genuine token for paper A votes on A only.
    with httpx.Client(timeout=60) as client:
        assert client.post(less).status_code == 200
    assert [(f.paper.key, f.net) for f in load_feedback(store)] == [(key, -1)]
    # The subscriber's voter name and the vote are signed too: no turning a 'less' into a 'more'.
    assert read_token(secret, make_token(secret, key, MORE, "subscriber:999")).voter == "subscriber:999"
    assert make_token(secret, key, MORE, subscriber_voter(sub.id)) != token


def test_no_vote_links_without_a_server_url(config, store):
    inbox = Inbox()
    config.mail.host, config.mail.security, config.mail.per_minute = "127.0.0.1", "none", 0
    make_issue(store, n_papers=2)
    add_subscriber(store, "reader@example.org")
    with smtp_server(inbox) as smtp_port:
        config.mail.port = smtp_port
        send_issue(config, store)
    msg = inbox.messages[0].msg
    assert "/feedback/" not in msg.get_body(("plain",)).get_content()
    assert "Less like this" not in msg.get_body(("html",)).get_content()


def test_site_links_vote_as_the_site_and_rebuild_byte_stable(config, store):
    issue = make_issue(store, n_papers=2)
    key = issue.entries[0].paper.key
    build_archive(config, store)
    page = (config.archive_dir / "site" / "papers" / f"{key}.html").read_text(encoding="utf-8")
    assert "/feedback/" not in page  # no archive_url: no server to vote on
    with web_server(config, store) as base:
        config.output.archive_url = base
        build_archive(config, store)
        site = config.archive_dir / "site"
        issue_page = (site / "issues" / f"{issue.id}.html").read_text(encoding="utf-8")
        paper_page = (site / "papers" / f"{key}.html").read_text(encoding="utf-8")
        assert "More like this" in issue_page and "Less like this" in paper_page
        less = re.search(rf'href="({re.escape(base)}/feedback/[^"]+)" rel="nofollow">Less like this', paper_page)
        assert less and less.group(1) in issue_page
        assert build_archive(config, store).written == 0  # same tokens every build
        with httpx.Client(timeout=60) as client:
            assert client.post(less.group(1)).status_code == 200
    rows = store.query("SELECT paper_key, voter, vote FROM feedback")
    assert [(r["paper_key"], r["voter"], r["vote"]) for r in rows] == [(key, SITE, -1)]


def test_japanese_labels(config, store):
    make_issue(store, n_papers=1, language="ja")
    config.output.language = "ja"
    config.web.public_url = "https://digest.example.org"
    inbox = Inbox()
    config.mail.host, config.mail.security, config.mail.per_minute = "127.0.0.1", "none", 0
    add_subscriber(store, "reader@example.org")
    with smtp_server(inbox) as smtp_port:
        config.mail.port = smtp_port
        send_issue(config, store)
    text = inbox.messages[0].msg.get_body(("plain",)).get_content()
    assert re.search(r"^このような論文を減らす: https://digest\.example\.org/feedback/\S+\r?$", text, re.M)


def test_liked_papers_rank_similar_candidates_up(store):
    liked = candidate("2610.01234", "Citation grounding for retrieval-augmented language models",
                      "Grounding every claim of a language model in a cited retrieved passage.")
    store.upsert_paper(liked)
    record_vote(store, liked.key, MORE, OWNER)
    sel = selection()
    sel.interests = "clinical question answering"
    out = select_papers([candidate(*c) for c in CANDIDATES], sel, feedback=load_feedback(store))
    grounding = next(c for c in out if c.paper.key == "2611.20002")
    assert "ranked up: similar to 2610.01234 you liked" in "; ".join(grounding.reasons)
    no_votes = select_papers([candidate(*c) for c in CANDIDATES], sel)
    assert grounding.score > next(c for c in no_votes if c.paper.key == "2611.20002").score


# ---- the command line -----------------------------------------------------------------------------


def digest(config_path, *args, timeout=120):
    # Wide enough that rich wraps neither the error line nor the --explain table's reasons.
    env = {**os.environ, "COLUMNS": "400"}
    return subprocess.run([sys.executable, "-m", "digest", "--config", str(config_path), *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture
def listing(httpserver, tmp_path):
    """A config whose arXiv listing (served locally) is the fixed candidate set, with tiny PDFs."""
    items = []
    for key, title, abstract in CANDIDATES:
        pdf = make_pdf(tmp_path / f"{key}.pdf", [[title, abstract]])
        items.append(Item(key, 1, title, abstract, pdf))
    httpserver.expect_request("/rss/cs.CL").respond_with_data(rss_listing(items), content_type="application/rss+xml")
    for it in items:
        httpserver.expect_request(f"/pdf/{it.arxiv_id}v1").respond_with_data(it.pdf.read_bytes(),
                                                                             content_type="application/pdf")
    cfg = tmp_path / "digest.toml"
    cfg.write_text(
        'sources = ["arxiv:cs.CL"]\n'
        '[selection]\nmax_papers = 2\ninterests = "retrieval-augmented generation"\ncategories = []\n'
        f'[arxiv]\nrss_url = "{httpserver.url_for("/rss/{categories}")}"\n'
        f'pdf_url = "{httpserver.url_for("/pdf/{id}")}"\napi_delay_seconds = 0\n'
        f'[store]\narchive_dir = "{tmp_path / "archive"}"\n', encoding="utf-8")
    return cfg


def test_like_dislike_and_feedback_list_then_fetch_explain_names_the_vote(listing, tmp_path):
    # Last week's issue: the papers the owner votes on (published, so not candidates again).
    store = Store(tmp_path / "archive" / "digest.sqlite")
    voted = make_issue(store, week=1, n_papers=2,
                       titles=[DISLIKED_TITLE, "Citation grounding for retrieval-augmented generation"])
    disliked, liked = (e.paper.key for e in voted.entries)
    store.close()

    empty = digest(listing, "feedback", "list")
    assert empty.returncode == 0 and "No votes yet" in empty.stdout
    unknown = digest(listing, "dislike", disliked, "2699.99999v2")
    said = (unknown.stdout + unknown.stderr).strip().splitlines()
    assert unknown.returncode == 1 and len(said) == 1
    assert said[0].startswith("error: no paper '2699.99999v2'")
    assert "No votes yet" in digest(listing, "feedback", "list").stdout  # nothing half-applied

    r = digest(listing, "dislike", f"arXiv:{disliked}v3")  # with prefix and version
    assert r.returncode == 0 and disliked in r.stdout and "less like this" in r.stdout
    assert "already so" in digest(listing, "dislike", disliked).stdout
    assert digest(listing, "like", liked).returncode == 0
    listed = digest(listing, "feedback", "list").stdout
    assert re.search(rf"{disliked}\s+0\s+1\s+-1", listed) and re.search(rf"{liked}\s+1\s+0\s+\+1", listed)

    fetched = digest(listing, "fetch", "--explain", timeout=180)
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    out = " ".join(fetched.stdout.split())  # the table wraps long reasons
    assert f"ranked down: similar to {disliked} you disliked" in out
    assert f"ranked up: similar to {liked} you liked" in out
    store = Store(tmp_path / "archive" / "digest.sqlite")
    try:
        chosen = store.query("SELECT paper_key FROM candidates WHERE selected=1 ORDER BY rank")
        assert [r["paper_key"] for r in chosen] == ["2611.20002", "2611.20001"]
    finally:
        store.close()
