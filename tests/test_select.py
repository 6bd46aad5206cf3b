"""Weekly selection: filters, watch list, BM25 ranking, reasons, persistence; on synthetic and real listings."""

from __future__ import annotations

import logging
from pathlib import Path

import feedparser
import pytest
from factories import make_issue
from pypdf import PdfReader

from digest.config import SelectionConfig
from digest.records import Page, Paper, split_arxiv_id
from digest.select import (
    Candidate,
    keyword_pattern,
    load_selection,
    published_issues,
    save_selection,
    select_papers,
    updated_papers,
)
from digest.text import same_author
from digest.writers.retrieval import find_sections


def paper(key: str, title: str, abstract: str = "", *, version: int | None = 1,
          authors: list[str] | None = None, categories: list[str] | None = None,
          announce: str | None = "new", published: str = "2026-11-16T00:00:00+00:00") -> Paper:
    return Paper(key=key, arxiv_id=key, version=version, title=title, abstract=abstract,
                 authors=authors or ["Some One"], categories=categories if categories is not None else ["cs.CL"],
                 primary_category=(categories or ["cs.CL"])[0] if categories != [] else None,
                 published=published, announce_type=announce)


LISTING = [
    paper("2611.00001", "Faithful summarization of scientific papers with large language models",
          "We study abstractive summarization of long scientific papers and ground every summary sentence."),
    paper("2611.00002", "Quantum error correction with surface codes",
          "We analyse quantum codes on superconducting qubits and their thresholds."),
    paper("2611.00003", "Retrieval-augmented generation for question answering",
          "Retrieval of passages improves generation for open-domain question answering."),
    paper("2611.00004", "A survey of graph neural networks", "Graph neural networks for molecules.",
          categories=["cs.LG"]),
    paper("2611.00005", "Revisiting tokenizers for machine translation", "Subword tokenizers matter.",
          announce="replace", version=3),
    paper("2611.00006", "Protein folding with diffusion models", "Diffusion generates protein structures.",
          authors=["José María García-López", "Ann Lee"], categories=["q-bio.BM"]),
]
INTERESTS = "large language models, summarization of scientific papers, retrieval-augmented generation"


def by_key(cands: list[Candidate]) -> dict[str, Candidate]:
    return {c.paper.key: c for c in cands}


def test_ranking_and_reasons():
    cands = select_papers(LISTING, SelectionConfig(interests=INTERESTS, max_papers=2))
    assert len(cands) == len(LISTING)
    order = [c.paper.key for c in cands]
    assert order[:2] == ["2611.00001", "2611.00003"]
    c = by_key(cands)
    assert c["2611.00001"].selected and c["2611.00001"].rank == 1
    assert c["2611.00001"].score > c["2611.00003"].score > c["2611.00002"].score == 0
    bm25 = next(r for r in c["2611.00001"].reasons if r.startswith("BM25 similarity"))
    assert "summarization" in bm25 and "top terms:" in bm25
    assert "rank 1 of 5: selected" in c["2611.00001"].reasons
    assert not c["2611.00002"].selected and "rank 4 > max_papers 2" in c["2611.00002"].reasons
    assert "BM25 similarity 0.00 to interests (no shared terms)" in c["2611.00002"].reasons
    # The default announce types are new and cross: a replacement is left out, and says so.
    assert "announce type replace not taken" in c["2611.00005"].reasons and c["2611.00005"].rank is None
    # Selected first, then the rest of the ranking, then what the filters left out.
    assert [x.selected for x in cands] == [True, True, False, False, False, False]
    assert cands[-1].rank is None


def test_deterministic_ties_and_input_order():
    twins = [paper(f"2611.0010{i}", "Summarization of papers", "Summarization of papers.") for i in (3, 1, 2)]
    sel = SelectionConfig(interests="summarization", max_papers=2)
    first = select_papers(twins, sel)
    again = select_papers(list(reversed(twins)), sel)
    assert [c.paper.key for c in first] == [c.paper.key for c in again] == ["2611.00101", "2611.00102", "2611.00103"]
    assert first[0].score == first[2].score


def test_phrases_count_more_than_scattered_words():
    listing = [paper("2611.00021", "Models of language acquisition in children", "Children acquire words."),
               paper("2611.00022", "Language models for translation", "Translation of words.")]
    cands = select_papers(listing, SelectionConfig(interests="large language models"))
    assert cands[0].paper.key == "2611.00022" and cands[0].score > cands[1].score > 0
    assert "(top terms: language models, " in next(r for r in cands[0].reasons if r.startswith("BM25"))


