"""A reader's preferences page in `digest serve`, reached by the signed link every email carries.

GET shows the reader's keywords, authors, categories, issue length and how many library papers
they keep; POST changes them (a library file is optional). A forged or altered token, another
subscriber's, and an unsubscribed reader's are all the same 404: the page tells a stranger nothing.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from flask import Flask, Response, redirect, request
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from digest.categories import CATEGORY_RE, NAMES
from digest.config import Config
from digest.errors import DigestError
from digest.i18n import labels
from digest.mail.preferences import subscriber_for_token
from digest.mail.subscribers import Subscriber
from digest.readers import ReaderInterests, get_interests, parse_library, set_interests
from digest.store import Store

_KNOWN_CATEGORIES = {code.casefold(): code for code in NAMES}  # 'cs.cl' typed is arXiv's 'cs.CL'
LIBRARY_MAX_BYTES = 2 * 1024 * 1024  # a Zotero export of a few thousand items with abstracts
# The bounds digest.readers keeps (which the operator's own command may fill), so that what the operator set
# can always be saved back unchanged; said here in the page's language before the store refuses it.
MAX_TERMS = 200  # keywords, authors or categories
MAX_TERM_CHARS = 200
MAX_PAPERS = 100  # a reader's own issue size


# ---- the form -----------------------------------------------------------------------------------


@dataclass
class _Form:
    """What the page's fields hold, as the reader typed them (shown again when something is wrong)."""

    keywords: str = ""
    authors: str = ""
    categories: str = ""
    max_papers: str = ""


def _form_of(interests: ReaderInterests) -> _Form:
    return _Form(keywords="\n".join(interests.keywords), authors="\n".join(interests.authors),
                 categories=" ".join(interests.categories),
                 max_papers="" if interests.max_papers is None else str(interests.max_papers))


def _terms(text: str, separators: str) -> list[str]:
    """Distinct entries of a field (case-insensitively, first spelling kept), each on one line of bounded length."""
    seen: dict[str, str] = {}
    for raw in re.split(f"[{separators}]", text):
        term = " ".join("".join(c if c.isprintable() else " " for c in raw).split())
        if term:
            seen.setdefault(term.casefold(), term)
    return list(seen.values())


def _parse(form: _Form, L: dict[str, str]) -> tuple[list[str], list[str], list[str], int | None]:
    """(keywords, authors, categories, max papers) of a submitted form; raises DigestError naming the field."""
    # Japanese commas and semicolons part entries too. "Doe, Jane" is one author: only lines and semicolons
    # part authors.
    keywords = _terms(form.keywords, "\n,;、，；")
    authors = _terms(form.authors, "\n;；")
    categories = [_KNOWN_CATEGORIES.get(c.casefold(), c) for c in _terms(form.categories, "\n,;、，； \t\u3000")]
    for name, values in (("keywords", keywords), ("authors", authors), ("categories", categories)):
        if len(values) > MAX_TERMS or any(len(v) > MAX_TERM_CHARS for v in values):
            raise DigestError(L["web_prefs_too_many"].format(
                field=L[f"web_prefs_{name}"], count=MAX_TERMS, chars=MAX_TERM_CHARS))
    bad = [c for c in categories if not CATEGORY_RE.match(c)]
    if bad:
        raise DigestError(L["web_prefs_bad_category"].format(category=bad[0]))
    max_papers = None
    if form.max_papers.strip():
        text = form.max_papers.strip()
        if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_PAPERS:
            raise DigestError(L["web_prefs_bad_max"].format(max=MAX_PAPERS))
        max_papers = int(text)
    return keywords, authors, categories, max_papers


