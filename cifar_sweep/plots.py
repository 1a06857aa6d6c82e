"""Figures of a collected sweep (matplotlib, headless), one cell = one combination of swept keys.

    loss_curves.png   train (solid) vs validation (dashed) loss per epoch: the overfitting figure
    val_acc.png       validation accuracy per epoch, mean over seeds with a min-max band; x marks
                      where pruned runs stopped
    summary.png       the compared metric per cell: mean with a 95 % CI where there are two or more
                      runs; against a log axis when the one swept key is a number spanning decades

Cells are ordered by their values (numbers as numbers) and numbers are printed with 3 significant
digits. The y-axis of the loss curves ignores outliers (a diverged run), and says how many it left out.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from cifar_sweep import status  # noqa: E402

MARK_COLORS = {"best": "C2", "≈ best": "C0"}  # anything else (worse, or too few runs to tell): grey
GREY = "C7"


def number(value) -> str:
    """3 significant digits for numbers, the value itself otherwise."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return f"{value:.3g}"
    return str(value)


def sort_key(values: tuple) -> tuple:
    """Numbers before text, numbers by value: 16 < 128, 1e-4 < 1e-3."""
    key = []
    for v in values:
        try:
            key.append((0, float(v), ""))
        except (TypeError, ValueError):
            key.append((1, 0.0, str(v)))
    return tuple(key)


