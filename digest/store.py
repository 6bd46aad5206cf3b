"""The SQLite store: the single source of truth for papers, texts, generations, issues and mail."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from digest.errors import DigestError, NotFoundError, QualityGateError, StoreError
from digest.migrations import apply_migrations
from digest.records import (
    QA,
    ChangePoint,
    Generation,
    Issue,
    IssueEntry,
    Overview,
    Page,
    Paper,
    PaperStructure,
    Section,
    Theme,
    Usage,
    VersionChanges,
)


def utcnow() -> str:
    """Now as an ISO 8601 UTC string with seconds."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


_PAPER_JSON = ("authors", "categories")
_PAPER_COLS = (
    "key", "arxiv_id", "version", "title", "authors", "abstract", "categories", "primary_category",
    "published", "updated", "abs_url", "pdf_url", "announce_type", "license", "doi", "comment",
    "journal_ref", "source", "local_pdf",
)


class Store:
    """One SQLite database; safe to share between threads (one connection, one lock)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(
                str(path), check_same_thread=False, isolation_level=None, timeout=30
            )
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.execute("PRAGMA busy_timeout=30000")
            apply_migrations(self.db)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"cannot open the store {path}: {e}") from None
        self.lock = threading.RLock()

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def exclusive(self, name: str, error: DigestError) -> Iterator[None]:
        """Hold `<name>.lock` beside the database for a job two processes must not run at once.

        Raises `error` at once if another process holds it; the kernel releases it when the holder
        dies, even by kill -9.
        """
        import fcntl

        path = self.path.parent / f"{name}.lock"
        with open(path, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise error from None
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; committed on exit, rolled back on error."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            else:
                self.db.execute("COMMIT")

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        """Run a read query and return all rows."""
        with self.lock:
            return self.db.execute(sql, params).fetchall()

    def execute(self, sql: str, params: tuple | dict = ()) -> sqlite3.Cursor:
        """Run one write statement in its own transaction."""
        with self.lock:
            return self.db.execute(sql, params)

    # ---- papers -------------------------------------------------------------------------

    def upsert_paper(self, p: Paper) -> str:
        """Store a paper's metadata; returns 'new', 'updated' (newer version) or 'seen'."""
        now = utcnow()
        row = self.query("SELECT version FROM papers WHERE key=?", (p.key,))
        values = {c: getattr(p, c) for c in _PAPER_COLS}
        for c in _PAPER_JSON:
            values[c] = json.dumps(values[c], ensure_ascii=False)
        if not row:
            cols = ",".join(_PAPER_COLS)
            marks = ",".join(f":{c}" for c in _PAPER_COLS)
            with self.transaction() as db:
                db.execute(
                    f"INSERT INTO papers ({cols}, first_seen, last_seen) VALUES ({marks}, :now, :now)",
                    {**values, "now": now},
                )
            return "new"
        old_version = row[0]["version"]
        newer = p.version is not None and (old_version is None or p.version > old_version)
        if newer:
            # Keep what the newer record lacks; its PDF must be fetched and parsed again.
            sets = ",".join(
                f"{c}=CASE WHEN :{c} IS NULL OR :{c} IN ('', '[]') THEN {c} ELSE :{c} END"
                for c in _PAPER_COLS if c != "key"
            )
            with self.transaction() as db:
                db.execute(
                    f"UPDATE papers SET {sets}, last_seen=:now, text_status='pending' WHERE key=:key",
                    {**values, "now": now},
                )
            return "updated"
        # Same or older version: only fill what was missing (e.g. a list: entry later seen in a feed).
        with self.transaction() as db:
            for c in _PAPER_COLS:
                if c in ("key", "version", "announce_type", "source"):
                    continue
                v = values[c]
                if v in (None, "", "[]"):
                    continue
                db.execute(
                    f"UPDATE papers SET {c}=? WHERE key=? AND ({c} IS NULL OR {c}='' OR {c}='[]')",
                    (v, p.key),
                )
            db.execute("UPDATE papers SET last_seen=? WHERE key=?", (now, p.key))
        return "seen"

    def fill_missing(self, key: str, **values: str) -> None:
        """Set metadata columns that are still empty (e.g. an abstract taken from the PDF text)."""
        with self.transaction() as db:
            for col, v in values.items():
                if col in _PAPER_COLS and col not in _PAPER_JSON and v:
                    db.execute(f"UPDATE papers SET {col}=? WHERE key=? AND ({col} IS NULL OR {col}='')", (v, key))

    def get_paper(self, key: str) -> Paper:
        """A stored paper by key, arXiv ID (with or without version) or unique key prefix."""
        rows = self.query("SELECT * FROM papers WHERE key=? OR arxiv_id=?", (key, key))
        if not rows and "v" in key:
            base = key.rsplit("v", 1)[0]
            rows = self.query("SELECT * FROM papers WHERE key=?", (base,))
        if not rows:
            rows = self.query("SELECT * FROM papers WHERE key LIKE ? LIMIT 2", (key + "%",))
            if len(rows) != 1:
                raise NotFoundError(f"no paper {key!r} in the store", hint="see `digest papers list`")
        return self.paper_from_row(rows[0])

    @staticmethod
    def paper_from_row(r: sqlite3.Row) -> Paper:
        """Turn a papers row into a Paper."""
        d: dict[str, Any] = {c: r[c] for c in _PAPER_COLS}
        for c in _PAPER_JSON:
            d[c] = json.loads(d[c] or "[]")
        return Paper(
            **d, text_status=r["text_status"], text_error=r["text_error"],
            page_count=r["page_count"], token_count=r["token_count"],
        )

    def list_papers(self, limit: int = 50, since: str | None = None) -> list[Paper]:
        """Papers newest first."""
        rows = self.query(
            "SELECT * FROM papers WHERE (? IS NULL OR first_seen >= ?) "
            "ORDER BY first_seen DESC, key LIMIT ?",
            (since, since, limit),
        )
        return [self.paper_from_row(r) for r in rows]

    def papers_seen_since(self, since: datetime) -> list[Paper]:
        """Papers any source listed at or after `since`, by key: the week's candidates."""
        # last_seen is stored in UTC; an offset kept in `since` would compare as a different string.
        utc = (since if since.tzinfo else since.replace(tzinfo=UTC)).astimezone(UTC)
        rows = self.query("SELECT * FROM papers WHERE last_seen >= ? ORDER BY key",
                          (utc.replace(microsecond=0).isoformat(),))
        return [self.paper_from_row(r) for r in rows]

    def has_current_text(self, paper: Paper) -> bool:
        """True when the paper's page texts are stored for the version it has now."""
        rows = self.query("SELECT 1 FROM papers WHERE key=? AND text_status='ok' AND text_version IS ?",
                          (paper.key, paper.version))
        return bool(rows)

    def save_pages(self, key: str, version: int | None, pages: list[Page], *, pdf_path: str | None,
                   token_count: int | None) -> None:
        """Replace a paper's page texts in one transaction and mark its text ok (an older version's are kept)."""
        with self.transaction() as db:
            # The text of the version being replaced stays for "what changed" (a text of unknown version does not).
            db.execute(
                "INSERT OR IGNORE INTO version_pages (paper_key, version, number, body) "
                "SELECT pg.paper_key, p.text_version, pg.number, pg.body FROM pages pg JOIN papers p ON p.key = "
                "pg.paper_key WHERE pg.paper_key=? AND p.text_status='ok' AND p.text_version IS NOT NULL "
                "AND p.text_version IS NOT ?", (key, version))
            db.execute("DELETE FROM pages WHERE paper_key=?", (key,))
            db.executemany(
                "INSERT INTO pages (paper_key, number, body, refs) VALUES (?,?,?,?)",
                [(key, p.number, p.body, p.refs) for p in pages],
            )
            db.execute(
                "UPDATE papers SET text_status='ok', text_error=NULL, text_version=?, pdf_path=?, "
                "page_count=?, token_count=? WHERE key=?",
                (version, pdf_path, len(pages), token_count, key),
            )

    # ---- paper structure (issue 20): the header and section tree read from the PDF's layout ----

    def save_structure(self, key: str, version: int | None, structure: PaperStructure) -> None:
        """Store the header and section tree read from a paper's PDF (the version its page texts come from)."""
        self.execute(
            "INSERT OR REPLACE INTO paper_structure (paper_key, version, title, authors, affiliations, abstract, "
            "published, sections, created) VALUES (?,?,?,?,?,?,?,?,?)",
            (key, version, structure.title, json.dumps(structure.authors, ensure_ascii=False),
             json.dumps(structure.affiliations, ensure_ascii=False), structure.abstract, structure.published,
             json.dumps([asdict(s) for s in structure.sections], ensure_ascii=False), utcnow()))

    def structure(self, key: str) -> PaperStructure | None:
        """The header and section tree stored for a paper, or None when its PDF gave none."""
        rows = self.query("SELECT * FROM paper_structure WHERE paper_key=?", (key,))
        if not rows:
            return None
        r = rows[0]
        return PaperStructure(title=r["title"], authors=json.loads(r["authors"]),
                              affiliations=json.loads(r["affiliations"]), abstract=r["abstract"],
                              sections=[Section(**s) for s in json.loads(r["sections"])], published=r["published"])

    def mark_text_failed(self, key: str, version: int | None, reason: str) -> None:
        """Record why a paper has no page texts; later stages use its abstract."""
        self.execute(
            "UPDATE papers SET text_status='failed', text_error=?, text_version=? WHERE key=?",
            (reason, version, key),
        )

    def pages(self, key: str) -> list[Page]:
        """A paper's cleaned pages in order."""
        rows = self.query("SELECT number, body, refs FROM pages WHERE paper_key=? ORDER BY number", (key,))
        return [Page(number=r["number"], body=r["body"], refs=r["refs"]) for r in rows]

    def version_pages(self, key: str, version: int) -> list[Page]:
        """The page texts of one version of a paper: the current pages if it is the current version, else the
        kept ones (empty when that version's text was never stored)."""
        current = self.query("SELECT 1 FROM papers WHERE key=? AND text_status='ok' AND text_version=?",
                             (key, version))
        if current:
            return self.pages(key)
        rows = self.query("SELECT number, body FROM version_pages WHERE paper_key=? AND version=? ORDER BY number",
                          (key, version))
        return [Page(number=r["number"], body=r["body"]) for r in rows]

    def save_version_pages(self, key: str, version: int, pages: list[Page]) -> None:
        """Keep the page texts of an older version of a paper (read from its own PDF)."""
        with self.transaction() as db:
            db.execute("DELETE FROM version_pages WHERE paper_key=? AND version=?", (key, version))
            db.executemany("INSERT INTO version_pages (paper_key, version, number, body) VALUES (?,?,?,?)",
                           [(key, version, p.number, p.body) for p in pages])

    def save_changes(self, c: VersionChanges) -> None:
        """Store what changed between two versions, as written by one model in one language."""
        self.execute(
            "INSERT OR REPLACE INTO version_changes (paper_key, old_version, new_version, model, language, status, "
            "note, points, usage, created) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (c.paper_key, c.old_version, c.new_version, c.model, c.language, c.status, c.note,
             json.dumps([asdict(p) for p in c.points], ensure_ascii=False), json.dumps(asdict(c.usage)),
             c.created or utcnow()))

    def shown_changes(self, paper: Paper, shown: Generation | None, issue: Issue) -> VersionChanges | None:
        """What changed in an updated paper, as told by the model of the generation shown, in its language."""
        return self.get_changes(paper.key, paper.version, model=shown.model if shown else issue.model,
                                language=shown.language if shown else issue.language)

    def get_changes(self, key: str, new_version: int | None, *, model: str, language: str,
                    old_version: int | None = None) -> VersionChanges | None:
        """What changed up to `new_version` as `model` wrote it in `language` (newest old version first), or None."""
        rows = self.query(
            "SELECT * FROM version_changes WHERE paper_key=? AND new_version IS ? AND model=? AND language=? "
            "AND (? IS NULL OR old_version=?) ORDER BY old_version DESC LIMIT 1",
            (key, new_version, model, language, old_version, old_version))
        if not rows:
            return None
        r = rows[0]
        return VersionChanges(
            paper_key=r["paper_key"], old_version=r["old_version"], new_version=r["new_version"], model=r["model"],
            language=r["language"], status=r["status"], note=r["note"], created=r["created"],
            points=[ChangePoint(**p) for p in json.loads(r["points"])], usage=Usage(**json.loads(r["usage"])))

    # ---- feeds ------------------------------------------------------------------------

    def feed_state(self, url: str) -> dict[str, Any]:
        """ETag / Last-Modified remembered for a feed URL."""
        rows = self.query("SELECT * FROM feeds WHERE url=?", (url,))
        return dict(rows[0]) if rows else {}

    def save_feed_state(self, url: str, etag: str | None, last_modified: str | None, status: int) -> None:
        """Remember a feed's validators for the next conditional GET."""
        self.execute(
            "INSERT INTO feeds (url, etag, last_modified, last_status, last_fetched) VALUES (?,?,?,?,?) "
            "ON CONFLICT(url) DO UPDATE SET etag=coalesce(excluded.etag, etag), "
            "last_modified=coalesce(excluded.last_modified, last_modified), "
            "last_status=excluded.last_status, last_fetched=excluded.last_fetched",
            (url, etag, last_modified, status, utcnow()),
        )

    # ---- published papers ---------------------------------------------------------------

    def published_versions(self, exclude_issue: str | None = None) -> dict[str, int | None]:
        """Highest version of each paper already in an issue (other than `exclude_issue`)."""
        rows = self.query(
            "SELECT paper_key, max(coalesce(version, 0)) AS v FROM issue_papers "
            "WHERE issue_id != coalesce(?, '') AND issue_id IN (SELECT id FROM issues WHERE status = 'published') "
            "GROUP BY paper_key",
            (exclude_issue,),
        )
        return {r["paper_key"]: r["v"] for r in rows}

    def earlier_published_version(self, key: str, version: int, exclude_issue: str | None = None) -> int | None:
        """The newest version of a paper below `version` that a published issue (not `exclude_issue`) showed."""
        rows = self.query(
            "SELECT max(version) AS v FROM issue_papers WHERE paper_key=? AND version < ? "
            "AND issue_id != coalesce(?, '') AND issue_id IN (SELECT id FROM issues WHERE status = 'published')",
            (key, version, exclude_issue))
        return rows[0]["v"] if rows else None

    # ---- model calls ----------------------------------------------------------------------

    def last_llm_call_id(self) -> int:
        """The id of the newest logged model call (0 when none): a mark to measure a run's spend from."""
        return self.query("SELECT coalesce(max(id), 0) AS n FROM llm_calls")[0]["n"]

    def llm_spend_after(self, call_id: int) -> sqlite3.Row:
        """Calls, input_tokens, output_tokens and cost of the model calls logged after `call_id`."""
        return self.query(
            "SELECT count(*) AS calls, coalesce(sum(input_tokens), 0) AS input_tokens, "
            "coalesce(sum(output_tokens), 0) AS output_tokens, coalesce(sum(cost), 0) AS cost "
            "FROM llm_calls WHERE id > ?", (call_id,))[0]

    # ---- generations ----------------------------------------------------------------------

    def save_generation(self, g: Generation, settings: dict[str, Any]) -> None:
        """Store a generation (replacing one with the same key)."""
        qa = json.dumps([q.__dict__ for q in g.qa], ensure_ascii=False)
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO generations (key, paper_key, version, model, prompt_version, "
                "language, settings, status, note, tldr, summary, qa, n_answers, n_verified, n_dropped, "
                "input_tokens, cached_tokens, output_tokens, cost, latency_ms, created, drops) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (g.key, g.paper_key, g.version, g.model, g.prompt_version, g.language,
                 json.dumps(settings, sort_keys=True), g.status, g.note, g.tldr, g.summary, qa,
                 len(g.qa), g.n_verified, g.n_dropped, g.usage.input_tokens, g.usage.cached_tokens,
                 g.usage.output_tokens, g.usage.cost, g.usage.latency_ms, g.created or utcnow(),
                 json.dumps(g.drops, sort_keys=True)),
            )

    def save_answers(self, g: Generation) -> None:
        """Store a generation's answers again (their support labels changed), leaving the rest as it is."""
        with self.transaction() as db:
            # The revision tells the archive's build signature that a shown generation changed.
            db.execute("UPDATE generations SET qa=?, revision = revision + 1 WHERE key=?",
                       (json.dumps([q.__dict__ for q in g.qa], ensure_ascii=False), g.key))

    def get_generation(self, key: str) -> Generation | None:
        """A generation by key, or None."""
        rows = self.query("SELECT * FROM generations WHERE key=?", (key,))
        return self.generation_from_row(rows[0]) if rows else None

    @staticmethod
    def generation_from_row(r: sqlite3.Row) -> Generation:
        """Turn a generations row into a Generation."""
        return Generation(
            key=r["key"], paper_key=r["paper_key"], version=r["version"], model=r["model"],
            prompt_version=r["prompt_version"], language=r["language"], tldr=r["tldr"],
            summary=r["summary"], qa=[QA(**q) for q in json.loads(r["qa"])], status=r["status"],
            note=r["note"], n_dropped=r["n_dropped"], drops=json.loads(r["drops"]), created=r["created"],
            usage=Usage(input_tokens=r["input_tokens"], cached_tokens=r["cached_tokens"],
                        output_tokens=r["output_tokens"], cost=r["cost"], latency_ms=r["latency_ms"]),
        )

    def generations_for_paper(self, key: str) -> list[Generation]:
        """Every generation of a paper, newest first."""
        rows = self.query("SELECT * FROM generations WHERE paper_key=? ORDER BY created DESC", (key,))
        return [self.generation_from_row(r) for r in rows]

    # ---- issues ---------------------------------------------------------------------------

    def save_issue(self, issue: Issue, generations: dict[str, Generation | None]) -> None:
        """Store an issue, its papers in order, and the generation of each paper for issue.model."""
        now = utcnow()
        with self.transaction() as db:
            was = db.execute("SELECT status FROM issues WHERE id=?", (issue.id,)).fetchone()
            if issue.status == "draft" and was is not None and was["status"] == "published":
                # It may have been mailed: held text never replaces it, and it never turns back into a draft.
                raise QualityGateError(
                    f"{issue.id} is published and stays as it was: the text written now failed the quality gate "
                    "and was not stored as the issue", hint=f"fix the model and run again, or regenerate it with "
                    f"`digest rerun {issue.id} --model M` and show a variant that passes")
            db.execute(
                "INSERT INTO issues (id, week_start, week_end, language, model, intro, created, updated, status) "
                "VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET language=excluded.language, "
                "model=excluded.model, intro=excluded.intro, updated=excluded.updated, status=excluded.status",
                (issue.id, issue.week_start, issue.week_end, issue.language, issue.model, issue.intro,
                 issue.created or now, now, issue.status),
            )
            db.execute("DELETE FROM issue_papers WHERE issue_id=?", (issue.id,))
            for e in issue.entries:
                db.execute(
                    "INSERT INTO issue_papers (issue_id, paper_key, version, position, is_update) "
                    "VALUES (?,?,?,?,?)",
                    (issue.id, e.paper.key, e.paper.version, e.position, int(e.is_update)),
                )
            for paper_key, g in generations.items():
                if g is not None:
                    db.execute(
                        "INSERT OR REPLACE INTO issue_generations VALUES (?,?,?,?)",
                        (issue.id, paper_key, g.model, g.key),
                    )

    def variant_languages(self, issue_id: str, variant: str) -> set[str]:
        """The languages a variant of an issue was written in (one, unless something went wrong)."""
        return {r["language"] for r in self.query(
            "SELECT DISTINCT g.language FROM issue_generations ig JOIN generations g ON g.key = ig.generation_key "
            "WHERE ig.issue_id=? AND ig.model=?", (issue_id, variant))}

    def show_variant(self, issue_id: str, variant: str, *, language: str | None, published: bool) -> None:
        """Make an issue show `variant` (in its language); `published` False keeps a draft a draft.

        A published issue stays published whatever is asked: it may have been mailed already.
        """
        with self.transaction() as db:
            db.execute("UPDATE issues SET model=?, updated=?, status=CASE WHEN status='published' OR ? "
                       "THEN 'published' ELSE 'draft' END WHERE id=?", (variant, utcnow(), int(published), issue_id))
            if language:  # labels of the rendered issue follow the language the variant was written in
                db.execute("UPDATE issues SET language=? WHERE id=?", (language, issue_id))

    def add_issue_generation(self, issue_id: str, g: Generation, variant: str | None = None) -> None:
        """Attach a generation of a paper to an issue as `variant` (default: its model); others are kept."""
        self.execute("INSERT OR REPLACE INTO issue_generations VALUES (?,?,?,?)",
                     (issue_id, g.paper_key, variant or g.model, g.key))

    def issue_ids(self, *, drafts: bool = False) -> list[str]:
        """Issue ids, newest first: the published ones, and the drafts too when asked."""
        where = "" if drafts else "WHERE status = 'published' "
        return [r["id"] for r in self.query(f"SELECT id FROM issues {where}ORDER BY week_start DESC, id DESC")]

    def issue_models(self, issue_id: str) -> list[str]:
        """Models that have generations attached to an issue."""
        rows = self.query("SELECT DISTINCT model FROM issue_generations WHERE issue_id=? ORDER BY model",
                          (issue_id,))
        return [r["model"] for r in rows]

    def load_issue(self, issue_id: str | None = None, model: str | None = None) -> Issue:
        """An issue with its papers and, per paper, the generation of `model` (default: the chosen one)."""
        if issue_id is None:
            ids = self.issue_ids()
            if not ids:
                drafts = self.issue_ids(drafts=True)
                if drafts:
                    raise NotFoundError(
                        f"there is no published issue yet: {drafts[0]} is a draft the quality gate held because "
                        "the model failed for too many papers", hint=_publish_draft_hint(drafts[0]))
                raise NotFoundError("there is no issue yet", hint="run `digest run` first")
            issue_id = ids[0]
        rows = self.query("SELECT * FROM issues WHERE id=?", (issue_id,))
        if not rows:
            raise NotFoundError(f"no issue {issue_id!r}", hint="see `digest issues list`")
        r = rows[0]
        model = model or r["model"]
        issue = Issue(id=r["id"], week_start=r["week_start"], week_end=r["week_end"],
                      language=r["language"], model=model, created=r["created"], intro=r["intro"],
                      status=r["status"])
        for ip in self.query(
            "SELECT ip.*, p.* FROM issue_papers ip JOIN papers p ON p.key = ip.paper_key "
            "WHERE ip.issue_id=? ORDER BY ip.position", (issue_id,),
        ):
            paper = self.paper_from_row(ip)
            paper.version = ip["version"] if ip["version"] is not None else paper.version
            g_rows = self.query(
                "SELECT g.* FROM issue_generations ig JOIN generations g ON g.key = ig.generation_key "
                "WHERE ig.issue_id=? AND ig.paper_key=? AND ig.model=?", (issue_id, paper.key, model),
            )
            gen = self.generation_from_row(g_rows[0]) if g_rows else None
            changes = self.shown_changes(paper, gen, issue) if ip["is_update"] else None
            issue.entries.append(IssueEntry(paper=paper, generation=gen, position=ip["position"],
                                            is_update=bool(ip["is_update"]), changes=changes))
        issue.overview = self.get_overview(issue.id, model, issue.language, papers=len(issue.entries))
        return issue

    def load_issue_to_publish(self, issue_id: str | None = None) -> Issue:
        """load_issue for anything that sends an issue out: a draft the quality gate held is refused."""
        issue = self.load_issue(issue_id)
        if issue.status == "draft":
            raise QualityGateError(f"{issue.id} is a draft: the quality gate held it because the model failed "
                                   "for too many papers", hint=_publish_draft_hint(issue.id))
        return issue

    def issues_of_paper(self, key: str) -> list[str]:
        """The issues a paper appeared in, newest first."""
        rows = self.query(
            "SELECT ip.issue_id FROM issue_papers ip JOIN issues i ON i.id = ip.issue_id "
            "WHERE ip.paper_key=? ORDER BY i.week_start DESC", (key,),
        )
        return [r["issue_id"] for r in rows]

    # ---- the week's overview --------------------------------------------------------------

    def set_overview(self, issue_id: str, model: str, language: str, ov: Overview | None) -> None:
        """Store a variant's overview in one language, replacing the last; None forgets it (one written for
        an earlier set of papers must not be shown)."""
        with self.transaction() as db:
            db.execute("DELETE FROM issue_overviews WHERE issue_id=? AND model=? AND language=?",
                       (issue_id, model, language))
            if ov is None:
                return
            u = ov.usage
            db.execute(
                "INSERT INTO issue_overviews (issue_id, model, language, method, themes, input_tokens, "
                "cached_tokens, output_tokens, cost, latency_ms, created) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (issue_id, model, language, ov.method, json.dumps([t.__dict__ for t in ov.themes], ensure_ascii=False),
                 u.input_tokens, u.cached_tokens, u.output_tokens, u.cost, u.latency_ms, ov.created or utcnow()))

    def get_overview(self, issue_id: str, model: str, language: str, *, papers: int | None = None
                     ) -> Overview | None:
        """A variant's overview, in `language` if there is one; numbers beyond `papers` are left out."""
        rows = self.query("SELECT * FROM issue_overviews WHERE issue_id=? AND model=? "
                          "ORDER BY language = ? DESC, created DESC LIMIT 1", (issue_id, model, language))
        return _overview_from_row(rows[0], papers) if rows else None

    def attach_overviews(self, issues: list[Issue]) -> None:
        """Give each issue its overview as get_overview would, in one query (the archive loads them all)."""
        best: dict[tuple[str, str], list[sqlite3.Row]] = {}
        for r in self.query("SELECT * FROM issue_overviews ORDER BY created DESC"):
            best.setdefault((r["issue_id"], r["model"]), []).append(r)
        for issue in issues:
            rows = best.get((issue.id, issue.model), [])
            mine = [r for r in rows if r["language"] == issue.language] or rows  # newest first within each
            issue.overview = _overview_from_row(mine[0], len(issue.entries)) if mine else None


def _publish_draft_hint(issue_id: str) -> str:
    """What publishes a held draft: a working model, run again, or a variant that passes the gate."""
    return (f"fix the model and `digest run` again, or `digest rerun {issue_id} --model M` then "
            f"`digest issues use {issue_id} --model M`; `digest send {issue_id} --dry-run` shows it")


def _overview_from_row(r: sqlite3.Row, papers: int | None) -> Overview | None:
    """An issue_overviews row as an Overview; theme numbers beyond `papers` are left out, and empty themes."""
    themes = [Theme(**t) for t in json.loads(r["themes"])]
    if papers is not None:
        for t in themes:
            t.papers = [n for n in t.papers if 1 <= n <= papers]
        themes = [t for t in themes if t.papers]
    if not themes:
        return None
    return Overview(issue_id=r["issue_id"], model=r["model"], language=r["language"], themes=themes,
                    method=r["method"], created=r["created"],
                    usage=Usage(input_tokens=r["input_tokens"], cached_tokens=r["cached_tokens"],
                                output_tokens=r["output_tokens"], cost=r["cost"], latency_ms=r["latency_ms"]))
