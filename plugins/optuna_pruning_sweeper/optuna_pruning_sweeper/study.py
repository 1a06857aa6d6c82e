"""Where a sweep's study lives, and how a job finds its trial: shared by the sweeper and its jobs."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from optuna_pruning_sweeper.errors import fail, one_line

SQLITE = "sqlite:///"
DEFAULT_FILE = "optuna.db"  # in hydra.sweep.dir, when hydra.sweeper.storage is null
# Fault injection for tests: "N:before" ends the process (exit 137, as SIGKILL would) just before its
# Nth write to a study, "N:after" just after it; every storage of the sweeper and of in-process jobs
# counts (heartbeats, which change no state, do not)
CRASH_AT = "OPTUNA_PRUNING_CRASH_AT"
TRIAL_ID = "OPTUNA_PRUNING_TRIAL_ID"  # hydra.job.env_set keys the sweeper gives each job
STUDY = "OPTUNA_PRUNING_STUDY"


def storage_url(storage: str | None, sweep_dir: str | Path, cwd: str | Path) -> str:
    """The study's URL. null: sqlite:///<hydra.sweep.dir>/optuna.db; a relative sqlite:/// path is
    relative to `cwd`, the directory the sweep was started in, so every job opens the same file."""
    if storage is None:
        return SQLITE + str((Path(cwd) / sweep_dir / DEFAULT_FILE).resolve())
    if storage.startswith(SQLITE) and storage != SQLITE + ":memory:":
        path = Path(storage[len(SQLITE) :])
        return SQLITE + str(path if path.is_absolute() else (Path(cwd) / path).resolve())
    return storage


def sqlite_file(url: str) -> Path | None:
    """The database file of an sqlite:/// URL; None for any other URL."""
    return Path(url[len(SQLITE) :]) if url.startswith(SQLITE) and url != SQLITE + ":memory:" else None


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


def build_pruner(pruner_cfg: Any):
    """The configured optuna pruner (hydra/sweeper/pruner=...), or NopPruner; the sweeper and each job
    build it alike."""
    import optuna
    from hydra.utils import instantiate

    if not pruner_cfg:
        return optuna.pruners.NopPruner()
    return instantiate(pruner_cfg, _execution_whitelist_=("optuna.pruners.*",))


def trial_reference(hydra_cfg: Any) -> tuple[str, str, int] | None:
    """(storage URL, study name, trial id) of the job whose Hydra config (the `hydra` node) this is,
    or None when no optuna_pruning sweep launched it. Works on a finished job's .hydra/hydra.yaml too."""
    env = hydra_cfg.job.get("env_set") or {}
    if env.get(TRIAL_ID) is None:
        return None
    storage = hydra_cfg.sweeper.get("storage")
    sweep_dir = sweep_directory(hydra_cfg) if storage is None else "."
    return storage_url(storage, sweep_dir, hydra_cfg.runtime.cwd), str(env[STUDY]), int(env[TRIAL_ID])


def sweep_directory(hydra_cfg: Any) -> str:
    """hydra.sweep.dir; read back from a finished job's hydra.yaml, where ${now:...} may be left unresolved,
    the directory above the job's (hydra.sweep.subdir is one level, the job number, by default)."""
    try:
        return str(hydra_cfg.sweep.dir)
    except Exception:
        return str(Path(hydra_cfg.runtime.output_dir).parent)


def rdb_storage(url: str, **kwargs: Any):
    """optuna.storages.RDBStorage(url, **kwargs): the one place the sweeper and its jobs open a study's
    storage, so that CRASH_AT sees every write."""
    import optuna

    if os.environ.get(CRASH_AT):
        return _crashing_storage()(url, **kwargs)
    return optuna.storages.RDBStorage(url, **kwargs)


def open_storage(url: str, attempts: int = 5) -> Any:
    """The study's RDBStorage (rdb_storage). Workers started together on a new database race to create
    Optuna's tables: the losers (a unique violation, a table or type that "already exists", SQLite's
    lock) find them there on a later attempt. Any other error is one line naming the storage, exit 2."""
    from sqlalchemy.exc import DBAPIError

    error: Exception | None = None
    for attempt in range(attempts):
        try:
            return rdb_storage(url)
        except DBAPIError as e:
            error = e
            if not _lost_creation_race(e):
                break  # a wrong URL or a server that is down: no point retrying
            time.sleep(0.5 * (attempt + 1))
        except Exception as e:
            error = e
            break
    reason = one_line(error) if error is not None else "no attempt made"
    fail(
        f"hydra.sweeper.storage={mask_password(url)!r}: cannot open it ({reason}); check the URL "
        "(sqlite:///path.db or postgresql://user:pass@host/db), that the server runs, and the credentials"
    )


def _lost_creation_race(error: Exception) -> bool:
    """Whether opening failed only because another process created the schema at the same moment:
    PostgreSQL reports that as a unique violation in pg_type or as DuplicateTable/DuplicateObject."""
    from sqlalchemy.exc import IntegrityError

    return isinstance(error, IntegrityError) or any(
        race in str(error) for race in ("already exists", "database is locked")
    )


_writes = 0  # study writes of this process, for CRASH_AT


def _crash_if(stage: str) -> None:
    number, _, when = os.environ.get(CRASH_AT, "").partition(":")
    if number.isdigit() and int(number) == _writes and when == stage:
        os._exit(137)


def _crashing_storage():
    from optuna_pruning_sweeper import compat

    def counted(write):
        def write_counted(self, *args: Any, **kwargs: Any) -> Any:
            global _writes
            _writes += 1
            _crash_if("before")
            result = write(self, *args, **kwargs)
            _crash_if("after")
            return result

        return write_counted

    return compat.rdb_storage_with_writes(counted)
