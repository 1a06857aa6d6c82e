"""One training run: the epoch loop, evaluation, metrics.csv and checkpoints, and its summary.

    train(cfg, run_dir, placement) -> Summary (the job writes it to summary.json)

Training knows only training. Where it runs (`Placement`) is decided by the job; what the config
builds, and where the run stands, is `Run` and `Progress` (state.py); how its epochs are computed is
its `EpochRunner` (runner.py: alone, or together with other runs, by a launcher); what happens after
each epoch (trackers, a pruner) is the `on_epoch` hook, which may raise Pruned.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from cifar_sweep import checkpoints, results, status
from cifar_sweep.data import Split
from cifar_sweep.errors import Pruned, one_line
from cifar_sweep.models import count_params, logits_of
from cifar_sweep.placement import Placement
from cifar_sweep.results import METRICS_COLUMNS, MetricsLog, Summary
from cifar_sweep.runner import Diverged, EpochMeter, EpochRunner, divergence
from cifar_sweep.state import Progress, Run, build_run, setup_torch

log = logging.getLogger(__name__)

OnEpoch = Callable[[int, dict], None]  # (epoch, metrics row); may raise Pruned


@dataclass
class Ending:
    """How a run's epochs ended: its status, why (when it did not complete), its test numbers."""

    status: str
    error: str | None = None
    test: tuple[float, float] | None = None  # (loss, accuracy) of the final model
    stopped_early: bool = False


# ---------------------------------------------------------------- the loop


def train_epoch(run: Run, epoch: int, progress: Progress) -> dict:
    """One pass over the training split: the train fields of the epoch's metrics row."""
    run.model.train()
    train = run.splits["train"]
    meter = EpochMeter(1, train.steps(run.batch_size), run.device)
    shown = EpochProgress(run, epoch, progress, meter.steps)
    for step, (x, y) in enumerate(train.batches(run.batch_size, run.generator), start=1):
        with run.autocast():
            logits = logits_of(run.step_model(run.inputs(x, run.generator)))
            loss = F.cross_entropy(logits, y)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        run.schedule.after_step()
        progress.stepped()
        meter.add(loss[None], (logits.argmax(1) == y).sum()[None], len(y))
        if (means := meter.check(step)) is not None:
            if reason := divergence(means[0], epoch, step):
                raise Diverged(reason)
            shown.report(step, means[0], meter)
        shown.bar.update()
    shown.bar.close()
    return meter.rows(run.device)[0]


@torch.no_grad()
def evaluate(run: Run, split: Split) -> tuple[float, float]:
    """(mean loss, accuracy) without augmentation."""
    run.model.eval()
    loss_sum = torch.zeros((), device=run.device)
    correct = torch.zeros((), device=run.device, dtype=torch.long)
    for x, y in split.batches(run.eval_batch_size):
        with run.autocast():
            logits = logits_of(run.step_model(run.inputs(x)))
        loss_sum += F.cross_entropy(logits.float(), y, reduction="sum")
        correct += (logits.argmax(1) == y).sum()
    return loss_sum.item() / len(split), correct.item() / len(split)


def run_epoch(run: Run, runner: EpochRunner, epoch: int, progress: Progress) -> dict:
    """Train, validate, step the epoch scheduler: one metrics.csv row."""
    lr = run.optimizer.param_groups[0]["lr"]  # the rate this epoch trained with
    row = {"epoch": epoch, **runner.train(run, epoch, progress)}
    row["val_loss"], row["val_acc"] = runner.call(lambda: evaluate(run, run.splits["val"]))
    row["lr"] = lr
    run.schedule.after_epoch(row)
    return {k: row[k] for k in METRICS_COLUMNS}


