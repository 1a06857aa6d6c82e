"""The private API this plugin relies on is still there (compat.py), and Hydra's plugin scan stays cheap."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from optuna_pruning_sweeper import compat


def test_the_private_api_still_matches() -> None:
    assert compat.broken() == []


def test_a_changed_signature_is_named(monkeypatch) -> None:
    def create_params_from_overrides(arguments, strict):  # what a future release might do
        return {}, {}, []

    name = "hydra_optuna_sweeper._impl.create_params_from_overrides"
    monkeypatch.setitem(compat.CONTRACT, name, (create_params_from_overrides, ["arguments"]))
    assert compat.broken() == [f"{name}('arguments', 'strict') (expected ('arguments',))"]


def private_uses(source: str) -> list[str]:
    """Every private name a module's code reaches for: an attribute, a keyword argument, a module or a
    name in a string (getattr), each starting with one underscore. Hydra's reserved config keys
    (`_target_`, `_execution_whitelist_`: ending in an underscore), dunders and os._exit are public."""
    import ast
    import re

    private = re.compile(r"^_[A-Za-z0-9]\w*$")

    def is_private(name: str) -> bool:
        return bool(private.match(name)) and not name.endswith("_")

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and is_private(node.attr):
            if not (isinstance(node.value, ast.Name) and node.value.id == "os" and node.attr == "_exit"):
                found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.keyword) and node.arg and is_private(node.arg):
            found.append(f"line {node.lineno}: keyword {node.arg}=")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            private_modules = [m for m in modules if m and any(is_private(part) for part in m.split("."))]
            found += [f"line {node.lineno}: module {m}" for m in private_modules]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and is_private(node.value):
            found.append(f"line {node.lineno}: string {node.value!r}")
    return found


def test_every_private_use_is_in_compat() -> None:
    """Outside compat.py, no module of the plugin reaches into a private name of Hydra, Optuna or anyone."""
    package = Path(compat.__file__).parent
    modules = [*package.glob("*.py"), *(package.parent / "hydra_plugins" / "optuna_pruning_sweeper").glob("*.py")]
    assert len(modules) >= 10
    uses = {path.name: private_uses(path.read_text()) for path in modules if path.name != "compat.py"}
    assert {name: found for name, found in uses.items() if found} == {}


def test_the_private_use_check_finds_each_kind() -> None:
    source = (
        "import a._b\nfrom c._d import e\nx = trial._trial_id\nJobReturn(_return_value=1)\ngetattr(s, '_write')\n"
        "instantiate(c, _execution_whitelist_=1)\nos._exit(1)\nx.__dict__\n"
    )
    assert private_uses(source) == [
        "line 1: module a._b",
        "line 2: module c._d",
        "line 3: ._trial_id",
        "line 4: keyword _return_value=",
        "line 5: string '_write'",
    ]
    assert "_return_value" in " ".join(private_uses(Path(compat.__file__).read_text()))  # compat's are its own


def test_the_plugin_scan_imports_no_optuna() -> None:
    """Hydra imports every public module of hydra_plugins when it scans: ours must not load Optuna."""
    code = (
        "import sys; from hydra.core.plugins import Plugins; Plugins.instance(); "
        "import hydra_plugins.optuna_pruning_sweeper.optuna_pruning_sweeper as m, hydra_plugins.hydra_optuna_sweeper; "
        "print('optuna' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    "module",
    ["hydra_plugins.optuna_pruning_sweeper.config", "hydra_plugins.optuna_pruning_sweeper.optuna_pruning_sweeper"],
)
def test_plugin_modules_import_without_warnings(module) -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", f"import {module}"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
