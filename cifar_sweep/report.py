"""The study re-made: its six claims, each with figures, a table over seeds and a verdict.

    python -m cifar_sweep.report --run --scale cpu --out docs/study.md     run the six grids, then report
    cifar-sweep-report --sweeps multirun/study-cpu/2026-11-28_10-00-00 --out docs/study.md

--run starts `python run.py -m experiment=GRID seed=...` for each grid (from the repository root,
where run.py is), with the scale's overrides, into one folder per grid below --sweeps; rerunning
the same command resumes it (finished jobs are kept). Without --run it reads those folders. It
writes a Markdown report and its figures (a folder named after the report, beside it).
Never imports the training code: it reads what the runs wrote, through collect.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from cifar_sweep import status
from cifar_sweep.collect import CollectError, read_sweep
from cifar_sweep.plots import sort_key
from cifar_sweep.stats import ALPHA, confidence_interval, welch_p

HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
METRIC = "test_acc"  # what the study compared: the final model's test accuracy
STUDY_RESULT = 0.9228
OVERFIT_RISE = 0.02  # the last epoch's validation loss must exceed its minimum by more than 2 %


# ---------------------------------------------------------------- the claims

@dataclass(frozen=True)
class Claim:
    grid: str            # conf/experiment/<grid>.yaml
    title: str
    text: str            # the study's claim, in its own terms
    axis: str            # the swept key that the claim compares
    winner: str | None   # the cell the study adopted
    study_epochs: int    # epochs of the grid at the study's scale


CLAIMS = [
    Claim("overfitting", "1. Without regularization, VGG overfits",
          "VGG11, VGG16 and VGG19 trained for 20 epochs without regularization overfit: the training loss "
          "keeps falling while the validation loss rises.", "model", None, 20),
    Claim("regularization", "2. Weight decay + augmentation is the cure",
          "Of augmentation, L2 weight decay and dropout, the study adopted weight decay + augmentation "
          "(and not dropout): it should give the best test accuracy on each network.",
          "regularization", "weight_decay_augmentation", 20),
    Claim("optimizers", "3. Adam is the best optimizer",
          "Of Adam, RMSprop and SGD with momentum, Adam gives the best test accuracy.", "optimizer", "adam", 50),
    Claim("schedulers", "4. Cosine annealing is the best schedule",
          "Of four learning-rate schedulers, CosineAnnealingLR gives the best test accuracy.", "scheduler",
          "cosine", 50),
    Claim("batch_sizes", "5. Batch 64 is the best batch size",
          "Of batch sizes 16 to 128, 64 gives the best test accuracy.", "batch_size", "64", 50),
    Claim("study_final", "6. The final recipe reaches 92.28 %",
          "VGG16, Adam 1e-3, weight decay 5e-5, cosine, batch 64, 50 epochs reaches 92.28 % test accuracy.",
          "seed", None, 50),
]

# Each scale: for the grids the study ran 20 and 50 epochs, the epochs and training images here.
# cpu fits the six grids x 3 seeds in about an hour of 2 CPU cores, with width 1/8 networks.
SCALES = {
    "gpu": {"overrides": [], 20: (20, None), 50: (50, None)},
    "cpu": {"overrides": ["model.width=0.125", "trainer.progress_bar=false"], 20: (12, 2500), 50: (10, 5000)},
}


STEP_GRIDS = ("overfitting", "regularization")  # grids whose every run uses StepLR(10, 0.1)


def grid_commands(claim: Claim, scale: str) -> list[tuple[str, list[str]]]:
    """(sub-folder, overrides) of each invocation that makes one grid at `scale`. Epochs shrink with
    the scale, and StepLR's step (10 of the study's 20 or 50 epochs) shrinks with them, so the
    schedule keeps its shape; in the schedulers grid only the step cell has a step, so that cell
    runs as its own invocation (collect reads both)."""
    epochs, images = SCALES[scale][claim.study_epochs]
    common = [*SCALES[scale]["overrides"], f"trainer.epochs={epochs}",
              f"data.train_subset={'null' if images is None else images}"]
    step = f"scheduler.step_size={max(1, round(10 * epochs / claim.study_epochs))}"
    if claim.grid in STEP_GRIDS:
        return [("", [*common, step])]
    if claim.grid == "schedulers" and epochs != claim.study_epochs:
        return [("", [*common, "scheduler=cosine,exponential,plateau"]), ("step", [*common, "scheduler=step", step])]
    return [("", common)]


# ---------------------------------------------------------------- verdict rules

@dataclass
class Verdict:
    verdict: str
    reason: str
    details: list[str] = field(default_factory=list)


WINNER_RULE = (f"**Rule.** The claimed winner must have the highest mean {METRIC} and beat every other cell "
               f"by Welch's t-test, p < {ALPHA}: then the claim *holds*. If another cell is better with "
               f"p < {ALPHA}, it *does not hold*. Otherwise (a tie within noise, or fewer than 2 completed "
               "seeds in a cell) it is *inconclusive*.")
OVERFIT_RULE = (f"**Rule.** A network overfits in a seed when its validation loss at the last epoch is more than "
                f"{OVERFIT_RISE:.0%} above its minimum while its training loss at the last epoch is below the "
                "training loss at that minimum. The claim *holds* when every network overfits in every seed, "
                "*does not hold* when some network overfits in no seed, and is *inconclusive* otherwise.")
FINAL_RULE = (f"**Rule.** Judged only at the study's scale (width 1.0, 50 epochs, all 50,000 training images); "
              f"otherwise *inconclusive*. There, it *holds* when {STUDY_RESULT:.2%} is below the mean or inside "
              f"its 95 % confidence interval over seeds, and *does not hold* when the interval lies below it.")


def winner_verdict(values: dict[str, np.ndarray], claimed: str) -> Verdict:
    """values: the metric's per-seed values of each cell. See WINNER_RULE."""
    if claimed not in values:
        return Verdict(INCONCLUSIVE, f"no runs of {claimed}")
    if any(len(v) < 2 for v in values.values()):
        return Verdict(INCONCLUSIVE, "fewer than 2 completed seeds in a cell")
    mine = values[claimed]
    better, ties = [], []
    for cell, other in values.items():
        if cell == claimed:
            continue
        p = welch_p(mine, other)
        if other.mean() > mine.mean() and p < ALPHA:
            better.append(f"{cell} ({other.mean():.4f} vs {mine.mean():.4f}, p = {p:.2g})")
        elif not (mine.mean() > other.mean() and p < ALPHA):
            ties.append(f"{cell} (p = {p:.2g})")
    if better:
        return Verdict(FAILS, "significantly better: " + ", ".join(better))
    if ties:
        return Verdict(INCONCLUSIVE, f"{claimed} is not significantly better than " + ", ".join(ties))
    return Verdict(HOLDS, f"{claimed} beats every other cell with p < {ALPHA}")


