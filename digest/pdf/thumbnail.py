"""First-page thumbnails of papers, as arxiv-sanity shows them: rendered once, kept in the cache, copied to the site.

A thumbnail is the top of page 1 (title, authors, abstract, often the first figure) as a 300 x 400
JPEG of some 20-40 KB, named after the paper version (<cache>/thumbs/2611.01234v2.jpg), so a new
version gets a new picture and an old one is never rendered again. Rendering (pypdfium2) happens in
a child process with a time, CPU and memory limit (digest.pdf.thumbnail_child): a broken or hostile
PDF costs one missing thumbnail, never the run. A PDF that cannot be rendered leaves a `.failed`
note beside, so it is not tried again at every build; delete the note to retry.

Thumbnails are made when they are first needed: by `digest send` (the email shows one per paper
when the site is public) and by `digest archive build` (which copies them into <site>/thumbs/).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from digest.config import Config
from digest.errors import FetchError
from digest.pdf.download import cached_pdf_name
from digest.records import Paper

THUMB_WIDTH = 300
THUMB_HEIGHT = 400  # every thumbnail is 3:4, so a page can give <img> its size without reading the file
THUMBS_DIR = "thumbs"
_TIMEOUT = 30.0  # seconds of wall time per PDF; a first page renders in well under one
_MEMORY_MB = 768
_FAILED = ".failed"  # suffix of the note left beside a thumbnail that could not be rendered


def thumbnail_name(paper: Paper) -> str:
    """The file name of a paper version's thumbnail: '2611.01234v2.jpg', or a hash of key and version."""
    if paper.arxiv_id:
        stem = paper.versioned_id.replace("/", "_")
    else:
        stem = hashlib.sha256(f"{paper.key}\0{paper.version}".encode()).hexdigest()[:24]
    return f"{stem}.jpg"


def thumbnail_path(config: Config, paper: Paper) -> Path:
    """Where the paper version's thumbnail is cached."""
    return config.cache_dir / THUMBS_DIR / thumbnail_name(paper)


def source_pdf(config: Config, paper: Paper, cache: tuple[Path, set[str]] | None = None) -> Path | None:
    """The paper's PDF on disk (the download cache, or a dir: paper's own file), None when there is none.

    `cache`, the cache folder and the names in it, saves a look at the disk per paper on a large archive.
    """
    if paper.local_pdf:
        path = Path(paper.local_pdf)
        return path if path.is_file() else None
    try:
        name = cached_pdf_name(paper)
    except FetchError:
        return None
    if cache is None:
        path = config.cache_dir / name
        return path if path.is_file() else None
    return cache[0] / name if name in cache[1] else None


def ensure_thumbnails(config: Config, papers: list[Paper]) -> dict[str, Path]:
    """Paper key -> its cached thumbnail, rendering the missing ones (in parallel child processes).

    Papers without a PDF on disk, or whose PDF could not be rendered, are left out.
    """
    folder, names = _ensure(config, papers)
    return {key: folder / name for key, name in names.items()}


def _ensure(config: Config, papers: list[Paper]) -> tuple[Path, dict[str, str]]:
    # Names, not paths, per paper: on a 5,000-paper archive building a Path each would cost more
    # than the whole check.
    cache_dir = config.cache_dir
    folder = cache_dir / THUMBS_DIR
    have = _names(folder)
    pdfs: tuple[Path, set[str]] | None = None
    found: dict[str, str] = {}
    todo: dict[str, tuple[Path, Path]] = {}  # thumbnail name -> (PDF, thumbnail)
    for p in papers:
        name = thumbnail_name(p)
        if name in have:
            found[p.key] = name
        elif name + _FAILED not in have and name not in todo:
            pdfs = (cache_dir, _names(cache_dir)) if pdfs is None else pdfs
            pdf = source_pdf(config, p, pdfs)
            if pdf is not None:
                todo[name] = (pdf, folder / name)
    if todo:
        folder.mkdir(parents=True, exist_ok=True)
        jobs = sorted(todo.items())
        with ThreadPoolExecutor(max_workers=max(1, min(config.limits.workers, len(jobs)))) as pool:
            done = {name for (name, _), ok in zip(jobs, pool.map(lambda j: render_thumbnail(*j[1]), jobs)) if ok}
        for p in papers:
            if thumbnail_name(p) in done:
                found[p.key] = thumbnail_name(p)
    return folder, found


def render_thumbnail(pdf: Path, out: Path, *, timeout: float = _TIMEOUT) -> bool:
    """Render `pdf`'s first page into `out` in a limited child process; False (and a .failed note) if it cannot."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    cmd = [sys.executable, "-m", "digest.pdf.thumbnail_child", str(pdf), str(tmp), str(THUMB_WIDTH),
           str(THUMB_HEIGHT), str(_MEMORY_MB), str(max(1, int(timeout)))]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_child_env(),
                              stdin=subprocess.DEVNULL)
        reason = proc.stderr.strip()[-200:] or f"exit status {proc.returncode}"
        ok = proc.returncode == 0 and tmp.is_file() and tmp.stat().st_size > 0
    except subprocess.TimeoutExpired:  # run() has killed the child
        ok, reason = False, f"timed out after {timeout:.0f} s"
    if ok:
        tmp.replace(out)
        return True
    tmp.unlink(missing_ok=True)
    _failed_note(out).write_text(reason + "\n", encoding="utf-8")
    return False


def publish_thumbnails(config: Config, papers: list[Paper], site_dir: Path) -> dict[str, str]:
    """Copy the papers' thumbnails into <site_dir>/thumbs/ (rendering missing ones); paper key -> site path.

    A file already there is left alone (its name fixes its content), and thumbnails of papers no
    longer on the site are removed, so a rebuild with nothing new writes nothing and looks at each
    folder once, not at each paper's files.
    """
    source, cached = _ensure(config, papers)
    folder = site_dir / THUMBS_DIR
    wanted = set(cached.values())
    present = _names(folder)
    for name in sorted(wanted - present):
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{name}.tmp"
        tmp.write_bytes((source / name).read_bytes())
        tmp.replace(folder / name)
    for name in sorted(present):
        if name.endswith(".jpg") and name not in wanted:
            (folder / name).unlink()
    return {key: f"{THUMBS_DIR}/{name}" for key, name in sorted(cached.items())}


def _names(folder: Path) -> set[str]:
    try:
        return set(os.listdir(folder))
    except OSError:  # not there yet
        return set()


def _failed_note(out: Path) -> Path:
    return out.with_name(out.name + _FAILED)


def _child_env() -> dict[str, str]:
    # The child imports this checkout's digest package first, as the extraction workers do.
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env
