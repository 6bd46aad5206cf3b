"""Benchmark: how good a model's TL;DR, summary and grounded Q&A are, on gold data and on real PDFs.

Two sets, each paper written by the product's own writers (digest.writers through the pipeline's
make_writer, PDFs through digest.pdf), next to two baselines that need no model:
- aclsum: 250 ACL papers (PyPI `aclsum`, no download at run time) with gold challenge/approach/outcome
  summaries and gold evidence sentences; ROUGE against them, and the share of verified quotes that fall
  on a gold evidence sentence.
- corpus: the PDFs in ../shared/corpus/pdfs: schema-valid replies, verified quotes, answers kept and
  dropped, distinct questions, language, tokens, cost and seconds per paper.
docs/quality.md says what each number means. Run by hand (never in CI), after `pip install -e '.[bench]'`:

    .venv/bin/python bench/quality.py --model extractive --limit 20
    .venv/bin/python bench/quality.py --model qwen --base-url http://127.0.0.1:8080/v1 --set corpus
    .venv/bin/python bench/quality.py --model gpt-4o-mini --config digest.toml
    .venv/bin/python bench/quality.py --model stand-in --test-server     # tests/llm_server.py
    scripts/realmodel.sh bench --set corpus --limit 3                    # --model local: Qwen2.5-Coder-1.5B

Last line: `quality: <model> verified <x>% rouge1 <y> evidence-hit <z>% ...`
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.config import Config, ModelConfig, load_config  # noqa: E402
from digest.errors import DigestError  # noqa: E402
from digest.pdf.pool import extract_many  # noqa: E402
from digest.pipeline import make_writer  # noqa: E402
from digest.records import Generation, Page, Paper  # noqa: E402
from digest.store import Store  # noqa: E402
from digest.text import sentences  # noqa: E402
from digest.writers.backing import rate_answers  # noqa: E402
from digest.writers.base import generate_many  # noqa: E402
from digest.writers.extractive import abstract_from_pages  # noqa: E402
from digest.writers.retrieval import on_topic, split_passages  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "pdfs"
ASPECTS = ("challenge", "approach", "outcome")
LEAD = "lead"  # baseline: the title as TL;DR, the abstract's first three sentences as summary
# Which of a model's questions asks for which gold aspect (a chat model writes its own questions).
ASPECT_CUES = {
    "challenge": re.compile(r"problem|challenge|motivat|address|gap|why|問題|課題", re.I),
    "approach": re.compile(r"method|approach|propos|how does|technique|framework|手法|アプローチ", re.I),
    "outcome": re.compile(r"result|finding|outcome|perform|show|achiev|結果|成果", re.I),
}
_WORDS = re.compile(r"\w+")
_JA = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
SERVE = """
import sys
sys.path.insert(0, {tests!r})
from llm_server import LLMServer
from weekfeed import grounded_responder
server = LLMServer(responder=grounded_responder(), models=({model!r},)).start()
print(server.base_url, flush=True)
sys.stdin.read()
"""


@dataclass
class BenchPaper:
    """A paper as the writers see it, and the gold data it is scored against (aclsum only)."""

    paper: Paper
    pages: list[Page]
    gold: dict[str, str] = field(default_factory=dict)  # aspect -> gold summary
    evidence: list[str] = field(default_factory=list)  # gold evidence sentences, any aspect


# ---- the sets ---------------------------------------------------------------------------------


def aclsum_papers(limit: int | None, split: str = "test") -> list[BenchPaper]:
    """aclsum papers with pages built from their sections (the set has no page numbers)."""
    from aclsum import ACLSum  # the bench extra; only this set needs it

    out = []
    for doc in list(ACLSum(split))[:limit]:
        parse = doc.get_fulltext_parse()
        paper = Paper(key=f"aclsum:{doc.id}", title=doc.title, abstract=parse.get("abstract") or "",
                      authors=[f"{a['first']} {a['last']}".strip() for a in parse.get("authors", [])])
        evidence = sorted({s for a in ASPECTS for s in doc.get_all_highlighted_sentences(a)})
        out.append(BenchPaper(paper, pages_from_sections(doc.title, parse["pdf_parse"]), dict(doc.summaries), evidence))
    return out


def pages_from_sections(title: str, parse: dict) -> list[Page]:
    """Page 1 is the title and abstract, then one page per numbered section, printed as a PDF would be."""
    def para(text: str) -> str:
        return textwrap.fill(" ".join(text.split()), 90)

    first = [title, "", "Abstract"] + [para(p["text"]) for p in parse.get("abstract", [])]
    pages = [Page(1, "\n".join(first))]
    current, lines = None, []
    for p in parse.get("body_text", []):
        head = " ".join(filter(None, [p.get("sec_num") or "", p.get("section") or ""]))
        if head != current and lines:
            pages.append(Page(len(pages) + 1, "\n\n".join(lines)))
            lines = []
        if head != current:
            current = head
            lines.append(head)
        lines.append(para(p["text"]))
    if lines:
        pages.append(Page(len(pages) + 1, "\n\n".join(lines)))
    return pages


def corpus_papers(limit: int | None, config: Config) -> list[BenchPaper]:
    """The corpus PDFs, read by the product's PDF extraction (unreadable ones are left out)."""
    pdfs = sorted((CORPUS / "arxiv").glob("*.pdf")) + sorted((CORPUS / "other").glob("*.pdf"))
    if not pdfs:
        sys.exit(f"no PDFs under {CORPUS}")
    out = []
    for path, text in sorted(extract_many(pdfs[:limit], config), key=lambda r: r[0].name):
        if text.ok and text.pages:
            paper = Paper(key=f"corpus:{path.stem}", title=text.title or path.stem,
                          abstract=abstract_from_pages(text.pages), authors=text.authors)
            out.append(BenchPaper(paper, text.pages))
    return out


