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
from digest.writers.retrieval import Passage, PassageIndex, find_sections, split_passages

MODEL_ID = "extractive"
VERSION = "extractive-3"  # bump when the method changes, so stored generations are redone

# Words a sentence must have to answer each question at all: without one, the question is skipped
# rather than answered with the nearest sentence ("main contributions" is not "Author contributions").
_ADDRESSES = {
    "problem": r"problem|challeng|difficult|lack|limit|however|remain|issue|gap|address|hard|costly|expensive"
               r"|bottleneck|fail|unclear|need|crucial|important|question|suffer|poorly|struggl",
    "method": r"we (?:propose|present|introduce|develop|design|describe|build|train|adopt|use|employ|formulate)"
              r"|our (?:method|approach|model|framework|system|algorithm)|propos|approach|method|framework"
              r"|architecture|algorithm|pipeline|technique",
    "data": r"dataset|data set|corpus|corpora|benchmark|collected|annotat|\bdata\b|sample",
    "results": r"\d|outperform|improv|achiev|state-of-the-art|significant|results? (?:show|indicate|demonstrate|suggest)"
               r"|better|gain|effective|competitive|superior",
    "compared": r"baseline|compar|outperform|versus|\bvs\.?|state-of-the-art|(?:prior|previous|existing) (?:work|method"
                r"|approach|system|model|state)|than (?:the )?(?:baseline|previous|prior|existing|other)",
    "contributions": r"contribution|we (?:propose|present|introduce|release|show|demonstrate|develop|provide)"
                     r"|novel|first|new\b",
    "limitations": r"limitation|limited|shortcoming|fail|cannot|can not|does not|do not|however|only\b|restrict"
                   r"|drawback|weakness|not (?:yet|always|able)",
    "future": r"future|further (?:work|research|stud|investigat|improv)|plan to|extend|next step|remains? (?:open|unclear|to be)"
              r"|open (?:question|problem)|direction",
}
# (question per language, what it needs, retrieval query in the papers' language, sections to look in first)
QUESTIONS: list[tuple[dict[str, str], str, str, tuple[str, ...]]] = [
    ({"en": "What problem does the paper address?", "ja": "この論文はどのような問題に取り組んでいますか?"}, "problem",
     "problem challenge address motivation limitation of existing approaches we study",
     ("abstract", "introduction")),
    ({"en": "What method or approach does it propose?", "ja": "どのような手法やアプローチを提案していますか?"}, "method",
     "we propose introduce method approach framework model architecture", ()),
    ({"en": "What data or benchmarks does it use?", "ja": "どのようなデータやベンチマークを使っていますか?"}, "data",
     "dataset datasets benchmark corpus data collected annotated evaluation set", ()),
    ({"en": "What are the main results?", "ja": "主な結果は何ですか?"}, "results",
     "results outperforms improvement improves accuracy achieves state-of-the-art score", ()),
    ({"en": "What is it compared against?", "ja": "何と比較していますか?"}, "compared",
     "baseline baselines compared comparison prior work existing methods", ()),
    ({"en": "What are the main contributions?", "ja": "主な貢献は何ですか?"}, "contributions",
     "contributions we present our contributions main contribution", ("introduction",)),
    ({"en": "What are the limitations?", "ja": "限界や制約は何ですか?"}, "limitations",
     "limitation limitations shortcoming however fails future work does not", ()),
    ({"en": "What future work do the authors suggest?", "ja": "著者はどのような今後の課題を挙げていますか?"}, "future",
     "future work directions plan to extend open question remains", ("conclusion",)),
]
_ADDRESSES_RE = {k: re.compile(v, re.I) for k, v in _ADDRESSES.items()}
_CUE = re.compile(r"\b(we (?:propose|present|introduce|show|develop|describe)|this (?:paper|work)|our (?:method|approach|model))\b", re.I)
_RESULT = re.compile(r"\d|outperform|improv|state-of-the-art|achiev", re.I)
_WORD = re.compile(r"\w+")
# Text that is not prose about the paper's content, whatever words it shares with a question.
_NOT_CONTENT = re.compile(
    r"author contributions?|contributed equally|acknowledg|we thank|funded by|funding|grant (?:no|number)"
    r"|conceptuali[sz]ation|wrote the (?:paper|manuscript)|corresponding author|e-?mail|https?://|www\.|@\w"
    r"|(?:\.\s?){4,}|copyright|licensed under|preprint|under review", re.I)
_CITATION = re.compile(r"\[\d+(?:\s*[,–-]\s*\d+)*\]|\(\s*[A-Z][A-Za-z-]+(?: et al\.)?,? \d{4}[a-z]?\s*\)")

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
_BRACKET_CITE = re.compile(r"\[\d+(?:\s*[,–-]\s*\d+)*\]")
_NUMBER_RUN = re.compile(r"(?:\b[\d.,%±]+\s+){4,}")  # a table row or a line of scores


