"""Append-only schema migrations: never edit one that has shipped, add m00N_ instead."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from digest.errors import StoreError

MIGRATIONS: list[Callable[[], str]] = []


def migration(fn: Callable[[], str]):
    """Register a migration: a function returning the SQL it runs."""
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_papers_pages_feeds() -> str:
    return (
        """
        CREATE TABLE papers (
            key TEXT PRIMARY KEY,          -- arXiv ID without version, or url:/file: + hash
            arxiv_id TEXT,
            version INTEGER,               -- newest version seen
            title TEXT NOT NULL,
            authors TEXT NOT NULL DEFAULT '[]',
            abstract TEXT NOT NULL DEFAULT '',
            categories TEXT NOT NULL DEFAULT '[]',
            primary_category TEXT,
            published TEXT,
            updated TEXT,
            abs_url TEXT,
            pdf_url TEXT,
            announce_type TEXT,
            license TEXT,
            doi TEXT,
            comment TEXT,
            journal_ref TEXT,
            source TEXT,
            local_pdf TEXT,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            text_status TEXT NOT NULL DEFAULT 'pending',
            text_error TEXT,
            text_version INTEGER,          -- the version whose PDF the pages come from
            pdf_path TEXT,
            pdf_sha256 TEXT,
            page_count INTEGER,
            token_count INTEGER
        );
        CREATE INDEX papers_first_seen ON papers(first_seen);
        CREATE TABLE pages (
            paper_key TEXT NOT NULL REFERENCES papers(key) ON DELETE CASCADE,
            number INTEGER NOT NULL,
            body TEXT NOT NULL,
            refs TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (paper_key, number)
        );
        CREATE TABLE feeds (
            url TEXT PRIMARY KEY,
            etag TEXT,
            last_modified TEXT,
            last_status INTEGER,
            last_fetched TEXT
        );
        CREATE TABLE candidates (          -- the weekly selection: why each paper was taken or not
            week TEXT NOT NULL,
            paper_key TEXT NOT NULL REFERENCES papers(key) ON DELETE CASCADE,
            version INTEGER,
            score REAL NOT NULL DEFAULT 0,
            selected INTEGER NOT NULL DEFAULT 0,
            rank INTEGER,
            reasons TEXT NOT NULL DEFAULT '[]',
            PRIMARY KEY (week, paper_key)
        );
        """
    )


@migration
def m002_llm_calls_generations() -> str:
    return (
        """
        CREATE TABLE llm_calls (
            id INTEGER PRIMARY KEY,
            ts TEXT NOT NULL,
            model TEXT NOT NULL,
            prompt_version TEXT,
            purpose TEXT,
            paper_key TEXT,
            generation_key TEXT,
            request_hash TEXT,             -- identical requests reuse a stored response (resume)
            messages TEXT NOT NULL,
            response TEXT,
            status TEXT NOT NULL,          -- ok, error
            error TEXT,
            http_status INTEGER,
            finish_reason TEXT,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            cached_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            latency_ms INTEGER NOT NULL DEFAULT 0,
            cost REAL NOT NULL DEFAULT 0,
            batch_id TEXT
        );
        CREATE INDEX llm_calls_hash ON llm_calls(request_hash, status);
        CREATE INDEX llm_calls_generation ON llm_calls(generation_key);
        CREATE TABLE generations (
            key TEXT PRIMARY KEY,          -- hash of paper version, prompt version, model, settings
            paper_key TEXT NOT NULL REFERENCES papers(key) ON DELETE CASCADE,
            version INTEGER,
            model TEXT NOT NULL,
            prompt_version TEXT NOT NULL,
            language TEXT NOT NULL,
            settings TEXT NOT NULL DEFAULT '{}',
            status TEXT NOT NULL,          -- ok, abstract-only, fallback
            note TEXT,
            tldr TEXT NOT NULL,
            summary TEXT NOT NULL,
            qa TEXT NOT NULL DEFAULT '[]',
            n_answers INTEGER NOT NULL DEFAULT 0,
            n_verified INTEGER NOT NULL DEFAULT 0,
            n_dropped INTEGER NOT NULL DEFAULT 0,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            cached_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cost REAL NOT NULL DEFAULT 0,
            latency_ms INTEGER NOT NULL DEFAULT 0,
            created TEXT NOT NULL
        );
        CREATE INDEX generations_paper ON generations(paper_key, model);
        """
    )


@migration
def m003_issues() -> str:
    return (
        """
        CREATE TABLE issues (
            id TEXT PRIMARY KEY,           -- ISO week, e.g. 2026-W47
            week_start TEXT NOT NULL,
            week_end TEXT NOT NULL,
            language TEXT NOT NULL,
            model TEXT NOT NULL,           -- the variant shown (send, archive)
            intro TEXT NOT NULL DEFAULT '',
            created TEXT NOT NULL,
            updated TEXT NOT NULL
        );
        CREATE TABLE issue_papers (
            issue_id TEXT NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
            paper_key TEXT NOT NULL REFERENCES papers(key),
            version INTEGER,
            position INTEGER NOT NULL,
            is_update INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (issue_id, paper_key)
        );
        CREATE TABLE issue_generations (   -- every variant of every paper of an issue
            issue_id TEXT NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
            paper_key TEXT NOT NULL,
            model TEXT NOT NULL,
            generation_key TEXT NOT NULL REFERENCES generations(key),
            PRIMARY KEY (issue_id, paper_key, model)
        );
        """
    )


@migration
def m004_subscribers_deliveries() -> str:
    return (
        """
        CREATE TABLE subscribers (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL UNIQUE COLLATE NOCASE,
            name TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL,          -- pending (double opt-in), active, unsubscribed, bounced
            token TEXT NOT NULL UNIQUE,    -- unsubscribe token, unguessable
            confirm_token TEXT UNIQUE,
            bounces INTEGER NOT NULL DEFAULT 0,
            created TEXT NOT NULL,
            confirmed TEXT,
            unsubscribed TEXT
        );
        CREATE TABLE deliveries (
            issue_id TEXT NOT NULL,
            subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
            status TEXT NOT NULL,          -- sending, sent, failed, bounced
            attempts INTEGER NOT NULL DEFAULT 0,
            message_id TEXT,
            last_error TEXT,
            updated TEXT NOT NULL,
            PRIMARY KEY (issue_id, subscriber_id)
        );
        """
    )


@migration
def m005_batches() -> str:
    return (
        """
        CREATE TABLE batches (
            id TEXT PRIMARY KEY,           -- the provider's batch id
            model TEXT NOT NULL,
            created TEXT NOT NULL,
            status TEXT NOT NULL,
            input_file_id TEXT,
            output_file_id TEXT,
            error_file_id TEXT,
            meta TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE batch_requests (
            batch_id TEXT NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
            custom_id TEXT NOT NULL,
            request TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',   -- pending, done, failed
            PRIMARY KEY (batch_id, custom_id)
        );
        """
    )


@migration
def m006_search_index() -> str:
    # Full-text search over what readers search for; rebuilt by digest/archive/search.py.
    # unicode61 ranks whole words well but keeps a run of Japanese/Chinese text as one token,
    # so the same fields also go into a trigram table, used for queries with CJK characters.
    # search_state remembers what the index was built from, so a stale index is rebuilt on use.
    return (
        """
        CREATE VIRTUAL TABLE search_fts USING fts5(
            paper_key UNINDEXED, title, authors, summary, qa, tokenize='unicode61 remove_diacritics 2'
        );
        CREATE VIRTUAL TABLE search_trigram USING fts5(
            paper_key UNINDEXED, title, authors, summary, qa, tokenize='trigram'
        );
        CREATE TABLE search_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            signature TEXT NOT NULL
        );
        """
    )


@migration
def m007_candidates_is_update() -> str:
    # Selection decides whether a paper updates a published one; the flag is stored with the
    # week's selection so that publishing (now or after a batch) carries it instead of
    # recomputing it. Older rows say so only in their reasons ("updated: v2 (published v1)").
    return (
        """
        ALTER TABLE candidates ADD COLUMN is_update INTEGER NOT NULL DEFAULT 0;
        UPDATE candidates SET is_update = 1 WHERE reasons LIKE '%"updated: v%';
        """
    )


@migration
def m008_issue_status() -> str:
    # An issue the quality gate held back is a draft: kept, never mailed or shown in the archive.
    return "ALTER TABLE issues ADD COLUMN status TEXT NOT NULL DEFAULT 'published';"


@migration
def m009_channel_deliveries() -> str:
    # Chat channels (Slack, Discord, Teams, a JSON webhook) get an issue as one or more messages
    # ("parts"); each part has the email ledger's states: 'sending' is committed before the POST,
    # so a part left 'sending' by a crash is posted again by the next send.
    return (
        """
        CREATE TABLE channel_deliveries (
            issue_id TEXT NOT NULL,
            channel TEXT NOT NULL,          -- the [[channels]] name
            part INTEGER NOT NULL,          -- 1-based message number within the issue
            parts INTEGER NOT NULL,         -- how many messages the issue took on that channel
            status TEXT NOT NULL,           -- sending, sent, deferred, failed
            attempts INTEGER NOT NULL DEFAULT 0,
            payload_sha256 TEXT NOT NULL,
            last_error TEXT,
            updated TEXT NOT NULL,
            PRIMARY KEY (issue_id, channel, part)
        );
        """
    )


@migration
def m010_feedback() -> str:
    # Reader votes ("more/less like this") feed the next weeks' ranking. One row per voter and
    # paper, so a second click changes nothing and an opposite vote replaces the first.
    # The signing key of the vote links lives here too: whoever can read the store can vote anyway.
    return (
        """
        CREATE TABLE feedback (
            paper_key TEXT NOT NULL REFERENCES papers(key) ON DELETE CASCADE,
            voter TEXT NOT NULL,           -- 'owner', 'site', or 'subscriber:<id>'
            vote INTEGER NOT NULL CHECK (vote IN (-1, 1)),
            updated TEXT NOT NULL,
            PRIMARY KEY (paper_key, voter)
        );
        CREATE TABLE feedback_key (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            secret TEXT NOT NULL
        );
        """
    )


@migration
def m011_issue_overviews() -> str:
    # The week's overview: one per issue, variant and language, so a rerun with another model adds its
    # own and the first stays. Paper numbers in `themes` are positions in the issue (1-based).
    return (
        """
        CREATE TABLE issue_overviews (
            issue_id TEXT NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
            model TEXT NOT NULL,           -- the variant, as in issue_generations.model
            language TEXT NOT NULL,
            method TEXT NOT NULL,          -- llm, or terms (grouped by shared key terms, no LLM)
            themes TEXT NOT NULL,          -- JSON: [{"title", "text", "papers": [1, 3]}]
            input_tokens INTEGER NOT NULL DEFAULT 0,
            cached_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cost REAL NOT NULL DEFAULT 0,
            latency_ms INTEGER NOT NULL DEFAULT 0,
            created TEXT NOT NULL,
            PRIMARY KEY (issue_id, model, language)
        );
        """
    )


@migration
def m012_version_changes() -> str:
    # `pages` holds the current version's text only. When a newer version replaces it, the old text is
    # kept here, so "what changed in v2" compares the two without downloading v1 again.
    return (
        """
        CREATE TABLE version_pages (
            paper_key TEXT NOT NULL REFERENCES papers(key) ON DELETE CASCADE,
            version INTEGER NOT NULL,
            number INTEGER NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (paper_key, version, number)
        );
        CREATE TABLE version_changes (
            paper_key TEXT NOT NULL REFERENCES papers(key) ON DELETE CASCADE,
            old_version INTEGER NOT NULL,
            new_version INTEGER NOT NULL,
            model TEXT NOT NULL,
            language TEXT NOT NULL,
            status TEXT NOT NULL,
            note TEXT,
            points TEXT NOT NULL,          -- JSON list of ChangePoint
            usage TEXT NOT NULL,           -- JSON Usage
            created TEXT NOT NULL,
            PRIMARY KEY (paper_key, old_version, new_version, model, language)
        );
        """
    )


@migration
def m013_generation_revision() -> str:
    # Support labels are written into a stored generation after it is made (digest.writers.backing):
    # the count of such rewrites lets the archive's build signature see them without reading every row.
    return "ALTER TABLE generations ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;"


@migration
def m015_generation_drops() -> str:
    # Why a generation's answers or page numbers were dropped ({"answer past the last question": 2, ...}):
    # the run report and the quality gate count them instead of losing them silently.
    return "ALTER TABLE generations ADD COLUMN drops TEXT NOT NULL DEFAULT '{}';"



@migration
def m016_paper_structure() -> str:
    # What the PDF's layout says a paper is (issue 20): its header and section tree, read from the same
    # version as its page texts; lists are JSON (authors, affiliations, sections as {heading, level, page,
    # number, kind}).
    return (
        """
        CREATE TABLE paper_structure (
            paper_key TEXT PRIMARY KEY REFERENCES papers(key),
            version INTEGER,
            title TEXT,
            authors TEXT NOT NULL DEFAULT '[]',
            affiliations TEXT NOT NULL DEFAULT '[]',
            abstract TEXT NOT NULL DEFAULT '',
            published TEXT,
            sections TEXT NOT NULL DEFAULT '[]',
            created TEXT NOT NULL
        );
        """
    )


@migration
def m018_reader_interests() -> str:
    # A reader's own interests (issue 21): lists are JSON; library holds {title, authors, abstract} of the
    # papers of their reference library. The pool is every paper written up for an issue (the editor's
    # selection and the papers readers' interests ranked high), so each reader's issue is chosen from it
    # while issue_papers stays the editor's issue.
    return (
        """
        CREATE TABLE subscriber_interests (
            subscriber_id INTEGER PRIMARY KEY REFERENCES subscribers(id) ON DELETE CASCADE,
            keywords TEXT NOT NULL DEFAULT '[]',
            authors TEXT NOT NULL DEFAULT '[]',
            categories TEXT NOT NULL DEFAULT '[]',
            library TEXT NOT NULL DEFAULT '[]',
            library_terms TEXT NOT NULL DEFAULT '{}',  -- the library's ranking profile, read once when set
            max_papers INTEGER,
            updated TEXT NOT NULL
        );
        CREATE TABLE issue_pool (
            issue_id TEXT NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
            paper_key TEXT NOT NULL REFERENCES papers(key),
            version INTEGER,
            position INTEGER NOT NULL,
            is_update INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (issue_id, paper_key)
        );
        """
    )


@migration
def m020_ask_spend() -> str:
    # The Ask page's cost ledger (issue 22): a question reserves its most possible cost here before the
    # model is called and is settled to what it spent after, so concurrent questions, and servers sharing
    # the store, can never together spend past ask.max_usd_per_day. `day` is the UTC date.
    return (
        """
        CREATE TABLE ask_spend (
            id INTEGER PRIMARY KEY,
            day TEXT NOT NULL,
            reserved REAL NOT NULL,
            spent REAL,                    -- NULL while the question runs: its reservation counts
            created TEXT NOT NULL,
            settled TEXT
        );
        CREATE INDEX ask_spend_day ON ask_spend(day);
        """
    )


@migration
def m019_passage_index() -> str:
    # `digest ask` (issue 22): every stored paper's body passages in an FTS5 index. The index is contentless
    # and holds our own stems (digest.text.tokenize), so a question's terms can be looked up in the
    # vocabulary (how common each is) before the BM25 query; the text shown lives in `passages`.
    # passage_index_papers says what each paper's rows were built from, so a missed or stale paper is found.
    return (
        """
        CREATE TABLE passages (
            id INTEGER PRIMARY KEY,
            paper_key TEXT NOT NULL,
            page INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            heading TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL
        );
        CREATE INDEX passages_paper ON passages (paper_key);
        CREATE VIRTUAL TABLE passage_fts USING fts5 (
            terms, heading, title, content='', tokenize='unicode61 remove_diacritics 2'
        );
        CREATE VIRTUAL TABLE passage_vocab USING fts5vocab (passage_fts, row);
        CREATE TABLE passage_index_papers (
            paper_key TEXT PRIMARY KEY,
            pages_mark INTEGER NOT NULL,   -- max(rowid) of its pages: a re-saved text gets new rowids
            title TEXT NOT NULL,           -- as indexed: a contentless row is deleted with its own values
            tokenizer TEXT NOT NULL,
            passages INTEGER NOT NULL,
            indexed TEXT NOT NULL
        );
        """
    )


@migration
def m017_archive_changes() -> str:
    # Issue 23: a rebuild of the archive after one new issue must not load and fingerprint all 5,000 papers.
    # Every write that can change what the site shows of a paper or an issue stamps it with the next number
    # of one counter and a random mark (triggers, so raw SQL and every store method alike are seen); a page's
    # fingerprint is made of the stamps of what it shows, and only the pages whose fingerprint moved are
    # loaded and rendered. The mark keeps a stamp from meaning two things when a backup is restored and the
    # counter runs over the same numbers again; `archive_store` names this database, so a site built from
    # another one never trusts its stamps.
    tables = (  # (table, kind, the column naming what it belongs to)
        ("papers", "paper", "key"), ("generations", "paper", "paper_key"), ("version_changes", "paper", "paper_key"),
        ("paper_structure", "paper", "paper_key"), ("issue_papers", "paper", "paper_key"),
        ("issue_papers", "issue", "issue_id"), ("issue_generations", "paper", "paper_key"),
        ("issue_generations", "issue", "issue_id"), ("issues", "issue", "id"), ("issue_overviews", "issue", "issue_id"),
    )
    stamp = ("INSERT INTO archive_changes (kind, key, seq, mark) VALUES ('{kind}', {row}.{column}, "
             "(SELECT coalesce(max(seq), 0) + 1 FROM archive_changes), lower(hex(randomblob(6)))) "
             "ON CONFLICT (kind, key) DO UPDATE SET seq = excluded.seq, mark = excluded.mark;")
    triggers = []
    for table, kind, column in tables:
        for event, rows in (("INSERT", ("NEW",)), ("UPDATE", ("OLD", "NEW")), ("DELETE", ("OLD",))):
            body = " ".join(stamp.format(kind=kind, row=r, column=column) for r in rows)
            triggers.append(f"CREATE TRIGGER archive_{table}_{kind}_{event.lower()} AFTER {event} ON {table} "
                            f"BEGIN {body} END;")
    return (
        """
        CREATE TABLE archive_changes (
            kind TEXT NOT NULL,            -- paper or issue
            key TEXT NOT NULL,             -- its key or id
            seq INTEGER NOT NULL,          -- the counter when it last changed
            mark TEXT NOT NULL,            -- random, drawn at that change
            PRIMARY KEY (kind, key)
        );
        CREATE INDEX archive_changes_seq ON archive_changes (seq);
        CREATE TABLE archive_store (token TEXT NOT NULL);
        INSERT INTO archive_store VALUES (lower(hex(randomblob(8))));
        """
        + "\n".join(triggers)
    )


@migration
def m021_pool_stamps() -> str:
    # Issue 21: the archive shows each issue's pool (the papers written up for readers' own issues) beside
    # the editor's issue, so a write to issue_pool must stamp what it changes on the site, as
    # m017_archive_changes does for the other tables: the issue (its page lists the pool) and the paper
    # (its page and the lists name the issues it was written up for).
    stamp = ("INSERT INTO archive_changes (kind, key, seq, mark) VALUES ('{kind}', {row}.{column}, "
             "(SELECT coalesce(max(seq), 0) + 1 FROM archive_changes), lower(hex(randomblob(6)))) "
             "ON CONFLICT (kind, key) DO UPDATE SET seq = excluded.seq, mark = excluded.mark;")
    triggers = []
    for kind, column in (("paper", "paper_key"), ("issue", "issue_id")):
        for event, rows in (("INSERT", ("NEW",)), ("UPDATE", ("OLD", "NEW")), ("DELETE", ("OLD",))):
            body = " ".join(stamp.format(kind=kind, row=r, column=column) for r in rows)
            triggers.append(f"CREATE TRIGGER archive_issue_pool_{kind}_{event.lower()} AFTER {event} ON issue_pool "
                            f"BEGIN {body} END;")
    return "\n".join(triggers)


@migration
def m022_text_changes() -> str:
    # `digest ask` catches the passage index up before each question; finding what is stale groups every
    # page of the archive (2.4 s at 50,000 papers). A counter bumped by every write that can make a paper's
    # index rows stale (its pages stored or removed, its text status changed, the paper removed) lets the
    # check be one row read while nothing changed: passage_index_state holds the count it last caught up to.
    bump = "UPDATE text_changes SET n = n + 1 WHERE id = 1;"
    return (
        f"""
        CREATE TABLE text_changes (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
        INSERT INTO text_changes VALUES (1, 0);
        CREATE TABLE passage_index_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            text_changes INTEGER NOT NULL,  -- text_changes.n when every paper was last found indexed
            tokenizer TEXT NOT NULL         -- the stemmer the index was then built with
        );
        CREATE TRIGGER text_changes_pages_insert AFTER INSERT ON pages BEGIN {bump} END;
        CREATE TRIGGER text_changes_pages_delete AFTER DELETE ON pages BEGIN {bump} END;
        CREATE TRIGGER text_changes_papers_status AFTER UPDATE OF text_status ON papers
            WHEN OLD.text_status IS NOT NEW.text_status BEGIN {bump} END;
        CREATE TRIGGER text_changes_papers_delete AFTER DELETE ON papers BEGIN {bump} END;
        """
    )


def apply_migrations(db: sqlite3.Connection) -> int:
    """Run the migrations not yet applied; return the schema version."""
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied TEXT NOT NULL)")
    done = {r[0] for r in db.execute("SELECT name FROM _migrations")}
    known = {m.__name__ for m in MIGRATIONS}
    if done - known:
        raise StoreError(
            "the database was written by a newer paper-digest", hint="upgrade paper-digest"
        )
    for m in MIGRATIONS:
        if m.__name__ in done:
            continue
        # One script, one transaction: a crash mid-migration leaves the schema as it was.
        db.executescript(
            "BEGIN;\n" + m()
            + f"\nINSERT INTO _migrations VALUES ('{m.__name__}', datetime('now'));\nCOMMIT;"
        )
    return len(MIGRATIONS)
