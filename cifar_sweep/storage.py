"""Open the Optuna storage a finished sweep's jobs belonged to (collect); never creates one."""

from __future__ import annotations

from optuna_pruning_sweeper.study import sqlite_file


def open_storage(url: str):
    """An RDBStorage for `url`, or None when it is an SQLite file that does not exist."""
    import optuna

    path = sqlite_file(url)
    if path is not None and not path.is_file():
        return None
    return optuna.storages.RDBStorage(url, skip_table_creation=True)