def cell_labels(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    if not keys:
        return pd.Series("all", index=frame.index)
    return frame[keys].apply(lambda r: ", ".join(f"{k}={number(v)}" for k, v in r.items()), axis=1)


def ordered_cells(jobs: pd.DataFrame, keys: list[str]) -> list[str]:
    """The cells' labels, ordered by their values."""
    if not keys:
        return ["all"]
    pairs = {label: tuple(row) for label, row in zip(cell_labels(jobs, keys), jobs[keys].itertuples(index=False))}
    return sorted(pairs, key=lambda label: sort_key(pairs[label]))


def by_cell(jobs: pd.DataFrame, curves: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per-epoch curves with each job's cell label, averaged over the seeds of a cell."""
    labelled = curves.merge(jobs.assign(cell=cell_labels(jobs, keys))[["dir", "cell"]], on="dir")
    return (
        labelled.groupby(["cell", "epoch"])
        .agg(
            train_loss=("train_loss", "mean"),
            val_loss=("val_loss", "mean"),
            val_acc=("val_acc", "mean"),
            val_acc_min=("val_acc", "min"),
            val_acc_max=("val_acc", "max"),
        )
        .reset_index()
    )


def robust_top(per_cell: list[np.ndarray]) -> tuple[float, int]:
    """An upper y-limit that a diverged cell cannot set: at most 3x the median of the cells' own
    maxima; and how many points lie above it."""
    per_cell = [v[np.isfinite(v)] for v in per_cell]
    maxima = [v.max() for v in per_cell if len(v)]
    if not maxima:
        return 1.0, 0
    top = min(max(maxima), 3 * float(np.median(maxima))) * 1.05
    return top, int(sum((v > top).sum() for v in per_cell))


def plot_losses(cells: pd.DataFrame, order: list[str], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, cell in enumerate(order):
        c = cells[cells["cell"] == cell]
        ax.plot(c["epoch"], c["train_loss"], color=f"C{i % 10}", label=f"{cell} train")
        ax.plot(c["epoch"], c["val_loss"], color=f"C{i % 10}", linestyle="--", label=f"{cell} val")
    top, off = robust_top([cells.loc[cells["cell"] == c, ["train_loss", "val_loss"]].to_numpy().ravel() for c in order])
    ax.set_ylim(0, top)
    note = f" ({off} points above the axis: diverged)" if off else ""
    ax.set(xlabel="epoch", ylabel="cross-entropy loss", title="Training (solid) vs validation (dashed) loss" + note)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def plot_val_acc(cells: pd.DataFrame, order: list[str], pruned: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, cell in enumerate(order):
        c = cells[cells["cell"] == cell]
        ax.plot(c["epoch"], c["val_acc"], color=f"C{i % 10}", marker="o", markersize=3, label=cell)
        ax.fill_between(c["epoch"], c["val_acc_min"], c["val_acc_max"], color=f"C{i % 10}", alpha=0.2)
    if len(pruned):
        ax.plot(pruned["epoch"], pruned["val_acc"], "kx", markersize=7, label="pruned here")
    ax.set(xlabel="epoch", ylabel="validation accuracy", title="Validation accuracy (mean over seeds, min-max band)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def spans_decades(values: pd.Series) -> bool:
    numeric = pd.to_numeric(values, errors="coerce")
    return bool(numeric.notna().all() and (numeric > 0).all() and numeric.max() / numeric.min() >= 10)


def cell_bars(ax, table: pd.DataFrame, labels: list[str], colors: list[str], seeds: bool = False) -> None:
    """A compare_cells table as bars: the mean per cell, its 95 % CI (clipped to [0, 1]) where n >= 2,
    the n of each bar, and with `seeds` a dot per run."""
    x = np.arange(len(table))
    mean = table["mean"].to_numpy(float)
    ax.bar(x, mean, color=colors)
    _ci_bars(ax, x, table)
    if seeds:
        for xi, values in zip(x, table["values"]):
            ax.plot(np.full(len(values), xi), values, "k.", markersize=5)
    _n_labels(ax, x, table)
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize="small")


def _ci_bars(ax, x: np.ndarray, table: pd.DataFrame) -> None:
    mean = table["mean"].to_numpy(float)
    low = np.where(table["n"] >= 2, mean - table["ci95_low"].clip(lower=0), np.nan)  # accuracies live in [0, 1]
    high = np.where(table["n"] >= 2, table["ci95_high"].clip(upper=1) - mean, np.nan)
    with_ci = ~np.isnan(low)
    ax.errorbar(x[with_ci], mean[with_ci], yerr=[low[with_ci], high[with_ci]], fmt="none", ecolor="k", capsize=4)


def _n_labels(ax, x: np.ndarray, table: pd.DataFrame) -> None:
    for xi, n in zip(x, table["n"]):
        ax.annotate(
            f"n={n}",
            (xi, 0),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            fontsize="x-small",
            xycoords=("data", "axes fraction"),
        )


def accuracy_limits(means: np.ndarray) -> tuple[float, float]:
    finite = means[np.isfinite(means)]
    return (max(0.0, finite.min() - 0.1), min(1.0, finite.max() + 0.05)) if len(finite) else (0.0, 1.0)


def plot_summary(table: pd.DataFrame, keys: list[str], metric: str, path: Path) -> None:
    table = table.iloc[sorted(range(len(table)), key=lambda i: sort_key(tuple(table[keys].iloc[i])))] if keys else table
    colors = [MARK_COLORS.get(m, GREY) for m in table["mark"]]
    log_axis = len(keys) == 1 and spans_decades(table[keys[0]])
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(table) + 2), 5))
    if log_axis:
        x = pd.to_numeric(table[keys[0]]).to_numpy(float)
        ax.scatter(x, table["mean"].to_numpy(float), c=colors, s=40, zorder=3)
        _ci_bars(ax, x, table)
        _n_labels(ax, x, table)
        ax.set_xscale("log")
        ax.set_xlabel(keys[0])
    else:
        cell_bars(ax, table, list(cell_labels(table, keys)), colors)
    ax.legend(
        handles=[
            Patch(color="C2", label="best mean"),
            Patch(color="C0", label="not distinguishable from best (Welch p >= 0.05)"),
            Patch(color=GREY, label="worse (p < 0.05), or too few runs to tell"),
        ],
        fontsize="x-small",
        loc="lower right",
    )
    ax.set_ylim(*accuracy_limits(table["mean"].to_numpy(float)))
    ax.set(ylabel=metric, title=f"{metric}: mean; 95 % CI where n >= 2")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def pruned_points(jobs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """The last recorded epoch of every pruned run."""
    dirs = jobs.loc[jobs["status"] == status.PRUNED, "dir"]
    last = curves[curves["dir"].isin(dirs)].sort_values("epoch").groupby("dir").tail(1)
    return last[["epoch", "val_acc"]]


def write_all(
    out_dir: Path, jobs: pd.DataFrame, curves: pd.DataFrame, keys: list[str], table: pd.DataFrame, metric: str
) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    cells, order = by_cell(jobs, curves, keys), ordered_cells(jobs, keys)
    order = [c for c in order if c in set(cells["cell"])]
    plot_losses(cells, order, out_dir / "loss_curves.png")
    plot_val_acc(cells, order, pruned_points(jobs, curves), out_dir / "val_acc.png")
    plot_summary(table, keys, metric, out_dir / "summary.png")
