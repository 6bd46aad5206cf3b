"""The issue by email: SMTP sending, with delivery state kept per (issue, subscriber).

Delivery design: for each (issue, subscriber) the row in `deliveries` goes
none -> 'sending' -> 'sent' | 'deferred' | 'failed'. 'sending' is committed only once the
server has answered 354 to DATA (before that nothing can have been delivered, so an
interruption is safely retried), and 'sent' right after the server's reply to the message.
A row still 'sending' is ambiguous: the connection or the process died while the message was
in flight, perhaps after the server took it, perhaps not. Such a message is sent again, in the
same run's retry round or by the next run, with the same Message-ID (stable per issue and
subscriber): every subscriber gets the issue, and only the message in flight at a crash on each
connection (mail.connections) can arrive twice, as a copy the receiver can recognise. Nothing else
is ever sent twice: each recipient is taken by one connection only, and a send holds a lock on the
store against a second one. The SMTP connection itself is digest.mail.smtp.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from digest.config import Config
from digest.errors import DigestError, MailError
from digest.feedback import feedback_secret
from digest.mail.message import (
    IssueMail,
    Recipient,
    build_confirmation,
    render_parts,
    sender_address,
    unsubscribe_url,
)
from digest.mail.smtp import Mailer
from digest.mail.subscribers import get_by_id, get_subscriber, list_subscribers, normalize_email
from digest.readers import reader_issue
from digest.records import Issue
from digest.store import Store, utcnow

Progress = Callable[[int, int], None]


@dataclass
class SendReport:
    """The outcome of one `send_issue` call, per address."""

    issue_id: str
    dry_run: bool = False
    sent: list[str] = field(default_factory=list)
    resent: list[str] = field(default_factory=list)  # of `sent`: in flight at an earlier interruption
    skipped: list[str] = field(default_factory=list)  # already sent by an earlier run
    unknown: list[str] = field(default_factory=list)  # connection lost mid-message; next run resends
    deferred: list[tuple[str, str]] = field(default_factory=list)  # temporary failure; next run retries
    failed: list[tuple[str, str]] = field(default_factory=list)  # permanent failure in this run
    failed_earlier: list[tuple[str, str]] = field(default_factory=list)  # reported by an earlier run; not retried
    bounced: list[str] = field(default_factory=list)  # marked bounced by this run
    files: list[Path] = field(default_factory=list)  # dry run: .eml files and the preview
    # dry run: each reader who gets their own issue, with its papers as (key, title, why)
    selections: list[tuple[str, list[tuple[str, str, str]]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every recipient has the issue, but for failures an earlier send already reported."""
        return not (self.deferred or self.failed or self.unknown)


def send_confirmation(config: Config, email: str, name: str, link: str) -> None:
    """Send the double opt-in confirmation mail now; raises MailError when the server refuses it."""
    msg = build_confirmation(config, email, name, link, config.output.language)
    with Mailer(config.mail) as mailer:
        outcome, detail = mailer.send(sender_address(config.mail), email, msg.as_bytes())
    if outcome != "sent":
        raise MailError(f"the confirmation mail to {email} was not accepted: {detail}")


# ---- sending an issue -------------------------------------------------------------------------------


def _recipients(store: Store, to: str | None) -> list[Recipient]:
    key = feedback_secret(store)
    if to is None:
        return [Recipient(s.email, s.name, s.token, s.id, key) for s in list_subscribers(store, "active")]
    address = normalize_email(to)
    sub = get_subscriber(store, address)
    if sub is None:
        return [Recipient(address, vote_key=key)]  # a test copy for the owner: not recorded, no unsubscribe token
    if sub.status != "active":
        raise DigestError(f"{address} is {sub.status}", hint="only active subscribers are mailed")
    return [Recipient(sub.email, sub.name, sub.token, sub.id, key)]


def _delivery(store: Store, issue_id: str, subscriber_id: int) -> tuple[str | None, str | None]:
    rows = store.query("SELECT status, last_error FROM deliveries WHERE issue_id=? AND subscriber_id=?",
                       (issue_id, subscriber_id))
    return (rows[0]["status"], rows[0]["last_error"]) if rows else (None, None)


