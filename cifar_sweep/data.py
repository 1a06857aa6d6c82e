"""A run's images, split once and kept on the training device as uint8.

make_splits(cfg.data)   the source's arrays (cifar_sweep/sources.py), a stratified, seeded validation
                        split and an optional training subset, checked against the sizes asked for
Split                   uint8 NCHW images + int64 labels on the device; batches() slices them
Inputs                  uint8 batch -> normalised floats, augmented when training
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import SimpleNamespace
from typing import cast

import numpy as np
import torch
from omegaconf import OmegaConf

from cifar_sweep.augment import augment
from cifar_sweep.errors import UserError
from cifar_sweep.sources import load_arrays, load_classes, where_of

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- split


def stratified_split(y: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (chosen, rest): `size` samples with class proportions kept, chosen at random."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(y))
    rank = np.empty(len(y))
    for c in np.unique(y):
        members = perm[y[perm] == c]
        rank[members] = np.arange(len(members)) / len(members)
    order = np.lexsort((rng.random(len(y)), rank))
    return np.sort(order[:size]), np.sort(order[size:])


@dataclass
class Split:
    x: torch.Tensor  # (N, C, H, W) uint8 on the device
    y: torch.Tensor  # (N,) int64 on the device
    classes: list[str] | None = None  # the name of each label, where the source knows them

    def __len__(self) -> int:
        return len(self.y)

    def steps(self, batch_size: int, shuffled: bool = True) -> int:
        """Batches in one pass. A shuffled (training) pass drops a trailing batch of one image:
        BatchNorm cannot train on it. The only place that rule lives."""
        full, rest = divmod(len(self), batch_size)
        return full + (rest > (1 if shuffled else 0))

    def batches(self, batch_size: int, generator: torch.Generator | None = None):
        """Batches in a fresh random order when a generator is given, else in order."""
        n = len(self)
        shuffled = generator is not None
        order = (
            torch.randperm(n, device=self.y.device, generator=generator)
            if shuffled
            else torch.arange(n, device=self.y.device)
        )
        for step in range(self.steps(batch_size, shuffled)):
            idx = order[step * batch_size : (step + 1) * batch_size]
            yield self.x[idx], self.y[idx]


def to_device(x: np.ndarray, y: np.ndarray, device: torch.device, classes: list[str] | None) -> Split:
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    return Split(images.to(device), torch.from_numpy(y).to(device), classes)


def make_splits(data_cfg, device: torch.device) -> dict[str, Split]:
    """train / val / test on the device, after checking the sizes the user asked for.
    data.val_size=0 is the study's data use: every training image trains, and the per-epoch
    validation is on the test set (val is test)."""
    (x, y), (x_test, y_test) = load_arrays(data_cfg)
    where = where_of(data_cfg)
    for name, labels in (("train", y), ("test", y_test)):
        if len(labels) == 0:
            raise UserError(f"{where}: its {name} split holds no images; a run needs images to train and test on")
    if not 0 <= data_cfg.val_size < len(y):
        raise UserError(
            f"data.val_size={data_cfg.val_size}: must be in [0, {len(y)}), "
            f"the number of training images (0: validate on the test set, as the study did)"
        )
    if data_cfg.val_size:
        val_idx, train_idx = stratified_split(y, data_cfg.val_size, data_cfg.split_seed)
    else:
        val_idx, train_idx = None, np.arange(len(y))
    if data_cfg.train_subset is not None:
        if data_cfg.train_subset > len(train_idx):
            raise UserError(
                f"data.train_subset={data_cfg.train_subset}: must be at most {len(train_idx)} "
                f"(training images left after data.val_size={data_cfg.val_size})"
            )
        keep, _ = stratified_split(y[train_idx], data_cfg.train_subset, data_cfg.split_seed + 1)
        train_idx = train_idx[keep]
    if len(train_idx) < 2:  # a training batch of one image is dropped (BatchNorm): nothing would train
        key = "data.train_subset" if data_cfg.train_subset is not None else "data.val_size"
        raise UserError(
            f"{key}={data_cfg[key.split('.')[1]]}: leaves {len(train_idx)} training image(s); a run needs at least 2"
        )
    warn_about_classes(y[train_idx], data_cfg.num_classes)
    classes = load_classes(data_cfg)
    test = to_device(x_test, y_test, device, classes)
    return {
        "train": to_device(x[train_idx], y[train_idx], device, classes),
        "val": to_device(x[val_idx], y[val_idx], device, classes) if val_idx is not None else test,
        "test": test,
    }


def warn_about_classes(y: np.ndarray, num_classes: int) -> None:
    """One warning line when the training split lacks classes: it can still train, but not learn them."""
    present = np.unique(y)
    if len(present) < num_classes:
        missing = sorted(set(range(num_classes)) - set(present.tolist()))
        shown = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
        log.warning(
            "the training split holds %d of data.num_classes=%d classes (missing: %s); "
            "the model cannot learn the missing ones",
            len(present),
            num_classes,
            shown,
        )


# ---------------------------------------------------------------- model input


class Inputs:
    """uint8 batch -> float in [0, 1] (ToTensor), augmented (training only), normalised
    ((x - mean) / std per channel, as Normalize); all on the batch's device. A training batch (one given
    the generator of its augmentation draws) is laid out channels_last or not as the model is; an
    evaluation batch as `eval_channels_last` says (a contiguous model then runs channels_last kernels)."""

    def __init__(
        self,
        aug,
        normalize,
        device: torch.device,
        channels_last: bool,
        dtype: torch.dtype = torch.float32,
        eval_channels_last: bool | None = None,
    ) -> None:
        self.aug = (
            SimpleNamespace(**cast(dict, OmegaConf.to_container(aug, resolve=True)))
            if OmegaConf.is_config(aug)
            else aug
        )
        self.dtype = dtype
        self.mean = torch.tensor(list(normalize.mean), device=device, dtype=dtype).view(1, -1, 1, 1)
        self.std = torch.tensor(list(normalize.std), device=device, dtype=dtype).view(1, -1, 1, 1)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        eval_channels_last = channels_last if eval_channels_last is None else eval_channels_last
        self.eval_memory_format = torch.channels_last if eval_channels_last else torch.contiguous_format

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        images = x.float().div_(255)
        if generator is not None:
            images = augment(images, self.aug, generator)
        images = images.to(self.dtype)
        layout = self.memory_format if generator is not None else self.eval_memory_format
        return ((images - self.mean) / self.std).contiguous(memory_format=layout)
