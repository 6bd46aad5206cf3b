"""Where the bundled prompt and output templates are, in a checkout and when installed."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def bundled_dir(name: str) -> Path:
    """The bundled `prompts` or `templates` folder (top of a checkout, or inside the installed package)."""
    for candidate in (_PKG.parent / name, _PKG / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"bundled folder {name!r} is missing from the installation")
