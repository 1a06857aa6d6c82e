"""The grid plots' helpers: cell order, number format, robust y-limits, log axes; and one real figure."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cifar_sweep.plots import cell_labels, ordered_cells, plot_summary, robust_top, spans_decades


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
