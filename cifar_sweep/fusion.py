"""Fused trials: several runs of one shape trained as one model, one step for all of them.

A group's runs share the model's architecture, the batch size and the data; they may differ in seed,
optimizer (type included), learning-rate schedule, weight decay, dropout and augmentation. Each run
keeps its own model, optimizer, schedule, data order and augmentation draws. The training step
concatenates their input batches along the channels and computes every run's forward pass at once:
each 3x3 conv becomes one grouped conv whose weight is the runs' weights stacked (HFTA's horizontal
fusion, Wang et al., MLSys 2021), BatchNorm runs over the stacked channels (per channel, so per run),
and the classifier is one batched matmul. One backward pass fills every run's gradients; each
optimizer then steps its own parameters. Evaluation stays per run.

Each run's job goes on in its own thread through the ordinary `train()`, with `FusedRunner` as its
epoch runner (cifar_sweep/runner.py), but the group's torch work runs on one thread (`Group.serve`);
there they meet once per epoch: one fused epoch trains every run still in the group and hands each its
metrics row. A job whose run has stopped (finished, early-stopped, diverged, pruned) leaves when its
thread ends; the others go on. Which jobs form a group, and their threads, are hydra/launcher=fused's
(hydra_plugins/cifar_sweep_launchers/fused.py).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar, cast

import torch
import torch.nn.functional as F
from torch import nn

from cifar_sweep.data import Split, make_splits
from cifar_sweep.models import VGG
from cifar_sweep.runner import Diverged, EpochMeter, EpochRunner, divergence
from cifar_sweep.state import Progress, Run

T = TypeVar("T")
# The job (its number) whose work this thread does now: the job's own thread, or the group's thread
# while it serves that job's call. The launcher routes each job's log records to its own run.log by it.
CURRENT_JOB: ContextVar[int | None] = ContextVar("cifar_sweep_fused_job", default=None)


class FusedModel:
    """The forward pass of k VGGs of one shape as one network, on inputs stacked along channels."""

    def __init__(self, models: list[VGG]) -> None:
        self.models = models
        self.k = len(models)
        self.layers: list[tuple[Any, ...]] = list(zip(*(m.features for m in models)))  # layer i of each model
        self.dropout = [float(m.dropout.p) for m in models]
        self.bns: list[tuple[torch.Tensor, torch.Tensor]] = []

    @contextmanager
    def stacked_batchnorm_stats(self):
        """While training fused, each run's BatchNorm running stats are views into one stacked buffer
        that F.batch_norm updates in place; afterwards each run owns its values again."""
        stacked = []
        for layer in self.layers:
            if isinstance(layer[0], nn.BatchNorm2d):
                mean = torch.cat([bn.running_mean for bn in layer])
                var = torch.cat([bn.running_var for bn in layer])
                c = layer[0].num_features
                for i, bn in enumerate(layer):
                    bn.running_mean, bn.running_var = mean[i * c : (i + 1) * c], var[i * c : (i + 1) * c]
                stacked.append((mean, var))
        self.bns = stacked
        try:
            yield
        finally:
            for layer in self.layers:
                if isinstance(layer[0], nn.BatchNorm2d):
                    for bn in layer:
                        bn.running_mean, bn.running_var = bn.running_mean.clone(), bn.running_var.clone()
            self.bns = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, 3k, H, W] (run i's images in channels 3i..3i+2) -> logits [B, k, classes]."""
        bn_index = 0
        for layer in self.layers:
            first = layer[0]
            if isinstance(first, nn.Conv2d):
                weight = torch.cat([m.weight for m in layer])
                bias = torch.cat([m.bias for m in layer]) if first.bias is not None else None
                x = F.conv2d(x, weight, bias, first.stride, first.padding, first.dilation, groups=self.k)
            elif isinstance(first, nn.BatchNorm2d):
                mean, var = self.bns[bn_index]
                bn_index += 1
                assert first.momentum is not None, "fused BatchNorm needs a running-average momentum"
                x = F.batch_norm(
                    x,
                    mean,
                    var,
                    torch.cat([m.weight for m in layer]),
                    torch.cat([m.bias for m in layer]),
                    training=True,
                    momentum=first.momentum,
                    eps=first.eps,
                )
            else:  # ReLU, MaxPool2d: per channel, so per run
                x = first(x)
        x = F.adaptive_avg_pool2d(x, 1)  # each model's pool (per channel, so per run); 32x32 ends at 1x1
        features = x.flatten(1).unflatten(1, (self.k, -1))  # [B, k, C]
        features = self.apply_dropout(features)
        weight = torch.stack([m.classifier.weight for m in self.models])  # [k, classes, C]
        bias = torch.stack([m.classifier.bias for m in self.models])  # [k, classes]
        return torch.einsum("bkc,koc->bko", features, weight) + bias

    def apply_dropout(self, features: torch.Tensor) -> torch.Tensor:
        if not any(self.dropout):
            return features
        if len(set(self.dropout)) == 1:
            return F.dropout(features, self.dropout[0], training=True)
        p = torch.tensor(self.dropout, device=features.device, dtype=features.dtype)[None, :, None]
        keep = torch.rand_like(features) >= p
        return features * keep / (1 - p)


