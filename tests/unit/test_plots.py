"""The grid plots' helpers: cell order, number format, robust y-limits, log axes; and one real figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cifar_sweep.plots import (
    cell_labels,
    ordered_cells,
    plot_summary,
    plt,
    robust_top,
    spans_decades,
    summary_figure,
    val_acc_figure,
)
from cifar_sweep.stats import compare_cells


def test_cells_are_ordered_by_value_and_numbers_shortened():
    jobs = pd.DataFrame({"batch_size": [128, 16, 64, 32], "optimizer.lr": [0.1, 0.001, 1 / 3, 0.01]})
    assert ordered_cells(jobs, ["batch_size"]) == ["batch_size=16", "batch_size=32", "batch_size=64", "batch_size=128"]
    assert list(cell_labels(jobs, ["optimizer.lr"])) == [
        "optimizer.lr=0.1",
        "optimizer.lr=0.001",
        "optimizer.lr=0.333",
        "optimizer.lr=0.01",
    ]
    assert ordered_cells(jobs, ["optimizer.lr"])[0] == "optimizer.lr=0.001"


def test_a_diverged_cell_does_not_set_the_y_axis():
    cells = [
        np.array([2.3, 1.5, 1.2]),
        np.array([2.2, 1.4, 1.0]),
        np.array([2.4, 1.9, 1.7]),
        np.array([2.3, 500.0, 9e4]),
    ]  # the last one diverged
    top, off = robust_top(cells)
    assert 2.4 < top < 10 and off == 2


def test_log_axis_only_for_positive_numbers_spanning_decades():
    assert spans_decades(pd.Series([1e-4, 1e-3, 1e-2]))
    assert not spans_decades(pd.Series([16, 32, 64, 128]))
    assert not spans_decades(pd.Series(["adam", "sgd"]))


def test_summary_plot_draws_no_interval_for_a_single_run(tmp_path, monkeypatch):
    import matplotlib.axes

    drawn = []
    original = matplotlib.axes.Axes.errorbar
    monkeypatch.setattr(
        matplotlib.axes.Axes, "errorbar", lambda self, x, y, **kw: drawn.append(len(x)) or original(self, x, y, **kw)
    )
    table = pd.DataFrame(
        {
            "optimizer.lr": [1e-4, 1e-3, 1e-2],
            "n": [3, 1, 3],
            "mean": [0.5, 0.6, 0.7],
            "ci95_low": [0.45, np.nan, 0.66],
            "ci95_high": [0.55, np.nan, 0.74],
            "mark": ["", "?", "best"],
        }
    )
    plot_summary(table, ["optimizer.lr"], "test_acc", tmp_path / "summary.png")
    assert drawn == [2]  # error bars for the two cells with n >= 2, none for the single run
    assert (tmp_path / "summary.png").stat().st_size > 10_000


def cell_table(cells: int, seeds: int = 3) -> pd.DataFrame:
    """A compare_cells table of `cells` optimizers' accuracies near 0.15-0.6, every kind of mark."""
    rng = np.random.default_rng(cells)
    jobs = pd.DataFrame(
        [
            {"optimizer": f"opt{c:02d}", "seed": s, "status": "completed", "test_acc": accuracy + rng.normal(0, 0.01)}
            for c, accuracy in enumerate(0.15 + 0.04 * np.arange(cells))
            for s in range(1 if c == 0 else seeds)  # the first cell ran once: too few runs to tell
        ]
    )
    return compare_cells(jobs, ["optimizer"], "test_acc")


@pytest.mark.parametrize("cells", [3, 12])
def test_the_summary_chart_is_honest_at_3_and_12_cells(cells):
    """Checked on the figure object: bars from zero, an n above every bar, a legend beside the axes that
    explains each colour drawn and no other, one meaning per colour, a title promising what is drawn."""
    table = cell_table(cells)
    fig = summary_figure(table, ["optimizer"], "test_acc")
    ax = fig.axes[0]
    assert ax.get_ylim()[0] == 0 and ax.get_ylim()[1] > table["ci95_high"].max()
    n_labels = [t for t in ax.texts if t.get_text().startswith("n=")]
    assert len(n_labels) == cells and {t.get_text() for t in n_labels} == {"n=1", "n=3"}
    fig.canvas.draw()
    legend = ax.get_legend()
    assert not legend.get_window_extent().overlaps(ax.get_window_extent())  # beside the axes, over no bar
    labels = [t.get_text() for t in legend.get_texts()]
    marks = set(table["mark"])
    assert len(labels) == len(marks) and ("too few runs to tell (n < 2)" in labels) == ("?" in marks)
    colours = {}  # fill + hatch -> the marks drawn with it: one meaning per colour
    for patch, mark in zip(ax.patches, table.sort_values("optimizer")["mark"]):
        colours.setdefault((patch.get_facecolor(), patch.get_hatch()), set()).add(mark)
    assert all(len(m) == 1 for m in colours.values())
    assert ax.get_title() == "test_acc per cell: mean, 95 % CI where n ≥ 2"
    plt.close(fig)


def test_a_one_seed_chart_promises_no_interval_and_no_band():
    table = cell_table(3, seeds=1)
    fig = summary_figure(table, ["optimizer"], "test_acc")
    assert fig.axes[0].get_title() == "test_acc per cell: mean" and set(table["mark"]) == {"best", "?"}
    plt.close(fig)
    cells = pd.DataFrame({"cell": "a", "epoch": [1, 2], "val_acc": [0.1, 0.2], "val_acc_min": 0.1, "val_acc_max": 0.2})
    fig = val_acc_figure(cells, ["a"], pd.DataFrame(columns=["epoch", "val_acc"]), seeds=False)
    assert "band" not in fig.axes[0].get_title() and not fig.axes[0].collections  # no band drawn
    plt.close(fig)
