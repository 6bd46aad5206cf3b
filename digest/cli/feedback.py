"""Reader feedback from the command line: `digest like`, `digest dislike` (the owner's votes) and `digest feedback list`."""

from __future__ import annotations

from typing import Any

import click

from digest.cli.common import LazyConsole, escape
from digest.wording import plural, shorten

out = LazyConsole(emoji=False)


def _vote(obj: Any, ids: tuple[str, ...], vote: int) -> None:
    from digest.feedback import OWNER, find_paper, record_vote

    # Every ID is checked before any vote is stored: a typo in the third leaves the first two unvoted too.
    papers = [find_paper(obj.store, i) for i in ids]
    what = "more like this" if vote > 0 else "less like this"
    for p in papers:
        changed = record_vote(obj.store, p.key, vote, OWNER)
        state = "" if changed else " (already so)"
        out.print(f"{escape(p.key)} {escape(p.title[:70])}: {what}{state}", highlight=False)


@click.command("like")
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@click.pass_obj
def like(obj: Any, ids: tuple[str, ...]) -> None:
    """Ask for more papers like these (arXiv IDs, with or without version) in the next issues.

    Your vote replaces any earlier one of yours on the same paper; `digest fetch --explain`
    shows which candidates it ranked up.
    """
    _vote(obj, ids, 1)


@click.command("dislike")
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@click.pass_obj
def dislike(obj: Any, ids: tuple[str, ...]) -> None:
    """Ask for fewer papers like these (arXiv IDs, with or without version) in the next issues.

    Your vote replaces any earlier one of yours on the same paper; `digest fetch --explain`
    shows which candidates it ranked down.
    """
    _vote(obj, ids, -1)


@click.group("feedback")
def feedback_group() -> None:
    """Reader votes ("more / less like this") from the email, the site and `digest like`/`dislike`."""


@feedback_group.command("list")
@click.pass_obj
def feedback_list(obj: Any) -> None:
    """Every voted paper, most recently voted first: likes, dislikes, your own vote and the title."""
    from digest.feedback import load_feedback

    rows = load_feedback(obj.store)
    if not rows:
        out.print("No votes yet: `digest like ID`, or the links in the email and on the site.")
        return
    out.print(f"{'paper':<16} {'likes':>5} {'dislikes':>8} {'you':>4}  title", highlight=False)
    for f in rows:
        mine = {1: "+1", -1: "-1"}.get(f.owner, "")
        out.print(f"{escape(f.paper.key):<16} {f.likes:>5} {f.dislikes:>8} {mine:>4}  {escape(shorten(f.paper.title, 70))}",
                  highlight=False)
    out.print(f"{plural(len(rows), 'paper')}.", highlight=False)


def register(cli: click.Group) -> None:
    """Add `like`, `dislike` and `feedback` (with `list`) to the main command group."""
    cli.add_command(like)
    cli.add_command(dislike)
    cli.add_command(feedback_group)