def fused_epoch(runs: list[Run], epoch_of: dict[int, int]) -> dict[int, dict]:
    """One training epoch of every run in `runs`, fused: {id(run): train fields of its metrics row,
    and `diverged`: None or why its loss stopped being finite}."""
    device = runs[0].device
    for run in runs:
        run.model.train()
    model = FusedModel([cast(VGG, run.model) for run in runs])
    meter = EpochMeter(len(runs), runs[0].splits["train"].steps(runs[0].batch_size), device)
    diverged: list[str | None] = [None] * len(runs)
    iterators = [run.splits["train"].batches(run.batch_size, run.generator) for run in runs]
    with model.stacked_batchnorm_stats():
        for step in range(1, meter.steps + 1):
            batches = [next(it) for it in iterators]
            x = torch.cat([run.inputs(b[0], run.generator) for run, b in zip(runs, batches)], dim=1)
            with runs[0].autocast():
                logits = model(x)
                losses = torch.stack([F.cross_entropy(logits[:, i], b[1]) for i, b in enumerate(batches)])
            for run in runs:
                run.optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()
            for run in runs:
                run.optimizer.step()
                run.schedule.after_step()
            correct = torch.stack([(logits[:, i].argmax(1) == b[1]).sum() for i, b in enumerate(batches)])
            meter.add(losses, correct, len(batches[0][1]))
            means = meter.check(step)
            for i, mean in enumerate(means or []):
                diverged[i] = diverged[i] or divergence(mean, epoch_of[id(runs[i])], step)
    for layer in model.layers:  # what each run's BatchNorm would have counted alone
        if isinstance(layer[0], nn.BatchNorm2d):
            for bn in layer:
                bn.num_batches_tracked += meter.steps
    return {id(run): {**row, "diverged": reason} for run, row, reason in zip(runs, meter.rows(device), diverged)}


