"""Benchmark 1: augmented training images per second, ours vs the study's own pipeline, with the
study's exact transforms, in interleaved repeats (median and range).

ours:   uint8 split on the device -> batched rotation warp + whole-pixel shift + flip (nearest) ->
        normalise (0.5, 0.5): Inputs() with the final notebook's `augment` and `data.normalize`
study:  DataLoader(batch 64, shuffle, 2 workers) over PIL images: RandomRotation(15) ->
        RandomAffine(0, translate=(0.1, 0.1)) -> RandomHorizontalFlip() -> Resize(32) -> ToTensor()
        -> Normalize(0.5, 0.5), worker start-up included (the notebook pays it every epoch)

    python bench/data_pipeline.py [N_IMAGES] [REPEATS]
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from cifar_sweep.data import Inputs, Split
from cifar_sweep.sources import read_npz, synthetic_arrays

from _common import REAL, ROOT, has_real_data, result, table

BATCH = 64


class NotebookDataset(Dataset):
    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y
        self.transform = transforms.Compose(
            [
                transforms.RandomRotation(15),
                transforms.RandomAffine(0, translate=(0.1, 0.1)),
                transforms.RandomHorizontalFlip(),
                transforms.Resize(32),
                transforms.ToTensor(),
                transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
            ]
        )

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.x[i])), int(self.y[i])


def study_inputs() -> Inputs:
    with initialize_config_dir(config_dir=str(ROOT / "cifar_sweep" / "conf")):
        cfg = compose("config", ["experiment=study_final", "data.dir=unused"])
    return Inputs(cfg.augment, cfg.data.normalize, torch.device("cpu"), channels_last=False)


def ours(split: Split, inputs: Inputs) -> float:
    generator = torch.Generator().manual_seed(0)
    start, seen = time.perf_counter(), 0
    for xb, _ in split.batches(BATCH, generator):
        seen += len(inputs(xb, generator))
    return seen / (time.perf_counter() - start)


def study(dataset: NotebookDataset) -> float:
    start, seen = time.perf_counter(), 0
    for xb, _ in DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=2):
        seen += len(xb)
    return seen / (time.perf_counter() - start)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    x, y = read_npz(REAL / "train.npz") if has_real_data() else synthetic_arrays(n, seed=0)
    x, y = np.ascontiguousarray(x[:n]), y[:n]
    split, inputs, dataset = (
        Split(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), torch.from_numpy(y)),
        study_inputs(),
        NotebookDataset(x, y),
    )
    ours(Split(split.x[:1024], split.y[:1024]), inputs)  # warm-up
    rates = {"ours": [], "study": []}
    for _ in range(repeats):  # interleaved: a slow spell of the machine hits both
        rates["ours"].append(ours(split, inputs))
        rates["study"].append(study(dataset))
    ratios = [a / b for a, b in zip(rates["ours"], rates["study"])]
    print(
        f"{n} images ({'real arrays' if has_real_data() else 'synthetic'}), batch {BATCH}, the notebook's "
        f"transforms, {repeats} interleaved repeats, torch threads {torch.get_num_threads()}"
    )
    table(
        [
            (name, f"{statistics.median(r):,.0f}", f"{min(r):,.0f} - {max(r):,.0f}")
            for name, r in (
                ("ours (batched, on device)", rates["ours"]),
                ("study (PIL + DataLoader, 2 workers)", rates["study"]),
            )
        ],
        ("pipeline", "median images/s", "range"),
    )
    print(
        f"speed-up per repeat: median {statistics.median(ratios):.1f}x, range {min(ratios):.1f}x - {max(ratios):.1f}x"
    )
    result("data_pipeline_speedup", statistics.median(ratios), ">=10")
    result("data_pipeline_ours_images_per_second", statistics.median(rates["ours"]))
    result("data_pipeline_study_images_per_second", statistics.median(rates["study"]))


if __name__ == "__main__":
    main()