def _record(store: Store, issue_id: str, subscriber_id: int, status: str, message_id: str,
            error: str | None = None, attempt: bool = False) -> None:
    store.execute(
        "INSERT INTO deliveries (issue_id, subscriber_id, status, attempts, message_id, last_error, updated) "
        "VALUES (?,?,?,?,?,?,?) ON CONFLICT(issue_id, subscriber_id) DO UPDATE SET status=excluded.status, "
        "attempts=attempts + ?, message_id=excluded.message_id, last_error=excluded.last_error, "
        "updated=excluded.updated",
        (issue_id, subscriber_id, status, int(attempt), message_id, error, utcnow(), int(attempt)),
    )


def _bounce(store: Store, subscriber_id: int, bounce_after: int) -> bool:
    """Count a permanent failure; True when the address is now marked bounced."""
    store.execute("UPDATE subscribers SET bounces=bounces+1 WHERE id=?", (subscriber_id,))
    store.execute("UPDATE subscribers SET status='bounced' WHERE id=? AND status='active' AND bounces>=?",
                  (subscriber_id, max(1, bounce_after)))
    sub = get_by_id(store, subscriber_id)
    return sub is not None and sub.status == "bounced"


def _safe_filename(i: int, email: str) -> str:
    return f"{i:04d}-" + re.sub(r"[^A-Za-z0-9@._-]", "_", email)[:80] + ".eml"


def send_issue(config: Config, store: Store, issue_id: str | None = None, *, dry_run: bool = False,
               to: str | None = None, out_dir: str | Path | None = None, progress: Progress | None = None,
               retry_rounds: int = 1, retry_delay: float = 2.0) -> SendReport:
    """Email an issue (default: the newest) to every active subscriber not yet sent it."""
    issue = store.load_issue(issue_id) if dry_run else store.load_issue_to_publish(issue_id)
    report = SendReport(issue_id=issue.id, dry_run=dry_run)
    recipients = _recipients(store, to)
    sender = sender_address(config.mail)
    if dry_run:
        return _dry_run(config, store, issue, recipients, report, out_dir, progress)
    # Two sends at once (cron and a manual run) would both see "not sent yet" for the same subscriber.
    busy = MailError("another `digest send` is running on this store",
                     hint="wait for it to finish; it sends to everyone not yet sent")
    with store.exclusive("send", busy):
        return _send(config, store, issue, recipients, sender, report, progress=progress,
                     retry_rounds=retry_rounds, retry_delay=retry_delay)


def _send(config: Config, store: Store, issue: Issue, recipients: list[Recipient], sender: str,
          report: SendReport, *, progress: Progress | None, retry_rounds: int, retry_delay: float) -> SendReport:
    todo: list[Recipient] = []
    in_doubt: set[str] = set()  # addresses whose last message may or may not have arrived
    for r in recipients:
        status, error = _delivery(store, issue.id, r.subscriber_id) if r.subscriber_id else (None, None)
        if status == "sent":
            report.skipped.append(r.email)
        elif status == "failed":
            report.failed_earlier.append((r.email, error or ""))
        else:
            if status == "sending":
                in_doubt.add(r.email)
            todo.append(r)
    run = _Run(config, store, ReaderMails(config, store, issue), sender, report, in_doubt, len(todo), progress)
    mailers = [Mailer(config.mail) for _ in range(max(1, min(config.mail.connections, len(todo))))]
    try:
        for round_no in range(1 + max(0, retry_rounds)):
            if round_no and todo:
                time.sleep(retry_delay)
            todo = run.round(todo, mailers, may_retry=round_no < retry_rounds)
    finally:
        for mailer in mailers:
            mailer.close()
    return report


