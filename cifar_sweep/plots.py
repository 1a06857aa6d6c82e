"""Figures of a collected sweep (matplotlib, headless), one cell = one combination of swept keys.

    loss_curves.png   train (solid) vs validation (dashed) loss per epoch: the overfitting figure
    val_acc.png       validation accuracy per epoch, mean over seeds with a min-max band
    summary.png       the compared metric per cell, mean with 95 % CI error bars
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def cell_labels(jobs: pd.DataFrame, keys: list[str]) -> pd.Series:
    if not keys:
        return pd.Series("all", index=jobs.index)
    return jobs[keys].astype(str).apply(lambda r: ", ".join(f"{k}={v}" for k, v in r.items()), axis=1)


def by_cell(jobs: pd.DataFrame, curves: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per-epoch curves with each job's cell label, averaged over the seeds of a cell."""
    labelled = curves.merge(jobs.assign(cell=cell_labels(jobs, keys))[["dir", "cell"]], on="dir")
    return labelled.groupby(["cell", "epoch"]).agg(
        train_loss=("train_loss", "mean"), val_loss=("val_loss", "mean"), val_acc=("val_acc", "mean"),
        val_acc_min=("val_acc", "min"), val_acc_max=("val_acc", "max")).reset_index()


def plot_losses(cells: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, (cell, c) in enumerate(cells.groupby("cell")):
        color = f"C{i % 10}"
        ax.plot(c["epoch"], c["train_loss"], color=color, label=f"{cell} train")
        ax.plot(c["epoch"], c["val_loss"], color=color, linestyle="--", label=f"{cell} val")
    ax.set(xlabel="epoch", ylabel="cross-entropy loss", title="Training (solid) vs validation (dashed) loss")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def plot_val_acc(cells: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, (cell, c) in enumerate(cells.groupby("cell")):
        ax.plot(c["epoch"], c["val_acc"], color=f"C{i % 10}", marker="o", markersize=3, label=cell)
        ax.fill_between(c["epoch"], c["val_acc_min"], c["val_acc_max"], color=f"C{i % 10}", alpha=0.2)
    ax.set(xlabel="epoch", ylabel="validation accuracy", title="Validation accuracy (mean over seeds, min-max band)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def plot_summary(table: pd.DataFrame, keys: list[str], metric: str, path: Path) -> None:
    labels = cell_labels(table, keys)
    mean = table["mean"]
    low = (mean - table["ci95_low"].clip(lower=0)).fillna(0)    # accuracies live in [0, 1]
    high = (table["ci95_high"].clip(upper=1) - mean).fillna(0)
    colors = ["C2" if m == "best" else "C0" if m == "≈ best" else "C7" for m in table["mark"]]
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(table) + 2), 5))
    ax.bar(range(len(table)), mean, yerr=[low, high], color=colors, capsize=4)
    ax.set_xticks(range(len(table)), labels, rotation=30, ha="right", fontsize="small")
    for x, (m, n) in enumerate(zip(mean, table["n"])):
        ax.annotate(f"n={n}", (x, 0), xytext=(0, 3), textcoords="offset points", ha="center",
                    fontsize="x-small", xycoords=("data", "axes fraction"))
    ax.set(ylabel=metric, title=f"{metric}: mean, 95 % CI (green: best; blue: not distinguishable)")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def write_all(out_dir: Path, jobs: pd.DataFrame, curves: pd.DataFrame, keys: list[str],
              table: pd.DataFrame, metric: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    cells = by_cell(jobs, curves, keys)
    plot_losses(cells, out_dir / "loss_curves.png")
    plot_val_acc(cells, out_dir / "val_acc.png")
    plot_summary(table, keys, metric, out_dir / "summary.png")
