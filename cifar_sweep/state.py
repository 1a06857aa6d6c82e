"""A run's state, explicit: `Run` is what its config built (model, optimizer, schedule, data, inputs),
once, by `build_run`; `Progress` is where it stands (epochs done, best epoch, seconds spent). Both go
into every checkpoint (cifar_sweep/checkpoints.py), which reads them back on resume."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import cast

import torch

from cifar_sweep.data import Inputs, Split, make_splits
from cifar_sweep.errors import UserError
from cifar_sweep.models import build_model
from cifar_sweep.optim import Schedule, build_optimizer, build_schedule
from cifar_sweep.placement import Placement
from cifar_sweep.targets import trust_of


@dataclass
class Progress:
    """Where a run stands. Saved in every checkpoint; a resumed run continues from it."""

    epochs_done: int = 0
    best_val_acc: float | None = None
    best_epoch: int | None = None
    seconds_before: float = 0.0  # wall time of earlier attempts of this run (resume)
    started: float = field(default_factory=time.perf_counter)
    first_step_at: float | None = None  # unix time of this attempt's first optimizer step
    epochs_at_start: int = 0  # epochs done before this attempt (resume), for the time left

    def seconds(self) -> float:
        return self.seconds_before + time.perf_counter() - self.started

    def stepped(self) -> None:
        if self.first_step_at is None:
            self.first_step_at = time.time()

    def time_left(self, epochs: int) -> str:
        """'about 4 min left': this attempt's mean epoch time times the epochs still to do."""
        done_now = self.epochs_done - self.epochs_at_start
        if self.epochs_done >= epochs:
            return "done"
        if done_now <= 0:
            return "time left unknown"
        seconds = (time.perf_counter() - self.started) / done_now * (epochs - self.epochs_done)
        return f"about {seconds / 60:.0f} min left" if seconds >= 90 else f"about {seconds:.0f} s left"

    def stale(self, patience: int | None) -> bool:
        """True when early stopping is on and val_acc has not improved for `patience` epochs."""
        return bool(patience) and self.epochs_done - (self.best_epoch or 0) >= (patience or 0)

    def finish_epoch(self, epoch: int, val_acc: float) -> bool:
        """Record a finished epoch; True when it is the best so far."""
        self.epochs_done = epoch
        if self.best_val_acc is None or val_acc > self.best_val_acc:
            self.best_val_acc, self.best_epoch = val_acc, epoch
            return True
        return False

    def state(self) -> dict:
        return {
            "epoch": self.epochs_done,
            "best_val_acc": self.best_val_acc,
            "best_epoch": self.best_epoch,
            "elapsed": self.seconds(),
        }

    def load(self, state: dict) -> None:
        self.epochs_done, self.best_epoch = state["epoch"], state["best_epoch"]
        self.best_val_acc, self.seconds_before = state["best_val_acc"], state["elapsed"]
        self.epochs_at_start = self.epochs_done


@dataclass
class Run:
    """Everything the loop uses, built once from the config by `build_run`."""

    model: torch.nn.Module
    step_model: torch.nn.Module  # model or its torch.compile wrapper
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    splits: dict[str, Split]  # train / val / test; val is test when data.val_size=0
    inputs: Inputs
    generator: torch.Generator  # the data order and augmentation draws
    placement: Placement
    bf16: bool
    batch_size: int
    eval_batch_size: int
    epochs: int
    patience: int | None  # early stopping: epochs without a better val_acc; None = off

    @property
    def device(self) -> torch.device:
        return self.placement.device

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)


def channels_last_use(setting: str | bool, device: torch.device) -> tuple[bool, bool]:
    """(training, evaluation) in channels_last. auto: both on CUDA; on the CPU evaluation only, where it sped
    up VGG16's evaluation and slowed its training (0.94x) (docs/performance.md, 11)."""
    if setting == "auto":
        return device.type == "cuda", device.type in ("cuda", "cpu")
    return bool(setting), bool(setting)


def eval_batch_size(setting: str | int, device: torch.device) -> int:
    """data.eval_batch_size; auto: 1024 on a GPU, 256 on the CPU, where smaller batches evaluate faster
    (docs/performance.md, 11)."""
    if setting == "auto":
        return 256 if device.type == "cpu" else 1024
    return int(setting)


def setup_torch(cfg, threads: int | None = None) -> None:
    """Seed, CPU threads, determinism and TF32."""
    torch.manual_seed(cfg.seed)
    if threads is not None:
        torch.set_num_threads(threads)
    if cfg.trainer.deterministic:
        # cuBLAS repeats its results only with a fixed workspace (set before its first use in the
        # process); the ops that stay nondeterministic on CUDA warn once each (warn_only)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = not cfg.trainer.deterministic
    tf32 = cfg.trainer.precision != "fp32"  # fp32 means IEEE fp32 throughout, the study's precision
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


def build_run(cfg, placement: Placement, splits: dict[str, Split] | None = None) -> Run:
    """The run `cfg` describes, on placement.device. splits: the data, when runs share one copy."""
    device = placement.device
    splits = splits if splits is not None else make_splits(cfg.data, device)
    if cfg.batch_size > len(splits["train"]):
        raise UserError(f"batch_size={cfg.batch_size}: must be at most the {len(splits['train'])} training images")
    on_cuda = device.type == "cuda"
    channels_last, eval_channels_last = channels_last_use(cfg.trainer.channels_last, device)
    dtype = torch.float64 if cfg.trainer.precision == "fp64" else torch.float32  # fp64: exact comparisons
    trust = trust_of(cfg)
    model = build_model(cfg.model, trust).to(device, dtype=dtype)
    model = model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    optimizer = build_optimizer(cfg.optimizer, model, device, trust, cfg.trainer.fused_optimizer)
    schedule = build_schedule(cfg.scheduler, optimizer, splits["train"].steps(cfg.batch_size), trust)
    generator = torch.Generator(device=device)
    generator.manual_seed(cfg.seed)
    step_model = cast(torch.nn.Module, torch.compile(model)) if cfg.trainer.compile else model
    return Run(
        model=model,
        step_model=step_model,
        optimizer=optimizer,
        schedule=schedule,
        splits=splits,
        inputs=Inputs(cfg.augment, cfg.data.normalize, device, channels_last, dtype, eval_channels_last),
        generator=generator,
        placement=placement,
        bf16=cfg.trainer.precision == "bf16" or (cfg.trainer.precision == "auto" and on_cuda),
        batch_size=cfg.batch_size,
        eval_batch_size=eval_batch_size(cfg.data.eval_batch_size, device),
        epochs=cfg.trainer.epochs,
        patience=cfg.trainer.patience,
    )
