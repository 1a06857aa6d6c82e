"""Validation of the composed config: one clear line per user mistake.

Hydra already rejects unknown group options and unknown keys; this module checks the values.
Each failed check raises `UserError("key=value: what is allowed")`, which run.py prints as a
single line and turns into a non-zero exit (or a failed trial inside a sweep).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from omegaconf import DictConfig, OmegaConf

from cifar_sweep.augment import INTERPOLATIONS
from cifar_sweep.errors import UserError
from cifar_sweep.models import VGG_LAYERS, narrowest_channels

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "tf32", "bf16")
SOURCES = ("cifar10", "synthetic")
OBJECTIVES = ("best_val_acc", "final_val_acc", "test_acc")


def _number(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _integer(x: Any) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _check(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise UserError(f"{key}={value!r}: {allowed}")


def _one_of(key: str, value: Any, options: tuple) -> None:
    _check(value in options, key, value, "must be one of " + " | ".join(map(str, options)))


def _positive(key: str, value: Any, integer: bool = False) -> None:
    kind = "a positive integer" if integer else "a positive number"
    _check((_integer(value) if integer else _number(value)) and value > 0, key, value, f"must be {kind}")


def _in_range(key: str, value: Any, low: float, high: float, high_open: bool = False) -> None:
    ok = _number(value) and low <= value and (value < high if high_open else value <= high)
    _check(ok, key, value, f"must be a number in [{low}, {high}{')' if high_open else ']'}")


def validate(cfg: DictConfig) -> None:
    """Check every value a user can set; raise UserError on the first bad one."""
    _one_of("model.name", cfg.model.name, tuple(VGG_LAYERS))
    _positive("model.width", cfg.model.width)
    _check(narrowest_channels(cfg.model.name, cfg.model.width) >= 1, "model.width", cfg.model.width,
           "leaves a layer with no channels; use model.width >= 1/64")
    _in_range("model.dropout", cfg.model.dropout, 0.0, 1.0, high_open=True)

    _positive("optimizer.lr", cfg.optimizer.lr)
    _in_range("optimizer.weight_decay", cfg.optimizer.weight_decay, 0.0, float("inf"))

    _one_of("data.source", cfg.data.source, SOURCES)
    _positive("data.eval_batch_size", cfg.data.eval_batch_size, integer=True)
    _check(_integer(cfg.data.val_size) and cfg.data.val_size >= 0, "data.val_size", cfg.data.val_size,
           "must be a non-negative integer (0: train on every training image, validate on the test set)")
    for part, low in (("mean", None), ("std", 0.0)):
        values = cfg.data.normalize[part]
        key = f"data.normalize.{part}"
        ok = OmegaConf.is_list(values) and len(values) == 3 and all(_number(v) and math.isfinite(v) for v in values)
        _check(ok and (low is None or all(v > low for v in values)), key,
               OmegaConf.to_container(values) if OmegaConf.is_config(values) else values,
               "must be three finite numbers, one per RGB channel" + (", each > 0" if low is not None else ""))
    if cfg.data.train_subset is not None:
        _positive("data.train_subset", cfg.data.train_subset, integer=True)
    if cfg.data.source == "cifar10":
        _check(isinstance(cfg.data.dir, str) and cfg.data.dir != "", "data.dir", cfg.data.dir,
               "must be a directory path (or set CIFAR10_DIR)")

    aug = cfg.augment
    _in_range("augment.flip", aug.flip, 0.0, 1.0)
    _check(_integer(aug.crop_padding) and 0 <= aug.crop_padding <= 16, "augment.crop_padding",
           aug.crop_padding, "must be an integer number of pixels in [0, 16]")
    _in_range("augment.rotation", aug.rotation, 0.0, 180.0)
    _in_range("augment.translate", aug.translate, 0.0, 1.0)
    _in_range("augment.scale", aug.scale, 0.0, 1.0, high_open=True)
    _in_range("augment.shear", aug.shear, 0.0, 60.0)
    _one_of("augment.interpolation", aug.interpolation, INTERPOLATIONS)
    _one_of("augment.whole_pixels", aug.whole_pixels, (True, False))

    t = cfg.trainer
    _positive("trainer.epochs", t.epochs, integer=True)
    _one_of("trainer.device", t.device, DEVICES)
    _one_of("trainer.precision", t.precision, PRECISIONS)
    _one_of("trainer.channels_last", t.channels_last, ("auto", True, False))
    if t.threads is not None:
        _positive("trainer.threads", t.threads, integer=True)
    for flag in ("compile", "deterministic", "resume", "progress_bar"):
        _one_of(f"trainer.{flag}", t[flag], (True, False))

    _positive("batch_size", cfg.batch_size, integer=True)
    _check(_integer(cfg.seed) and cfg.seed >= 0, "seed", cfg.seed, "must be a non-negative integer")
    _one_of("objective", cfg.objective, OBJECTIVES)
    _one_of("scheduler.interval", cfg.scheduler.get("interval", "epoch"), ("epoch", "step"))

