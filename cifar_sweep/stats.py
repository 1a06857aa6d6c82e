"""Statistics over seeds: is a difference between two cells of a comparison real?"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from cifar_sweep import status

ALPHA = 0.05


def confidence_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Two-sided t-interval for the mean; NaN when fewer than two values."""
    n = len(values)
    if n < 2:
        return math.nan, math.nan
    half = stats.t.ppf((1 + level) / 2, n - 1) * values.std(ddof=1) / math.sqrt(n)
    return values.mean() - half, values.mean() + half


def difference_interval(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Welch's interval for mean(a) - mean(b) (Welch-Satterthwaite degrees of freedom); NaN when
    either side has fewer than two values."""
    if len(a) < 2 or len(b) < 2:
        return math.nan, math.nan
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    diff = a.mean() - b.mean()
    if va + vb == 0:
        return diff, diff
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = stats.t.ppf((1 + level) / 2, df) * math.sqrt(va + vb)
    return diff - half, diff + half


def welch_p(a: np.ndarray, b: np.ndarray) -> float:
    """Welch's t-test p-value for equal means; NaN when either side has fewer than two values."""
    if len(a) < 2 or len(b) < 2:
        return math.nan
    if a.std() == 0 and b.std() == 0:
        return 1.0 if a.mean() == b.mean() else 0.0
    with warnings.catch_warnings():  # nearly equal samples: scipy warns of precision loss, p is still ~1
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def compare_cells(jobs: pd.DataFrame, keys: list[str], metric: str, reference: tuple | None = None) -> pd.DataFrame:
    """One row per cell (combination of `keys`): n completed runs, runs not completed, mean, std,
    95 % CI of `metric`, mean test accuracy (`mean_test_acc`, when `metric` is another), `values` (the
    metric of each completed run), Welch's p
    against the reference cell (`reference`: its values of `keys`; default: the best mean) and a mark:
    `best` (the reference), `≈ best` (p >= ALPHA), `?` (too few runs to tell) or empty (worse)."""
    jobs = jobs.assign(_all="all") if not keys else jobs
    keys = keys or ["_all"]
    rows = []
    for cell, group in jobs.groupby(keys, dropna=False, sort=True):
        done = group[group["status"] == status.COMPLETED]
        values = pd.to_numeric(done[metric], errors="coerce").dropna().to_numpy(float)
        low, high = confidence_interval(values)
        rows.append(
            {
                **dict(zip(keys, cell if isinstance(cell, tuple) else (cell,))),
                "n": len(values),
                "not_completed": len(group) - len(done),
                "mean": values.mean() if len(values) else math.nan,
                "std": values.std(ddof=1) if len(values) > 1 else math.nan,
                "ci95_low": low,
                "ci95_high": high,
                **(
                    {"mean_test_acc": pd.to_numeric(done["test_acc"], errors="coerce").mean()}
                    if metric != "test_acc"
                    else {}
                ),
                "values": values,
            }
        )
    table = pd.DataFrame(rows)
    ref = _reference_row(table, keys, reference)
    p_values, marks = [], []
    for i, row in table.iterrows():
        p = math.nan if ref is None or i == ref else welch_p(table.at[ref, "values"], row["values"])
        p_values.append(p)
        marks.append("best" if i == ref else "?" if math.isnan(p) else "≈ best" if p >= ALPHA else "")
    table = table.assign(p_vs_best=p_values, mark=marks)
    return table.drop(columns="_all") if "_all" in table else table


def _reference_row(table: pd.DataFrame, keys: list[str], reference: tuple | None):
    if reference is None:
        return table["mean"].idxmax() if table["mean"].notna().any() else None
    match = table[
        [tuple(str(v) for v in row) == tuple(map(str, reference)) for row in table[keys].itertuples(index=False)]
    ]
    return match.index[0] if len(match) else None
