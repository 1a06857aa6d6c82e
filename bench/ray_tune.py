"""Our pruned search against Ray Tune's, side by side in one command: the same 16-trial learning-rate search
(hparams_search=lr_pruning: vgg16 width 1/8, 5,000 training images, 2,000 validation, 6 epochs, TPE with
seed 42 and 6 startup trials, median pruning from the 5th trial after 1 epoch), each trial trained by the
same `cifar_sweep.train.train`. Ray Tune drives it with its Optuna searcher (OptunaSearch with the same
TPESampler) and its median rule (MedianStoppingRule); ours is `run.py -m`. Walls from the command's start
to its end (Ray's start included), epochs trained, best val_acc, and ours over Ray's wall.

    pip install "ray[tune]>=2.9"            (a benchmark-only dependency: not in the package or CI)
    python bench/ray_tune.py [--concurrent N] [--trials 16] [--epochs 6] [--train 5000] [--order ours,ray]
    python bench/ray_tune.py --breakdown [--trials 16] ...     where our search's wall goes (no Ray)

--concurrent: trials at a time on both sides (Ray: max_concurrent_trials with the cores split among them;
ours: the joblib launcher with n_jobs=N). 1 is TPE's own sequential search, the default on both.
"""

from __future__ import annotations

import argparse
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

from pruning import search

from _common import cpu_model, data_overrides, has_real_data, result, table

WARMUP, STARTUP, SEED = 1, 4, 42  # median pruning from the 5th trial, after 1 epoch; TPE's seed


def overrides(epochs: int, train: int) -> list[str]:
    """The trial's config, as lr_pruning composes it (without the sweep)."""
    return [
        *data_overrides(),
        "model.width=0.125",
        f"trainer.epochs={epochs}",
        f"data.train_subset={train}",
        "data.val_size=2000",
        "trainer.progress_bar=false",
        "name=lr_pruning",
    ]


def ray_trainable(config: dict) -> None:
    """One Ray Tune trial: the config composed as run.py composes it, trained by cifar_sweep's train(),
    each epoch's val_acc reported to Tune (whose scheduler may stop the trial there)."""
    import torch
    from ray import tune

    from cifar_sweep.claims import compose
    from cifar_sweep.config import validate
    from cifar_sweep.placement import Placement
    from cifar_sweep.train import train

    cfg = compose([*config["overrides"], f"optimizer.lr={config['lr']}"], None, "config")
    validate(cfg)
    placement = Placement(torch.device("cpu"), threads=config["threads"])
    run_dir = Path(tune.get_context().get_trial_dir())
    train(cfg, run_dir, placement, lambda epoch, row: tune.report({"val_acc": row["val_acc"], "epoch": epoch}))