def fit(
    run: Run,
    runner: EpochRunner,
    progress: Progress,
    metrics: MetricsLog,
    saver: checkpoints.Saver,
    on_epoch: OnEpoch | None,
) -> Ending:
    """The epochs still to do, each recorded, then the test set."""
    try:
        stopped_early = progress.stale(run.patience)  # a resumed run that had already stopped
        for epoch in range(progress.epochs_done + 1, run.epochs + 1):
            if stopped_early:
                break
            row = run_epoch(run, runner, epoch, progress)
            # The row first, the checkpoint last: a kill between them leaves a checkpoint of an epoch
            # before, whose resume drops the later rows (MetricsLog keeps rows up to the checkpoint's
            # epoch) and trains those epochs again, to the same numbers.
            metrics.append(row)
            best = progress.finish_epoch(epoch, row["val_acc"])
            stopped_early = progress.stale(run.patience) and epoch < run.epochs
            saver.after_epoch(run, progress, best, final=epoch == run.epochs or stopped_early)
            log_epoch(run, row, progress)
            if on_epoch is not None:
                on_epoch(epoch, row)
            if stopped_early:
                log.info(
                    "%sstopping early: val_acc has not improved for %d epochs (best %.4f at epoch %d)",
                    run.placement.label,
                    run.patience,
                    progress.best_val_acc,
                    progress.best_epoch,
                )
        test = runner.call(lambda: evaluate(run, run.splits["test"]))
        return Ending(status.COMPLETED, test=test, stopped_early=stopped_early)
    except Pruned as e:
        log.info("%strial %s", run.placement.label, e)
        return Ending(status.PRUNED, str(e))
    except (Diverged, torch.cuda.OutOfMemoryError) as e:
        return failure(e)


class Alone(EpochRunner):
    """A run's epochs computed by the run itself, on its own thread: the plain runner."""

    def train(self, run: Run, epoch: int, progress: Progress) -> dict:
        return train_epoch(run, epoch, progress)


def train(
    cfg,
    run_dir: Path,
    placement: Placement,
    on_epoch: OnEpoch | None = None,
    resume: bool = False,
    runner: EpochRunner | None = None,
) -> Summary:
    """Train per `cfg` on `placement`, writing metrics.csv and checkpoints into run_dir; returns the
    summary. resume: continue from checkpoints/last.pt. on_epoch(epoch, row) is called after each
    recorded epoch and may raise Pruned. runner: how the epochs are computed (default: Alone)."""
    runner = runner or Alone()
    progress = Progress()

    def start() -> Run:  # one call: seeding, building and restoring use torch's global RNG
        setup_torch(cfg, placement.threads)
        run = build_run(cfg, placement, runner.splits(cfg, placement.device))
        if resume:
            checkpoints.restore(run, progress, run_dir / "checkpoints")
        return run

    try:
        run = runner.call(start)
    except torch.cuda.OutOfMemoryError as e:  # the data or the model does not fit on the GPU
        return summarize(failure(e), progress, [], None, placement, None)
    metrics = MetricsLog(run_dir, keep_epochs=progress.epochs_done)
    params = count_params(run.model)
    describe(cfg, run, params)
    saver = checkpoints.Saver(run_dir / "checkpoints", cfg.trainer.checkpoint_every)
    ending = fit(run, runner, progress, metrics, saver, on_epoch)
    summary = summarize(ending, progress, metrics.rows, params, placement, run.splits["train"].classes)
    if summary["status"] == status.COMPLETED:
        log.info(
            "%stest_acc %.4f  best_val_acc %.4f (epoch %d)  %.1fs",
            placement.label,
            summary["test_acc"],
            summary["best_val_acc"],
            summary["best_epoch"],
            summary["wall_seconds"],
        )
    return summary


# ---------------------------------------------------------------- the run's record and its lines


def failure(e: Exception) -> Ending:
    ending = Ending(status.FAILED, one_line(e, status.DIVERGED if isinstance(e, Diverged) else "CUDA out of memory"))
    log.error("run failed: %s", ending.error)
    return ending


