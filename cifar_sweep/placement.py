"""Where a job trains on this machine (`Placement`), decided once from its Hydra config by `placed`: the
device (with several GPUs, the least busy one, claimed for the job's lifetime: `gpu_claimed`), torch's
CPU threads (jobs run side by side split the cores; a Slurm job uses its allocation), whether it shows a
progress bar, and the label of its log lines."""

from __future__ import annotations

import fcntl
import itertools
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

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


@contextmanager
def placed(cfg, hydra_cfg, fused: bool = False) -> Iterator[Placement]:
    """The placement of the job of these configs, for the block: on a machine with several GPUs the
    job holds its GPU's claim until the block ends. fused: it trains in a fused group, which shares one
    device (and so one claim: the process's) and the process's threads."""
    multirun = sweeps.is_multirun(hydra_cfg)
    job_num = hydra_cfg.job.get("num") or 0
    parallel = 1 if fused else parallel_jobs(hydra_cfg)
    several = cfg.trainer.device in ("auto", "cuda") and torch.cuda.is_available() and torch.cuda.device_count() > 1
    with gpu_claimed(gpu_names()) if several else nullcontext(0) as gpu_index:
        yield Placement(
            device=resolve_device(cfg.trainer.device, gpu_index),
            threads=threads(cfg.trainer.threads, parallel),
            progress_bar=bool(cfg.trainer.progress_bar) and parallel == 1 and not fused,
            label=f"job {job_num}: " if multirun else "",
        )


# ---------------------------------------------------------------- GPU claims
#
# A job on a machine with several GPUs trains on the least busy one: it takes the first free claim in
# the order (GPU 0, slot 0), (GPU 1, slot 0), ..., (GPU 0, slot 1), ..., so k jobs on n GPUs sit
# ceil(k/n) at most to a GPU, and a job that starts after another ended takes the GPU it freed. A claim
# is an exclusive flock on a file per (GPU, slot) in CLAIMS_DIR: the kernel drops it when the holder
# dies, however it dies, so a killed job gives its GPU back. Jobs of one process at once (a fused
# group's threads) share the process's one claim.

CLAIMS_DIR = Path(
    os.environ.get("CIFAR_SWEEP_GPU_CLAIMS") or Path(tempfile.gettempdir()) / f"cifar-sweep-gpus-{os.getuid()}"
)

_claim_lock = threading.Lock()
_claim: dict[str, int] = {}  # this process's claim: "gpu" (its index), "fd" (its lock file), "users"


def gpu_names() -> list[str]:
    """A name per visible GPU that is the same in every process on this machine (whatever each one's
    CUDA_VISIBLE_DEVICES): its UUID where torch gives it, else its place in the visible list."""
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    names = []
    for index in range(torch.cuda.device_count()):
        uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
        names.append(str(uuid) if uuid else visible[index] if index < len(visible) else str(index))
    return names


def _take(names: Sequence[str], folder: Path) -> tuple[int, int]:
    """(GPU index, lock file descriptor) of the first free claim, GPU-major within each slot."""
    for slot in itertools.count():
        for index, name in enumerate(names):
            try:
                folder.mkdir(parents=True, exist_ok=True)
                fd = os.open(folder / f"{name.replace(os.sep, '_')}.{slot}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise UserError(
                    f"CIFAR_SWEEP_GPU_CLAIMS={str(folder)!r}: cannot write the GPU claims there ({e.strerror}); "
                    "set CIFAR_SWEEP_GPU_CLAIMS to a writable folder"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return index, fd
    raise AssertionError("unreachable: some slot is always free")


@contextmanager
def gpu_claimed(names: Sequence[str], folder: Path | None = None) -> Iterator[int]:
    """The index (in `names`) of the GPU this process holds a claim on for the block: the process's
    claim if it has one, else the least busy GPU's. The last block to end gives the claim back."""
    with _claim_lock:
        if not _claim:
            gpu, fd = _take(names, folder or CLAIMS_DIR)
            _claim.update(gpu=gpu, fd=fd, users=0)
        _claim["users"] += 1
        gpu = _claim["gpu"]
    try:
        yield gpu
    finally:
        with _claim_lock:
            _claim["users"] -= 1
            if _claim["users"] == 0:
                os.close(_claim.pop("fd"))  # closing the descriptor releases the flock
                _claim.clear()
