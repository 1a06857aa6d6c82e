"""What names a job in the trackers: the values its sweep varies, e.g. `optimizer=rmsprop,seed=1`
(a search's job: `trial=7,optimizer.lr=0.0012`), so that TensorBoard, MLflow and W&B show which
curve is which. A single run, or a sweep that varies nothing, has no such name."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cifar_sweep import sweeps


@dataclass(frozen=True)
class JobName:
    swept: dict[str, str] = field(default_factory=dict)  # the keys the sweep varies -> this job's values
    trial: int | None = None  # the Optuna trial's number, in a search

    @property
    def text(self) -> str | None:
        trial = [f"trial={self.trial}"] if self.trial is not None else []
        return ",".join(trial + [f"{k}={v}" for k, v in self.swept.items()]) or None


def job_name(hydra_cfg, trial_number: int | None = None, trial_params: dict | None = None) -> JobName:
    """This job's name. In a search, the trial's number and parameters; in a grid, its values of the keys the
    grid varies (sweeps.grid_keys, from the job's own overrides); in a single run, none."""
    if trial_number is not None:
        return JobName({k: str(v) for k, v in (trial_params or {}).items()}, trial_number)
    if not sweeps.is_multirun(hydra_cfg):
        return JobName()
    mine = {sweeps.override_key(o): str(o).partition("=")[2] for o in sweeps.task_overrides(hydra_cfg)}
    keys = sweeps.grid_keys(hydra_cfg, Path(str(hydra_cfg.sweep.dir)))
    return JobName({k: mine[k] for k in keys if k in mine})
