"""Validation of the composed config: one clear line per user mistake.

Hydra already rejects unknown group options and unknown keys; this module checks the values.
Each failed check raises `UserError("key=value: what is allowed")`, which the job (task.py) prints
as a single line and turns into a non-zero exit (or a failed trial inside a sweep).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError, MissingMandatoryValue

from cifar_sweep import RESNET_TARGET, VGG_TARGET
from cifar_sweep.arrays import RESAMPLING
from cifar_sweep.augment import INTERPOLATIONS
from cifar_sweep.checkpoints import every
from cifar_sweep.errors import UserError, one_line
from cifar_sweep.models import VGG_LAYERS, check_output, narrowest_channels, scaled
from cifar_sweep.results import OBJECTIVES
from cifar_sweep.sources import SOURCES
from cifar_sweep.targets import trust_of

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "tf32", "bf16", "fp64")
WANDB_MODES = (None, "online", "offline", "disabled")  # None: online with WANDB_API_KEY, else offline


def flatten(cfg: DictConfig, resolve: bool = True) -> dict[str, Any]:
    """The config as dotted keys -> plain values (what trackers call params, what resume compares)."""

    def walk(node: dict, prefix: str):
        for key, value in node.items():
            if isinstance(value, dict):
                yield from walk(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}", value

    container = OmegaConf.to_container(cfg, resolve=resolve)
    assert isinstance(container, dict)
    return dict(walk(container, ""))


def _number(x: Any) -> bool:
    """A finite real number (inf and nan are not numbers a user means)."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def _integer(x: Any) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


SEED_MAX = 2**64 - 1  # torch.manual_seed takes 64-bit seeds


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


# the keys each data source reads: any other key is a mistake (nothing would read it)
DATA_KEYS = {
    "dir", "download", "cache_dir", "num_classes", "channels", "image_size", "val_size", "split_seed",
    "train_subset", "eval_batch_size", "normalize", "source",
}  # fmt: skip
SOURCE_KEYS = {
    "synthetic": {"train_size", "test_size"},  # made at image_size: nothing to resize
    "torchvision": {"dataset", "train", "test", "interpolation"},
    **{source: {"interpolation"} for source in ("cifar10", "cifar100", "arrays", "folder")},
}


def check_data_keys(data: DictConfig) -> None:
    """data.source is one we have, and every key of data is one that its source reads."""
    _one_of("data.source", data.get("source"), SOURCES)
    known = DATA_KEYS | SOURCE_KEYS.get(data.source, set())
    unknown = sorted(str(k) for k in data.keys() if k not in known)
    if unknown:
        raise UserError(
            f"data.{unknown[0]}: no such key for data.source={data.source} (nothing would read it); its keys are "
            + ", ".join(sorted(known))
        )


def _image_size(value: Any) -> bool:
    listed = OmegaConf.is_list(value) or isinstance(value, (list, tuple))
    parts = list(value) if listed else [value]
    return len(parts) in ((2,) if listed else (1,)) and all(_integer(v) and v > 0 for v in parts)


