"""The times the README and docs quote, as a user would meet them: each run in a fresh clone of this
repository, its virtual environment built by `make venv` (timed too), then each command timed
wall-clock. Prints and writes a Markdown table with the machine, the load average before each run,
and the median and range over the runs.

    CIFAR10_DIR=/path/to/cifar10 python bench/readme_timings.py --runs 3 --out docs/timings.md

Commands: `install` (make venv), `demo` (make demo: 3 epochs of a width-1/8 VGG16 on CIFAR-10),
`example` (the synthetic quick start of docs/guide.md), `test` (make test), `test-all` (make test-all,
about 25 min a run; left out unless named).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from _common import ROOT, cpu_model, picked

COMMANDS = {
    "install": ["make", "venv"],
    "demo": ["make", "demo"],
    "example": [
        ".venv/bin/python",
        "run.py",
        "data=synthetic",
        "model.width=0.125",
        "trainer.epochs=2",
        "trainer.progress_bar=false",
    ],
    "test": ["make", "test"],
    "test-all": ["make", "test-all"],
}


def one_run(names: list[str]) -> dict[str, tuple[float, float]]:
    """A fresh clone; each command's (seconds, 1-minute load average just before it)."""
    times = {}
    with tempfile.TemporaryDirectory(prefix="timings-") as tmp:
        clone = Path(tmp) / "cifar-sweep"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        for name in ["install", *[n for n in names if n != "install"]]:
            load = os.getloadavg()[0]
            start = time.perf_counter()
            done = subprocess.run(COMMANDS[name], cwd=clone, capture_output=True, text=True)
            seconds = time.perf_counter() - start
            if done.returncode != 0:
                sys.exit(f"error: {' '.join(COMMANDS[name])} failed in {clone}:\n{done.stderr[-2000:]}")
            times[name] = (seconds, load)
            print(f"  {name}: {seconds:.1f} s (load {load:.2f})", flush=True)
    return times


def shown(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def table(runs: list[dict[str, tuple[float, float]]], names: list[str]) -> list[str]:
    lines = [
        "| command | runs | median | range | load before (1-min avg) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in ["install", *[n for n in names if n != "install"]]:
        seconds = [r[name][0] for r in runs]
        loads = [r[name][1] for r in runs]
        lines.append(
            f"| `{' '.join(COMMANDS[name])}` | {len(seconds)} | {shown(statistics.median(seconds))} | "
            f"{shown(min(seconds))} to {shown(max(seconds))} | {min(loads):.2f} to {max(loads):.2f} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--commands", default="demo,example,test", help=f"from {','.join(COMMANDS)}")
    parser.add_argument("--out", type=Path, help="write the Markdown table here")
    args, names = picked(parser, "--commands", list(COMMANDS))
    if "demo" in names and not os.environ.get("CIFAR10_DIR"):
        parser.error("demo trains on CIFAR-10: set CIFAR10_DIR")
    runs = []
    for i in range(args.runs):
        print(f"run {i + 1} of {args.runs}", flush=True)
        runs.append(one_run(names))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    lines = [
        f"Measured {datetime.now():%Y-%m-%d} by `python bench/readme_timings.py --runs {args.runs} "
        f"--commands {','.join(names)}` at commit {commit.stdout.strip()}: each run a fresh `git clone`, "
        f"on {cpu_model()} ({os.cpu_count()} cores), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}. The load column is the machine's 1-minute load "
        "average just before each command: near 0 is an idle machine, near the core count a busy one.",
        "",
        *table(runs, names),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text("# Timings a user can reproduce\n\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