def _library(upload: FileStorage | None, L: dict[str, str]) -> list[dict] | None:
    """The items of an uploaded library file; None when no file was chosen. Raises DigestError when unreadable."""
    if upload is None or not upload.filename:
        return None
    data = upload.stream.read(LIBRARY_MAX_BYTES + 1)
    if len(data) > LIBRARY_MAX_BYTES:
        raise DigestError(L["web_prefs_library_too_big"].format(mb=LIBRARY_MAX_BYTES // (1024 * 1024)))
    try:
        items = parse_library(data.decode("utf-8-sig"), upload.filename)
    except (UnicodeDecodeError, DigestError, ValueError):
        items = []
    if not items:
        raise DigestError(L["web_prefs_library_unreadable"])
    return items


def _same_origin(config: Config) -> bool:
    """False for a POST a browser says came from another site (a page elsewhere submitting to us).

    The token in the URL is what keeps strangers out; this only refuses what a browser labels cross-site.
    Our pages send no referrer, so browsers send our own form with `Origin: null`: only Sec-Fetch-Site and
    a real Origin can tell.
    """
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin", "null")
    if origin == "null":
        return True
    ours = {f"{u.scheme}://{u.netloc}".lower() for u in (urlsplit(request.host_url), urlsplit(config.web.public_url))
            if u.netloc}
    return origin.rstrip("/").lower() in ours


# ---- the page -----------------------------------------------------------------------------------


def register(app: Flask, config: Config, store: Store, page: Callable[..., Response]) -> None:
    """Add GET/POST /preferences/<token> to `digest serve`'s app; `page` renders a web/ template."""
    L = labels(config.output.language)

    def invalid() -> Response:
        return page("message", 404, text=L["web_invalid_link"])

    def show(token: str, sub: Subscriber, form: _Form, library: int, *, status: int = 200,
             error: str = "", saved: bool = False) -> Response:
        return page("preferences", status, token=token, email=sub.email, form=form, library_count=library,
                    editor_max=config.selection.max_papers, max_papers_cap=MAX_PAPERS,
                    library_mb=LIBRARY_MAX_BYTES // (1024 * 1024), error=error, saved=saved)

    @app.get("/preferences/<token>")
    def preferences_form(token: str) -> Response:
        sub = subscriber_for_token(store, token)
        if sub is None:
            return invalid()
        interests = get_interests(store, sub.id)
        return show(token, sub, _form_of(interests), len(interests.library), saved=request.args.get("saved") == "1")

    @app.post("/preferences/<token>")
    def preferences_post(token: str) -> Response:
        sub = subscriber_for_token(store, token)
        if sub is None:
            return invalid()
        if not _same_origin(config):
            return page("message", 403, text=L["web_prefs_cross_site"])
        # The whole app takes small forms only; this page alone may carry a library file.
        request.max_content_length = LIBRARY_MAX_BYTES + 256 * 1024
        current = get_interests(store, sub.id)
        try:
            fields = request.form
            upload = request.files.get("library")
        except RequestEntityTooLarge:
            return show(token, sub, _form_of(current), len(current.library), status=413,
                        error=L["web_prefs_library_too_big"].format(mb=LIBRARY_MAX_BYTES // (1024 * 1024)))
        # The token travels in the form too: a POST to this URL must come from the page it shows.
        if not hmac.compare_digest(fields.get("token", "").encode(), token.encode()):
            return invalid()
        form = _Form(**{k: fields.get(k, "")[:64_000] for k in ("keywords", "authors", "categories", "max_papers")})
        try:
            keywords, authors, categories, max_papers = _parse(form, L)
            library = _library(upload, L)
        except DigestError as e:
            return show(token, sub, form, len(current.library), status=400, error=e.message)
        if library is None:
            library = [] if fields.get("clear_library") else current.library
        try:
            set_interests(store, sub.id, ReaderInterests(keywords=keywords, authors=authors, categories=categories,
                                                          library=library, max_papers=max_papers))
        except DigestError as e:  # a bound of the store's this page does not know of
            return show(token, sub, form, len(current.library), status=400, error=e.message)
        # Post/Redirect/Get: reloading the page that says "Saved" must not send the form (and a library) again.
        # Relative, so a proxy's path prefix in front of `digest serve` is kept.
        return redirect(f"{quote(token, safe='')}?saved=1", 303)
