"""Reader feedback: "more like this / less like this" votes, their signed links, and the owner's own votes.

A vote link carries its whole meaning (paper, vote, voter) in a token signed with HMAC-SHA256
under a secret kept in the store, so links need no table of their own, are the same every time
they are rendered (the archive site stays byte-stable), and cannot be guessed or altered: a
token for one paper or voter says nothing about the token for another. Votes are stored one per
(paper, voter): clicking twice counts once, and an opposite vote replaces the earlier one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from urllib.parse import quote

from digest.errors import DigestError, NotFoundError
from digest.records import Paper
from digest.render import safe_url
from digest.store import Store, utcnow

MORE, LESS = 1, -1
VOTE_NAMES = {MORE: "more", LESS: "less"}
OWNER = "owner"  # `digest like` / `digest dislike`, and the owner's test copies of an issue
SITE = "site"    # every visitor of the archive site counts as one voter
_MAX_TOKEN = 600
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}")
_ARXIV_RE = re.compile(r"(?i)^(?:arxiv:)?(\d{4}\.\d{4,5}|[a-z][a-z.-]*/\d{7})(?:v\d+)?$")


@dataclass(frozen=True)
class Vote:
    """One voter's opinion of one paper: +1 more like this, -1 less like this."""

    paper_key: str
    vote: int
    voter: str


@dataclass
class PaperFeedback:
    """The votes on one paper, summed over voters; `net` > 0 means readers want more like it."""

    paper: Paper
    likes: int
    dislikes: int
    owner: int = 0  # the owner's own vote, 0 when none
    readers: int = 0  # the net of subscribers' votes: each shapes that reader's own issue first

    @property
    def net(self) -> int:
        """Likes minus dislikes."""
        return self.likes - self.dislikes


def subscriber_voter(subscriber_id: int) -> str:
    """The voter name of a subscriber in the feedback table and in tokens."""
    return f"subscriber:{subscriber_id}"


# ---- tokens -------------------------------------------------------------------------------------


def feedback_secret(store: Store) -> bytes:
    """The store's signing key for vote links, created (256 random bits) on first use."""
    rows = store.query("SELECT secret FROM feedback_key WHERE id=1")
    if not rows:
        # OR IGNORE: two processes creating it at once agree on whichever was written first.
        store.execute("INSERT OR IGNORE INTO feedback_key (id, secret) VALUES (1, ?)", (secrets.token_hex(32),))
        rows = store.query("SELECT secret FROM feedback_key WHERE id=1")
    return bytes.fromhex(rows[0]["secret"])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, payload: bytes) -> bytes:
    # A purpose prefix: the same key can never sign something that reads as a vote by accident.
    return hmac.new(secret, b"paper-digest feedback v1\0" + payload, hashlib.sha256).digest()


def make_token(secret: bytes, paper_key: str, vote: int, voter: str) -> str:
    """The signed token of one (paper, vote, voter)."""
    if vote not in VOTE_NAMES:
        raise ValueError(f"vote must be {MORE} or {LESS}")
    payload = f"{vote:+d}|{voter}|{paper_key}".encode()
    return f"{_b64(payload)}.{_b64(_mac(secret, payload))}"


def read_token(secret: bytes, token: str) -> Vote | None:
    """The vote a token stands for, or None when it is malformed or its signature does not match."""
    if not token or len(token) > _MAX_TOKEN or not _TOKEN_RE.fullmatch(token):
        return None
    body, _, sig = token.rpartition(".")
    try:
        payload, mac = _unb64(body), _unb64(sig)
    except (binascii.Error, ValueError):
        return None
    # Signatures of canonical encodings only: a token differing in any character is not valid.
    if _b64(payload) != body or _b64(mac) != sig or not hmac.compare_digest(mac, _mac(secret, payload)):
        return None
    try:
        vote, voter, key = payload.decode().split("|", 2)
        value = int(vote)
    except ValueError:
        return None
    if value not in VOTE_NAMES or not voter or not key:
        return None
    return Vote(paper_key=key, vote=value, voter=voter)


def vote_urls(base_url: str, secret: bytes, paper_key: str, voter: str) -> dict[str, str] | None:
    """{'more': url, 'less': url} for one paper and voter under a server's base URL; None without one."""
    base = safe_url(base_url).rstrip("/")
    if not base:
        return None
    return {name: f"{base}/feedback/{quote(make_token(secret, paper_key, vote, voter))}"
            for vote, name in VOTE_NAMES.items()}


# ---- votes --------------------------------------------------------------------------------------


def record_vote(store: Store, paper_key: str, vote: int, voter: str) -> bool:
    """Store a vote (replacing the voter's earlier one on the paper); True when something changed."""
    if vote not in VOTE_NAMES:
        raise DigestError(f"unknown vote {vote!r}", hint="+1 (more like this) or -1 (less like this)")
    with store.transaction() as db:
        row = db.execute("SELECT vote FROM feedback WHERE paper_key=? AND voter=?", (paper_key, voter)).fetchone()
        if row is not None and row["vote"] == vote:
            return False
        db.execute(
            "INSERT INTO feedback (paper_key, voter, vote, updated) VALUES (?,?,?,?) "
            "ON CONFLICT(paper_key, voter) DO UPDATE SET vote=excluded.vote, updated=excluded.updated",
            (paper_key, voter, vote, utcnow()),
        )
    return True


def check_token(store: Store, token: str) -> tuple[Vote, Paper] | None:
    """The vote a link's token stands for and its paper; None when the token or its paper is not valid."""
    v = read_token(feedback_secret(store), token)
    if v is None or not store.query("SELECT 1 FROM papers WHERE key=?", (v.paper_key,)):
        return None
    return v, store.get_paper(v.paper_key)


def vote_with_token(store: Store, token: str) -> tuple[Vote, Paper] | None:
    """Record the vote a link's token stands for (idempotent); None, storing nothing, when it is not valid."""
    found = check_token(store, token)
    if found is not None:
        record_vote(store, found[0].paper_key, found[0].vote, found[0].voter)
    return found


def find_paper(store: Store, paper_id: str) -> Paper:
    """The stored paper an arXiv ID (with or without version) or a paper key names."""
    text = paper_id.strip()
    m = _ARXIV_RE.match(text)
    key = m.group(1) if m else text
    rows = store.query("SELECT key FROM papers WHERE key=?", (key,))
    if not rows:
        raise NotFoundError(f"no paper {paper_id!r} in the store",
                            hint="give the arXiv ID of a paper `digest fetch` has seen (`digest papers list`)")
    return store.get_paper(rows[0]["key"])


def load_feedback(store: Store) -> list[PaperFeedback]:
    """The votes per paper, most recently voted first."""
    rows = store.query(
        "SELECT paper_key, sum(vote = 1) AS likes, sum(vote = -1) AS dislikes, "
        "coalesce(sum(CASE WHEN voter = ? THEN vote END), 0) AS owner, "
        "coalesce(sum(CASE WHEN voter LIKE 'subscriber:%' THEN vote END), 0) AS readers, max(updated) AS last "
        "FROM feedback GROUP BY paper_key ORDER BY last DESC, paper_key", (OWNER,),
    )
    return [PaperFeedback(paper=store.get_paper(r["paper_key"]), likes=r["likes"], dislikes=r["dislikes"],
                          owner=r["owner"], readers=r["readers"]) for r in rows]
