"""Benchmark 2: our full training step vs a bare one, same model, optimizer and batch.

ours:  train_epoch() of cifar_sweep.train: slicing the uint8 split, augmentation (the final recipe's),
       normalisation, forward/backward/step, running metrics, divergence checks, progress bar
bare:  forward + backward + Adam step on pre-made, pre-normalised float batches

    python bench/trainer_overhead.py [STEPS]
"""

from __future__ import annotations

import sys
import time

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir

from cifar_sweep.models import build_model
from cifar_sweep.placement import Placement
from cifar_sweep.state import Progress, build_run, setup_torch
from cifar_sweep.train import train_epoch

from _common import ROOT, result, table

BATCH = 64


def config(steps: int):
    with initialize_config_dir(config_dir=str(ROOT / "cifar_sweep" / "conf")):
        return compose(
            "config",
            [
                "data=synthetic",
                "model.width=0.125",
                f"data.train_size={steps * BATCH + 500}",
                "data.val_size=500",
                "trainer.progress_bar=false",
            ],
        )


def ours(cfg) -> float:
    run = build_run(cfg, Placement(torch.device("cpu")))
    start = time.perf_counter()
    train_epoch(run, 1, Progress())
    return time.perf_counter() - start


def bare(cfg, steps: int) -> float:
    model = build_model(cfg.model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=5e-5)
    batches = [(torch.randn(BATCH, 3, 32, 32), torch.randint(0, 10, (BATCH,))) for _ in range(steps)]
    model.train()
    start = time.perf_counter()
    for x, y in batches:
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    cfg = config(steps)
    setup_torch(cfg)
    ours(config(5)), bare(cfg, 5)  # warm-up
    rounds = [(ours(cfg), bare(cfg, steps)) for _ in range(3)]  # alternate, keep the fastest of each
    t_ours, t_bare = min(r[0] for r in rounds), min(r[1] for r in rounds)
    print(f"vgg16 width 0.125, batch {BATCH}, {steps} steps, best of 3, torch threads {torch.get_num_threads()}")
    table(
        [
            ("ours (full step)", f"{t_ours / steps * 1e3:.1f}", f"{steps * BATCH / t_ours:,.0f}"),
            ("bare fwd+bwd+step", f"{t_bare / steps * 1e3:.1f}", f"{steps * BATCH / t_bare:,.0f}"),
        ],
        ("loop", "ms/step", "images/s"),
    )
    result("trainer_overhead_ratio", t_ours / t_bare, "<=1.10")
    result("trainer_ours_ms_per_step", t_ours / steps * 1e3)
    result("trainer_bare_ms_per_step", t_bare / steps * 1e3)


if __name__ == "__main__":
    main()
