"""Where a run's images come from: uint8 arrays (N, H, W, C) with C = 1 or 3, any H and W, labels
0..K-1, and the class names where the source knows them. Numpy and Pillow: the config resolver below
runs while Hydra composes, before torch is needed (torchvision only for its archives and datasets).

    data.source=cifar10      train.npz/test.npz, or the official cifar-10-batches-py/ (md5-checked)
    data.source=cifar100     train.npz/test.npz, or the official cifar-100-python/ (md5-checked), fine labels
    data.source=arrays       any train.npz/test.npz: x (N, H, W, C) or (N, H, W), y, optional `classes`
    data.source=folder       class folders: <dir>/train/<class>/*.png, <dir>/test (or val)/... (images.py)
    data.source=torchvision  any torchvision dataset by its `_target_` (images.py)
    data.source=synthetic    generated class-conditional images, no files

`data.image_size` (N or [H, W]) and `data.channels` (1 or 3) are what the run trains on: images of
another size or mode are resized (`data.interpolation`) or converted once, on the way in. In a data
config, `${images:KEY}` stands for what the training split holds: num_classes, channels, image_size,
mean, std (per channel, of x / 255) or classes; a key set so is taken as the data is, not converted.
Everything read from files is decoded once into a uint8 cache (data.cache_dir) that later jobs of a
sweep memory-map.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from cifar_sweep import images
from cifar_sweep.arrays import Arrays, Size, as_size, cache_key, cached, check_arrays, convert, file_stats, size_value
from cifar_sweep.errors import UserError, one_line
from cifar_sweep.files import atomic_write

OFFICIAL = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
NATIVE = {"cifar10": (32, 32, 3), "cifar100": (32, 32, 3)}  # (H, W, C) of a known dataset's own images
SOURCES = ("cifar10", "cifar100", "arrays", "folder", "torchvision", "synthetic")
NAMES = {"cifar10": ("CIFAR-10", "CIFAR10_DIR"), "cifar100": ("CIFAR-100", "CIFAR100_DIR"), "arrays": ("arrays", "")}


# ---------------------------------------------------------------- what the run trains on: size and mode


def asked_for(data_cfg) -> tuple[Size | None, int | None]:
    """The (H, W) and channels a config asks for; None for a key that is `${images:...}` (the data's own)."""
    size = None if OmegaConf.is_interpolation(data_cfg, "image_size") else as_size(data_cfg.image_size)
    channels = None if OmegaConf.is_interpolation(data_cfg, "channels") else int(data_cfg.channels)
    return size, channels


# ---------------------------------------------------------------- sources


def read_npz(path: Path, num_classes: int | None = None, shape: tuple | None = None) -> Arrays:
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


def npz_classes(path: Path) -> list[str] | None:
    """The optional `classes` array of an npz file (one name per label)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return [str(c) for c in f["classes"]] if "classes" in f else None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None


def read_official(source: str, root: Path, train: bool, download: bool) -> Arrays:
    dataset = official_dataset(source, root, train, download)
    return check_arrays(
        np.asarray(dataset.data), np.asarray(dataset.targets), f"data.dir: {root}", len(dataset.classes)
    )


def official_dataset(source: str, root: Path, train: bool, download: bool):
    from torchvision.datasets import CIFAR10, CIFAR100  # md5-check every batch before unpickling it

    dataset = {"cifar10": CIFAR10, "cifar100": CIFAR100}[source]
    try:
        return dataset(str(root), train=train, download=download)
    except OSError as e:  # urllib's URLError, a refused connection, a full disk while downloading
        raise UserError(
            f"data.download=true: {OFFICIAL[source]} could not be downloaded into data.dir={str(root)!r} "
            f"({one_line(e)}); check the network, or put the files there yourself"
        ) from None
    except RuntimeError as e:
        raise UserError(
            f"data.dir={str(root)!r}: {OFFICIAL[source]} is missing or corrupt ({e}); "
            "delete it and set data.download=true"
        ) from None


def synthetic_arrays(n: int, seed: int, num_classes: int = 10, size: Any = 32, channels: int = 3) -> Arrays:
    """Class-conditional images a small net can learn: each class has its own colour and
    grating (frequency, orientation); each image its own phase, contrast and pixel noise. One
    channel: their grey levels. size: N or (H, W)."""
    height, width = as_size(size)
    protos = np.random.default_rng(12345)
    colors = protos.uniform(0.15, 0.85, (num_classes, 3))
    angles = protos.permutation(num_classes) * np.pi / num_classes
    freqs = 1.5 + protos.permutation(num_classes) % 4
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % num_classes)
    yy, xx = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    along = xx[None] * np.cos(angles[y])[:, None, None] + yy[None] * np.sin(angles[y])[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    grating = np.sin(2 * np.pi * freqs[y][:, None, None] * along + phase)
    contrast = rng.uniform(0.15, 0.35, (n, 1, 1))
    noise = rng.normal(0, 0.08, (n, height, width, 3))
    img = colors[y][:, None, None, :] + (contrast * grating)[..., None] + noise
    img = img.mean(-1, keepdims=True) if channels == 1 else img
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8), y.astype(np.int64)


# ---------------------------------------------------------------- one split of the configured source


def where_of(data_cfg) -> str:
    return f"data.dir={data_cfg.dir!r}" if data_cfg.source not in ("synthetic", "torchvision") else "data"


def load_split(data_cfg, split: str) -> Arrays:
    """The `split` ("train" or "test") arrays of the configured source, at the size and channels the
    config asks for, through the cache."""
    source, cache_dir = data_cfg.source, data_cfg.get("cache_dir")
    size, channels = asked_for(data_cfg)
    interpolation = data_cfg.get("interpolation", "bilinear")
    if source == "synthetic":
        n, seed = (data_cfg.train_size, 1) if split == "train" else (data_cfg.test_size, 2)
        return synthetic_arrays(n, seed, data_cfg.num_classes, data_cfg.image_size, data_cfg.channels)
    if source in ("folder", "torchvision"):
        return images.load_split(data_cfg, split, size, channels, interpolation)
    root = Path(data_cfg.dir)
    native = NATIVE.get(source)
    if (root / "train.npz").is_file() and (root / "test.npz").is_file():
        path = root / f"{split}.npz"
        num_classes = data_cfg.num_classes if not OmegaConf.is_interpolation(data_cfg, "num_classes") else None

        def read() -> Arrays:
            x, y = read_npz(path, num_classes, native)
            return convert(x, size, channels, interpolation), y

        return cached(cache_dir, cache_key([path], (size, channels, interpolation)), read, path)
    official = OFFICIAL.get(source)
    if official and ((root / official).is_dir() or data_cfg.download):
        x, y = read_official(source, root, split == "train", data_cfg.download)
        return convert(x, size, channels, interpolation), y
    name, variable = NAMES[source]
    expected = "train.npz + test.npz" + (f" or {official}/" if official else "")
    raise UserError(
        f"data.dir={str(root)!r}: no {name} there (expected {expected}); point data.dir"
        + (f" or {variable} at it, or set data.download=true" if official else " at it")
    )


def load_arrays(data_cfg) -> tuple[Arrays, Arrays]:
    """(train, test) arrays from the configured source."""
    return load_split(data_cfg, "train"), load_split(data_cfg, "test")


def load_classes(data_cfg) -> list[str] | None:
    """The class names, in label order, where the source knows them; else None."""
    if data_cfg.source in ("folder", "torchvision"):
        return images.classes(data_cfg)
    if data_cfg.source in ("synthetic",) or not data_cfg.dir:
        return None
    root = Path(data_cfg.dir)
    if (root / "train.npz").is_file():
        return npz_classes(root / "train.npz")
    official = OFFICIAL.get(data_cfg.source)
    if official and (root / official).is_dir():
        return list(official_dataset(data_cfg.source, root, False, False).classes)
    return None


# ---------------------------------------------------------------- what the images hold, for the config


_DESCRIBED: dict[str, dict[str, Any]] = {}  # this process's descriptions, by the data config as written


def describe(data_cfg) -> dict[str, Any]:
    """What the training split holds: num_classes, channels, image_size, mean and std (per channel, of
    x / 255), classes. Cached beside the decoded arrays (the cache key of how they are read), and kept
    for this process: every `${images:...}` of every job of a sweep asks."""
    written = repr((OmegaConf.to_container(data_cfg, resolve=False), stamp(data_cfg)))
    if written not in _DESCRIBED:
        _DESCRIBED[written] = described(data_cfg)
    return _DESCRIBED[written]


def stamp(data_cfg) -> Any:
    """A cheap mark of the data's files (train.npz's, else its folder's size and mtime)."""
    directory = data_cfg.get("dir")
    if not directory:
        return None
    for path in (Path(directory) / "train.npz", Path(directory) / "train", Path(directory)):
        if path.exists():
            return file_stats([path])
    return None


def described(data_cfg) -> dict[str, Any]:
    if data_cfg.source in ("cifar10", "cifar100", "arrays", "folder") and not data_cfg.get("dir"):
        what = "your train.npz and test.npz" if data_cfg.source == "arrays" else "its images"
        raise UserError(
            f"data.dir={data_cfg.get('dir')!r}: data={data_cfg.source} needs the folder of {what}; "
            f"set data.dir=/path/to/{'arrays' if data_cfg.source == 'arrays' else 'images'}"
        )
    if data_cfg.source == "arrays" and not (Path(data_cfg.dir) / "train.npz").is_file():
        raise UserError(f"data.dir={data_cfg.dir!r}: no train.npz there; data=arrays reads train.npz and test.npz")
    cache_dir = data_cfg.get("cache_dir")
    record = Path(cache_dir).expanduser() / f"{description_key(data_cfg)}.images.json" if cache_dir else None
    if record is not None and record.is_file():
        try:
            return json.loads(record.read_text())
        except (OSError, ValueError):
            pass  # damaged: described again below
    x, y = load_split(data_cfg, "train")
    if len(y) == 0:
        raise UserError(f"{where_of(data_cfg)}: its train split holds no images")
    mean = x.mean(axis=(0, 1, 2), dtype=np.float64) / 255
    std = x.std(axis=(0, 1, 2), dtype=np.float64) / 255
    classes = load_classes(data_cfg)
    described = {
        "num_classes": len(classes) if classes else int(y.max()) + 1,
        "channels": int(x.shape[3]),
        "image_size": size_value(int(x.shape[1]), int(x.shape[2])),
        "mean": [round(float(v), 6) for v in mean],
        "std": [round(float(v), 6) for v in std],
        "classes": classes,
    }
    if record is not None:
        try:
            atomic_write(record, lambda f: f.write(json.dumps(described).encode()))
        except OSError:
            pass
    return described


def description_key(data_cfg) -> str:
    """The cache key of what describe() reads: the source's files and how they are read."""
    size, channels = asked_for(data_cfg)
    settings = (data_cfg.source, size, channels, data_cfg.get("interpolation"))
    if data_cfg.source == "torchvision":
        return images.dataset_key(data_cfg, "train", settings)
    root = Path(data_cfg.dir)
    files = (
        [root / "train.npz"] if (root / "train.npz").is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    )
    return cache_key(files, settings)


def images_resolver(key: str, *, _root_: Any) -> Any:
    """`${images:KEY}` in a data config: what its training split holds (describe)."""
    return describe(_root_.data)[key]


OmegaConf.register_resolver("images", images_resolver, replace=True)
