"""Where the bundled prompt and output templates are, and the one way templates are loaded."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import jinja2

_PKG = Path(__file__).resolve().parent


def bundled_dir(name: str) -> Path:
    """The bundled `prompts` or `templates` folder (top of a checkout, or inside the installed package)."""
    for candidate in (_PKG.parent / name, _PKG / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"bundled folder {name!r} is missing from the installation")


def jinja_environment(folders: Path | str | Sequence[Path | str], *, autoescape: bool | Sequence[str] = False,
                 trim_blocks: bool = False, keep_trailing_newline: bool = True) -> jinja2.Environment:
    """A Jinja2 environment over `folders` (the first that has a template wins); a missing variable is an error.

    `autoescape` is True or False for every template, or the file extensions to escape
    (("html", "xml") for the site); `trim_blocks` also strips the indentation before block tags.
    """
    paths = [str(folders)] if isinstance(folders, (str, Path)) else [str(f) for f in folders]
    if not isinstance(autoescape, bool):
        # Templates rendered from a string are escaped too: a new caller is safe by default.
        autoescape = jinja2.select_autoescape(enabled_extensions=tuple(autoescape), default_for_string=True)
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(paths), undefined=jinja2.StrictUndefined, autoescape=autoescape,
        trim_blocks=trim_blocks, lstrip_blocks=trim_blocks, keep_trailing_newline=keep_trailing_newline,
    )
