"""Incremental archive builds: a manifest of what each output file was rendered from.

The manifest (`.build-manifest.json` in the site folder) records the store's signature, a fingerprint of
everything besides the store that shapes the output (templates, static files, package version, settings),
and per output file a fingerprint of the data it shows. A build with the same signature and environment
renders nothing; otherwise only the files whose fingerprint changed (or that are missing) are rendered.
Deleting the manifest just makes the next build render everything again.

A build is made visible as a whole by a journal rather than by a temp file and a rename per file. Before it
writes any page, a build names every page it is about to write in `.build-journal` (written whole, by a
rename); then it writes them, removes stale pages, writes the new manifest (by a rename) and only then
removes the journal. A build killed at any point leaves the journal behind, and the next build treats each
page it names as never built: rendered and written again, whatever the old manifest said (see
`BuildManifest.read`). Why not a staging folder swapped in: the site is one folder of ~13,000 files a web
server serves, and a swap needs a copy of the unchanged ones or a rename per file, which is what cost 2-7 s
under load. Files that already exist are still replaced by a rename, so a reader never sees a live page
half-written (an incremental build writes a few dozen of those); new files, all of a first build's, are
written in place, since nothing served them before and the journal repairs a torn one.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import re
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import digest
from digest.archive.search_shards import SEARCH_DIR
from digest.archive.workers import run_shares, split, worker_count

MANIFEST_NAME = ".build-manifest.json"
JOURNAL_NAME = ".build-journal"
EVERY_PAGE = "*"  # in a journal: every page of the site
_FORMAT = 1
# Tests only: the build kills itself (SIGKILL) once it has written this many pages, to show a killed build
# is repaired by the next one.
KILL_AFTER_ENV = "DIGEST_TEST_ARCHIVE_KILL_AFTER"
# What remove_stale may remove: our own kinds of files in our own folders.
_MANAGED_DIRS = ("issues", "papers", "categories", "authors", "static", "page", "compare", SEARCH_DIR)
_YEAR_DIR = re.compile(r"\d{4}$")  # 2026/index.html: the page of a year
_MANAGED_SUFFIXES = (".html", ".js", ".css", ".xml", ".bib", ".ris", ".json")


def fingerprint(*parts: object) -> str:
    """A short stable hash of the repr of some data (records are dataclasses: their repr is their content)."""
    return hashlib.sha1(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()[:20]


def tree_fingerprint(*folders: Path) -> str:
    """A hash of every file (name and bytes) under some folders: templates and static files."""
    h = hashlib.sha1(digest.__version__.encode())
    for folder in folders:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                h.update(f.relative_to(folder).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:20]


@dataclass
class BuildManifest:
    """What the previous build produced, and from what."""

    signature: str = ""
    environment: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    pages: dict[str, str] = field(default_factory=dict)  # path relative to the site -> fingerprint
    # Watched author -> the keys of the papers listed under them: the next build tests only the papers whose
    # pages' fingerprints changed since, as testing names is slow.
    authors: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def read(cls, site_dir: Path) -> BuildManifest:
        """The manifest of the last build, or an empty one (then everything is rendered); the pages a killed
        build was writing are left out of it, so they are rendered and written again."""
        try:
            data = json.loads((site_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
            if data.get("format") != _FORMAT:
                return cls()
            manifest = cls(signature=data["signature"], environment=data["environment"],
                           counts=dict(data["counts"]), pages=dict(data["pages"]), authors=dict(data.get("authors", {})))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return cls()
        torn = read_journal(site_dir)
        if torn is not None and EVERY_PAGE in torn:
            return cls()
        if torn is not None:
            manifest.signature = ""  # never "nothing changed": the pages it names must be written again
            for rel in torn:
                manifest.pages.pop(rel, None)
        return manifest

    def write(self, site_dir: Path) -> None:
        """Save the manifest (atomically: a killed build leaves the old one or the new one)."""
        data = {"format": _FORMAT, "signature": self.signature, "environment": self.environment,
                "counts": self.counts, "pages": dict(sorted(self.pages.items())), "authors": self.authors}
        path = site_dir / MANIFEST_NAME
        tmp = path.with_name(path.name + ".tmp")
        site_dir.mkdir(parents=True, exist_ok=True)
        # One line: with an indent json uses its pure-Python encoder, a tenth of a one-issue rebuild.
        tmp.write_text(json.dumps(data, sort_keys=True, separators=(",", ":")), encoding="utf-8")
        tmp.replace(path)
        # The build is whole only now: its pages stop counting as torn.
        (site_dir / JOURNAL_NAME).unlink(missing_ok=True)

    def is_current(self, signature: str, environment: str, site_dir: Path) -> bool:
        """True if nothing changed since the last build and every file it produced is still there."""
        if not self.pages or signature != self.signature or environment != self.environment:
            return False
        return all(os.path.isfile(os.path.join(site_dir, rel)) for rel in self.pages)


def read_journal(site_dir: Path) -> list[str] | None:
    """The pages a build that did not finish was writing, or None if the last build finished."""
    try:
        return json.loads((site_dir / JOURNAL_NAME).read_text(encoding="utf-8"))["pages"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return [EVERY_PAGE]  # unreadable (it is written whole, so hardly ever): every page is written again


def write_journal(site_dir: Path, rels: list[str]) -> None:
    """Name the pages a build is about to write (whole or not at all), adding to a killed build's."""
    torn = read_journal(site_dir) or []
    for rel in torn:  # a live page's replacement the killed build left half-written
        page = Path(site_dir, rel)
        page.with_name(f".{page.name}.tmp").unlink(missing_ok=True)
    path = site_dir / JOURNAL_NAME
    tmp = path.with_name(path.name + ".tmp")
    site_dir.mkdir(parents=True, exist_ok=True)
    tmp.write_text(json.dumps({"pages": sorted(set(torn) | set(rels))}), encoding="utf-8")
    tmp.replace(path)


