"""Verdicts that stay valid when a claim is judged again after every batch of seeds.

A claim is looked at after n_1 < n_2 < ... < n_K seeds per cell (`Looks`: min_seeds, then `step` more at
a time, up to max_seeds). Its alpha is spent over the looks by the Lan-DeMets spending function of
Pocock's type, f(t) = alpha * ln(1 + (e - 1) t) at information fraction t = n_k / n_K, which spends more
early than O'Brien-Fleming's and so lets a clear difference end at the first looks. Look k's boundary
c_k is the t-value that the claim's statistic crosses first at look k with exactly the probability f
spent there. Under the null hypothesis the sequence of t-statistics over the looks does not depend on
the runs' spread (one sample, or two of equal size and spread), so the boundaries are computed once per
design from seeded simulated paths (`boundaries`), for the t-statistics themselves: no normal
approximation at 3 seeds. bench/claims_simulation.py checks the wrong-verdict rates against alpha.

A claim compares cells; each comparison ("X beats Y by more than d", "X's mean is at least v") is
decided, one way or the other, or still open. A comparison that is decided keeps its verdict; its
cells need more seeds only for comparisons still open (`open_cells`). A cell in an open comparison
grows to the planned n_k of every look, so each test is the planned test at its look.

Kinds (what `judge` returns "holds" or "does not hold" for; None: still open):

  better       mean(X) - mean(Y) > d                                  one comparison
  winner       X better than each other cell (by d)                   holds if all hold (an intersection-
               union test needs no correction); does not hold if any one is shown not to, each such
               test at alpha / (cells - 1)
  equivalent   |mean(X) - mean(Y)| < d                                holds by two one-sided tests (TOST),
               each at alpha; does not hold if either side is shown beyond d, each at alpha / 2
  reaches      mean(X) >= v for each listed cell                      one-sample tests; all must hold, and
               any one shown below v fails it (each such test at alpha / cells)
  overfits     the same as reaches, on each run's overfitting rise (the study's curve rule), v its threshold
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

HOLDS, FAILS = "holds", "does not hold"


@dataclass(frozen=True)
class Looks:
    """When a claim is judged: after min_seeds per cell, then every `step` more, up to max_seeds."""

    min_seeds: int
    max_seeds: int
    step: int = 1

    @property
    def seeds(self) -> tuple[int, ...]:
        planned = tuple(range(self.min_seeds, self.max_seeds + 1, self.step))
        return planned if planned[-1] == self.max_seeds else (*planned, self.max_seeds)


def spending(alpha: float, t: np.ndarray) -> np.ndarray:
    """The alpha spent by information fraction t (Lan-DeMets, Pocock type)."""
    return alpha * np.log1p((math.e - 1) * t)


PATHS = 200_000  # simulated null paths per design: the boundaries' spent alpha is exact to ~2e-4


@functools.cache
def boundaries(seeds: tuple[int, ...], alpha: float, samples: int) -> tuple[float, ...]:
    """c_k for each look: the t-value that a null path (one sample, or two of equal size: `samples`)
    crosses first at look k with probability spending(alpha) spent there. Seeded: the same every time."""
    rng = np.random.default_rng(20261207)
    draws = rng.standard_normal((samples, PATHS, seeds[-1]))
    t = np.asarray(seeds, float) / seeds[-1]
    spent = np.diff(spending(alpha, t), prepend=0.0)
    alive = np.ones(PATHS, bool)
    bounds = []
    for n, share in zip(seeds, spent):
        x = draws[:, :, :n]
        shift = x[0].mean(1) - (x[1].mean(1) if samples == 2 else 0.0)
        statistic = shift / np.sqrt(x.var(axis=2, ddof=1).sum(0) / n)
        crossing = max(1, round(share * PATHS))  # the `crossing` largest statistics of the alive paths
        c = float(np.sort(statistic[alive])[-crossing])
        bounds.append(c)
        alive &= statistic < c
    return tuple(bounds)


@dataclass(frozen=True)
class Claim:
    """What is claimed (module docstring): its kind, the cell that should win or reach, the cells it is
    compared with, the margin d (better, winner, equivalent) or the value v (reaches, overfits)."""

    kind: str
    cell: str
    others: tuple[str, ...] = ()
    margin: float = 0.0  # d, or v
    alpha: float = 0.05
    split: int = 1  # judged as one of this many parts that must all hold (a claim `per` value): the
    # fails side of each part is corrected for them, as `winner`'s is for its cells


def t_value(x: np.ndarray, y: np.ndarray | None, shift: float) -> float:
    """(mean(x) - mean(y) - shift) / its standard error, or (mean(x) - shift) / its standard error when y
    is None; NaN with fewer than two values a side."""
    if len(x) < 2 or (y is not None and len(y) < 2):
        return math.nan
    estimate = x.mean() - (y.mean() if y is not None else 0.0) - shift
    se = math.sqrt(x.var(ddof=1) / len(x) + (y.var(ddof=1) / len(y) if y is not None else 0.0))
    return estimate / se if se > 0 else math.copysign(math.inf, estimate) if estimate else 0.0


def comparisons(claim: Claim) -> list[tuple[str, str | None]]:
    """The pairs a claim's verdict rests on: (cell, other) or (cell, None) for a one-sample test."""
    if claim.kind in ("better", "winner", "equivalent"):
        return [(claim.cell, other) for other in claim.others]
    return [(cell, None) for cell in (claim.cell, *claim.others)]


