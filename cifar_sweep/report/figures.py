"""One figure per claim, built on cifar_sweep.plots (bars, ordering) and the claims' cell tables
(cifar_sweep.stats.compare_cells): curves per epoch (mean over seeds with a min-max band) and the
last epoch's METRIC per cell (plots.cell_bars: mean, 95 % CI where n >= 2, a dot per seed)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.ticker import MaxNLocator

from cifar_sweep import plots, status
from cifar_sweep.claims import Claim
from cifar_sweep.report.claims import METRIC, cells, winner

plt = plots.plt


def completed_curves(jobs: pd.DataFrame, curves: pd.DataFrame, key: str) -> pd.DataFrame:
    """Per-epoch curves of completed runs with each run's cell (its value of `key`)."""
    done = jobs[jobs["status"] == status.COMPLETED]
    return curves.merge(done.assign(cell=done[key].astype(str))[["dir", "cell"]], on="dir")


def mean_band(ax, frame: pd.DataFrame, column: str, label: str, color: str, style: str = "-") -> None:
    stats = frame.groupby("epoch")[column].agg(["mean", "min", "max"])
    ax.plot(stats.index, stats["mean"], style, color=color, label=label)
    ax.fill_between(stats.index, stats["min"], stats["max"], color=color, alpha=0.15)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def several_runs(jobs: pd.DataFrame, key: str) -> bool:
    """Whether some cell ran more than once: only then is there a mean and a band to speak of."""
    return bool(len(jobs)) and key in jobs and int(jobs.groupby(key).size().max()) > 1


def bars(ax, table: pd.DataFrame, key: str) -> None:
    """The cells' METRIC after the last epoch, coloured against the claimed cell (plots.MARKS)."""
    plots.cell_bars(ax, table, [str(v) for v in table[key]], seeds=True)
    ax.set_ylabel(f"{METRIC}: {plots.describe_bars(table, seeds=True)}")


def legend(ax, tables: list[pd.DataFrame], claimed: str | None) -> None:
    plots.mark_legend(ax, tables, f"the study's choice ({claimed})" if claimed else "best mean")


def save(fig, path: Path, title: str) -> None:
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")  # with the legends beside the axes
    plt.close(fig)


def overfitting(jobs: pd.DataFrame, curves: pd.DataFrame, path: Path, key: str) -> None:
    frame = completed_curves(jobs, curves, key)
    nets = sorted(frame["cell"].unique())
    fig, axes = plt.subplots(1, len(nets), figsize=(4.2 * len(nets), 3.6), sharey=True, squeeze=False)
    for ax, net in zip(axes[0], nets):
        part = frame[frame["cell"] == net]
        mean_band(ax, part, "train_loss", "training", "C0")
        mean_band(ax, part, "val_loss", "validation (test set)", "C3", "--")
        ax.set(title=net, xlabel="epoch")
    axes[0][0].set_ylabel("cross-entropy loss")
    axes[0][0].legend()
    band = " (mean over seeds, min-max band)" if several_runs(jobs, key) else ""
    save(fig, path, f"No regularization: training vs validation loss{band}")


