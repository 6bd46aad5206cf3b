"""The email message of an issue: both parts rendered from templates/, and every header a list mail needs."""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr
from urllib.parse import quote

from jinja2 import Environment
from markupsafe import escape

from digest.config import Config, MailConfig
from digest.errors import ConfigError, DigestError
from digest.feedback import OWNER, subscriber_voter, vote_urls
from digest.i18n import labels
from digest.mail.mime import (
    BodyTemplate,
    encode_body,
    list_unsubscribe_value,
    multipart_alternative,
    transfer_encoding,
)
from digest.mail.preferences import preferences_url
from digest.pdf.thumbnail import THUMB_HEIGHT, THUMB_WIDTH, ensure_thumbnails
from digest.records import QA, Issue, Paper
from digest.render import (
    changes_view,
    count_papers,
    generation_note,
    model_note,
    safe_url,
    standard_intro,
    text_language,
)
from digest.resources import bundled_dir, jinja_environment
from digest.text import slugify
from digest.wording import shorten


@dataclass
class Recipient:
    """Who a message goes to; `subscriber_id` is None for a test copy (`--to` a non-subscriber).

    `vote_key` signs the recipient's "more / less like this" links (digest.feedback); None: no such links.
    """

    email: str
    name: str = ""
    token: str | None = None
    subscriber_id: int | None = None
    vote_key: bytes | None = None


# ---- rendering ----------------------------------------------------------------------------------

_ENV: Environment | None = None


def template_env() -> Environment:
    """The Jinja2 environment of the bundled templates (autoescape for .html.j2, strict undefined)."""
    global _ENV
    if _ENV is None:
        _ENV = jinja_environment(bundled_dir("templates"), autoescape=("html", "html.j2"), trim_blocks=True)
    return _ENV


def issue_url(config: Config, issue_id: str) -> str | None:
    """The issue's page on the public archive site, when the site is public (site_url)."""
    base = site_url(config)
    return f"{base}/issues/{quote(issue_id)}.html" if base else None


def unsubscribe_url(config: Config, token: str | None) -> str | None:
    """The subscriber's one-click unsubscribe link (mail.unsubscribe_url, else web.public_url)."""
    if not token:
        return None
    template = config.mail.unsubscribe_url
    if not template and config.web.public_url:
        template = config.web.public_url.rstrip("/") + "/unsubscribe/{token}"
    return (safe_url(template.replace("{token}", quote(token))) or None) if template else None


def feedback_links(config: Config, issue: Issue, rcpt: Recipient) -> dict[str, dict[str, str]]:
    """Paper key -> {'more': url, 'less': url} for one recipient; empty without web.public_url or a key."""
    if rcpt.vote_key is None or not config.web.public_url:
        return {}
    # A test copy to a non-subscriber goes to the owner, whose votes are the owner's.
    voter = subscriber_voter(rcpt.subscriber_id) if rcpt.subscriber_id is not None else OWNER
    links = {}
    for e in issue.entries:
        urls = vote_urls(config.web.public_url, rcpt.vote_key, e.paper.key, voter)
        if urls:
            links[e.paper.key] = urls
    return links


EDITIONS = ("compact", "full")
GMAIL_CLIP_BYTES = 102 * 1024  # Gmail shows "[Message clipped]" past this and hides the rest, footer included
_PREHEADER_CHARS = 150  # what an inbox list shows beside the subject
_AUTHORS_COMPACT = 3
_QUOTE_CHARS_COMPACT = 160  # a quote's opening in the compact edition; the page has it whole
_CHANGES_COMPACT = 2  # points of "what changed" in the compact edition, without their quotes
THUMB_SHOWN_WIDTH = 90  # px in the email; the file is 300 x 400, sharp on a high-density screen


def site_url(config: Config) -> str:
    """The public archive site's base URL (output.archive_url, else the `digest serve` address web.public_url)."""
    return safe_url(config.output.archive_url or config.web.public_url).rstrip("/")


def paper_page_url(site: str, paper: Paper) -> str:
    """The paper's page on the archive site (the site names it after the slug of the paper key)."""
    return f"{site}/papers/{quote(slugify(paper.key))}.html"


def pdf_link(config: Config, paper: Paper) -> str:
    """A public link to the paper's PDF ('' for a local file): its own URL, else arXiv's for its version."""
    url = safe_url(paper.pdf_url)
    if not url and paper.arxiv_id:
        url = safe_url(config.arxiv.pdf_url.format(id=paper.versioned_id))
    return url


