"""Each reader's own issue (issue 21): interests stored, the pool chosen, a reader's ranking and why lines."""

from __future__ import annotations

import dataclasses

import pytest
from factories import add_reader, make_paper, store_week_with_pool

from digest.errors import DigestError
from digest.feedback import LESS, MORE, record_vote, subscriber_voter
from digest.readers import (
    PoolRanker,
    ReaderInterests,
    choose_pool,
    get_interests,
    reader_issue,
    set_interests,
)
from digest.records import Issue, Overview, Theme
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
    issue = store_week_with_pool(store, pool_papers(), EDITOR)
    store.set_overview(issue.id, issue.model, "en", Overview(
        issue_id=issue.id, model=issue.model, language="en",
        themes=[Theme("Summaries", "Three takes on summaries.", [1, 2, 3]), Theme("Facts", "Factuality.", [3])]))
    return store.load_issue(issue.id)


def keys(issue: Issue) -> list[str]:
    return [e.paper.key for e in issue.entries]


def test_interests_round_trip_and_validation(store):
    sid = add_reader(store, "a@example.org")
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
    sid = add_reader(store, "plain@example.org")
    got, why = reader_issue(store, week, sid, config)
    assert got is week and why == {}


def test_two_readers_get_different_issues_each_paper_with_its_reason(store, config, week):
    papers = pool_papers()
    rag = add_reader(store, "rag@example.org", keywords=["retrieval"], authors=["J. Doe"], max_papers=3)
    bio = add_reader(store, "bio@example.org", categories=["q-bio"], keywords=["molecules"], max_papers=2)
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
    sid = add_reader(store, "facts@example.org", keywords=["factual"])
    got, why = reader_issue(store, week, sid, config)
    assert len(got.entries) == 4
    assert keys(got)[0] == papers[2].key and "matches 'factual'" in why[papers[2].key]
    # The rest of the pool keeps the editor's order and says so.
    assert keys(got)[1:3] == [papers[0].key, papers[1].key] and why[papers[0].key] == "the editor's pick"
    # Theme numbers now point at the reader's positions: paper 3 of the editor's issue is their 1.
    themes = {t.title: t.papers for t in got.overview.themes}
    assert themes == {"Summaries": [1, 2, 3], "Facts": [1]}


def test_a_library_ranks_and_its_own_papers_are_not_shown_again(store, config, week):
    papers = pool_papers()
    sid = add_reader(store, "lib@example.org", max_papers=2, library=[
        {"title": "Evaluating Summary Factuality.", "authors": [], "abstract": ""},  # this week's paper 3, by title
        {"title": "Faithfulness in abstractive summarisation", "authors": [],
         "abstract": "Abstractive summaries that stay faithful to their source."},
        {"title": "Molecules", "authors": [], "abstract": "Faithful abstractive summaries.", "arxiv_id": papers[6].key}])
    got, why = reader_issue(store, week, sid, config)
    assert keys(got)[0] == papers[1].key
    assert why[papers[1].key] == "shares 'abstractive', 'faithful' with your library"
    assert papers[2].key not in keys(got) and papers[6].key not in keys(got)


def test_votes_move_only_the_voters_ranking(store, config, week):
    papers = pool_papers()
    a = add_reader(store, "a@example.org", categories=["cs.CL"], max_papers=3)
    b = add_reader(store, "b@example.org", categories=["cs.CL"], max_papers=3)
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
    sid = add_reader(store, "voter@example.org")
    record_vote(store, papers[6].key, MORE, subscriber_voter(sid))
    got, why = reader_issue(store, week, sid, config)
    assert keys(got)[0] == papers[6].key and why[papers[6].key] == f"similar to {papers[6].key} you liked"


def editor_candidates(store, config, pool_max: int):
    """The week's seven papers stored and selected by the editor's interests (three of them), with pool_max."""
    papers = pool_papers()
    config.selection.max_papers = EDITOR
    config.selection.interests = "summaries of documents"
    config.selection.pool_max = pool_max
    for p in papers:
        store.upsert_paper(p)
    return papers, select_papers(papers, config.selection)