class Group:
    """A fused group's runs: each run's job goes on in a thread of its own, but every torch computation
    of the group (building, evaluating, the fused epochs) runs on the thread that calls `serve`, one at
    a time: torch's CPU thread pool belongs to the thread that uses it, and a second one would fight it
    for the cores. Once per epoch the runs meet there: when every run still in the group waits for its
    epoch, one fused epoch trains them all."""

    def __init__(self, size: int) -> None:
        self.remaining = size  # runs that have not left
        self.tasks: queue.Queue = queue.Queue()
        self.waiting: list[tuple] = []  # (run, epoch, reply) of runs waiting for their epoch
        self.splits_cache: dict = {}

    def splits(self, key: str, make: Callable[[], dict[str, Split]]) -> dict[str, Split]:
        """One copy of the data for the whole group."""
        if key not in self.splits_cache:
            self.splits_cache[key] = make()
        return self.splits_cache[key]

    # ---- called from the runs' threads

    def call(self, work: Callable[[], T]) -> T:
        """work() on the group's thread; its result, or its exception raised here."""
        return self._ask(("call", work, CURRENT_JOB.get()))

    def train_epoch(self, run: Run, epoch: int) -> dict:
        return self._ask(("epoch", run, epoch))

    def leave(self) -> None:
        self.tasks.put(("leave",))

    def _ask(self, task: tuple):
        reply: queue.Queue = queue.Queue(maxsize=1)
        self.tasks.put((*task, reply))
        ok, value = reply.get()
        if not ok:
            raise value
        return value

    # ---- the group's thread

    def serve(self) -> None:
        """Run the group's tasks until every run has left."""
        while self.remaining > 0:
            kind, *args = self.tasks.get()
            if kind == "call":
                work, job, reply = args
                token = CURRENT_JOB.set(job)
                try:
                    reply.put((True, work()))
                except Exception as e:  # the job's to handle; an interrupt (Ctrl-C, SIGTERM) ends the launch
                    reply.put((False, e))
                finally:
                    CURRENT_JOB.reset(token)
            elif kind == "epoch":
                self.waiting.append(tuple(args))
            else:  # leave
                self.remaining -= 1
            if self.waiting and len(self.waiting) == self.remaining:
                self._fused_epoch()

    def _fused_epoch(self) -> None:
        waiting, self.waiting = self.waiting, []
        runs = [run for run, _, _ in waiting]
        try:
            rows = fused_epoch(runs, {id(run): epoch for run, epoch, _ in waiting})
        except Exception as e:  # an interrupt is not the jobs': it ends the launch
            for _, _, reply in waiting:
                reply.put((False, e))
            return
        for run, _, reply in waiting:
            reply.put((True, rows[id(run)]))


class FusedRunner(EpochRunner):
    """A run's epochs trained together with the other runs of its group; its other torch work on
    the group's thread."""

    def __init__(self, group: Group) -> None:
        self.group = group

    def call(self, work: Callable[[], T]) -> T:
        return self.group.call(work)

    def splits(self, cfg, device: torch.device) -> dict[str, Split]:
        return self.group.splits(repr(cfg.data), lambda: make_splits(cfg.data, device))

    def train(self, run: Run, epoch: int, progress: Progress) -> dict:
        row = self.group.train_epoch(run, epoch)
        progress.stepped()
        reason = row.pop("diverged")
        if reason:
            raise Diverged(reason)
        return row


# ---- how a job's thread learns its group: the launcher hands it over, the job takes its seat

_here = threading.local()


@contextmanager
def seated(group: Group, job: int, handover: threading.Lock):
    """This thread runs job `job` in `group`, which it leaves when the thread's work ends, whatever
    happened: the one place a fused job leaves. `handover` is held until the job takes its seat
    (`take_seat`), and again from when the job's task returns: Hydra's run_job sets and restores the
    process-wide HydraConfig around a task, so only one job of the group may be in those spans."""
    handover.acquire()
    _here.group, _here.handover, _here.holding = group, handover, True
    token = CURRENT_JOB.set(job)
    try:
        yield
    finally:
        CURRENT_JOB.reset(token)
        if _here.holding:
            handover.release()
        _here.group, _here.holding = None, False
        group.leave()


def take_seat() -> FusedRunner | None:
    """The fused epoch runner of this thread's job, or None when the job is not in a fused group.
    Called once by the job after it has read its Hydra config."""
    group = getattr(_here, "group", None)
    if group is None:
        return None
    _here.group, _here.holding = None, False
    _here.handover.release()
    return FusedRunner(group)


def task_returned() -> None:
    """The job's task function has returned (or raised): hold the handover for run_job's clean-up."""
    if getattr(_here, "handover", None) is not None and not _here.holding:
        _here.handover.acquire()
        _here.holding = True
