"""Images that are not arrays yet, decoded once into the same uint8 arrays (and cache) as npz files.

data=folder        torchvision's ImageFolder layout: <dir>/train/<class>/<image> and <dir>/test/
                   (or val/) alike; any format Pillow reads; classes are the train folders' names in
                   sorted order. Decoded in parallel threads, each image converted to RGB or L
                   (data.channels) and resized to data.image_size when it differs. Unreadable files
                   are left out with one warning; a split with none readable is one error line.
data=torchvision   any torchvision dataset by `data.dataset._target_`, its train and test splits
                   made with `data.train` and `data.test` (e.g. train: true / split: test); read
                   from its `data` array when it has one, else image by image.
"""

from __future__ import annotations

import logging
import os
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf
from tqdm import tqdm

from cifar_sweep.arrays import Arrays, Size, cache_key, cached, check_arrays, convert, resample, size_text, workers
from cifar_sweep.errors import UserError, one_line

log = logging.getLogger(__name__)

# the file suffixes torchvision's ImageFolder takes (IMG_EXTENSIONS)
SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
SPLIT_FOLDERS = {"train": ("train",), "test": ("test", "val")}
DATASET_TRUST = ("torchvision.datasets.*",)  # besides Dataset subclasses (cifar_sweep.targets)


def load_split(data_cfg, split: str, size: Size | None, channels: int | None, interpolation: str) -> Arrays:
    """The split's arrays of data=folder or data=torchvision, through the decoded cache."""
    settings = (size, channels, interpolation)
    if data_cfg.source == "folder":
        folder = split_folder(Path(data_cfg.dir), split)
        files = listing(folder, classes(data_cfg))
        key = cache_key([p for p, _ in files], settings)
        return cached(
            data_cfg.get("cache_dir"),
            key,
            lambda: decode_all(files, folder, channels or 3, size, interpolation),
            folder,
        )
    key = dataset_key(data_cfg, split, settings)
    return cached(
        data_cfg.get("cache_dir"),
        key,
        lambda: read_dataset(data_cfg, split, size, channels, interpolation),
        data_cfg.dataset._target_,
    )


def classes(data_cfg) -> list[str] | None:
    if data_cfg.source == "folder":
        return class_names(split_folder(Path(data_cfg.dir), "train"))
    found = getattr(dataset(data_cfg, "test"), "classes", None)
    return [str(c) for c in found] if found else None


# ---------------------------------------------------------------- data=folder


def split_folder(root: Path, split: str) -> Path:
    for name in SPLIT_FOLDERS[split]:
        if (root / name).is_dir():
            return root / name
    expected = " or ".join(f"{n}/" for n in SPLIT_FOLDERS[split])
    raise UserError(
        f"data.dir={str(root)!r}: no {expected} folder there; data=folder reads <dir>/train/<class>/<image> "
        "and <dir>/test/<class>/<image> (or val/)"
    )


def class_names(folder: Path) -> list[str]:
    names = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not names:
        raise UserError(f"data.dir: {folder} holds no class folders; put each class's images in <class>/ below it")
    return names


