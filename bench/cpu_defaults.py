"""Benchmark 11: the CPU's speed settings, against the defaults they replace: channels_last memory format
and the optimizer's fused step, on VGG16 (width 1/8) and ResNet-18 (width 1/4), training and evaluation.

Each round measures every cell once, in turn (interleaved: a slow spell of the machine touches all of
them alike); a figure is the median of ROUNDS rounds, with its range. A training cell is the second of two
epochs of STEPS batches of 64 (the first warms up), with cifar_sweep's full step (augmentation, metrics);
an evaluation cell is `evaluate` over 2,000 images at the config's eval batch size; the optimizer cell
times Adam's step alone on the model's gradients.

  contiguous     trainer.channels_last=false trainer.fused_optimizer=false (the CPU defaults before)
  channels_last  trainer.channels_last=true  trainer.fused_optimizer=false
  fused          trainer.channels_last=false trainer.fused_optimizer=true
  both           trainer.channels_last=true  trainer.fused_optimizer=true
  auto           the defaults now (auto): evaluation only, channels_last batches of 256 into the contiguous model
All but `auto` evaluate in batches of 1024 (data.eval_batch_size, the default before). The CPU's defaults
now train as `fused`: channels_last slowed VGG16's training here (docs/performance.md, 11).

    python bench/cpu_defaults.py [ROUNDS [STEPS]]
"""

from __future__ import annotations

import statistics
import sys
import time

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir

from cifar_sweep.placement import Placement
from cifar_sweep.state import Progress, build_run, setup_torch
from cifar_sweep.train import evaluate, train_epoch

from _common import ROOT, cpu_model, result, table

MODELS = {"vgg16": ["model=vgg16", "model.width=0.125"], "resnet18": ["model=resnet18", "model.width=0.25"]}
BEFORE = "data.eval_batch_size=1024"
SETTINGS = {
    "contiguous": ["trainer.channels_last=false", "trainer.fused_optimizer=false", BEFORE],
    "channels_last": ["trainer.channels_last=true", "trainer.fused_optimizer=false", BEFORE],
    "fused": ["trainer.channels_last=false", "trainer.fused_optimizer=true", BEFORE],
    "both": ["trainer.channels_last=true", "trainer.fused_optimizer=true", BEFORE],
    "auto": ["trainer.channels_last=auto", "trainer.fused_optimizer=auto", "data.eval_batch_size=auto"],
}


def built(model: str, setting: str, steps: int):
    with initialize_config_dir(config_dir=str(ROOT / "cifar_sweep" / "conf")):
        cfg = compose(
            "config",
            [
                "data=synthetic",
                f"data.train_size={steps * 64 + 2000}",
                "data.val_size=2000",
                "data.test_size=100",
                "batch_size=64",
                "trainer.progress_bar=false",
                "trainer.precision=fp32",
                *MODELS[model],
                *SETTINGS[setting],
            ],
        )
    setup_torch(cfg)
    return build_run(cfg, Placement(torch.device("cpu")))


def train_rate(model: str, setting: str, steps: int) -> float:
    run = built(model, setting, steps)
    train_epoch(run, 1, Progress())  # warm-up: oneDNN's kernels, the allocator
    return train_epoch(run, 2, Progress())["images_per_second"]


def eval_rate(model: str, setting: str, steps: int) -> float:
    run = built(model, setting, steps)
    evaluate(run, run.splits["val"])  # warm-up
    start = time.perf_counter()
    evaluate(run, run.splits["val"])
    return len(run.splits["val"]) / (time.perf_counter() - start)


def step_ms(model: str, setting: str, steps: int, repeats: int = 30) -> float:
    """Milliseconds of one optimizer step alone, on gradients of one real batch."""
    run = built(model, setting, 1)
    F.cross_entropy(run.model(torch.randn(64, 3, 32, 32)), torch.randint(0, 10, (64,))).backward()
    run.optimizer.step()  # warm-up: the moments exist
    start = time.perf_counter()
    for _ in range(repeats):
        run.optimizer.step()
    return (time.perf_counter() - start) / repeats * 1000


CELLS = {
    "train": (train_rate, ("contiguous", "channels_last", "fused", "both")),
    "eval": (eval_rate, ("contiguous", "channels_last", "auto")),
    "step": (step_ms, ("contiguous", "fused")),
}


def main(rounds: int, steps: int) -> None:
    threads = torch.get_num_threads()
    print(f"{cpu_model()}, torch {torch.__version__}, {threads} threads; {rounds} rounds, {steps} steps")
    measured: dict[tuple[str, str, str], list[float]] = {}
    for round_ in range(rounds):
        for model in MODELS:
            for kind, (measure, settings) in CELLS.items():
                for setting in settings:
                    measured.setdefault((model, kind, setting), []).append(measure(model, setting, steps))
        print(f"round {round_ + 1} of {rounds} done", flush=True)
    median = {cell: statistics.median(values) for cell, values in measured.items()}
    rows = []
    for (model, kind, setting), values in measured.items():
        base = median[(model, kind, "contiguous")]
        ratio = base / median[(model, kind, setting)] if kind == "step" else median[(model, kind, setting)] / base
        spread = f"{min(values):.1f}-{max(values):.1f}"
        rows.append((model, kind, setting, f"{median[(model, kind, setting)]:.1f}", spread, f"{ratio:.2f}x"))
        unit = "ms" if kind == "step" else "images_per_second"
        result(f"cpu_{model}_{kind}_{setting}_{unit}", median[(model, kind, setting)])
        if setting != "contiguous":
            result(
                f"cpu_{model}_{kind}_{setting}_speedup",
                ratio,
                goal="> 1 to be a default" if kind == "train" else "",
            )
    table(rows, ("model", "cell", "setting", "median", "range", "vs contiguous"))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3, int(sys.argv[2]) if len(sys.argv) > 2 else 40)
