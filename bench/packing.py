"""Benchmark 4: two trials packed on 2 CPU cores (joblib, 1 thread each) vs one after the other
(2 threads each), same narrow VGG16 jobs; wall time of the whole sweep command.

    python bench/packing.py [EPOCHS]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time

from _common import ROOT, data_overrides, has_real_data, result, table


def sweep(extra: list[str], epochs: int, sweep_dir: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "run.py"),
            "-m",
            *data_overrides(),
            "model.width=0.125",
            f"trainer.epochs={epochs}",
            "data.train_subset=5000",
            "data.val_size=2000",
            "trainer.progress_bar=false",
            "optimizer=adam,sgd",
            f"hydra.sweep.dir={sweep_dir}",
            *extra,
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def main() -> None:
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    with tempfile.TemporaryDirectory() as tmp:
        sequential = sweep([], epochs, f"{tmp}/sequential")
        packed = sweep(["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], epochs, f"{tmp}/packed")
    print(
        f"2 jobs (adam, sgd), vgg16 width 0.125, {epochs} epochs of 5,000 "
        f"{'real' if has_real_data() else 'synthetic'} images each"
    )
    table(
        [
            ("sequential (basic launcher, 2 threads)", f"{sequential:.1f}"),
            ("packed (joblib n_jobs=2, 1 thread each)", f"{packed:.1f}"),
        ],
        ("launcher", "wall seconds"),
    )
    result("packed_vs_sequential_wall_ratio", packed / sequential, "<=0.6")
    result("packing_sequential_wall_seconds", sequential)
    result("packing_packed_wall_seconds", packed)


if __name__ == "__main__":
    main()