def test_keywords():
    sel = SelectionConfig(interests=INTERESTS, exclude_keywords=["quantum", "graph neural network"],
                          include_keywords=["summari*", "LLM", "protein"], authors=[])
    c = by_key(select_papers(LISTING, sel))
    assert "excluded: keyword 'quantum'" in c["2611.00002"].reasons and not c["2611.00002"].selected
    assert "excluded: keyword 'graph neural network'" in c["2611.00004"].reasons  # plural matches
    assert "matches keyword 'summari*'" in c["2611.00001"].reasons and c["2611.00001"].selected
    assert "no include keyword matched (summari*, LLM, protein)" in c["2611.00003"].reasons
    assert not c["2611.00003"].selected
    # Word boundaries: 'LLM' matches 'LLMs' but not 'LLMOps'; 'quantum' not 'quantumness'.
    assert keyword_pattern("LLM").search("Open LLMs for all")
    assert not keyword_pattern("LLM").search("Scaling LLMOps")
    assert not keyword_pattern("quantum").search("On quantumness")
    assert keyword_pattern("Language Model").search("a large language-models study")


def test_watch_list_first_and_bypasses_include_and_categories():
    sel = SelectionConfig(interests=INTERESTS, include_keywords=["summarization"], categories=["cs.CL"],
                          authors=["Jose M. Garcia-Lopez"], max_papers=1)
    cands = select_papers(LISTING, sel)
    top = cands[0]
    assert top.paper.key == "2611.00006" and top.selected and top.rank == 1
    assert "author on watch list: José María García-López" in top.reasons
    c = by_key(cands)
    assert "rank 2 > max_papers 1" in c["2611.00001"].reasons
    assert any(r.startswith("not in categories cs.CL (has cs.LG)") for r in c["2611.00004"].reasons)


@pytest.mark.parametrize("watched, author, same", [
    ("Jane Doe", "jane doe", True),
    ("Jane Doe", "Jane Q. Doe", True),
    ("Jane Doe", "J. Doe", True),
    ("Doe, Jane", "Jane Doe", True),
    ("Zlatko Tesanovic", "Zlatko Tešanović", True),
    ("José Raúl Romero", "JosÃ© RaÃºl Romero", True),   # UTF-8 read as Latin-1 in a feed
    ("Jane Doe", "John Doe", False),
    ("Jane Doe", "Jane Roe", False),
    ("Jane Doe", "", False),
])
def test_same_author(watched, author, same):
    assert same_author(watched, author) is same


def test_categories_unknown_pass():
    listless = paper("url:abc", "Summarization from a reading list", categories=[], announce=None)
    c = select_papers([listless], SelectionConfig(interests=INTERESTS, categories=["cs.CL"]))[0]
    assert c.selected and "categories unknown; category filter not applied" in c.reasons


def test_published_versions():
    sel = SelectionConfig(interests=INTERESTS, announce_types=["new", "cross"])
    listing = [
        paper("2611.00001", "Summarization again", version=1),
        paper("2611.00003", "Retrieval-augmented generation v2", version=2, announce="replace"),
        paper("2611.00007", "Summarization without a known version", version=None, announce=None),
    ]
    published = {"2611.00001": 1, "2611.00003": 1, "2611.00007": 0}
    c = by_key(select_papers(listing, sel, published=published,
                             published_in={"2611.00001": "2026-W46", "2611.00003": "2026-W45"}))
    assert "already published in 2026-W46 (v1)" in c["2611.00001"].reasons and not c["2611.00001"].selected
    assert "already published" in c["2611.00007"].reasons and not c["2611.00007"].selected
    upd = c["2611.00003"]
    assert upd.is_update and upd.selected
    assert "updated: v2 (published v1 in 2026-W45)" in upd.reasons
    assert "announce type replace taken: it updates a published paper" in upd.reasons
    # Without published_in the reason still says what happened.
    c = by_key(select_papers(listing, sel, published={"2611.00001": 2}))
    assert "already published (v2)" in c["2611.00001"].reasons


def test_liked_papers_shape_the_profile():
    liked = [paper("2500.00001", "Protein structure prediction", "Diffusion models for protein folding."),
             paper("2500.00002", "Protein design", "Generative diffusion for protein design.")]
    cands = select_papers(LISTING, SelectionConfig(interests="", max_papers=1), liked=liked)
    assert cands[0].paper.key == "2611.00006"
    assert any("protein" in r and "diffusion" in r for r in cands[0].reasons)


def test_no_profile_ranks_by_recency():
    listing = [paper("2611.00011", "Old", published="2026-11-10T00:00:00+00:00"),
               paper("2611.00012", "New", published="2026-11-16T00:00:00+00:00"),
               paper("2611.00013", "Undated", published=None)]
    cands = select_papers(listing, SelectionConfig(interests="", max_papers=5))
    assert [c.paper.key for c in cands] == ["2611.00012", "2611.00011", "2611.00013"]
    assert "no interest profile: ranked by recency (published 2026-11-16T00:00:00+00:00)" in cands[0].reasons
    assert all(c.score == 0 for c in cands)


