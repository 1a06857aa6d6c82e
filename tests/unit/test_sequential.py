"""cifar_sweep/sequential.py: boundaries that spend alpha as planned over the looks, comparisons decided
either way, seeds added only where a comparison is open, and wrong verdicts at or under alpha on a fake
objective (the full table: bench/claims_simulation.py, docs/sequential.md)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from cifar_sweep.sequential import (
    FAILS,
    HOLDS,
    Claim,
    Looks,
    boundaries,
    decide,
    fake_draw,
    open_cells,
    run_claim,
    spending,
)

LOOKS = Looks(min_seeds=3, max_seeds=12)


def test_looks_run_from_min_to_max_seeds_ending_at_max():
    assert LOOKS.seeds == tuple(range(3, 13))
    assert Looks(3, 10, step=3).seeds == (3, 6, 9, 10)


@pytest.mark.parametrize("samples,df", [(1, 4), (2, 8)])
def test_one_look_is_the_fixed_sample_t_test(samples, df):
    assert boundaries((5,), 0.05, samples)[0] == pytest.approx(stats.t.ppf(0.95, df), abs=0.02)


@pytest.mark.parametrize("samples", [1, 2])
def test_null_paths_cross_first_at_each_look_with_the_alpha_spent_there(samples):
    """Fresh null paths, not the ones the boundaries came from: the share that crosses first at each look
    is what the spending function spent there, and all looks together spend alpha."""
    c = np.array(boundaries(LOOKS.seeds, 0.05, samples))
    rng = np.random.default_rng(1)
    paths = 100_000
    draws = rng.standard_normal((samples, paths, LOOKS.seeds[-1]))
    first = np.full(paths, -1)
    for k, n in enumerate(LOOKS.seeds):
        x = draws[:, :, :n]
        shift = x[0].mean(1) - (x[1].mean(1) if samples == 2 else 0.0)
        crossed = shift / np.sqrt(x.var(axis=2, ddof=1).sum(0) / n) >= c[k]
        first[(first < 0) & crossed] = k
    spent = np.diff(spending(0.05, np.asarray(LOOKS.seeds, float) / 12), prepend=0.0)
    observed = np.array([(first == k).mean() for k in range(len(LOOKS.seeds))])
    assert observed == pytest.approx(spent, abs=0.0025)
    assert (first >= 0).mean() == pytest.approx(0.05, abs=0.003)


def values(**cells: list[float]) -> dict[str, np.ndarray]:
    return {cell: np.array(v) for cell, v in cells.items()}


def test_a_comparison_is_decided_either_way_or_left_open():
    claim = Claim("better", "x", ("y",))
    ahead = values(x=[1.0, 1.1, 0.9], y=[0.0, 0.1, -0.1])
    assert decide(claim, ("x", "y"), ahead, 0, LOOKS) == HOLDS
    assert decide(claim, ("x", "y"), values(x=ahead["y"], y=ahead["x"]), 0, LOOKS) == FAILS
    assert decide(claim, ("x", "y"), values(x=[0.0, 0.3, -0.2], y=[0.1, -0.1, 0.05]), 0, LOOKS) is None
    by_more = Claim("better", "x", ("y",), margin=2.0)  # ahead by 1, not by 2: shown not to hold
    assert decide(by_more, ("x", "y"), ahead, 0, LOOKS) == FAILS
    same = Claim("equivalent", "x", ("y",), margin=0.5)
    assert decide(same, ("x", "y"), values(x=[0.0, 0.01, -0.01], y=[0.01, 0.0, -0.01]), 0, LOOKS) == HOLDS
    assert decide(same, ("x", "y"), ahead, 0, LOOKS) == FAILS


def test_only_the_cells_of_open_comparisons_take_more_seeds():
    claim = Claim("winner", "x", ("y", "z"))
    assert open_cells(claim, {}) == {"x", "y", "z"}
    assert open_cells(claim, {("x", "y"): HOLDS}) == {"x", "z"}
    assert open_cells(claim, {("x", "y"): FAILS}) == set()  # the claim is decided: nothing grows
    assert open_cells(claim, {("x", "y"): HOLDS, ("x", "z"): HOLDS}) == set()


def test_a_clear_difference_ends_at_the_first_look_and_a_winner_stops_feeding_beaten_cells():
    rng = np.random.default_rng(0)
    means = {"x": 10.0, "y": 0.0, "z": 10.0}  # x far ahead of y, tied with z
    verdict, spent = run_claim(Claim("better", "x", ("y",)), LOOKS, fake_draw(means, rng))
    assert verdict == HOLDS and spent == {"x": 3, "y": 3}
    verdict, spent = run_claim(Claim("winner", "x", ("y", "z")), LOOKS, fake_draw(means, rng))
    assert verdict != HOLDS and spent["y"] == 3 and spent["x"] == spent["z"] > 3  # y beaten at once; x-z open


def test_a_claim_at_its_boundary_is_judged_wrongly_at_most_alpha_of_the_time():
    """At the boundary (x and y equal) either verdict is wrong; 2,000 seeded claims, each rate within
    its simulation error of alpha (0.05 + 3 standard errors)."""
    rng = np.random.default_rng(2)
    claim = Claim("better", "x", ("y",))
    verdicts = [run_claim(claim, LOOKS, fake_draw({"x": 0.0, "y": 0.0}, rng))[0] for _ in range(2000)]
    limit = 0.05 + 3 * (0.05 * 0.95 / 2000) ** 0.5
    assert sum(v == HOLDS for v in verdicts) / 2000 <= limit
    assert sum(v == FAILS for v in verdicts) / 2000 <= limit
    assert sum(v is None for v in verdicts) / 2000 > 0.8  # the rest stays open: no verdict is owed