# ---- generating -----------------------------------------------------------------------------


def generate(model: str, items: list[BenchPaper], config: Config, store: Store,
             language: str) -> tuple[dict[str, Generation], float]:
    """Each paper written by the product's writer for `model` (or the lead baseline); and the wall time."""
    started = time.perf_counter()
    if model == LEAD:
        return {b.paper.key: lead_generation(b.paper, language) for b in items}, time.perf_counter() - started
    papers = []
    for b in items:
        store.upsert_paper(b.paper)
        store.save_pages(b.paper.key, None, b.pages, pdf_path=None, token_count=None)
        papers.append(store.get_paper(b.paper.key))
    writer = make_writer(config, store, model, language)
    writer.preflight()
    gens = generate_many(papers, writer, concurrency=config.llm.concurrency)
    return gens, time.perf_counter() - started


def lead_generation(paper: Paper, language: str) -> Generation:
    """The baseline any summary must beat: the title, and the abstract's opening."""
    lead = " ".join(sentences(paper.abstract)[:3])
    return Generation(key=paper.key, paper_key=paper.key, version=None, model=LEAD, prompt_version="lead",
                      language=language, tldr=paper.title, summary=lead)


# ---- metrics --------------------------------------------------------------------------------


def rouge(prediction: str, reference: str) -> dict[str, float]:
    """ROUGE-1/2/L F-measure (Porter stemming, as in the summarisation literature)."""
    from rouge_score import rouge_scorer

    scores = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True).score(reference, prediction)
    return {k: v.fmeasure for k, v in scores.items()}


def aspect_answers(g: Generation) -> dict[str, str]:
    """The answer a generation gives to each gold aspect's question (the first question that asks it).

    The lead baseline has no questions: its summary stands for every aspect."""
    if g.model == LEAD:
        return dict.fromkeys(ASPECTS, g.summary)
    out: dict[str, str] = {}
    for q in g.qa:
        for aspect, cue in ASPECT_CUES.items():
            if aspect not in out and cue.search(q.question):
                out[aspect] = q.answer
                break
    return out


def _tokens(text: str) -> list[str]:
    return [w.lower() for w in _WORDS.findall(text)]


