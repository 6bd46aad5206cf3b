"""The built-in `extractive` model: no LLM; TL;DR, summary and answers are the paper's own sentences."""

from __future__ import annotations

import re
import time

from digest.config import Config
from digest.records import QA, Generation, Page, Paper
from digest.store import Store, utcnow
from digest.text import sentences
from digest.writers.base import Estimate, abstract_reason, add_usage, generation_key
from digest.writers.grounding import PageIndex
from digest.writers.retrieval import PassageIndex, find_sections, split_passages

MODEL_ID = "extractive"
VERSION = "extractive-2"  # bump when the method changes, so stored generations are redone

# (question per language, retrieval query in the papers' language, sections to look in first)
QUESTIONS: list[tuple[dict[str, str], str, tuple[str, ...]]] = [
    ({"en": "What problem does the paper address?", "ja": "この論文はどのような問題に取り組んでいますか?"},
     "problem challenge address motivation limitation of existing approaches we study",
     ("abstract", "introduction")),
    ({"en": "What method or approach does it propose?", "ja": "どのような手法やアプローチを提案していますか?"},
     "we propose introduce method approach framework model architecture", ()),
    ({"en": "What data or benchmarks does it use?", "ja": "どのようなデータやベンチマークを使っていますか?"},
     "dataset datasets benchmark corpus data collected annotated evaluation set", ()),
    ({"en": "What are the main results?", "ja": "主な結果は何ですか?"},
     "results outperforms improvement improves accuracy achieves state-of-the-art score", ()),
    ({"en": "What is it compared against?", "ja": "何と比較していますか?"},
     "baseline baselines compared comparison prior work existing methods", ()),
    ({"en": "What are the main contributions?", "ja": "主な貢献は何ですか?"},
     "contributions we present our contributions main contribution", ("introduction",)),
    ({"en": "What are the limitations?", "ja": "限界や制約は何ですか?"},
     "limitation limitations shortcoming however fails future work does not", ()),
    ({"en": "What future work do the authors suggest?", "ja": "著者はどのような今後の課題を挙げていますか?"},
     "future work directions plan to extend open question remains", ("conclusion",)),
]
_CUE = re.compile(r"\b(we (?:propose|present|introduce|show|develop|describe)|this (?:paper|work)|our (?:method|approach|model))\b", re.I)
_RESULT = re.compile(r"\d|outperform|improv|state-of-the-art|achiev", re.I)
_WORD = re.compile(r"\w+")


def summarise_abstract(paper: Paper) -> tuple[str, str]:
    """A TL;DR (the abstract's key sentence) and a summary (up to five sentences of it, in order)."""
    sents = [s for s in sentences(paper.abstract or "") if not _FRONT_MATTER.search(s)] or [paper.title]
    key = next((s for s in sents if _CUE.search(s)), sents[0])
    tldr = _one_line(key)
    chosen = []
    for s in sents:
        if s is sents[0] or s is key or _RESULT.search(s) or _CUE.search(s):
            chosen.append(s)
    if len(chosen) < 3:
        chosen = sents[:4]
    return tldr, " ".join(chosen[:5])


def _one_line(sentence: str, max_words: int = 35) -> str:
    """A TL;DR is one line: a long sentence is cut at a colon or semicolon, else after max_words."""
    words = sentence.split()
    if len(words) <= max_words:
        return sentence
    head = " ".join(words[:max_words])
    for mark in (":", ";", " - ", " — "):
        cut = head.find(mark, len(" ".join(words[:10])))
        if cut > 0:
            return head[:cut].rstrip(" ,") + "."
    return head.rstrip(" ,;:") + "…"


_CAPTION = re.compile(r"^(?:fig(?:ure)?|table|tab|algorithm|listing)\.?\s*\d", re.I)


def _readable(sentence: str) -> bool:
    """A sentence worth showing: a whole sentence of prose, not a caption, a fragment or a table row."""
    s = sentence.strip()
    if len(s) < 40 or len(s) > 600 or not (s[0].isupper() or s[0].isdigit() or s[0] in "“\"("):
        return False
    if _CAPTION.match(s):
        return False
    words = s.split()
    letters = sum(w.isalpha() for w in words)
    return letters >= 0.6 * len(words)


