"""Shared by the benchmark scripts: where the data is, how results are printed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
REAL = Path(os.environ.get("CIFAR10_DIR", "data/cifar10"))  # set CIFAR10_DIR to your copy


def has_real_data() -> bool:
    """The benchmarks use train.npz/test.npz arrays when CIFAR10_DIR has them, else generated data."""
    return (REAL / "train.npz").is_file()


def data_overrides() -> list[str]:
    """The real arrays when they are here, else generated data (said in the output)."""
    return [f"data.dir={REAL}"] if has_real_data() else ["data=synthetic"]


def table(rows: list[tuple], header: tuple) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for row in (header, *rows):
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths)))


def result(name: str, value: float, goal: str = "") -> None:
    """One measured number on a line of its own, which `bench/repeat.py` reads back; `goal` is the
    issue's target for a headline number, empty for the numbers beside it that the docs quote."""
    print(f"RESULT {name} {value:.6g}" + (f" goal {goal}" if goal else ""))
