"""The docs and the program agree: every `digest ...` line in README.md and docs/*.md, and every one the program's
messages and templates suggest, parses against the real click command tree (the right command, options it
knows, the right number of arguments) without running it; a few are also run for real; and the exit-code
table is digest.errors.ExitStatus.

A command in a code block is a line a reader copies: it must be complete. A command in running text may be a
reference (`digest rerun`) or a synopsis (`digest export [ISSUE] [--format bibtex|ris]`, `digest issues
list/use`): it may leave out what is required, but whatever it names must exist and it may not say too much.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from digest.cli.main import cli
from digest.errors import ExitStatus

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A command at the start of a code line: after a shell prompt, or as a CI step.
_BLOCK_LINE = re.compile(r"^\s*(?:\$\s+|-\s+run:\s+)?(digest(?:\s.*)?)$")
_INLINE = re.compile(r"`(digest(?:\s[^`]*)?)`")
_SHELL_STOP = {">", ">>", "|", "&&", "||", ";", "2>&1", "<"}


@dataclass(frozen=True)
class DocCommand:
    """One `digest ...` line of the docs, where it was found, and whether it must be complete."""

    where: str
    text: str
    complete: bool  # from a code block: a reader runs it as written

    def __str__(self) -> str:
        return f"{self.where}: {self.text}"


def doc_commands(paths: list[Path] = DOCS) -> list[DocCommand]:
    """Every `digest ...` command line of the docs' code blocks and running text."""
    found: list[DocCommand] = []
    for path in paths:
        in_block = False
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            where = f"{path.relative_to(ROOT)}:{n}"
            if line.lstrip().startswith("```"):
                in_block = not in_block
                continue
            if in_block:
                m = _BLOCK_LINE.match(line)
                if m:
                    found.append(DocCommand(where, m.group(1).strip(), True))
            else:
                found += [DocCommand(where, m.group(1).strip(), False) for m in _INLINE.finditer(line)]
    return found


def words(cmd: DocCommand) -> list[str]:
    """The command's arguments as the shell would pass them (comments and redirections cut off)."""
    text = cmd.text.replace("\\|", "|")
    tokens = shlex.split(text, comments=True)
    for i, t in enumerate(tokens):
        if t in _SHELL_STOP:
            tokens = tokens[:i]
            break
    assert tokens and tokens[0] == "digest", cmd
    return tokens[1:]


def _options_named(tokens: list[str]) -> list[str]:
    return [t.split("=", 1)[0] for t in tokens if t.startswith("-") and t not in ("-", "--")]


def _known_options(command: click.Command) -> set[str]:
    names: set[str] = set()
    for p in command.params:
        if isinstance(p, click.Option):
            names.update(p.opts)
            names.update(p.secondary_opts)
    return names | {"-h", "--help"}


def _synopsis(tokens: list[str]) -> tuple[list[str], list[str]]:
    """A synopsis as a command line: optional [parts] left out (their options returned), `ID...` as one ID."""
    text, optional = " ".join(tokens), []
    while True:
        m = re.search(r"\[([^\[\]]*)\]", text)
        if not m:
            break
        optional += _options_named(m.group(1).split())
        text = text[:m.start()] + text[m.end():]
    return [t.removesuffix("...") for t in text.split() if t.removesuffix("...")], optional


def check_command(cmd: DocCommand) -> list[str]:
    """What is wrong with a doc's command line, parsed by the real command tree ([] when nothing is)."""
    tokens, optional = (words(cmd), []) if cmd.complete else _synopsis(words(cmd))
    problems: list[str] = []
    command: click.Command = cli
    ctx: click.Context | None = None
    name = "digest"
    while True:
        if "-h" in tokens or "--help" in tokens:
            return problems
        try:
            ctx = command.make_context(name, list(tokens), parent=ctx)
        except click.MissingParameter as e:
            if cmd.complete:
                problems.append(f"{name}: {e.format_message()}")
            if isinstance(e.param, click.Option) and e.param.opts[-1] not in tokens:  # is the rest right?
                tokens = [*tokens, e.param.opts[-1], "VALUE"]
                continue
            return problems
        except click.BadOptionUsage as e:  # an option named without its value, as running text does
            if cmd.complete or "requires an argument" not in e.format_message():
                problems.append(f"{name}: {e.format_message()}")
            return problems
        except click.BadParameter as e:  # a placeholder (N, DATE) where a value of a type goes
            if cmd.complete:
                problems.append(f"{name}: {e.format_message()}")
            return problems
        except (click.exceptions.Exit, click.exceptions.NoArgsIsHelpError):  # a group alone shows its help
            return problems
        except click.UsageError as e:  # an unknown option, an extra argument, an unknown command
            problems.append(f"{name}: {e.format_message()}")
            return problems
        unknown = [o for o in optional if o not in _known_options(command)]
        if unknown and not isinstance(command, click.Group):
            problems.append(f"{name}: no such option {', '.join(unknown)}")
        if not isinstance(command, click.Group):
            return problems
        rest = ctx._protected_args + ctx.args
        if not rest:
            return problems
        sub, tokens = rest[0], rest[1:]
        alternatives = sub.split("/") if "/" in sub and not cmd.complete else [sub]
        if len(alternatives) > 1:  # `issues list/use`: each must be a subcommand; nothing more to parse
            problems += [f"{name}: no command {a!r}" for a in alternatives if command.get_command(ctx, a) is None]
            return problems
        found = command.get_command(ctx, sub)
        if found is None:
            problems.append(f"{name}: no command {sub!r}")
            return problems
        command, name = found, f"{name} {sub}"


