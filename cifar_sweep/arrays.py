"""uint8 image arrays, the form every source's images take: x (N, H, W, C) with C = 1 or 3, y labels.
Their shape and checks, conversion to the size and mode a run trains on, and the decoded cache that later
jobs of a sweep memory-map. Numpy and Pillow only."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from cifar_sweep.errors import UserError, one_line
from cifar_sweep.files import atomic_write

log = logging.getLogger(__name__)

Arrays = tuple[np.ndarray, np.ndarray]  # x (N, H, W, C) uint8, y (N,) int64
Size = tuple[int, int]  # (H, W)
RESAMPLING = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")  # Pillow's resize filters


# ---------------------------------------------------------------- shapes


def as_size(value: Any) -> Size:
    """data.image_size as (H, W): N is N x N, [H, W] is H x W."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    height, width = value
    return int(height), int(width)


def size_value(height: int, width: int) -> int | list[int]:
    """An image size as a config holds it: N for a square, [H, W] otherwise."""
    return height if height == width else [height, width]


def size_text(size: Size) -> str:
    return f"{size[0]}x{size[1]}"


def check_arrays(
    x: np.ndarray, y: np.ndarray, where: str, num_classes: int | None = None, shape: tuple | None = None
) -> Arrays:
    """The arrays, if they are images and labels this project trains on (of `shape` (H, W, C) and labels
    below `num_classes` when given); one line if not. (N, H, W) images are one channel."""
    if x.ndim == 3:
        x = x[..., None]
    images = x.ndim == 4 and x.shape[3] in (1, 3) and x.shape[1] > 0 and x.shape[2] > 0
    if x.dtype != np.uint8 or not images or (shape is not None and x.shape[1:] != tuple(shape)):
        expected = f"(N, {shape[0]}, {shape[1]}, {shape[2]})" if shape else "(N, H, W, C) with C = 1 or 3, or (N, H, W)"
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


# ---------------------------------------------------------------- size and mode


def workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def resample(name: str):
    from PIL import Image

    return getattr(Image.Resampling, name.upper())


def convert(x: np.ndarray, size: Size | None, channels: int | None, interpolation: str = "bilinear") -> np.ndarray:
    """Images (N, H, W, C) at `size` and `channels` (None: as they are): grey to RGB by copying, RGB to
    grey as Pillow's "L", resized with Pillow's `interpolation` filter, in threads."""
    if channels is not None and channels != x.shape[3]:
        if channels == 3:
            x = np.repeat(x, 3, axis=3)
        else:  # ITU-R 601-2 luma, Pillow's convert("L")
            x = (x.astype(np.uint32) @ np.array([299, 587, 114], np.uint32) // 1000)[..., None].astype(np.uint8)
    if size is None or x.shape[1:3] == size:
        return x
    from PIL import Image

    def one(image: np.ndarray) -> np.ndarray:
        squeezed = image[..., 0] if image.shape[2] == 1 else image
        resized = np.asarray(Image.fromarray(squeezed).resize((size[1], size[0]), resample(interpolation)))
        return resized.reshape(size[0], size[1], image.shape[2])

    with ThreadPoolExecutor(workers()) as pool:
        return np.stack(list(pool.map(one, x, chunksize=256))) if len(x) else x[:, : size[0], : size[1]]


# ---------------------------------------------------------------- the cache


def file_stats(paths: Sequence[Path]) -> list:
    """(absolute path, size, mtime) of each file: one stat call each (a folder may hold 50,000)."""
    stats = []
    for path in paths:
        info = path.stat()
        stats.append((str(path if path.is_absolute() else path.resolve()), info.st_size, info.st_mtime_ns))
    return stats


def cache_key(sources: Sequence[Path], settings: Any = None) -> str:
    """The sources' path, size and mtime, and how they were read (size, channels, ...)."""
    return hashlib.sha1(repr((file_stats(sources), settings)).encode()).hexdigest()[:16]


def cached(cache_dir: str | None, key: str, read: Callable[[], Arrays], origin: Any = "") -> Arrays:
    """read() once; later calls (other jobs of a sweep) memory-map the decoded uint8 copy in
    cache_dir, keyed by `key` (cache_key: the sources and how they are read). An entry is used only
    when it is what was written (its record: the images' shape and dtype, the labels' digest); a damaged
    one is rebuilt from `origin` with one warning. cache_dir=None disables the cache."""
    if cache_dir is None:
        return read()
    folder = Path(cache_dir).expanduser()
    x_path, y_path, record = folder / f"{key}.x.npy", folder / f"{key}.y.npy", folder / f"{key}.record.json"
    if x_path.is_file() and y_path.is_file() and record.is_file():
        try:
            x, y = np.load(x_path, mmap_mode="r"), np.load(y_path)
            if json.loads(record.read_text()) == describe_entry(x, y):
                return x, y
            problem = "its arrays differ from the record written with them"
        except (OSError, ValueError, EOFError) as e:
            problem = one_line(e)
        log.warning("data cache %s is damaged (%s); rebuilding it from %s", x_path, problem, origin)
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