@dataclass
class ShareWritten:
    """What rendering one share of the pages did (see digest.archive.workers)."""

    written: int = 0
    unchanged: int = 0
    written_paths: list[str] = field(default_factory=list)
    render_s: float = 0.0  # seconds spent rendering, and writing (with comparing to the bytes there)
    write_s: float = 0.0


@dataclass
class PageWriter:
    """Renders a page only when its fingerprint changed, and writes it only when its bytes changed.

    `page()` only notes what to render; `render_pending()` renders them all, in worker processes when
    there are many (a first build), so every page's data must be loaded before it is called.
    """

    site_dir: Path
    previous: dict[str, str]
    encode: Callable[[str], bytes]  # a rendered page as the bytes to write
    pages: dict[str, str] = field(default_factory=dict)
    rendered: int = 0
    written: int = 0
    unchanged: int = 0
    written_paths: list[str] = field(default_factory=list)
    rendered_paths: list[str] = field(default_factory=list)  # relative to the site folder
    folders: dict[Path, set[str]] = field(default_factory=dict)  # the files in each folder before writing
    pending: list[tuple[str, Callable[[], str]]] = field(default_factory=list)
    needed: set[str] = field(default_factory=set)  # the papers whose write-ups the pending pages show
    shown: set[str] = field(default_factory=set)  # the papers the pending pages show anything of
    listed: dict[str, set[str]] = field(default_factory=dict)  # folder relative to the site -> its files
    render_s: float = 0.0  # seconds, summed over the processes (bench/archive.py reports them)
    write_s: float = 0.0

    def page(self, rel: str, fp: str, render: Callable[[], str], needs: Iterable[str] = (),
             shows: Iterable[str] = ()) -> None:
        """Produce the file `rel` (relative to the site folder) whose content `fp` fingerprints, showing the
        write-ups of the papers `needs` and something of the papers `shows` (both loaded before rendering, for
        the pages rendered only)."""
        self.pages[rel] = fp
        if self.previous.get(rel) == fp and self._is_there(rel):
            self.unchanged += 1
            return
        self.rendered += 1
        self.rendered_paths.append(rel)
        self.pending.append((rel, render))
        self.needed.update(needs)
        self.shown.update(needs)
        self.shown.update(shows)

    def _is_there(self, rel: str) -> bool:
        # One listing per folder instead of a stat per page: a rebuild looks at 8,000 of them.
        folder, _, name = rel.rpartition("/")
        if not folder or ".." in folder:
            return os.path.isfile(os.path.join(self.site_dir, rel))
        if folder not in self.listed:
            self.listed[folder] = self._existing(Path(self.site_dir, folder))
        return name in self.listed[folder]

    def render_pending(self, workers: int = 0) -> int:
        """Render and write every page noted since the last call, in `workers` processes (0 = as the CPUs
        allow); the number of processes used."""
        jobs, self.pending = self.pending, []
        if jobs:
            write_journal(self.site_dir, [rel for rel, _ in jobs])
        shares = split(jobs, worker_count(len(jobs), workers))
        for share in run_shares(shares, self._render_share):
            self.written += share.written
            self.unchanged += share.unchanged
            self.written_paths += share.written_paths
            self.render_s += share.render_s
            self.write_s += share.write_s
        return max(1, len(shares))

    def _render_share(self, jobs: list[tuple[str, Callable[[], str]]]) -> ShareWritten:
        out = ShareWritten()
        for rel, render in jobs:
            path = Path(self.site_dir, rel)
            t0 = time.perf_counter()
            text = render()
            t1 = time.perf_counter()
            if self._write(path, text):
                out.written += 1
                out.written_paths.append(str(path))
            else:
                out.unchanged += 1
            out.render_s += t1 - t0
            out.write_s += time.perf_counter() - t1
        return out

    def _write(self, path: Path, text: str) -> bool:
        """Write a file unless it already holds these bytes; True if it was written."""
        data = self.encode(text)
        if path.name in self._existing(path.parent):
            try:
                if path.read_bytes() == data:
                    return False
            except FileNotFoundError:
                pass
            # A live page is replaced whole, so a reader never sees it half-written (see the module's doc).
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        else:
            path.write_bytes(data)
        _count_write()
        return True

    def _existing(self, folder: Path) -> set[str]:
        # One listing per folder instead of a failed open per new file (slow on some file systems).
        if folder not in self.folders:
            folder.mkdir(parents=True, exist_ok=True)
            self.folders[folder] = {e.name for e in os.scandir(folder)}
        return self.folders[folder]


