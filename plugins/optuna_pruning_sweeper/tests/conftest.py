from pathlib import Path

import pytest


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/study.db"


def pytest_configure(config: pytest.Config) -> None:
    """The plugin's suite also runs on its own (pytest plugins/optuna_pruning_sweeper/tests)."""
    config.addinivalue_line("markers", "e2e: starts real processes (Hydra apps, workers)")
