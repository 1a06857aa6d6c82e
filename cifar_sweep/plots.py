"""Figures of a collected sweep (matplotlib, headless), one cell = one combination of swept keys.

    loss_curves.png   train (solid) vs validation (dashed) loss per epoch: the overfitting figure
    val_acc.png       validation accuracy per epoch, mean over seeds with a min-max band; x marks
                      where pruned runs stopped
    summary.png       the compared metric per cell: bars from zero, a 95 % CI where there are two or more
                      runs, n above every bar, colours by comparison with the best (MARKS); points
                      against a log axis when the one swept key is a number spanning decades

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
    save(fig, path)


def val_acc_figure(cells: pd.DataFrame, order: list[str], pruned: pd.DataFrame, seeds: bool):
    """Validation accuracy per epoch and cell; with `seeds` (a cell ran more than once) the mean over
    them and a min-max band, and the title says so only then."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, cell in enumerate(order):
        c = cells[cells["cell"] == cell]
        ax.plot(c["epoch"], c["val_acc"], color=f"C{i % 10}", marker="o", markersize=3, label=cell)
        if seeds:
            ax.fill_between(c["epoch"], c["val_acc_min"], c["val_acc_max"], color=f"C{i % 10}", alpha=0.2)
    if len(pruned):
        ax.plot(pruned["epoch"], pruned["val_acc"], "kx", markersize=7, label="pruned here")
    title = "Validation accuracy (mean over seeds, min-max band)" if seeds else "Validation accuracy (one run per cell)"
    ax.set(xlabel="epoch", ylabel="validation accuracy", title=title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig


def spans_decades(values: pd.Series) -> bool:
    numeric = pd.to_numeric(values, errors="coerce")
    return bool(numeric.notna().all() and (numeric > 0).all() and numeric.max() / numeric.min() >= 10)


# What a cell's colour means, on every cell chart (collect's summary.png and the report's figures):
# stats.compare_cells' mark -> (fill, hatch, legend label). "best" is the reference cell: the best mean,
# or in the report the study's choice (reference_label).
MARKS = {
    "best": ("C2", None, "best mean"),
    "≈ best": ("C0", None, "tied with it (Welch p ≥ 0.05)"),
    "": ("C7", None, "worse (p < 0.05)"),
    "?": ("white", "///", "too few runs to tell (n < 2)"),
}


def describe_bars(table: pd.DataFrame, seeds: bool) -> str:
    """What a cell chart draws, and no more: the mean, the CI where a cell has two runs, the dots."""
    parts = ["mean"]
    if (table["n"] >= 2).any():
        parts.append("95 % CI where n ≥ 2")
    if seeds:
        parts.append("a dot per run")
    return ", ".join(parts)


def cell_bars(ax, table: pd.DataFrame, labels: list[str], seeds: bool = False) -> None:
    """A compare_cells table as bars from zero, coloured by their mark (MARKS): the mean per cell, its 95 %
    CI (clipped to [0, 1]) where n >= 2, with `seeds` a dot per run, and the n of every bar above it."""
    x = np.arange(len(table))
    mean = np.nan_to_num(table["mean"].to_numpy(float))
    for xi, m, mark in zip(x, mean, table["mark"]):
        fill, hatch, _ = MARKS[mark]
        ax.bar(xi, m, color=fill, hatch=hatch, edgecolor="0.45" if hatch else fill)
    _ci_bars(ax, x, table)
    if seeds:
        for xi, values in zip(x, table["values"]):
            ax.plot(np.full(len(values), xi), values, "k.", markersize=5)
    _n_labels(ax, x, table)
    ax.set_xticks(x, labels, rotation=30 if len(table) > 3 else 0, ha="right" if len(table) > 3 else "center")
    ax.tick_params(axis="x", labelsize="small")
    ax.set_ylim(0, accuracy_top([table]))


def mark_legend(ax, tables: list[pd.DataFrame], reference_label: str = "best mean") -> None:
    """The meaning of each colour drawn, outside the axes (right of `ax`), so it never covers a bar."""
    marks = [m for m in MARKS if any((t["mark"] == m).any() for t in tables)]
    handles = [
        Patch(
            facecolor=MARKS[m][0],
            hatch=MARKS[m][1],
            edgecolor="0.45" if MARKS[m][1] else MARKS[m][0],
            label=reference_label if m == "best" else MARKS[m][2],
        )
        for m in marks
    ]
    ax.legend(handles=handles, fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)


def _tops(table: pd.DataFrame) -> np.ndarray:
    """Per cell, the highest thing drawn: its mean, its CI's top, its highest run."""
    tops = np.nan_to_num(table["mean"].to_numpy(float))
    ci = np.where(table["n"] >= 2, table["ci95_high"].clip(upper=1).to_numpy(float), 0.0)
    seen = [max(v) if len(v) else 0.0 for v in table["values"]] if "values" in table else [0.0] * len(table)
    return np.nanmax(np.vstack([tops, np.nan_to_num(ci), np.asarray(seen, float)]), axis=0)


def accuracy_top(tables: list[pd.DataFrame]) -> float:
    """Room above the highest bar, CI or run for its n label; accuracies live in [0, 1]."""
    highest = max((float(_tops(t).max()) for t in tables if len(t)), default=1.0)
    return min(1.0, highest) + 0.1


def _ci_bars(ax, x: np.ndarray, table: pd.DataFrame) -> None:
    mean = table["mean"].to_numpy(float)
    low = np.where(table["n"] >= 2, mean - table["ci95_low"].clip(lower=0), np.nan)  # accuracies live in [0, 1]
    high = np.where(table["n"] >= 2, table["ci95_high"].clip(upper=1) - mean, np.nan)
    with_ci = ~np.isnan(low)
    if with_ci.any():
        ax.errorbar(x[with_ci], mean[with_ci], yerr=[low[with_ci], high[with_ci]], fmt="none", ecolor="k", capsize=4)


def _n_labels(ax, x: np.ndarray, table: pd.DataFrame) -> None:
    """`n=3` above every cell, over the highest thing drawn for it."""
    for xi, n, top in zip(x, table["n"], _tops(table)):
        ax.annotate(f"n={n}", (xi, top), xytext=(0, 3), textcoords="offset points", ha="center", fontsize="x-small")


def summary_figure(table: pd.DataFrame, keys: list[str], metric: str):
    """The compared metric per cell: bars from zero; points against a log axis when the one swept key is
    a number spanning decades. Colours: MARKS, explained by a legend beside the axes."""
    table = table.iloc[sorted(range(len(table)), key=lambda i: sort_key(tuple(table[keys].iloc[i])))] if keys else table
    table = table.reset_index(drop=True)
    log_axis = len(keys) == 1 and spans_decades(table[keys[0]])
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(table) + 3), 5))
    if log_axis:
        x = pd.to_numeric(table[keys[0]]).to_numpy(float)
        for xi, m, mark in zip(x, table["mean"].to_numpy(float), table["mark"]):
            fill = MARKS[mark][0]
            ax.scatter([xi], [m], color=fill, edgecolors="0.3", s=50, zorder=3)
        _ci_bars(ax, x, table)
        _n_labels(ax, x, table)
        ax.set_xscale("log")
        ax.set_xlabel(keys[0])
        ax.set_ylim(0, accuracy_top([table]))
    else:
        cell_bars(ax, table, list(cell_labels(table, keys)))
    mark_legend(ax, [table])
    ax.set(ylabel=metric, title=f"{metric} per cell: {describe_bars(table, seeds=False)}")
    return fig


