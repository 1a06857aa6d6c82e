"""Where a sweep's study lives, and how a job finds its trial: shared by the sweeper and its jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SQLITE = "sqlite:///"
DEFAULT_FILE = "optuna.db"  # in hydra.sweep.dir, when hydra.sweeper.storage is null
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