def listing(folder: Path, names: list[str] | None) -> list[tuple[Path, int]]:
    """(image file, label) of every image in the split, by class (the train split's), then file name."""
    names = names or class_names(folder)
    present = {p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")}
    unknown = sorted(present - set(names))
    if unknown:
        raise UserError(
            f"data.dir: {folder} has class folders the train split lacks ({', '.join(unknown[:5])}); "
            "every class must be in train/"
        )
    files, root = [], folder.resolve()
    for label, name in enumerate(names):
        found = [
            Path(where, file)
            for where, _, names_here in os.walk(root / name, followlinks=True)
            for file in names_here
            if os.path.splitext(file)[1].lower() in SUFFIXES
        ]
        files += [(path, label) for path in sorted(found)]
    if not files:
        raise UserError(f"data.dir: {folder} holds no images ({', '.join(SUFFIXES)}) in its class folders")
    return files


def decode(path: Path, mode: str, size: Size | None, interpolation: str) -> np.ndarray | None:
    """The image as (H, W, C) uint8 in `mode` (RGB or L), at `size` when given; None when unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return fit(image, 3 if mode == "RGB" else 1, size, interpolation)
    except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError):
        return None


def fit(image, channels: int | None, size: Size | None, interpolation: str) -> np.ndarray:
    """A PIL image as (H, W, C) uint8: RGB or L (`channels`; None: L stays L, anything else is RGB),
    resized to `size` (H, W) when given and different."""
    mode = {1: "L", 3: "RGB"}[channels] if channels else ("L" if image.mode == "L" else "RGB")
    image = image.convert(mode)
    if size is not None and image.size != (size[1], size[0]):
        image = image.resize((size[1], size[0]), resample(interpolation))
    pixels = np.asarray(image)
    return pixels[..., None] if pixels.ndim == 2 else pixels


PROCESSES_FROM = 2000  # images: below, decoding in this process is faster than starting workers
CHUNK = 256  # images per worker task


def decode_chunk(paths: list[Path], mode: str, size: Size | None, interpolation: str) -> list[np.ndarray | None]:
    return [decode(path, mode, size, interpolation) for path in paths]


def decode_all(
    files: list[tuple[Path, int]], folder: Path, channels: int, size: Size | None, interpolation: str
) -> Arrays:
    """Every file decoded: in worker processes, one per core, when there are many (small images keep
    Pillow's Python side busy, so threads would share one core), else here."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    mode, start = ("RGB" if channels == 3 else "L"), time.perf_counter()
    chunks = [[path for path, _ in files[i : i + CHUNK]] for i in range(0, len(files), CHUNK)]
    bar = tqdm(total=len(files), desc=f"decoding {folder}", leave=False, disable=None)
    decoded: list[np.ndarray | None] = []
    if len(files) < PROCESSES_FROM or workers() == 1:
        for chunk in chunks:
            decoded += decode_chunk(chunk, mode, size, interpolation)
            bar.update(len(chunk))
    else:  # spawned, not forked: this process may hold torch's threads
        with ProcessPoolExecutor(workers(), mp_context=get_context("spawn")) as pool:
            work = pool.map(partial(decode_chunk, mode=mode, size=size, interpolation=interpolation), chunks)
            for chunk, images in zip(chunks, work):
                decoded += images
                bar.update(len(chunk))
    bar.close()
    seconds = time.perf_counter() - start
    bad = [path for (path, _), image in zip(files, decoded) if image is None]
    if len(bad) == len(files):
        raise UserError(f"data.dir: none of the {len(files)} images in {folder} can be read (the first: {bad[0]})")
    if bad:
        log.warning(
            "%d of %d images in %s cannot be read and are left out (the first: %s)",
            len(bad),
            len(files),
            folder,
            bad[0],
        )
    kept = [(image, label) for image, (_, label) in zip(decoded, files) if image is not None]
    sizes = sorted({image.shape[:2] for image, _ in kept})
    if len(sizes) > 1:
        shown = ", ".join(size_text(s) for s in sizes[:4]) + (", ..." if len(sizes) > 4 else "")
        raise UserError(
            f"data.image_size: the images in {folder} have {len(sizes)} sizes ({shown}); set data.image_size=N "
            "(or [H,W]) to resize them all on decode"
        )
    log.info("decoded %d images of %s in %.1f s (%.0f images/s)", len(kept), folder, seconds, len(files) / seconds)
    x = np.stack([image for image, _ in kept])
    return check_arrays(x, np.array([label for _, label in kept], np.int64), f"data.dir: {folder}")


# ---------------------------------------------------------------- data=torchvision


def dataset(data_cfg, split: str):
    """The dataset data.dataset names, made for `split` with data.train or data.test."""
    from hydra.utils import instantiate

    from cifar_sweep import targets

    node = data_cfg.dataset
    allowed = targets.whitelist("data.dataset", node, "dataset", DATASET_TRUST)
    arguments = {**as_dict(node), **as_dict(data_cfg[split])}
    try:
        return instantiate(arguments, _execution_whitelist_=allowed)
    except Exception as e:  # a missing root without download, no network, bad arguments: the user's to fix
        cause = e.__cause__ or e
        raise UserError(
            f"data.dataset: {node._target_} cannot be made for the {split} split ({one_line(cause)}); check "
            f"data.dataset.root, data.dataset.download (needs the internet) and data.{split}"
        ) from None


def as_dict(node) -> dict:
    container = OmegaConf.to_container(node, resolve=True) if node is not None else {}
    return dict(container) if isinstance(container, dict) else {}


def dataset_key(data_cfg, split: str, settings: Any) -> str:
    """The cache key of a dataset's split: its arguments, how it is read, and the files under its root."""
    arguments = as_dict(data_cfg.dataset)
    root = Path(str(arguments.get("root", ".")))
    files = sorted(p for p in root.rglob("*") if p.is_file()) if "root" in arguments and root.is_dir() else []
    return cache_key(files, (repr(arguments), repr(as_dict(data_cfg[split])), settings))


def read_dataset(data_cfg, split: str, size: Size | None, channels: int | None, interpolation: str) -> Arrays:
    made = dataset(data_cfg, split)
    where = f"data.dataset: {data_cfg.dataset._target_} ({split})"
    found = arrays_of(made)
    if found is None:
        return check_arrays(*items_of(made, where, size, channels, interpolation), where)
    x, y = check_arrays(*found, where)
    return convert(x, size, channels, interpolation), y


def arrays_of(made) -> Arrays | None:
    """A dataset's own uint8 image array and labels (MNIST, CIFAR, SVHN, STL10 keep them so), or None."""
    data = getattr(made, "data", None)
    labels = next((getattr(made, k) for k in ("targets", "labels") if getattr(made, k, None) is not None), None)
    if data is None or labels is None or not hasattr(data, "shape") or len(data) != len(made):
        return None
    x = np.asarray(data.numpy() if hasattr(data, "numpy") else data)
    y = np.asarray(labels.numpy() if hasattr(labels, "numpy") else labels)
    if x.dtype != np.uint8 or x.ndim not in (3, 4):
        return None
    if x.ndim == 4 and x.shape[3] not in (1, 3) and x.shape[1] in (1, 3):  # (N, C, H, W): SVHN, STL10
        x = x.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), y


def items_of(made, where: str, size: Size | None, channels: int | None, interpolation: str) -> Arrays:
    """Every (image, label) of the dataset as arrays, each image (a PIL image, or a uint8 HWC or CHW
    array or tensor) made `channels` and `size` as data=folder's are."""
    from PIL import Image

    images, labels = [], []
    for image, label in tqdm(made, total=len(made), desc=f"reading {where}", leave=False, disable=None):
        if not isinstance(image, Image.Image):
            pixels = np.asarray(image)
            if pixels.dtype != np.uint8:
                raise UserError(f"{where}: its images are {pixels.dtype}, not uint8; give the dataset no transform")
            if pixels.ndim == 3 and pixels.shape[0] in (1, 3) and pixels.shape[2] not in (1, 3):
                pixels = pixels.transpose(1, 2, 0)
            image = Image.fromarray(pixels[..., 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels)
        images.append(fit(image, channels, size, interpolation))
        labels.append(int(label))
    if not images:
        raise UserError(f"{where}: holds no images")
    sizes = sorted({p.shape[:2] for p in images})
    if len(sizes) > 1:
        raise UserError(f"{where}: its images have {len(sizes)} sizes; set data.image_size=N (or [H,W]) to resize them")
    return np.stack(images), np.array(labels, np.int64)