def _longest_common_run(a: list[str], b: list[str]) -> int:
    best, prev = 0, [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            if x == y:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best


def on_evidence(quote: str, evidence: Iterable[str], run: int = 10) -> bool:
    """True when the quote and a gold evidence sentence share `run` words in a row (or all of the shorter)."""
    q = _tokens(quote)
    for sentence in evidence:
        s = _tokens(sentence)
        if q and s and _longest_common_run(q, s) >= min(run, len(q), len(s)):
            return True
    return False


def language_of(text: str) -> str:
    """'ja' when the product's one Japanese check accepts it (a tenth of its letters in kana or kanji, Latin
    names not counted: digest.writers.outline_check.language_problem), else 'en'."""
    from digest.writers.outline_check import language_problem

    return "ja" if _JA.search(text) and language_problem(text, "ja", "text") is None else "en"


def on_topic_share(items: list[BenchPaper], gens: dict[str, Generation]) -> float | None:
    """The share of answers whose quote lies in the section their question is about (retrieval.on_topic:
    limitations in Limitations or Discussion, future work in the Conclusion, ...); answers to questions
    without a topic, or whose quote is in no passage of the body, are not counted."""
    marks = []
    for b in items:
        g = gens.get(b.paper.key)
        if g is None or not g.qa:
            continue
        passages = split_passages(b.pages)
        marks += [m for q in g.qa if q.quote and (m := on_topic(q.question, q.quote, q.pages, passages)) is not None]
    return sum(marks) / len(marks) if marks else None


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def score(items: list[BenchPaper], gens: dict[str, Generation], store: Store | None, language: str,
          wall: float) -> dict[str, float | None]:
    """Every number of one model on one set (None where it does not apply)."""
    gs = [gens[b.paper.key] for b in items if b.paper.key in gens]
    answers = [q for g in gs for q in g.qa]
    verified = [q for q in answers if q.verified]
    m: dict[str, float | None] = {
        "papers": len(gs),
        "kept": len(answers), "dropped": sum(g.n_dropped for g in gs),
        "verified": len(verified) / len(answers) if answers else None,
        # Whether each quote backs its answer (the product's lexical check; excerpts are not counted).
        "support": rate_answers((gens[b.paper.key], b.pages) for b in items if b.paper.key in gens),
        "fallback": sum(g.status == "fallback" for g in gs),
        "distinct_q": _mean([len({" ".join(_tokens(q.question)) for q in g.qa}) / len(g.qa) for g in gs if g.qa]),
        "language": _mean([float(language_of(t) == language) for g in gs
                           for t in [g.tldr, g.summary, *(q.answer for q in g.qa)] if t.strip()]),
        "input_tokens": _mean([g.usage.input_tokens for g in gs]),
        "output_tokens": _mean([g.usage.output_tokens for g in gs]),
        "cost": _mean([g.usage.cost for g in gs]),
        "seconds": wall / len(gs) if gs else None,
        "schema_valid": schema_valid_rate(store, [g.key for g in gs]) if store else None,
        "on_topic": on_topic_share(items, gens),
    }
    gold = [(b, gens[b.paper.key]) for b in items if b.gold and b.paper.key in gens]
    if gold:
        ref = {b.paper.key: " ".join(b.gold[a] for a in ASPECTS) for b, _ in gold}
        tl = [rouge(g.tldr, ref[b.paper.key]) for b, g in gold]
        su = [rouge(g.summary, ref[b.paper.key]) for b, g in gold]
        for name, rows in (("tldr", tl), ("summary", su)):
            for k in ("rouge1", "rouge2", "rougeL"):
                m[f"{name}_{k}"] = _mean([r[k] for r in rows])
        per_aspect = [(aspect_answers(g), b.gold) for b, g in gold]
        m["aspect_rouge1"] = _mean([rouge(ans.get(a, ""), gold_[a])["rouge1"] for ans, gold_ in per_aspect
                                    for a in ASPECTS])
        m["aspect_answered"] = _mean([float(a in ans) for ans, _ in per_aspect for a in ASPECTS])
        quotes = [(q.quote, b.evidence) for b, g in gold for q in g.qa if q.verified and q.quote]
        m["evidence_hit"] = _mean([float(on_evidence(q, ev)) for q, ev in quotes])
    return m


def schema_valid_rate(store: Store, generation_keys: list[str]) -> float | None:
    """The share of the model's replies that the product's reply check accepted (JSON valid against the schema)."""
    if not generation_keys:
        return None
    marks = ",".join("?" * len(generation_keys))
    row = store.query(f"SELECT count(*) AS n, coalesce(sum(status='ok'), 0) AS ok FROM llm_calls "
                      f"WHERE response IS NOT NULL AND generation_key IN ({marks})", tuple(generation_keys))[0]
    return row["ok"] / row["n"] if row["n"] else None


# ---- the table ------------------------------------------------------------------------------

COLUMNS = [
    ("set", "set"), ("model", "model"), ("papers", "papers"), ("answers kept/dropped", "kept"),
    ("verified", "verified"), ("supported", "support"), ("on-topic", "on_topic"), ("evidence-hit", "evidence_hit"),
    ("TL;DR R1/R2/RL", "tldr"), ("summary R1/R2/RL", "summary"), ("aspects R1 (answered)", "aspect"),
    ("schema-valid", "schema_valid"), ("fallbacks", "fallback"), ("distinct Q", "distinct_q"),
    ("language", "language"), ("tokens in/out per paper", "tokens"), ("USD/paper", "cost"), ("s/paper", "seconds"),
]


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.0%}"


