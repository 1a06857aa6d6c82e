"""Pruning benchmark: the same Optuna search (same sampler seed, same n_trials) without and with
the median pruner; total epochs trained and the best validation accuracy found.

    python bench/pruning.py [N_TRIALS] [EPOCHS] [TRAIN_IMAGES] [WARMUP_EPOCHS]
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


def search(pruner: str, n_trials: int, epochs: int, train: int, warmup: int,
           folder: Path) -> tuple[int, float, float, dict]:
    start = time.perf_counter()
    pruner_args = [f"hydra/sweeper/pruner={pruner}"]
    if pruner == "median":  # prune from the 5th trial on, once `warmup` epochs are done
        pruner_args += ["hydra.sweeper.pruner.n_startup_trials=4", f"hydra.sweeper.pruner.n_warmup_steps={warmup}"]
    subprocess.run([sys.executable, str(ROOT / "run.py"), "-m", "hparams_search=lr_pruning", *data_overrides(),
                    "model.width=0.125", f"trainer.epochs={epochs}", f"data.train_subset={train}", "data.val_size=2000",
                    "trainer.progress_bar=false", f"hydra.sweeper.n_trials={n_trials}", "hydra.sweeper.sampler.seed=42",
                    *pruner_args], cwd=folder, check=True, capture_output=True)
    wall = time.perf_counter() - start
    study = optuna.load_study(study_name="lr_pruning", storage=f"sqlite:///{folder}/multirun/lr_pruning/optuna.db")
    epochs_trained = sum(len(t.intermediate_values) for t in study.trials)
    states = {s.name: sum(t.state == s for t in study.trials) for s in optuna.trial.TrialState if
              any(t.state == s for t in study.trials)}
    return epochs_trained, study.best_value, wall, states


def main() -> None:
    n_trials = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    train = int(sys.argv[3]) if len(sys.argv) > 3 else 4000
    warmup = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    rows = {}
    for pruner in ("none", "median"):
        with tempfile.TemporaryDirectory() as tmp:
            rows[pruner] = search(pruner, n_trials, epochs, train, warmup, Path(tmp))
    print(f"lr_pruning search (TPE, seed 42), {n_trials} trials x up to {epochs} epochs, vgg16 width 0.125, "
          f"{train:,} {'real' if has_real_data() else 'synthetic'} training images, 2,000 validation; "
          f"median pruner from trial 5, after {warmup} epochs")
    table([(p, e, f"{b:.4f}", f"{w:.0f}", s) for p, (e, b, w, s) in rows.items()],
          ("pruner", "epochs trained", "best val_acc", "wall s", "trials"))
    result("pruning_epoch_reduction", rows["none"][0] / rows["median"][0], ">=2")
    result("pruning_best_val_acc_difference", rows["none"][1] - rows["median"][1], "within noise (~0.01)")


if __name__ == "__main__":
    main()
