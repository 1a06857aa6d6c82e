"""The epoch-runner seam: how a run's epochs are computed, and what every way of computing them shares.

The loop (cifar_sweep/train.py) asks its `EpochRunner` for the data, for each training epoch's numbers
and to run its other torch work (building, evaluating). Alone, a run does all of that itself on its own
thread (train.Alone). A launcher that trains several runs at once hands each job a runner of its own
(cifar_sweep/fusion.py), without the loop knowing. Both meter their epochs with `EpochMeter`, check the
loss every PROGRESS_EVERY steps and raise `Diverged` when it stops being finite.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import torch

from cifar_sweep.data import Split, make_splits

if TYPE_CHECKING:
    from cifar_sweep.state import Progress, Run

PROGRESS_EVERY = 25  # steps between progress-bar updates and divergence checks (each one host sync)
T = TypeVar("T")


class Diverged(Exception):
    """Training loss became NaN or infinite."""


def divergence(mean_loss: float, epoch: int, step: int) -> str | None:
    """Why a run diverged, or None while its mean training loss is finite."""
    return None if math.isfinite(mean_loss) else f"train_loss={mean_loss} at epoch {epoch}, step {step}"


class EpochRunner:
    """How a run's epochs are computed. `train` is the runner's own; the data and the other torch work
    are the run's, on the calling thread, unless a runner says otherwise."""

    def call(self, work: Callable[[], T]) -> T:
        """Run torch work of this run (building, evaluating) where the run's computations go."""
        return work()

    def splits(self, cfg, device: torch.device) -> dict[str, Split]:
        return make_splits(cfg.data, device)

    def train(self, run: Run, epoch: int, progress: Progress) -> dict:
        """The train fields of the epoch's metrics row; raises Diverged."""
        raise NotImplementedError


class EpochMeter:
    """The running loss and accuracy of k runs' training epoch. They stay on the device; `check`
    brings the losses to the host every PROGRESS_EVERY steps."""

    def __init__(self, k: int, steps: int, device: torch.device) -> None:
        self.steps, self.seen = steps, 0
        self.loss_sums = torch.zeros(k, device=device)
        self.correct = torch.zeros(k, device=device, dtype=torch.long)
        self.start = time.perf_counter()

    def add(self, losses: torch.Tensor, correct: torch.Tensor, n: int) -> None:
        """losses: [k] mean batch losses; correct: [k] correct predictions; n: the batch size."""
        self.loss_sums += losses.detach().float() * n
        self.correct += correct
        self.seen += n

    def check(self, step: int) -> list[float] | None:
        """Each run's mean loss so far, every PROGRESS_EVERY steps and at the last; None between."""
        if step % PROGRESS_EVERY and step != self.steps:
            return None
        return (self.loss_sums / self.seen).tolist()

    def rows(self, device: torch.device) -> list[dict]:
        """Each run's train fields of its metrics row."""
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # the run's own GPU
        seconds = time.perf_counter() - self.start
        return [
            {
                "train_loss": loss / self.seen,
                "train_acc": correct / self.seen,
                "epoch_seconds": seconds,
                "images_per_second": self.seen / seconds,
            }
            for loss, correct in zip(self.loss_sums.tolist(), self.correct.tolist())
        ]