def _best_sentences(text: str, query: str, n: int) -> list[str]:
    """The n readable sentences of a passage that share most words with the query, in reading order."""
    q = {w.lower() for w in _WORD.findall(query)}
    sents = [s for s in sentences(text) if _readable(s)]
    scored = sorted(range(len(sents)), key=lambda i: -len(q & {w.lower() for w in _WORD.findall(sents[i])}))
    return [sents[i] for i in sorted(scored[:n])]


def abstract_from_pages(pages: list[Page]) -> str:
    """The abstract as printed in the paper (for local PDFs, whose source gave none)."""
    found = find_sections(pages).get("abstract") or []
    text = " ".join(p.text for p in found).strip()
    # Front matter that layouts print right after the abstract is not part of it.
    cut = _FRONT_MATTER.search(text)
    return text[:cut.start()].strip() if cut else text


_FRONT_MATTER = re.compile(
    r"\b(?:ACM Reference Format|CCS Concepts|Permission to make digital|Index Terms|Keywords\s*[:—-]"
    r"|Additional Key Words|\d{4}\. In Proceedings of)", re.I)


class ExtractiveWriter:
    """Writer without an LLM: answers are the best-matching passages, quoted with their pages."""

    model_id = MODEL_ID
    needs_key = False
    key_env_var = None

    def __init__(self, config: Config, store: Store, language: str):
        self.config, self.store, self.language = config, store, language

    def key(self, paper: Paper) -> str:
        return generation_key(paper, MODEL_ID, VERSION, {}, self.language)

    def existing(self, paper: Paper) -> Generation | None:
        return self.store.get_generation(self.key(paper))

    def preflight(self) -> None:
        """Nothing to check: no model, no network."""

    def estimate(self, paper: Paper) -> Estimate:
        return Estimate(mode="extractive")

    def generate(self, paper: Paper) -> Generation:
        """Build (or return the stored) extractive generation of one paper."""
        found = self.existing(paper)
        if found:
            return found
        started = time.monotonic()
        tldr, summary = summarise_abstract(paper)
        pages = self.store.pages(paper.key) if paper.text_status == "ok" else []
        lang = self.language if self.language in QUESTIONS[0][0] else "en"
        g = Generation(key=self.key(paper), paper_key=paper.key, version=paper.version, model=MODEL_ID,
                       prompt_version=VERSION, language=self.language, tldr=tldr, summary=summary,
                       created=utcnow())
        if not pages:
            g.status, g.note = "abstract-only", abstract_reason(paper)
        else:
            g.qa, g.n_dropped = self.answers(pages, lang)
        add_usage(g, [], started)
        self.store.save_generation(g, {})
        return g

    def answers(self, pages: list[Page], lang: str) -> tuple[list[QA], int]:
        """One answer per fixed question from a passage not used by an earlier answer."""
        index = PassageIndex(split_passages(pages))
        sections = {name: {p.index for p in ps} for name, ps in find_sections(pages).items()}
        check = PageIndex(pages)
        used: set[int] = set()
        qa, dropped = [], 0
        for question, query, prefer in QUESTIONS:
            search = f"{question['en']} {query}"
            hits = [p for p, _ in index.search(search, k=len(index.passages))]
            preferred = set().union(*(sections.get(name, set()) for name in prefer))
            if preferred:  # e.g. the problem is stated in the abstract and introduction
                hits = [p for p in hits if p.index in preferred] + [p for p in hits if p.index not in preferred]
            hit, best = None, []
            for passage in hits[:12]:
                if passage.index in used:
                    continue
                best = _best_sentences(passage.text, query, 2)
                if best:
                    hit = passage
                    break
            if hit is None:
                dropped += 1
                continue
            used.add(hit.index)
            quote = max(best, key=len)
            found = check.find(quote, [hit.page])
            qa.append(QA(question=question[lang], answer=" ".join(best), pages=found.pages,
                         quote=quote, verified=found.verified))
        return qa, dropped
