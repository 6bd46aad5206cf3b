"""Benchmark: how well we read a paper's structure and text, against hand-written gold (issue 20).

For every paper in bench/gold/understanding.json (files under ../shared/corpus/pdfs), extracted as `digest run`
does (digest.pdf.worker.extract_in_process, 'full' mode, in this process), it prints:

* title: the header's title equals the gold one (case, spacing and punctuation ignored);
* authors: the header's names equal the gold list as a set (accents, case and punctuation ignored);
* abstract: bounded exactly, i.e. its first and last words are the gold ones (the same comparison);
* headings: gold top-level sections found among the level-1 sections, with the same heading and page
  (recall), and how many of the level-1 sections found are in the gold (precision);
* over the cleaned page texts, with digest.pdf.clean.text_defects (the same counting as bench/clean.py):
  cuts: sentences a reader still sees cut at a page break (and, in brackets, page breaks a sentence runs
  across, which paper_sentences joins); glued: words with a citation/affiliation mark glued on per 10 pages
  ('Goldt1', 'mission.2'); formula: sentences that are formula fragments per 10 pages ('G∗ i');
* speed: seconds for the extraction with the structure against the same extraction without it (today's parse);
  the ratio must stay under 2.

Run by hand: `.venv/bin/python bench/understanding.py [--rounds 1]`. Its last line is the headline figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
import unicodedata
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.pdf import worker  # noqa: E402
from digest.pdf.clean import text_defects  # noqa: E402
from digest.records import PageText  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "pdfs"
GOLD = ROOT / "bench" / "gold" / "understanding.json"

def norm(text: str | None) -> str:
    """Lower case, accents and punctuation gone, spaces collapsed: what two spellings of a name share."""
    t = unicodedata.normalize("NFKD", text or "")
    t = "".join(c for c in t if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^\w\s]|_", " ", t).split())


def _heading_match(gold: str, found: str) -> bool:
    g, f = norm(gold), norm(found)
    return bool(g) and (g == f or (len(f) >= 8 and (g.startswith(f) or f.startswith(g))))


def page_metrics(result: PageText) -> tuple[int, int, int, int, int]:
    """(pages, cuts, runs, glued, formula) over the cleaned pages, as digest.pdf.clean.text_defects counts them."""
    d = text_defects(result.pages)
    return d["pages"], d["page_break_cuts"], d["page_break_runs"], d["marker_glued"], d["formula_fragments"]


def score(gold: dict, result: PageText) -> dict:
    """One paper's figures against its gold."""
    st = result.structure
    title = st.title if st else None
    authors = st.authors if st else []
    abstract = st.abstract if st else ""
    sections = [s for s in (st.sections if st else []) if s.level == 1]
    out: dict = {}
    out["title"] = norm(title) == norm(gold["title"]) if gold["title"] else not title
    out["authors"] = {norm(a) for a in authors} == {norm(a) for a in gold["authors"]}
    if gold["abstract_first"]:
        words = norm(abstract).split()
        first, last = norm(gold["abstract_first"]).split(), norm(gold["abstract_last"]).split()
        out["abstract"] = words[:len(first)] == first and words[-len(last):] == last
    else:
        out["abstract"] = not abstract
    hits = 0
    used: set[int] = set()
    for heading, page in gold["sections"]:
        for i, s in enumerate(sections):
            if i not in used and s.page == page and _heading_match(heading, s.heading):
                used.add(i)
                hits += 1
                break
    out["headings"] = (hits, len(gold["sections"]))
    out["found"] = (len(used), len(sections))
    out["missed"] = [h for h, p in gold["sections"]
                     if not any(_heading_match(h, s.heading) and s.page == p for s in sections)]
    out["extra"] = [s.heading for i, s in enumerate(sections) if i not in used]
    return out


def timed(path: Path, with_structure: bool) -> tuple[PageText, float]:
    """Extract one PDF in this process, with or without the structure; (result, seconds)."""
    original = worker._structure
    if not with_structure:
        worker._structure = lambda p, mode: None  # today's parse: pypdf and cleaning only
    try:
        t0 = time.perf_counter()
        result = worker.extract_in_process(path, "full")
        return result, time.perf_counter() - t0
    finally:
        worker._structure = original


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=1, help="timing rounds; the best one counts")
    args = ap.parse_args()
    logging.getLogger("pypdf").setLevel(logging.CRITICAL)  # as in the worker: font warnings are not results
    warnings.simplefilter("ignore")
    gold = json.loads(GOLD.read_text())["papers"]
    present = [g for g in gold if (CORPUS / g["file"]).is_file()]
    if not present:
        sys.exit(f"no gold PDFs under {CORPUS}")
    totals = {"title": 0, "authors": 0, "abstract": 0, "hits": 0, "gold": 0, "found_ok": 0, "found": 0,
              "pages": 0, "cuts": 0, "runs": 0, "glued": 0, "formula": 0, "with": 0.0, "without": 0.0}
    headers = sum(1 for g in present if g["title"])
    for g in present:
        path = CORPUS / g["file"]
        best_with = best_without = float("inf")
        result = None
        for _ in range(max(1, args.rounds)):
            _, t_without = timed(path, False)
            result, t_with = timed(path, True)
            best_with, best_without = min(best_with, t_with), min(best_without, t_without)
        assert result is not None
        if not result.ok:
            sys.exit(f"{path.name}: extraction failed: {result.error}")
        s = score(g, result)
        pages, cuts, runs, glued, formula = page_metrics(result)
        if g["title"]:  # a header to read: title, authors and abstract count
            totals["title"] += s["title"]
            totals["authors"] += s["authors"]
            totals["abstract"] += s["abstract"]
        totals["hits"] += s["headings"][0]
        totals["gold"] += s["headings"][1]
        totals["found_ok"] += s["found"][0]
        totals["found"] += s["found"][1]
        for k, v in (("pages", pages), ("cuts", cuts), ("runs", runs), ("glued", glued), ("formula", formula)):
            totals[k] += v
        totals["with"] += best_with
        totals["without"] += best_without
        mark = {True: "ok", False: "NO"}
        print(f"{path.name[:60]:60s} title {mark[s['title']]:2s} authors {mark[s['authors']]:2s} "
              f"abstract {mark[s['abstract']]:2s} headings {s['headings'][0]:2d}/{s['headings'][1]:<2d} "
              f"(found {s['found'][0]}/{s['found'][1]}) pages {pages:3d} cuts {cuts} ({runs}) glued {glued} "
              f"formula {formula} {best_without:.2f}s -> {best_with:.2f}s")
        if s["missed"]:
            print(f"    missed: {s['missed']}")
        if s["extra"]:
            print(f"    not in gold: {s['extra'][:8]}")
    per10 = 10 / max(1, totals["pages"])
    ratio = totals["with"] / max(1e-9, totals["without"])
    recall = totals["hits"] / max(1, totals["gold"])
    precision = totals["found_ok"] / max(1, totals["found"])
    print(f"parse {totals['pages'] / totals['without']:.1f} pages/s, with structure "
          f"{totals['pages'] / totals['with']:.1f} pages/s")
    print(f"understanding: title {totals['title']}/{headers}, authors {totals['authors']}/{headers}, "
          f"abstract {totals['abstract']}/{headers}, headings {recall:.0%} ({totals['hits']}/{totals['gold']}, "
          f"precision {precision:.0%}), page-break cuts {totals['cuts']} (of {totals['runs']} runs), per 10 pages: "
          f"glued {totals['glued'] * per10:.2f}, formula {totals['formula'] * per10:.2f}; "
          f"structure costs {ratio:.2f}x the parse")


if __name__ == "__main__":
    main()
