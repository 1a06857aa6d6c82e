"""The study's six claims (cifar_sweep/conf/claims/, one file each), the scales their grids run at, and
the rule that judges each kind of claim at a fixed number of seeds.

Each judge takes the numbers of a grid (per cell, the METRIC of its completed seeds; per run, its
curves) and returns a `Verdict`; each rule says in words what its judge does.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cifar_sweep import claims, status
from cifar_sweep.claims import Claim
from cifar_sweep.stats import ALPHA, compare_cells, confidence_interval, welch_p

HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
METRIC = "test_acc"  # what the study compared: the final model's test accuracy
STUDY = ("overfitting", "regularization", "optimizers", "schedulers", "batch_sizes", "study_final")  # its files


@functools.cache
def study_claims() -> tuple[Claim, ...]:
    """The study's claims, read from their files (claims=overfitting, ...)."""
    return tuple(claims.load(list(STUDY)))


@functools.cache
def study_epochs(name: str) -> int:
    """The epochs of the study claim `name`'s grid as its experiment sets them: the study's."""
    return int(claims.grid_config(next(c for c in study_claims() if c.name == name)).trainer.epochs)


def winner(claim: Claim) -> str | None:
    """The cell a winner claim says is best (the cell the study adopted)."""
    return claim.cell if claim.kind == "winner" else None


# Each scale: for the grids the study ran 20 and 50 epochs, the epochs and training images here.
# cpu fits the six grids x 3 seeds in about an hour of 2 CPU cores, with width 1/8 networks.
SCALES: dict[str, dict] = {
    "gpu": {"overrides": [], 20: (20, None), 50: (50, None)},
    "cpu": {"overrides": ["model.width=0.125", "trainer.progress_bar=false"], 20: (12, 2500), 50: (10, 5000)},
}
STEP_GRIDS = ("overfitting", "regularization")  # grids whose every run uses StepLR(10, 0.1)


def grid_commands(claim: Claim, scale: str) -> list[tuple[str, list[str]]]:
    """(sub-folder, overrides) of each invocation that makes one grid at `scale`: the claim's grid over its
    cells. Epochs shrink with the scale, and StepLR's step (10 of the study's 20 or 50 epochs) shrinks
    with them, so the schedule keeps its shape; in the schedulers grid only the step cell has a step, so
    that cell runs as its own invocation (collect reads both)."""
    at_study = study_epochs(claim.name)
    epochs, images = SCALES[scale][at_study]
    common = [
        *claim.grid,
        *SCALES[scale]["overrides"],
        f"trainer.epochs={epochs}",
        f"data.train_subset={'null' if images is None else images}",
    ]
    step = f"scheduler.step_size={max(1, round(10 * epochs / at_study))}"
    every_cell = claim.override(claim.cells)
    if claim.name in STEP_GRIDS:
        return [("", [*common, every_cell, step])]
    if claim.name == "schedulers" and epochs != at_study:
        stepless = claim.override([c for c in claim.cells if c != "step"])
        return [("", [*common, stepless]), ("step", [*common, claim.override(["step"]), step])]
    return [("", [*common, every_cell])]


# ---------------------------------------------------------------- rules and judges


@dataclass
class Verdict:
    verdict: str
    reason: str
    details: list[str] = field(default_factory=list)


def winner_rule(alpha: float = ALPHA) -> str:
    return (
        f"**Rule.** The claimed winner must have the highest mean {METRIC} and beat every other cell "
        f"by Welch's t-test, p < {alpha}: then the claim *holds*. If another cell is better with "
        f"p < {alpha}, it *does not hold*. Otherwise (a tie within noise, or fewer than 2 completed "
        "seeds in a cell) it is *inconclusive*."
    )


def overfit_rule(rise: float) -> str:
    return (
        f"**Rule.** A network overfits in a seed when its validation loss at the last epoch is more than "
        f"{rise:.0%} above its minimum while its training loss at the last epoch is below the "
        "training loss at that minimum. The claim *holds* when every network overfits in every seed, "
        "*does not hold* when some network overfits in no seed, and is *inconclusive* otherwise."
    )


def reaches_rule(claim: Claim) -> str:
    where = f"runs with {settings(claim.only_at)}" if claim.only_at else "any runs"
    return (
        f"**Rule.** Judged only on {where}; otherwise *inconclusive*. There, it *holds* when "
        f"{claim.value:.2%} is below the mean or inside its 95 % confidence interval over seeds, and "
        "*does not hold* when the interval lies below it."
    )


def settings(only_at: dict) -> str:
    return ", ".join(f"{key}={'null' if value is None else value}" for key, value in only_at.items())