def ray_search(n_trials: int, epochs: int, train: int, concurrent: int, folder: Path) -> tuple[int, float, float]:
    """(epochs trained, best val_acc, wall seconds) of Ray Tune's search, Ray's start and end included."""
    start = time.perf_counter()
    import optuna
    import ray
    from ray import tune
    from ray.tune.schedulers import MedianStoppingRule
    from ray.tune.search.optuna import OptunaSearch

    cpus = os.cpu_count() or 1
    threads = max(1, cpus // concurrent)
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    sampler = optuna.samplers.TPESampler(seed=SEED, n_startup_trials=6)
    tuner = tune.Tuner(
        tune.with_resources(ray_trainable, {"cpu": threads}),
        param_space={"lr": tune.loguniform(1e-7, 1e-1), "overrides": overrides(epochs, train), "threads": threads},
        tune_config=tune.TuneConfig(
            metric="val_acc",
            mode="max",
            num_samples=n_trials,
            max_concurrent_trials=concurrent,
            search_alg=OptunaSearch(sampler=sampler),
            scheduler=MedianStoppingRule(
                time_attr="training_iteration", grace_period=WARMUP, min_samples_required=STARTUP
            ),
        ),
        run_config=tune.RunConfig(storage_path=str(folder), name="lr_pruning", verbose=0),
    )
    grid = tuner.fit()
    frames = grid.get_dataframe(filter_metric="val_acc", filter_mode="max")
    epochs_trained = sum(len(r.metrics_dataframe) for r in grid if r.metrics_dataframe is not None)
    best = float(frames["val_acc"].max())
    ray.shutdown()
    return epochs_trained, best, time.perf_counter() - start


def ours(n_trials: int, epochs: int, train: int, concurrent: int, folder: Path) -> tuple[int, float, float]:
    """(epochs trained, best val_acc, wall seconds) of `run.py -m hparams_search=lr_pruning`."""
    launcher = (
        ("hydra/launcher=joblib", f"hydra.launcher.n_jobs={concurrent}", f"hydra.sweeper.n_jobs={concurrent}")
        if concurrent > 1
        else ()
    )
    epochs_trained, best, wall, _ = search("median", n_trials, epochs, train, WARMUP, folder, launcher, SEED)
    return epochs_trained, best, wall


# where a job's time goes: (key, part, file the function is in, the function); cumulative times from cProfile
PARTS = (
    ("training", "training epochs", "cifar_sweep/train.py", "train_epoch"),
    ("evaluation", "evaluation (val each epoch, test at the end)", "cifar_sweep/train.py", "evaluate"),
    ("checkpoints", "checkpoints", "cifar_sweep/checkpoints.py", "after_epoch"),
    ("validation", "per-trial start: validation", "cifar_sweep/config.py", "validate"),
    ("start", "per-trial start: data, model, optimizer", "cifar_sweep/train.py", "start"),
    ("jobs", "", "hydra/core/utils.py", "run_job"),
)


def breakdown(n_trials: int, epochs: int, train: int, folder: Path) -> None:
    """Our search's wall by part, from cProfile's cumulative times (the profiler slows Python a little)."""
    profile = folder / "search.prof"
    epochs_trained, best, wall, states = search("median", n_trials, epochs, train, WARMUP, folder, (), SEED, profile)
    seconds = dict.fromkeys((key for key, *_ in PARTS), 0.0)
    for (file, _, function), (*_, cumulative, _) in pstats.Stats(str(profile)).stats.items():  # type: ignore[attr-defined]
        for key, _, where, name in PARTS:
            if function == name and file.endswith(where):
                seconds[key] += cumulative
    jobs = seconds.pop("jobs")
    rows = [(key, part, seconds[key]) for key, part, *_ in PARTS[:-1]]
    rest = jobs - sum(s for *_, s in rows)
    rows.append(("rest", "rest of each job (Hydra's job, trackers, summary, the trial's storage)", rest))
    rows.append(("outside", "outside the jobs (start-up, imports, sampler, the study's storage)", wall - jobs))
    print(f"our search: {epochs_trained} epochs, best val_acc {best:.4f}, {states}, {wall:.0f} s under cProfile")
    table([(part, f"{s:.1f}", f"{s / wall:.0%}") for _, part, s in rows], ("part", "seconds", "share"))
    for key, _, s in rows:
        result(f"ray_breakdown_{key}_seconds", s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrent", type=int, default=1)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--train", type=int, default=5000)
    parser.add_argument("--order", default="ours,ray")
    parser.add_argument("--breakdown", action="store_true")
    args = parser.parse_args()
    if args.breakdown:
        with tempfile.TemporaryDirectory() as tmp:
            return breakdown(args.trials, args.epochs, args.train, Path(tmp))
    sides = {"ours": ours, "ray": ray_search}
    order = args.order.split(",")
    if sorted(order) != ["ours", "ray"] or args.concurrent < 1:
        parser.error(f"--order={args.order}: must be ours,ray or ray,ours; --concurrent must be >= 1")
    rows = {}
    for side in order:
        with tempfile.TemporaryDirectory() as tmp:
            rows[side] = sides[side](args.trials, args.epochs, args.train, args.concurrent, Path(tmp))
        print(f"{side}: {rows[side]}", flush=True)
    print(
        f"lr_pruning search, {args.trials} trials x up to {args.epochs} epochs, {args.concurrent} at a time, vgg16 "
        f"width 0.125, {args.train:,} {'real' if has_real_data() else 'synthetic'} training images; TPE seed {SEED}, "
        f"median pruning from trial {STARTUP + 1} after {WARMUP} epoch; {cpu_model()}, {os.cpu_count()} cores"
    )
    table(
        [(side, e, f"{b:.4f}", f"{w:.0f}") for side, (e, b, w) in rows.items()],
        ("search", "epochs trained", "best val_acc", "wall s"),
    )
    result("ray_wall_ratio", rows["ours"][2] / rows["ray"][2], "<=0.5")
    for side, (epochs_trained, best, wall) in rows.items():
        result(f"ray_{side}_wall_seconds", wall)
        result(f"ray_{side}_epochs", epochs_trained)
        result(f"ray_{side}_best_val_acc", best)


if __name__ == "__main__":
    sys.exit(main())
