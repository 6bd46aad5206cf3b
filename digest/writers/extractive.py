"""The built-in `extractive` model: no LLM; TL;DR, summary and answers are the paper's own sentences."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from digest.config import Config
from digest.records import QA, Generation, Page, Paper, PaperStructure
from digest.store import Store, utcnow
from digest.text import sentences
from digest.writers.base import Estimate, abstract_reason, add_usage, generation_key
from digest.writers.extractive_summary import (  # noqa: F401  (summarise_abstract, _one_line: callers import them here)
    _FRONT_MATTER,
    _NOT_CONTENT,
    _one_line,
    _readable,
    abstract_from_pages,
    key_sentences,
    summarise,
    summarise_abstract,
)
from digest.writers.grounding import PageIndex
from digest.writers.retrieval import (
    Passage,
    PassageIndex,
    find_sections,
    mark_appendix,
    question_topic,
    section_passages,
    split_passages,
)

MODEL_ID = "extractive"
VERSION = "extractive-8"  # bump when the method changes, so stored generations are redone

# Words a sentence must have to answer each question at all: without one, the question is skipped
# rather than answered with the nearest sentence ("main contributions" is not "Author contributions").
_ADDRESSES = {
    "problem": r"problem|challeng|difficult|lack|limit|however|remain|issue|gap|address|hard|costly|expensive"
               r"|bottleneck|fail|unclear|need|crucial|important|question|suffer|poorly|struggl",
    "method": r"we (?:propose|present|introduce|develop|design|describe|build|train|adopt|use|employ|formulate"
              r"|investigate|explore|study|examine|analy[sz]e|extend|apply|show)|(?:this|the present) (?:paper|work|article)"
              r"|our (?:method|approach|model|framework|system|algorithm)|propos|approach|method|framework"
              r"|architecture|algorithm|pipeline|technique",
    "data": r"dataset|data set|corpus|corpora|benchmark|collected|annotat|\bdata\b|sample",
    "results": r"\d|outperform|improv|achiev|state-of-the-art|significant|results? (?:show|indicate|demonstrate|suggest)"
               r"|better|gain|effective|competitive|superior|advantage|\b(?:show|demonstrate|reveal|find|found)s? that"
               r"|(?:experiments?|evaluations?|analys[ie]s|studies|study) (?:\w+ )?(?:show|reveal|indicate|suggest)",
    "compared": r"baseline|compar|outperform|versus|\bvs\.?|state-of-the-art|(?:prior|previous|existing) (?:work|method"
                r"|approach|system|model|state)|than (?:the )?(?:baseline|previous|prior|existing|other)",
    "contributions": r"contribution|we (?:propose|present|introduce|release|show|demonstrate|develop|provide)"
                     r"|(?:this|our) (?:paper|work|study) (?:propose|present|introduce|show|make)|\bnovel\b",
    "limitations": r"limitation|limited (?:to|by|in)|shortcoming|fails? to|cannot|can not|does not|do not|restrict"
                   r"|drawback|weakness|not (?:yet|always|able)|caveat|only (?:works|applies|consider|evaluat)",
    "future": r"future|further (?:work|research|stud|investigat|improv|explor)|plan to|next step"
              r"|remains? (?:open|unclear|to be)|open (?:question|problem)|we (?:hope|intend|would like) to",
}


@dataclass(frozen=True)
class Question:
    """A question the extractive model asks of every paper, and where its answer may come from."""

    text: dict[str, str]  # per language
    need: str  # the _ADDRESSES entry a sentence must match to answer it
    query: str  # words of its answer, for retrieval in the paper's language
    aspect: str = ""  # answered by the paper's key sentence of this aspect (see key_sentences), if any


# In order: the first three are the paper's headline (abstract, introduction, conclusion); the rest are
# answered only from the section they are about (retrieval.TOPIC_SECTIONS), or skipped.
QUESTIONS: list[Question] = [
    Question({"en": "What problem does the paper address?", "ja": "この論文はどのような問題に取り組んでいますか?"},
             "problem", "problem challenge address motivation limitation of existing approaches", "challenge"),
    Question({"en": "What does the paper propose?", "ja": "この論文は何を提案していますか?"},
             "method", "we propose introduce present approach", "approach"),
    Question({"en": "What are the main results?", "ja": "主な結果は何ですか?"},
             "results", "results outperforms improvement improves accuracy achieves state-of-the-art", "outcome"),
    Question({"en": "How does the proposed method work?", "ja": "提案手法はどのような仕組みですか?"},
             "method", "our method model consists of first then each step architecture"),
    Question({"en": "What data or benchmarks does it use?", "ja": "どのようなデータやベンチマークを使っていますか?"},
             "data", "dataset datasets benchmark corpus data collected annotated evaluation set"),
    Question({"en": "What is it compared against?", "ja": "何と比較していますか?"},
             "compared", "baseline baselines compared comparison prior work existing methods"),
    Question({"en": "What are the main contributions?", "ja": "主な貢献は何ですか?"},
             "contributions", "contributions we present our contributions main contribution"),
    Question({"en": "What are the limitations?", "ja": "限界や制約は何ですか?"},
             "limitations", "limitation limitations shortcoming limited fails does not handle"),
    Question({"en": "What future work do the authors suggest?", "ja": "著者はどのような今後の課題を挙げていますか?"},
             "future", "future work directions plan to extend open question remains"),
]
# A question about one of the paper's own sections, phrased with its heading.
SECTION_QUESTION = {"en": "What does the section “{title}” describe?", "ja": "「{title}」の節では何を述べていますか?"}
_SECTION_QUESTIONS = 2  # at most, so the Q&A stays 8–10 answers
_ADDRESSES_RE = {k: re.compile(v, re.I) for k, v in _ADDRESSES.items()}
_WORD = re.compile(r"\w+")
# A definition ("Let X be the matrix ...") states notation, not what the paper did with what.
_DEFINITION = re.compile(r"\blet\s+\S+\s+(?:be|denote)\b|\bdenotes?\b|\bis defined as\b|\bwe define\b"
                         r"|\bwhere\s+\S+\s+(?:is|are)\b", re.I)



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
        lang = self.language if self.language in QUESTIONS[0].text else "en"
        g = Generation(key=self.key(paper), paper_key=paper.key, version=paper.version, model=MODEL_ID,
                       prompt_version=VERSION, language=self.language, tldr=tldr, summary=summary,
                       created=utcnow())
        if not pages:
            g.status, g.note = "abstract-only", abstract_reason(paper)
        else:
            structure = getattr(self.store, "structure", None)  # the PDF's own section tree, once stored
            g.qa, g.n_dropped = self.answers(pages, lang, shown=set(sentences(summary)),
                                             structure=structure(paper.key) if callable(structure) else None,
                                             title=paper.title, abstract=paper.abstract)
        add_usage(g, [], started)
        self.store.save_generation(g, {})
        return g

    def answers(self, pages: list[Page], lang: str, shown: set[str] = frozenset(),
                structure: PaperStructure | None = None, title: str = "", abstract: str = "") -> tuple[list[QA], int]:
        """Per question, an excerpt of the paper that addresses it, or nothing (counted as dropped).

        The headline questions (problem, proposal, results) get the paper's key sentence of that aspect; every
        other question is answered only from the section it is about (limitations from Limitations or
        Discussion, future work from the Conclusion...), never from an appendix or related work, and is
        skipped when the paper has no such section. Then up to two questions about the paper's own sections,
        phrased with their headings. An excerpt is shown once, as a quote with its page, flagged `excerpt`
        (its check cannot fail); sentences of the summary (`shown`) and of earlier answers are not repeated."""
        passages = mark_appendix(split_passages(pages), structure)
        index = PassageIndex(passages)
        found_sections = find_sections(pages)
        check = PageIndex(pages)
        used: set[int] = set()
        qa: list[QA] = []
        dropped = 0
        abstract = abstract or " ".join(p.text for p in found_sections.get("abstract", []))
        key = key_sentences(abstract, found_sections, title)
        said = set(shown)

        def add(question: str, excerpt: str, page_hint: list[int]) -> None:
            where = check.find(excerpt, page_hint)
            qa.append(QA(question=question, answer=excerpt, pages=where.pages[:1] if not page_hint else where.pages,
                         quote=excerpt, verified=where.verified, excerpt=True))
            said.update(sentences(excerpt))

        for q in QUESTIONS:
            need = _ADDRESSES_RE[q.need]
            if q.aspect:
                # The headline answers may repeat the summary: here they are quoted with their page.
                found = next((e for e in _headline(q.aspect, key, sentences(abstract))
                              if need.search(e) and check.find(e, []).verified), None)
                if found:
                    add(q.text[lang], found, [])
                    continue
            topic = question_topic(q.text["en"])
            where = section_passages(passages, topic) if topic else []
            scores = {p.index: s for p, s in index.search(f"{q.text['en']} {q.query}", k=len(passages))}
            ranked = sorted((p for p in where if not _NOT_CONTENT.search(p.section)),
                            key=lambda p: (-scores.get(p.index, 0.0), p.index))
            found = next(((p, e) for p in ranked[:12] if (e := _excerpt(p.text, q.query, need, said, q.need))), None)
            if found is None:
                dropped += 1
                continue
            used.add(found[0].index)
            add(q.text[lang], found[1], [found[0].page])
        for passage, heading in _own_sections(passages, used, structure):
            if len(qa) >= 10:
                break
            excerpt = _excerpt(passage.text, heading + " " + _SECTION_CUES, _SECTION_CUE_RE, said, "section")
            if excerpt:
                used.add(passage.index)
                add(SECTION_QUESTION.get(lang, SECTION_QUESTION["en"]).format(title=heading), excerpt, [passage.page])
        return qa, dropped


_SHORT = 20  # words: a key sentence this short is answered with the abstract's next sentence too


def _headline(aspect: str, key: dict[str, str], abstract: list[str]) -> list[str]:
    """Excerpts that answer a headline question, best first (measured on aclsum's train and val splits):
    the problem as the abstract opens with it (its first two sentences, unless the second is its claim or
    result), else the key sentence; the approach and the outcome as their key sentence, with the sentence
    after it in the abstract when the key sentence is short."""
    keys = set(key.values())
    readable = [s for s in abstract if _readable(s) and not _FRONT_MATTER.search(s)]
    out = []
    if aspect == "challenge" and len(abstract) >= 2 and abstract[0] in readable and abstract[0] not in keys - {key.get(aspect)}:
        out.append(abstract[0] + (" " + abstract[1] if abstract[1] in readable and abstract[1] not in keys - {key.get(aspect)} else ""))
    sentence = key.get(aspect)
    if sentence and aspect != "challenge" and len(sentence.split()) < _SHORT and sentence in abstract:
        i = abstract.index(sentence)
        if i + 1 < len(abstract) and abstract[i + 1] in readable and abstract[i + 1] not in keys:
            out.append(sentence + " " + abstract[i + 1])
    return out + ([sentence] if sentence else [])


_HEADING_NUMBER = re.compile(r"^(?:\d{1,2}(?:\.\d{1,2})*\.?|[IVX]{1,5}\.|[A-H](?:\.\d{1,2})*\.?)\s+")
# Headings every paper has: a question about them says nothing about this paper.
_GENERIC_HEADINGS = {"abstract", "introduction", "conclusion", "conclusions", "concluding", "remarks", "related",
                     "work", "works", "background", "discussion", "limitations", "limitation", "references",
                     "acknowledgments", "acknowledgements", "acknowledgment", "future", "and", "summary",
                     "preliminaries", "appendix", "ethics", "statement", "broader", "impact", "results",
                     "experiments", "evaluation", "method", "methods", "methodology", "approach", "setup",
                     "experimental", "the", "of", "data", "analysis", "overview"}
_SECTION_CUES = "we this section propose present describe introduce our"
_SECTION_CUE_RE = re.compile(r"\bwe\b|\bour\b|this (?:section|part|chapter)|\bis\b|\bare\b", re.I)


def _own_sections(passages: list[Passage], used: set[int],
                  structure: PaperStructure | None = None) -> list[tuple[Passage, str]]:
    """The first unused passage of each of the paper's top-level body sections whose heading names
    something of its own ("3 Dependency Relation Path Correlation", not "4 Experiments"), largest first,
    at most _SECTION_QUESTIONS of them, with the heading as printed without its number. When the PDF's
    own section tree was read, a heading must be one of its sections: a symbol on a line of its own ('RX')
    is no section to ask about."""
    known = {_heading_key(x.heading) for x in structure.sections} if structure and structure.sections else None
    sizes: dict[str, list[Passage]] = {}
    for p in passages:
        if p.appendix or not p.path or p.index in used:
            continue
        top = p.path[0]
        sizes.setdefault(top, []).append(p)
    out = []
    for heading, ps in sorted(sizes.items(), key=lambda kv: (-len(kv[1]), kv[1][0].index)):
        name = _HEADING_NUMBER.sub("", heading).strip()
        words = set(re.findall(r"[a-z]+", name.lower()))
        if not name or not words or words <= _GENERIC_HEADINGS or _NOT_CONTENT.search(name):
            continue
        if words & {"related", "acknowledgments", "acknowledgements", "references", "appendix"}:
            continue
        if sum(len(w) for w in words) < 4 or known is not None and _heading_key(name) not in known:
            continue
        out.append((ps[0], name))
        if len(out) == _SECTION_QUESTIONS:
            break
    return sorted(out, key=lambda x: x[0].index)


def _heading_key(heading: str) -> str:
    """A heading as two readings of it compare: no number, letters only, lower case."""
    return " ".join(re.findall(r"[^\W\d_]+", _HEADING_NUMBER.sub("", heading).lower()))


def _excerpt(text: str, query: str, addresses: re.Pattern, shown: set[str], need: str = "") -> str:
    """The readable sentence of a passage that addresses the question and shares most words with its
    query (with the next sentence when it is short), or '' when none addresses it. Data, comparison,
    limitation and future-work answers are never a definition of notation."""
    q = {w.lower() for w in _WORD.findall(query)}
    sents = sentences(text)
    best, best_score = None, 0
    for i, sent in enumerate(sents):
        if sent in shown or not _readable(sent) or not addresses.search(sent):
            continue
        if need in ("data", "compared", "limitations", "future") and _DEFINITION.search(sent):
            continue
        score = len(q & {w.lower() for w in _WORD.findall(sent)}) + len(addresses.findall(sent))
        if score > best_score:
            best, best_score = i, score
    if best is None:
        return ""
    out = sents[best]
    if len(out) < 80 and best + 1 < len(sents) and _readable(sents[best + 1]) and sents[best + 1] not in shown:
        out += " " + sents[best + 1]
    return out
