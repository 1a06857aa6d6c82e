"""docs/reliability.md stays true: every row names tests that exist (as pytest collects them), and
every bad-input row's promised message is asserted by one of the tests it names."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT

DOC = ROOT / "docs" / "reliability.md"
REF = re.compile(r"`((?:plugins/\w+/tests/)?test_\w+\.py)::(\w+)(\[.*?\])?`")  # `file::test[id]`
MORE_IDS = re.compile(r"(?<=, )`(\[.*?\])`")  # `[id]`: one more case of the test named before it


def file_of(name: str) -> Path:
    """A test file named in the doc: plugins/... as written; test_x.py in tests/unit or tests/e2e."""
    if name.startswith("plugins/"):
        return ROOT / name
    found = [p for tier in ("unit", "e2e") for p in [ROOT / "tests" / tier / name] if p.is_file()]
    return found[0] if found else ROOT / "tests" / name


def rows() -> list[tuple[str, list[str]]]:
    """(row text, node ids it names), for each table row that is not a header or a separator."""
    out = []
    for line in DOC.read_text().splitlines():
        if not line.startswith("| ") or line.startswith(("| ---", "| #", "| fault")):
            continue
        tests_cell = line.rstrip(" |").rsplit(" | ", 1)[1]
        ids, last = [], None
        for match in re.finditer(rf"{REF.pattern}|{MORE_IDS.pattern}", tests_cell):
            if match.group(1):
                last = f"{file_of(match.group(1)).relative_to(ROOT)}::{match.group(2)}"
                ids.append(last + (match.group(3) or ""))
            elif last is not None:
                ids.append(last + match.group(4))
        out.append((line, ids))
    return out


def source_of(node_id: str) -> str:
    """The named test's own source (decorators included) and that of the module-level names it uses
    (e.g. the parametrize table of expected messages)."""
    path, name = node_id.split("[")[0].split("::")
    source = (ROOT / path).read_text()
    tree = ast.parse(source)
    defs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    assigned = {t.id: n for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    test = defs[name]
    used = {n.id for n in ast.walk(test) if isinstance(n, ast.Name)}
    parts = [*test.decorator_list, test, *(assigned[u] for u in sorted(used) if u in assigned)]
    return "\n".join(ast.get_source_segment(source, part) or "" for part in parts)


@pytest.fixture(scope="module")
def collected() -> set[str]:
    listing = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout
    return {line.strip() for line in listing.splitlines() if "::" in line}


def test_every_row_names_tests_that_exist(collected):
    table = rows()
    assert len(table) > 50
    for line, ids in table:
        assert ids, f"a row names no test: {line[:100]}"
        for node in ids:
            # a bare function name may stand for all its parametrized cases
            assert node in collected or any(c.startswith(node + "[") for c in collected), f"no such test: {node}"


def test_every_bad_input_rows_message_is_asserted_by_its_tests():
    for line, ids in rows():
        if not re.match(r"\| \d+ \|", line):
            continue  # the bad-input table: its third column promises a message
        promised = line.split(" | ")[2]
        fragments = [f for f in re.findall(r"`([^`]+)`", promised) if len(f) >= 6]
        sources = "".join(source_of(node) for node in ids)
        assert any(f in sources for f in fragments), f"no test of this row asserts its message: {line[:100]}"
