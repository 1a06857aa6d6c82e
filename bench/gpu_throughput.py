"""GPU throughput of VGG16 training steps (part of bench/gpu.sh; needs CUDA).

Prints train images/s at batch 64/128/512 for fp32, bf16, bf16 + channels_last and + torch.compile,
with the full step of cifar_sweep (augmentation and metrics included) on synthetic uint8 data.

    python bench/gpu_throughput.py [SECONDS_PER_CELL]
"""

from __future__ import annotations

import sys

import torch
from hydra import compose, initialize_config_dir

from cifar_sweep.placement import Placement
from cifar_sweep.state import Progress, build_run, setup_torch
from cifar_sweep.train import train_epoch

from _common import ROOT, result, table

MODES = {
    "fp32": ["trainer.precision=fp32", "trainer.channels_last=false"],
    "bf16": ["trainer.precision=bf16", "trainer.channels_last=false"],
    "bf16+channels_last": ["trainer.precision=bf16", "trainer.channels_last=true"],
    "bf16+channels_last+compile": ["trainer.precision=bf16", "trainer.channels_last=true", "trainer.compile=true"],
}


def images_per_second(batch: int, mode: list[str], steps: int) -> float:
    with initialize_config_dir(config_dir=str(ROOT / "cifar_sweep" / "conf")):
        cfg = compose(
            "config",
            [
                "data=synthetic",
                f"batch_size={batch}",
                f"data.train_size={steps * batch + 500}",
                "data.val_size=500",
                "trainer.progress_bar=false",
                *mode,
            ],
        )
    setup_torch(cfg)
    run = build_run(cfg, Placement(torch.device("cuda")))
    train_epoch(run, 1, Progress())  # warm-up (and compilation)
    return train_epoch(run, 2, Progress())["images_per_second"]  # synchronised at the end of the epoch


def main() -> None:
    assert torch.cuda.is_available(), "needs a CUDA GPU"
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, VGG16 width 1.0, {steps} steps per cell")
    rows, best = [], 0.0
    for name, mode in MODES.items():
        rates = [images_per_second(b, mode, steps) for b in (64, 128, 512)]
        rows.append((name, *(f"{r:,.0f}" for r in rates)))
        best = max(best, rates[0])
    table(rows, ("mode", "batch 64", "batch 128", "batch 512"))
    result("gpu_vgg16_train_images_per_second_batch64", best, "45000 x 50 epochs in <= 90 s needs >= 25000")


if __name__ == "__main__":
    main()