_SUPPORT_RANK = {"supported": 0, "excerpt": 0, "": 1, "unchecked": 1, "partly": 2, "not": 3}


def best_answers(qa: list[QA], n: int) -> list[tuple[int, QA]]:
    """The best `n` answers, as (number in the paper's Q&A, answer): a found quote first, then one that backs
    the answer; the paper's own order among equals."""
    numbered = list(enumerate(qa, 1))
    return sorted(numbered, key=lambda item: (not item[1].verified, _SUPPORT_RANK.get(item[1].support, 1)))[:max(0, n)]


def _answer(number: int, q: QA, pdf_url: str, L: dict[str, str], *, compact: bool = False, language: str = "en") -> dict:
    # Each cited page links into the PDF (#page=N opens it there in browsers and most PDF viewers).
    pages = [{"n": p, "url": f"{pdf_url}#page={p}" if pdf_url else ""} for p in q.pages]
    return {"n": number, "question": q.question, "answer": q.answer, "cite": _cite(q.pages, L),
            "cite_label": (L["page"] if len(q.pages) == 1 else L["pages"]) if q.pages else "",
            "pages": pages, "quote": shorten(q.quote, _QUOTE_CHARS_COMPACT) if compact else q.quote, "verified": q.verified,
            "excerpt": q.excerpt, "quote_lang": text_language(q.quote, language),
            "support": q.support}


def _changes(e, pdf_url: str, L: dict[str, str], *, compact: bool) -> dict | None:
    """The paper's "what changed" view, each page linked into the PDF (compact: the first points, no quotes)."""
    view = changes_view(e.changes, L)
    if view is None:
        return None
    # Compact: the first points, each linked to its page of the PDF; the quotes are on the site and in full.
    points = [{**pt, "quote": ""} for pt in view["points"][:_CHANGES_COMPACT]] if compact else view["points"]
    view["points"] = [{**pt, "cite": _cite([pt["page"]], L) if pt["page"] else "",
                       "url": f"{pdf_url}#page={pt['page']}" if pdf_url and pt["page"] else ""} for pt in points]
    return view


def _cite(pages: list[int], L: dict[str, str]) -> str:
    if not pages:
        return ""
    return (L["page"] if len(pages) == 1 else L["pages"]) + " " + ", ".join(str(p) for p in pages)


def _preheader(entries: list[dict], L: dict[str, str]) -> str:
    tldrs = " · ".join(e["tldr"] for e in entries if e["tldr"])
    text = L["mail_preheader"].format(count=count_papers(L, len(entries)), tldrs=tldrs).rstrip(": ")
    return text if len(text) <= _PREHEADER_CHARS else text[:_PREHEADER_CHARS - 1].rstrip() + "…"