def overfits(curve: pd.DataFrame) -> bool:
    """One run's curves (epoch, train_loss, val_loss): see OVERFIT_RULE."""
    curve = curve.sort_values("epoch")
    low = curve["val_loss"].idxmin()
    rise = curve["val_loss"].iloc[-1] / curve.at[low, "val_loss"] - 1
    return rise > OVERFIT_RISE and curve["train_loss"].iloc[-1] < curve.at[low, "train_loss"]


def overfitting_verdict(per_network: dict[str, list[bool]]) -> Verdict:
    """per_network: for each network, whether each seed overfit. See OVERFIT_RULE."""
    details = [f"{net}: overfits in {sum(seeds)} of {len(seeds)} seeds" for net, seeds in per_network.items()]
    if not per_network or any(len(s) == 0 for s in per_network.values()):
        return Verdict(INCONCLUSIVE, "a network has no completed run", details)
    if all(all(s) for s in per_network.values()):
        return Verdict(HOLDS, "every network overfits in every seed", details)
    never = [net for net, s in per_network.items() if not any(s)]
    if never:
        return Verdict(FAILS, "no seed overfits for " + ", ".join(never), details)
    return Verdict(INCONCLUSIVE, "some seeds overfit and some do not", details)


def final_verdict(values: np.ndarray, full_scale: bool) -> Verdict:
    """values: the final recipe's per-seed test accuracy. See FINAL_RULE."""
    if not full_scale:
        return Verdict(INCONCLUSIVE, "not run at the study's scale, so not comparable with 92.28 %")
    if len(values) == 0:
        return Verdict(INCONCLUSIVE, "no completed run")
    low, high = confidence_interval(values)
    if values.mean() >= STUDY_RESULT or (len(values) > 1 and low <= STUDY_RESULT <= high):
        return Verdict(HOLDS, f"mean {values.mean():.4f}, 95 % CI [{low:.4f}, {high:.4f}]")
    if len(values) > 1 and high < STUDY_RESULT:
        return Verdict(FAILS, f"95 % CI [{low:.4f}, {high:.4f}] lies below {STUDY_RESULT}")
    return Verdict(INCONCLUSIVE, f"mean {values.mean():.4f} from {len(values)} run(s)")


