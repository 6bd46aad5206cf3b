"""Prompt templates: Jinja2 with StrictUndefined, a user folder overriding the bundled one, a version hash."""

from __future__ import annotations

import hashlib
from pathlib import Path

import jinja2

from digest.errors import ConfigError
from digest.resources import bundled_dir, jinja_environment

TEMPLATES = ("system.j2", "paper.j2", "outline.j2", "answers.j2", "missing.j2", "outline_repair.j2")


class PromptSet:
    """The templates used for generation; `version` changes whenever any of their text changes."""

    def __init__(self, user_dir: str | Path | None = None):
        folders = []
        if user_dir:
            p = Path(user_dir).expanduser()
            if not p.is_dir():
                raise ConfigError(f"prompts folder {p} does not exist")
            folders.append(str(p))
        folders.append(str(bundled_dir("prompts")))
        self.env = jinja_environment(folders, keep_trailing_newline=False)
        h = hashlib.sha256()
        for name in TEMPLATES:
            source, filename, _ = self.env.loader.get_source(self.env, name)
            h.update(name.encode() + b"\0" + source.encode() + b"\0")
        self.version = h.hexdigest()[:12]

    def render(self, name: str, **context) -> str:
        """Render one template; a missing variable is an error, not an empty string."""
        try:
            return self.env.get_template(name).render(**context).strip()
        except jinja2.UndefinedError as e:
            raise ConfigError(f"prompt template {name}: {e}") from None
