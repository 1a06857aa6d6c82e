"""One training run: data on the device, model, optimizer and scheduler from the config, the epoch
loop, evaluation, checkpoints and records.

    train(cfg, run_dir) -> summary dict (also written to run_dir/summary.json)
"""

from __future__ import annotations

import inspect
import logging
import math
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import optuna
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf
from tqdm import tqdm

from cifar_sweep import TRUSTED_TARGETS, records
from cifar_sweep.config import UserError
from cifar_sweep.data import Inputs, Split, make_splits
from cifar_sweep.models import build_model, count_params

log = logging.getLogger(__name__)

PROGRESS_EVERY = 25  # steps between progress-bar updates and divergence checks (each one host sync)


class Diverged(Exception):
    """Training loss became NaN or infinite."""


# ---------------------------------------------------------------- set-up

def resolve_device(name: str, job_num: int = 0) -> torch.device:
    """The configured device; on a machine with several GPUs, job N of a sweep takes GPU N mod count."""
    if name in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda", job_num % torch.cuda.device_count())
    if name == "auto":
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
    if not available[name]:
        raise UserError(f"trainer.device={name!r}: no such device is available here; "
                        "use trainer.device=auto or cpu")
    return torch.device(name)


def setup_torch(cfg, parallel_jobs: int = 1) -> None:
    """Seed, threads and determinism. Trials packed on one machine split its cores between them."""
    torch.manual_seed(cfg.seed)
    threads = cfg.trainer.threads or (max(1, (os.cpu_count() or 1) // parallel_jobs) if parallel_jobs > 1 else None)
    if threads is not None:
        torch.set_num_threads(threads)
    if cfg.trainer.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    else:
        torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True


def build_optimizer(opt_cfg, model: torch.nn.Module, device: torch.device) -> torch.optim.Optimizer:
    make = instantiate(opt_cfg, _execution_whitelist_=TRUSTED_TARGETS)  # a partial (_partial_: true)
    extra = {}
    if device.type == "cuda" and "fused" in inspect.signature(make.func).parameters:
        extra["fused"] = True
    return make(model.parameters(), **extra)


def build_scheduler(sched_cfg, optimizer, steps_per_epoch: int):
    """(scheduler, interval, monitor); `interval` and `monitor` are our keys, not the class's."""
    kwargs = OmegaConf.to_container(sched_cfg, resolve=True)
    interval = kwargs.pop("interval", "epoch")
    monitor = kwargs.pop("monitor", None)
    if interval == "step":
        kwargs["steps_per_epoch"] = steps_per_epoch
    return instantiate(kwargs, _execution_whitelist_=TRUSTED_TARGETS)(optimizer), interval, monitor


# ---------------------------------------------------------------- loop

@dataclass
class Run:
    cfg: object
    model: torch.nn.Module
    step_model: torch.nn.Module  # model or its torch.compile wrapper
    optimizer: torch.optim.Optimizer
    scheduler: object
    interval: str
    monitor: str | None
    splits: dict[str, Split]
    inputs: Inputs
    generator: torch.Generator
    autocast: object
    device: torch.device

    def amp(self):
        return self.autocast() if self.autocast else nullcontext()


def train_epoch(run: Run, epoch: int) -> dict:
    run.model.train()
    train = run.splits["train"]
    batch_size = run.cfg.batch_size
    steps = train.train_steps(batch_size)
    loss_sum = torch.zeros((), device=run.device)
    correct = torch.zeros((), device=run.device, dtype=torch.long)
    seen = 0
    start = time.perf_counter()
    bar = tqdm(total=steps, desc=f"epoch {epoch}/{run.cfg.trainer.epochs}", leave=False,
               disable=None if run.cfg.trainer.progress_bar else True, dynamic_ncols=True)
    for step, (x, y) in enumerate(train.batches(batch_size, run.generator), start=1):
        with run.amp():
            logits = run.step_model(run.inputs(x, run.generator))
            loss = F.cross_entropy(logits, y)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        if run.interval == "step":
            run.scheduler.step()
        if step == 1 and epoch == 1:
            log.info("first optimizer step done")  # bench/job_overhead.py times start-up by this line
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


@torch.no_grad()
def evaluate(run: Run, split: Split) -> tuple[float, float]:
    """(mean loss, accuracy) without augmentation."""
    run.model.eval()
    loss_sum = torch.zeros((), device=run.device)
    correct = torch.zeros((), device=run.device, dtype=torch.long)
    for x, y in split.batches(run.cfg.data.eval_batch_size):
        with run.amp():
            logits = run.step_model(run.inputs(x))
        loss_sum += F.cross_entropy(logits.float(), y, reduction="sum")
        correct += (logits.argmax(1) == y).sum()
    return loss_sum.item() / len(split), correct.item() / len(split)


def step_epoch_scheduler(run: Run, val_loss: float, val_acc: float) -> None:
    if run.interval != "epoch":
        return
    if run.monitor is None:
        run.scheduler.step()
    else:
        run.scheduler.step({"val_loss": val_loss, "val_acc": val_acc}[run.monitor])


# ---------------------------------------------------------------- checkpoints

def checkpoint_state(run: Run, epoch: int, best: dict, elapsed: float) -> dict:
    rng = {"torch": torch.get_rng_state(), "data": run.generator.get_state()}
    if run.device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(run.device)
    return {"epoch": epoch, "model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(),
            "scheduler": run.scheduler.state_dict(), "best_val_acc": best["val_acc"],
            "best_epoch": best["epoch"], "elapsed": elapsed, "rng": rng}


def fresh_start() -> tuple[int, dict, float]:
    """(epochs done, best so far, seconds spent) of a run that has not trained yet."""
    return 0, {"val_acc": -1.0, "epoch": 0}, 0.0


def restore(run: Run, ckpt_dir: Path) -> tuple[int, dict, float]:
    """Load checkpoints/last.pt into `run`; (epochs done, best so far, seconds spent)."""
    path = ckpt_dir / "last.pt"
    if not path.is_file():
        log.info("no checkpoint in %s: starting from epoch 1", ckpt_dir)
        return fresh_start()
    state = records.load_checkpoint(path, run.device)
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"]["torch"].cpu())
    run.generator.set_state(state["rng"]["data"].cpu())
    if "cuda" in state["rng"] and run.device.type == "cuda":
        torch.cuda.set_rng_state(state["rng"]["cuda"].cpu(), run.device)
    log.info("resumed from %s after epoch %d", path, state["epoch"])
    return state["epoch"], {"val_acc": state["best_val_acc"], "epoch": state["best_epoch"]}, state["elapsed"]


# ---------------------------------------------------------------- the run

def build_run(cfg, device: torch.device) -> Run:
    splits = make_splits(cfg.data, device)
    if cfg.batch_size > len(splits["train"]):
        raise UserError(f"batch_size={cfg.batch_size}: must be at most the {len(splits['train'])} training images")
    on_cuda = device.type == "cuda"
    channels_last = on_cuda if cfg.trainer.channels_last == "auto" else bool(cfg.trainer.channels_last)
    bf16 = cfg.trainer.precision == "bf16" or (cfg.trainer.precision == "auto" and on_cuda)
    model = build_model(cfg.model).to(device, memory_format=torch.channels_last if channels_last
                                      else torch.contiguous_format)
    step_model = torch.compile(model) if cfg.trainer.compile else model
    optimizer = build_optimizer(cfg.optimizer, model, device)
    steps = splits["train"].train_steps(cfg.batch_size)
    scheduler, interval, monitor = build_scheduler(cfg.scheduler, optimizer, steps)
    generator = torch.Generator(device=device)
    generator.manual_seed(cfg.seed)
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if bf16 else None
    return Run(cfg, model, step_model, optimizer, scheduler, interval, monitor, splits,
               Inputs(cfg.augment, device, channels_last), generator, autocast, device)


def train(cfg, run_dir: Path, job_num: int = 0, parallel_jobs: int = 1, on_epoch=None) -> dict:
    """Train per `cfg`, writing records into run_dir; returns the summary.
    job_num and parallel_jobs place one job of a sweep on the machine (GPU index, CPU threads);
    on_epoch(epoch, row) is called after each recorded epoch and may raise optuna.TrialPruned."""
    previous = records.read_summary(run_dir) if cfg.trainer.resume else None
    if previous and previous.get("status") == "completed":
        log.info("already completed in %s; nothing to resume", run_dir)
        return previous
    start = time.perf_counter()
    setup_torch(cfg, parallel_jobs)
    device = resolve_device(cfg.trainer.device, job_num)
    run = build_run(cfg, device)
    ckpt_dir = run_dir / "checkpoints"
    metrics = records.MetricsLog(run_dir)
    # resume a killed run from its last checkpoint; a failed one starts over
    resume = cfg.trainer.resume and not previous
    done, best, spent = restore(run, ckpt_dir) if resume else fresh_start()
    metrics.load(done)
    summary = {"status": "running", "params": count_params(run.model), "device": str(device)}
    log.info("%s width %s: %s parameters on %s, %d train / %d val / %d test images",
             cfg.model.name, cfg.model.width, f"{summary['params']:,}", device,
             len(run.splits["train"]), len(run.splits["val"]), len(run.splits["test"]))
    try:
        for epoch in range(done + 1, cfg.trainer.epochs + 1):
            lr = run.optimizer.param_groups[0]["lr"]
            row = {"epoch": epoch, **train_epoch(run, epoch)}
            val_loss, val_acc = evaluate(run, run.splits["val"])
            row.update(val_loss=val_loss, val_acc=val_acc, lr=lr)
            step_epoch_scheduler(run, val_loss, val_acc)
            if val_acc > best["val_acc"]:
                best = {"val_acc": val_acc, "epoch": epoch}
            state = checkpoint_state(run, epoch, best, spent + time.perf_counter() - start)
            records.save_checkpoint(ckpt_dir / "last.pt", state)
            if best["epoch"] == epoch:
                records.save_checkpoint(ckpt_dir / "best.pt", state)
            metrics.append({k: row[k] for k in records.METRICS_FIELDS})
            log.info("epoch %d/%d  train_loss %.4f  train_acc %.4f  val_loss %.4f  val_acc %.4f  "
                     "lr %.3g  %.1fs  %.0f img/s", epoch, cfg.trainer.epochs, row["train_loss"],
                     row["train_acc"], val_loss, val_acc, lr, row["epoch_seconds"], row["images_per_second"])
            if on_epoch is not None:
                on_epoch(epoch, row)
        test_loss, test_acc = evaluate(run, run.splits["test"])
        summary.update(status="completed", test_acc=test_acc, test_loss=test_loss)
    except optuna.TrialPruned as e:
        summary.update(status="pruned", error=str(e))
        log.info("trial %s", e)
    except (Diverged, torch.cuda.OutOfMemoryError) as e:
        kind = "diverged" if isinstance(e, Diverged) else "CUDA out of memory"
        summary.update(status="failed", error=f"{kind}: {e}".splitlines()[0])
        log.error("run failed: %s", summary["error"])
    summary.update(best_val_acc=best["val_acc"] if best["epoch"] else None, best_epoch=best["epoch"] or None,
                   final_val_acc=float(metrics.rows[-1]["val_acc"]) if metrics.rows else None,
                   epochs_completed=len(metrics.rows), wall_seconds=spent + time.perf_counter() - start)
    records.write_summary(run_dir, summary)
    if summary["status"] == "completed":
        log.info("test_acc %.4f  best_val_acc %.4f (epoch %d)  %.1fs", summary["test_acc"],
                 summary["best_val_acc"], summary["best_epoch"], summary["wall_seconds"])
    return summary
