"""Pruning benchmark: the same Optuna search (same sampler seed, same n_trials) without and with
the median pruner; total epochs trained and the best validation accuracy found.

    python bench/pruning.py [N_TRIALS] [EPOCHS] [TRAIN_IMAGES] [WARMUP_EPOCHS]
    python bench/pruning.py slots [N_TRIALS] [EPOCHS] [TRAIN_IMAGES] [WARMUP_EPOCHS]

`slots`: the pruned search with two trials at a time (joblib, n_jobs=2), with each slot refilled at once
(refill=true) and in batches of two (refill=false): the share of the slots' time that jobs ran.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

from _common import ROOT, data_overrides, has_real_data, result, table

optuna.logging.set_verbosity(optuna.logging.WARNING)


def search(
    pruner: str,
    n_trials: int,
    epochs: int,
    train: int,
    warmup: int,
    folder: Path,
    extra: tuple[str, ...] = (),
    sampler_seed: int = 42,
    profile: Path | None = None,
) -> tuple[int, float, float, dict]:
    """(epochs trained, best value, wall seconds, trials by state). profile: run it under cProfile,
    its statistics written there."""
    start = time.perf_counter()
    profiler = ["-m", "cProfile", "-o", str(profile)] if profile is not None else []
    pruner_args = [f"hydra/sweeper/pruner={pruner}"]
    if pruner == "median":  # prune from the 5th trial on, once `warmup` epochs are done
        pruner_args += ["hydra.sweeper.pruner.n_startup_trials=4", f"hydra.sweeper.pruner.n_warmup_steps={warmup}"]
    subprocess.run(
        [
            sys.executable,
            *profiler,
            str(ROOT / "run.py"),
            "-m",
            "hparams_search=lr_pruning",
            *data_overrides(),
            "model.width=0.125",
            f"trainer.epochs={epochs}",
            f"data.train_subset={train}",
            "data.val_size=2000",
            "trainer.progress_bar=false",
            f"hydra.sweeper.n_trials={n_trials}",
            f"hydra.sweeper.sampler.seed={sampler_seed}",
            *pruner_args,
            *extra,
        ],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - start
    study = optuna.load_study(study_name="lr_pruning", storage=f"sqlite:///{folder}/multirun/lr_pruning/optuna.db")
    epochs_trained = sum(len(t.intermediate_values) for t in study.trials)
    states = {
        s.name: sum(t.state == s for t in study.trials)
        for s in optuna.trial.TrialState
        if any(t.state == s for t in study.trials)
    }
    return epochs_trained, study.best_value, wall, states


def busy_share(folder: Path, n_jobs: int) -> float:
    """Sum of the jobs' run times over n_jobs x the span from the first job's start to the last one's end.
    A job starts when Hydra writes its .hydra/overrides.yaml and ends when run.py writes summary.json."""
    spans = [
        (job.parent.joinpath(".hydra", "overrides.yaml").stat().st_mtime, job.stat().st_mtime)
        for job in folder.rglob("summary.json")
    ]
    first, last = min(s for s, _ in spans), max(e for _, e in spans)
    return sum(e - s for s, e in spans) / (n_jobs * (last - first))


def slots(n_trials: int, epochs: int, train: int, warmup: int) -> None:
    rows = {}
    for refill in ("true", "false"):
        with tempfile.TemporaryDirectory() as tmp:
            epochs_trained, best, wall, states = search(
                "median",
                n_trials,
                epochs,
                train,
                warmup,
                Path(tmp),
                (
                    "hydra/launcher=joblib",
                    "hydra.launcher.n_jobs=2",
                    "hydra.sweeper.n_jobs=2",
                    f"hydra.sweeper.refill={refill}",
                ),
            )
            rows[refill] = (busy_share(Path(tmp) / "multirun", 2), epochs_trained, wall, states)
    print(
        f"lr_pruning search with the median pruner, 2 trials at a time (joblib), {n_trials} trials x up to {epochs} "
        f"epochs, vgg16 width 0.125, {train:,} {'real' if has_real_data() else 'synthetic'} training images"
    )
    table(
        [(f"refill={r}", f"{b:.1%}", e, f"{w:.0f}", s) for r, (b, e, w, s) in rows.items()],
        ("slots", "busy", "epochs trained", "wall s", "trials"),
    )
    result("pruning_slots_busy_share", rows["true"][0], ">=0.9")
    result("pruning_slots_busy_share_in_batches", rows["false"][0], "(upstream's batches, for comparison)")
    result("pruning_slots_refill_wall_seconds", rows["true"][2])
    result("pruning_slots_batches_wall_seconds", rows["false"][2])


def main() -> None:
    mode = sys.argv.pop(1) if len(sys.argv) > 1 and sys.argv[1] == "slots" else "pruners"
    n_trials = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    train = int(sys.argv[3]) if len(sys.argv) > 3 else 4000
    warmup = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    if mode == "slots":
        return slots(n_trials, epochs, train, warmup)
    rows = {}
    for pruner in ("none", "median"):
        with tempfile.TemporaryDirectory() as tmp:
            rows[pruner] = search(pruner, n_trials, epochs, train, warmup, Path(tmp))
    print(
        f"lr_pruning search (TPE, seed 42), {n_trials} trials x up to {epochs} epochs, vgg16 width 0.125, "
        f"{train:,} {'real' if has_real_data() else 'synthetic'} training images, 2,000 validation; "
        f"median pruner from trial 5, after {warmup} epochs"
    )
    table(
        [(p, e, f"{b:.4f}", f"{w:.0f}", s) for p, (e, b, w, s) in rows.items()],
        ("pruner", "epochs trained", "best val_acc", "wall s", "trials"),
    )
    result("pruning_epoch_reduction", rows["none"][0] / rows["median"][0], ">=2")
    result("pruning_best_val_acc_difference", rows["none"][1] - rows["median"][1], "within noise (~0.01)")
    for pruner, (epochs_trained, best, wall, _) in rows.items():
        result(f"pruning_{pruner}_epochs", epochs_trained)
        result(f"pruning_{pruner}_best_val_acc", best)
        result(f"pruning_{pruner}_wall_seconds", wall)


if __name__ == "__main__":
    main()
