"""A run's checkpoints, and their format: checkpoints/last.pt holds everything needed to resume (the
progress, model, optimizer, scheduler and random generators); best.pt the model's weights at the best
val_acc (with its epoch and val_acc: a third of last.pt's size with Adam). Written atomically
(files.write_file): a kill at any instant leaves the old file or the new one.

    Saver(ckpt_dir, every).after_epoch(run, progress, best, final)   after each recorded epoch
    restore(run, progress, ckpt_dir)        trainer.resume=true: continue after the last saved epoch

How often (trainer.checkpoint_every): every N epochs, or once N seconds have passed since the last
save ("120s", "5min"); always at the run's last epoch. The default, every epoch, loses no epoch to a
kill; a rarer save loses the epochs since it (a resume trains them again, to the same numbers).
"""

from __future__ import annotations

import io
import logging
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from cifar_sweep.errors import UserError, one_line
from cifar_sweep.files import write_file

if TYPE_CHECKING:
    from cifar_sweep.state import Progress, Run

log = logging.getLogger(__name__)
LAST, BEST = "last.pt", "best.pt"


def write(path: Path, state: dict) -> None:
    buffer = io.BytesIO()  # serialise first: a full disk then fails as an OSError on the write
    torch.save(state, buffer)
    write_file(path, buffer.getbuffer())


def load(path: Path, device: torch.device) -> dict:
    return torch.load(path, map_location=device, weights_only=True)


def every(value: int | str) -> tuple[int | None, float | None]:
    """trainer.checkpoint_every as (epochs, seconds), one of them None; UserError when it is neither."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value, None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|min)", str(value).strip())
    if match is None or float(match[1]) <= 0:
        raise UserError(
            f"trainer.checkpoint_every={value!r}: must be a whole number of epochs >= 1, or a time since the "
            "last save such as '120s' or '5min'"
        )
    return None, float(match[1]) * (60 if match[2] == "min" else 1)


def full_state(run: Run, progress: Progress) -> dict:
    """What a resume needs: progress, model, optimizer, scheduler, random generators."""
    rng = {"torch": torch.get_rng_state(), "data": run.generator.get_state()}
    if run.device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(run.device)
    return {
        **progress.state(),
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.schedule.scheduler.state_dict(),
        "rng": rng,
    }


class Saver:
    """Writes a run's checkpoints when they are due (module docstring)."""

    def __init__(self, ckpt_dir: Path, checkpoint_every: int | str = 1) -> None:
        self.ckpt_dir = ckpt_dir
        self.epochs, self.seconds = every(checkpoint_every)
        self.saved_at = time.monotonic()
        self.best: dict | None = None  # best.pt's contents not yet written (a best epoch between saves)

    def due(self, epoch: int, final: bool) -> bool:
        if final:
            return True
        if self.seconds is not None:
            return time.monotonic() - self.saved_at >= self.seconds
        return self.epochs is not None and epoch % self.epochs == 0

    def after_epoch(self, run: Run, progress: Progress, best: bool, final: bool) -> None:
        """best: this epoch has the best val_acc so far; final: the run trains no further epoch."""
        due = self.due(progress.epochs_done, final)
        if best:  # kept until the next save: copied unless written now
            weights = run.model.state_dict()
            if not due:
                weights = {k: v.detach().clone() for k, v in weights.items()}
            self.best = {"model": weights, "epoch": progress.epochs_done, "val_acc": progress.best_val_acc}
        if not due:
            return
        if self.best is not None:  # before last.pt: a run resumed from an older last.pt redoes the epoch
            write(self.ckpt_dir / BEST, self.best)
            self.best = None
        write(self.ckpt_dir / LAST, full_state(run, progress))  # last: the epoch counts as done now
        self.saved_at = time.monotonic()


def restore(run: Run, progress: Progress, ckpt_dir: Path) -> None:
    """Load last.pt into `run` and `progress`; nothing to do when there is none."""
    path = ckpt_dir / LAST
    if not path.is_file():
        log.info("no checkpoint in %s: starting from epoch 1", ckpt_dir)
        return
    try:
        state = load(path, run.device)
    except Exception as e:  # truncated, corrupt, or not a checkpoint at all: never guess, never delete
        raise UserError(
            f"trainer.resume=true: {path} cannot be read ({one_line(e)}); delete {ckpt_dir} to start "
            "this run over, or choose another run directory"
        ) from None
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.schedule.scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"]["torch"].cpu())
    run.generator.set_state(state["rng"]["data"].cpu())
    if "cuda" in state["rng"] and run.device.type == "cuda":
        torch.cuda.set_rng_state(state["rng"]["cuda"].cpu(), run.device)
    progress.load(state)
    log.info("resumed from %s after epoch %d", path, progress.epochs_done)