def decide(
    claim: Claim, pair: tuple[str, str | None], values: Mapping[str, np.ndarray], look: int, looks: Looks
) -> str | None:
    """One comparison of the claim at look `look` (0-based) of `looks`: HOLDS, FAILS or None (open).
    With a single look, (0, Looks(n, n)), it is the fixed-sample test at alpha."""
    cell, other = pair
    x, y = values[cell], (values[other] if other is not None else None)
    d = claim.margin
    c = lambda alpha: boundaries(looks.seeds, alpha, 1 if y is None else 2)[look]  # noqa: E731
    if claim.kind == "equivalent":  # TOST: above -d and below d, each at alpha
        if t_value(x, y, -d) > c(claim.alpha) and t_value(x, y, d) < -c(claim.alpha):
            return HOLDS
        beyond = c(claim.alpha / 2 / claim.split)  # shown beyond d on either side
        return FAILS if t_value(x, y, d) > beyond or t_value(x, y, -d) < -beyond else None
    if t_value(x, y, d) > c(claim.alpha):  # all comparisons must hold: each at alpha
        return HOLDS
    failing = c(claim.alpha / len(comparisons(claim)) / claim.split)  # any one: corrected
    return FAILS if t_value(x, y, d) < -failing else None


def judge(verdicts: Mapping[tuple[str, str | None], str | None]) -> str | None:
    """The claim's verdict from every comparison's (None: open): FAILS as soon as one fails, HOLDS
    once all hold."""
    if FAILS in verdicts.values():
        return FAILS
    return HOLDS if verdicts and all(v == HOLDS for v in verdicts.values()) else None


def open_cells(claim: Claim, decided: Mapping[tuple[str, str | None], str]) -> set[str]:
    """The cells that take more seeds: those of a comparison still open, while the claim is open."""
    if judge({pair: decided.get(pair) for pair in comparisons(claim)}) is not None:
        return set()
    return {c for pair in comparisons(claim) if pair not in decided for c in pair if c is not None}


def claim_cells(claim: Claim) -> list[str]:
    """The claim's cells, in its order (the cell, then the others)."""
    return list(dict.fromkeys(c for pair in comparisons(claim) for c in pair if c is not None))


Draw = Callable[[dict[str, int]], Mapping[str, np.ndarray]]  # {cell: n} -> the first n values of each


def run_claim(claim: Claim, looks: Looks, draw: Draw) -> tuple[str | None, dict[str, int]]:
    """Judge `claim` look by look. draw({cell: n}) returns the first n values of each cell asked for
    (those it returned before, and new ones); a cell not asked for keeps its values. Returns (verdict, or
    None if still open after max_seeds, seeds spent per cell). The decide command's draw runs the seeds
    (cifar_sweep/decide.py); the simulation's is a fake objective."""
    cells = claim_cells(claim)
    values = {c: np.empty(0) for c in cells}
    decided: dict[tuple[str, str | None], str] = {}
    for look, n in enumerate(looks.seeds):
        grow = set(cells) if look == 0 else open_cells(claim, decided)
        values.update(draw({c: n for c in cells if c in grow}))  # the claim's order, not a set's
        for pair in comparisons(claim):
            if pair not in decided and (verdict := decide(claim, pair, values, look, looks)) is not None:
                decided[pair] = verdict
        if (verdict := judge({pair: decided.get(pair) for pair in comparisons(claim)})) is not None:
            return verdict, {c: len(v) for c, v in values.items()}
    return None, {c: len(v) for c, v in values.items()}


def fake_draw(
    means: Mapping[str, float], rng: np.random.Generator
) -> Callable[[dict[str, int]], dict[str, np.ndarray]]:
    """A draw for run_claim without training: each cell's values are normal(mean, 1), drawn in the order
    asked (the same draws every run for one rng seed)."""
    drawn: dict[str, np.ndarray] = {}

    def draw(wanted: dict[str, int]) -> dict[str, np.ndarray]:
        for cell, n in wanted.items():
            have = drawn.get(cell, np.empty(0))
            drawn[cell] = np.concatenate([have, rng.normal(means[cell], 1.0, n - len(have))])
        return {cell: drawn[cell] for cell in wanted}

    return draw