def test_pool_takes_what_readers_rank_high_up_to_pool_max(store, config):
    papers, chosen = editor_candidates(store, config, pool_max=5)
    assert {c.paper.key for c in chosen if c.selected} == {p.key for p in papers[:EDITOR]}
    assert choose_pool(store, chosen, config.selection) == []  # no reader asked for anything

    add_reader(store, "rag@example.org", keywords=["retrieval"], max_papers=2)
    add_reader(store, "rag2@example.org", keywords=["dense retrieval"], max_papers=1)
    add_reader(store, "bio@example.org", keywords=["protein"], max_papers=1)
    add_reader(store, "facts@example.org", keywords=["factual", "faithful"], max_papers=2)  # the editor's papers
    add_reader(store, "asks-nothing@example.org", keywords=[], max_papers=6)  # the editor's issue, six long
    gone = add_reader(store, "gone@example.org", keywords=["molecules"], max_papers=1)
    store.execute("UPDATE subscribers SET status='unsubscribed' WHERE id=?", (gone,))
    extra = choose_pool(store, chosen, config.selection)
    # Two places beyond the editor's three: the paper in two readers' issues, then the next by its place.
    assert [c.paper.key for c in extra] == [papers[3].key, papers[4].key]
    assert "in the own issue of 2 readers" in extra[0].reasons[-1]
    config.selection.pool_max = 2  # smaller than the editor's issue: nothing beyond it
    assert choose_pool(store, chosen, config.selection) == []


def test_pool_is_as_large_for_one_reader_as_for_many(store, config):
    """The week's write-ups (its LLM calls) depend on pool_max, not on how many readers there are."""
    papers, chosen = editor_candidates(store, config, pool_max=6)
    add_reader(store, "bio@example.org", keywords=["protein"], max_papers=1)
    one = choose_pool(store, chosen, config.selection)
    # Their pick first; then the papers next in their ranking fill the pool to pool_max.
    assert len(one) == 3 and one[0].paper.key == papers[5].key
    assert "in the own issue of 1 reader" in one[0].reasons[-1]
    assert all("filled to pool_max" in c.reasons[-1] for c in one[1:])
    for n in range(40):
        add_reader(store, f"r{n}@example.org", keywords=[["retrieval"], ["molecules"], ["factual"]][n % 3],
                   max_papers=2)
    chosen = select_papers(papers, config.selection)
    many = choose_pool(store, chosen, config.selection)
    assert len(many) == len(one) == config.selection.pool_max - EDITOR
    assert many[0].paper.key != one[0].paper.key  # what many readers want comes first


def test_ranker_memory_is_keyed_by_what_readers_ask_not_by_readers():
    ranker = PoolRanker(pool_papers())
    for _ in range(200):
        ranker.rank(ReaderInterests(keywords=["retrieval"], authors=["Jane Doe"], categories=["cs.IR"]), [], 3)
    assert len(ranker._keyword) == len(ranker._author) == len(ranker._category) == 1


BIBTEX = r"""@comment{exported by Zotero}
@article{doe2024,
  title = {{RAG} for {Sch\"{o}n} Papers},
  author = {Doe, Jane and Roe, John},
  abstract = {We study retrieval {augmented} generation.},
  eprint = {2401.12345}, archivePrefix = {arXiv}, year = 2024
}
@inproceedings{lee, title = "Quoted title", author = "Ann Lee"}
"""
RIS = ("TY  - JOUR\nTI  - A RIS paper\nAU  - Doe, Jane\nAB  - line one\n  continued\n"
       "UR  - https://arxiv.org/abs/2301.00001v2\nER  - \nTY  - JOUR\nAU  - No Title\nER  - \n")
