"""Paths and the interpreter for the process tests."""

import sys
from pathlib import Path

APPS = Path(__file__).parent / "apps"
EXAMPLE = Path(__file__).parents[1] / "example"


def python() -> list[str]:
    """The interpreter with warnings as errors, as hydra-optuna-sweeper runs its examples."""
    return [sys.executable, "-W", "error"]
