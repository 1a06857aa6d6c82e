"""The benchmarks of docs/performance.md, each run several times, with the machine's load before each
run: the median and range of every number a benchmark prints (its `RESULT` lines) go into a Markdown
table, every run's numbers into a JSON record.

    CIFAR10_DIR=/path/to/cifar10 python bench/repeat.py --runs 3 --record bench/results.json \\
        --out docs/benchmark-runs.md

The runs go in rounds (every benchmark once, then again), so a slow spell of the machine spreads over
all of them rather than one. The record is written after every run and read back when the command
starts again: a stopped series continues where it stopped, and `--only` adds benchmarks to it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from _common import cpu_model, picked

HERE = Path(__file__).resolve().parent
SUITE = {  # the rows of docs/performance.md's table: its number -> the benchmark's arguments
    "1": ["data_pipeline.py", "10000", "5"],
    "2": ["trainer_overhead.py", "60"],
    "3": ["job_overhead.py", "3"],
    "3c": ["decode.py", "50000", "3"],
    "4": ["packing.py", "6"],
    "6a": ["pruning.py", "16", "10", "2000", "1"],
    "6b": ["pruning.py", "12", "5"],
    "6c": ["pruning.py", "slots", "12", "5", "4000", "2"],
    "7": ["plugin_scan.py", "7"],
    "8": ["slurm.py", "8"],
    "9": ["fusion.py", "4000", "0.125", "3", "3"],
    "10": ["checkpoint.py", "7"],
    "11": ["cpu_defaults.py", "5", "40"],
    "12": ["claims_simulation.py", "4000", "0"],
    "6d": ["pruning_seeds.py", "42,0,1,2"],
}


def results(stdout: str) -> dict[str, float]:
    """The `RESULT name value [goal ...]` lines a benchmark printed."""
    return {
        words[1]: float(words[2])
        for words in (line.split() for line in stdout.splitlines())
        if len(words) >= 3 and words[0] == "RESULT"
    }


def one_run(key: str) -> dict:
    load = os.getloadavg()[0]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(HERE / SUITE[key][0]), *SUITE[key][1:]], capture_output=True, text=True)
    run = {
        "bench": key,
        "when": f"{datetime.now():%Y-%m-%d %H:%M}",
        "load_before": round(load, 2),
        "seconds": round(time.perf_counter() - start, 1),
        "results": results(done.stdout),
    }
    if done.returncode != 0 or not run["results"]:
        run["error"] = (done.stderr or done.stdout)[-1500:]
    return run


def shown(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def table(record: list[dict]) -> list[str]:
    lines = [
        "| # | command | number | median | range | runs | load before |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key in SUITE:
        runs = [r for r in record if r["bench"] == key and "error" not in r]
        if not runs:
            continue
        loads = [r["load_before"] for r in runs]
        command = f"`python bench/{' '.join(SUITE[key])}`"
        for name in runs[0]["results"]:
            values = [r["results"][name] for r in runs if name in r["results"]]
            lines.append(
                f"| {key} | {command} | `{name}` | **{shown(statistics.median(values))}** | "
                f"{shown(min(values))} to {shown(max(values))} | {len(values)} | {min(loads):.2f} to {max(loads):.2f} |"
            )
            key = command = ""
    return lines


def document(record: list[dict], runs: int) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True)
    days = sorted({r["when"][:10] for r in record})
    return "\n".join(
        [
            "# Benchmark runs",
            "",
            f"Measured {' and '.join(days)} by `python bench/repeat.py --runs {runs}` at commit "
            f"{commit.stdout.strip()}, on {cpu_model()} ({os.cpu_count()} cores), Python "
            f"{platform.python_version()}, {platform.system()} {platform.release()}; real CIFAR-10 arrays "
            "where a benchmark reads data. Each benchmark ran once per round, the rounds one after "
            "another, nothing else on the machine. *load before* is the 1-minute load average just before "
            "a run: near 0 is idle, near the core count busy (a 1-minute average still holds the previous "
            "benchmark's work). Numbers named `*_seconds` are wall-clock; ratios compare two things "
            "measured side by side in one run. Every run's numbers: `bench/results.json`.",
            "",
            *table(record),
            "",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default=",".join(SUITE), help=f"from {','.join(SUITE)}")
    parser.add_argument("--record", type=Path, default=HERE / "results.json")
    parser.add_argument("--out", type=Path, help="write the Markdown table here")
    args, keys = picked(parser, "--only", list(SUITE))
    record = json.loads(args.record.read_text()) if args.record.is_file() else []
    failed = False
    for round_ in range(args.runs):
        for key in keys:
            if sum(r["bench"] == key and "error" not in r for r in record) > round_:
                continue  # done in an earlier call
            print(f"round {round_ + 1} of {args.runs}: {key} ({' '.join(SUITE[key])})", flush=True)
            run = one_run(key)
            print(f"  {run['seconds']} s, load before {run['load_before']}: {run.get('error') or run['results']}")
            failed |= "error" in run
            record.append(run)
            args.record.write_text(json.dumps(record, indent=1) + "\n")
    text = document(record, args.runs)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
