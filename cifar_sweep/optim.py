"""The optimizer and the learning-rate schedule, built from their configs (Hydra `_target_` partials)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from cifar_sweep import targets
from cifar_sweep.errors import UserError


@dataclass
class Schedule:
    """The LR scheduler and when it steps: after every batch ("step") or every epoch ("epoch"),
    given the monitored validation metric (ReduceLROnPlateau) when `monitor` names one."""

    scheduler: torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau
    interval: str
    monitor: str | None

    def after_step(self) -> None:
        if self.interval == "step":
            self.scheduler.step()  # type: ignore[call-arg]  # never ReduceLROnPlateau (an epoch scheduler)

    def after_epoch(self, row: dict) -> None:
        if self.interval == "epoch":
            step: Callable[..., object] = self.scheduler.step  # ReduceLROnPlateau's takes the metric
            step(*([row[self.monitor]] if self.monitor else []))


FUSED_DEVICES = ("cuda", "cpu")  # where torch has fused Adam, AdamW and SGD steps (CPU since torch 2.4)


def build_optimizer(
    opt_cfg, model: torch.nn.Module, device: torch.device, trust: Sequence[str] = (), fused: str | bool = "auto"
) -> torch.optim.Optimizer:
    """The optimizer of `model`'s parameters: any torch.optim.Optimizer subclass (timm.optim.Lamb, yours)
    or a trusted function (cifar_sweep/targets.py). fused (trainer.fused_optimizer): its fused step
    where it offers one on this device ("auto"), always (True: one line where it offers none) or never;
    a `fused` argument in the optimizer's own config wins."""
    allowed = targets.whitelist("optimizer", opt_cfg, "optimizer", trust)
    make = instantiate(opt_cfg, _execution_whitelist_=allowed)  # a partial (_partial_: true)
    offers = "fused" in inspect.signature(make.func).parameters and device.type in FUSED_DEVICES
    if fused is True and not offers:
        raise UserError(
            f"trainer.fused_optimizer=true: {opt_cfg._target_} has no fused step on {device.type}; "
            "use trainer.fused_optimizer=auto or false"
        )
    extra = {}
    if fused is not False and offers and "fused" not in make.keywords:
        extra["fused"] = True
    return make(model.parameters(), **extra)


def build_schedule(sched_cfg, optimizer, steps_per_epoch: int, trust: Sequence[str] = ()) -> Schedule:
    """`interval` and `monitor` are our keys, not the scheduler class's."""
    kwargs = cast(dict, OmegaConf.to_container(sched_cfg, resolve=True))
    interval = kwargs.pop("interval", "epoch")
    monitor = kwargs.pop("monitor", None)
    if interval == "step":
        kwargs["steps_per_epoch"] = steps_per_epoch
    allowed = targets.whitelist("scheduler", OmegaConf.create(kwargs), "scheduler", trust)
    scheduler = instantiate(kwargs, _execution_whitelist_=allowed)(optimizer)
    return Schedule(scheduler, interval, monitor)