def validate(cfg: DictConfig) -> None:
    """Check every value a user can set; raise UserError on the first bad one."""
    check_data_keys(cfg.data)
    resolve_data(cfg)
    check_model_keys(cfg.model)
    data = cfg.data
    _check(
        _integer(data.num_classes) and data.num_classes >= 2,
        "data.num_classes",
        data.num_classes,
        "must be an integer >= 2",
    )
    _one_of("data.channels", data.channels, (1, 3))
    _check(
        _image_size(data.image_size),
        "data.image_size",
        OmegaConf.to_container(data.image_size) if OmegaConf.is_config(data.image_size) else data.image_size,
        "must be a positive integer N (N x N images) or [H,W], two positive integers",
    )
    if "interpolation" in SOURCE_KEYS[data.source]:
        _one_of("data.interpolation", data.interpolation, RESAMPLING)
    _check(
        data.eval_batch_size == "auto" or (_integer(data.eval_batch_size) and data.eval_batch_size > 0),
        "data.eval_batch_size",
        data.eval_batch_size,
        "must be auto (1024 on a GPU, 256 on the CPU) or a positive integer",
    )
    _check(
        _integer(data.split_seed) and data.split_seed >= 0,
        "data.split_seed",
        data.split_seed,
        "must be a non-negative integer",
    )
    _check(
        _integer(data.val_size) and data.val_size >= 0,
        "data.val_size",
        data.val_size,
        "must be a non-negative integer (0: train on every training image, validate on the test set)",
    )
    for part, low in (("mean", None), ("std", 0.0)):
        values = data.normalize[part]
        n = data.channels
        listed = OmegaConf.is_list(values) or isinstance(values, (list, tuple))  # a resolver returns a list
        ok = listed and len(values) == n and all(_number(v) and math.isfinite(v) for v in values)
        _check(
            ok and (low is None or all(v > low for v in values)),
            f"data.normalize.{part}",
            OmegaConf.to_container(values) if OmegaConf.is_config(values) else values,
            (
                f"must be {n} finite number{'s' if n > 1 else ''}, one per channel"
                if n != 3
                else "must be three finite numbers, one per RGB channel"
            )
            + (", each > 0" if low is not None else ""),
        )
    if data.train_subset is not None:
        _positive("data.train_subset", data.train_subset, integer=True)
    if data.source == "synthetic":
        _positive("data.train_size", data.train_size, integer=True)
        _positive("data.test_size", data.test_size, integer=True)
    if data.source not in ("synthetic", "torchvision"):
        _check(
            isinstance(data.dir, str) and data.dir != "",
            "data.dir",
            data.dir,
            "must be a directory path" + (" (or set CIFAR10_DIR)" if data.source == "cifar10" else ""),
        )

    aug = cfg.augment
    _in_range("augment.flip", aug.flip, 0.0, 1.0)
    _check(
        _integer(aug.crop_padding) and 0 <= aug.crop_padding <= 16,
        "augment.crop_padding",
        aug.crop_padding,
        "must be an integer number of pixels in [0, 16]",
    )
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
    _one_of("trainer.fused_optimizer", t.fused_optimizer, ("auto", True, False))
    if t.threads is not None:
        _positive("trainer.threads", t.threads, integer=True)
    if t.patience is not None:
        _positive("trainer.patience", t.patience, integer=True)
    every(t.checkpoint_every)
    for flag in ("compile", "deterministic", "resume", "progress_bar"):
        _one_of(f"trainer.{flag}", t[flag], (True, False))

    _positive("batch_size", cfg.batch_size, integer=True)
    _check(_integer(cfg.seed) and 0 <= cfg.seed <= SEED_MAX, "seed", cfg.seed, "must be an integer in [0, 2**64 - 1]")
    _one_of("objective", cfg.objective, tuple(OBJECTIVES))
    from cifar_sweep.trackers import TRACKERS  # which imports flatten from here

    _one_of("logger.name", cfg.logger.name, tuple(TRACKERS))
    if cfg.logger.name == "wandb":
        _one_of("logger.mode", cfg.logger.mode, WANDB_MODES)
    # last: scheduler arguments such as T_max follow trainer.epochs, which is named first if it is wrong
    check_arguments("optimizer", cfg.optimizer)
    check_arguments("scheduler", cfg.scheduler)
    check_by_building(cfg)
    check_output(cfg.model, cfg.data.channels, cfg.data.image_size, cfg.data.num_classes, trust_of(cfg))


# ---------------------------------------------------------------- optimizer and scheduler arguments


def _increasing_positive_ints(v: Any) -> bool:
    values = list(v) if OmegaConf.is_list(v) or isinstance(v, (list, tuple)) else []
    return bool(values) and all(_integer(x) and x > 0 for x in values) and values == sorted(set(values))


# What the arguments our optimizer and scheduler configs expose may be: the ranges torch enforces
# and the ones that keep a run meaningful (a gamma <= 0 flips or zeroes the learning rate).
ARGUMENT_RULES = {
    "lr": ("must be a positive number", lambda v: _number(v) and v > 0),
    "weight_decay": ("must be a number >= 0", lambda v: _number(v) and v >= 0),
    "momentum": ("must be a number in [0, 1)", lambda v: _number(v) and 0 <= v < 1),
    "dampening": ("must be a number in [0, 1]", lambda v: _number(v) and 0 <= v <= 1),
    "alpha": ("must be a number in [0, 1]", lambda v: _number(v) and 0 <= v <= 1),
    "eps": ("must be a number >= 0", lambda v: _number(v) and v >= 0),
    "betas": (
        "must be two numbers in [0, 1)",
        lambda v: (
            (OmegaConf.is_list(v) or isinstance(v, (list, tuple)))
            and len(v) == 2
            and all(_number(b) and 0 <= b < 1 for b in v)
        ),
    ),
    "step_size": ("must be a positive integer (epochs between decays)", lambda v: _integer(v) and v > 0),
    "gamma": (
        "must be a number in (0, 1] (the factor the learning rate is multiplied by)",
        lambda v: _number(v) and 0 < v <= 1,
    ),
    "milestones": ("must be a list of increasing positive integers (epochs)", _increasing_positive_ints),
    "T_max": ("must be a positive integer (epochs)", lambda v: _integer(v) and v > 0),
    "eta_min": ("must be a number >= 0", lambda v: _number(v) and v >= 0),
    "factor": ("must be a number in (0, 1]", lambda v: _number(v) and 0 < v <= 1),
    "patience": ("must be an integer >= 0 (epochs)", lambda v: _integer(v) and v >= 0),
    "total_iters": ("must be an integer >= 0", lambda v: _integer(v) and v >= 0),
    "max_lr": ("must be a positive number", lambda v: _number(v) and v > 0),
    "epochs": ("must be a positive integer", lambda v: _integer(v) and v > 0),
    "mode": ("must be one of min | max", lambda v: v in ("min", "max")),
    "interval": ("must be one of epoch | step", lambda v: v in ("epoch", "step")),
    "monitor": ("must be one of val_loss | val_acc", lambda v: v in ("val_loss", "val_acc")),
    "nesterov": ("must be one of True | False", lambda v: v in (True, False)),
}


