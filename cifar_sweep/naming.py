"""What names a job in the trackers: the values its sweep varies, e.g. `optimizer=rmsprop,seed=1`
(a search's job: `trial=7,optimizer.lr=0.0012`), so that TensorBoard, MLflow and W&B show which
curve is which. A single run, or a sweep that varies nothing, has no such name."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hydra.types import RunMode
from omegaconf import OmegaConf


@dataclass(frozen=True)
class JobName:
    swept: dict[str, str] = field(default_factory=dict)  # the keys the sweep varies -> this job's values
    trial: int | None = None  # the Optuna trial's number, in a search

    @property
    def text(self) -> str | None:
        trial = [f"trial={self.trial}"] if self.trial is not None else []
        return ",".join(trial + [f"{k}={v}" for k, v in self.swept.items()]) or None


def _key(override: str) -> str:
    return override.partition("=")[0].lstrip("+~")


def _sweeps(overrides: list[str]) -> list[str]:
    """The keys of the overrides that sweep (a,b / range / choice / interval / glob), in their order."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides([str(o) for o in overrides])
    return [o.get_key_element().lstrip("+~") for o in parsed if o.is_sweep_override()]


def grid_keys(hydra_cfg) -> list[str]:
    """The keys a grid varies: its hydra.sweeper.params that sweep, then the sweeping overrides of the
    command that started it (kept in the sweep's multirun.yaml, which the basic sweeper writes first)."""
    params = [f"{k}={v}" for k, v in (hydra_cfg.sweeper.get("params") or {}).items()]
    keys = _sweeps(params)
    started = Path(str(hydra_cfg.sweep.dir)) / "multirun.yaml"
    if started.is_file():
        keys += [k for k in _sweeps(list(OmegaConf.load(started).hydra.overrides.task)) if k not in keys]
    return keys


def job_name(hydra_cfg, trial_number: int | None = None, trial_params: dict | None = None) -> JobName:
    """This job's name. In a search, the trial's number and parameters; in a grid, its values of the keys the
    grid varies (from the job's own overrides); in a single run, none."""
    if trial_number is not None:
        return JobName({k: str(v) for k, v in (trial_params or {}).items()}, trial_number)
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return JobName()
    mine = {_key(o): str(o).partition("=")[2] for o in hydra_cfg.overrides.task}
    return JobName({k: mine[k] for k in grid_keys(hydra_cfg) if k in mine})