def winner_verdict(values: dict[str, np.ndarray], claimed: str, alpha: float = ALPHA) -> Verdict:
    """values: the metric's per-seed values of each cell. See winner_rule."""
    if claimed not in values:
        return Verdict(INCONCLUSIVE, f"no runs of {claimed}")
    if any(len(v) < 2 for v in values.values()):
        return Verdict(INCONCLUSIVE, "fewer than 2 completed seeds in a cell")
    mine = values[claimed]
    better, ties = [], []
    for cell, other in values.items():
        if cell == claimed:
            continue
        p = welch_p(mine, other)
        if other.mean() > mine.mean() and p < alpha:
            better.append(f"{cell} ({other.mean():.4f} vs {mine.mean():.4f}, p = {p:.2g})")
        elif not (mine.mean() > other.mean() and p < alpha):
            ties.append(f"{cell} (p = {p:.2g})")
    if better:
        return Verdict(FAILS, "significantly better: " + ", ".join(better))
    if ties:
        return Verdict(INCONCLUSIVE, f"{claimed} is not significantly better than " + ", ".join(ties))
    return Verdict(HOLDS, f"{claimed} beats every other cell with p < {alpha}")


def overfits(curve: pd.DataFrame, rise_above: float) -> bool:
    """One run's curves (epoch, train_loss, val_loss): see overfit_rule."""
    curve = curve.sort_values("epoch")
    low = curve["val_loss"].idxmin()
    rise = curve["val_loss"].iloc[-1] / curve.at[low, "val_loss"] - 1
    return bool(rise > rise_above and curve["train_loss"].iloc[-1] < curve.at[low, "train_loss"])


def overfitting_verdict(per_network: dict[str, list[bool]]) -> Verdict:
    """per_network: for each network, whether each seed overfit. See overfit_rule."""
    details = [f"{net}: overfits in {sum(seeds)} of {len(seeds)} seeds" for net, seeds in per_network.items()]
    if not per_network or any(len(s) == 0 for s in per_network.values()):
        return Verdict(INCONCLUSIVE, "a network has no completed run", details)
    if all(all(s) for s in per_network.values()):
        return Verdict(HOLDS, "every network overfits in every seed", details)
    never = [net for net, s in per_network.items() if not any(s)]
    if never:
        return Verdict(FAILS, "no seed overfits for " + ", ".join(never), details)
    return Verdict(INCONCLUSIVE, "some seeds overfit and some do not", details)


def reaches_verdict(values: np.ndarray, value: float, comparable: bool, only_at: dict) -> Verdict:
    """values: the cell's per-seed METRIC. See reaches_rule."""
    if not comparable:
        return Verdict(
            INCONCLUSIVE, f"not run at {settings(only_at)}, so not comparable with {value:.2%}".replace("%", " %")
        )
    if len(values) == 0:
        return Verdict(INCONCLUSIVE, "no completed run")
    low, high = confidence_interval(values)
    if values.mean() >= value or (len(values) > 1 and low <= value <= high):
        return Verdict(HOLDS, f"mean {values.mean():.4f}, 95 % CI [{low:.4f}, {high:.4f}]")
    if len(values) > 1 and high < value:
        return Verdict(FAILS, f"95 % CI [{low:.4f}, {high:.4f}] lies below {value}")
    return Verdict(INCONCLUSIVE, f"mean {values.mean():.4f} from {len(values)} run(s)")


# ---------------------------------------------------------------- a grid's numbers, judged


def cells(jobs: pd.DataFrame, key: str | None, claimed: str | None = None) -> pd.DataFrame:
    """stats.compare_cells over `key` (None: all runs one cell), against the claimed cell."""
    return compare_cells(jobs, [key] if key else [], METRIC, reference=(claimed,) if claimed else None)


def cell_values(table: pd.DataFrame, key: str | None) -> dict[str, np.ndarray]:
    """Per cell with a completed run, the METRIC of its completed runs: what the judges compare."""
    names = table[key].astype(str) if key else pd.Series(["all"] * len(table))
    return {name: values for name, values in zip(names, table["values"]) if len(values)}


def seed_table(table: pd.DataFrame, key: str | None, claimed: str | None, label: str, name: str = "all") -> str:
    """The cells' numbers over seeds, as Markdown; the claimed cell in bold with each p against it.
    label: the cell column's heading; name: the one cell's name when there is no key."""
    rows = []
    for _, row in table.iterrows():
        cell = str(row[key]) if key else name
        rows.append(
            {
                label: f"**{cell}**" if cell == claimed else cell,
                "n": row["n"],
                f"mean {METRIC}": row["mean"],
                "std": row["std"],
                "95 % CI": f"[{row['ci95_low']:.4f}, {row['ci95_high']:.4f}]",
                **({f"p vs {claimed}": row["p_vs_best"]} if claimed else {}),
            }
        )
    return pd.DataFrame(rows).to_markdown(index=False, floatfmt=".4f")


