"""CIFAR-10 from three sources, split once, kept on the training device as uint8.

load_arrays(cfg.data)   official batches (torchvision, md5-checked) | train/test.npz | synthetic
make_splits(...)        stratified, seeded validation split and optional training subset
Split                   uint8 NCHW images + int64 labels on the device; batches() slices them
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import numpy as np
import torch
from omegaconf import OmegaConf

from cifar_sweep.augment import augment
from cifar_sweep.errors import UserError
from cifar_sweep.files import atomic_write

NUM_CLASSES = 10
IMAGE_SHAPE = (32, 32, 3)

Arrays = tuple[np.ndarray, np.ndarray]  # x (N, 32, 32, 3) uint8, y (N,) int64


# ---------------------------------------------------------------- sources


def check_arrays(x: np.ndarray, y: np.ndarray, where: str) -> Arrays:
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != IMAGE_SHAPE:
        raise UserError(
            f"{where}: x has dtype {x.dtype} and shape {x.shape}; expected uint8 images of shape (N, 32, 32, 3)"
        )
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise UserError(f"{where}: y has dtype {y.dtype} and shape {y.shape}; expected {len(x)} integer labels")
    if len(y) and (y.min() < 0 or y.max() >= NUM_CLASSES):
        raise UserError(f"{where}: labels span [{y.min()}, {y.max()}]; expected 0..{NUM_CLASSES - 1}")
    return x, y.astype(np.int64)


def read_npz(path: Path) -> Arrays:
    try:
        with np.load(path, allow_pickle=False) as f:
            if "x" not in f or "y" not in f:
                raise UserError(f"data.dir: {path} has arrays {sorted(f.files)}; expected 'x' and 'y'")
            x, y = f["x"], f["y"]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise UserError(
            f"data.dir: {path} is not a readable .npz file ({e}); re-copy it or point data.dir elsewhere"
        ) from None
    return check_arrays(x, y, f"data.dir: {path}")


def read_official(root: Path, train: bool, download: bool) -> Arrays:
    from torchvision.datasets import CIFAR10  # md5-checks every batch before unpickling it

    try:
        ds = CIFAR10(str(root), train=train, download=download)
    except RuntimeError as e:
        raise UserError(
            f"data.dir={str(root)!r}: cifar-10-batches-py is missing or corrupt ({e}); "
            "delete it and set data.download=true"
        ) from None
    return check_arrays(np.asarray(ds.data), np.asarray(ds.targets), f"data.dir: {root}")


def synthetic_arrays(n: int, seed: int) -> Arrays:
    """Class-conditional images a small net can learn: each class has its own colour and
    grating (frequency, orientation); each image its own phase, contrast and pixel noise."""
    protos = np.random.default_rng(12345)
    colors = protos.uniform(0.15, 0.85, (NUM_CLASSES, 3))
    angles = protos.permutation(NUM_CLASSES) * np.pi / NUM_CLASSES
    freqs = 1.5 + protos.permutation(NUM_CLASSES) % 4
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % NUM_CLASSES)
    yy, xx = np.mgrid[0:32, 0:32] / 32.0
    along = xx[None] * np.cos(angles[y])[:, None, None] + yy[None] * np.sin(angles[y])[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    grating = np.sin(2 * np.pi * freqs[y][:, None, None] * along + phase)
    contrast = rng.uniform(0.15, 0.35, (n, 1, 1))
    img = colors[y][:, None, None, :] + (contrast * grating)[..., None] + rng.normal(0, 0.08, (n, 32, 32, 3))
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8), y.astype(np.int64)


def cached(cache_dir: str | None, sources: list[Path], read) -> Arrays:
    """read() once; later calls (other jobs of a sweep) memory-map the decoded uint8 copy in
    cache_dir, keyed by the sources' path, size and mtime. cache_dir=None disables the cache."""
    if cache_dir is None:
        return read()
    stats = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in sources]
    key = hashlib.sha1(repr(stats).encode()).hexdigest()[:16]
    folder = Path(cache_dir).expanduser()
    x_path, y_path = folder / f"{key}.x.npy", folder / f"{key}.y.npy"
    if x_path.is_file() and y_path.is_file():
        return np.load(x_path, mmap_mode="r"), np.load(y_path)
    x, y = read()
    try:
        for path, array in ((y_path, y), (x_path, x)):  # x last: its presence marks a complete entry
            atomic_write(path, partial(np.save, arr=array))
    except OSError:
        pass  # a cache we cannot write is only slower
    return x, y


def load_arrays(data_cfg) -> tuple[Arrays, Arrays]:
    """(train, test) arrays from the configured source."""
    if data_cfg.source == "synthetic":
        return (synthetic_arrays(data_cfg.train_size, seed=1), synthetic_arrays(data_cfg.test_size, seed=2))
    root = Path(data_cfg.dir)
    cache_dir = data_cfg.get("cache_dir")
    if (root / "train.npz").is_file() and (root / "test.npz").is_file():
        train, test = (
            cached(cache_dir, [root / f"{name}.npz"], partial(read_npz, root / f"{name}.npz"))
            for name in ("train", "test")
        )
        return train, test
    if (root / "cifar-10-batches-py").is_dir() or data_cfg.download:
        return read_official(root, True, data_cfg.download), read_official(root, False, data_cfg.download)
    raise UserError(
        f"data.dir={str(root)!r}: no CIFAR-10 there (expected train.npz + test.npz or "
        "cifar-10-batches-py/); point data.dir or CIFAR10_DIR at it, or set data.download=true"
    )


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
    x: torch.Tensor  # (N, 3, 32, 32) uint8 on the device
    y: torch.Tensor  # (N,) int64 on the device

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


def to_device(x: np.ndarray, y: np.ndarray, device: torch.device) -> Split:
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    return Split(images.to(device), torch.from_numpy(y).to(device))


def make_splits(data_cfg, device: torch.device) -> dict[str, Split]:
    """train / val / test on the device, after checking the sizes the user asked for.
    data.val_size=0 is the study's data use: every training image trains, and the per-epoch
    validation is on the test set (val is test)."""
    (x, y), (x_test, y_test) = load_arrays(data_cfg)
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
    test = to_device(x_test, y_test, device)
    return {
        "train": to_device(x[train_idx], y[train_idx], device),
        "val": to_device(x[val_idx], y[val_idx], device) if val_idx is not None else test,
        "test": test,
    }


# ---------------------------------------------------------------- model input


class Inputs:
    """uint8 batch -> float in [0, 1] (ToTensor), augmented (training only), normalised
    ((x - mean) / std per channel, as Normalize); all on the batch's device."""

    def __init__(
        self, aug, normalize, device: torch.device, channels_last: bool, dtype: torch.dtype = torch.float32
    ) -> None:
        self.aug = (
            SimpleNamespace(**cast(dict, OmegaConf.to_container(aug, resolve=True)))
            if OmegaConf.is_config(aug)
            else aug
        )
        self.dtype = dtype
        self.mean = torch.tensor(list(normalize.mean), device=device, dtype=dtype).view(1, 3, 1, 1)
        self.std = torch.tensor(list(normalize.std), device=device, dtype=dtype).view(1, 3, 1, 1)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        images = x.float().div_(255)
        if generator is not None:
            images = augment(images, self.aug, generator)
        images = images.to(self.dtype)
        return ((images - self.mean) / self.std).contiguous(memory_format=self.memory_format)
