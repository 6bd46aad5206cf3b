"""The arXiv API (arxiv-query: sources and metadata look-ups) through the `arxiv` package's Client."""

from __future__ import annotations

import io
import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlparse

import arxiv
import feedparser

from digest.config import Config, LimitsConfig
from digest.errors import FetchError, SourceError
from digest.http import UnreachableError, fetch, make_client, retry_after_seconds
from digest.records import Paper, split_arxiv_id
from digest.sources.api_answer import ApiCutOff, ApiNotAtom, whole_entries

log = logging.getLogger(__name__)

# What to do when the arXiv API cannot be reached at all, e.g. on a machine with no network.
OFFLINE_ADVICE = "offline, run on local PDFs: digest run --source dir:path/to/pdfs"


class ApiUnreachable(SourceError):
    """The arXiv API's host could not be reached at all; the message says how to run offline."""

    def __init__(self, source: str, host: str, reason: str):
        self.short = f"arXiv API unreachable ({host}): {reason}"
        # The advice is in the message itself: `digest run` reports a failed source by its message alone.
        super().__init__(source, f"{self.short}; {OFFLINE_ADVICE}", hint="check the network and arxiv.api_url")


class ApiRejected(Exception):
    """The API refused the request (a 4xx, or an error entry): retrying cannot help, the body says why."""

    def __init__(self, status: int, body: bytes):
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body


class ApiBusy(Exception):
    """The API asked (Retry-After) for a wait that would pass the deadline: waiting cannot help this run."""

    def __init__(self, status: int, wait: float):
        super().__init__(f"HTTP {status}, Retry-After {wait:.0f} s")
        self.status = status
        self.wait = wait


class ApiTimeUp(Exception):
    """The deadline of one API request, its retries included, passed before an answer came."""


@dataclass
class _PackageResponse:
    """The part of a requests.Response that arxiv.Client reads."""

    status_code: int
    content: bytes


class _Session:
    """Stands in for the requests.Session of arxiv.Client, whose only call is `get(url, headers=...)`."""

    def __init__(self, client: _ArxivClient):
        self.client = client

    def get(self, url: str, headers: dict[str, str] | None = None, **_) -> _PackageResponse:
        """One API request through digest.http (the package's own User-Agent header is not sent)."""
        return self.client.request(url)


