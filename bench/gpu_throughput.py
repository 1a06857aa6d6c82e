"""GPU throughput of VGG16 training steps (part of bench/gpu.sh).

Prints train images/s at batch 64 (the study's), then 128 and 512, for fp32, bf16, bf16 + channels_last
and + torch.compile, with the full step of cifar_sweep (augmentation and metrics included) on synthetic
uint8 data: one RESULT line per cell as it finishes, so a timeout keeps the cells measured. Without CUDA
(the CPU rehearsal, bench/lab/rehearse.sh) it runs on the CPU and names its lines `cpu_`, never `gpu_`.

    python bench/gpu_throughput.py [STEPS_PER_CELL [OVERRIDES...]]
"""

from __future__ import annotations

import sys

import torch
from hydra import compose, initialize_config_dir

from cifar_sweep.placement import Placement
from cifar_sweep.state import Progress, build_run, setup_torch
from cifar_sweep.train import train_epoch

from _common import ROOT, result

MODES = {
    "fp32": ["trainer.precision=fp32", "trainer.channels_last=false"],
    "bf16": ["trainer.precision=bf16", "trainer.channels_last=false"],
    "bf16+channels_last": ["trainer.precision=bf16", "trainer.channels_last=true"],
    "bf16+channels_last+compile": ["trainer.precision=bf16", "trainer.channels_last=true", "trainer.compile=true"],
}


def images_per_second(batch: int, mode: list[str], steps: int, extra: list[str], device: torch.device) -> float:
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
                *(o for o in extra if not o.startswith(("data.", "batch_size="))),  # the cell sets its data
            ],
        )
    setup_torch(cfg)
    run = build_run(cfg, Placement(device))
    train_epoch(run, 1, Progress())  # warm-up (and compilation)
    return train_epoch(run, 2, Progress())["images_per_second"]  # synchronised at the end of the epoch


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    extra = sys.argv[2:]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name() if device.type == "cuda" else "no CUDA: the CPU (a rehearsal)"
    print(f"{name}, torch {torch.__version__}, VGG16, {steps} steps per cell, overrides {extra or 'none'}")
    for batch in (64, 128, 512):
        for mode_name, mode in MODES.items():
            rate = images_per_second(batch, mode, steps, extra, device)
            result(f"{device.type}_vgg16_train_images_per_second_{mode_name.replace('+', '_')}_batch{batch}", rate)


if __name__ == "__main__":
    main()
