"""Hydra callbacks (hydra.callbacks in conf/config.yaml)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


def fail(message: str) -> None:
    """One line on stderr and exit 2: a user mistake, not a crash (Hydra lets SystemExit through)."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def check_writable(key: str, directory: str) -> None:
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as e:
        fail(f"{key}={directory!r}: cannot write there ({e.strerror}); choose a writable directory")


class Preflight(Callback):
    """Before Hydra writes anything: the output directory is writable. (The optuna_pruning sweeper checks
    its storage itself, with one line for a URL that cannot be opened.)"""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        check_writable("hydra.run.dir", config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        check_writable("hydra.sweep.dir", config.hydra.sweep.dir)


JOBS_ENV = "CIFAR_SWEEP_JOBS"  # a grid's number of jobs, for each job's "k of N" line


def grid_size(config: DictConfig) -> int | None:
    """How many jobs Hydra's basic sweeper will launch: the product of the sweep values of the
    command line's overrides and hydra.sweeper.params (the command line wins a key). None for
    another sweeper."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if not str(config.hydra.sweeper.get("_target_", "")).endswith("BasicSweeper"):
        return None
    params = dict(config.hydra.sweeper.get("params") or {})
    for line in config.hydra.overrides.task:
        key, _, value = line.partition("=")
        params[key] = value
    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    size = 1
    for override in parsed:
        if override.is_sweep_override():
            size *= len(list(override.sweep_string_iterator()))
    return size


class SweepProgress(Callback):
    """Tells each job of a grid how many jobs the grid has (CIFAR_SWEEP_JOBS), so it can log
    'job k of N' when it ends; worker processes (joblib, Slurm) inherit it."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        size = grid_size(config)
        if size is None:
            os.environ.pop(JOBS_ENV, None)  # another sweeper (Optuna) reports its own progress
        else:
            os.environ[JOBS_ENV] = str(size)
