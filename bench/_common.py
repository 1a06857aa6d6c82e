"""Shared by the benchmark scripts: where the data is, how results are printed."""

from __future__ import annotations

import argparse
import os
import platform
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


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def picked(parser: argparse.ArgumentParser, option: str, allowed: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """The parsed arguments and OPTION's comma-separated names; an unknown name or `--runs` < 1 is one
    line naming what is allowed, exit 2."""
    args = parser.parse_args()
    value = getattr(args, option.removeprefix("--"))
    names = [n for n in value.split(",") if n]
    unknown = [n for n in names if n not in allowed]
    if unknown or args.runs < 1:
        parser.error(f"{option}={value}: unknown {unknown} (allowed: {', '.join(allowed)}); --runs must be >= 1")
    return args, names


def table(rows: list[tuple], header: tuple) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for row in (header, *rows):
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths)))


def result(name: str, value: float, goal: str = "") -> None:
    """One measured number on a line of its own, which `bench/repeat.py` reads back; `goal` is the
    issue's target for a headline number, empty for the numbers beside it that the docs quote."""
    print(f"RESULT {name} {value:.6g}" + (f" goal {goal}" if goal else ""))