# ---------------------------------------------------------------- tables

def cell_values(jobs: pd.DataFrame, keys: list[str]) -> dict[str, np.ndarray]:
    """Per cell (joined values of `keys`), the METRIC of its completed runs."""
    done = jobs[jobs["status"] == status.COMPLETED]
    return {cell_name(cell): pd.to_numeric(group[METRIC], errors="coerce").dropna().to_numpy(float)
            for cell, group in done.groupby(keys, sort=True)}


def cell_name(cell) -> str:
    return ", ".join(str(c) for c in cell) if isinstance(cell, tuple) else str(cell)


def seed_table(values: dict[str, np.ndarray], claimed: str | None, label: str) -> str:
    rows = []
    for cell, v in values.items():
        low, high = confidence_interval(v)
        p = welch_p(values[claimed], v) if claimed in values and cell != claimed else math.nan
        rows.append({label: f"**{cell}**" if cell == claimed else cell, "n": len(v),
                     f"mean {METRIC}": v.mean() if len(v) else math.nan,
                     "std": v.std(ddof=1) if len(v) > 1 else math.nan, "95 % CI": f"[{low:.4f}, {high:.4f}]",
                     **({f"p vs {claimed}": p} if claimed else {})})
    return pd.DataFrame(rows).to_markdown(index=False, floatfmt=".4f")


# ---------------------------------------------------------------- figures

