"""What each part of the GPU plan should take on one H200, from counts made on the CPU: the FLOPs of one
training step and one evaluation batch (torch.utils.flop_counter) and the number of kernels one eager step
launches (the aten operations it dispatches), at batch 64 on the study's VGG16. The time of a step is the
larger of its arithmetic at an assumed share of the GPU's peak and its launches at an assumed cost each:
at batch 64 VGG16 is launch-bound, so the second decides. bench/lab/README.md quotes the table.

    python bench/lab/estimate.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cifar_sweep.models import VGG  # noqa: E402

# assumptions, written down: the H200's dense peaks (NVIDIA's sheet: bf16 ~790 TFLOP/s measured here by a
# matrix product, fp32 without TF32 67 TFLOP/s), the share small 32x32 convolutions reach, and the cost of
# one eager launch (PyTorch's dispatcher and the CUDA launch from Python, ~10 us; compiled: fused kernels,
# a quarter of the launches at ~5 us through CUDA graphs or Inductor's wrappers)
PEAK = {"bf16": 790e12, "fp32": 67e12}
SHARE = 0.25  # of the peak, for VGG16's 32x32 convolutions at batch 64
LAUNCH_S = {"eager": 10e-6, "compiled": 5e-6}
COMPILED_LAUNCH_SHARE = 0.25
TRAIN, VAL, TEST, BATCH = 50_000, 10_000, 10_000, 64  # study_final: all 50,000, the test set validates


class Launches(TorchDispatchMode):
    """Counts the aten operations dispatched: one kernel each, near enough, on the GPU."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def step_counts(train: bool) -> tuple[float, int]:
    """(FLOPs, launches) of one batch of 64: a training step with Adam, or an evaluation batch."""
    model = VGG("vgg16", num_classes=10)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=5e-5, foreach=True)
    x, y = torch.randn(BATCH, 3, 32, 32), torch.randint(0, 10, (BATCH,))
    model.train(train)

    def once() -> None:
        if train:
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        else:
            with torch.no_grad():
                model(x).argmax(1)

    once()  # Adam's state made
    flops = FlopCounterMode(display=False)
    with flops:
        once()
    launches = Launches()
    with launches:
        once()
    return float(flops.get_total_flops()), launches.count


START_S = 20  # a run's start: interpreter, imports, CUDA's context, the arrays onto the GPU
COMPILE_S = 90  # torch.compile of VGG16's training and evaluation graphs, in the first epoch
MARGIN = 1.5  # a part's timeout: this times its estimate (the assumptions above are rough)
# the plan, in order of value: (part, precision, mode, runs fused, epochs, training images per epoch)
PARTS = [
    ("fast_seed0: the recipe, bf16 + channels_last + compile", "bf16", "compiled", 1, 50, 50_000),
    ("faithful_seed0: the recipe as the notebook ran it, fp32", "fp32", "eager", 1, 50, 50_000),
    ("fused k=1, 2 epochs, bf16", "bf16", "eager", 1, 2, 45_000),
    ("fused k=4, 2 epochs, bf16", "bf16", "eager", 4, 2, 45_000),
    ("fused k=8, 2 epochs, bf16", "bf16", "eager", 8, 2, 45_000),
]


def seconds(flops: float, launches: int, precision: str, mode: str) -> float:
    """One batch: the larger of its arithmetic and its launches (a fused group launches as one run)."""
    arithmetic = flops / (PEAK[precision] * SHARE)
    launched = launches * (COMPILED_LAUNCH_SHARE if mode == "compiled" else 1.0) * LAUNCH_S[mode]
    return max(arithmetic, launched)


def main() -> None:
    (train_flops, train_launches), (eval_flops, eval_launches) = step_counts(True), step_counts(False)
    print(f"one training step, batch 64: {train_flops / 1e9:.1f} GFLOP, {train_launches} launches (eager)")
    print(f"one evaluation batch of 64: {eval_flops / 1e9:.1f} GFLOP, {eval_launches} launches")
    print("| part | per epoch (s) | estimate (s) | timeout (s) |")
    print("| --- | --- | --- | --- |")
    for name, precision, mode, k, epochs, images in PARTS:
        steps, eval_batches = -(-images // BATCH), -(-(VAL + TEST) // BATCH)
        epoch = steps * seconds(k * train_flops, train_launches, precision, mode)
        epoch += eval_batches * seconds(k * eval_flops, eval_launches, precision, mode)
        total = START_S + epochs * epoch + (COMPILE_S if mode == "compiled" else 0)
        print(f"| {name} | {epoch:.2f} | {total:.0f} | {MARGIN * total:.0f} |")


if __name__ == "__main__":
    main()