def test_duplicates_keep_highest_version():
    listing = [paper("2611.00001", "Summarization", version=1), paper("2611.00001", "Summarization", version=2)]
    cands = select_papers(listing, SelectionConfig(interests=INTERESTS))
    assert len(cands) == 1 and cands[0].paper.version == 2
    assert "listed more than once; kept v2 over v1" in cands[0].reasons


def test_max_papers_argument_overrides_config():
    cands = select_papers(LISTING, SelectionConfig(interests=INTERESTS, max_papers=10), max_papers=1)
    assert sum(c.selected for c in cands) == 1
    assert select_papers([], SelectionConfig(interests=INTERESTS)) == []


def test_save_and_load(store):
    sel = SelectionConfig(interests=INTERESTS, max_papers=2)
    listing = LISTING + [paper("2611.00003", "Retrieval-augmented generation", version=2)]
    cands = select_papers(listing, sel, published={"2611.00003": 1}, published_in={"2611.00003": "2026-W46"})
    save_selection(store, "2026-W47", cands)
    loaded = load_selection(store, "2026-W47")
    assert [c.paper.key for c in loaded] == [c.paper.key for c in cands]
    for a, b in zip(loaded, cands):
        assert (a.selected, a.rank, a.reasons, a.is_update, a.paper.version, a.paper.title) == \
               (b.selected, b.rank, b.reasons, b.is_update, b.paper.version, b.paper.title)
        assert a.score == pytest.approx(b.score)
    assert by_key(loaded)["2611.00003"].is_update
    # Saving again replaces the week; other weeks stay.
    save_selection(store, "2026-W47", cands[:1])
    save_selection(store, "2026-W48", cands[1:3])
    assert [c.paper.key for c in load_selection(store, "2026-W47")] == [cands[0].paper.key]
    assert len(load_selection(store, "2026-W48")) == 2
    assert load_selection(store, "2026-W01") == []


def test_the_stored_selection_carries_the_update_flag_not_its_wording(store):
    """Publishing reads select's decision back; it must not depend on how a reason is phrased."""
    cands = select_papers([paper("2611.00003", "Retrieval-augmented generation", version=2)],
                          SelectionConfig(interests=INTERESTS), published={"2611.00003": 1})
    assert cands[0].selected and cands[0].is_update
    cands[0].reasons = ["a new version of a paper shown before"]
    save_selection(store, "2026-W47", cands)
    assert load_selection(store, "2026-W47")[0].is_update
    assert updated_papers(store, "2026-W47") == {"2611.00003"} and updated_papers(store, "2026-W48") == set()


def test_published_from_store(store):
    """A paper of an earlier issue comes back only with a newer version, and the reason names the issue."""
    old = make_issue(store, week=1, n_papers=2)   # 2026-W46
    make_issue(store, week=0, n_papers=1)         # 2026-W47, the week being made again
    first, second = (e.paper for e in old.entries)
    newer = Paper(**{**first.__dict__, "version": first.version + 1, "announce_type": "replace"})
    this_week = store.load_issue("2026-W47").entries[0].paper
    published = store.published_versions(exclude_issue="2026-W47")
    where = published_issues(store, exclude_issue="2026-W47")
    assert where == {first.key: "2026-W46", second.key: "2026-W46"}
    c = by_key(select_papers([newer, second, this_week], SelectionConfig(interests=INTERESTS),
                             published=published, published_in=where))
    assert c[first.key].is_update and c[first.key].selected
    assert f"updated: v{newer.version} (published v{first.version} in 2026-W46)" in c[first.key].reasons
    assert f"already published in 2026-W46 (v{second.version})" in c[second.key].reasons
    assert c[this_week.key].selected  # re-making a week does not exclude its own papers


# ---- real listings ----------------------------------------------------------------------

def api_papers(path: Path) -> list[Paper]:
    """Papers of an arXiv API response, read with feedparser directly."""
    out = []
    for e in feedparser.parse(str(path)).entries:
        aid, version = split_arxiv_id(e.id.split("/abs/")[-1])
        cats = [t["term"] for t in e.get("tags", [])]
        out.append(Paper(key=aid, arxiv_id=aid, version=version, title=" ".join(e.title.split()),
                         abstract=" ".join(e.summary.split()), authors=[a.name for a in e.authors],
                         categories=cats, primary_category=cats[0] if cats else None,
                         published=e.published))
    return out


