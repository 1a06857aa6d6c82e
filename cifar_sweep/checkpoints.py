"""A run's checkpoints, and their format: checkpoints/last.pt holds everything needed to resume (the
progress, model, optimizer, scheduler and random generators); best.pt the same at the best val_acc.
Written atomically (files.write_file): a kill at any instant leaves the old file or the new one.

    save(run, progress, ckpt_dir, best)     after each recorded epoch
    restore(run, progress, ckpt_dir)        trainer.resume=true: continue after the last saved epoch
"""

from __future__ import annotations

import io
import logging
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


def save(run: Run, progress: Progress, ckpt_dir: Path, best: bool) -> None:
    """last.pt, and best.pt first when this epoch is the best so far."""
    rng = {"torch": torch.get_rng_state(), "data": run.generator.get_state()}
    if run.device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(run.device)
    state = {
        **progress.state(),
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.schedule.scheduler.state_dict(),
        "rng": rng,
    }
    if best:  # before last.pt: a run resumed from an older last.pt redoes this epoch and writes it again
        write(ckpt_dir / BEST, state)
    write(ckpt_dir / LAST, state)  # last: the epoch counts as done once this is written


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