class _ArxivClient(arxiv.Client):
    """arxiv.Client pointed at config.arxiv.api_url, with our HTTP limits, failing fast on 4xx with the API's message.

    arxiv 4.x lets the endpoint be set through the `query_url_format` attribute, so no URL code is
    overridden. The package's requests.Session has no timeout at all (a server that accepts and never
    answers hangs it for good), so its session is replaced by one that goes through digest.http:
    connect/read timeouts, a deadline per API page that covers the package's retries, a cap on the
    decompressed answer, and Retry-After honoured. The package turns every non-200 answer into an
    HTTPError without the body (so the API's "incorrect id format" message is lost) and retries it
    num_retries times, each after the 3 s delay, though a 400 will never succeed: ApiRejected is raised
    first, and like every exception of ours it is not one the package retries. A 200 answer reaches the
    package only as a whole Atom feed (api_answer.whole_entries); pages are walked by _pages, not by the
    package's loop, which knows no page cap and no repeated page.
    """

    def __init__(self, api_url: str, page_size: int, delay_seconds: float, limits: LimitsConfig):
        super().__init__(page_size=page_size, delay_seconds=delay_seconds, num_retries=3)
        self.query_url_format = api_url + "?{}"
        self.api_url = api_url
        self.host = urlparse(api_url).netloc or api_url
        self.deadline = float(limits.http_deadline)
        self.max_bytes = int(limits.feed_max_mb * 2**20)
        self.http = make_client(limits.http_timeout)
        self._session = _Session(self)
        self._until = 0.0  # monotonic time the current page must be answered by
        self._not_before = 0.0  # monotonic time before which the server asked not to be called again
        # One search at a time: the delay and the deadline are per client.
        self.lock = threading.Lock()
        # Why the last page answered ended early, and how many whole entries it kept (None: it was whole).
        self.cut: tuple[str, int] | None = None

    def _parse_feed(self, url: str, first_page: bool = True, _try_index: int = 0):
        # The package retries a page by calling this again with _try_index + 1: one deadline covers them all.
        if _try_index == 0:
            self._until = time.monotonic() + self.deadline
        return super()._parse_feed(url, first_page=first_page, _try_index=_try_index)

    def request(self, url: str) -> _PackageResponse:
        """GET one API page within what is left of the deadline; only a whole Atom feed (or its whole entries) is
        returned. Raises FetchError, ApiRejected, ApiBusy, ApiTimeUp, ApiNotAtom or ApiCutOff."""
        if self._not_before > self._until:
            raise ApiBusy(503, self._not_before - time.monotonic())
        pause = self._not_before - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        left = self._until - time.monotonic()
        if left <= 0:
            raise ApiTimeUp()
        try:
            r = fetch(self.http, url, deadline=left, max_bytes=self.max_bytes)
        finally:
            # The package records the request time only after a get that returns; keep the delay honest.
            self._last_request_dt = datetime.now()
        rejected = 400 <= r.status < 500 and r.status != 429
        # Older API versions answer 200 with the same error entry, which the package silently skips.
        if rejected or (r.status == 200 and b"/api/errors#" in r.body):
            raise ApiRejected(r.status, r.body)
        body, self.cut = whole_entries(r.body) if r.status == 200 else (r.body, None)
        wait = retry_after_seconds(r.headers) if r.status in (429, 503) else None
        if wait is not None:
            # Waiting the asked time is polite; waiting past the deadline would only hang the run.
            if time.monotonic() + max(wait, self.delay_seconds) > self._until:
                raise ApiBusy(r.status, wait)
            self._not_before = time.monotonic() + wait
        return _PackageResponse(r.status, body)


# One client per endpoint and settings, shared by every source in the process, so the
# delay between requests holds across sources (arXiv's terms: one request every 3 s).
_clients: dict[tuple, _ArxivClient] = {}
_clients_lock = threading.Lock()


def api_client(config: Config) -> _ArxivClient:
    """The shared arXiv API client for this config's endpoint, page size, delay and HTTP limits."""
    a, lim = config.arxiv, config.limits
    key = (a.api_url, a.api_page_size, a.api_delay_seconds, lim.http_timeout, lim.http_deadline, lim.feed_max_mb)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = _ArxivClient(a.api_url, a.api_page_size, a.api_delay_seconds, lim)
        return _clients[key]


def utc_iso(dt: datetime | None) -> str | None:
    """A datetime as ISO 8601 UTC with seconds ('2021-04-20T16:07:14+00:00'); naive means UTC."""
    if dt is None or dt.replace(tzinfo=None) == datetime.min:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).replace(microsecond=0).isoformat()


def _clean(text: str | None) -> str:
    return re.sub(r"\s+", " ", text or "").strip()


def paper_from_result(r: arxiv.Result, source: str, config: Config) -> Paper:
    """Map one arxiv.Result to a Paper (ValueError when its entry id is not an arXiv ID)."""
    aid, version = split_arxiv_id(r.get_short_id())
    vid = f"{aid}v{version}" if version else aid
    return Paper(
        key=aid, arxiv_id=aid, version=version,
        title=_clean(r.title),
        authors=[_clean(a.name) for a in r.authors if _clean(a.name)],
        abstract=_clean(r.summary),
        categories=list(dict.fromkeys(r.categories)),
        primary_category=r.primary_category or (r.categories[0] if r.categories else None),
        published=utc_iso(r.published), updated=utc_iso(r.updated),
        abs_url=config.arxiv.abs_url.format(id=vid), pdf_url=config.arxiv.pdf_url.format(id=vid),
        doi=_clean(r.doi) or None, comment=_clean(r.comment) or None,
        journal_ref=_clean(r.journal_ref) or None, source=source,
    )


