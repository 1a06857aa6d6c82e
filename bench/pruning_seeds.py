"""Does the median pruner lose the best trial, and why? The pruning benchmark's long search (bench/pruning.py
16 10 2000 1: 16 trials x 10 epochs, 2,000 real training images, pruning from trial 5 after 1 epoch) run
without and with the pruner for several TPE sampler seeds. For each seed: both best val_acc, and what
became of the unpruned search's best learning rate in the pruned search:

  same best       the pruned search trained it to the end too: nothing lost
  pruned it       the pruned search sampled that very rate and stopped it early (the pruner's decision)
  other path      the pruned search never sampled it: once trials end early TPE sees other results
                  and suggests other rates (the sampler's path, not a pruning decision)

    python bench/pruning_seeds.py [SEEDS]       (default 0,1,2,3; about 7 minutes a seed here)
"""

from __future__ import annotations

import math
import statistics
import sys
import tempfile
from pathlib import Path

import optuna
from pruning import search

from _common import result, table

N_TRIALS, EPOCHS, TRAIN, WARMUP = 16, 10, 2000, 1


def study(folder: Path) -> optuna.Study:
    return optuna.load_study(study_name="lr_pruning", storage=f"sqlite:///{folder}/multirun/lr_pruning/optuna.db")


def fate(best_lr: float, pruned: optuna.Study) -> str:
    """What the pruned search did with the unpruned search's best rate."""
    same = [t for t in pruned.trials if math.isclose(t.params.get("optimizer.lr", -1.0), best_lr, rel_tol=1e-12)]
    if not same:
        return "other path"
    return "pruned it" if any(t.state == optuna.trial.TrialState.PRUNED for t in same) else "same best"


def main(seeds: list[int]) -> None:
    rows = []
    for seed in seeds:
        bests, studies = {}, {}
        for pruner in ("none", "median"):
            with tempfile.TemporaryDirectory() as tmp:
                epochs, best, wall, _ = search(pruner, N_TRIALS, EPOCHS, TRAIN, WARMUP, Path(tmp), sampler_seed=seed)
                bests[pruner], studies[pruner] = (best, epochs, wall), study(Path(tmp))
                trials = studies[pruner].trials  # read before the folder goes
                studies[pruner] = optuna.create_study(direction="maximize")
                studies[pruner].add_trials(trials)
        best_lr = studies["none"].best_trial.params["optimizer.lr"]
        why = fate(best_lr, studies["median"]) if bests["none"][0] > bests["median"][0] else "same best"
        rows.append((seed, bests["none"][0], bests["median"][0], bests["none"][1], bests["median"][1], why))
        print(f"seed {seed}: {rows[-1]}", flush=True)
        result(f"pruning_seed{seed}_best_val_acc_loss", bests["none"][0] - bests["median"][0])
    losses = [none - median for _, none, median, *_ in rows]
    print(f"lr_pruning search, {N_TRIALS} trials x {EPOCHS} epochs, {TRAIN:,} training images, TPE seeds {seeds}")
    table(
        [(s, f"{n:.4f}", f"{m:.4f}", f"{n - m:+.4f}", en, em, w) for s, n, m, en, em, w in rows],
        ("seed", "best, no pruner", "best, median", "lost", "epochs", "epochs pruned", "the lost best"),
    )
    result("pruning_seeds_median_best_val_acc_loss", statistics.median(losses))
    result("pruning_seeds_max_best_val_acc_loss", max(losses))
    result("pruning_seeds_losing_share", sum(loss > 0.01 for loss in losses) / len(losses))
    result("pruning_seeds_epoch_reduction", sum(r[3] for r in rows) / sum(r[4] for r in rows))


if __name__ == "__main__":
    main([int(s) for s in (sys.argv[1] if len(sys.argv) > 1 else "0,1,2,3").split(",")])
