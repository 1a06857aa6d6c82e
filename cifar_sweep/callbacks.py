"""Hydra callbacks (hydra.callbacks in conf/config.yaml)."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from optuna_pruning_sweeper.study import mask_password, sqlite_file

OPEN_ATTEMPTS = 4


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


def racing(error: Exception) -> bool:
    """An SQLite error of two processes creating one database's tables at once (worth a retry)."""
    return "already exists" in str(error) or "database is locked" in str(error)


def check_storage(url: str) -> None:
    """Open the Optuna storage once, so a bad URL or a dead server is one line, not a traceback."""
    import optuna

    if (path := sqlite_file(url)) is not None:
        check_writable("hydra.sweeper.storage", str(path.parent))
    from sqlalchemy.exc import IntegrityError, OperationalError

    for attempt in range(OPEN_ATTEMPTS):
        try:
            optuna.storages.RDBStorage(url)
            return
        except (IntegrityError, OperationalError) as e:  # workers started together on a new database race to
            error = e                                    # create Optuna's tables; the loser finds them there later
            if isinstance(e, OperationalError) and not racing(e):
                break
            time.sleep(0.5 * (attempt + 1))
        except Exception as e:  # SQLAlchemy, driver and URL errors alike: no point retrying
            error = e
            break
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    fail(f"hydra.sweeper.storage={mask_password(url)!r}: cannot open it ({reason}); check the URL "
         "(sqlite:///path.db or postgresql://user:pass@host/db), that the server runs, and the credentials")


class Preflight(Callback):
    """Before Hydra writes anything: the output directory is writable and an Optuna storage opens."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        check_writable("hydra.run.dir", config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        check_writable("hydra.sweep.dir", config.hydra.sweep.dir)
        storage = config.hydra.sweeper.get("storage")
        if isinstance(storage, str):
            check_storage(storage)


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
