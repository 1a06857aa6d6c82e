"""One training run: data on the device, model, optimizer and scheduler from the config, the epoch
loop, evaluation, checkpoints and metrics.csv.

    train(cfg, run_dir, placement) -> Summary (the job writes it to summary.json)

Training knows only training. Where it runs (`Placement`: device, threads, progress display, the
label of its log lines) is decided by the job; how its epochs are computed (`Epochs`: alone, or
together with other runs, by a launcher) is chosen once, before the loop; what happens after
each epoch (trackers, a pruner) is the `on_epoch` hook.

The loop's state is explicit: `Run` is what the config built (model, optimizer, schedule, data),
`Progress` is where the run stands (epochs done, best epoch, seconds spent); both go into every
checkpoint, and `restore` reads them back.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar, cast

import torch
import torch.nn.functional as F
from tqdm import tqdm

from cifar_sweep import checkpoints, status
from cifar_sweep.data import Inputs, Split, make_splits
from cifar_sweep.errors import Pruned, UserError
from cifar_sweep.models import build_model, count_params
from cifar_sweep.optim import Schedule, build_optimizer, build_schedule
from cifar_sweep.results import METRICS_COLUMNS, MetricsLog, Summary

log = logging.getLogger(__name__)

PROGRESS_EVERY = 25  # steps between progress-bar updates and divergence checks (each one host sync)

OnEpoch = Callable[[int, dict], None]  # (epoch, metrics row); may raise Pruned
T = TypeVar("T")


class Diverged(Exception):
    """Training loss became NaN or infinite."""


# ---------------------------------------------------------------- state


@dataclass(frozen=True)
class Placement:
    """Where a run trains on this machine; decided once by the job (cifar_sweep/placement.py)."""

    device: torch.device
    threads: int | None = None  # torch CPU threads; None: torch's default
    progress_bar: bool = False  # jobs running side by side show none (they would interleave)
    label: str = ""  # "job 3: " in a sweep, so that lines of parallel jobs can be told apart


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


# ---------------------------------------------------------------- set-up


def setup_torch(cfg, threads: int | None = None) -> None:
    """Seed, CPU threads, determinism and TF32."""
    torch.manual_seed(cfg.seed)
    if threads is not None:
        torch.set_num_threads(threads)
    if cfg.trainer.deterministic:
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
    channels_last = on_cuda if cfg.trainer.channels_last == "auto" else bool(cfg.trainer.channels_last)
    dtype = torch.float64 if cfg.trainer.precision == "fp64" else torch.float32  # fp64: exact comparisons
    model = build_model(cfg.model).to(device, dtype=dtype)
    model = model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    optimizer = build_optimizer(cfg.optimizer, model, device)
    schedule = build_schedule(cfg.scheduler, optimizer, splits["train"].steps(cfg.batch_size))
    generator = torch.Generator(device=device)
    generator.manual_seed(cfg.seed)
    step_model = cast(torch.nn.Module, torch.compile(model)) if cfg.trainer.compile else model
    return Run(
        model=model,
        step_model=step_model,
        optimizer=optimizer,
        schedule=schedule,
        splits=splits,
        inputs=Inputs(cfg.augment, cfg.data.normalize, device, channels_last, dtype),
        generator=generator,
        placement=placement,
        bf16=cfg.trainer.precision == "bf16" or (cfg.trainer.precision == "auto" and on_cuda),
        batch_size=cfg.batch_size,
        eval_batch_size=cfg.data.eval_batch_size,
        epochs=cfg.trainer.epochs,
        patience=cfg.trainer.patience,
    )


# ---------------------------------------------------------------- one epoch


def divergence(mean_loss: float, epoch: int, step: int) -> str | None:
    """Why a run diverged, or None while its mean training loss is finite."""
    return None if math.isfinite(mean_loss) else f"train_loss={mean_loss} at epoch {epoch}, step {step}"


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
            torch.cuda.synchronize()
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


def train_epoch(run: Run, epoch: int, progress: Progress | None = None) -> dict:
    """One pass over the training split."""
    run.model.train()
    train = run.splits["train"]
    meter = EpochMeter(1, train.steps(run.batch_size), run.device)
    left = f", {progress.time_left(run.epochs)}" if progress is not None and epoch > 1 else ""
    bar = tqdm(
        total=meter.steps,
        desc=f"{run.placement.label}epoch {epoch}/{run.epochs}{left}",
        leave=False,
        disable=None if run.placement.progress_bar else True,
        dynamic_ncols=True,
    )
    for step, (x, y) in enumerate(train.batches(run.batch_size, run.generator), start=1):
        with run.autocast():
            logits = run.step_model(run.inputs(x, run.generator))
            loss = F.cross_entropy(logits, y)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        run.schedule.after_step()
        if progress is not None:
            progress.stepped()
        meter.add(loss[None], (logits.argmax(1) == y).sum()[None], len(y))
        means = meter.check(step)
        if means is not None:
            reason = divergence(means[0], epoch, step)
            if reason:
                raise Diverged(reason)
            bar.set_postfix(loss=f"{means[0]:.3f}", acc=f"{meter.correct.item() / meter.seen:.3f}")
        bar.update()
    bar.close()
    return meter.rows(run.device)[0]


@torch.no_grad()
def evaluate(run: Run, split: Split) -> tuple[float, float]:
    """(mean loss, accuracy) without augmentation."""
    run.model.eval()
    loss_sum = torch.zeros((), device=run.device)
    correct = torch.zeros((), device=run.device, dtype=torch.long)
    for x, y in split.batches(run.eval_batch_size):
        with run.autocast():
            logits = run.step_model(run.inputs(x))
        loss_sum += F.cross_entropy(logits.float(), y, reduction="sum")
        correct += (logits.argmax(1) == y).sum()
    return loss_sum.item() / len(split), correct.item() / len(split)


class Epochs:
    """How a run's work is computed: alone, on the calling thread (this class). A launcher that trains
    several runs at once hands their jobs a subclass whose `train` does one epoch for all of them."""

    def call(self, work: Callable[[], T]) -> T:
        """Run torch work of this run (building, evaluating) where the run's computations go."""
        return work()

    def splits(self, cfg, device: torch.device) -> dict[str, Split]:
        return make_splits(cfg.data, device)

    def train(self, run: Run, epoch: int, progress: Progress) -> dict:
        """The train fields of the epoch's metrics row; raises Diverged."""
        return train_epoch(run, epoch, progress)

    def close(self) -> None:
        """The run has stopped (finished, failed or pruned)."""