def resolve_data(cfg: DictConfig) -> None:
    """Every key of `data` has a value (data=arrays reads its training split for some): one line if not."""
    for key in ("dir", "num_classes", "channels", "image_size", "normalize"):
        try:
            OmegaConf.to_container(cfg.data, resolve=True) if key == "normalize" else cfg.data.get(key)
        except MissingMandatoryValue:
            raise UserError(f"data.{key}: has no value; set it, e.g. data.{key}=/path/to/your/arrays") from None
        except InterpolationResolutionError as e:  # ${oc.env:UNSET}, ${no.such.key}, a resolver's refusal
            reason = one_line(e, "").split("while resolving interpolation: ", 1)[-1].strip('"')
            if reason.startswith("data."):  # data=arrays' resolvers name the key they read
                raise UserError(reason) from None
            raise UserError(f"{e.full_key or 'data.' + key}: {reason}") from None


def check_model_keys(model: DictConfig) -> None:
    """The built-in networks' keys, by rule (any network's output shape is checked by building it)."""
    target = model.get("_target_")
    if target not in (VGG_TARGET, RESNET_TARGET):
        return
    if target == VGG_TARGET:
        _one_of("model.name", model.name, tuple(VGG_LAYERS))
    _positive("model.width", model.width)
    narrowest = narrowest_channels(model.name, model.width) if target == VGG_TARGET else scaled(64, model.width)
    _check(narrowest >= 1, "model.width", model.width, "leaves a layer with no channels; use model.width >= 1/64")
    _in_range("model.dropout", model.dropout, 0.0, 1.0, high_open=True)


def check_arguments(group: str, node) -> None:
    """Each argument of the optimizer or scheduler config by its rule; any other number must be finite."""
    for key, value in node.items():
        if key.startswith("_"):
            continue
        allowed, ok = ARGUMENT_RULES.get(key, ("must be a finite number", lambda v: _number(v)))
        if key in ARGUMENT_RULES or (isinstance(value, numbers.Real) and not isinstance(value, bool)):
            shown = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
            _check(ok(value), f"{group}.{key}", shown, allowed)


def check_by_building(cfg: DictConfig) -> None:
    """Build the optimizer on one parameter and step the scheduler through a few epochs, so that
    whatever else torch refuses is one line before training, not a traceback after an epoch."""
    import torch

    from cifar_sweep.optim import build_optimizer, build_schedule

    try:
        probe = torch.nn.Linear(1, 1, device="meta").to_empty(device="cpu")  # no draw from torch's generator
        torch.nn.init.zeros_(probe.weight), torch.nn.init.zeros_(probe.bias)
        fused = cfg.trainer.fused_optimizer
        optimizer = build_optimizer(cfg.optimizer, probe, torch.device("cpu"), trust_of(cfg), fused)
    except (ValueError, TypeError, RuntimeError) as e:
        raise UserError(
            f"optimizer: {cfg.optimizer._target_} refuses these arguments ({e}); "
            "see its documentation for the allowed values"
        ) from None
    try:
        schedule = build_schedule(cfg.scheduler, optimizer, steps_per_epoch=2, trust=trust_of(cfg))
        for _ in range(min(3, cfg.trainer.epochs)):
            for _ in range(2):
                optimizer.step()
                schedule.after_step()
            schedule.after_epoch({"val_loss": 1.0, "val_acc": 0.5})
    except (ValueError, TypeError, RuntimeError, ZeroDivisionError) as e:
        raise UserError(
            f"scheduler: {cfg.scheduler._target_} refuses these arguments "
            f"({type(e).__name__}: {e}); see its documentation for the allowed values"
        ) from None