def issue_context(config: Config, issue: Issue, unsubscribe: str | None,
                  feedback: dict[str, dict[str, str]] | None = None, preferences: str | None = None,
                  why: dict[str, str] | None = None) -> dict:
    """What the email templates see: plain values, paper text untouched (templates escape it).

    With a public site (site_url) each paper also links to its archive page and shows its first-page
    thumbnail from the site; a missing thumbnail is rendered here once (digest.pdf.thumbnail).
    """
    L = labels(issue.language)
    feedback = feedback or {}
    edition = config.mail.edition
    if edition not in EDITIONS:
        raise ConfigError(f"mail.edition = {edition!r} is not one of {', '.join(EDITIONS)}",
                          hint='set [mail] edition = "compact" (the default) or "full"')
    compact = edition == "compact"
    site = site_url(config)
    ask = safe_url(config.web.public_url).rstrip("/")  # the Ask page lives on `digest serve` (digest.ask.web)
    thumbs = ensure_thumbnails(config, [e.paper for e in issue.entries]) if site else {}
    entries = []
    for e in issue.entries:
        p, g = e.paper, e.generation
        note = generation_note(g, L)
        qa = g.qa if g else []
        pdf_url = pdf_link(config, p)
        shown = best_answers(qa, config.mail.answers) if compact else list(enumerate(qa, 1))
        authors = p.authors[:_AUTHORS_COMPACT] if compact else p.authors
        title = p.title or p.key
        thumb = None
        if p.key in thumbs:
            thumb = {"src": f"{site}/thumbs/{quote(thumbs[p.key].name)}",
                     "alt": L["mail_thumb_alt"].format(n=len(entries) + 1),
                     "width": THUMB_SHOWN_WIDTH, "height": THUMB_SHOWN_WIDTH * THUMB_HEIGHT // THUMB_WIDTH}
        entries.append({
            "n": len(entries) + 1,
            "title": title,
            "title_lang": text_language(title, issue.language),  # an English title in a Japanese issue
            "authors": ", ".join(authors) + (f" {L['mail_et_al']}" if len(p.authors) > len(authors) else ""),
            "published": (p.published or "")[:10],
            "updated": (p.updated or "")[:10] if (p.updated or "")[:10] != (p.published or "")[:10] else "",
            "url": safe_url(p.abs_url) or pdf_url,
            "pdf_url": pdf_url,
            "id": p.versioned_id,
            "categories": ", ".join(p.categories),
            "update_note": L["updated_paper"].format(version=p.version) if e.is_update and p.version else "",
            "changes": _changes(e, pdf_url, L, compact=compact),
            "tldr": g.tldr if g else "",
            "summary": g.summary if g else p.abstract,
            # The text's own language for lang attributes: a Japanese issue's extractive text is English.
            "text_lang": text_language(" ".join([g.tldr, g.summary]) if g else p.abstract, issue.language),
            "note": note,
            "qa": [_answer(n, q, pdf_url, L, compact=compact, language=issue.language) for n, q in shown],
            "qa_total": len(qa),
            "excerpts": bool(g and g.excerpts),
            "page_url": paper_page_url(site, p) if site else "",
            "thumb": thumb,
            "feedback": feedback.get(p.key),
            "why": (why or {}).get(p.key, ""),  # a reader's own issue: why this paper is in it (digest.readers)
            "why_lang": text_language((why or {}).get(p.key, ""), issue.language),
            "ask_url": f"{ask}/ask?paper={quote(p.key, safe='')}" if ask else "",
        })
    written_by = model_note(issue, L)
    return {
        "L": L, "lang": issue.language, "title": config.output.title, "issue_id": issue.id,
        "edition": edition, "compact": compact,
        "intro": standard_intro(issue, L), "preheader": _preheader(entries, L),
        "issue_intro": issue.intro, "model_note": written_by, "entries": entries,
        "overview": issue.overview,
        "online_url": issue_url(config, issue.id), "unsubscribe_url": unsubscribe, "preferences_url": preferences,
        "footer": L["footer_reason"].format(title=config.output.title),
        "unsubscribe_mailto": _unsubscribe_mailto(config.mail),
    }


def subject_for(config: Config, issue: Issue) -> str:
    """'Paper digest 2026-W47: 9 papers', in the issue's language."""
    L = labels(issue.language)
    n = len(issue.entries)
    key = "subject_one" if n == 1 else "subject"
    return L[key].format(title=config.output.title, issue=issue.id, count=n)


_INDENT = re.compile(r"\n[ \t]+(?=<)")


def render_parts(config: Config, issue: Issue, unsubscribe: str | None,
                 feedback: dict[str, dict[str, str]] | None = None, preferences: str | None = None,
                 why: dict[str, str] | None = None) -> tuple[str, str]:
    """The (text, html) bodies of an issue's email; `feedback` holds each paper's vote links, `why` the reason
    each paper is in a reader's own issue."""
    ctx = issue_context(config, issue, unsubscribe, feedback, preferences, why)
    env = template_env()
    # The HTML loses its template indentation (insignificant between tags): bytes a 10-paper issue keeps under
    # its 64 KiB target.
    html = _INDENT.sub("\n", env.get_template("email.html.j2").render(ctx))
    return env.get_template("email.txt.j2").render(ctx), html


# ---- messages -------------------------------------------------------------------------------------


def sender_address(mail: MailConfig) -> str:
    addr = parseaddr(mail.sender)[1]
    if not addr or "@" not in addr:
        raise DigestError(f"mail.sender {mail.sender!r} has no email address",
                          hint='set mail.sender, e.g. "Paper digest <digest@example.org>"')
    return addr


def _unsubscribe_mailto(mail: MailConfig) -> str:
    addr = mail.unsubscribe_mailto or parseaddr(mail.sender)[1]
    return f"mailto:{addr}?subject=unsubscribe" if addr else ""


# Headers set with set_raw() go out exactly as given; the others are still folded by the policy.
_RAW_AS_IS = SMTP_POLICY.clone(refold_source="none")


def message_id(config: Config, issue_id: str, rcpt: Recipient) -> str:
    """The same Message-ID every time for one (issue, subscriber), so a resend is recognisable."""
    who = f"{rcpt.subscriber_id}:{rcpt.email.lower()}"
    digest = hashlib.sha256(f"{issue_id}\0{who}".encode()).hexdigest()[:24]
    domain = sender_address(config.mail).rsplit("@", 1)[1]
    return f"<{issue_id}.{digest}@{domain}>"


def build_message(config: Config, issue: Issue, rcpt: Recipient, *, now: datetime | None = None) -> EmailMessage:
    """The multipart/alternative message of an issue for one recipient (text first, then HTML)."""
    data = IssueMail(config, issue).message_bytes(rcpt, now)[1]
    return message_from_bytes(data, policy=_RAW_AS_IS)  # type: ignore[return-value]


@dataclass
class _First:
    """The first recipient with a set of links: their links and full rendering, which the templates must give."""

    values: list[str]
    full: tuple[str, str]


class IssueMail:
    """An issue's email for many recipients: the templates rendered once, each recipient's own links put in.

    Recipients differ only in their links (unsubscribe, preferences, votes), so from the second recipient
    with a given set of links on, the bodies are rendered once with a marker in each link's place and
    encoded once but for the lines that hold a link (mime.BodyTemplate). That rendering is checked against
    the first recipient's full one: should a template ever transform a link, every message is rendered in
    full. `why` is a reader's own issue's reason per paper (digest.readers). Safe to share between threads.
    """

    def __init__(self, config: Config, issue: Issue, why: dict[str, str] | None = None):
        self.config, self.issue, self.why = config, issue, why or {}
        mail = config.mail
        # A random word in each link's place: no paper text can hold it, and no escaping changes it.
        self._mark = f"slot{secrets.token_hex(8)}n"
        # '=' never appears twice in a row in base64 or quoted-printable text, so no body can hold this.
        self._boundary = f"==============={secrets.randbelow(10**19):019d}=="
        # Per set of links: the first recipient's, then the templates (None: templates that did not fit).
        self._renderings: dict[tuple, _First | tuple[BodyTemplate, BodyTemplate] | None] = {}
        self._lock = threading.Lock()
        # The headers every recipient shares, folded once; each message adds its own To, Date, Message-ID
        # and List-Unsubscribe between them.
        top = EmailMessage(policy=_RAW_AS_IS)
        top["Subject"] = subject_for(config, issue)
        top["From"] = mail.sender
        rest = EmailMessage(policy=_RAW_AS_IS)
        if mail.reply_to:
            rest["Reply-To"] = mail.reply_to
        rest["List-Id"] = f"{config.output.title} <{mail.list_id}>"
        if mail.list_id:
            rest["Precedence"] = "bulk"
        self._top, self._rest = top.as_bytes()[:-2], rest.as_bytes()[:-2]

    def parts(self, rcpt: Recipient) -> tuple[str, str]:
        """The (text, html) bodies for one recipient: what render_parts gives with their links."""
        full, bodies, values = self._bodies(*self._links(rcpt))
        if full is not None:
            return full
        assert bodies is not None
        return bodies[0].text(values), bodies[1].text(_escaped(values))

    def message_bytes(self, rcpt: Recipient, now: datetime | None = None) -> tuple[str, bytes]:
        """(Message-ID, the message as it goes out, CRLF line ends) for one recipient."""
        links = self._links(rcpt)
        full, bodies, values = self._bodies(*links)
        if full is not None:
            payloads = []
            for subtype, body in zip(("plain", "html"), full):
                cte = transfer_encoding(body)
                payloads.append((subtype, cte, encode_body(body, cte)))
        else:
            assert bodies is not None
            payloads = [("plain", bodies[0].cte, bodies[0].encoded(values)),
                        ("html", bodies[1].cte, bodies[1].encoded(_escaped(values)))]
        mid = message_id(self.config, self.issue.id, rcpt)
        return mid, multipart_alternative(self._head(rcpt, links[0], mid, now), self._boundary, payloads)

    def _head(self, rcpt: Recipient, unsub: str | None, mid: str, now: datetime | None) -> bytes:
        own = EmailMessage(policy=_RAW_AS_IS)
        local, _, domain = rcpt.email.rpartition("@")
        own["To"] = Address(display_name=rcpt.name, username=local, domain=domain)
        head = [self._top, own.as_bytes()[:-2], b"Date: ", format_datetime(now or datetime.now(UTC)).encode("ascii"),
                b"\r\nMessage-ID: ", mid.encode("ascii"), b"\r\n", self._rest]
        links = [u for u in (_unsubscribe_mailto(self.config.mail), unsub) if u]
        if links:
            # Written pre-folded: the policy would turn a line over 78 characters into an RFC 2047
            # encoded-word, which mail providers do not read as a List-Unsubscribe URL.
            head += [b"List-Unsubscribe: ", list_unsubscribe_value(links).encode("ascii"), b"\r\n"]
        if unsub and unsub.lower().startswith("https://"):
            # RFC 8058: mail clients may POST this body to the HTTPS link to unsubscribe in one click.
            head.append(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
        return b"".join(head) + b"\r\n"

    def _links(self, rcpt: Recipient) -> tuple[str | None, dict[str, dict[str, str]], str | None]:
        return (unsubscribe_url(self.config, rcpt.token), feedback_links(self.config, self.issue, rcpt),
                preferences_url(self.config, rcpt))

    def _full(self, unsub: str | None, feedback: dict[str, dict[str, str]], prefs: str | None) -> tuple[str, str]:
        return render_parts(self.config, self.issue, unsub, feedback, prefs, self.why)

    def _bodies(self, unsub: str | None, feedback: dict[str, dict[str, str]], prefs: str | None
                ) -> tuple[tuple[str, str] | None, tuple[BodyTemplate, BodyTemplate] | None, list[str]]:
        """(the full rendering, or None) or (None, the templates), and the links in slot order."""
        keys = tuple(e.paper.key for e in self.issue.entries if e.paper.key in feedback)
        values = [u for u in (unsub, prefs) if u] + [feedback[k][v] for k in keys for v in ("more", "less")]
        shape = (bool(unsub), bool(prefs), keys)
        with self._lock:
            if shape not in self._renderings:
                # A reader's own issue may have this one recipient: a full rendering, nothing more.
                full = self._full(unsub, feedback, prefs)
                self._renderings[shape] = _First(values, full)
                return full, None, values
            known = self._renderings[shape]
            if isinstance(known, _First):
                known = self._renderings[shape] = self._templates(unsub, prefs, keys, known)
        if known is None:
            return self._full(unsub, feedback, prefs), None, values
        return None, known, values

    def _templates(self, unsub: str | None, prefs: str | None, keys: tuple[str, ...],
                   first: _First) -> tuple[BodyTemplate, BodyTemplate] | None:
        it = iter(f"{self._mark}{i}x" for i in range(len(first.values)))
        mark_unsub = next(it) if unsub else None
        mark_prefs = next(it) if prefs else None
        mark_feedback = {k: {"more": next(it), "less": next(it)} for k in keys}
        text, html = self._full(mark_unsub, mark_feedback, mark_prefs)
        marker = self._mark + "([0-9]+)x"
        bodies = BodyTemplate(text, marker), BodyTemplate(html, marker)
        return bodies if (bodies[0].text(first.values), bodies[1].text(_escaped(first.values))) == first.full else None


def _escaped(values: list[str]) -> list[str]:
    return [str(escape(v)) for v in values]  # what autoescape makes of a link in the HTML part


def html_part_sizes(msg: EmailMessage) -> tuple[int, int]:
    """(bytes of the HTML, bytes of the HTML part as encoded in the message): what Gmail's clip limit counts."""
    part = msg.get_body(("html",))
    if part is None:
        return 0, 0
    return len(part.get_content().encode("utf-8")), len(part.get_payload(decode=False).encode("ascii"))


def build_confirmation(config: Config, email: str, name: str, link: str, language: str) -> EmailMessage:
    """The double opt-in mail carrying the confirmation link (nothing else goes to a pending address)."""
    L = labels(language)
    title = config.output.title
    text = template_env().get_template("web/confirm_mail.txt.j2").render(
        L=L, title=title, email=email, link=link)
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["Subject"] = L["confirm_subject"].format(title=title)
    msg["From"] = config.mail.sender
    local, _, domain = email.rpartition("@")
    msg["To"] = Address(display_name=name, username=local, domain=domain)
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = f"<confirm.{hashlib.sha256(link.encode()).hexdigest()[:24]}@" \
                        f"{sender_address(config.mail).rsplit('@', 1)[1]}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text, subtype="plain", charset="utf-8")
    return msg
