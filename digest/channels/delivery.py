"""Posting an issue to the configured channels, exactly once per (issue, channel, message part).

Ledger design, as for email (digest/mail/delivery.py): each part's row in `channel_deliveries`
goes none -> 'sending' -> 'sent' | 'deferred' | 'failed'. 'sending' is committed before the POST
and 'sent' right after the 2xx answer. A part still 'sending' is ambiguous (the process died
while the request was in flight) and is posted again by the next send: webhooks have no
Message-ID to recognise a copy, so that one part may arrive twice. Nothing else is posted twice.
Parts go out in order; a channel stops at its first part that cannot be delivered, so readers
never see part 3 before part 2.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from digest.channels import discord, slack, teams, webhook
from digest.channels.base import Built, IssuePost, issue_post, json_body
from digest.config import ChannelConfig, Config
from digest.errors import ConfigError, DigestError
from digest.http import make_client, retry_after_seconds
from digest.store import Store, utcnow
from digest.wording import plural

BUILDERS: dict[str, Callable[[IssuePost, str], Built]] = {
    "slack": slack.build, "discord": discord.build, "teams": teams.build, "webhook": webhook.build,
}


@dataclass
class RetryPolicy:
    """How long a channel is given: 429 waits up to `max_wait` s each, 5xx and network errors `retries` times."""

    max_wait: float = 60.0  # a longer Retry-After defers the channel to the next send
    max_waits: int = 5
    retries: int = 2
    backoff: float = 2.0  # seconds before the first retry; doubled each time


DEFAULT_POLICY = RetryPolicy()


@dataclass
class ChannelResult:
    """The outcome of one channel for one issue."""

    name: str
    kind: str
    mode: str
    parts: int = 0
    sent: int = 0
    resent: int = 0  # of `sent`: in flight at an earlier interruption, so possibly a second copy
    skipped: int = 0  # sent by an earlier run
    # sent; deferred (429 over the wait limit, 5xx: the next send retries); unknown (the network failed
    # mid-request: the next send posts the part again); failed (4xx: check the URL); dry-run
    status: str = "sent"
    error: str = ""
    truncated: list[str] = field(default_factory=list)  # papers whose text was cut to fit
    payloads: list[dict[str, Any]] = field(default_factory=list)  # kept for --dry-run only


@dataclass
class ChannelsReport:
    """The outcome of `deliver_issue`, per channel."""

    issue_id: str
    dry_run: bool = False
    results: list[ChannelResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every channel has every part of the issue (or nothing was meant to be sent)."""
        return all(r.status in ("sent", "dry-run") for r in self.results)


def redact(text: str, url: str, url_env: str) -> str:
    """`text` with the webhook URL (and its secret path) replaced by the variable's name."""
    if not url:
        return text
    secret = f"${url_env}"
    forms = {url}
    try:
        parsed = httpx.URL(url)
        forms |= {str(parsed), parsed.raw_path.decode("ascii", "replace")}
    except (httpx.InvalidURL, ValueError):
        pass
    for form in sorted(forms, key=len, reverse=True):
        if len(form) > 1:  # a bare "/" path is no secret, and replacing it would garble the text
            text = text.replace(form, secret)
    return text


def select_channels(config: Config, names: list[str] | None) -> list[ChannelConfig]:
    """The configured channels, or those named (ConfigError for a name not configured)."""
    if not names:
        return list(config.channels)
    known = {c.name: c for c in config.channels}
    for n in names:
        if n not in known:
            raise ConfigError(f"no channel named {n!r}",
                              hint="configured: " + (", ".join(known) or "none; add a [[channels]] table"))
    return [known[n] for n in dict.fromkeys(names)]


def deliver_issue(config: Config, store: Store, issue_id: str | None = None, *, names: list[str] | None = None,
                  dry_run: bool = False, env: dict[str, str] | None = None, policy: RetryPolicy | None = None,
                  sleep: Callable[[float], None] = time.sleep) -> ChannelsReport:
    """Post an issue (default: the newest) to the channels (default: all) that do not have it yet."""
    channels = select_channels(config, names)
    issue = store.load_issue(issue_id) if dry_run else store.load_issue_to_publish(issue_id)
    report = ChannelsReport(issue_id=issue.id, dry_run=dry_run)
    post = issue_post(config, issue)
    env = os.environ if env is None else env
    policy = policy or DEFAULT_POLICY
    if dry_run:
        for ch in channels:
            built = BUILDERS[ch.kind](post, ch.mode)
            report.results.append(ChannelResult(ch.name, ch.kind, ch.mode, parts=len(built.payloads),
                                                status="dry-run", truncated=built.truncated,
                                                payloads=built.payloads))
        return report
    busy = DigestError("another `digest send` is posting to the channels of this store",
                       hint="wait for it to finish; it posts everything not yet posted")
    with store.exclusive("channels", busy):
        for ch in channels:
            built = BUILDERS[ch.kind](post, ch.mode)
            result = ChannelResult(ch.name, ch.kind, ch.mode, parts=len(built.payloads), truncated=built.truncated)
            report.results.append(result)
            _deliver_channel(store, issue.id, ch, built, env.get(ch.url_env, "").strip(), result, policy, sleep)
    return report


