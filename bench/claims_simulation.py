"""Benchmark 12: sequential verdicts (cifar_sweep/sequential.py) on a fake objective, without training.

Each cell's runs are draws from a normal distribution with a known mean and a standard deviation of 1
(an effect of 1.5 is 1.5 seed-to-seed standard deviations). For each kind of claim, CLAIMS simulated
claims at the boundary of the claim (where a wrong verdict is likeliest, both ways: "holds" when it
does not, "does not hold" when it does) and CLAIMS where it clearly holds. Looks after 3, 4, ..., 12
seeds per cell, alpha 0.05.

  wrong verdicts     at the boundary: the share of claims judged either way wrongly; each must stay
                     at or under alpha (the boundary is the supremum of both error rates), up to the
                     simulation's own error (printed: the range a rate of exactly alpha reads in 95 %)
  power, seeds       where it holds: the share judged "holds", and the mean seeds per cell spent
  fixed n            the fewest seeds per cell a single test at alpha (no looks) needs for that power
                     (by simulation, the same draws' distribution), and the saving: fixed n / seeds

    python bench/claims_simulation.py [CLAIMS [SEED]]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from cifar_sweep.sequential import FAILS, HOLDS, Claim, Looks, comparisons, decide, fake_draw, judge, run_claim

from _common import result, table

LOOKS = Looks(min_seeds=3, max_seeds=12)
ALPHA = 0.05
EFFECT = 1.5  # where a claim clearly holds, in seed standard deviations

# name -> (the claim, the cells' means at its boundary, the means where it holds)
SCENARIOS = {
    "better": (Claim("better", "x", ("y",)), {"x": 0.0, "y": 0.0}, {"x": EFFECT, "y": 0.0}),
    "better, smaller effect": (Claim("better", "x", ("y",)), {"x": 0.0, "y": 0.0}, {"x": 1.0, "y": 0.0}),
    "better by d=0.5": (
        Claim("better", "x", ("y",), margin=0.5),
        {"x": 0.5, "y": 0.0},
        {"x": 0.5 + EFFECT, "y": 0.0},
    ),
    "winner of 3": (
        Claim("winner", "x", ("y", "z")),
        {"x": 0.0, "y": 0.0, "z": -EFFECT},  # tied with one, ahead of the other
        {"x": EFFECT, "y": 0.0, "z": 0.0},
    ),
    "equivalent, d=1": (Claim("equivalent", "x", ("y",), margin=1.0), {"x": 1.0, "y": 0.0}, {"x": 0.0, "y": 0.0}),
    "equivalent, d=1.5": (Claim("equivalent", "x", ("y",), margin=1.5), {"x": 1.5, "y": 0.0}, {"x": 0.0, "y": 0.0}),
    "reaches v=0": (Claim("reaches", "x", (), margin=0.0), {"x": 0.0}, {"x": EFFECT}),
    "overfits (2 cells)": (
        Claim("overfits", "x", ("y",), margin=0.0),  # each run's rise over the threshold, both cells
        {"x": 0.0, "y": EFFECT},
        {"x": EFFECT, "y": EFFECT},
    ),
}


def fixed_power(claim: Claim, means: dict[str, float], n: int, claims: int, rng: np.random.Generator) -> float:
    """The share of single tests at ALPHA on n seeds per cell that find the claim holds."""
    held = 0
    for _ in range(claims):
        values = {cell: rng.normal(mean, 1.0, n) for cell, mean in means.items()}
        verdicts = {pair: decide(claim, pair, values, 0, Looks(n, n)) for pair in comparisons(claim)}
        held += judge(verdicts) == HOLDS
    return held / claims


def main(claims: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    rows = []
    for name, (claim, boundary, holds) in SCENARIOS.items():
        outcomes = [run_claim(claim, LOOKS, fake_draw(boundary, rng))[0] for _ in range(claims)]
        wrong_holds = sum(v == HOLDS for v in outcomes) / claims
        wrong_fails = sum(v == FAILS for v in outcomes) / claims
        runs = [run_claim(claim, LOOKS, fake_draw(holds, rng)) for _ in range(claims)]
        power = sum(v == HOLDS for v, _ in runs) / claims
        seeds = float(np.mean([sum(spent.values()) / len(spent) for _, spent in runs]))
        fixed = next(
            (n for n in range(2, 61) if fixed_power(claim, holds, n, claims, rng) >= power),
            60,
        )
        rows.append((name, wrong_holds, wrong_fails, power, seeds, fixed, fixed / seeds))
        key = "_".join(w for w in name.replace(",", "").replace("=", "").replace("(", "").replace(")", "").split())
        result(f"claims_{key}_wrong_holds_at_boundary", wrong_holds, goal=f"<= {ALPHA}")
        result(f"claims_{key}_wrong_fails_at_boundary", wrong_fails, goal=f"<= {ALPHA}")
        result(f"claims_{key}_power", power)
        result(f"claims_{key}_seeds_per_cell", seeds)
        result(f"claims_{key}_fixed_n_same_power", fixed)
    print(
        f"{claims} simulated claims per row and truth, looks after {LOOKS.seeds[0]}..{LOOKS.seeds[-1]} seeds, "
        f"alpha {ALPHA}, effect {EFFECT} sd where the claim holds, rng seed {seed}; "
        f"{time.perf_counter() - start:.0f} s"
    )
    margin = 1.96 * (ALPHA * (1 - ALPHA) / claims) ** 0.5  # a rate of exactly alpha lands within this 95 % of the time
    low, high = ALPHA - margin, ALPHA + margin
    print(f"a wrong-verdict rate of exactly {ALPHA} reads {low:.3f}-{high:.3f} in 95 % of such simulations")
    table(
        [(n, f"{h:.3f}", f"{f:.3f}", f"{p:.3f}", f"{s:.2f}", fx, f"{r:.2f}x") for n, h, f, p, s, fx, r in rows],
        (
            "claim",
            "holds wrongly",
            "fails wrongly",
            "power",
            "seeds/cell",
            "fixed n, same power",
            "saved",
        ),
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000, int(sys.argv[2]) if len(sys.argv) > 2 else 0)
