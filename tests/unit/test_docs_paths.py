"""Every repository path that the docs, the config comments and the code's docstrings and comments name
exists: a file that moves takes its mentions along, or this test names each one left behind."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

from helpers import ROOT

PLUGIN = ROOT / "plugins" / "optuna_pruning_sweeper"
# the repository's folders (multirun/ and outputs/ hold what runs write, so they are not among them)
TOP = "cifar_sweep|tests|docs|conf|bench|scripts|plugins|hydra_plugins|requirements|optuna_pruning_sweeper"
PATH = re.compile(rf"(?<![\w./<$-])((?:{TOP})/[\w./-]*[\w/])")  # cifar_sweep/train.py, docs/
FILE = re.compile(r"(?<![\w./<$-])([A-Z][\w-]*\.md)\b")  # a top-level document named bare: README.md
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")  # a Markdown link's target
PLACEHOLDER = re.compile(r"[<>*{}$]|\.\.\.|/[A-Z]{2,}(?:[./]|$)")  # <name>, *.png, logger/NAME.yaml
OUTPUT = ("--out ", "> ")  # a command's output: made by it, not in the repository


def docs() -> list[Path]:
    found = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *ROOT.glob("*/README.md"), *ROOT.glob("*/*/README.md")]
    return sorted(p for p in set(found) if "upstream" not in p.parts)


def code() -> list[Path]:
    folders = ["cifar_sweep", "hydra_plugins", "plugins", "bench", "scripts", "tests"]
    files = [ROOT / "run.py", *(p for folder in folders for p in (ROOT / folder).rglob("*.py"))]
    return sorted(p for p in files if "upstream" not in p.parts)


def prose_of_code(path: Path) -> str:
    """A Python file's comments and docstrings: what it says, not what it computes."""
    source = path.read_text()
    comments = [t.string for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.COMMENT]
    nodes = [n for n in ast.walk(ast.parse(source)) if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef))]
    docstrings = [ast.get_docstring(n, clean=False) or "" for n in nodes]
    return "\n".join(comments + docstrings)


def exists(name: str, beside: Path) -> bool:
    """Whether `name` is a path of the repository: from its root, from the naming file's folder, from the
    plugin's root (the plugin's own files name its paths so), or for a bare file name, anywhere."""
    name = name.rstrip(".")
    bases = [ROOT, beside.parent, PLUGIN] if PLUGIN in beside.parents else [ROOT, beside.parent]
    if any((base / name).exists() for base in bases):
        return True
    return "/" not in name and any(p.name == name for p in ROOT.rglob(name) if ".venv" not in p.parts)


def mentions(path: Path, text: str) -> list[str]:
    found = [m for pattern in (PATH, FILE, LINK) for m in pattern.finditer(text)]
    names = [
        m.group(1)
        for m in found
        if not text[: m.start(1)].endswith(OUTPUT) and text[m.end(1) : m.end(1) + 1] not in ("*", "<", "{", "$")
    ]
    return [n for n in names if not PLACEHOLDER.search(n) and "://" not in n]


def missing(paths: list[Path], read) -> list[str]:
    gone = set()
    for path in paths:
        for name in mentions(path, read(path)):
            if not exists(name, path):
                gone.add(f"{path.relative_to(ROOT)}: {name}")
    return sorted(gone)


def test_every_path_the_docs_name_exists():
    assert len(docs()) >= 10
    assert missing(docs(), Path.read_text) == []


def test_every_path_the_config_comments_name_exists():
    configs = sorted((ROOT / "cifar_sweep" / "conf").rglob("*.yaml"))
    assert missing(configs, lambda p: "\n".join(line for line in p.read_text().splitlines() if "#" in line)) == []


def test_every_path_the_code_names_in_docstrings_and_comments_exists():
    assert len(code()) >= 50
    assert missing(code(), prose_of_code) == []


def test_a_moved_file_is_found(tmp_path):
    doc = ROOT / "docs" / "guide.md"
    assert mentions(doc, "see `tests/test_augment.py` and STUDY.md, or [this](sweeps.md)") == [
        "tests/test_augment.py",
        "STUDY.md",
        "sweeps.md",
    ]
    assert not exists("tests/test_augment.py", doc) and not exists("STUDY.md", doc) and exists("sweeps.md", doc)
    assert (
        mentions(doc, "multirun/x/summary.md, conf/model/*.yaml, conf/NAME.yaml, --out docs/a.md, https://x.org/a.md")
        == []
    )
