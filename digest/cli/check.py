"""`digest check`: config, store, sources, model endpoint and SMTP login, tried before the first cron run."""

from __future__ import annotations

import click

from digest.cli.common import LazyConsole, escape
from digest.errors import ExitStatus
from digest.wording import plural

_out = LazyConsole(emoji=False)


def register(cli: click.Group) -> None:
    """Add `digest check` to the CLI."""

    @cli.command("check")
    @click.option("--smtp/--no-smtp", default=None,
                  help="Try the SMTP login even with no subscribers (default: only when someone is subscribed).")
    @click.pass_context
    def check(ctx: click.Context, smtp: bool | None) -> None:
        """Check everything a weekly run needs: config, store, each source, the model endpoint and key,
        each chat channel (its URL variable set, well-formed, its host resolvable) and the SMTP login.
        Nothing is stored, created, posted or sent. Exit status 0 when all is well, 1 otherwise."""
        from digest.preflight import check_setup

        app = ctx.obj

        def show(c) -> None:
            mark = "[green]ok[/]    " if c.ok else "[red]failed[/]"
            _out.print(f"{mark} {escape(c.what)}: {escape(c.detail)}", highlight=False)

        # An empty folder stays empty: the store is opened only where one exists.
        store = app.store if app.config.db_path.exists() else None
        checks = check_setup(app.config, store, smtp=smtp, on_check=show)
        bad = [c for c in checks if not c.ok]
        _out.print("ready for the weekly run" if not bad else
                   f"{len(bad)} of {plural(len(checks), 'check')} failed: fix {'it' if len(bad) == 1 else 'them'} "
                   "before the first cron run",
                   highlight=False)
        ctx.exit(ExitStatus.ERROR if bad else ExitStatus.SUCCESS)