def _num(v: float | None, fmt: str = ".3f") -> str:
    return "—" if v is None else format(v, fmt)


def cell(name: str, m: dict) -> str:
    """One table cell; '—' where the number does not apply to that model or set."""
    if name in ("set", "model"):
        return str(m[name])
    if name in ("tldr", "summary"):
        if m.get(f"{name}_rouge1") is None:
            return "—"
        return "/".join(_num(m[f"{name}_{k}"]) for k in ("rouge1", "rouge2", "rougeL"))
    if name == "aspect":
        return "—" if m.get("aspect_rouge1") is None else f"{m['aspect_rouge1']:.3f} ({_pct(m['aspect_answered'])})"
    if name == "support":
        return m["support"].cell() if "support" in m else "—"
    if name == "kept":
        return f"{m['kept']}/{m['dropped']}" if m["model"] != LEAD else "—"
    if name == "tokens":
        return "—" if m["input_tokens"] is None or m["model"] == LEAD else \
            f"{m['input_tokens']:,.0f}/{m['output_tokens']:,.0f}"
    if name in ("verified", "evidence_hit", "schema_valid", "distinct_q", "language", "on_topic"):
        return _pct(m.get(name))
    if name == "cost":
        return _num(m["cost"], ".4f") if m["model"] != LEAD else "—"
    if name == "seconds":
        return _num(m["seconds"], ".2f")
    return str(m.get(name, "—"))


