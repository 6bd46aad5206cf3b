"""What changed in a new version of a paper: the changed passages of the two texts, told by the model.

The passages come from a sentence diff of the two versions' page texts; a chat model describes them in
the issue's language, each point grounded by a quote of the new version that is checked like an answer's.
The extractive model shows the passages themselves.
"""

from __future__ import annotations

import difflib
import logging
import re
import time
from dataclasses import dataclass, replace

from digest.errors import LLMError
from digest.i18n import labels
from digest.pdf.sentences import paper_sentences
from digest.records import ChangePoint, Page, Paper, VersionChanges
from digest.store import Store, utcnow
from digest.wording import plural
from digest.writers.grounding import PageIndex, normalise
from digest.writers.outline_check import language_problem

log = logging.getLogger("digest")

MAX_HUNKS = 8  # changed passages given to the model (the largest, shown in document order)
MAX_HUNK_CHARS = 1200  # per side of a passage, so one rewritten section cannot fill the prompt
MAX_POINTS = 5
SHOWN_PASSAGES = 4  # changed passages the extractive model shows
MIN_CHANGE_CHARS = 25  # normalised characters: a typo fix or a reworded phrase is not a change worth telling
_CITATION = re.compile(r"\[[\d,;\s\u2013-]+\]")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")

CHANGES_SCHEMA = {
    "type": "object",
    "properties": {
        "changes": {
            "type": "array",
            "maxItems": MAX_POINTS,
            "items": {
                "type": "object",
                "properties": {
                    "change": {"type": "string", "maxLength": 400},
                    "page": {"type": "integer"},
                    "quote": {"type": "string", "maxLength": 600},
                },
                "required": ["change", "page", "quote"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["changes"],
    "additionalProperties": False,
}


@dataclass
class Hunk:
    """One changed passage: the old sentences and the new ones that replace them (either may be empty)."""

    old: str
    new: str
    old_page: int | None
    new_page: int | None

    @property
    def size(self) -> int:
        """How much changed, in normalised characters."""
        a, b = normalise(self.old), normalise(self.new)
        same = sum(m.size for m in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks())
        return len(a) + len(b) - 2 * same

    @property
    def numbers_changed(self) -> bool:
        """True when the passage states other numbers than before (renumbered citations aside)."""
        return _numbers(self.old) != _numbers(self.new)


def _numbers(text: str) -> list[str]:
    return _NUMBER.findall(_CITATION.sub(" ", text))


def _sentences_with_pages(pages: list[Page]) -> list[tuple[str, int]]:
    # Joined across page breaks, so that a v2 whose pages break elsewhere does not differ in cut sentences;
    # captions, tables and formulas are kept: a changed number there is a change.
    return [(s.text, s.page) for s in paper_sentences(pages, asides=True, fragments=True)]


def changed_passages(old_pages: list[Page], new_pages: list[Page]) -> list[Hunk]:
    """The passages that differ between two versions' texts, largest first (layout, hyphenation and
    reflowed lines do not count as changes)."""
    old, new = _sentences_with_pages(old_pages), _sentences_with_pages(new_pages)
    a, b = [normalise(s) for s, _ in old], [normalise(s) for s, _ in new]
    # The sentences themselves are compared after folding, so a re-typeset v2 with the same words is "same".
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    hunks = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        gone, came = old[i1:i2], new[j1:j2]
        if "".join(a[i1:i2]) == "".join(b[j1:j2]):
            continue  # the same words split into sentences differently
        h = Hunk(" ".join(s for s, _ in gone)[:MAX_HUNK_CHARS], " ".join(s for s, _ in came)[:MAX_HUNK_CHARS],
                 gone[0][1] if gone else None, came[0][1] if came else None)
        if h.size >= MIN_CHANGE_CHARS or h.numbers_changed:  # a changed result is news even if short
            hunks.append(h)
    return sorted(hunks, key=lambda h: -h.size)


def _in_order(hunks: list[Hunk]) -> list[Hunk]:
    return sorted(hunks, key=lambda h: (h.new_page or h.old_page or 0))


def extractive_changes(paper: Paper, old_version: int, hunks: list[Hunk], *, model: str,
                       language: str) -> VersionChanges:
    """The changed passages themselves: what the new version added, or (when it only removed) what it removed."""
    points = []
    for h in _in_order(hunks[:SHOWN_PASSAGES]):
        if h.new:
            points.append(ChangePoint(kind="added", text=h.new, page=h.new_page, quote=h.new))
        else:
            points.append(ChangePoint(kind="removed", text=h.old, page=h.old_page, quote=h.old))
    return VersionChanges(paper_key=paper.key, old_version=old_version, new_version=paper.version or 0,
                          model=model, language=language, points=points, status="ok" if points else "same",
                          created=utcnow())


class ChangesWriter:
    """Asks a chat model what changed, once per paper version pair, model and language (kept in the store)."""

    def __init__(self, store: Store, model, prompts, language: str, title: str, *, drop_unverified: bool):
        self.store, self.model, self.prompts, self.language = store, model, prompts, language
        self.drop_unverified = drop_unverified
        lab = labels(language)
        self.common = dict(language=language, language_name=lab["language_name"], title=title)

    @property
    def model_id(self) -> str:
        return self.model.model_id

    def messages(self, paper: Paper, old_version: int, hunks: list[Hunk]) -> list[dict]:
        """System prompt, then one user message with the changed passages and the task."""
        r = self.prompts.render
        return [
            {"role": "system", "content": r("system.j2", **self.common)},
            {"role": "user", "content": r("changes.j2", **self.common, paper=paper, old_version=old_version,
                                          new_version=paper.version, hunks=_in_order(hunks[:MAX_HUNKS]),
                                          max_points=MAX_POINTS)},
        ]

    def describe(self, paper: Paper, old_version: int, hunks: list[Hunk], new_pages: list[Page]) -> VersionChanges:
        """The model's points, each quote looked up in the new version (a failed call gives the passages)."""
        started = time.monotonic()
        try:
            result = self.model.complete_json(self.messages(paper, old_version, hunks), CHANGES_SCHEMA,
                                              schema_name="version_changes", purpose="changes",
                                              paper_key=paper.key, prompt_version=self.prompts.version,
                                              max_tokens=1500)
        except LLMError as e:
            if e.status in (401, 403, 404):
                raise
            log.info("%s: what changed could not be written: %s", paper.versioned_id, e)
            c = extractive_changes(paper, old_version, hunks, model=self.model_id, language=self.language)
            c.status, c.note = "failed", f"the model failed ({e.message}); the changed passages are shown"
            return c
        index, known = PageIndex(new_pages), {p.number for p in new_pages}
        points, other_language = [], 0
        for item in result.data["changes"][:MAX_POINTS]:
            text, quote = item["change"].strip(), item["quote"].strip()
            if not text:
                continue
            if language_problem(text, self.language, "change"):  # checked like the TL;DR in a ja run
                other_language += 1
                continue
            check = index.find(quote, [item["page"]]) if quote else None
            verified = bool(check and check.verified)
            if not verified and self.drop_unverified:
                continue
            if check and check.trimmed:  # only the quote's opening is in the paper: shown cut, as answers are
                quote = check.trimmed + " …"
            page = check.pages[0] if check and check.verified else item["page"]
            points.append(ChangePoint(kind="described", text=text, quote=quote, verified=verified,
                                      page=page if page in known else None))
        usage = replace(result.usage, latency_ms=int((time.monotonic() - started) * 1000))
        note = f"{plural(other_language, 'point')} not in the issue's language left out" if other_language else None
        return VersionChanges(paper_key=paper.key, old_version=old_version, new_version=paper.version or 0,
                              model=self.model_id, language=self.language, points=points,
                              status="ok" if points else "same", usage=usage, created=utcnow(), note=note)


def describe_update(store: Store, writer: ChangesWriter | None, paper: Paper, old_version: int,
                    old_pages: list[Page], new_pages: list[Page], *, model: str, language: str) -> VersionChanges:
    """What changed from `old_version` to the paper's version, stored once per model and language.

    `writer` None means the extractive model: the passages themselves.
    """
    found = store.get_changes(paper.key, paper.version, model=model, language=language, old_version=old_version)
    if found and found.status != "failed":
        return found
    if not old_pages or not new_pages:
        which = f"v{old_version}" if not old_pages else f"v{paper.version}"
        c = VersionChanges(paper_key=paper.key, old_version=old_version, new_version=paper.version or 0,
                           model=model, language=language, status="no-text",
                           note=f"the text of {which} could not be read", created=utcnow())
    else:
        hunks = changed_passages(old_pages, new_pages)
        if not hunks:
            c = VersionChanges(paper_key=paper.key, old_version=old_version, new_version=paper.version or 0,
                               model=model, language=language, status="same", created=utcnow())
        elif writer is None:
            c = extractive_changes(paper, old_version, hunks, model=model, language=language)
        else:
            c = writer.describe(paper, old_version, hunks, new_pages)
    store.save_changes(c)
    return c