def _curves(jobs: pd.DataFrame, curves: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per-epoch curves of completed runs with each run's cell, for plotting."""
    done = jobs[jobs["status"] == status.COMPLETED]
    cells = done.assign(cell=[cell_name(tuple(r)) if len(keys) > 1 else str(r[0])
                              for r in done[keys].itertuples(index=False)])[["dir", "cell"]]
    return curves.merge(cells, on="dir")


def _plot_mean_band(ax, frame: pd.DataFrame, column: str, label: str, color: str, style: str = "-") -> None:
    from matplotlib.ticker import MaxNLocator

    stats = frame.groupby("epoch")[column].agg(["mean", "min", "max"])
    ax.plot(stats.index, stats["mean"], style, color=color, label=label)
    ax.fill_between(stats.index, stats["min"], stats["max"], color=color, alpha=0.15)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _ylim(values: dict[str, np.ndarray]) -> tuple[float, float]:
    """Accuracy axis from the lowest to the highest seed, with a margin, inside [0, 1]."""
    seen = [v for v in values.values() if len(v)]
    if not seen:
        return 0.0, 1.0
    every = np.concatenate(seen)
    return max(0.0, every.min() - 0.05), min(1.0, every.max() + 0.03)


def _bars(ax, values: dict[str, np.ndarray], claimed: str | None) -> None:
    """Mean per cell with its 95 % CI (clipped to [0, 1]); a dot per seed; the claimed winner green."""
    names = list(values)
    means = np.array([values[n].mean() if len(values[n]) else np.nan for n in names])
    cis = [confidence_interval(values[n]) for n in names]
    err = np.array([[m - max(lo, 0.0), min(hi, 1.0) - m] if not math.isnan(lo) else [0.0, 0.0]
                    for m, (lo, hi) in zip(means, cis)]).T
    ax.bar(range(len(names)), means, color=["C2" if n == claimed else "C0" for n in names])
    ax.errorbar(range(len(names)), means, yerr=err, fmt="none", ecolor="k", capsize=4)
    for x, n in enumerate(names):
        ax.plot(np.full(len(values[n]), x), values[n], "k.", markersize=5)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    ax.set_ylim(*_ylim(values))
    ax.set_ylabel(f"{METRIC}: mean, 95 % CI, seeds")


def figure_overfitting(jobs, curves, path: Path) -> None:
    import matplotlib.pyplot as plt

    frame = _curves(jobs, curves, ["model"])
    nets = sorted(frame["cell"].unique())
    fig, axes = plt.subplots(1, len(nets), figsize=(4.2 * len(nets), 3.6), sharey=True, squeeze=False)
    for ax, net in zip(axes[0], nets):
        part = frame[frame["cell"] == net]
        _plot_mean_band(ax, part, "train_loss", "training", "C0")
        _plot_mean_band(ax, part, "val_loss", "validation (test set)", "C3", "--")
        ax.set(title=net, xlabel="epoch")
    axes[0][0].set_ylabel("cross-entropy loss")
    axes[0][0].legend()
    fig.suptitle("No regularization: training vs validation loss (mean over seeds, min-max band)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def overfit_counts(jobs: pd.DataFrame, curves: pd.DataFrame) -> str:
    """'none 3/3, augmentation 0/3, ...': per regularization, the completed seeds that overfit."""
    done = jobs[jobs["status"] == status.COMPLETED]
    counts = {cell: (sum(overfits(curves[curves["dir"] == d]) for d in group["dir"]), len(group))
              for cell, group in done.groupby("regularization")}
    return ", ".join(f"{cell} {k}/{n}" for cell, (k, n) in counts.items())


def figure_regularization(jobs, curves, path: Path, claimed: str) -> None:
    """Per network: the bars (last-epoch test accuracy), and below them each regularization's
    validation loss per epoch, where a cure shows as a curve that stops rising."""
    import matplotlib.pyplot as plt

    nets = sorted(jobs["model"].dropna().unique())
    fig, axes = plt.subplots(2, len(nets), figsize=(4.6 * len(nets), 7.4), squeeze=False)
    limits = _ylim(cell_values(jobs, ["model", "regularization"]))
    frame = _curves(jobs, curves, ["regularization"]).merge(jobs[["dir", "model"]], on="dir")
    for col, net in enumerate(nets):
        _bars(axes[0][col], cell_values(jobs[jobs["model"] == net], ["regularization"]), claimed)
        axes[0][col].set(title=net, ylim=limits)
        others = iter(("C0", "C1", "C3", "C4", "C5", "C6"))  # C2 (green) is the claimed cell's
        for cell, part in sorted(frame[frame["model"] == net].groupby("cell")):
            _plot_mean_band(axes[1][col], part, "val_loss", str(cell), "C2" if cell == claimed else next(others),
                            "-" if cell == claimed else "--")
        axes[1][col].set(xlabel="epoch", ylabel="validation (test-set) loss" if col == 0 else None)
    axes[1][0].legend(fontsize="x-small")
    fig.suptitle(f"Regularization: last-epoch test accuracy (green: the study's choice, {claimed}) and "
                 "validation loss per epoch")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def figure_comparison(jobs, curves, claim: Claim, path: Path, with_lr: bool = False) -> None:
    """Validation accuracy per epoch (and the learning rate) per cell, and the bars."""
    import matplotlib.pyplot as plt

    frame = _curves(jobs, curves, [claim.axis])
    panels = 3 if with_lr else 2
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.8))
    for i, (cell, part) in enumerate(sorted(frame.groupby("cell"), key=lambda kv: sort_key((kv[0],)))):
        _plot_mean_band(axes[0], part, "val_acc", str(cell), f"C{i}")
        if with_lr:
            lr = part.groupby("epoch")["lr"].mean()
            axes[1].plot(lr.index, lr.to_numpy(), color=f"C{i}", label=str(cell))
    axes[0].set(xlabel="epoch", ylabel="validation (test-set) accuracy", title="per epoch (mean, min-max band)")
    axes[0].legend(fontsize="small")
    if with_lr:
        axes[1].set(xlabel="epoch", ylabel="learning rate (epoch start)", yscale="log", title="schedule")
    _bars(axes[-1], cell_values(jobs, [claim.axis]), claim.winner)
    axes[-1].set_title("after the last epoch")
    fig.suptitle(claim.title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def figure_final(jobs, curves, path: Path) -> None:
    import matplotlib.pyplot as plt

    frame = _curves(jobs, curves, ["seed"]) if "seed" in jobs else curves.assign(cell="0")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for i, (seed, part) in enumerate(frame.groupby("cell")):
        axes[0].plot(part["epoch"], part["train_loss"], color=f"C{i}", label=f"seed {seed} training")
        axes[0].plot(part["epoch"], part["val_loss"], "--", color=f"C{i}", label=f"seed {seed} validation")
        axes[1].plot(part["epoch"], part["val_acc"], color=f"C{i}", label=f"seed {seed}")
    axes[1].axhline(STUDY_RESULT, color="k", linestyle=":", label="the study: 92.28 %")
    axes[0].set(xlabel="epoch", ylabel="cross-entropy loss", title="loss (dashed: validation)")
    axes[1].set(xlabel="epoch", ylabel="validation (test-set) accuracy", title="accuracy")
    from matplotlib.ticker import MaxNLocator

    for ax in axes:
        ax.legend(fontsize="x-small")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle("The final recipe (study_final)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- one section per claim

def scale_of(jobs: pd.DataFrame, sweep_dir: Path) -> dict:
    """Width, epochs and training images of a grid's runs, from the first job's config."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(sweep_dir / jobs["dir"].iloc[0] / ".hydra" / "config.yaml")
    return {"width": cfg.model.width, "epochs": cfg.trainer.epochs, "train_subset": cfg.data.train_subset}


def section(claim: Claim, sweep_dir: Path, jobs: pd.DataFrame, curves: pd.DataFrame,
            figures: Path) -> tuple[list[str], Verdict, dict]:
    scale = scale_of(jobs, sweep_dir)
    seeds = jobs["seed"].nunique() if "seed" in jobs else 1
    figure = figures / f"{claim.grid}.png"
    lines = [f"## {claim.title}", "", f"> {claim.text}", "",
             f"Grid `experiment={claim.grid}`: {len(jobs)} runs ({seeds} seeds), "
             f"{(jobs['status'] == status.COMPLETED).sum()} completed; width {scale['width']}, {scale['epochs']} epochs, "
             f"{_images(scale)} training images. Compared: `{METRIC}`, the final model's test "
             "accuracy after the last epoch, as the study did.", "",
             f"![{claim.grid}]({figures.name}/{figure.name})", ""]
    if claim.grid == "overfitting":
        figure_overfitting(jobs, curves, figure)
        per_net = {}
        for row in jobs[jobs["status"] == status.COMPLETED].itertuples():
            per_net.setdefault(row.model, []).append(overfits(curves[curves["dir"] == row.dir]))
        verdict, rule = overfitting_verdict(dict(sorted(per_net.items()))), OVERFIT_RULE
        lines += [seed_table(cell_values(jobs, ["model"]), None, "network"), ""]
    elif claim.grid == "regularization":
        figure_regularization(jobs, curves, figure, claim.winner)
        subs = {}
        for net in sorted(jobs["model"].dropna().unique()):
            values = cell_values(jobs[jobs["model"] == net], ["regularization"])
            subs[net] = winner_verdict(values, claim.winner)
            lines += [f"**{net}**", "", seed_table(values, claim.winner, "regularization"), "",
                      f"{net}: *{subs[net].verdict}* ({subs[net].reason}). Still overfitting at the end "
                      f"(claim 1's rule), in seeds: {overfit_counts(jobs[jobs['model'] == net], curves)}.", ""]
        verdicts = [v.verdict for v in subs.values()]
        overall = HOLDS if verdicts and all(v == HOLDS for v in verdicts) else (
            FAILS if FAILS in verdicts else INCONCLUSIVE)
        verdict = Verdict(overall, "per network: " + ", ".join(f"{n} {v.verdict}" for n, v in subs.items()))
        rule = WINNER_RULE + " Applied per network; the claim holds when it holds on all three and does not " \
                             "hold when it fails on any."
    elif claim.grid == "study_final":
        figure_final(jobs, curves, figure)
        values = cell_values(jobs.assign(all="study_final"), ["all"])
        full = scale["width"] == 1.0 and scale["epochs"] == 50 and scale["train_subset"] is None
        verdict, rule = final_verdict(values.get("study_final", np.array([])), full), FINAL_RULE
        lines += [seed_table(values, None, "recipe"), ""]
    else:
        figure_comparison(jobs, curves, claim, figure, with_lr=claim.grid == "schedulers")
        values = cell_values(jobs, [claim.axis])
        verdict, rule = winner_verdict(values, claim.winner), WINNER_RULE
        lines += [seed_table(values, claim.winner, claim.axis), ""]
    lines += [rule, "", f"**Verdict: {verdict.verdict}** ({verdict.reason}).", ""]
    lines += [f"- {d}" for d in verdict.details] + ([""] if verdict.details else [])
    return lines, verdict, {**scale, "seeds": seeds, "runs": len(jobs),
                            "wall_seconds": pd.to_numeric(jobs["wall_seconds"], errors="coerce").sum()}


# ---------------------------------------------------------------- the settings

# (setting, the study (its notebooks and write-up), ours, why ours differs or "same")
SETTINGS = [
    ("network", "VGG11/16/19: 3x3 conv + BatchNorm + ReLU, 2x2 max-pool, one Linear(512, 10), no dropout "
     "(VGG16: 14,728,266 parameters)", "the same (`model=vgg11`, `vgg16`, `vgg19`; counts tested)", "same"),
    ("training augmentation", "RandomRotation(15) -> RandomAffine(0, translate=(0.1, 0.1)) -> "
     "RandomHorizontalFlip(), PIL, nearest, zero fill", "the same semantics, batched on the training device "
     "(`regularization=weight_decay_augmentation`, `augment.*`)", "speed; same distribution as torchvision's "
     "(tests/test_augment.py) and same accuracy (bench/fidelity.py)"),
    ("normalisation", "ToTensor, Normalize((0.5,)*3, (0.5,)*3)", "the same (`data.normalize`)", "same"),
    ("data use", "all 50,000 training images; the 10,000 test images are the per-epoch validation set and "
     "give the final accuracy", "the same in `study_final` and every grid (`data.val_size=0`)",
     "same; the default config holds out 5,000 images instead, so that searches and pruning never see the test set"),
    ("loader", "batch 64, shuffled, 2 workers, last partial batch kept", "batch 64, shuffled on the device; a "
     "last batch of exactly one image is dropped", "BatchNorm cannot train on one image (never happens at 50,000 / 64)"),
    ("loss, optimizer", "CrossEntropyLoss; Adam(lr=1e-3, weight_decay=5e-5), coupled L2", "the same (`optimizer=adam`)",
     "same"),
    ("schedule", "CosineAnnealingLR(T_max=50), stepped once per epoch", "the same; T_max follows `trainer.epochs`",
     "same"),
    ("epochs, precision", "50, fp32", "the same in `study_final` and the grids (`trainer.precision=fp32`: TF32 "
     "off too)", "same; the default config runs bf16 on a GPU for speed"),
    ("result", "last-epoch test accuracy of one unseeded run", "mean and 95 % CI over seeds of the last-epoch "
     "test accuracy", "seeds tell a real difference from noise"),
    ("overfitting runs", "20 epochs each; optimizer, schedule and batch not stated (the notebooks hint at Adam "
     "1e-3, StepLR(10, 0.1), batch 32)", "the notebooks' hints (`experiment=overfitting`)",
     "the only values the study's code gives"),
    ("weight decay", "tried 1e-4, 1e-5, then 5e-5", "5e-5 (`regularization=weight_decay`)", "the value adopted"),
    ("dropout", "tried; rate and placement not given", "p = 0.5 before the classifier (`regularization=dropout`)",
     "ours: the study gives none"),
    ("optimizers compared", "Adam, RMSprop, SGD with momentum; code: SGD(1e-3, momentum 0.9, wd 1e-2), "
     "RMSprop(1e-3, wd 1e-6)", "the same (`experiment=optimizers`)",
     "same; tuned learning rates are the Optuna search's job (`hparams_search=vgg16_tpe`)"),
    ("schedulers compared", "four; only CosineAnnealingLR and StepLR(10, 0.1) are known",
     "cosine, StepLR(10, 0.1), ExponentialLR(0.95), ReduceLROnPlateau(0.1, patience 3)",
     "the last two are ours: the study does not name its other two"),
    ("batch sizes compared", "\"16 to 128\"", "16, 32, 64, 128", "the powers of two in that range"),
]


def settings_table() -> list[str]:
    rows = [f"| {s} | {study} | {ours} | {why} |" for s, study, ours, why in SETTINGS]
    return ["## Settings: the study's and ours", "",
            "| setting | the study | ours | why |", "| --- | --- | --- | --- |", *rows, ""]


# ---------------------------------------------------------------- the report

GPU_COMMAND = "python -m cifar_sweep.report --run --scale gpu --seeds 3 --out docs/study-gpu.md"


def run_record(sweeps: Path) -> tuple[str | None, float | None]:
    """The --run command that made the sweeps and its wall time in minutes, as it recorded them."""
    try:
        times = json.loads((sweeps / "run-times.json").read_text())
        return times.get("command"), (times["finished"] - times["started"]) / 60
    except (OSError, ValueError, KeyError, TypeError):
        return None, None


def write_report(sweeps: Path, out: Path, command: str) -> list[Verdict]:
    grids = {claim.grid: read_sweep(sweeps / claim.grid)[:2] for claim in CLAIMS}  # all readable, or nothing written
    figures = out.with_suffix("")
    figures.mkdir(parents=True, exist_ok=True)
    body, verdicts, scales = [], [], {}
    for claim in CLAIMS:
        lines, verdict, scales[claim.grid] = section(claim, sweeps / claim.grid, *grids[claim.grid], figures)
        body += lines
        verdicts.append(verdict)
    runs = sum(s["runs"] for s in scales.values())
    train_seconds = sum(s["wall_seconds"] for s in scales.values())
    run_command, elapsed = run_record(sweeps)
    small = any(s["width"] != 1.0 or s["train_subset"] is not None or s["epochs"] != c.study_epochs
                for c, s in zip(CLAIMS, scales.values()))
    scale_words = "at a reduced scale" if small else "at the study's scale"
    head = [
        "# The study, re-made", "",
        (f"Runs made by `{run_command}` ({elapsed:.0f} min); report by `{command}`" if run_command and
         run_command != command else f"Made by `{command}`")
        + f" on {datetime.now():%Y-%m-%d}: {runs} runs of the six grids in `conf/experiment/` "
        f"(the runs' own wall time {train_seconds / 60:.0f} min), {scale_words}, on "
        f"{platform.machine()} with {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
        f"torch {_torch_version()}.", "",
        "Data: CIFAR-10 from `CIFAR10_DIR`. Every setting is the study's where the study gives one; the "
        "table at the end lists each, with ours where it gives none. Each grid runs every cell with several "
        "seeds and compares the last epoch's test accuracy, as the study did; the study ran each setting "
        "once, unseeded.", ""]
    if small:
        width = scales["optimizers"]["width"]
        head += [f"**Scale.** Width {width} VGGs (about {width ** 2:.2%} of the parameters); "
                 f"{scales['overfitting']['epochs']} epochs of {_images(scales['overfitting'])} "
                 "training images for the grids the study ran 20 epochs, "
                 f"{scales['optimizers']['epochs']} epochs of {_images(scales['optimizers'])} "
                 "for those it ran 50 (StepLR's step scaled alike); validation and test on the whole test set. "
                 "The verdicts below are about these small networks trained briefly; they say what the grids "
                 "show at this scale, not what the study's full-size networks do. For that, run on a GPU:", "",
                 f"    {GPU_COMMAND}", ""]
    head += ["| claim | verdict | because |", "| --- | --- | --- |"]
    head += [f"| {c.title} | **{v.verdict}** | {v.reason} |" for c, v in zip(CLAIMS, verdicts)] + [""]
    out.write_text("\n".join(head + body + settings_table()))
    return verdicts


def _images(scale: dict) -> str:
    return f"{scale['train_subset']:,}" if scale["train_subset"] else "all 50,000"


def _torch_version() -> str:
    try:
        from importlib.metadata import version
        return version("torch")
    except Exception:
        return "?"


def run_grids(sweeps: Path, scale: str, seeds: int, extra: list[str], run_py: Path, command: str) -> None:
    """Each grid as `python run.py -m experiment=GRID ...`, one after the other; an existing grid
    folder is resumed (trainer.resume=true keeps its finished jobs). Records its start and end in
    run-times.json (a resumed run keeps the first start)."""
    times_file = sweeps / "run-times.json"
    sweeps.mkdir(parents=True, exist_ok=True)
    started = json.loads(times_file.read_text())["started"] if times_file.is_file() else time.time()
    for claim in CLAIMS:
        for sub, overrides in grid_commands(claim, scale):
            target = sweeps / claim.grid / sub
            command = [sys.executable, str(run_py), "-m", f"experiment={claim.grid}",
                       f"seed={','.join(map(str, range(seeds)))}", *overrides, *extra, f"hydra.sweep.dir={target}",
                       *(["trainer.resume=true"] if (target / "report-run.log").is_file() else [])]
            print(f"[{datetime.now():%H:%M:%S}] {' '.join(shlex.quote(c) for c in command[1:])}", flush=True)
            target.mkdir(parents=True, exist_ok=True)
            with open(target / "report-run.log", "a") as log:
                if subprocess.run(command, stdout=log, stderr=subprocess.STDOUT).returncode != 0:
                    raise CollectError(f"experiment={claim.grid} failed; see {target / 'report-run.log'}")
    times_file.write_text(json.dumps({"started": started, "finished": time.time(), "command": command}) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cifar-sweep-report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="store_true", help="run the six grids first (else read --sweeps)")
    parser.add_argument("--scale", choices=list(SCALES), default="gpu",
                        help="with --run: gpu: the study's scale; cpu: width 1/8, 12 epochs of 2,500 images for the 20-epoch "
                             "grids, 10 of 5,000 for the 50-epoch ones (default gpu)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per cell when running (default 3)")
    parser.add_argument("--sweeps", type=Path, help="the folder with one sweep folder per grid "
                        "(default with --run: multirun/study-<scale>/<date_time>)")
    parser.add_argument("--out", type=Path, default=Path("study.md"), help="the report; figures go to a folder "
                        "of the same name beside it (default study.md)")
    parser.add_argument("--run-py", type=Path, default=Path("run.py"), help="the entrypoint (default ./run.py)")
    parser.add_argument("overrides", nargs="*", help="more overrides for every grid, e.g. hydra/launcher=joblib")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds={args.seeds}: must be a positive integer")
    sweeps = args.sweeps or (Path("multirun") / f"study-{args.scale}" / f"{datetime.now():%Y-%m-%d_%H-%M-%S}")
    command = "python -m cifar_sweep.report " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    try:
        if args.run:
            if not args.run_py.is_file():
                raise CollectError(f"--run-py={str(args.run_py)!r}: no such file; run from the repository root")
            run_grids(sweeps, args.scale, args.seeds, args.overrides, args.run_py, command)
        elif args.sweeps is None:
            raise CollectError("--sweeps: give the folder of a finished study run, or --run to make one")
        verdicts = write_report(sweeps, args.out, command)
    except CollectError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for claim, verdict in zip(CLAIMS, verdicts):
        print(f"{claim.title}: {verdict.verdict} ({verdict.reason})")
    print(f"wrote {args.out} and {args.out.with_suffix('')}/ (sweeps in {sweeps})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
