"""Statistics of compared cells on a table with known values."""

import math

import numpy as np
import pandas as pd
import pytest

from cifar_sweep.stats import compare_cells, confidence_interval, difference_interval, welch_p


def test_confidence_interval_by_hand():
    low, high = confidence_interval(np.array([1.0, 2.0, 3.0]))
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, df=2) * sd / sqrt(n), sd = 1
    assert low == pytest.approx(2 - half) and high == pytest.approx(2 + half)
    assert all(math.isnan(v) for v in confidence_interval(np.array([0.5])))


def test_welch_p_and_difference_interval_match_known_values():
    # by hand: t = 1.8 / sqrt(0.01/3 + 0.04/3) = 13.9427, df = (0.05/3)^2 / ((0.01/3)^2/2 + (0.04/3)^2/2)
    # = 2.9412, two-sided p = 2 * P(T_df > t) = 0.000885; interval 1.8 +- t(0.975, df) * sqrt(0.05/3)
    a, b = np.array([2.1, 2.2, 2.3]), np.array([0.2, 0.4, 0.6])
    assert welch_p(a, b) == pytest.approx(0.00088515, rel=1e-4)
    low, high = difference_interval(a, b)
    assert low == pytest.approx(1.38446, rel=1e-5) and high == pytest.approx(2.21554, rel=1e-5)
    assert all(math.isnan(v) for v in difference_interval(np.array([1.0]), b))
    assert welch_p(np.array([1.0, 1.0]), np.array([1.0, 1.0])) == 1.0
    assert math.isnan(welch_p(np.array([1.0]), np.array([1.0, 2.0])))


def test_compare_cells_marks_best_and_indistinguishable():
    jobs = pd.DataFrame(
        {
            "optimizer": ["adam"] * 3 + ["sgd"] * 3 + ["rmsprop"] * 3 + ["adamw"],
            "seed": [0, 1, 2] * 3 + [0],
            "status": ["completed"] * 9 + ["failed"],
            "best_val_acc": [0.90, 0.91, 0.92, 0.50, 0.51, 0.52, 0.905, 0.915, 0.89, None],
            "test_acc": [0.8] * 9 + [None],
        }
    )
    table = compare_cells(jobs, ["optimizer"], "best_val_acc").set_index("optimizer")
    assert table.loc["adam", "mark"] == "best" and table.loc["adam", "n"] == 3
    assert table.loc["adam", "mean"] == pytest.approx(0.91) and table.loc["adam", "std"] == pytest.approx(0.01)
    assert table.loc["rmsprop", "mark"] == "≈ best" and table.loc["rmsprop", "p_vs_best"] > 0.05
    assert table.loc["sgd", "mark"] == "" and table.loc["sgd", "p_vs_best"] < 0.001
    assert table.loc["adamw", "n"] == 0 and table.loc["adamw", "not_completed"] == 1
    assert table.loc["adamw", "mark"] == "?"
    assert table.loc["adam", "mean_test_acc"] == pytest.approx(0.8)  # beside another metric
    by_test_acc = compare_cells(jobs, ["optimizer"], "test_acc")
    assert "mean_test_acc" not in by_test_acc and "test_acc" not in by_test_acc  # no column twice


def test_compare_cells_without_keys_is_one_cell():
    jobs = pd.DataFrame(
        {"seed": [0, 1], "status": ["completed"] * 2, "best_val_acc": [0.5, 0.7], "test_acc": [0.5, 0.7]}
    )
    table = compare_cells(jobs, [], "best_val_acc")
    assert len(table) == 1 and table.iloc[0]["n"] == 2 and table.iloc[0]["mean"] == pytest.approx(0.6)