class _Pacer:
    """Spaces the starts of messages `60 / per_minute` s apart, across every connection of a send."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self.clock = clock
        self.next_at = 0.0
        self.lock = threading.Lock()

    def reserve(self) -> float:
        """The time the next message may start (clock's time), kept for the caller."""
        with self.lock:
            at = max(self.clock(), self.next_at)
            self.next_at = at + self.interval
            return at

    def wait(self, stop: threading.Event) -> None:
        """Return when the caller's turn has come, or at once when `stop` is set."""
        if self.interval:
            at = self.reserve()
            delay = at - self.clock()
            if delay > 0:
                stop.wait(delay)


class _Run:
    """One send's recipients spread over its connections: each recipient is taken by one connection
    only, and every outcome lands in the ledger (deliveries) and the report as it comes."""

    def __init__(self, config: Config, store: Store, mails: ReaderMails, sender: str, report: SendReport,
                 in_doubt: set[str], total: int, progress: Progress | None):
        self.config, self.store, self.mails, self.sender = config, store, mails, sender
        self.report, self.in_doubt, self.total, self.progress = report, in_doubt, total, progress
        self.done = 0
        self.pacer = _Pacer(config.mail.per_minute)
        self.lock = threading.Lock()  # the queue, the report and the progress count
        self.stop = threading.Event()

    def round(self, todo: list[Recipient], mailers: list[Mailer], *, may_retry: bool) -> list[Recipient]:
        """Send to `todo` over the mailers' connections; returns who is to be tried again."""
        queue = iter(todo)
        retry: list[Recipient] = []
        errors: list[BaseException] = []
        mailers = mailers[:max(1, len(todo))]  # a retry round of two needs no more than two connections
        if len(mailers) == 1:
            self._work(mailers[0], queue, retry, may_retry)
            return retry

        def work(mailer: Mailer) -> None:
            try:
                self._work(mailer, queue, retry, may_retry)
            except BaseException as e:  # noqa: BLE001 - re-raised by the sending thread below
                errors.append(e)
                self.stop.set()  # the other connections finish the message in hand and stop

        threads = [threading.Thread(target=work, args=(m,), name=f"smtp-{i}", daemon=True)
                   for i, m in enumerate(mailers)]
        for t in threads:
            t.start()
        try:
            for t in threads:
                t.join()
        except BaseException:
            # Ctrl-C or SIGTERM stops now, as with one connection: no connection starts another message, and
            # the messages in flight are cut off (each stays 'sending', resent with its Message-ID next time).
            self.stop.set()
            for mailer in mailers:
                mailer.abort()
            deadline = time.monotonic() + 10  # they return as soon as their socket gives up: this bounds a hang
            for t in threads:
                t.join(timeout=max(0.0, deadline - time.monotonic()))
            raise
        if errors:
            e = errors[0]
            if isinstance(e, MailError) and any(m.smtp is not None for m in mailers):
                # Other connections to the same server work: it most likely takes fewer at once.
                raise MailError(e.message, hint=f"the server may take fewer connections at once: lower "
                                f"mail.connections (now {len(mailers)}); {e.hint or ''}".rstrip("; ")) from None
            raise e
        return retry

    def _work(self, mailer: Mailer, queue, retry: list[Recipient], may_retry: bool) -> None:
        while not self.stop.is_set():
            with self.lock:
                r = next(queue, None)
            if r is None:
                return
            if r.subscriber_id is not None:
                # Unsubscribing takes effect at once, even in the middle of a send.
                sub = get_by_id(self.store, r.subscriber_id)
                if sub is None or sub.status != "active":
                    self._count()
                    continue
            self.pacer.wait(self.stop)
            if self.stop.is_set():
                return
            outcome, detail = _send_one(self.store, mailer, self.mails.mail_for(r), r, self.sender)
            self._settle(r, outcome, detail, retry, may_retry)

    def _settle(self, r: Recipient, outcome: str, detail: str, retry: list[Recipient], may_retry: bool) -> None:
        report = self.report
        bounced = False
        if outcome == "permanent" and r.subscriber_id is not None:
            bounced = _bounce(self.store, r.subscriber_id, self.config.mail.bounce_after)
        with self.lock:
            if outcome == "unknown":
                self.in_doubt.add(r.email)
            if outcome in ("temporary", "unknown") and may_retry:
                retry.append(r)
                return
            if outcome == "sent":
                report.sent.append(r.email)
                if r.email in self.in_doubt:
                    report.resent.append(r.email)
            elif outcome == "unknown":
                report.unknown.append(r.email)
            elif outcome == "temporary":
                report.deferred.append((r.email, detail))
            else:
                report.failed.append((r.email, detail))
                if bounced:
                    report.bounced.append(r.email)
        self._count()

    def _count(self) -> None:
        with self.lock:
            self.done += 1
            if self.progress:
                self.progress(self.done, self.total)


def _send_one(store: Store, mailer: Mailer, mail: IssueMail, r: Recipient, sender: str) -> tuple[str, str]:
    mid, data = mail.message_bytes(r)
    sid = r.subscriber_id
    if sid is None:
        return mailer.send(sender, r.email, data)
    issue_id = mail.issue.id
    reached_data = False

    def committing() -> None:
        nonlocal reached_data
        reached_data = True
        _record(store, issue_id, sid, "sending", mid, attempt=True)

    outcome, detail = mailer.send(sender, r.email, data, committing)
    if outcome == "sent":
        _record(store, issue_id, sid, "sent", mid)
        store.execute("UPDATE subscribers SET bounces=0 WHERE id=? AND bounces>0", (sid,))
    elif outcome == "temporary":
        _record(store, issue_id, sid, "deferred", mid, detail, attempt=not reached_data)
    elif outcome == "permanent":
        _record(store, issue_id, sid, "failed", mid, detail, attempt=not reached_data)
    # "unknown" stays 'sending': the retry round or the next run sends it again, same Message-ID.
    return outcome, detail


def _dry_run(config: Config, store: Store, issue: Issue, recipients: list[Recipient], report: SendReport,
             out_dir: str | Path | None, progress: Progress | None) -> SendReport:
    folder = Path(out_dir) if out_dir else config.archive_dir / "outbox" / issue.id
    folder.mkdir(parents=True, exist_ok=True)
    # The preview shows a placeholder link rather than any subscriber's real token.
    text, html = render_parts(config, issue, unsubscribe_url(config, "TOKEN"))
    for name, body in (("preview.html", html), ("preview.txt", text)):
        (folder / name).write_text(body, encoding="utf-8")
        report.files.append(folder / name)
    mails = ReaderMails(config, store, issue)
    lines = []
    for i, r in enumerate(recipients, 1):
        path = folder / _safe_filename(i, r.email)
        mail = mails.mail_for(r)
        path.write_bytes(mail.message_bytes(r)[1])
        report.files.append(path)
        report.sent.append(r.email)
        if mail is not mails.editor:
            report.selections.append((r.email, [(e.paper.key, e.paper.title, mail.why.get(e.paper.key, ""))
                                                for e in mail.issue.entries]))
            lines += [f"{r.email}: their own issue, {len(mail.issue.entries)} papers"]
            lines += [f"  {n}. {e.paper.key} {e.paper.title} — {mail.why.get(e.paper.key, '')}"
                      for n, e in enumerate(mail.issue.entries, 1)]
        else:
            lines.append(f"{r.email}: the editor's issue")
        if progress:
            progress(i, len(recipients))
    selections = folder / "selections.txt"
    selections.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report.files.append(selections)
    return report


class ReaderMails:
    """Each recipient's email: the editor's issue for a reader who asked for nothing, else their own
    (digest.readers.reader_issue), rendered once for every reader who gets the same papers with the same
    reasons. Only the latest selections are kept, so memory does not grow with the number of readers."""

    KEEP = 32  # each holds its bodies rendered (a few hundred KB): enough for the selections many readers share

    def __init__(self, config: Config, store: Store, issue: Issue):
        self.config, self.store, self.issue = config, store, issue
        self.editor = IssueMail(config, issue)
        self._mails: OrderedDict[tuple, IssueMail] = OrderedDict()
        self._lock = threading.Lock()

    def mail_for(self, r: Recipient) -> IssueMail:
        """The IssueMail whose message goes to this recipient (a test copy to a non-subscriber: the editor's)."""
        if r.subscriber_id is None:
            return self.editor
        with self._lock:  # the chooser learns readers' votes as it goes: one reader at a time
            theirs, why = reader_issue(self.store, self.issue, r.subscriber_id, self.config)
            if theirs is self.issue:
                return self.editor
            key = tuple((e.paper.key, why.get(e.paper.key, "")) for e in theirs.entries)
            mail = self._mails.get(key)
            if mail is None:
                mail = self._mails[key] = IssueMail(self.config, theirs, why)
                if len(self._mails) > self.KEEP:
                    self._mails.popitem(last=False)
            self._mails.move_to_end(key)
            return mail
