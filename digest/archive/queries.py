"""What the archive site reads from the store, in bulk: the stamps that say what changed since the last
build, the published papers and issues, and their generations without the heavy columns until a page needs
them (issue 23). Only digest.archive builds the site, so its queries live here, beside it."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from digest.records import QA, Generation, Issue, Paper, Usage
from digest.store import Store


def archive_signature(store: Store) -> str:
    """One cheap query that changes whenever anything the archive site shows may have changed.

    Every such write stamps the paper or issue it changes with the next number of a counter and a random
    mark (migrations.m017_archive_changes): the newest stamp says it, in place writes included (a support
    label, a paper's record). Counts and max rowids stay beside it; issues are few and read whole.
    """
    return store.query(
        "SELECT (SELECT count(*) || '/' || coalesce(group_concat(id || ' ' || model || ' ' || language || ' ' "
        "|| status || ' ' || coalesce(updated, ''), ','), '') FROM issues) || '|' || "
        "(SELECT count(*) || '/' || coalesce(max(rowid), 0) FROM issue_papers) || '|' || "
        "(SELECT count(*) || '/' || coalesce(max(rowid), 0) FROM issue_generations) || '|' || "
        "(SELECT count(*) || '/' || coalesce(max(rowid), 0) FROM generations) || '|' || "
        "(SELECT count(*) || '/' || coalesce(max(rowid), 0) FROM issue_overviews) || '|' || "
        "(SELECT count(*) || '/' || coalesce(max(rowid), 0) FROM version_changes) || '|' || "
        "(SELECT count(*) || '/' || coalesce(max(rowid), 0) FROM papers) || '|' || "
        "coalesce((SELECT seq || '.' || mark FROM archive_changes ORDER BY seq DESC LIMIT 1), '') AS signature"
    )[0]["signature"]

def archive_token(store: Store) -> str:
    """A random name of this database, made with it (see migrations.m017_archive_changes)."""
    return store.query("SELECT token FROM archive_store")[0]["token"]

def archive_stamps(store: Store) -> tuple[dict[str, str], dict[str, str]]:
    """The stamp of every paper and of every issue written since m017_archive_changes: the counter's value
    when it last changed and the random mark drawn then (see that migration)."""
    rows = store.query("SELECT kind, key, seq || '.' || mark FROM archive_changes")
    return ({key: stamp for kind, key, stamp in rows if kind == "paper"},
            {key: stamp for kind, key, stamp in rows if kind == "issue"})

def published_paper_heads(store: Store) -> list[sqlite3.Row]:
    """Per published paper, by key, the little every build needs of all of them: what names its PDF and
    thumbnail, and its categories and authors as stored (JSON)."""
    return store.query(
        "SELECT key, arxiv_id, version, local_pdf, pdf_url, categories, authors FROM papers WHERE key IN "
        f"({_SITE_PAPERS}) ORDER BY key"
    )

def published_cards(store: Store) -> list[sqlite3.Row]:
    """Per paper of each published issue (newest issue first, in order): its issue, key, position, title
    and the TL;DR of the generation the issue shows (None without one), as an issue's card shows them."""
    return store.query(
        "SELECT ip.issue_id, ip.paper_key, ip.position, p.title, g.tldr "
        "FROM issues i JOIN issue_papers ip ON ip.issue_id = i.id JOIN papers p ON p.key = ip.paper_key "
        "LEFT JOIN issue_generations ig ON ig.issue_id = i.id AND ig.paper_key = ip.paper_key AND ig.model = i.model "
        "LEFT JOIN generations g ON g.key = ig.generation_key "
        "WHERE i.status = 'published' ORDER BY i.week_start DESC, i.id DESC, ip.position"
    )

def published_pool(store: Store, keys: set[str] | None = None) -> list[sqlite3.Row]:
    """Per published issue (newest first), the papers of its pool past the editor's issue that have a
    write-up in the variant it shows (as readers.pool_entries), in pool order (only the papers `keys`, if
    given): issue_id, paper_key, version, position, is_update."""
    return store.query(
        f"SELECT ip.issue_id, ip.paper_key, ip.version, ip.position, ip.is_update FROM ({_POOL_ONLY}) ip "
        f"JOIN issues i ON i.id = ip.issue_id WHERE 1 {_only('ip.paper_key', keys)} "
        "ORDER BY i.week_start DESC, i.id DESC, ip.position", _keys(keys)
    )

def published_papers(store: Store, keys: set[str] | None = None) -> list[Paper]:
    """Every paper that appeared in a published issue or its pool (or those of them in `keys`), by key."""
    return [store.paper_from_row(r) for r in store.query(
        f"SELECT * FROM papers WHERE {_led(keys)}key IN ({_SITE_PAPERS}) {_only('key', keys)} ORDER BY key",
        _keys(keys)
    )]

def published_generation_heads(store: Store, keys: set[str] | None = None) -> list[tuple[Generation, bool, str]]:
    """Every generation of a paper that appeared in an issue, newest first per paper, whether an issue shows
    it, and a stamp of its stored content (a rewrite replaces the row, new labels bump the revision); each
    without its summary, answers and drops (the bulk of a row, and most of the time of loading it): the
    archive fills in only the ones the pages it renders show (fill_generations). Only of the papers
    `keys`, if given."""
    rows = store.query(
        "SELECT g.key, g.paper_key, g.version, g.model, g.prompt_version, g.language, g.tldr, g.status, "
        "g.note, g.n_dropped, g.created, g.input_tokens, g.cached_tokens, g.output_tokens, g.cost, "
        "g.latency_ms, g.revision, g.rowid AS stored_row, "
        "g.key IN (SELECT generation_key FROM issue_generations) AS shown "
        f"FROM generations g WHERE {_led(keys)}g.paper_key IN (SELECT paper_key FROM issue_papers UNION "
        "SELECT paper_key FROM issue_pool) "
        f"{_only('g.paper_key', keys)} "
        "ORDER BY g.paper_key, g.created DESC, g.key", _keys(keys)
    )
    return [(Generation(
        key=r["key"], paper_key=r["paper_key"], version=r["version"], model=r["model"],
        prompt_version=r["prompt_version"], language=r["language"], tldr=r["tldr"], summary="",
        status=r["status"], note=r["note"], n_dropped=r["n_dropped"], created=r["created"],
        usage=Usage(input_tokens=r["input_tokens"], cached_tokens=r["cached_tokens"],
                    output_tokens=r["output_tokens"], cost=r["cost"], latency_ms=r["latency_ms"]),
    ), bool(r["shown"]), f"{r['stored_row']}.{r['revision']}") for r in rows]

def fill_generations(store: Store, generations: list[Generation]) -> None:
    """Give generations loaded by published_generation_heads their summary, answers and drops, in place."""
    by_key = {g.key: g for g in generations}
    keys = sorted(by_key)
    for start in range(0, len(keys), 500):  # under SQLite's limit on parameters
        chunk = keys[start:start + 500]
        for r in store.query(f"SELECT key, summary, qa, drops FROM generations WHERE key IN "
                            f"({','.join('?' * len(chunk))})", chunk):
            g = by_key[r["key"]]
            g.summary, g.qa, g.drops = r["summary"], [QA(**q) for q in json.loads(r["qa"])], json.loads(r["drops"])

def issue_times_and_models(store: Store) -> dict[str, dict[str, Any]]:
    """Per issue: its stored created and updated times and the models with generations attached."""
    out = {r["id"]: {"created": r["created"], "updated": r["updated"], "models": []}
           for r in store.query("SELECT id, created, updated FROM issues")}
    for r in store.query("SELECT DISTINCT issue_id, model FROM issue_generations ORDER BY issue_id, model"):
        if r["issue_id"] in out:
            out[r["issue_id"]]["models"].append(r["model"])
    return out

def published_issues_bulk(store: Store, keys: set[str] | None = None
                          ) -> tuple[list[Issue], list[sqlite3.Row], list[sqlite3.Row]]:
    """Published issues (newest first, no entries yet), their paper rows and their generation links (only
    the papers `keys`', if given), in three queries: the archive assembles them from papers and
    generations it already loaded."""
    issues = [
        Issue(id=r["id"], week_start=r["week_start"], week_end=r["week_end"], language=r["language"],
              model=r["model"], created=r["created"], intro=r["intro"], status=r["status"])
        for r in store.query("SELECT * FROM issues WHERE status = 'published' ORDER BY week_start DESC, id DESC")
    ]
    if keys is not None and not keys:
        return issues, [], []
    entries = store.query(
        "SELECT issue_id, paper_key, version, position, is_update FROM issue_papers "
        f"WHERE issue_id IN (SELECT id FROM issues WHERE status = 'published') {_only('paper_key', keys)} "
        "ORDER BY issue_id, position", _keys(keys)
    )
    links = store.query("SELECT issue_id, paper_key, model, generation_key FROM issue_generations "
                       f"WHERE 1 {_only('paper_key', keys)}", _keys(keys))
    return issues, entries, links


# The pool's papers past the editor's issue, of published issues, written up in the variant the issue shows.
_POOL_ONLY = (
    "SELECT ip.* FROM issue_pool ip JOIN issues i ON i.id = ip.issue_id AND i.status = 'published' "
    "JOIN issue_generations ig ON ig.issue_id = ip.issue_id AND ig.paper_key = ip.paper_key AND ig.model = i.model "
    "WHERE NOT EXISTS (SELECT 1 FROM issue_papers x WHERE x.issue_id = ip.issue_id AND x.paper_key = ip.paper_key)"
)
# Every paper the archive site shows: those of published issues and of their pools (issue 21).
_SITE_PAPERS = (
    "SELECT paper_key FROM issue_papers WHERE issue_id IN (SELECT id FROM issues WHERE status = 'published') "
    f"UNION SELECT paper_key FROM ({_POOL_ONLY})"
)


def _only(column: str, keys: set[str] | None) -> str:
    """A condition keeping the rows whose `column` is one of `keys` (passed as one JSON parameter: any number
    of them), or none at all."""
    return "" if keys is None else f"AND {column} IN (SELECT value FROM json_each(?))"


def _led(keys: set[str] | None) -> str:
    # A unary plus keeps SQLite from looking rows up by the column it prefixes: with `keys`, the lookups go
    # by them (a few), not by every published paper.
    return "" if keys is None else "+"


def _keys(keys: set[str] | None) -> tuple:
    return () if keys is None else (json.dumps(sorted(keys)),)
