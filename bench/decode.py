"""Decoding an image folder (data=folder): images/s with one thread and with every core, and what the
decoded cache saves a later job.

The folder holds N PNGs of the real CIFAR-10 images (CIFAR10_DIR: test.npz, train.npz for N > 10,000) or
generated ones, written once
in 10 class folders. Each repeat decodes it afresh (cache off) with 1 thread and with all cores,
interleaved; then one decode fills the cache and a second load memory-maps it.

    python bench/decode.py [N] [REPEATS]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from PIL import Image

from cifar_sweep import images, sources
from cifar_sweep.sources import read_npz, synthetic_arrays

from _common import REAL, ROOT, has_real_data, result, table


def compose_cfg(overrides: list[str]):
    with initialize_config_dir(config_dir=str(ROOT / "cifar_sweep" / "conf")):
        return compose("config", overrides)


def write_folder(root: Path, n: int) -> None:
    x, y = read_npz(REAL / ("test.npz" if n <= 10000 else "train.npz")) if has_real_data() else synthetic_arrays(n, 0)
    for split in ("train", "test"):
        for i in range(n if split == "train" else 10):
            folder = root / split / f"class{y[i]}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(x[i]).save(folder / f"{i}.png")


def load_seconds(cfg, threads: int | None) -> float:
    original = images.workers
    images.workers = (lambda: threads) if threads else original  # type: ignore[assignment]
    try:
        start = time.perf_counter()
        sources.load_split(cfg.data, "train")
        return time.perf_counter() - start
    finally:
        images.workers = original  # type: ignore[assignment]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "images"
        write_folder(root, n)
        uncached = compose_cfg(["data=folder", f"data.dir={root}", "data.cache_dir=null"])
        one, every = [], []
        for _ in range(repeats):
            one.append(n / load_seconds(uncached, 1))
            every.append(n / load_seconds(uncached, None))
        cached = compose_cfg(["data=folder", f"data.dir={root}", f"data.cache_dir={tmp}/cache"])
        first, again = load_seconds(cached, None), load_seconds(cached, None)
    cores = images.workers()
    print(f"{n} PNGs ({'real CIFAR-10 test images' if has_real_data() else 'generated'}), 32x32 RGB, {cores} cores")
    table(
        [("1 thread", f"{statistics.median(one):,.0f}"), (f"{cores} threads", f"{statistics.median(every):,.0f}")],
        ("decode", "median images/s"),
    )
    print(f"cache: first load (decode + write) {first:.2f} s, a later job's load {again:.3f} s")
    result("decode_images_per_second_one_thread", statistics.median(one))
    result("decode_images_per_second", statistics.median(every))
    result("decode_thread_speedup", statistics.median(every) / statistics.median(one))
    result("decode_cache_first_seconds", first)
    result("decode_cache_reuse_seconds", again)
    result("decode_cache_reuse_speedup", first / again)


if __name__ == "__main__":
    main()