def per_part(jobs: pd.DataFrame, curves: pd.DataFrame, path: Path, claim: Claim) -> None:
    """Per value of claim.per (claim 2: per network): the bars, and below them each cell's validation loss
    per epoch (claim 2: a cure shows as a curve that stops rising)."""
    per, key, claimed = str(claim.per), claim.key, claim.cell
    nets = sorted(jobs[per].dropna().unique())
    fig, axes = plt.subplots(2, len(nets), figsize=(4.6 * len(nets), 7.4), squeeze=False)
    tables = {net: cells(jobs[jobs[per] == net], key, claimed) for net in nets}
    top = plots.accuracy_top(list(tables.values()))
    frame = completed_curves(jobs, curves, key).merge(jobs[["dir", per]], on="dir")
    for col, net in enumerate(nets):
        bars(axes[0][col], tables[net], key)
        axes[0][col].set(title=net, ylim=(0, top))
        others = iter(("C0", "C1", "C3", "C4", "C5", "C6"))  # C2 (green) is the claimed cell's
        for cell, part in sorted(frame[frame[per] == net].groupby("cell")):
            mean_band(
                axes[1][col],
                part,
                "val_loss",
                str(cell),
                "C2" if cell == claimed else next(others),
                "-" if cell == claimed else "--",
            )
        axes[1][col].set(xlabel="epoch", ylabel="validation (test-set) loss" if col == 0 else None)
    axes[1][0].legend(fontsize="x-small")
    legend(axes[0][-1], list(tables.values()), claimed)
    save(
        fig,
        path,
        f"{key.replace('_', ' ').capitalize()}: last-epoch {'test accuracy' if METRIC == 'test_acc' else METRIC}"
        "\nand validation loss per epoch",
    )


def comparison(jobs: pd.DataFrame, curves: pd.DataFrame, claim: Claim, path: Path, with_lr: bool = False) -> None:
    """Validation accuracy per epoch (and the learning rate) per cell, and the bars."""
    frame = completed_curves(jobs, curves, claim.key)
    panels = 3 if with_lr else 2
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.8))
    for i, (cell, part) in enumerate(sorted(frame.groupby("cell"), key=lambda kv: plots.sort_key((kv[0],)))):
        mean_band(axes[0], part, "val_acc", str(cell), f"C{i}")
        if with_lr:
            lr = part.groupby("epoch")["lr"].mean()
            axes[1].plot(lr.index, lr.to_numpy(), color=f"C{i}", label=str(cell))
    axes[0].set(
        xlabel="epoch",
        ylabel="validation (test-set) accuracy",
        title="per epoch (mean, min-max band)" if several_runs(jobs, claim.key) else "per epoch (one run per cell)",
    )
    axes[0].legend(fontsize="small")
    if with_lr:
        axes[1].set(xlabel="epoch", ylabel="learning rate (epoch start)", yscale="log", title="schedule")
    table = cells(jobs, claim.key, winner(claim))
    bars(axes[-1], table, claim.key)
    legend(axes[-1], [table], winner(claim))
    axes[-1].set(title="after the last epoch")
    save(fig, path, claim.title)


def final(jobs: pd.DataFrame, curves: pd.DataFrame, path: Path, claim: Claim) -> None:
    frame = completed_curves(jobs, curves, "seed") if "seed" in jobs else curves.assign(cell="0")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for i, (seed, part) in enumerate(frame.groupby("cell")):
        axes[0].plot(part["epoch"], part["train_loss"], color=f"C{i}", label=f"seed {seed} training")
        axes[0].plot(part["epoch"], part["val_loss"], "--", color=f"C{i}", label=f"seed {seed} validation")
        axes[1].plot(part["epoch"], part["val_acc"], color=f"C{i}", label=f"seed {seed}")
    axes[1].axhline(claim.target, color="k", linestyle=":", label=f"the claim: {claim.target:.2%}".replace("%", " %"))
    axes[0].set(xlabel="epoch", ylabel="cross-entropy loss", title="loss (dashed: validation)")
    axes[1].set(xlabel="epoch", ylabel="validation (test-set) accuracy", title="accuracy")
    for ax in axes:
        ax.legend(fontsize="x-small")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    save(fig, path, f"{claim.title or claim.name}")


def draw(claim: Claim, jobs: pd.DataFrame, curves: pd.DataFrame, path: Path) -> None:
    """The claim's figure."""
    if claim.kind == "overfits":
        overfitting(jobs, curves, path, claim.key)
    elif claim.per:
        per_part(jobs, curves, path, claim)
    elif claim.kind == "reaches":
        final(jobs, curves, path, claim)
    else:
        comparison(jobs, curves, claim, path, with_lr=claim.key == "scheduler")
