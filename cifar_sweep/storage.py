"""Optuna storage URLs: hide passwords, and open the study a sweep job belonged to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SQLITE = "sqlite:///"


def mask_password(url: Any) -> Any:
    """postgresql://user:secret@host/db -> postgresql://user:***@host/db; anything else unchanged."""
    if not isinstance(url, str) or "://" not in url:
        return url
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return url


def sqlite_file(url: str) -> Path | None:
    """The database file of an sqlite:/// URL; None for any other URL."""
    return Path(url[len(SQLITE):]) if url.startswith(SQLITE) else None


def absolute_sqlite(url: str, cwd: str | Path) -> str:
    """A relative sqlite:///path is relative to the directory the sweep was started in."""
    path = sqlite_file(url)
    return SQLITE + str(Path(cwd) / path) if path is not None and not path.is_absolute() else url


def open_storage(url: str):
    """An RDBStorage for `url`, or None when it is an SQLite file that does not exist (never creates one)."""
    import optuna

    path = sqlite_file(url)
    if path is not None and not path.is_file():
        return None
    return optuna.storages.RDBStorage(url, skip_table_creation=True)