def read_json(path: Path) -> dict:
    """A JSON object kept in a file, or an empty one if there is none or it cannot be read."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # none yet, or torn: made again
        return {}
    return data if isinstance(data, dict) else {}


def write_json(path: Path, data: dict) -> None:
    """Keep a JSON object in a file, whole or not at all; a folder that cannot be written keeps nothing."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
        tmp.replace(path)
    except OSError:  # a cache folder we may not write: the entries are made again next time
        pass


def file_names(folder: Path) -> set[str]:
    """The names of the files in a folder (none if it is not there)."""
    try:
        return {e.name for e in os.scandir(folder) if e.is_file()}
    except OSError:  # not there yet
        return set()


@contextmanager
def no_collections() -> Iterator[bool]:
    """Python's cyclic garbage collector kept off while a build loads and fingerprints: what it makes lives
    until the build ends and holds no cycles, and full collections over it were a quarter of a rebuild."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield enabled
    finally:
        if enabled:
            gc.enable()


def remove_stale(site_dir: Path, produced: set[str], listed: dict[str, set[str]] | None = None) -> int:
    """Remove the site's files no build produced any more; how many. Only our own kinds of files in our own
    folders: anything a user put beside them stays. `listed` holds folders' files as a build found them
    before writing (what it wrote since is produced, never stale)."""
    removed = 0
    if not site_dir.is_dir():
        return 0
    listed = listed or {}
    dirs = [d.name for d in os.scandir(site_dir) if d.is_dir() and (d.name in _MANAGED_DIRS or _YEAR_DIR.match(d.name))]
    for sub in sorted(dirs):
        names = listed[sub] if sub in listed else {f.name for f in os.scandir(site_dir / sub)}
        for name in sorted(n for n in names if n.endswith(_MANAGED_SUFFIXES) and f"{sub}/{n}" not in produced):
            path = os.path.join(site_dir, sub, name)
            if os.path.splitext(name)[1] in _MANAGED_SUFFIXES and os.path.isfile(path):
                os.unlink(path)
                removed += 1
    return removed


_kill_after = [int(os.environ.get(KILL_AFTER_ENV) or 0)]


def _count_write() -> None:
    if _kill_after[0] > 0:
        _kill_after[0] -= 1
        if _kill_after[0] == 0:
            os.kill(os.getpid(), signal.SIGKILL)


# The control characters XML forbids, as UTF-8 bytes: none is part of a longer UTF-8 sequence, so they can
# be deleted from the encoded page (as fast as a copy); U+FFFE and U+FFFF are three bytes each.
_XML_ILLEGAL_BYTES = bytes(c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D))
_NONCHARACTERS = (b"\xef\xbf\xbe", b"\xef\xbf\xbf")


def xml_safe_bytes(text: str) -> bytes:
    """A page as UTF-8, without the characters XML forbids (PDF extraction leaves some behind)."""
    data = text.encode("utf-8").translate(None, _XML_ILLEGAL_BYTES)
    for bad in _NONCHARACTERS:
        if bad in data:
            data = data.replace(bad, b"")
    return data