CSL = ('[{"title": "CSL paper", "author": [{"family": "Doe", "given": "Jane"}, {"literal": "The Team"}], '
       '"abstract": "An abstract.", "URL": "https://arxiv.org/abs/2101.00002"}]')


def test_library_exports_are_read_as_papers():
    from digest.library import parse_library

    bib = parse_library(BIBTEX, "my.bib")
    assert bib == [{"title": "RAG for Schon Papers", "authors": ["Jane Doe", "John Roe"],
                    "abstract": "We study retrieval augmented generation.", "arxiv_id": "2401.12345"},
                   {"title": "Quoted title", "authors": ["Ann Lee"], "abstract": "", "arxiv_id": None}]
    ris = parse_library(RIS, "x.ris")  # the record without a title or abstract is left out
    assert ris == [{"title": "A RIS paper", "authors": ["Jane Doe"], "abstract": "line one continued",
                    "arxiv_id": "2301.00001"}]
    assert parse_library(CSL)[0]["authors"] == ["Jane Doe", "The Team"]
    with pytest.raises(DigestError, match="not BibTeX, RIS or CSL JSON"):
        parse_library("just some words", "notes.txt")
    with pytest.raises(DigestError, match="CSL JSON"):
        parse_library("[{broken", "x.json")


def test_cli_set_and_csv_round_trip(store, config, tmp_path, week):
    from click.testing import CliRunner

    from digest.cli.main import cli
    from digest.mail.subscribers import export_csv, get_subscriber, import_csv

    conf = tmp_path / "digest.toml"
    conf.write_text(f'[store]\narchive_dir = "{config.archive_dir}"\n', encoding="utf-8")
    lib = tmp_path / "zotero.bib"
    lib.write_text(BIBTEX, encoding="utf-8")
    runner = CliRunner()
    base = ["--config", str(conf), "subscribers"]
    assert runner.invoke(cli, base + ["add", "ada@example.org"]).exit_code == 0
    res = runner.invoke(cli, base + ["set", "ada@example.org", "--keywords", "retrieval; dense passages",
                                     "--authors", "Doe, Jane; Ann Lee", "--categories", "cs.IR",
                                     "--library", str(lib), "--max-papers", "4"])
    assert res.exit_code == 0, res.output
    assert "library: 2 papers" in res.output
    sid = get_subscriber(store, "ada@example.org").id
    got = get_interests(store, sid)
    assert (got.keywords, got.authors, got.categories, got.max_papers) == (
        ["retrieval", "dense passages"], ["Doe, Jane", "Ann Lee"], ["cs.IR"], 4)
    assert [i["title"] for i in got.library] == ["RAG for Schon Papers", "Quoted title"]
    # Options left out keep what was set; '' clears one; 0 papers means the editor's number.
    assert runner.invoke(cli, base + ["set", "ada@example.org", "--categories", "", "--max-papers", "0"]).exit_code == 0
    got = get_interests(store, sid)
    assert got.categories == [] and got.max_papers is None and got.keywords == ["retrieval", "dense passages"]
    res = runner.invoke(cli, base + ["set", "nobody@example.org", "--keywords", "x"])
    assert isinstance(res.exception, DigestError) and "no subscriber 'nobody@example.org'" in str(res.exception)
    (tmp_path / "bad.bib").write_text("no entries here", encoding="utf-8")
    res = runner.invoke(cli, base + ["set", "ada@example.org", "--library", str(tmp_path / "bad.bib")])
    assert isinstance(res.exception, DigestError) and "BibTeX, RIS or CSL JSON" in str(res.exception)

    # The CSV carries interests out and back in: a fresh store reads the same ones.
    set_interests(store, sid, dataclasses.replace(get_interests(store, sid), max_papers=6))
    out = tmp_path / "readers.csv"
    with out.open("w", encoding="utf-8", newline="") as f:
        export_csv(store, f)
    assert '"Doe, Jane; Ann Lee"' in out.read_text(encoding="utf-8")
    from digest.store import Store
    other = Store(tmp_path / "other.db")
    try:
        report = import_csv(other, out)
        assert report.added == ["ada@example.org"] and not report.invalid
        back = get_interests(other, get_subscriber(other, "ada@example.org").id)
        assert (back.keywords, back.authors, back.categories, back.max_papers) == (
            ["retrieval", "dense passages"], ["Doe, Jane", "Ann Lee"], [], 6)
        # A column left out keeps what was set; a bad number is reported, the address still added.
        partial = tmp_path / "partial.csv"
        partial.write_text("email,keywords,max_papers\nada@example.org,graphs,\nzed@example.org,x,many\n",
                           encoding="utf-8")
        report = import_csv(other, partial)
        again = get_interests(other, get_subscriber(other, "ada@example.org").id)
        assert again.keywords == ["graphs"] and again.authors == ["Doe, Jane", "Ann Lee"] and again.max_papers is None
        assert [(line, why) for line, _, why in report.invalid] == [(3, "max_papers 'many' is not a whole number")]
    finally:
        other.close()


