"""Benchmark 10: what a run's checkpoints cost per epoch, before and after best.pt became the weights
alone, with trainer.checkpoint_every at 1 (the default) and at 5 epochs.

A full-width VGG16 with Adam (its moments filled by a few steps), written as the run writes them
(cifar_sweep.checkpoints: serialised, written, fsync'd, renamed) into DIR, interleaved, median of RUNS:

  full      last.pt: model, optimizer, scheduler, progress, RNG (what a resume needs)
  weights   best.pt since this change: the model's weights, its epoch and val_acc
  before    a best epoch as it was: best.pt and last.pt both full
  after     a best epoch now: best.pt weights and last.pt full
  every5    a best epoch's share at checkpoint_every=5: (weights + full) / 5, plus the in-memory copy
            of the best weights kept between saves

    python bench/checkpoint.py [RUNS] [DIR]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir

from cifar_sweep import checkpoints
from cifar_sweep.placement import Placement
from cifar_sweep.state import Progress, build_run

from _common import ROOT, cpu_model, result, table


def filled_run():
    """VGG16 (width 1) with Adam after three steps: the optimizer holds both moments, as in training."""
    with initialize_config_dir(config_dir=str(ROOT / "cifar_sweep" / "conf")):
        cfg = compose("config", ["data=synthetic", "data.train_size=256", "data.val_size=64", "data.test_size=64"])
    run = build_run(cfg, Placement(torch.device("cpu")))
    for _ in range(3):
        x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
        run.optimizer.zero_grad()
        F.cross_entropy(run.model(x), y).backward()
        run.optimizer.step()
    progress = Progress()
    progress.finish_epoch(1, 0.5)
    return run, progress


def timed(write) -> float:
    start = time.perf_counter()
    write()
    return time.perf_counter() - start


def main(runs: int, folder: Path) -> None:
    run, progress = filled_run()
    full = lambda: checkpoints.write(folder / "last.pt", checkpoints.full_state(run, progress))  # noqa: E731
    weights_state = lambda: {"model": run.model.state_dict(), "epoch": 1, "val_acc": 0.5}  # noqa: E731
    weights = lambda: checkpoints.write(folder / "best.pt", weights_state())  # noqa: E731
    copy = lambda: {k: v.detach().clone() for k, v in run.model.state_dict().items()}  # noqa: E731
    full(), weights()  # warm the page cache and the allocator
    times: dict[str, list[float]] = {"full": [], "weights": [], "copy": []}
    for _ in range(runs):  # interleaved: a slow spell of the disk touches every kind alike
        times["full"].append(timed(full))
        times["weights"].append(timed(weights))
        times["copy"].append(timed(copy))
    median = {k: statistics.median(v) for k, v in times.items()}
    per_epoch = {
        "before": 2 * median["full"],
        "after": median["full"] + median["weights"],
        "every5": (median["full"] + median["weights"]) / 5 + median["copy"],
    }
    mib = {name: (folder / name).stat().st_size / 2**20 for name in ("last.pt", "best.pt")}
    print(f"VGG16 + Adam checkpoints on {cpu_model()}, {folder} ({runs} runs each, interleaved; median s)")
    table(
        [(k, f"{statistics.median(v):.3f}", f"{min(v):.3f}-{max(v):.3f}") for k, v in times.items()],
        ("write", "median s", "range"),
    )
    table([(k, f"{v:.3f}") for k, v in per_epoch.items()], ("a best epoch's checkpoints", "s"))
    result("checkpoint_last_mib", mib["last.pt"])
    result("checkpoint_best_mib", mib["best.pt"])
    result("checkpoint_full_write_seconds", median["full"])
    result("checkpoint_weights_write_seconds", median["weights"])
    result("checkpoint_best_copy_seconds", median["copy"])
    result("checkpoint_best_epoch_seconds_before", per_epoch["before"])
    result("checkpoint_best_epoch_seconds_after", per_epoch["after"])
    result("checkpoint_best_epoch_seconds_every5", per_epoch["every5"])
    result("checkpoint_best_epoch_speedup", per_epoch["before"] / per_epoch["after"], goal="cheaper, resume kept")


if __name__ == "__main__":
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    if len(sys.argv) > 2:
        main(runs, Path(sys.argv[2]))
    else:
        with tempfile.TemporaryDirectory(dir=ROOT) as tmp:  # the disk the runs write to, not a tmpfs
            main(runs, Path(tmp))
