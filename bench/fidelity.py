"""Fidelity: experiment=study_final (batched augmentation on the training device) against a plain
torchvision implementation of the study's final notebook, seed by seed, same data, model, optimizer
and schedule; the last epoch's test accuracy of each, their means, spreads and difference.

ours:      cifar_sweep.train.train() on `experiment=study_final model.width=W trainer.epochs=E seed=S`
notebook:  PIL RandomRotation(15) -> RandomAffine(0, translate=(0.1, 0.1)) -> RandomHorizontalFlip()
           -> Resize(32) -> ToTensor() -> Normalize(0.5, 0.5); DataLoader(batch 64, shuffle, 2 workers);
           the same VGG (cifar_sweep.models); Adam(1e-3, weight_decay=5e-5); CosineAnnealingLR(T_max=E)
           stepped after each epoch; fp32; all 50,000 training images; accuracy on the 10,000 test images

    CIFAR10_DIR=/path/to/cifar10 python bench/fidelity.py [EPOCHS] [SEEDS] [WIDTH]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from cifar_sweep.models import VGG
from cifar_sweep.placement import Placement, resolve_device
from cifar_sweep.sources import read_npz
from cifar_sweep.stats import difference_interval, welch_p
from cifar_sweep.train import train

from _common import REAL, ROOT, has_real_data, result, table

NORMALIZE = transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
TRAIN_TRANSFORM = transforms.Compose(
    [
        transforms.RandomRotation(15),
        transforms.RandomAffine(0, translate=(0.1, 0.1)),
        transforms.RandomHorizontalFlip(),
        transforms.Resize(32),
        transforms.ToTensor(),
        NORMALIZE,
    ]
)
TEST_TRANSFORM = transforms.Compose([transforms.Resize(32), transforms.ToTensor(), NORMALIZE])


class Arrays(Dataset):
    def __init__(self, x: np.ndarray, y: np.ndarray, transform) -> None:
        self.x, self.y, self.transform = x, y, transform

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.x[i])), int(self.y[i])


def notebook(seed: int, epochs: int, width: float, train_set, test_set) -> float:
    """The notebook's loop, as plain PyTorch; returns the last epoch's test accuracy."""
    torch.manual_seed(seed)
    model = VGG("vgg16", width)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=5e-5)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    loader = DataLoader(Arrays(*train_set, TRAIN_TRANSFORM), batch_size=64, shuffle=True, num_workers=2)
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        scheduler.step()
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in DataLoader(Arrays(*test_set, TEST_TRANSFORM), batch_size=1000, num_workers=2):
            correct += (model(x).argmax(1) == y).sum().item()
    return correct / len(test_set[1])


def ours(seed: int, epochs: int, width: float, data_overrides: list[str]) -> float:
    with initialize_config_dir(config_dir=str(ROOT / "cifar_sweep" / "conf")):
        cfg = compose(
            "config",
            [
                "experiment=study_final",
                f"model.width={width}",
                f"trainer.epochs={epochs}",
                f"seed={seed}",
                "trainer.progress_bar=false",
                *data_overrides,
            ],
        )
    with tempfile.TemporaryDirectory() as run_dir:
        return train(cfg, Path(run_dir), Placement(resolve_device(cfg.trainer.device)))["test_acc"]


def main() -> None:
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    width = float(sys.argv[3]) if len(sys.argv) > 3 else 0.125
    if not has_real_data():
        sys.exit("set CIFAR10_DIR to a folder with train.npz and test.npz (the fidelity check needs real images)")
    train_set, test_set = read_npz(REAL / "train.npz"), read_npz(REAL / "test.npz")
    rows, theirs, mine = [], [], []
    start = time.perf_counter()
    for seed in range(seeds):  # interleaved, so a slow spell of the machine hits both alike
        t0 = time.perf_counter()
        mine.append(ours(seed, epochs, width, [f"data.dir={REAL}"]))
        t1 = time.perf_counter()
        theirs.append(notebook(seed, epochs, width, train_set, test_set))
        t2 = time.perf_counter()
        rows.append((seed, f"{mine[-1]:.4f}", f"{t1 - t0:.0f}", f"{theirs[-1]:.4f}", f"{t2 - t1:.0f}"))
        print(*rows[-1], flush=True)
    a, b = np.array(mine), np.array(theirs)
    diff = a.mean() - b.mean()
    low, high = difference_interval(a, b)
    print(
        f"\nstudy_final vs the notebook's torchvision pipeline: VGG16 width {width}, {epochs} epochs, all 50,000 "
        f"training images, {seeds} seeds, test accuracy after the last epoch; {time.perf_counter() - start:.0f} s"
    )
    table(rows, ("seed", "ours test_acc", "ours s", "notebook test_acc", "notebook s"))
    table(
        [
            ("ours (study_final)", f"{a.mean():.4f}", f"{a.std(ddof=1):.4f}"),
            ("notebook (torchvision)", f"{b.mean():.4f}", f"{b.std(ddof=1):.4f}"),
        ],
        ("pipeline", "mean", "std"),
    )
    print(f"difference {diff:+.4f}, 95 % interval [{low:+.4f}, {high:+.4f}] (Welch), p = {welch_p(a, b):.3f}")
    result("fidelity_test_acc_difference", diff, "within seed noise (Welch p >= 0.05)")


if __name__ == "__main__":
    main()
