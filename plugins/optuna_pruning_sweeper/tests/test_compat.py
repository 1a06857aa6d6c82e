"""The private API this plugin relies on is still there (compat.py), and Hydra's plugin scan stays cheap."""

from __future__ import annotations

import subprocess
import sys

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


def test_every_private_call_is_in_compat() -> None:
    """Outside compat.py, no module reaches into upstream's _impl or a private Optuna attribute."""
    from pathlib import Path

    package = Path(compat.__file__).parent
    for path in [*package.glob("*.py"), *(package.parent / "hydra_plugins" / "optuna_pruning_sweeper").glob("*.py")]:
        if path.name == "compat.py":
            continue
        text = path.read_text()
        assert "_impl" not in text and "._trial_id" not in text and "._storage" not in text, path


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
