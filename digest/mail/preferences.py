"""Each reader's preferences link: a signed token naming the subscriber, and the URL every email carries.

The token is signed (HMAC-SHA256) with the store's secret, the same key as the vote links
(digest.feedback), under its own purpose so that no vote token reads as a preferences token. The
signature covers the subscriber's address as well as its row id: a row deleted and its id taken by
someone else leaves the old link dead. The page itself is digest.mail.preferences_page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Protocol
from urllib.parse import quote

from digest.config import Config
from digest.feedback import feedback_secret
from digest.mail.subscribers import Subscriber, get_by_id
from digest.render import safe_url
from digest.store import Store

_PURPOSE = b"paper-digest preferences v1\0"
_TOKEN_RE = re.compile(r"[1-9][0-9]{0,17}\.[A-Za-z0-9_-]{43}")


class Addressee(Protocol):
    """What a preferences link needs of a recipient (digest.mail.message.Recipient has it)."""

    email: str
    subscriber_id: int | None
    vote_key: bytes | None


# ---- tokens -------------------------------------------------------------------------------------


def _mac(secret: bytes, subscriber_id: int, email: str) -> str:
    payload = _PURPOSE + f"{subscriber_id}|{email.strip().lower()}".encode()
    return base64.urlsafe_b64encode(hmac.new(secret, payload, hashlib.sha256).digest()).rstrip(b"=").decode()


def preferences_token(secret: bytes, subscriber_id: int, email: str) -> str:
    """The signed token of one subscriber's preferences link: '<id>.<signature>'."""
    return f"{subscriber_id}.{_mac(secret, subscriber_id, email)}"


def subscriber_for_token(store: Store, token: str) -> Subscriber | None:
    """The active subscriber a preferences token was made for; None when forged, altered or no longer valid."""
    if not token or not _TOKEN_RE.fullmatch(token):
        return None
    sid, _, sig = token.partition(".")
    sub = get_by_id(store, int(sid))
    if sub is None or sub.status != "active":
        return None
    expected = _mac(feedback_secret(store), sub.id, sub.email)
    return sub if hmac.compare_digest(expected.encode(), sig.encode()) else None


def preferences_url(config: Config, rcpt: Addressee) -> str | None:
    """The recipient's signed preferences link; None for a test copy, without web.public_url or a key."""
    base = safe_url(config.web.public_url).rstrip("/")
    if not base or rcpt.subscriber_id is None or rcpt.vote_key is None:
        return None
    return f"{base}/preferences/{quote(preferences_token(rcpt.vote_key, rcpt.subscriber_id, rcpt.email))}"