def pdf_paper(path: Path, key: str, title: str) -> Paper:
    """A paper whose abstract is read from its PDF (our own section finder, on pypdf's text)."""
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    pages = [Page(i, p.extract_text() or "") for i, p in enumerate(PdfReader(path).pages[:2], 1)]
    abstract = " ".join(p.text for p in find_sections(pages)["abstract"])
    assert len(abstract.split()) > 100
    return Paper(key=key, arxiv_id=key, version=3, title=title, abstract=abstract,
                 categories=["cs.CL"], published="2022-06-22T00:00:00Z")


def test_real_listing_profile(corpus):
    """The English interest profile puts a summarization paper above quantum physics and software testing."""
    api = corpus / "arxiv_api"
    listing = (api_papers(api / "api2026_search_testing_100entries.xml")
               + api_papers(api / "api2016_search_au_del_maestro_10entries.xml")
               + [pdf_paper(next((corpus / "pdfs/arxiv").glob("*2206.10883*")), "2206.10883",
                            "Multi-LexSum: Real-World Summaries of Civil Rights Lawsuits at Multiple Granularities")])
    assert len(listing) == 111
    sel = SelectionConfig(interests=INTERESTS, max_papers=10)
    cands = select_papers(listing, sel)
    assert len(cands) == 111 and len({c.paper.key for c in cands}) == 111
    assert cands[0].paper.key == "2206.10883"
    assert "summarization" in next(r for r in cands[0].reasons if r.startswith("BM25"))
    quantum = [c for c in cands if any(k.startswith(("quant-ph", "cond-mat")) for k in c.paper.categories)]
    assert len(quantum) >= 10
    assert all(not c.selected and c.rank > 20 and c.score < cands[0].score / 4 for c in quantum)
    selected = [c for c in cands if c.selected]
    assert len(selected) == 10 and selected == cands[:10]
    # Most of the rest of the top ten are the listing's language-model papers.
    assert sum("language model" in (c.paper.title + c.paper.abstract).lower() for c in selected) >= 6
    # The same input gives the same order.
    assert [c.paper.key for c in select_papers(listing, sel)] == [c.paper.key for c in cands]


def test_real_rss_announce_types(corpus):
    """The 2024+ RSS listing: announce types new, new, cross, replace."""
    feed = feedparser.parse(str(next((corpus / "arxiv_rss").glob("*.xml"))))
    listing = []
    for e in feed.entries:
        aid, version = split_arxiv_id(e.id.split(":")[-1])
        listing.append(Paper(key=aid, arxiv_id=aid, version=version, title=e.title, abstract=e.summary,
                             authors=[a.strip() for a in e.author.split(",")],
                             categories=[t.term for t in e.tags], announce_type=e.arxiv_announce_type))
    cands = select_papers(listing, SelectionConfig(interests="", categories=["cs.LG", "stat.ML"]))
    c = {x.paper.announce_type: x for x in cands if x.paper.announce_type != "new"}
    assert c["cross"].selected
    assert "announce type replace not taken" in c["replace"].reasons
    assert sum(x.selected for x in cands) == 3
    taken = select_papers(listing, SelectionConfig(interests="", announce_types=["new", "cross", "replace"]))
    assert all(x.selected for x in taken)


@pytest.mark.parametrize("types, taken", [
    (["new", "cross"], False), (["new", "replace"], False), (["cross", "replace"], True), (["replace-cross"], True),
])
def test_replace_cross(types, taken):
    p = paper("2611.00031", "Summarization", announce="replace-cross")
    assert select_papers([p], SelectionConfig(interests=INTERESTS, announce_types=types))[0].selected is taken


def test_term_index_matches_term_by_term_and_keeps_only_what_papers_have():
    """The index built once serves any number of profiles: scores are the sum of each term's BM25 part."""
    from digest.select import TermIndex, build_profile

    index = TermIndex(LISTING)
    profile = build_profile("summarization of scientific papers\nsurface codes", [])
    m = index.match(profile)
    expected = [sum(w * index.score(t, i) for t, w in profile.weights.items() if t in index.scorer.vocab)
                for i in range(len(LISTING))]
    assert list(m.total) == pytest.approx(expected) and m.total[0] > 0 and m.total[1] > 0
    assert m.top_terms(1) == ["codes", "surface", "surface codes"]  # the profile's words, best first
    assert [t for _, t in m.contributions(1)] == ["code", "surfac", "surfac_code"]
    assert m.contributions(2) == [] and m.top_terms(2) == []
    # What is kept per term is the papers that have it: never a row per paper per term asked for.
    index.match(build_profile("\n".join(f"word{n}" for n in range(500)), []))
    assert all(len(where) <= len(LISTING) and (values > 0).all() for where, values, _ in index._sparse.values())
    assert set(index._sparse) <= index.scorer.vocab
