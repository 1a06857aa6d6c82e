"""One training run: data on the device, model, optimizer and scheduler from the config, the epoch
loop, evaluation, checkpoints and records.

    train(cfg, run_dir) -> summary dict (also written to run_dir/summary.json)

The loop's state is explicit: `Run` is what the config built (model, optimizer, schedule, data),
`Progress` is where the run stands (epochs done, best epoch, seconds spent); both go into every
checkpoint, and `restore` reads them back.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from tqdm import tqdm

from cifar_sweep import records, status
from cifar_sweep.data import Inputs, Split, make_splits
from cifar_sweep.errors import Pruned, UserError
from cifar_sweep.models import build_model, count_params
from cifar_sweep.optim import Schedule, build_optimizer, build_schedule

log = logging.getLogger(__name__)

PROGRESS_EVERY = 25  # steps between progress-bar updates and divergence checks (each one host sync)

OnEpoch = Callable[[int, dict], None]  # (epoch, metrics row); may raise Pruned


class Diverged(Exception):
    """Training loss became NaN or infinite."""


# ---------------------------------------------------------------- state

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
        return bool(patience) and self.epochs_done - (self.best_epoch or 0) >= patience

    def finish_epoch(self, epoch: int, val_acc: float) -> bool:
        """Record a finished epoch; True when it is the best so far."""
        self.epochs_done = epoch
        if self.best_val_acc is None or val_acc > self.best_val_acc:
            self.best_val_acc, self.best_epoch = val_acc, epoch
            return True
        return False

    def state(self) -> dict:
        return {"epoch": self.epochs_done, "best_val_acc": self.best_val_acc, "best_epoch": self.best_epoch,
                "elapsed": self.seconds()}

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
    splits: dict[str, Split]     # train / val / test; val is test when data.val_size=0
    inputs: Inputs
    generator: torch.Generator   # the data order and augmentation draws
    device: torch.device
    bf16: bool
    batch_size: int
    eval_batch_size: int
    epochs: int
    patience: int | None  # early stopping: epochs without a better val_acc; None = off
    progress_bar: bool
    label: str = ""       # "job 3: " in a sweep, so that lines of parallel jobs can be told apart
    group: object = None  # fusion.Group: this run trains fused with others (hydra/launcher=fused)

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)


# ---------------------------------------------------------------- set-up

def resolve_device(name: str, job_num: int = 0) -> torch.device:
    """The configured device; on a machine with several GPUs, job N of a sweep takes GPU N mod count."""
    if name in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda", job_num % torch.cuda.device_count())
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("mps" if mps else "cpu")
    if not {"cpu": True, "cuda": False, "mps": mps}[name]:
        raise UserError(f"trainer.device={name!r}: no such device is available here; "
                        "use trainer.device=auto or cpu")
    return torch.device(name)


def cpus_available() -> int:
    """The cores this process may use: a Slurm job's allocation (SLURM_CPUS_PER_TASK, which Slurm without
    CPU binding does not enforce), else the process's CPU affinity."""
    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit():
        return int(slurm)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def setup_torch(cfg, parallel_jobs: int = 1) -> None:
    """Seed, threads, determinism and TF32. Trials packed on one machine split its cores; a job given
    fewer cores than the machine has (Slurm, taskset) uses only those."""
    torch.manual_seed(cfg.seed)
    cpus = cpus_available()
    constrained = parallel_jobs > 1 or cpus < (os.cpu_count() or cpus)
    threads = cfg.trainer.threads or (max(1, cpus // parallel_jobs) if constrained else None)
    if threads is not None:
        torch.set_num_threads(threads)
    if cfg.trainer.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = not cfg.trainer.deterministic
    tf32 = cfg.trainer.precision != "fp32"  # fp32 means IEEE fp32 throughout, the study's precision
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


def build_run(cfg, device: torch.device, group=None) -> Run:
    splits = (group.splits(repr(cfg.data), lambda: make_splits(cfg.data, device)) if group is not None
              else make_splits(cfg.data, device))
    if cfg.batch_size > len(splits["train"]):
        raise UserError(f"batch_size={cfg.batch_size}: must be at most the {len(splits['train'])} training images")
    on_cuda = device.type == "cuda"
    channels_last = on_cuda if cfg.trainer.channels_last == "auto" else bool(cfg.trainer.channels_last)
    dtype = torch.float64 if cfg.trainer.precision == "fp64" else torch.float32  # fp64: exact comparisons
    model = build_model(cfg.model).to(device, dtype=dtype, memory_format=torch.channels_last if channels_last
                                      else torch.contiguous_format)
    optimizer = build_optimizer(cfg.optimizer, model, device)
    schedule = build_schedule(cfg.scheduler, optimizer, splits["train"].steps(cfg.batch_size))
    generator = torch.Generator(device=device)
    generator.manual_seed(cfg.seed)
    return Run(model=model, step_model=torch.compile(model) if cfg.trainer.compile else model,
               optimizer=optimizer, schedule=schedule, splits=splits,
               inputs=Inputs(cfg.augment, cfg.data.normalize, device, channels_last, dtype), generator=generator,
               device=device, bf16=cfg.trainer.precision == "bf16" or (cfg.trainer.precision == "auto" and on_cuda),
               batch_size=cfg.batch_size, eval_batch_size=cfg.data.eval_batch_size, epochs=cfg.trainer.epochs,
               patience=cfg.trainer.patience, progress_bar=cfg.trainer.progress_bar)


# ---------------------------------------------------------------- one epoch

def train_epoch(run: Run, epoch: int, progress: Progress | None = None) -> dict:
    """One pass over the training split; loss and accuracy stay on the device between host syncs."""
    if run.group is not None:
        return fused_train_epoch(run, epoch, progress)
    run.model.train()
    train = run.splits["train"]
    steps = train.steps(run.batch_size)
    loss_sum = torch.zeros((), device=run.device)
    correct = torch.zeros((), device=run.device, dtype=torch.long)
    seen = 0
    start = time.perf_counter()
    left = f", {progress.time_left(run.epochs)}" if progress is not None and epoch > 1 else ""
    bar = tqdm(total=steps, desc=f"{run.label}epoch {epoch}/{run.epochs}{left}", leave=False,
               disable=None if run.progress_bar else True, dynamic_ncols=True)
    for step, (x, y) in enumerate(train.batches(run.batch_size, run.generator), start=1):
        with run.autocast():
            logits = run.step_model(run.inputs(x, run.generator))
            loss = F.cross_entropy(logits, y)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        run.schedule.after_step()
        if progress is not None and progress.first_step_at is None:
            progress.first_step_at = time.time()
        loss_sum += loss.detach().float() * len(y)
        correct += (logits.argmax(1) == y).sum()
        seen += len(y)
        if step % PROGRESS_EVERY == 0 or step == steps:
            mean_loss = loss_sum.item() / seen
            if not math.isfinite(mean_loss):
                raise Diverged(f"train_loss={mean_loss} at epoch {epoch}, step {step}")
            bar.set_postfix(loss=f"{mean_loss:.3f}", acc=f"{correct.item() / seen:.3f}")
        bar.update()
    bar.close()
    if run.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"train_loss": loss_sum.item() / seen, "train_acc": correct.item() / seen,
            "epoch_seconds": seconds, "images_per_second": seen / seconds}


def fused_train_epoch(run: Run, epoch: int, progress: Progress | None) -> dict:
    """This run's epoch, trained together with the other runs of its group (cifar_sweep/fusion.py)."""
    row = run.group.train_epoch(run, epoch)
    if progress is not None and progress.first_step_at is None:
        progress.first_step_at = time.time()
    reason = row.pop("diverged")
    if reason:
        raise Diverged(reason)
    return row


def evaluate(run: Run, split: Split) -> tuple[float, float]:
    """(mean loss, accuracy) without augmentation. A fused group's runs evaluate on the group's thread."""
    if run.group is not None:
        return run.group.call(lambda: evaluate_alone(run, split))
    return evaluate_alone(run, split)


@torch.no_grad()
def evaluate_alone(run: Run, split: Split) -> tuple[float, float]:
    run.model.eval()
    loss_sum = torch.zeros((), device=run.device)
    correct = torch.zeros((), device=run.device, dtype=torch.long)
    for x, y in split.batches(run.eval_batch_size):
        with run.autocast():
            logits = run.step_model(run.inputs(x))
        loss_sum += F.cross_entropy(logits.float(), y, reduction="sum")
        correct += (logits.argmax(1) == y).sum()
    return loss_sum.item() / len(split), correct.item() / len(split)


def run_epoch(run: Run, epoch: int, progress: Progress) -> dict:
    """Train, validate, step the epoch scheduler: one metrics.csv row."""
    lr = run.optimizer.param_groups[0]["lr"]  # the rate this epoch trained with
    row = {"epoch": epoch, **train_epoch(run, epoch, progress)}
    row["val_loss"], row["val_acc"] = evaluate(run, run.splits["val"])
    row["lr"] = lr
    run.schedule.after_epoch(row)
    return {k: row[k] for k in records.METRICS_FIELDS}


# ---------------------------------------------------------------- checkpoints

def save_checkpoints(run: Run, progress: Progress, ckpt_dir: Path, best: bool) -> None:
    rng = {"torch": torch.get_rng_state(), "data": run.generator.get_state()}
    if run.device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(run.device)
    state = {**progress.state(), "model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(),
             "scheduler": run.schedule.scheduler.state_dict(), "rng": rng}
    records.save_checkpoint(ckpt_dir / "last.pt", state)
    if best:
        records.save_checkpoint(ckpt_dir / "best.pt", state)


def restore(run: Run, progress: Progress, ckpt_dir: Path) -> None:
    """Load checkpoints/last.pt into `run` and `progress`; nothing to do when there is none."""
    path = ckpt_dir / "last.pt"
    if not path.is_file():
        log.info("no checkpoint in %s: starting from epoch 1", ckpt_dir)
        return
    try:
        state = records.load_checkpoint(path, run.device)
    except Exception as e:  # truncated, corrupt, or not a checkpoint at all: never guess, never delete
        reason = f"{type(e).__name__}: {e}".splitlines()[0]
        raise UserError(f"trainer.resume=true: {path} cannot be read ({reason}); delete {ckpt_dir} to start "
                        "this run over, or choose another run directory") from None
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

def fit(run: Run, progress: Progress, metrics: records.MetricsLog, ckpt_dir: Path,
        on_epoch: OnEpoch | None) -> dict:
    """The epochs still to do, then the test set; the outcome's fields of the summary."""
    try:
        stopped_early = progress.stale(run.patience)  # a resumed run that had already stopped
        for epoch in range(progress.epochs_done + 1, run.epochs + 1):
            if stopped_early:
                break
            row = run_epoch(run, epoch, progress)
            save_checkpoints(run, progress, ckpt_dir, best=progress.finish_epoch(epoch, row["val_acc"]))
            metrics.append(row)
            log.info("%sepoch %d/%d  train_loss %.4f  train_acc %.4f  val_loss %.4f  val_acc %.4f  lr %.3g  "
                     "%.1fs  %.0f img/s  %s", run.label, epoch, run.epochs, row["train_loss"], row["train_acc"],
                     row["val_loss"], row["val_acc"], row["lr"], row["epoch_seconds"], row["images_per_second"],
                     progress.time_left(run.epochs))
            if on_epoch is not None:
                on_epoch(epoch, row)
            stopped_early = progress.stale(run.patience) and epoch < run.epochs
            if stopped_early:
                log.info("stopping early: val_acc has not improved for %d epochs (best %.4f at epoch %d)",
                         run.patience, progress.best_val_acc, progress.best_epoch)
        test_loss, test_acc = evaluate(run, run.splits["test"])
        return {"status": status.COMPLETED, "test_acc": test_acc, "test_loss": test_loss,
                "stopped_early": stopped_early}
    except Pruned as e:
        log.info("trial %s", e)
        return {"status": status.PRUNED, "error": str(e)}
    except (Diverged, torch.cuda.OutOfMemoryError) as e:
        return failure(e)


def failure(e: Exception) -> dict:
    kind = "diverged" if isinstance(e, Diverged) else "CUDA out of memory"
    error = f"{kind}: {e}".splitlines()[0]
    log.error("run failed: %s", error)
    return {"status": status.FAILED, "error": error}


def describe(cfg, run: Run, params: int) -> None:
    val = ("the test set (data.val_size=0: all training images train, as in the study)"
           if run.splits["val"] is run.splits["test"] else f"{len(run.splits['val'])} held-out images")
    log.info("%s width %s: %s parameters on %s; %d training images, per-epoch validation on %s, %d test images",
             cfg.model.name, cfg.model.width, f"{params:,}", run.device, len(run.splits["train"]), val,
             len(run.splits["test"]))


def train(cfg, run_dir: Path, job_num: int = 0, parallel_jobs: int = 1, on_epoch: OnEpoch | None = None,
          resume: bool = False, label: str = "", seat=None) -> dict:
    """Train per `cfg`, writing metrics and checkpoints into run_dir; returns the summary (run.py
    writes it). resume: continue from checkpoints/last.pt. job_num and parallel_jobs place one job
    of a sweep on the machine (GPU index, CPU threads); on_epoch(epoch, row) is called after each
    recorded epoch and may raise Pruned. label names the job in log lines; jobs running in
    parallel show no progress bars (they would interleave), only their log lines. seat: this run's
    place in a fusion.Group, whose runs train their epochs together; the run leaves when it stops."""
    try:
        return run_training(cfg, run_dir, job_num, parallel_jobs, on_epoch, resume, label,
                            seat.group if seat is not None else None)
    finally:
        if seat is not None:
            seat.leave()


def run_training(cfg, run_dir: Path, job_num: int, parallel_jobs: int, on_epoch: OnEpoch | None, resume: bool,
                 label: str, group=None) -> dict:
    progress = Progress()

    def start() -> Run | dict:
        setup_torch(cfg, parallel_jobs)
        device = resolve_device(cfg.trainer.device, job_num)
        try:
            run = build_run(cfg, device, group)
        except torch.cuda.OutOfMemoryError as e:  # the data or the model does not fit on the GPU
            return {**failure(e), "device": str(device), "epochs_completed": 0, "wall_seconds": progress.seconds()}
        run.label, run.progress_bar, run.group = label, run.progress_bar and parallel_jobs == 1, group
        if resume:
            restore(run, progress, run_dir / "checkpoints")
        return run

    run = group.call(start) if group is not None else start()  # a group's torch work runs on one thread
    if isinstance(run, dict):
        return run
    metrics = records.MetricsLog(run_dir, keep_epochs=progress.epochs_done)
    params = count_params(run.model)
    describe(cfg, run, params)
    outcome = fit(run, progress, metrics, run_dir / "checkpoints", on_epoch)
    summary = {"status": outcome.pop("status"), "params": params, "device": str(run.device), **outcome,
               "best_val_acc": progress.best_val_acc, "best_epoch": progress.best_epoch,
               "final_val_acc": float(metrics.rows[-1]["val_acc"]) if metrics.rows else None,
               "epochs_completed": len(metrics.rows), "wall_seconds": progress.seconds(),
               "first_step_at": progress.first_step_at}
    if summary["status"] == status.COMPLETED:
        log.info("test_acc %.4f  best_val_acc %.4f (epoch %d)  %.1fs", summary["test_acc"],
                 summary["best_val_acc"], summary["best_epoch"], summary["wall_seconds"])
    return summary
