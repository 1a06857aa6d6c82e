"""Fused trials against the same jobs one after another.

    python bench/fusion.py [TRAIN_IMAGES] [WIDTH] [REPEATS] [GRID_EPOCHS]

1. Training throughput: for k = 1, 2, 4, 8 runs of one shape (vgg16 at WIDTH, batch 64, different seeds
   and optimizers), one training epoch fused (cifar_sweep.fusion.fused_epoch) against the k runs'
   epochs one after another (train.train_epoch); aggregate images/s, REPEATS interleaved repeats.
2. End to end: a 4-job grid (optimizer=adam,rmsprop x seed=0,1) through hydra/launcher=fused and
   through the basic launcher, as a user runs it.
The same command runs on a GPU (trainer.device=auto), unchanged.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time

import torch
from hydra import compose, initialize_config_dir

from cifar_sweep.fusion import fused_epoch
from cifar_sweep.placement import Placement, resolve_device
from cifar_sweep.state import Progress, build_run, setup_torch
from cifar_sweep.train import train_epoch

from _common import ROOT, data_overrides, has_real_data, result, table

OPTIMIZERS = ("adam", "rmsprop", "sgd")


def sizes(train: int) -> list[str]:
    return [f"data.train_subset={train}" if has_real_data() else f"data.train_size={train}", "data.val_size=1000"]


def runs(k: int, train: int, width: float) -> list:
    built = []
    for i in range(k):
        with initialize_config_dir(config_dir=str(ROOT / "cifar_sweep" / "conf")):
            cfg = compose(
                "config",
                [
                    *data_overrides(),
                    *sizes(train),
                    f"model.width={width}",
                    "trainer.progress_bar=false",
                    f"seed={i}",
                    f"optimizer={OPTIMIZERS[i % 3]}",
                    "batch_size=64",
                ],
            )
        setup_torch(cfg)
        run = build_run(cfg, Placement(resolve_device(cfg.trainer.device)))
        built.append(run)
    return built


def images_per_second(train: int, width: float, k: int, repeats: int) -> tuple[float, float]:
    """(fused, one after another) aggregate training images/s, medians of interleaved repeats."""
    members = runs(k, train, width)
    fused_epoch(members, {id(r): 1 for r in members})  # warm-up (allocations, cuDNN autotuning)
    for run in members:
        train_epoch(run, 1, Progress())
    fused, alone = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        fused_epoch(members, {id(r): 1 for r in members})
        fused.append(k * len(members[0].splits["train"]) / (time.perf_counter() - start))
        start = time.perf_counter()
        for run in members:
            train_epoch(run, 1, Progress())
        alone.append(k * len(members[0].splits["train"]) / (time.perf_counter() - start))
    return statistics.median(fused), statistics.median(alone)


def grid(launcher: str, epochs: int, width: float, train: int, folder: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "run.py"),
            "-m",
            *data_overrides(),
            f"model.width={width}",
            *sizes(train),
            f"trainer.epochs={epochs}",
            "trainer.progress_bar=false",
            "optimizer=adam,rmsprop",
            "seed=0,1",
            f"hydra/launcher={launcher}",
            f"hydra.sweep.dir={folder}",
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    return time.perf_counter() - start


def main() -> None:
    train = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    width = float(sys.argv[2]) if len(sys.argv) > 2 else 0.125
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    epochs = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    device = resolve_device("auto")
    print(
        f"vgg16 width {width}, batch 64, {train:,} {'real' if has_real_data() else 'synthetic'} training images, "
        f"{device}, torch threads {torch.get_num_threads()}; medians of {repeats} interleaved repeats"
    )
    rows = []
    for k in (1, 2, 4, 8):
        fused, alone = images_per_second(train, width, k, repeats)
        rows.append((k, f"{fused:,.0f}", f"{alone:,.0f}", f"{fused / alone:.2f}x"))
        result(f"fusion_throughput_ratio_k{k}", fused / alone, "> 1 (GPU: several x)")
        result(f"fusion_fused_images_per_second_k{k}", fused)
        result(f"fusion_alone_images_per_second_k{k}", alone)
    table(rows, ("k", "fused img/s", "one after another img/s", "ratio"))
    with tempfile.TemporaryDirectory() as tmp:
        walls = {launcher: grid(launcher, epochs, width, train, f"{tmp}/{launcher}") for launcher in ("basic", "fused")}
    print(f"4-job grid (adam, rmsprop x 2 seeds), {epochs} epochs each, end to end:")
    table([(launcher, f"{wall:.1f}") for launcher, wall in walls.items()], ("launcher", "wall s"))
    result("fusion_grid_wall_ratio", walls["basic"] / walls["fused"], "> 1")
    for launcher, wall in walls.items():
        result(f"fusion_grid_{launcher}_wall_seconds", wall)


if __name__ == "__main__":
    main()
