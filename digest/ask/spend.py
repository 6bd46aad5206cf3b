"""The Ask page's daily cost ledger: reserve a question's most possible cost, then settle to what it spent.

A question is answered only after its reservation is written, and the reservation is checked against the
day's cap inside one `BEGIN IMMEDIATE` transaction, so two questions (threads of one server, or two
processes sharing the store) never both see room that only one of them fits in. A reservation never
settled (the server was killed mid-question) keeps counting at its full amount: the cap errs on the side
of spending less, never more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from digest.store import Store


def utc_now() -> datetime:
    """The current time in UTC (the ledger's day is the UTC date)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Reservation:
    """One question's hold on the day's budget."""

    id: int
    day: str  # UTC date, YYYY-MM-DD
    amount: float  # USD held until settled


def _day(now: datetime) -> str:
    if now.tzinfo is None:
        raise ValueError("the ledger needs an aware datetime: its day is the UTC date")
    return now.astimezone(UTC).date().isoformat()


def _committed(db, day: str) -> float:
    # A running question counts at its reservation, a finished one at what it spent.
    row = db.execute("SELECT COALESCE(SUM(COALESCE(spent, reserved)), 0) FROM ask_spend WHERE day = ?",
                     (day,)).fetchone()
    return float(row[0])


def reserve(store: Store, amount: float, cap: float, *, now: datetime) -> Reservation | None:
    """Hold `amount` USD of today's `cap`; None (nothing held) when that would pass the cap."""
    amount = max(0.0, float(amount))
    day = _day(now)
    with store.transaction() as db:  # BEGIN IMMEDIATE: the check and the insert are one step for every writer
        if _committed(db, day) + amount > cap + 1e-12:
            return None
        cur = db.execute("INSERT INTO ask_spend (day, reserved, created) VALUES (?, ?, ?)",
                         (day, amount, now.astimezone(UTC).isoformat(timespec="seconds")))
        return Reservation(id=int(cur.lastrowid), day=day, amount=amount)


def settle(store: Store, reservation: Reservation, spent: float, *, now: datetime) -> None:
    """Replace a reservation by what the question actually spent (once; a second settle changes nothing)."""
    with store.transaction() as db:
        db.execute("UPDATE ask_spend SET spent = ?, settled = ? WHERE id = ? AND spent IS NULL",
                   (max(0.0, float(spent)), now.astimezone(UTC).isoformat(timespec="seconds"), reservation.id))


def committed_today(store: Store, *, now: datetime) -> float:
    """USD spent or held today (UTC) by Ask questions."""
    with store.lock:
        return _committed(store.db, _day(now))
