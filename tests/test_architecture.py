"""The shape of the code: no import cycles, and imports inside functions only in the CLI.

The layers themselves (CLI on top, then jobs, pipeline, stages, model client, flat core) are
checked by import-linter (`lint-imports`, configured in pyproject.toml) in .ci/run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

PKG = Path(__file__).resolve().parent.parent / "digest"


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of modules that import each other, directly or not."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def test_cycle_finder_finds_a_cycle():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_through_others():
    g = grimp.build_graph("digest", cache_dir=None)
    graph = {m: set(g.find_modules_directly_imported_by(m)) for m in g.modules}
    assert strongly_connected(graph) == []


# Imported late on purpose, each for a reason given where it is imported.
LATE_THIRD_PARTY = {"pypdf", "tiktoken", "waitress", "fcntl", "pydantic", "openai", "jsonschema"}


def late_imports(path: Path) -> list[str]:
    """Imports placed inside functions, as 'line name', except the allowed third-party ones."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.Import):
                names = [a.name for a in inner.names]
            elif isinstance(inner, ast.ImportFrom):
                names = ["." * inner.level + (inner.module or "")]
            else:
                continue
            found += [f"{inner.lineno} {name}" for name in names
                      if name.startswith(("digest", ".")) or name.split(".")[0] not in LATE_THIRD_PARTY]
    return found


def test_late_import_finder_sees_ours_and_allows_the_listed_ones(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import os\n\ndef f():\n    from digest.store import Store\n    import pypdf\n"
                 "    from .x import y\n    import json\n")
    assert late_imports(f) == ["4 digest.store", "6 .x", "7 json"]


def test_only_the_cli_imports_inside_functions():
    """A late import of our own modules would hide a cycle or an upward import from both checks above."""
    offenders = [f"{path.relative_to(PKG.parent)}:{hit}" for path in sorted(PKG.rglob("*.py"))
                 if path.relative_to(PKG).parts[0] != "cli" for hit in late_imports(path)]
    assert offenders == []
