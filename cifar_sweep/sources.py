"""Where a run's images come from: uint8 arrays (N, H, W, C) with C = 1 or 3 and labels 0..K-1.
Numpy only: the config resolver below runs while Hydra composes, before torch is needed.

    data.source=cifar10     train.npz/test.npz, or the official cifar-10-batches-py/ (md5-checked)
    data.source=cifar100    train.npz/test.npz, or the official cifar-100-python/ (md5-checked), fine labels
    data.source=arrays      any train.npz/test.npz: K, the channels, the size and the per-channel
                            normalisation are read from the training split (`${arrays:KEY,...}`)
    data.source=synthetic   generated class-conditional images, no files

A decoded npz is cached (data.cache_dir) and memory-mapped by later jobs of a sweep.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from cifar_sweep.errors import UserError, one_line
from cifar_sweep.files import atomic_write

log = logging.getLogger(__name__)

Arrays = tuple[np.ndarray, np.ndarray]  # x (N, H, W, C) uint8, y (N,) int64
OFFICIAL = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
SOURCES = ("cifar10", "cifar100", "arrays", "synthetic")
NAMES = {"cifar10": ("CIFAR-10", "CIFAR10_DIR"), "cifar100": ("CIFAR-100", "CIFAR100_DIR"), "arrays": ("arrays", "")}


Shape = tuple[int, int, int]  # one image: (H, W, C)


def check_arrays(
    x: np.ndarray, y: np.ndarray, where: str, num_classes: int | None = None, shape: Shape | None = None
) -> Arrays:
    """The arrays, if they are images and labels this project trains on (of `shape` and labels
    below `num_classes` when given); one line if not."""
    square = x.ndim == 4 and x.shape[1] == x.shape[2] and x.shape[3] in (1, 3)
    if x.dtype != np.uint8 or not square or (shape is not None and x.shape[1:] != shape):
        expected = f"(N, {shape[0]}, {shape[1]}, {shape[2]})" if shape else "(N, H, H, C) with C = 1 or 3"
        raise UserError(
            f"{where}: x has dtype {x.dtype} and shape {x.shape}; expected uint8 images of shape {expected}"
        )
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise UserError(f"{where}: y has dtype {y.dtype} and shape {y.shape}; expected {len(x)} integer labels")
    if len(y) and num_classes is not None and (y.min() < 0 or y.max() >= num_classes):
        raise UserError(f"{where}: labels span [{y.min()}, {y.max()}]; expected 0..{num_classes - 1}")
    if len(y) and y.min() < 0:
        raise UserError(f"{where}: labels span [{y.min()}, {y.max()}]; expected 0..K-1")
    return x, y.astype(np.int64)


def read_npz(path: Path, num_classes: int | None = None, shape: Shape | None = None) -> Arrays:
    try:
        with np.load(path, allow_pickle=False) as f:
            if "x" not in f or "y" not in f:
                raise UserError(f"data.dir: {path} has arrays {sorted(f.files)}; expected 'x' and 'y'")
            x, y = f["x"], f["y"]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise UserError(
            f"data.dir: {path} is not a readable .npz file ({e}); re-copy it or point data.dir elsewhere"
        ) from None
    return check_arrays(x, y, f"data.dir: {path}", num_classes, shape)


def read_official(source: str, root: Path, train: bool, download: bool) -> Arrays:
    from torchvision.datasets import CIFAR10, CIFAR100  # md5-check every batch before unpickling it

    dataset = {"cifar10": CIFAR10, "cifar100": CIFAR100}[source]
    try:
        ds = dataset(str(root), train=train, download=download)
    except RuntimeError as e:
        raise UserError(
            f"data.dir={str(root)!r}: {OFFICIAL[source]} is missing or corrupt ({e}); "
            "delete it and set data.download=true"
        ) from None
    return check_arrays(np.asarray(ds.data), np.asarray(ds.targets), f"data.dir: {root}", len(ds.classes))


def synthetic_arrays(n: int, seed: int, num_classes: int = 10, size: int = 32, channels: int = 3) -> Arrays:
    """Class-conditional images a small net can learn: each class has its own colour and
    grating (frequency, orientation); each image its own phase, contrast and pixel noise. One
    channel: their grey levels."""
    protos = np.random.default_rng(12345)
    colors = protos.uniform(0.15, 0.85, (num_classes, 3))
    angles = protos.permutation(num_classes) * np.pi / num_classes
    freqs = 1.5 + protos.permutation(num_classes) % 4
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % num_classes)
    yy, xx = np.mgrid[0:size, 0:size] / size
    along = xx[None] * np.cos(angles[y])[:, None, None] + yy[None] * np.sin(angles[y])[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    grating = np.sin(2 * np.pi * freqs[y][:, None, None] * along + phase)
    contrast = rng.uniform(0.15, 0.35, (n, 1, 1))
    img = colors[y][:, None, None, :] + (contrast * grating)[..., None] + rng.normal(0, 0.08, (n, size, size, 3))
    img = img.mean(-1, keepdims=True) if channels == 1 else img
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8), y.astype(np.int64)


def cache_key(sources: list[Path]) -> str:
    stats = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in sources]
    return hashlib.sha1(repr(stats).encode()).hexdigest()[:16]


def cached(cache_dir: str | None, sources: list[Path], read) -> Arrays:
    """read() once; later calls (other jobs of a sweep) memory-map the decoded uint8 copy in
    cache_dir, keyed by the sources' path, size and mtime. An entry is used only when it is what was
    written (its record: the images' shape and dtype, the labels' digest); a damaged one is rebuilt
    from the sources with one warning. cache_dir=None disables the cache."""
    if cache_dir is None:
        return read()
    folder, key = Path(cache_dir).expanduser(), cache_key(sources)
    x_path, y_path, record = folder / f"{key}.x.npy", folder / f"{key}.y.npy", folder / f"{key}.record.json"
    if x_path.is_file() and y_path.is_file() and record.is_file():
        try:
            x, y = np.load(x_path, mmap_mode="r"), np.load(y_path)
            if json.loads(record.read_text()) == describe_entry(x, y):
                return x, y
            problem = "its arrays differ from the record written with them"
        except (OSError, ValueError, EOFError) as e:
            problem = one_line(e)
        log.warning("data cache %s is damaged (%s); rebuilding it from %s", x_path, problem, sources[0])
    x, y = read()
    try:  # the record last: its presence marks a complete entry
        atomic_write(y_path, partial(np.save, arr=y))
        atomic_write(x_path, partial(np.save, arr=x))
        atomic_write(record, lambda f: f.write(json.dumps(describe_entry(x, y)).encode()))
    except OSError:
        pass  # a cache we cannot write is only slower
    return x, y


def describe_entry(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """What a cache entry must hold: the images' shape and dtype, the labels' dtype and digest."""
    return {
        "x_shape": list(x.shape),
        "x_dtype": str(x.dtype),
        "y_dtype": str(y.dtype),
        "y_sha1": hashlib.sha1(np.ascontiguousarray(y).tobytes()).hexdigest(),
    }


def npz_pair(data_cfg) -> tuple[Arrays, Arrays]:
    """train.npz and test.npz, each checked against the images and classes the config declares."""
    root, cache_dir = Path(data_cfg.dir), data_cfg.get("cache_dir")
    shape = (data_cfg.image_size, data_cfg.image_size, data_cfg.channels)
    train, test = (
        cached(cache_dir, [root / f"{name}.npz"], partial(read_npz, root / f"{name}.npz", data_cfg.num_classes, shape))
        for name in ("train", "test")
    )
    return train, test


def load_arrays(data_cfg) -> tuple[Arrays, Arrays]:
    """(train, test) arrays from the configured source."""
    if data_cfg.source == "synthetic":
        sizes = (data_cfg.train_size, data_cfg.test_size)
        return tuple(  # type: ignore[return-value]
            synthetic_arrays(n, seed, data_cfg.num_classes, data_cfg.image_size, data_cfg.channels)
            for n, seed in zip(sizes, (1, 2))
        )
    root = Path(data_cfg.dir)
    if (root / "train.npz").is_file() and (root / "test.npz").is_file():
        return npz_pair(data_cfg)
    official = OFFICIAL.get(data_cfg.source)
    if official and ((root / official).is_dir() or data_cfg.download):
        read = partial(read_official, data_cfg.source, root, download=data_cfg.download)
        return read(train=True), read(train=False)
    name, variable = NAMES[data_cfg.source]
    expected = "train.npz + test.npz" + (f" or {official}/" if official else "")
    raise UserError(
        f"data.dir={str(root)!r}: no {name} there (expected {expected}); point data.dir"
        + (f" or {variable} at it, or set data.download=true" if official else " at it")
    )


# ---------------------------------------------------------------- what arrays hold, for the config


def describe_arrays(directory: str | None, cache_dir: str | None) -> dict[str, Any]:
    """num_classes, channels, image_size and the per-channel mean and std (of x / 255) of
    <directory>/train.npz; cached beside the decoded arrays."""
    if not directory:
        raise UserError(
            f"data.dir={directory!r}: data=arrays needs the folder of your train.npz and test.npz; "
            "set data.dir=/path/to/arrays"
        )
    train = Path(directory) / "train.npz"
    if not train.is_file():
        raise UserError(f"data.dir={directory!r}: no train.npz there; data=arrays reads train.npz and test.npz")
    summary = Path(cache_dir).expanduser() / f"{cache_key([train])}.arrays.json" if cache_dir else None
    if summary is not None and summary.is_file():
        return json.loads(summary.read_text())
    x, y = cached(cache_dir, [train], partial(read_npz, train))
    if len(y) == 0:
        raise UserError(f"data.dir: {train} holds no images")
    mean, std = (x.mean(axis=(0, 1, 2), dtype=np.float64) / 255, x.std(axis=(0, 1, 2), dtype=np.float64) / 255)
    described = {
        "num_classes": int(y.max()) + 1,
        "channels": int(x.shape[3]),
        "image_size": int(x.shape[1]),
        "mean": [round(float(v), 6) for v in mean],
        "std": [round(float(v), 6) for v in std],
    }
    if summary is not None:
        try:
            atomic_write(summary, lambda f: f.write(json.dumps(described).encode()))
        except OSError:
            pass
    return described


def arrays_resolver(key: str, directory: str | None, cache_dir: str | None = None) -> Any:
    """`${arrays:KEY,${data.dir},${data.cache_dir}}` in conf/data/arrays.yaml."""
    return describe_arrays(directory, cache_dir)[key]


OmegaConf.register_resolver("arrays", arrays_resolver, replace=True, use_cache=True)
