"""Benchmark: each reader's own issue (issue 21), on a 300-paper pool and 5,000 synthetic readers.

The pool: the 250 aclsum papers (title, abstract, authors; PyPI `aclsum`, no download at run time) and
arXiv API entries of the shared corpus (with their categories) up to --pool papers; without aclsum, the
corpus alone. It is stored as one week's issue: the editor's ten papers (ranked by the default config's
interests, as a new owner's would be) plus the rest of the pool, each with a stored write-up.

The readers: each has a hidden taste the ranker never sees, one or two topic words taken from the pool
itself (words 4 to 30 of its papers use), and likes the papers using them. What they tell us is partial:
always one of their topic words as a keyword; sometimes the other too (50%), an author of a paper they like
whom they follow (30%, and then they like that author's other papers too), the category most of their
papers share (20%, when the pool has categories), a library of two papers they like (30%: those papers
are theirs already and leave their hidden set). Their hidden set is never given to the ranker.

Measured:
- precision@5: of the first 5 papers of each reader's own issue (digest.readers.reader_issue), the share
  in their hidden set, averaged over readers; next to the same for the editor's issue, which every reader
  gets today (target: at least 2x);
- choosing: the time for reader_issue for every reader, through the store as `digest send` calls it
  (target < 10 s for 5,000), and its peak memory (tracemalloc, a second pass) after a tenth, half and all
  of the readers (flat: the pool's caches fill with the words and names readers ask for, then stop growing);
- the pool: `digest run`'s choose_pool over the same readers (it runs once a week, for everyone).

    .venv/bin/python bench/personal.py [--readers 5000] [--pool 300] [--seed 7] [--send]

With --send, every reader's email is then rendered and sent through bench/mail.py's local SMTP sink
(`per_minute = 0`, 4 connections), and the line ends with `; send <x> msgs/s`.

Last line: `personal: precision@5 <r> vs editor <e> (<x>x, target 2x); choosing <n> readers <s> s (<c> s
CPU; target < 10 s), peak <a> MB after <n/10>, <b> MB after <n/2>, <c> MB after <n>, <k> MB kept by a
second pass; pool <s> s;
papers written up (2 LLM calls each) with 1 reader <p1>, with <n> <pn> (pool_max 30)`.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import time
import tomllib
import tracemalloc
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.config import SelectionConfig  # noqa: E402
from digest.mail.subscribers import add_subscriber  # noqa: E402
from digest.readers import (  # noqa: E402
    ReaderInterests,
    choose_pool,
    forget_pools,
    reader_issue,
    save_pool,
    set_interests,
)
from digest.records import Generation, Issue, IssueEntry, Paper  # noqa: E402
from digest.select import select_papers  # noqa: E402
from digest.store import Store  # noqa: E402

CORPUS_API = ROOT.parent / "shared" / "corpus" / "arxiv_api"
EDITOR_PAPERS = 10
_WORD_RE = re.compile(r"[a-z][a-z-]{4,}")
# Words too general to be anyone's taste.
_GENERAL = {"paper", "papers", "results", "method", "methods", "model", "models", "approach", "based", "using",
            "which", "these", "their", "there", "about", "other", "while", "where", "such", "first", "between",
            "present", "propose", "proposed", "show", "shows", "different", "several", "without", "through",
            "system", "systems", "state-of-the-art", "performance", "language", "however"}


# ---- the pool ---------------------------------------------------------------------------------


def aclsum_pool() -> list[Paper]:
    """The aclsum papers' metadata (all three splits), through bench/quality.py's loader."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import quality
        out = []
        for split in ("train", "val", "test"):
            out.extend(b.paper for b in quality.aclsum_papers(None, split))
        return out
    except ImportError:
        return []


def corpus_pool() -> list[Paper]:
    """arXiv API entries of the shared corpus that have an abstract, with their categories."""
    import feedparser

    out: dict[str, Paper] = {}
    for f in sorted(CORPUS_API.glob("*.xml")) if CORPUS_API.is_dir() else []:
        for e in feedparser.parse(str(f)).entries:
            m = re.search(r"abs/([^v\s]+)", e.get("id", ""))
            if not m or not e.get("summary") or "error" in e.get("title", "").lower():
                continue
            cats = [t["term"] for t in e.get("tags", []) if t.get("term")]
            out.setdefault(m.group(1), Paper(
                key=m.group(1), arxiv_id=m.group(1), title=" ".join(e.title.split()),
                abstract=" ".join(e.summary.split()), authors=[a.get("name", "") for a in e.get("authors", [])],
                categories=cats, primary_category=cats[0] if cats else None,
                published=e.get("published")))
    return list(out.values())


