"""Subscribers: records in the store, address validation, tokens, double opt-in, CSV import/export."""

from __future__ import annotations

import csv
import hmac
import io
import secrets
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from email_validator import EmailNotValidError, validate_email

from digest.errors import DigestError, NotFoundError
from digest.readers import ReaderInterests, get_interests, set_interests
from digest.store import Store, utcnow

STATUSES = ("pending", "active", "unsubscribed", "bounced")
# A reader's interests in the CSV: lists joined by "; " (an author may be written "Doe, Jane").
INTEREST_COLUMNS = ("keywords", "authors", "categories", "max_papers")


@dataclass
class Subscriber:
    """One address on the list; `token` is its unsubscribe token, `confirm_token` its opt-in token."""

    id: int
    email: str
    name: str
    status: str
    token: str
    confirm_token: str | None = None
    bounces: int = 0
    created: str = ""
    confirmed: str | None = None
    unsubscribed: str | None = None


@dataclass
class ImportReport:
    """What `import_csv` did: added addresses, ones already known, and rejected lines with reasons."""

    added: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    invalid: list[tuple[int, str, str]] = field(default_factory=list)  # (line, text, reason)


def new_token() -> str:
    """An unguessable URL-safe token (256 bits)."""
    return secrets.token_urlsafe(32)


