"""Benchmark: what a reader must never see in a paper's sentences, over every corpus PDF (issue 20).

Per paper and in total: words with a citation/affiliation mark glued on, formula fragments taken as
sentences (both per 10 pages), page breaks a sentence runs across, and sentences still cut at a page break
by digest.pdf.sentences.paper_sentences (goal 0). The counting is digest.pdf.clean.text_defects. Run by hand:

    .venv/bin/python bench/clean.py [--no-marks] [--show N]

`--no-marks` cleans without the glyph-read superscript marks (pypdf's text alone), to see what they add.
Last line: `clean: <glued>/10 pages glued marks, <fragments>/10 pages formula fragments, <cuts> page-break cuts`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.pdf.clean import text_defects  # noqa: E402
from digest.pdf.sentences import _GLUED_DIGITS_RE, _GLUED_SIGN_RE, _PERIOD_DIGITS_RE, paper_sentences  # noqa: E402
from digest.pdf.worker import extract_in_process  # noqa: E402
from digest.text import is_formula_fragment  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "pdfs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-marks", action="store_true", help="clean without the superscript marks read off glyphs")
    ap.add_argument("--show", type=int, default=0, help="print up to N examples of each defect per paper")
    args = ap.parse_args()
    paths = sorted((CORPUS / "arxiv").glob("*.pdf")) + sorted((CORPUS / "other").glob("*.pdf"))
    if not paths:
        sys.exit(f"no PDFs under {CORPUS}")
    if args.no_marks:
        import digest.pdf.worker as worker

        worker.read_marks = lambda path: None
    total: dict[str, int] = {}
    t0 = time.perf_counter()
    print(f"{'paper':44s} {'pages':>5s} {'glued':>5s} {'frag':>5s} {'runs':>5s} {'cuts':>5s}")
    for path in paths:
        result = extract_in_process(path, "full")
        if not result.ok:
            print(f"{path.name[:44]:44s} extraction failed: {result.error}")
            continue
        d = text_defects(result.pages)
        for k, v in d.items():
            total[k] = total.get(k, 0) + v
        print(f"{path.name[:44]:44s} {d['pages']:5d} {d['marker_glued']:5d} {d['formula_fragments']:5d} "
              f"{d['page_break_runs']:5d} {d['page_break_cuts']:5d}")
        if args.show:
            sents = paper_sentences(result.pages)
            glued = [m.group(0) for s in sents
                     for rx in (_GLUED_DIGITS_RE, _PERIOD_DIGITS_RE, _GLUED_SIGN_RE) for m in rx.finditer(s.text)]
            print("    glued:", glued[:args.show])
            frags = [s.text[:60] for s in sents if is_formula_fragment(s.text)]
            print("    fragments:", frags[:args.show])
    secs = time.perf_counter() - t0
    pages = max(1, total.get("pages", 0))
    print(f"{total.get('pages', 0)} pages in {secs:.1f}s ({'without' if args.no_marks else 'with'} glyph marks)")
    print(f"clean: {10 * total.get('marker_glued', 0) / pages:.2f}/10 pages glued marks, "
          f"{10 * total.get('formula_fragments', 0) / pages:.2f}/10 pages formula fragments, "
          f"{total.get('page_break_runs', 0)} page-break runs, {total.get('page_break_cuts', 0)} page-break cuts")


if __name__ == "__main__":
    main()