def summarize(
    ending: Ending,
    progress: Progress,
    rows: list[dict],
    params: int | None,
    placement: Placement,
    classes: list[str] | None,
) -> Summary:
    """The run's summary: how it ended, then the numbers it reached."""
    tested = {}
    if ending.test is not None:
        tested = {"test_acc": ending.test[1], "test_loss": ending.test[0], "stopped_early": ending.stopped_early}
    return results.summary(
        ending.status,
        ending.error,
        **tested,
        params=params,
        device=str(placement.device),
        best_val_acc=progress.best_val_acc,
        best_epoch=progress.best_epoch,
        final_val_acc=float(rows[-1]["val_acc"]) if rows else None,
        epochs_completed=len(rows),
        wall_seconds=progress.seconds(),
        first_step_at=progress.first_step_at,
        classes=classes,
    )


class EpochProgress:
    """Where a training epoch stands: a tqdm bar on a terminal; when no bar is drawn (the output is a
    file, or jobs run side by side), a log line about every LINE_EVERY seconds instead."""

    LINE_EVERY = 60.0

    def __init__(self, run: Run, epoch: int, progress: Progress, steps: int) -> None:
        self.run, self.epoch, self.progress, self.steps = run, epoch, progress, steps
        left = f", {progress.time_left(run.epochs)}" if epoch > 1 else ""
        self.bar = tqdm(
            total=steps,
            desc=f"{run.placement.label}epoch {epoch}/{run.epochs}{left}",
            leave=False,
            disable=None if run.placement.progress_bar else True,
            dynamic_ncols=True,
        )
        self.start = self.last_line = time.perf_counter()

    def report(self, step: int, mean_loss: float, meter: EpochMeter) -> None:
        """At a step whose running loss the meter brought to the host."""
        if not self.bar.disable:
            self.bar.set_postfix(loss=f"{mean_loss:.3f}", acc=f"{meter.correct.item() / meter.seen:.3f}")
            return
        now = time.perf_counter()
        if now - self.last_line < self.LINE_EVERY or step == self.steps:
            return
        self.last_line = now
        rate = meter.seen / (now - self.start)
        images = len(self.run.splits["train"])
        left = (images - meter.seen + (self.run.epochs - self.epoch) * images) / rate
        log.info(
            "%sepoch %d/%d: %s of %s images, %.0f img/s, train_loss %.4f, about %s left",
            self.run.placement.label,
            self.epoch,
            self.run.epochs,
            f"{meter.seen:,}",
            f"{images:,}",
            rate,
            mean_loss,
            f"{left / 60:.0f} min" if left >= 90 else f"{left:.0f} s",
        )


def log_epoch(run: Run, row: dict, progress: Progress) -> None:
    log.info(
        "%sepoch %d/%d  train_loss %.4f  train_acc %.4f  val_loss %.4f  val_acc %.4f  lr %.3g  %.1fs  %.0f img/s  %s",
        run.placement.label,
        row["epoch"],
        run.epochs,
        row["train_loss"],
        row["train_acc"],
        row["val_loss"],
        row["val_acc"],
        row["lr"],
        row["epoch_seconds"],
        row["images_per_second"],
        progress.time_left(run.epochs),
    )


def describe(cfg, run: Run, params: int) -> None:
    val = (
        "the test set (data.val_size=0: all training images train, as in the study)"
        if run.splits["val"] is run.splits["test"]
        else f"{len(run.splits['val'])} held-out images"
    )
    model = cfg.model.get("name") or str(cfg.model._target_).rsplit(".", 1)[-1]
    width = f" width {cfg.model.width}" if "width" in cfg.model else ""
    log.info(
        "%s%s%s: %s parameters on %s; %d training images, per-epoch validation on %s, %d test images",
        run.placement.label,
        model,
        width,
        f"{params:,}",
        run.device,
        len(run.splits["train"]),
        val,
        len(run.splits["test"]),
    )