COMMANDS = doc_commands()


def suggested_commands() -> list[DocCommand]:
    """Every `digest ...` a message, hint or template of the program suggests (placeholders as one word)."""
    found = []
    for path in sorted([*ROOT.glob("digest/**/*.py"), *ROOT.glob("digest/*.toml"), *ROOT.glob("templates/**/*.j2")]):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for m in _INLINE.finditer(line):
                text = re.sub(r"\{\{[^}]*\}\}|\{[^}]*\}", "X", m.group(1))  # {issue.id}, {{ issue.id }}
                found.append(DocCommand(f"{path.relative_to(ROOT)}:{n}", text, False))
    return found


SUGGESTED = suggested_commands()


@pytest.mark.parametrize("cmd", SUGGESTED, ids=str)
def test_every_command_the_program_suggests_parses(cmd):
    assert check_command(cmd) == [], str(cmd)


def test_the_docs_have_commands_to_check():
    assert len(COMMANDS) > 100 and any(c.complete for c in COMMANDS)
    assert all(c.text.startswith("digest") for c in COMMANDS)
    assert len(SUGGESTED) > 50 and any("issues use" in c.text for c in SUGGESTED)


@pytest.mark.parametrize("cmd", COMMANDS, ids=str)
def test_every_command_in_the_docs_parses(cmd):
    assert check_command(cmd) == [], str(cmd)


@pytest.mark.parametrize("text, complete, wrong", [
    ("digest issues use ISSUE M", False, "unexpected extra argument"),  # the drift docs/exit-codes.md had
    ("digest issues use 2026-W47 M", True, "unexpected extra argument"),
    ("digest rerun 2026-W47", True, "--model"),
    ("digest send --chanel x", True, "No such option"),
    ("digest sned", False, "no command 'sned'"),
    ("digest subscribers add/delete", False, "no command 'delete'"),
    ("digest export [ISSUE] [--fromat ris]", False, "no such option --fromat"),
    ("digest search x --limit many", True, "many"),
])
def test_a_wrong_command_is_caught(text, complete, wrong):
    problems = check_command(DocCommand("test", text, complete))
    assert problems and wrong in " ".join(problems), problems


@pytest.mark.parametrize("text", [
    "digest rerun", "digest send --to", "digest fetch [--since 7d\\|DATE] [--source SPEC] [--explain]",
    "digest like ID...", "digest subscribers add/remove/list/import/export", "digest --help",
    "digest subscribers export > readers.csv", "digest search attention sparse      # every word must occur",
])
def test_references_and_synopses_are_not_mistaken_for_errors(text):
    assert check_command(DocCommand("test", text, text.endswith(("csv", "occur")))) == []


def test_a_few_documented_commands_run_for_real(tmp_path, monkeypatch):
    """Cheap ones, as written in the docs, on an empty store of their own: each exits 0."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DIGEST_CONFIG", raising=False)
    runner = CliRunner()
    assert runner.invoke(cli, ["init"]).exit_code == 0 and (tmp_path / "digest.toml").is_file()
    documented = {c.text.split("#")[0].strip() for c in COMMANDS if c.complete}
    wanted = ["digest subscribers add ada@example.org --name \"Ada Lovelace\"", "digest subscribers list",
              "digest issues list", "digest feedback list", "digest batch status", "digest search attention sparse"]
    for text in wanted:
        assert text in documented, f"no longer in the docs: {text}"
        args = shlex.split(text)[1:]
        if args == ["batch", "status"]:
            args.append("--offline")  # asks no provider: this machine has no network
        done = runner.invoke(cli, args, catch_exceptions=False)
        assert done.exit_code == 0, (text, done.output)


def test_every_command_of_the_program_has_help():
    def walk(command: click.Command, path: list[str]):
        yield path
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from walk(sub, [*path, name])

    runner = CliRunner()
    for path in walk(cli, []):
        done = runner.invoke(cli, [*path, "--help"])
        assert done.exit_code == 0 and "Usage:" in done.output, (path, done.output)


def exit_code_table(path: Path = ROOT / "docs" / "exit-codes.md") -> dict[int, str]:
    """The table of docs/exit-codes.md as {code: name}."""
    rows = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\|\s*(\d+)\s*\|\s*([^|]+?)\s*\|", line)
        if m:
            rows[int(m.group(1))] = m.group(2)
    return rows


def test_the_exit_code_table_is_the_programs():
    documented = exit_code_table()
    program = {int(s): s.name.lower().replace("_", " ") for s in ExitStatus}
    assert documented == program
