"""Benchmark 1: augmented images per second, ours vs the study's pipeline, same augmentations.

ours:   uint8 tensor -> one batched flip + affine_grid/grid_sample per batch -> normalise
study:  PIL RandomRotation(15) + RandomAffine(translate 0.1, scale 0.9-1.1, shear 10)
        + RandomHorizontalFlip + ToTensor + Normalize, DataLoader(batch 64, 2 workers)

    python bench/data_pipeline.py [N_IMAGES]
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
from omegaconf import OmegaConf
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from _common import REAL, has_real_data, result, table
from cifar_sweep.data import MEAN, STD, Inputs, Split, read_npz, synthetic_arrays

AUG = OmegaConf.create({"flip": 0.5, "crop_padding": 0, "rotation": 15.0, "translate": 0.1, "scale": 0.1,
                        "shear": 10.0})
BATCH = 64


class PilDataset(Dataset):
    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y
        self.transform = transforms.Compose([
            transforms.RandomRotation(15),
            transforms.RandomAffine(degrees=0, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=10),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(MEAN, STD),
        ])

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.x[i])), int(self.y[i])


def ours(x: np.ndarray, y: np.ndarray) -> float:
    split = Split(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), torch.from_numpy(y))
    inputs, generator = Inputs(AUG, torch.device("cpu"), channels_last=False), torch.Generator().manual_seed(0)
    start, seen = time.perf_counter(), 0
    for xb, _ in split.batches(BATCH, generator):
        seen += len(inputs(xb, generator))
    return seen / (time.perf_counter() - start)


def study(x: np.ndarray, y: np.ndarray) -> float:
    loader = DataLoader(PilDataset(x, y), batch_size=BATCH, shuffle=True, num_workers=2)
    start, seen = time.perf_counter(), 0
    for xb, _ in loader:  # worker start-up included, as in every epoch of the study's loop
        seen += len(xb)
    return seen / (time.perf_counter() - start)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    x, y = read_npz(REAL / "train.npz") if has_real_data() else synthetic_arrays(n, seed=0)
    x, y = x[:n], y[:n]
    print(f"{n} images ({'real arrays' if has_real_data() else 'synthetic'}), batch {BATCH}, "
          f"torch threads {torch.get_num_threads()}")
    ours(x[:1024], y[:1024])  # warm-up
    rate_ours, rate_study = ours(x, y), study(x, y)
    table([("ours (batched, on device)", f"{rate_ours:,.0f}"),
           ("study (PIL + DataLoader, 2 workers)", f"{rate_study:,.0f}")], ("pipeline", "images/s"))
    result("data_pipeline_speedup", rate_ours / rate_study, ">=10")


if __name__ == "__main__":
    main()
