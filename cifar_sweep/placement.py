"""Where a job trains on this machine (`Placement`), decided once from its Hydra config by `place`: the
device (job N of a sweep takes GPU N mod count), torch's CPU threads (jobs run side by side split the
cores; a Slurm job uses its allocation), whether it shows a progress bar, and the label of its log lines."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from cifar_sweep import sweeps
from cifar_sweep.errors import UserError


@dataclass(frozen=True)
class Placement:
    """Where a run trains on this machine; the loop reads it, the job decides it."""

    device: torch.device
    threads: int | None = None  # torch CPU threads; None: torch's default
    progress_bar: bool = False  # jobs running side by side show none (they would interleave)
    label: str = ""  # "job 3: " in a sweep, so that lines of parallel jobs can be told apart


def resolve_device(name: str, gpu_index: int = 0) -> torch.device:
    """The configured device; with several GPUs, gpu_index picks one (mod their count)."""
    if name in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda", gpu_index % torch.cuda.device_count())
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("mps" if mps else "cpu")
    if not {"cpu": True, "cuda": False, "mps": mps}[name]:
        raise UserError(f"trainer.device={name!r}: no such device is available here; use trainer.device=auto or cpu")
    return torch.device(name)


def cpus_available() -> int:
    """The cores this process may use: a Slurm job's allocation (SLURM_CPUS_PER_TASK, which Slurm without
    CPU binding does not enforce), else the process's CPU affinity."""
    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit():
        return int(slurm)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def threads(configured: int | None, parallel_jobs: int) -> int | None:
    """trainer.threads if set; else a share of the cores when jobs run side by side or this process
    was given fewer cores than the machine has (Slurm, taskset); else None (torch's default)."""
    if configured:
        return configured
    cpus = cpus_available()
    constrained = parallel_jobs > 1 or cpus < (os.cpu_count() or cpus)
    return max(1, cpus // parallel_jobs) if constrained else None


def parallel_jobs(hydra_cfg) -> int:
    """How many jobs the launcher runs at once on this machine (joblib's n_jobs; -1 = one per core)."""
    n = hydra_cfg.launcher.get("n_jobs", 1) if sweeps.is_multirun(hydra_cfg) else 1
    return max(1, (os.cpu_count() or 1) + 1 + n if n < 0 else n)


def place(cfg, hydra_cfg, fused: bool = False) -> Placement:
    """The placement of the job of these configs. fused: it trains in a fused group, which shares
    one device and the process's threads."""
    multirun = sweeps.is_multirun(hydra_cfg)
    job_num = hydra_cfg.job.get("num") or 0
    parallel = 1 if fused else parallel_jobs(hydra_cfg)
    return Placement(
        device=resolve_device(cfg.trainer.device, 0 if fused else job_num),
        threads=threads(cfg.trainer.threads, parallel),
        progress_bar=bool(cfg.trainer.progress_bar) and parallel == 1 and not fused,
        label=f"job {job_num}: " if multirun else "",
    )
