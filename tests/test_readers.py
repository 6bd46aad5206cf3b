"""Each reader's own issue (issue 21): interests stored, the pool chosen, a reader's ranking and why lines."""

from __future__ import annotations

import dataclasses

import pytest
from factories import make_generation, make_paper

from digest.errors import DigestError
from digest.feedback import LESS, MORE, record_vote, subscriber_voter
from digest.mail.subscribers import add_subscriber
from digest.readers import (
    PoolRanker,
    ReaderInterests,
    choose_pool,
    get_interests,
    reader_issue,
    save_pool,
    set_interests,
)
from digest.records import Issue, IssueEntry, Overview, Theme
from digest.select import select_papers

# The editor's issue is papers 0-2; papers 3-6 are in the pool because readers asked for them.
TOPICS = [
    ("Grounded summarisation of long documents", "We summarise long scientific documents with grounded quotes.",
     ["Ada Lovelace"], ["cs.CL"]),
    ("Faithful abstractive summaries", "Abstractive summarisation that stays faithful to the source text.",
     ["Alan Turing"], ["cs.CL"]),
    ("Evaluating summary factuality", "A benchmark for factual consistency of summaries.",
     ["Grace Hopper"], ["cs.CL"]),
    ("Dense retrieval for open-domain questions", "Dense passage retrieval improves open-domain question answering.",
     ["Jane Doe"], ["cs.IR"]),
    ("Retrieval-augmented generation at scale", "Retrieval-augmented generation with a billion-passage index.",
     ["John Roe"], ["cs.CL", "cs.IR"]),
    ("Protein folding with diffusion models", "Diffusion models predict protein structures from sequences.",
     ["Jane Doe", "Max Planck"], ["q-bio.BM"]),
    ("Graph neural networks for molecules", "Message passing networks predict molecular properties.",
     ["Marie Curie"], ["cs.LG"]),
]
EDITOR = 3


def pool_papers():
    """The seven papers of the week, each with its own topic, authors and categories."""
    out = []
    for i, (title, abstract, authors, cats) in enumerate(TOPICS):
        p = make_paper(i, title=title)
        out.append(dataclasses.replace(p, abstract=abstract, authors=authors, categories=cats,
                                       primary_category=cats[0]))
    return out


@pytest.fixture
def week(store):
    """An issue of the editor's three papers, its pool of seven stored and written up, and its overview."""
    papers = pool_papers()
    gens = {}
    for p in papers:
        store.upsert_paper(p)
        g = make_generation(p)
        store.save_generation(g, {"model": g.model})
        gens[p.key] = g
    issue = Issue(id="2026-W47", week_start="2026-11-16", week_end="2026-11-22", language="en", model="test-model",
                  created="2026-11-16T08:00:00+00:00")
    issue.entries = [IssueEntry(paper=p, generation=gens[p.key], position=n) for n, p in
                     enumerate(papers[:EDITOR], 1)]
    store.save_issue(issue, gens)
    store.set_overview(issue.id, issue.model, "en", Overview(
        issue_id=issue.id, model=issue.model, language="en",
        themes=[Theme("Summaries", "Three takes on summaries.", [1, 2, 3]), Theme("Facts", "Factuality.", [3])]))
    save_pool(store, issue.id, papers)
    return store.load_issue(issue.id)


def reader(store, email: str, **interests) -> int:
    sub, _ = add_subscriber(store, email)
    if interests:
        set_interests(store, sub.id, ReaderInterests(**interests))
    return sub.id


def keys(issue: Issue) -> list[str]:
    return [e.paper.key for e in issue.entries]


def test_interests_round_trip_and_validation(store):
    sid = reader(store, "a@example.org")
    assert get_interests(store, sid) == ReaderInterests()
    stored = set_interests(store, sid, ReaderInterests(
        keywords=[" retrieval ", "Retrieval", "RAG"], authors=["Jane Doe"], categories=["cs.IR"],
        library=[{"title": "Dense passage retrieval", "authors": ["V. K."], "abstract": "Dense retrieval of passages."}],
        max_papers=5))
    assert stored.keywords == ["retrieval", "RAG"]
    got = get_interests(store, sid)
    assert got == stored and got.library[0]["title"] == "Dense passage retrieval"
    assert got.library_terms  # the library's profile is kept for ranking
    with pytest.raises(DigestError, match="max papers"):
        set_interests(store, sid, ReaderInterests(max_papers=0))
    with pytest.raises(DigestError, match="no subscriber"):
        set_interests(store, 999, ReaderInterests(keywords=["x"]))


def test_a_reader_without_interests_gets_the_editors_issue(store, config, week):
    sid = reader(store, "plain@example.org")
    got, why = reader_issue(store, week, sid, config)
    assert got is week and why == {}