def run_epoch(run: Run, epochs: Epochs, epoch: int, progress: Progress) -> dict:
    """Train, validate, step the epoch scheduler: one metrics.csv row."""
    lr = run.optimizer.param_groups[0]["lr"]  # the rate this epoch trained with
    row = {"epoch": epoch, **epochs.train(run, epoch, progress)}
    row["val_loss"], row["val_acc"] = epochs.call(lambda: evaluate(run, run.splits["val"]))
    row["lr"] = lr
    run.schedule.after_epoch(row)
    return {k: row[k] for k in METRICS_COLUMNS}


# ---------------------------------------------------------------- checkpoints


def save_checkpoints(run: Run, progress: Progress, ckpt_dir: Path, best: bool) -> None:
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
        checkpoints.save(ckpt_dir / "best.pt", state)
    checkpoints.save(ckpt_dir / "last.pt", state)  # last: the epoch counts as done once this is written


def restore(run: Run, progress: Progress, ckpt_dir: Path) -> None:
    """Load checkpoints/last.pt into `run` and `progress`; nothing to do when there is none."""
    path = ckpt_dir / "last.pt"
    if not path.is_file():
        log.info("no checkpoint in %s: starting from epoch 1", ckpt_dir)
        return
    try:
        state = checkpoints.load(path, run.device)
    except Exception as e:  # truncated, corrupt, or not a checkpoint at all: never guess, never delete
        reason = f"{type(e).__name__}: {e}".splitlines()[0]
        raise UserError(
            f"trainer.resume=true: {path} cannot be read ({reason}); delete {ckpt_dir} to start "
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


# ---------------------------------------------------------------- the run


def fit(
    run: Run, epochs: Epochs, progress: Progress, metrics: MetricsLog, ckpt_dir: Path, on_epoch: OnEpoch | None
) -> Summary:
    """The epochs still to do, then the test set; the outcome's fields of the summary."""
    label = run.placement.label
    try:
        stopped_early = progress.stale(run.patience)  # a resumed run that had already stopped
        for epoch in range(progress.epochs_done + 1, run.epochs + 1):
            if stopped_early:
                break
            row = run_epoch(run, epochs, epoch, progress)
            # The row first, the checkpoint last: a kill between them leaves a checkpoint of the epoch
            # before, whose resume drops this row (MetricsLog keeps rows up to the checkpoint's epoch)
            # and trains the epoch again, to the same numbers.
            metrics.append(row)
            save_checkpoints(run, progress, ckpt_dir, best=progress.finish_epoch(epoch, row["val_acc"]))
            log.info(
                "%sepoch %d/%d  train_loss %.4f  train_acc %.4f  val_loss %.4f  val_acc %.4f  lr %.3g  "
                "%.1fs  %.0f img/s  %s",
                label,
                epoch,
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
            if on_epoch is not None:
                on_epoch(epoch, row)
            stopped_early = progress.stale(run.patience) and epoch < run.epochs
            if stopped_early:
                log.info(
                    "%sstopping early: val_acc has not improved for %d epochs (best %.4f at epoch %d)",
                    label,
                    run.patience,
                    progress.best_val_acc,
                    progress.best_epoch,
                )
        test_loss, test_acc = epochs.call(lambda: evaluate(run, run.splits["test"]))
        return {
            "status": status.COMPLETED,
            "test_acc": test_acc,
            "test_loss": test_loss,
            "stopped_early": stopped_early,
        }
    except Pruned as e:
        log.info("%strial %s", label, e)
        return {"status": status.PRUNED, "error": str(e)}
    except (Diverged, torch.cuda.OutOfMemoryError) as e:
        return failure(e)


def failure(e: Exception) -> Summary:
    kind = status.DIVERGED if isinstance(e, Diverged) else "CUDA out of memory"
    error = f"{kind}: {e}".splitlines()[0]
    log.error("run failed: %s", error)
    return {"status": status.FAILED, "error": error}


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


def train(
    cfg,
    run_dir: Path,
    placement: Placement,
    on_epoch: OnEpoch | None = None,
    resume: bool = False,
    epochs: Epochs | None = None,
) -> Summary:
    """Train per `cfg` on `placement`, writing metrics.csv and checkpoints into run_dir; returns the
    summary. resume: continue from checkpoints/last.pt. on_epoch(epoch, row) is called after each
    recorded epoch and may raise Pruned. epochs: how the epochs are computed (default: alone)."""
    epochs = epochs or Epochs()
    try:
        return train_with(cfg, run_dir, placement, on_epoch, resume, epochs)
    finally:
        epochs.close()


def train_with(
    cfg, run_dir: Path, placement: Placement, on_epoch: OnEpoch | None, resume: bool, epochs: Epochs
) -> Summary:
    progress = Progress()

    def start() -> Run:  # one call: seeding, building and restoring use torch's global RNG
        setup_torch(cfg, placement.threads)
        run = build_run(cfg, placement, epochs.splits(cfg, placement.device))
        if resume:
            restore(run, progress, run_dir / "checkpoints")
        return run

    try:
        run = epochs.call(start)
    except torch.cuda.OutOfMemoryError as e:  # the data or the model does not fit on the GPU
        return {
            **failure(e),
            "device": str(placement.device),
            "epochs_completed": 0,
            "wall_seconds": progress.seconds(),
        }
    metrics = MetricsLog(run_dir, keep_epochs=progress.epochs_done)
    params = count_params(run.model)
    describe(cfg, run, params)
    outcome = fit(run, epochs, progress, metrics, run_dir / "checkpoints", on_epoch)
    summary: Summary = {
        **outcome,
        "params": params,
        "device": str(run.device),
        "best_val_acc": progress.best_val_acc,
        "best_epoch": progress.best_epoch,
        "final_val_acc": float(metrics.rows[-1]["val_acc"]) if metrics.rows else None,
        "epochs_completed": len(metrics.rows),
        "wall_seconds": progress.seconds(),
        "first_step_at": progress.first_step_at,
    }
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