def plot_summary(table: pd.DataFrame, keys: list[str], metric: str, path: Path) -> None:
    save(summary_figure(table, keys, metric), path)


def save(fig, path: Path) -> None:
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
    seeds = bool(len(jobs)) and int(jobs.groupby(cell_labels(jobs, keys)).size().max()) > 1
    save(val_acc_figure(cells, order, pruned_points(jobs, curves), seeds), out_dir / "val_acc.png")
    plot_summary(table, keys, metric, out_dir / "summary.png")


def claim_figure(
    values: dict[str, dict[str, list[float]]], label: str, path: Path, title: str, target: float | None = None
) -> None:
    """A decided claim (cifar_sweep/decide.py): per part (a value of its `per` key, or the claim), each
    cell's runs as dots in the order of their seeds, its mean as a bar and its 95 % CI where n >= 2;
    a dotted line at the value a reaches claim names."""
    from cifar_sweep.stats import confidence_interval

    fig, axes = plt.subplots(
        1,
        len(values),
        figsize=(max(4.5, 1.3 * max(len(v) for v in values.values()) + 2.0) * len(values), 3.8),
        squeeze=False,
    )
    for ax, (part, cells) in zip(axes[0], values.items()):
        for x, runs in enumerate(cells.values()):
            runs_array = np.asarray(runs, float)
            if len(runs_array):
                ax.plot(np.full(len(runs_array), x), runs_array, "k.", markersize=6)
                ax.hlines(runs_array.mean(), x - 0.3, x + 0.3, color="C0", linewidth=2)
                low, high = confidence_interval(runs_array)
                if np.isfinite(low):
                    ax.vlines(x, low, high, color="C0", linewidth=1)
            ax.annotate(
                f"n={len(runs_array)}",
                (x, 0),
                xycoords=("data", "axes fraction"),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                fontsize="small",
            )
        if target is not None:
            ax.axhline(target, color="k", linestyle=":", label=f"value {number(target)}")
            ax.legend(fontsize="small")
        ax.set_xticks(range(len(cells)), [str(c) for c in cells])
        ax.set(title=part or None, ylabel=label, xlim=(-0.6, len(cells) - 0.4))
    fig.suptitle(f"{title}\n(dots: one run each; bar: mean; line: 95 % CI)")
    fig.tight_layout()
    save(fig, path)