def normalize_email(address: str) -> str:
    """A syntactically valid address in normal form; raises DigestError with the reason otherwise."""
    try:
        # No DNS lookups: the machine may be offline, and deliverability shows up as bounces anyway.
        # No SMTPUTF8 local parts: many receiving servers still reject them.
        v = validate_email(address.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as e:
        raise DigestError(f"invalid email address {address!r}: {e}",
                          hint="give an address like name@example.org") from None
    return v.normalized


def clean_name(name: str) -> str:
    """A display name on one line: control characters and runs of whitespace become one space."""
    return " ".join("".join(c if c.isprintable() else " " for c in name or "").split())[:200]


def _from_row(r: sqlite3.Row) -> Subscriber:
    return Subscriber(**dict(r))


def get_subscriber(store: Store, email: str) -> Subscriber | None:
    """The subscriber with this address (case-insensitive), or None."""
    rows = store.query("SELECT * FROM subscribers WHERE email=?", (email.strip(),))
    return _from_row(rows[0]) if rows else None


def get_by_id(store: Store, subscriber_id: int) -> Subscriber | None:
    """The subscriber with this row id, or None."""
    rows = store.query("SELECT * FROM subscribers WHERE id=?", (subscriber_id,))
    return _from_row(rows[0]) if rows else None


def list_subscribers(store: Store, status: str | None = None) -> list[Subscriber]:
    """Subscribers in the order they joined, optionally only those with one status."""
    if status is not None and status not in STATUSES:
        raise DigestError(f"unknown status {status!r}", hint="one of " + ", ".join(STATUSES))
    rows = store.query("SELECT * FROM subscribers WHERE (? IS NULL OR status=?) ORDER BY id",
                       (status, status))
    return [_from_row(r) for r in rows]


def add_subscriber(store: Store, email: str, name: str = "", *, reactivate: bool = False) -> tuple[Subscriber, bool]:
    """Add an active subscriber (the owner vouches for it); returns (subscriber, created).

    An address that unsubscribed is only reactivated with `reactivate`, so an old list
    imported again cannot undo anyone's unsubscription.
    """
    address = normalize_email(email)
    name = clean_name(name)
    now = utcnow()
    with store.transaction() as db:
        row = db.execute("SELECT * FROM subscribers WHERE email=?", (address,)).fetchone()
        if row is None:
            db.execute(
                "INSERT INTO subscribers (email, name, status, token, created, confirmed) "
                "VALUES (?,?,?,?,?,?)", (address, name, "active", new_token(), now, now),
            )
            row = db.execute("SELECT * FROM subscribers WHERE email=?", (address,)).fetchone()
            return _from_row(row), True
        sub = _from_row(row)
        if sub.status in ("unsubscribed", "bounced") and not reactivate:
            return sub, False
        if sub.status != "active" or (name and name != sub.name):
            db.execute(
                "UPDATE subscribers SET status='active', name=CASE WHEN ?='' THEN name ELSE ? END, "
                "bounces=0, confirmed=coalesce(confirmed, ?), unsubscribed=NULL WHERE id=?",
                (name, name, now, sub.id),
            )
        row = db.execute("SELECT * FROM subscribers WHERE id=?", (sub.id,)).fetchone()
        return _from_row(row), False


def remove_subscriber(store: Store, email: str, *, purge: bool = False) -> Subscriber:
    """Unsubscribe an address (kept, so it is never mailed again), or delete it with `purge`."""
    sub = get_subscriber(store, email)
    if sub is None:
        raise NotFoundError(f"no subscriber {email!r}", hint="see `digest subscribers list`")
    if purge:
        store.execute("DELETE FROM subscribers WHERE id=?", (sub.id,))
        return sub
    _mark_unsubscribed(store, sub.id)
    return get_by_id(store, sub.id) or sub


def _mark_unsubscribed(store: Store, subscriber_id: int) -> None:
    # The opt-in token dies with the subscription: an old confirmation link must not resubscribe.
    store.execute(
        "UPDATE subscribers SET status='unsubscribed', confirm_token=NULL, "
        "unsubscribed=coalesce(unsubscribed, ?) WHERE id=? AND status != 'unsubscribed'",
        (utcnow(), subscriber_id),
    )


def _by_token(store: Store, column: str, token: str) -> Subscriber | None:
    # Tokens are well-formed base64url of a fixed length; anything else is not looked up at all.
    if not token or len(token) > 100 or not all(c.isalnum() or c in "-_" for c in token):
        return None
    rows = store.query(f"SELECT * FROM subscribers WHERE {column}=?", (token,))
    if not rows:
        return None
    sub = _from_row(rows[0])
    stored = getattr(sub, column) or ""
    # The index lookup found the row; the final comparison is constant-time all the same.
    return sub if hmac.compare_digest(stored.encode(), token.encode()) else None


def find_by_token(store: Store, token: str) -> Subscriber | None:
    """The subscriber owning an unsubscribe token, or None."""
    return _by_token(store, "token", token)


def unsubscribe(store: Store, token: str) -> Subscriber | None:
    """Unsubscribe the owner of a token (idempotent); None when the token is unknown."""
    sub = find_by_token(store, token)
    if sub is None:
        return None
    _mark_unsubscribed(store, sub.id)
    return get_by_id(store, sub.id)


def request_subscription(store: Store, email: str, name: str = "") -> tuple[Subscriber, str | None]:
    """Start double opt-in; returns (subscriber, confirm token to mail) or (subscriber, None).

    None means no confirmation mail is due: the address is already active (or bounced).
    A pending or unsubscribed address gets a fresh confirmation token; nothing else is sent
    to it until it confirms.
    """
    address = normalize_email(email)
    name = clean_name(name)
    now = utcnow()
    confirm = new_token()
    with store.transaction() as db:
        row = db.execute("SELECT * FROM subscribers WHERE email=?", (address,)).fetchone()
        if row is None:
            db.execute(
                "INSERT INTO subscribers (email, name, status, token, confirm_token, created) "
                "VALUES (?,?,?,?,?,?)", (address, name, "pending", new_token(), confirm, now),
            )
        else:
            sub = _from_row(row)
            if sub.status in ("active", "bounced"):
                return sub, None
            # Re-subscribing after an unsubscription: pending again until confirmed.
            db.execute(
                "UPDATE subscribers SET status='pending', confirm_token=?, "
                "name=CASE WHEN ?='' THEN name ELSE ? END WHERE id=?",
                (confirm, name, name, sub.id),
            )
        row = db.execute("SELECT * FROM subscribers WHERE email=?", (address,)).fetchone()
    return _from_row(row), confirm


def confirm_subscription(store: Store, confirm_token: str) -> Subscriber | None:
    """Activate the address a confirmation token was sent to (idempotent); None for unknown tokens."""
    sub = _by_token(store, "confirm_token", confirm_token)
    if sub is None:
        return None
    if sub.status == "pending":
        store.execute(
            "UPDATE subscribers SET status='active', confirmed=?, unsubscribed=NULL, bounces=0 "
            "WHERE id=? AND status='pending'", (utcnow(), sub.id),
        )
    return get_by_id(store, sub.id)


def split_list(cell: str) -> list[str]:
    """A CSV cell or option value of several items: split on semicolons (commas can be part of a name)."""
    return [v.strip() for v in (cell or "").split(";") if v.strip()]


def _interests_from_row(row: list[str], columns: dict[str, int], old: ReaderInterests) -> ReaderInterests:
    def cell(name: str) -> str:
        i = columns[name]
        return row[i].strip() if i < len(row) else ""

    given = {c for c in INTEREST_COLUMNS if c in columns}
    limit = cell("max_papers") if "max_papers" in given else ""
    if limit and not limit.isdigit():
        raise DigestError(f"max_papers {limit!r} is not a whole number", hint="give a number of papers, or nothing")
    return ReaderInterests(
        keywords=split_list(cell("keywords")) if "keywords" in given else old.keywords,
        authors=split_list(cell("authors")) if "authors" in given else old.authors,
        categories=split_list(cell("categories")) if "categories" in given else old.categories,
        library=old.library,  # a library comes from its own file (`digest subscribers set --library`)
        max_papers=((int(limit) or None) if limit else None) if "max_papers" in given else old.max_papers)


def import_csv(store: Store, path: str | Path) -> ImportReport:
    """Add the addresses of a CSV file (columns email[,name], header optional) as active subscribers.

    With a header, columns keywords, authors, categories ("; " between items) and max_papers set each
    listed reader's interests; a column left out leaves that interest as it was.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DigestError(f"cannot read {p}: {e}", hint="give a UTF-8 CSV file with an email column") from None
    report = ImportReport()
    rows = list(csv.reader(io.StringIO(text)))
    email_col, name_col, start = 0, 1, 0
    interest_cols: dict[str, int] = {}
    if rows:
        header = [c.strip().lower() for c in rows[0]]
        if "email" in header or "e-mail" in header or "address" in header:
            email_col = next(i for i, c in enumerate(header) if c in ("email", "e-mail", "address"))
            name_col = header.index("name") if "name" in header else -1
            interest_cols = {c: header.index(c) for c in INTEREST_COLUMNS if c in header}
            start = 1
    for lineno, row in enumerate(rows[start:], start=start + 1):
        if not row or not any(c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        address = row[email_col].strip() if email_col < len(row) else ""
        name = row[name_col].strip() if 0 <= name_col < len(row) else ""
        try:
            interests = _interests_from_row(row, interest_cols, ReaderInterests()) if interest_cols else None
            sub, created = add_subscriber(store, address, name)
        except DigestError as e:
            report.invalid.append((lineno, address, e.message))
            continue
        if interests is not None:
            try:
                set_interests(store, sub.id, _interests_from_row(row, interest_cols, get_interests(store, sub.id)))
            except DigestError as e:
                report.invalid.append((lineno, address, f"interests not set: {e.message}"))
        (report.added if created else report.existing).append(sub.email)
    return report


def export_csv(store: Store, out: TextIO, status: str | None = None) -> int:
    """Write subscribers as CSV (email, name, status, created, confirmed, unsubscribed, then their interests:
    keywords, authors, categories, max_papers), which import_csv reads back; returns the count."""
    w = csv.writer(out)
    w.writerow(["email", "name", "status", "created", "confirmed", "unsubscribed", *INTEREST_COLUMNS])
    subs = list_subscribers(store, status)
    for s in subs:
        i = get_interests(store, s.id)
        w.writerow([s.email, s.name, s.status, s.created, s.confirmed or "", s.unsubscribed or "",
                    "; ".join(i.keywords), "; ".join(i.authors), "; ".join(i.categories), i.max_papers or ""])
    return len(subs)