def table(rows: list[dict]) -> str:
    """The results as one Markdown table."""
    head = "| " + " | ".join(h for h, _ in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    return "\n".join([head, rule] + ["| " + " | ".join(cell(k, m) for _, k in COLUMNS) + " |" for m in rows])


def last_line(model: str, rows: list[dict]) -> str:
    """`quality: <model> verified <x>% rouge1 <y> evidence-hit <z>% ...` for the model asked (aclsum first)."""
    mine = [m for m in rows if m["model"] == model]
    acl = next((m for m in mine if m["set"] == "aclsum"), {})
    lead = next((m for m in rows if m["model"] == LEAD and m["set"] == "aclsum"), {})
    kept = sum(m["kept"] for m in mine)
    verified = sum((m["verified"] or 0) * m["kept"] for m in mine) / kept if kept else None
    corpus = next((m for m in mine if m["set"] == "corpus"), {})
    checked = sum(m["support"].checked for m in mine if "support" in m)
    supported = sum(m["support"].supported for m in mine if "support" in m) / checked if checked else None
    return (f"quality: {model} verified {_pct(verified)} supported {_pct(supported)} rouge1 {_num(acl.get('summary_rouge1'))} "
            f"evidence-hit {_pct(acl.get('evidence_hit'))} aspects-rouge1 {_num(acl.get('aspect_rouge1'))} "
            f"(lead rouge1 {_num(lead.get('summary_rouge1'))}) schema-valid {_pct(corpus.get('schema_valid'))} "
            f"distinct-q {_pct(corpus.get('distinct_q'))} on-topic {_pct(corpus.get('on_topic'))} language {_pct(corpus.get('language'))} "
            f"s/paper {_num(corpus.get('seconds') or acl.get('seconds'), '.1f')}")


# ---- running --------------------------------------------------------------------------------


LOCAL = "local"  # the model scripts/realmodel.sh serves (or any llama.cpp server at DIGEST_LOCAL_BASE_URL)
LOCAL_BASE_URL = "http://127.0.0.1:8089/v1"
# A 1.5B model on 2 busy CPU cores writes a few tokens a second: one call may take many minutes.
LOCAL_TIMEOUT = 1800.0


def bench_config(args: argparse.Namespace, tmp: Path) -> Config:
    """The product's config (--config), or one model at --base-url (`local`: the realmodel server), with a
    throwaway store."""
    config = load_config(args.config, env={}) if args.config else Config(path=tmp / "digest.toml")
    config.store.archive_dir = str(tmp)
    if args.model == LOCAL and not args.base_url and LOCAL not in config.models:
        args.base_url = os.environ.get("DIGEST_LOCAL_BASE_URL", LOCAL_BASE_URL)
        config.models[LOCAL] = ModelConfig(base_url=args.base_url, api_key_env="", context_window=args.context_window,
                                           max_output_tokens=2048, timeout=LOCAL_TIMEOUT, deadline=2 * LOCAL_TIMEOUT)
        config.llm.concurrency = 1  # one server slot: a second call in flight only waits for it
    elif args.base_url:
        config.models[args.model] = ModelConfig(base_url=args.base_url, api_key_env=args.api_key_env,
                                                context_window=args.context_window)
    if args.concurrency:
        config.llm.concurrency = args.concurrency
    return config


def run(args: argparse.Namespace) -> list[dict]:
    """Every model on every set asked for: the rows of the table."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.keep:  # the store (generations, call log) kept for a look afterwards
            Path(args.keep).mkdir(parents=True, exist_ok=True)
        config = bench_config(args, Path(args.keep or tmp))
        store = Store(config.db_path)
        models = list(dict.fromkeys([args.model, "extractive", LEAD]))
        sets = ["aclsum", "corpus"] if args.set == "both" else [args.set]
        for name in sets:
            items = aclsum_papers(args.limit, args.split) if name == "aclsum" else corpus_papers(args.limit, config)
            for model in models:
                gens, wall = generate(model, items, config, store, args.language)
                m = score(items, gens, store if model != LEAD else None, args.language, wall)
                rows.append({"set": name, "model": model, **m})
                print(f"{name} {model}: {len(gens)} papers in {wall:.1f} s", file=sys.stderr)
                if model not in (LEAD, "extractive"):
                    print(f"{name} {model}: {shown_checks(items, gens)}", file=sys.stderr, flush=True)
            # Each set's rows as soon as they are known (on stderr, beside the progress; stdout keeps the one
            # final table): a slow local model may be stopped before the end.
            print(table([r for r in rows if r["set"] == name]), file=sys.stderr, flush=True)
    return rows


def shown_checks(items: list[BenchPaper], gens: dict[str, Generation]) -> str:
    """What a reader would see go wrong (issue 24): fallbacks, answers shown twice, questions asking the same,
    the verified share of shown answers, and TL;DRs that are the title."""
    from digest.writers.answer_check import repeated_answers
    from digest.writers.outline_check import is_title, meaning_words, near_duplicate

    fallbacks = repeated = same_questions = shown = verified = title = 0
    for b in items:
        g = gens.get(b.paper.key)
        if g is None or g.status == "fallback":
            fallbacks += 1
            continue
        qa = g.qa
        shown += len(qa)
        verified += sum(q.verified for q in qa)
        repeated += len(repeated_answers([(i, q.question, q.answer, q.quote) for i, q in enumerate(qa)]))
        words = [meaning_words(q.question) for q in qa]
        same_questions += sum(1 for i in range(len(words)) if any(near_duplicate(words[i], w) for w in words[:i]))
        title += is_title(g.tldr, b.paper.title)
    share = f"{verified / shown:.0%}" if shown else "—"
    return (f"fallbacks {fallbacks}/{len(items)}, repeated answers shown {repeated}, questions repeating another "
            f"{same_questions}, verified {share} ({verified}/{shown}), TL;DR = title {title}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="extractive, a model of --config, or any name with --base-url")
    ap.add_argument("--limit", type=int, default=None, help="papers per set")
    ap.add_argument("--set", choices=["aclsum", "corpus", "both"], default="both")
    ap.add_argument("--split", choices=["train", "val", "test"], default="test", help="the aclsum split")
    ap.add_argument("--config", help="a digest.toml whose [models] table holds the model")
    ap.add_argument("--base-url", help="an OpenAI-compatible endpoint (llama.cpp, Ollama, vLLM...)")
    ap.add_argument("--api-key-env", default="", help="environment variable with the endpoint's key")
    ap.add_argument("--context-window", type=int, default=8192, help="with --base-url")
    ap.add_argument("--concurrency", type=int, default=0, help="calls in flight (default: the config's)")
    ap.add_argument("--language", default="en")
    ap.add_argument("--test-server", action="store_true", help="run the model against tests/llm_server.py")
    ap.add_argument("--keep", metavar="DIR", help="keep the bench's store (digest.db: generations, calls) in DIR")
    args = ap.parse_args(argv)
    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index it builds
    server = None
    if args.test_server:
        server = subprocess.Popen([sys.executable, "-c", SERVE.format(tests=str(ROOT / "tests"), model=args.model)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        args.base_url = server.stdout.readline().strip()
        args.context_window = max(args.context_window, 128_000)
    try:
        rows = run(args)
    except DigestError as e:  # an endpoint down or a model unknown: one line, as the CLI says it
        sys.exit(f"bench/quality.py: {e}")
    finally:
        if server:
            server.kill()
            server.wait()
    print(table(rows))
    print(last_line(args.model, rows))


if __name__ == "__main__":
    main()
