"""The `digest` command: a thin layer over the library; DigestError becomes a one-line message here."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from .config import DEFAULT_CONFIG_NAME, Config, default_config_text, load_config
from .errors import DigestError
from .store import Store

console = Console(stderr=True)
out = Console()


class App:
    """What every command needs: the config and, opened on first use, the store."""

    def __init__(self, config_path: str | None, debug: bool):
        self.config_path = config_path
        self.debug = debug
        self._config: Config | None = None
        self._store: Store | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.config.db_path)
        return self._store


pass_app = click.make_pass_decorator(App)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", metavar="PATH", envvar="DIGEST_CONFIG",
              help="Config file (default: ./digest.toml; env DIGEST_CONFIG).")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
@click.version_option(package_name="paper-digest")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, debug: bool) -> None:
    """paper-digest: find this week's papers, summarise them with grounded Q&A, publish the issue.

    Typical week: `digest run` (fetch, select, generate, write the Markdown issue),
    then `digest send` (email subscribers) and `digest archive build` (the HTML site).
    """
    ctx.obj = App(config_path, debug)
    if debug:
        import logging
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")


@cli.command()
@click.option("--path", "path", default=DEFAULT_CONFIG_NAME, show_default=True, help="Where to write it.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: str, force: bool) -> None:
    """Write a commented config file to start from."""
    p = Path(path)
    if p.exists() and not force:
        raise DigestError(f"{p} already exists", hint="use --force to overwrite it")
    p.write_text(default_config_text(), encoding="utf-8")
    out.print(f"Wrote {p}. Edit its sources and interests, then run `digest fetch` or `digest run`.")


def main() -> None:
    """Entry point: run the CLI, turning our errors into one line and exit status 1."""
    debug = "--debug" in sys.argv
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        console.print("Aborted.")
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except DigestError as e:
        if debug:
            raise
        console.print(f"[bold red]error:[/] {e}", highlight=False, markup=True)
        sys.exit(1)
    except KeyboardInterrupt:
        console.print("Interrupted; what was finished is kept. Run the same command again to resume.")
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - the boundary: no traceback for users unless --debug
        if debug:
            raise
        console.print(f"[bold red]internal error:[/] {type(e).__name__}: {e} (run again with --debug "
                      "for a traceback)", highlight=False)
        sys.exit(1)