def _readable(sentence: str) -> bool:
    """A sentence worth showing: a whole sentence of prose, not a caption, a fragment, a table row, a
    contents line, a "[3, 12] [14]" cluster or front and back matter (emails, funding, author roles)."""
    s = sentence.strip()
    if len(s) < 40 or len(s) > 600 or not (s[0].isupper() or s[0].isdigit() or s[0] in "“\"("):
        return False
    if _CAPTION.match(s) or _NOT_CONTENT.search(s) or _NUMBER_RUN.search(s):
        return False
    if len(_BRACKET_CITE.findall(s)) >= 3:
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


# ---- the summary: the sentences that state the problem, the approach and the outcome --------------

# (pattern, weight) per aspect; a sentence's score for an aspect is the sum of the weights it matches.
_ASPECT_CUES = {
    "challenge": [(r"\bhowever\b|\bbut\b|although|despite|while\b", 1.0),
                  (r"challeng|problem|difficult|lack|limited|remain|suffer|bottleneck|costly|expensive|unclear"
                   r"|little (?:work|attention|research)|ha(?:s|ve) not been|fail|issue|\bgap\b|hinder|struggl", 2.0)],
    "approach": [(r"\bwe (?:propose|present|introduce|develop|describe|design|investigate|explore|study)"
                  r"|(?:this|the present) (?:paper|work|article|study)|in this (?:paper|work)", 3.0),
                 (r"our (?:method|approach|model|framework|system)|propos|novel|\bmethod|approach|framework", 1.0)],
    "outcome": [(r"(?:results?|experiments?|evaluations?|analys[ie]s) (?:\w+ )?(?:show|demonstrate|indicate|suggest|reveal)"
                 r"|we (?:show|find|demonstrate|observe) that", 3.0),
                (r"outperform|improv|achiev|state-of-the-art|significant|\bgains?\b|better|effective"
                 r"|\d+(?:\.\d+)?\s?%", 1.0)],
}
_ASPECT_RES = {a: [(re.compile(p, re.I), w) for p, w in cues] for a, cues in _ASPECT_CUES.items()}
_SECTION_PRIOR = {"abstract": 1.0, "introduction": 0.0, "conclusion": 0.5}  # tuned on aclsum's train split
_ASPECT_OF = {"problem": "challenge", "method": "approach", "results": "outcome"}


def _aspect_score(sentence: str, aspect: str) -> float:
    return sum(w for r, w in _ASPECT_RES[aspect] if r.search(sentence))


def key_sentences(abstract: str, sections: dict[str, list[Passage]]) -> dict[str, str]:
    """The sentence that best states each aspect (challenge, approach, outcome), each a different one,
    from the abstract, introduction and conclusion."""
    cands: list[tuple[str, str, int]] = [(s, "abstract", i) for i, s in enumerate(sentences(abstract))]
    for name in ("introduction", "conclusion"):
        cands += [(s, name, i) for i, s in enumerate(s for p in sections.get(name, []) for s in sentences(p.text))]
    cands = [c for c in cands if _readable(c[0]) and not _FRONT_MATTER.search(c[0])]
    chosen: dict[str, str] = {}
    for aspect in ("approach", "outcome", "challenge"):  # the most reliably cued first
        best = max((c for c in cands if c[0] not in chosen.values()),
                   key=lambda c: (_aspect_score(c[0], aspect) + _SECTION_PRIOR[c[1]], -c[2]), default=None)
        if best and _aspect_score(best[0], aspect) > 0:
            chosen[aspect] = best[0]
    return {a: chosen[a] for a in ("challenge", "approach", "outcome") if a in chosen}


def summarise(paper: Paper, pages: list[Page]) -> tuple[str, str]:
    """A TL;DR and a summary of at most four sentences: the abstract's opening, its key claim and results
    (measured on aclsum this beats problem/approach/outcome sentences picked from the whole paper), plus the
    conclusion's outcome sentence when the abstract states none. Captions, contents lines and front matter
    are never picked."""
    sents = [s for s in sentences(paper.abstract or abstract_from_pages(pages))
             if _readable(s) and not _FRONT_MATTER.search(s)]
    if not sents:
        return summarise_abstract(paper)
    key = next((s for s in sents if _CUE.search(s)), sents[0])
    chosen = [s for s in sents if s is sents[0] or s is key or _RESULT.search(s) or _CUE.search(s)]
    chosen = (chosen if len(chosen) >= 3 else sents)[:4]
    if pages and not any(_aspect_score(s, "outcome") >= 3 for s in chosen):
        outcome = key_sentences("", {"conclusion": find_sections(pages).get("conclusion", [])}).get("outcome")
        if outcome and _aspect_score(outcome, "outcome") >= 3:
            chosen = chosen[:3] + [outcome]
    return _one_line(key), " ".join(chosen)