def overfit_per_cell(jobs: pd.DataFrame, curves: pd.DataFrame, key: str, rise: float) -> dict[str, list[bool]]:
    per_cell: dict[str, list[bool]] = {}
    for _, row in jobs[jobs["status"] == status.COMPLETED].iterrows():
        per_cell.setdefault(str(row[key]), []).append(overfits(curves[curves["dir"] == row["dir"]], rise))
    return dict(sorted(per_cell.items()))


def overfit_counts(jobs: pd.DataFrame, curves: pd.DataFrame, key: str, rise: float) -> str:
    """'none 3/3, augmentation 0/3, ...': per cell of `key`, the completed seeds that overfit."""
    return ", ".join(f"{cell} {sum(s)}/{len(s)}" for cell, s in overfit_per_cell(jobs, curves, key, rise).items())


@dataclass
class Judgement:
    verdict: Verdict
    rule: str
    tables: list[str]  # Markdown paragraphs: the seed tables and what they show


def judge(claim: Claim, jobs: pd.DataFrame, curves: pd.DataFrame, run_settings: dict) -> Judgement:
    """One of the study's claims (an overfits, winner or reaches claim) judged on its grid's runs at the
    seeds there are; run_settings: the runs' values of the claim's only_at keys. Any claim at the seeds
    it needs: cifar_sweep/decide.py."""
    if claim.per:
        return judge_per(claim, jobs, curves)
    if claim.kind == "overfits":
        return Judgement(
            overfitting_verdict(overfit_per_cell(jobs, curves, claim.key, claim.target)),
            overfit_rule(claim.target),
            [seed_table(cells(jobs, claim.key), claim.key, None, "network" if claim.key == "model" else claim.key), ""],
        )
    if claim.kind == "reaches":
        table = cells(jobs, None)
        values = next(iter(cell_values(table, None).values()), np.array([]))
        comparable = all(claims.same_value(run_settings.get(k), v) for k, v in claim.only_at.items())
        return Judgement(
            reaches_verdict(values, claim.target, comparable, claim.only_at),
            reaches_rule(claim),
            [seed_table(table, None, None, "recipe", claim.name), ""],
        )
    table = cells(jobs, claim.key, claim.cell)
    return Judgement(
        winner_verdict(cell_values(table, claim.key), claim.cell, claim.alpha),
        winner_rule(claim.alpha),
        [seed_table(table, claim.key, claim.cell, claim.key), ""],
    )


def judge_per(claim: Claim, jobs: pd.DataFrame, curves: pd.DataFrame) -> Judgement:
    """A winner claim on each value of claim.per (claim 2: on each network); it holds when it holds on all."""
    lines, subs = [], {}
    per = str(claim.per)
    for part in sorted(jobs[per].dropna().unique()):
        mine = jobs[jobs[per] == part]
        table = cells(mine, claim.key, claim.cell)
        subs[part] = winner_verdict(cell_values(table, claim.key), claim.cell, claim.alpha)
        lines += [
            f"**{part}**",
            "",
            seed_table(table, claim.key, claim.cell, claim.key),
            "",
            f"{part}: *{subs[part].verdict}* ({subs[part].reason}). Still overfitting at the end "
            f"(claim 1's rule), in seeds: {overfit_counts(mine, curves, claim.key, overfit_rise())}.",
            "",
        ]
    verdicts = [v.verdict for v in subs.values()]
    overall = (
        HOLDS if verdicts and all(v == HOLDS for v in verdicts) else (FAILS if FAILS in verdicts else INCONCLUSIVE)
    )
    verdict = Verdict(overall, f"per {NOUNS.get(per, per)}: " + ", ".join(f"{n} {v.verdict}" for n, v in subs.items()))
    rule = winner_rule(claim.alpha) + (
        f" Applied per {NOUNS.get(per, per)}; the claim holds when it holds on all of them and does not hold when it "
        "fails on any."
    )
    return Judgement(verdict, rule, lines)


NOUNS = {"model": "network"}


def overfit_rise() -> float:
    """Claim 1's threshold (cifar_sweep/conf/claims/overfitting.yaml), by which a per claim's section
    counts the seeds that overfit."""
    return next(c.target for c in study_claims() if c.kind == "overfits")