def editor_selection() -> SelectionConfig:
    """The default config's selection: what a new owner's issue is ranked by."""
    text = (ROOT / "digest" / "default_config.toml").read_text(encoding="utf-8")
    sel = tomllib.loads(text)["selection"]
    return SelectionConfig(max_papers=EDITOR_PAPERS, interests=sel["interests"], announce_types=[])


def store_week(store: Store, papers: list[Paper]) -> Issue:
    """The pool as one stored week: the editor's issue, and every paper written up once."""
    chosen = select_papers(papers, editor_selection())
    editor = [c.paper for c in chosen if c.selected]
    rest = [c.paper for c in chosen if not c.selected]
    issue = Issue(id="2026-W47", week_start="2026-11-16", week_end="2026-11-22", language="en", model="bench",
                  created="2026-11-16T08:00:00+00:00")
    gens = {}
    for p in papers:
        store.upsert_paper(p)
        g = Generation(key=f"bench-{p.key}", paper_key=p.key, version=None, model="bench", prompt_version="p",
                       language="en", tldr=p.title, summary=p.abstract[:300], created=issue.created)
        store.save_generation(g, {"model": "bench"})
        gens[p.key] = g
    issue.entries = [IssueEntry(paper=p, generation=gens[p.key], position=n) for n, p in enumerate(editor, 1)]
    store.save_issue(issue, gens)
    save_pool(store, issue.id, editor + rest)
    return store.load_issue(issue.id)


# ---- the readers ------------------------------------------------------------------------------


def paper_words(papers: list[Paper]) -> list[set[str]]:
    return [set(_WORD_RE.findall(f"{p.title} {p.abstract}".lower())) - _GENERAL for p in papers]


def make_readers(papers: list[Paper], n: int, rng: random.Random) -> list[tuple[ReaderInterests, set[str]]]:
    """n readers: what each tells us, and the hidden set of papers (keys) each would like."""
    words = paper_words(papers)
    df = Counter(w for ws in words for w in ws)
    topics = sorted(w for w, c in df.items() if 4 <= c <= 30)
    by_word = {w: {i for i, ws in enumerate(words) if w in ws} for w in topics}
    by_author: dict[str, set[int]] = {}
    for i, p in enumerate(papers):
        for a in p.authors:
            by_author.setdefault(a, set()).add(i)
    out = []
    while len(out) < n:
        t1, t2 = rng.sample(topics, 2)
        liked = by_word[t1] | by_word[t2]
        keywords = [t1, t2] if rng.random() < 0.5 else [t1]
        authors, categories, library = [], [], []
        if rng.random() < 0.3:
            p = papers[rng.choice(sorted(liked))]
            if p.authors:
                a = rng.choice(p.authors)
                authors = [a]
                liked |= by_author[a]
        cats = Counter(c for i in liked for c in papers[i].categories)
        if cats and rng.random() < 0.2:
            categories = [cats.most_common(1)[0][0]]
        if rng.random() < 0.3 and len(liked) > 4:
            for i in rng.sample(sorted(liked), 2):
                library.append({"title": papers[i].title, "authors": papers[i].authors,
                                "abstract": papers[i].abstract})
                liked.discard(i)
        out.append((ReaderInterests(keywords=keywords, authors=authors, categories=categories, library=library),
                    {papers[i].key for i in liked}))
    return out


def send_all(config, store: Store, folder: Path, n: int) -> str:
    """Render and send every reader's email (per_minute 0, 4 connections) to a local sink: '; send <x> msgs/s'."""
    from mail import accepted, start_sink  # bench/mail.py: the same aiosmtpd sink in its own process

    from digest.mail.delivery import send_issue

    log = folder / "sink.log"
    sink, port = start_sink(log)
    try:
        config.mail.host, config.mail.port, config.mail.security = "127.0.0.1", port, "none"
        config.mail.per_minute, config.mail.connections = 0, 4
        config.web.public_url = "https://digest.example.org"
        started = time.perf_counter()
        report = send_issue(config, store)
        elapsed = time.perf_counter() - started
    finally:
        sink.stdin.close()
        sink.wait(timeout=60)
    got = accepted(log)
    if len(report.sent) != n or len({r for r, _ in got}) != n or len(got) != n:
        raise SystemExit(f"send: {len(report.sent)} of {n} sent, the sink took {len(got)}")
    return f"; send {n / elapsed:.0f} msgs/s (target >= 100)"