def abstract_from_pages(pages: list[Page]) -> str:
    """The abstract as printed in the paper (for local PDFs, whose source gave none)."""
    found = find_sections(pages).get("abstract") or []
    text = " ".join(p.text for p in found).strip()
    # Front matter that layouts print right after the abstract is not part of it.
    cut = _FRONT_MATTER.search(text)
    return text[:cut.start()].strip() if cut else text


_FRONT_MATTER = re.compile(
    r"\b(?:ACM Reference Format|CCS Concepts|Permission to make digital|Index Terms|Keywords\s*[:—-]"
    r"|Additional Key Words|\d{4}\. In Proceedings of|(?-i:Keywords|KEYWORDS)\s)", re.I)


class ExtractiveWriter:
    """Writer without an LLM: answers are the best-matching passages, quoted with their pages."""

    model_id = MODEL_ID
    needs_key = False
    key_env_var = None
    # One paper at a time: its work is pure Python under the GIL, so more threads only hold more papers'
    # passages and indexes at once (+10 MB at llm.concurrency 8, 9 arXiv PDFs) for no gain in time (issue 23).
    papers_in_flight = 1

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
        pages = self.store.pages(paper.key) if paper.text_status == "ok" else []
        tldr, summary = summarise(paper, pages)
        lang = self.language if self.language in QUESTIONS[0][0] else "en"
        g = Generation(key=self.key(paper), paper_key=paper.key, version=paper.version, model=MODEL_ID,
                       prompt_version=VERSION, language=self.language, tldr=tldr, summary=summary,
                       created=utcnow())
        if not pages:
            g.status, g.note = "abstract-only", abstract_reason(paper)
        else:
            g.qa, g.n_dropped = self.answers(pages, lang, shown=set(sentences(summary)))
        add_usage(g, [], started)
        self.store.save_generation(g, {})
        return g

    def answers(self, pages: list[Page], lang: str, shown: set[str] = frozenset()) -> tuple[list[QA], int]:
        """Per fixed question, an excerpt of the paper that addresses it, or nothing (counted as dropped).

        An excerpt is the paper's own words: it is shown once, as a quote with its page, and flagged
        `excerpt` so no "verified" badge is shown for it (a check of a copied sentence cannot fail).
        Sentences already in the summary (`shown`) and passages used by an earlier answer are skipped."""
        index = PassageIndex(split_passages(pages))
        found_sections = find_sections(pages)
        sections = {name: {p.index for p in ps} for name, ps in found_sections.items()}
        check = PageIndex(pages)
        used: set[int] = set()
        qa, dropped = [], 0
        abstract = " ".join(p.text for p in found_sections.get("abstract", []))
        key = key_sentences(abstract, found_sections)
        for question, need, query, prefer in QUESTIONS:
            aspect = _ASPECT_OF.get(need)
            where = check.find(key[aspect], []) if aspect in key else None
            if where and where.verified and _ADDRESSES_RE[need].search(key[aspect]):
                # The sentence that best states the problem, approach or outcome (see key_sentences).
                qa.append(QA(question=question[lang], answer=key[aspect], pages=where.pages[:1],
                             quote=key[aspect], verified=True, excerpt=True))
                continue
            hits = [p for p, _ in index.search(f"{question['en']} {query}", k=len(index.passages))]
            preferred = set().union(*(sections.get(name, set()) for name in prefer))
            if preferred:  # e.g. the problem is stated in the abstract and introduction
                hits = [p for p in hits if p.index in preferred] + [p for p in hits if p.index not in preferred]
            found = None
            # Back matter (author contributions, acknowledgements, funding) answers no question about the work.
            for passage in (p for p in hits[:12] if p.index not in used and not _NOT_CONTENT.search(p.section)):
                excerpt = _excerpt(passage.text, query, _ADDRESSES_RE[need], shown)
                if excerpt:
                    found = passage, excerpt
                    break
            if found is None:
                dropped += 1
                continue
            passage, excerpt = found
            used.add(passage.index)
            where = check.find(excerpt, [passage.page])
            qa.append(QA(question=question[lang], answer=excerpt, pages=where.pages, quote=excerpt,
                         verified=where.verified, excerpt=True))
        return qa, dropped


def _excerpt(text: str, query: str, addresses: re.Pattern, shown: set[str]) -> str:
    """The readable sentence of a passage that addresses the question and shares most words with its
    query (with the next sentence when it is short), or '' when none addresses it."""
    q = {w.lower() for w in _WORD.findall(query)}
    sents = sentences(text)
    best, best_score = None, 0
    for i, sent in enumerate(sents):
        if sent in shown or not _readable(sent) or not addresses.search(sent):
            continue
        score = len(q & {w.lower() for w in _WORD.findall(sent)}) + len(addresses.findall(sent))
        if score > best_score:
            best, best_score = i, score
    if best is None:
        return ""
    out = sents[best]
    if len(out) < 120 and best + 1 < len(sents) and _readable(sents[best + 1]):
        out += " " + sents[best + 1]
    return out
