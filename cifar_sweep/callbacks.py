"""Hydra callbacks (hydra.callbacks in conf/config.yaml)."""

from __future__ import annotations

from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class PrepareStorage(Callback):
    """Create the folder of an SQLite Optuna storage before the sweeper opens it."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        storage = config.hydra.sweeper.get("storage")
        if isinstance(storage, str) and storage.startswith("sqlite:///"):
            Path(storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
