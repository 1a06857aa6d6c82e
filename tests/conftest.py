"""Shared helpers: compose the real config, run the real entrypoint in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
# small and fast: narrow VGG on generated data, no progress bars
FAST = ["data=synthetic", "model.width=0.125", "trainer.epochs=2", "trainer.progress_bar=false"]


def compose_cfg(overrides: list[str] = ()):
    with initialize_config_dir(config_dir=str(CONF)):
        return compose(config_name="config", overrides=list(overrides))


def run_cli(args: list[str], timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """python run.py ARGS from the repository root, as a user would type it."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


@pytest.fixture
def fast_cfg():
    return lambda *extra: compose_cfg([*FAST, *extra])