def test_two_readers_get_different_issues_each_paper_with_its_reason(store, config, week):
    papers = pool_papers()
    rag = reader(store, "rag@example.org", keywords=["retrieval"], authors=["J. Doe"], max_papers=3)
    bio = reader(store, "bio@example.org", categories=["q-bio"], keywords=["molecules"], max_papers=2)
    got_rag, why_rag = reader_issue(store, week, rag, config)
    got_bio, why_bio = reader_issue(store, week, bio, config)

    assert keys(got_rag)[:2] == [papers[3].key, papers[4].key]  # both match the keyword; Jane Doe's first
    assert "matches 'retrieval'" in why_rag[papers[3].key] and "by Jane Doe, whom you follow" in why_rag[papers[3].key]
    assert keys(got_rag)[2] == papers[5].key and why_rag[papers[5].key] == "by Jane Doe, whom you follow"
    assert set(keys(got_bio)) == {papers[5].key, papers[6].key}
    assert "in q-bio, which you follow" in why_bio[papers[5].key]
    assert "matches 'molecules'" in why_bio[papers[6].key]
    assert [e.position for e in got_rag.entries] == [1, 2, 3]
    assert all(e.generation is not None for e in got_rag.entries + got_bio.entries)
    assert keys(week) == [p.key for p in papers[:EDITOR]]  # the editor's issue is left as it was


def test_default_length_is_the_editors_and_the_overview_follows_the_readers_papers(store, config, week):
    papers = pool_papers()
    config.selection.max_papers = 4
    sid = reader(store, "facts@example.org", keywords=["factual"])
    got, why = reader_issue(store, week, sid, config)
    assert len(got.entries) == 4
    assert keys(got)[0] == papers[2].key and "matches 'factual'" in why[papers[2].key]
    # The rest of the pool keeps the editor's order and says so.
    assert keys(got)[1:3] == [papers[0].key, papers[1].key] and why[papers[0].key] == "the editor's pick"
    # Theme numbers now point at the reader's positions: paper 3 of the editor's issue is their 1.
    themes = {t.title: t.papers for t in got.overview.themes}
    assert themes == {"Summaries": [1, 2, 3], "Facts": [1]}


def test_votes_move_only_the_voters_ranking(store, config, week):
    papers = pool_papers()
    a = reader(store, "a@example.org", categories=["cs.CL"], max_papers=3)
    b = reader(store, "b@example.org", categories=["cs.CL"], max_papers=3)
    before_a, _ = reader_issue(store, week, a, config)
    before_b, _ = reader_issue(store, week, b, config)
    assert keys(before_a) == keys(before_b) == [papers[0].key, papers[1].key, papers[2].key]

    # An earlier paper a liked, close to the RAG paper of this week.
    liked = dataclasses.replace(make_paper(50), title="Retrieval-augmented generation with a passage index",
                                abstract="Retrieval-augmented generation over a billion-passage index.")
    store.upsert_paper(liked)
    record_vote(store, liked.key, MORE, subscriber_voter(a))
    record_vote(store, papers[1].key, LESS, subscriber_voter(a))
    after_a, why_a = reader_issue(store, week, a, config)
    after_b, _ = reader_issue(store, week, b, config)
    assert keys(after_a)[0] == papers[4].key
    assert why_a[papers[4].key].endswith(f"similar to {liked.key} you liked")
    assert papers[1].key not in keys(after_a)
    assert keys(after_b) == keys(before_b)


def test_a_reader_with_votes_alone_gets_a_personal_order(store, config, week):
    papers = pool_papers()
    sid = reader(store, "voter@example.org")
    record_vote(store, papers[6].key, MORE, subscriber_voter(sid))
    got, why = reader_issue(store, week, sid, config)
    assert keys(got)[0] == papers[6].key and why[papers[6].key] == f"similar to {papers[6].key} you liked"


def test_pool_takes_what_readers_rank_high_up_to_pool_max(store, config):
    papers = pool_papers()
    config.selection.max_papers = EDITOR
    config.selection.interests = "summaries of documents"
    config.selection.pool_max = 5
    for p in papers:
        store.upsert_paper(p)
    chosen = select_papers(papers, config.selection)
    assert {c.paper.key for c in chosen if c.selected} == {p.key for p in papers[:EDITOR]}
    assert choose_pool(store, chosen, config.selection) == []  # no reader asked for anything

    reader(store, "rag@example.org", keywords=["retrieval"], max_papers=2)
    reader(store, "rag2@example.org", keywords=["dense retrieval"], max_papers=1)
    reader(store, "bio@example.org", keywords=["protein"], max_papers=1)
    reader(store, "facts@example.org", keywords=["factual", "faithful"], max_papers=2)  # the editor's papers
    gone = reader(store, "gone@example.org", keywords=["molecules"], max_papers=1)
    store.execute("UPDATE subscribers SET status='unsubscribed' WHERE id=?", (gone,))
    extra = choose_pool(store, chosen, config.selection)
    # Two places beyond the editor's three: the paper in two readers' issues, then the next by its place.
    assert [c.paper.key for c in extra] == [papers[3].key, papers[4].key]
    assert "in the own issue of 2 readers" in extra[0].reasons[-1]
    config.selection.pool_max = 2  # smaller than the editor's issue: nothing beyond it
    assert choose_pool(store, chosen, config.selection) == []


def test_ranker_memory_is_keyed_by_what_readers_ask_not_by_readers():
    ranker = PoolRanker(pool_papers())
    for _ in range(200):
        ranker.rank(ReaderInterests(keywords=["retrieval"], authors=["Jane Doe"], categories=["cs.IR"]), [], 3)
    assert len(ranker._keyword) == len(ranker._author) == len(ranker._category) == 1