def test_a_run_writes_up_the_pool_once_and_each_reader_chooses_from_it(tmp_path, httpserver, config, store):
    from weekfeed import TODAY, serve_topic_week

    from digest.pipeline import run_week

    topics = [("Summaries of long documents", "We summarise long scientific documents."),
              ("Faithful summaries", "Abstractive summaries that stay faithful."),
              ("Dense passage retrieval", "Dense retrieval of passages for question answering."),
              ("Protein folding", "Diffusion models fold proteins.")]
    serve_topic_week(tmp_path, httpserver, config, topics)
    config.selection.interests = "summaries"
    config.selection.max_papers = 2
    config.selection.pool_max = 3
    rag = add_reader(store, "rag@example.org", keywords=["retrieval"], max_papers=2)
    add_reader(store, "bio@example.org", keywords=["protein"], max_papers=1)

    dry = run_week(config, store, dry_run=True, today=TODAY)
    assert len(dry.estimate) == 3  # the editor's two and the one paper two readers' interests could add

    rep = run_week(config, store, today=TODAY)
    editor = [e.paper.key for e in rep.issue.entries]
    assert sorted(editor) == ["2611.00000", "2611.00001"]
    assert [p.key for p in rep.fetch.pool] == ["2611.00002"]  # pool_max 3: the first reader's pick, by rank
    pooled = [r["paper_key"] for r in store.query("SELECT paper_key FROM issue_pool ORDER BY position")]
    assert pooled == [*editor, "2611.00002"]
    got, why = reader_issue(store, rep.issue, rag, config)
    assert [e.paper.key for e in got.entries] == ["2611.00002", editor[0]]
    assert why["2611.00002"] == "matches 'retrieval'" and got.entries[0].generation.tldr
    assert store.load_issue(rep.issue.id).entries == rep.issue.entries  # the editor's issue stays the editor's


def test_a_readers_vote_moves_the_editors_ranking_at_half_the_weight_of_the_owners(store):
    from digest.config import SelectionConfig
    from digest.feedback import OWNER, load_feedback

    papers = pool_papers()
    for p in papers:
        store.upsert_paper(p)
    sel = SelectionConfig(interests="summaries of documents", max_papers=3)

    def scores() -> dict[str, float]:
        return {c.paper.key: c.score for c in select_papers(papers, sel, feedback=load_feedback(store))}

    before = scores()
    sid = add_reader(store, "voter@example.org")
    record_vote(store, papers[4].key, MORE, subscriber_voter(sid))
    by_reader = scores()
    store.execute("DELETE FROM feedback")
    record_vote(store, papers[4].key, MORE, OWNER)
    by_owner = scores()
    moved = papers[3].key  # the other retrieval paper
    assert by_owner[moved] - before[moved] > 0.05
    assert by_reader[moved] - before[moved] == pytest.approx((by_owner[moved] - before[moved]) / 2, abs=1e-3)
