"""`digest --help` starts fast: showing help imports none of the heavy libraries the stages use.

The CLI imports stages (and rich) inside its command functions; a module-level import in digest/cli/
or in a core module it needs would pull them back into every start. Checked in a fresh interpreter by
which modules are loaded, never by wall time (bench/startup.py measures that).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

HEAVY = ["rich", "pydantic", "openai", "httpx", "numpy", "bm25s", "jinja2", "feedparser", "arxiv", "pypdf", "flask",
         "tiktoken", "email_validator", "waitress"]

# Leaf commands whose own --help shows values defined by their stage, so showing it imports that stage:
# the source kinds (digest.sources.registry) and the subscriber statuses (digest.mail.subscribers).
NEEDS_STAGE = {("sources", "check"), ("subscribers", "list"), ("subscribers", "export")}

PROBE = """
import contextlib, io, json, sys
from digest.cli import main
from digest.cli.main import cli

def paths(cmd, path):
    yield path
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        yield from paths(sub, path + (name,))

skip = {tuple(p) for p in json.loads(sys.argv[1])}
heavy = json.loads(sys.argv[2])
helps, failures = {}, []
for path in paths(cli, ()):
    if path in skip:
        continue
    sys.argv = ["digest", *path, "--help"]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            main()
        except SystemExit as e:
            if e.code not in (0, None):
                failures.append([" ".join(path), e.code])
    helps[" ".join(path)] = buf.getvalue()
loaded = sorted(m for m in heavy if m in sys.modules)
print(json.dumps({"helps": helps, "failures": failures, "loaded": loaded}))
"""


def run_probe() -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(sorted(NEEDS_STAGE)), json.dumps(HEAVY)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_help_of_every_command_imports_no_heavy_library():
    result = run_probe()
    assert result["failures"] == []
    # Every command was reached: the group's help lists them all and each showed its own help.
    top = result["helps"][""]
    for name in ("init", "fetch", "run", "papers", "cost", "sources", "extract", "subscribers", "send", "serve",
                 "archive", "search", "rerun", "compare", "issues", "batch"):
        assert f"  {name} " in top, name
        assert f"Usage: digest {name} " in result["helps"][name], name
    assert "--dry-run" in result["helps"]["run"] and "--explain" in result["helps"]["fetch"]
    assert result["loaded"] == []


def test_python_m_digest_help_imports_no_heavy_library():
    """The same through `python -m digest`, as -X importtime sees it: no heavy module is even imported."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "digest", "--help"], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Usage: " in proc.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert sorted(m for m in imported if m.split(".")[0] in HEAVY) == []


def test_helps_that_read_their_stage_still_show_its_values():
    from click.testing import CliRunner

    from digest.cli.main import cli
    from digest.mail.subscribers import STATUSES
    from digest.sources.registry import KINDS

    runner = CliRunner()
    r = runner.invoke(cli, ["sources", "check", "--help"], terminal_width=120)
    assert r.exit_code == 0, r.output
    assert all(v in r.output for v in KINDS.values()) and "or a path to a local RSS/Atom file" in r.output
    for command in ("list", "export"):
        r = runner.invoke(cli, ["subscribers", command, "--help"], terminal_width=120)
        assert r.exit_code == 0, r.output
        assert "[" + "|".join(STATUSES) + "]" in r.output
    r = runner.invoke(cli, ["subscribers", "list", "--status", "nosuch"])
    assert r.exit_code == 2 and "'nosuch' is not one of" in r.output