def precision(keys: list[str], liked: set[str], k: int = 5) -> float:
    return sum(1 for key in keys[:k] if key in liked) / k


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--readers", type=int, default=5000)
    ap.add_argument("--pool", type=int, default=300)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--send", action="store_true",
                    help="also render and send every reader's email through a local SMTP sink (bench/mail.py's)")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)

    papers = (aclsum_pool() + corpus_pool())[: args.pool]
    if not papers:
        sys.exit("no papers: install aclsum (the bench extra) or put the shared corpus beside the checkout")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "digest.db")
        from digest.config import Config
        config = Config(path=Path(tmp) / "digest.toml")
        config.selection.max_papers = EDITOR_PAPERS
        config.selection.pool_max = len(papers)
        issue = store_week(store, papers)
        readers = make_readers(papers, args.readers, rng)
        ids = []
        for n, (interests, _) in enumerate(readers):
            sub, _ = add_subscriber(store, f"reader{n}@example.org")
            set_interests(store, sub.id, interests)
            ids.append(sub.id)
        print(f"pool {len(papers)} papers ({sum(1 for p in papers if p.key.startswith('aclsum:'))} aclsum), "
              f"{len(readers)} readers, editor's issue {len(issue.entries)} papers", file=sys.stderr)

        started, cpu = time.perf_counter(), time.process_time()
        chosen = [reader_issue(store, issue, sid, config) for sid in ids]
        choosing, choosing_cpu = time.perf_counter() - started, time.process_time() - cpu
        mine = sum(precision([e.paper.key for e in got.entries], liked)
                   for (got, _), (_, liked) in zip(chosen, readers)) / len(readers)
        editor_keys = [e.paper.key for e in issue.entries]
        editor = sum(precision(editor_keys, liked) for _, liked in readers) / len(readers)
        with_why = sum(1 for got, why in chosen if all(e.paper.key in why for e in got.entries)) / len(chosen)
        del chosen

        # Memory: passes under tracemalloc from a cold pool, each reader's issue dropped once made (as a send
        # does). What grows is the pool's caches (the words, names and terms readers ask for); a second pass
        # over the same readers shows what is kept per reader: nothing.
        forget_pools()
        tracemalloc.start()
        tenth = max(1, len(ids) // 10)
        peaks = []
        for n, sid in enumerate(ids, 1):
            reader_issue(store, issue, sid, config)
            if n in (tenth, len(ids) // 2, len(ids)):
                peaks.append(tracemalloc.get_traced_memory()[1] / 2**20)
        kept = tracemalloc.get_traced_memory()[0]
        for sid in ids:
            reader_issue(store, issue, sid, config)
        again = (tracemalloc.get_traced_memory()[0] - kept) / 2**20
        tracemalloc.stop()

        # The pool as `digest run` chooses it: the editor's ten plus what readers rank high, filled to 30.
        sel = editor_selection()
        sel.pool_max = 30
        cands = select_papers(papers, sel)
        started = time.perf_counter()
        extra = choose_pool(store, cands, sel)
        pooling = time.perf_counter() - started
        # What one reader alone would have the week write up: the LLM's work is the pool's papers, so this
        # against the figure above is how the LLM calls change from 1 reader to all of them (pool_max bounds it).
        one = Store(Path(tmp) / "one-reader.db")
        sub, _ = add_subscriber(one, "reader0@example.org")
        set_interests(one, sub.id, readers[0][0])
        extra_one = choose_pool(one, select_papers(papers, sel), sel)
        one.close()
        sent = send_all(config, store, Path(tmp), len(ids)) if args.send else ""
        store.close()

    print(f"reasons on every paper: {with_why:.0%} of readers; run's pool: {EDITOR_PAPERS} + {len(extra)} papers",
          file=sys.stderr)
    ratio = mine / editor if editor else float("inf")
    print(f"personal: precision@5 {mine:.3f} vs editor {editor:.3f} ({ratio:.1f}x, target 2x); choosing "
          f"{len(ids)} readers {choosing:.1f} s ({choosing_cpu:.1f} s CPU; target < 10 s), peak {peaks[0]:.1f} MB "
          f"after {tenth}, {peaks[1]:.1f} MB after {len(ids) // 2}, {peaks[-1]:.1f} MB after {len(ids)}, "
          f"{again:+.1f} MB kept by a second pass; "
          f"pool {pooling:.1f} s; papers written up (2 LLM calls each) with 1 reader {EDITOR_PAPERS + len(extra_one)}, "
          f"with {len(ids)} {EDITOR_PAPERS + len(extra)} (pool_max {sel.pool_max})" + sent)


if __name__ == "__main__":
    main()