def _api_error_message(body: bytes) -> str | None:
    """The text of the API's error entry ('incorrect id format for abc'), if the body has one."""
    d = feedparser.parse(io.BytesIO(body))
    for e in d.entries:
        if e.get("title", "").strip() == "Error" or "/api/errors" in e.get("id", ""):
            return _clean(e.get("summary")) or _clean(e.get("id"))
    return None


@dataclass
class ApiAnswer:
    """Papers from one API search, plus warnings (skipped entries, IDs not found, short pages)."""

    papers: list[Paper] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    not_looked_up: list[str] = field(default_factory=list)  # IDs past arxiv.api_max_ids


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _pages(client: _ArxivClient, search: arxiv.Search, source: str, answer: ApiAnswer,
           max_pages: int) -> Iterator[arxiv.Result]:
    """A search's results, page after page, until the total is reached, a page is empty, repeats or
    comes back cut off, or max_pages were read; every early stop but the total is said in a warning."""
    offset, pages, total, last_ids = 0, 0, 0, None
    while search.max_results is None or offset < search.max_results:
        size = client.page_size if search.max_results is None else min(client.page_size, search.max_results - offset)
        if pages == max_pages:
            answer.warnings.append(
                f"stopped after {_plural(pages, 'page')} of the arXiv API answer (arxiv.api_max_pages = {max_pages}): "
                f"{offset:,} of {total:,} results read, newest first; the {total - offset:,} older ones left out "
                "(narrow the query, or raise arxiv.api_max_pages)")
            return
        try:
            feed = client._parse_feed(client._format_url(search, offset, size), first_page=pages == 0)
        except ApiCutOff as e:
            if offset == 0:
                raise SourceError(source, f"arXiv API ({client.api_url}) answer broke off before its first whole "
                                          f"entry ({e.reason}); try again later") from None
            answer.warnings.append(f"the arXiv API answer broke off on page {pages + 1} ({e.reason}): "
                                   f"{offset:,} results read before it, the rest left out; results are incomplete")
            return
        pages += 1
        ids = [r.entry_id for r in feed.results]
        if not ids:  # only a first page: the package retries an empty later one, then raises
            if feed.header.total_results > offset:
                answer.warnings.append(f"the arXiv API answered page {pages} with no entries though it counts "
                                       f"{feed.header.total_results:,} results; results are incomplete (try again later)")
            return
        if ids == last_ids:  # a server that ignores `start` would otherwise be asked max_pages times
            answer.warnings.append(f"the arXiv API answered page {pages} with page {pages - 1} again: stopped "
                                   f"after {offset:,} results; results may be incomplete")
            return
        last_ids = ids
        yield from feed.results
        offset += len(ids)
        total = feed.header.total_results
        if client.cut:
            reason, kept = client.cut
            answer.warnings.append(f"the arXiv API answer broke off on page {pages} ({reason}): {offset:,} results "
                                   f"read ({kept:,} of them from that page), the rest left out; results are incomplete")
            return
        if offset >= total:
            return


class _PackageLog(logging.Handler):
    """The arxiv package's warnings during one search (a skipped entry...), as the answer's warnings.

    Left to themselves they are raw log lines on stderr ("Malformed feed; consider handling: ...").
    """

    def __init__(self, answer: ApiAnswer):
        super().__init__(logging.WARNING)
        self.answer = answer
        self.thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        """Keep a record of this thread's search; another thread's is not ours to report."""
        if record.thread == self.thread:
            self.answer.warnings.append(f"arXiv API answer: {_clean(record.getMessage())}")