def _deliver_channel(store: Store, issue_id: str, ch: ChannelConfig, built: Built, url: str,
                     result: ChannelResult, policy: RetryPolicy, sleep: Callable[[float], None]) -> None:
    rows = {r["part"]: r["status"] for r in store.query(
        "SELECT part, status FROM channel_deliveries WHERE issue_id=? AND channel=?", (issue_id, ch.name))}
    todo = [(i, p) for i, p in enumerate(built.payloads, 1) if rows.get(i) != "sent"]
    result.skipped = len(built.payloads) - len(todo)
    if not todo:
        return
    if not url:
        result.status, result.error = "failed", f"${ch.url_env} is not set: export it with the webhook URL"
        return
    try:
        scheme = httpx.URL(url).scheme
    except (httpx.InvalidURL, ValueError):
        scheme = ""
    if scheme not in ("http", "https"):
        result.status, result.error = "failed", f"${ch.url_env} does not hold an http(s) URL"
        return
    with make_client(ch.timeout) as client:
        for part, payload in todo:
            body = json_body(payload)
            sha = hashlib.sha256(body).hexdigest()
            in_doubt = rows.get(part) == "sending"
            _record(store, issue_id, ch.name, part, len(built.payloads), "sending", sha, attempt=True)
            outcome, detail = post_json(client, url, body, policy, sleep)
            detail = redact(detail, url, ch.url_env)
            # "unknown" (cut off in flight) stays 'sending': in doubt, like email's, and resent next time.
            status = "sending" if outcome == "unknown" else outcome
            _record(store, issue_id, ch.name, part, len(built.payloads), status, sha, detail or None)
            if outcome != "sent":
                result.status, result.error = outcome, f"part {part} of {len(built.payloads)}: {detail}"
                return
            result.sent += 1
            result.resent += in_doubt


def _record(store: Store, issue_id: str, channel: str, part: int, parts: int, status: str, sha: str,
            error: str | None = None, attempt: bool = False) -> None:
    store.execute(
        "INSERT INTO channel_deliveries (issue_id, channel, part, parts, status, attempts, payload_sha256, "
        "last_error, updated) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(issue_id, channel, part) DO UPDATE SET "
        "parts=excluded.parts, status=excluded.status, attempts=attempts + ?, "
        "payload_sha256=excluded.payload_sha256, last_error=excluded.last_error, updated=excluded.updated",
        (issue_id, channel, part, parts, status, int(attempt), sha, error, utcnow(), int(attempt)),
    )


def _wait_asked(r: httpx.Response) -> float | None:
    wait = retry_after_seconds(r.headers)
    if wait is None:
        try:  # Discord also says it in the body, in seconds with a fraction
            wait = float(r.json().get("retry_after"))
        except (ValueError, TypeError, AttributeError):
            return None
    return wait


def post_json(client: httpx.Client, url: str, body: bytes, policy: RetryPolicy,
              sleep: Callable[[float], None]) -> tuple[str, str]:
    """POST one message; (outcome, detail): sent, deferred (try later), unknown (cut off in flight) or failed."""
    waits = errors = 0
    while True:
        try:
            r = client.post(url, content=body, headers={"Content-Type": "application/json; charset=utf-8"})
        except httpx.HTTPError as e:
            # Refused, timed out or cut off: nothing or everything may have arrived; a retry is the only
            # way the channel gets the part, as with email's message in flight.
            why = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            detail = f"network error: {why[:300]}"
            if errors >= policy.retries:
                # Never connected: nothing can have arrived. Cut off later: it may have.
                sure = isinstance(e, (httpx.ConnectError, httpx.ConnectTimeout))
                return ("deferred" if sure else "unknown"), detail
        else:
            if 200 <= r.status_code < 300:
                return "sent", ""
            detail = f"HTTP {r.status_code}: {' '.join(r.text.split())[:200]}".rstrip(": ")
            if r.status_code == 429:
                wait = _wait_asked(r)
                wait = 1.0 if wait is None else wait
                if wait > policy.max_wait:
                    return "deferred", f"rate limited (HTTP 429), asked to wait {wait:.0f} s; over the " \
                                       f"{policy.max_wait:.0f} s this send waits at a time"
                if waits >= policy.max_waits:
                    return "deferred", f"rate limited (HTTP 429) again after {plural(waits, 'wait')}, " \
                                       f"the most this send makes (asked to wait {wait:.0f} s more)"
                waits += 1
                sleep(wait)
                continue
            if r.status_code < 500:
                return "failed", detail
        if errors >= policy.retries:
            return "deferred", detail
        sleep(policy.backoff * 2 ** errors)
        errors += 1