def _run_search(client: _ArxivClient, search: arxiv.Search, source: str, config: Config, answer: ApiAnswer,
                *, since_iso: str | None) -> None:
    """Collect one search's results into `answer`, turning the package's failures into SourceError."""
    read = len(answer.papers)
    try:
        for r in _pages(client, search, source, answer, max(1, config.arxiv.api_max_pages)):
            if "/api/errors" in r.entry_id or (r.title.strip() == "Error" and "/abs/" not in r.entry_id):
                raise SourceError(source, f"arXiv API error: {_clean(r.summary)}",
                                  hint="check the query syntax (see arxiv.org/help/api)")
            try:
                p = paper_from_result(r, source, config)
            except ValueError:
                answer.warnings.append(f"skipped an entry with an unexpected id {r.entry_id!r}")
                continue
            if since_iso and p.published and p.published < since_iso:
                break
            answer.papers.append(p)
    except ApiNotAtom as e:
        # The fix is in the message itself: `digest fetch` and `run` report a failed source by its message alone.
        raise SourceError(source, f"arXiv API ({client.api_url}) answered HTTP 200 with {e.what}, not an Atom feed; "
                                  "check arxiv.api_url (a proxy or login page may be answering for the API)") from None
    except ApiRejected as e:
        msg = _api_error_message(e.body) or f"HTTP {e.status}"
        raise SourceError(source, f"arXiv API rejected the request: {msg}",
                          hint="check the query or the arXiv IDs") from None
    except ApiBusy as e:
        raise SourceError(source, f"arXiv API ({client.host}) busy: HTTP {e.status} asking to wait {e.wait:.0f} s "
                                  f"(Retry-After), past the {client.deadline:.0f} s deadline (limits.http_deadline); "
                                  "gave up", hint="try again later") from None
    except ApiTimeUp:
        raise SourceError(source, f"arXiv API ({client.host}) gave no answer within {client.deadline:.0f} s, "
                                  "retries included (limits.http_deadline)", hint="try again later") from None
    except arxiv.HTTPError as e:
        raise SourceError(source, f"arXiv API ({client.host}) answered HTTP {e.status} after retries",
                          hint="try again later") from None
    except arxiv.UnexpectedEmptyPageError:
        answer.warnings.append(f"the arXiv API returned an empty page after {len(answer.papers) - read:,} results; "
                               "results are incomplete")
    except UnreachableError as e:
        raise ApiUnreachable(source, client.host, e.reason) from None
    except FetchError as e:
        raise SourceError(source, f"arXiv API ({client.host}) failed: {e.message.removeprefix(e.url + ': ')}",
                          hint=e.hint or "try again later") from None


def query_api(config: Config, source: str, *, query: str = "", id_list: list[str] | None = None,
              since: datetime | None = None) -> ApiAnswer:
    """Run one arXiv API search or id_list look-up; raises SourceError when the API cannot answer.

    At most arxiv.api_max_ids IDs are looked up (the rest are in `not_looked_up`), and a search reads
    at most arxiv.api_max_pages pages: a request takes api_delay_seconds, so neither runs for an hour.
    """
    client = api_client(config)
    page = max(1, config.arxiv.api_page_size)
    answer = ApiAnswer()
    ids = list(id_list or [])
    ids, answer.not_looked_up = ids[:config.arxiv.api_max_ids], ids[config.arxiv.api_max_ids:]
    since_iso = utc_iso(since)
    if ids:
        # The API takes long id_lists, but keep each request to one page of results.
        searches = [arxiv.Search(id_list=ids[i:i + page], max_results=len(ids[i:i + page]))
                    for i in range(0, len(ids), page)]
    else:
        # Newest submissions first: a digest wants this week's papers; with `since` we page back
        # until older ones appear (at most arxiv.api_max_pages pages), else one page is read.
        searches = [arxiv.Search(query=query, max_results=page if since is None else None,
                                 sort_by=arxiv.SortCriterion.SubmittedDate,
                                 sort_order=arxiv.SortOrder.Descending)]
    package_log = logging.getLogger("arxiv")
    collect = _PackageLog(answer)
    with client.lock:
        package_log.addHandler(collect)
        try:
            for search in searches:
                _run_search(client, search, source, config, answer, since_iso=None if ids else since_iso)
        finally:
            package_log.removeHandler(collect)
    if ids:
        found = {p.arxiv_id for p in answer.papers}
        missing = [i for i in ids if split_arxiv_id(i)[0] not in found]
        if missing:
            more = f" and {len(missing) - 10:,} more" if len(missing) > 10 else ""
            answer.warnings.append(f"{len(missing):,} of {len(ids):,} IDs not found on arXiv: "
                                   + ", ".join(missing[:10]) + more)
    return answer
