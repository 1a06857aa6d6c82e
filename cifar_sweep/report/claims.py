"""The study's six claims, the scales their grids run at, and the rule that judges each.

Each judge takes the numbers of a grid (per cell, the METRIC of its completed seeds; per run, its
curves) and returns a `Verdict`; each rule says in words what its judge does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cifar_sweep import status
from cifar_sweep.stats import ALPHA, compare_cells, confidence_interval, welch_p

HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
METRIC = "test_acc"  # what the study compared: the final model's test accuracy
STUDY_RESULT = 0.9228
OVERFIT_RISE = 0.02  # the last epoch's validation loss must exceed its minimum by more than 2 %


@dataclass(frozen=True)
class Claim:
    grid: str  # cifar_sweep/conf/experiment/<grid>.yaml
    title: str
    text: str  # the study's claim, in its own terms
    axis: str  # the swept key that the claim compares
    winner: str | None  # the cell the study adopted
    study_epochs: int  # epochs of the grid at the study's scale


CLAIMS = [
    Claim(
        "overfitting",
        "1. Without regularization, VGG overfits",
        "VGG11, VGG16 and VGG19 trained for 20 epochs without regularization overfit: the training loss "
        "keeps falling while the validation loss rises.",
        "model",
        None,
        20,
    ),
    Claim(
        "regularization",
        "2. Weight decay + augmentation is the cure",
        "Of augmentation, L2 weight decay and dropout, the study adopted weight decay + augmentation "
        "(and not dropout): it should give the best test accuracy on each network.",
        "regularization",
        "weight_decay_augmentation",
        20,
    ),
    Claim(
        "optimizers",
        "3. Adam is the best optimizer",
        "Of Adam, RMSprop and SGD with momentum, Adam gives the best test accuracy.",
        "optimizer",
        "adam",
        50,
    ),
    Claim(
        "schedulers",
        "4. Cosine annealing is the best schedule",
        "Of four learning-rate schedulers, CosineAnnealingLR gives the best test accuracy.",
        "scheduler",
        "cosine",
        50,
    ),
    Claim(
        "batch_sizes",
        "5. Batch 64 is the best batch size",
        "Of batch sizes 16 to 128, 64 gives the best test accuracy.",
        "batch_size",
        "64",
        50,
    ),
    Claim(
        "study_final",
        "6. The final recipe reaches 92.28 %",
        "VGG16, Adam 1e-3, weight decay 5e-5, cosine, batch 64, 50 epochs reaches 92.28 % test accuracy.",
        "seed",
        None,
        50,
    ),
]

# Each scale: for the grids the study ran 20 and 50 epochs, the epochs and training images here.
# cpu fits the six grids x 3 seeds in about an hour of 2 CPU cores, with width 1/8 networks.
SCALES: dict[str, dict] = {
    "gpu": {"overrides": [], 20: (20, None), 50: (50, None)},
    "cpu": {"overrides": ["model.width=0.125", "trainer.progress_bar=false"], 20: (12, 2500), 50: (10, 5000)},
}
STEP_GRIDS = ("overfitting", "regularization")  # grids whose every run uses StepLR(10, 0.1)


def grid_commands(claim: Claim, scale: str) -> list[tuple[str, list[str]]]:
    """(sub-folder, overrides) of each invocation that makes one grid at `scale`. Epochs shrink with
    the scale, and StepLR's step (10 of the study's 20 or 50 epochs) shrinks with them, so the
    schedule keeps its shape; in the schedulers grid only the step cell has a step, so that cell
    runs as its own invocation (collect reads both)."""
    epochs, images = SCALES[scale][claim.study_epochs]
    common = [
        *SCALES[scale]["overrides"],
        f"trainer.epochs={epochs}",
        f"data.train_subset={'null' if images is None else images}",
    ]
    step = f"scheduler.step_size={max(1, round(10 * epochs / claim.study_epochs))}"
    if claim.grid in STEP_GRIDS:
        return [("", [*common, step])]
    if claim.grid == "schedulers" and epochs != claim.study_epochs:
        return [("", [*common, "scheduler=cosine,exponential,plateau"]), ("step", [*common, "scheduler=step", step])]
    return [("", common)]


# ---------------------------------------------------------------- rules and judges


@dataclass
class Verdict:
    verdict: str
    reason: str
    details: list[str] = field(default_factory=list)


WINNER_RULE = (
    f"**Rule.** The claimed winner must have the highest mean {METRIC} and beat every other cell "
    f"by Welch's t-test, p < {ALPHA}: then the claim *holds*. If another cell is better with "
    f"p < {ALPHA}, it *does not hold*. Otherwise (a tie within noise, or fewer than 2 completed "
    "seeds in a cell) it is *inconclusive*."
)
OVERFIT_RULE = (
    f"**Rule.** A network overfits in a seed when its validation loss at the last epoch is more than "
    f"{OVERFIT_RISE:.0%} above its minimum while its training loss at the last epoch is below the "
    "training loss at that minimum. The claim *holds* when every network overfits in every seed, "
    "*does not hold* when some network overfits in no seed, and is *inconclusive* otherwise."
)
FINAL_RULE = (
    f"**Rule.** Judged only at the study's scale (width 1.0, 50 epochs, all 50,000 training images); "
    f"otherwise *inconclusive*. There, it *holds* when {STUDY_RESULT:.2%} is below the mean or inside "
    f"its 95 % confidence interval over seeds, and *does not hold* when the interval lies below it."
)


def winner_verdict(values: dict[str, np.ndarray], claimed: str) -> Verdict:
    """values: the metric's per-seed values of each cell. See WINNER_RULE."""
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
        if other.mean() > mine.mean() and p < ALPHA:
            better.append(f"{cell} ({other.mean():.4f} vs {mine.mean():.4f}, p = {p:.2g})")
        elif not (mine.mean() > other.mean() and p < ALPHA):
            ties.append(f"{cell} (p = {p:.2g})")
    if better:
        return Verdict(FAILS, "significantly better: " + ", ".join(better))
    if ties:
        return Verdict(INCONCLUSIVE, f"{claimed} is not significantly better than " + ", ".join(ties))
    return Verdict(HOLDS, f"{claimed} beats every other cell with p < {ALPHA}")


def overfits(curve: pd.DataFrame) -> bool:
    """One run's curves (epoch, train_loss, val_loss): see OVERFIT_RULE."""
    curve = curve.sort_values("epoch")
    low = curve["val_loss"].idxmin()
    rise = curve["val_loss"].iloc[-1] / curve.at[low, "val_loss"] - 1
    return bool(rise > OVERFIT_RISE and curve["train_loss"].iloc[-1] < curve.at[low, "train_loss"])


def overfitting_verdict(per_network: dict[str, list[bool]]) -> Verdict:
    """per_network: for each network, whether each seed overfit. See OVERFIT_RULE."""
    details = [f"{net}: overfits in {sum(seeds)} of {len(seeds)} seeds" for net, seeds in per_network.items()]
    if not per_network or any(len(s) == 0 for s in per_network.values()):
        return Verdict(INCONCLUSIVE, "a network has no completed run", details)
    if all(all(s) for s in per_network.values()):
        return Verdict(HOLDS, "every network overfits in every seed", details)
    never = [net for net, s in per_network.items() if not any(s)]
    if never:
        return Verdict(FAILS, "no seed overfits for " + ", ".join(never), details)
    return Verdict(INCONCLUSIVE, "some seeds overfit and some do not", details)


def final_verdict(values: np.ndarray, full_scale: bool) -> Verdict:
    """values: the final recipe's per-seed test accuracy. See FINAL_RULE."""
    if not full_scale:
        return Verdict(INCONCLUSIVE, "not run at the study's scale, so not comparable with 92.28 %")
    if len(values) == 0:
        return Verdict(INCONCLUSIVE, "no completed run")
    low, high = confidence_interval(values)
    if values.mean() >= STUDY_RESULT or (len(values) > 1 and low <= STUDY_RESULT <= high):
        return Verdict(HOLDS, f"mean {values.mean():.4f}, 95 % CI [{low:.4f}, {high:.4f}]")
    if len(values) > 1 and high < STUDY_RESULT:
        return Verdict(FAILS, f"95 % CI [{low:.4f}, {high:.4f}] lies below {STUDY_RESULT}")
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


def overfit_per_network(jobs: pd.DataFrame, curves: pd.DataFrame) -> dict[str, list[bool]]:
    per_net: dict[str, list[bool]] = {}
    for row in jobs[jobs["status"] == status.COMPLETED].itertuples():
        per_net.setdefault(str(row.model), []).append(overfits(curves[curves["dir"] == row.dir]))
    return dict(sorted(per_net.items()))


def overfit_counts(jobs: pd.DataFrame, curves: pd.DataFrame) -> str:
    """'none 3/3, augmentation 0/3, ...': per regularization, the completed seeds that overfit."""
    done = jobs[jobs["status"] == status.COMPLETED]
    counts = {
        cell: (sum(overfits(curves[curves["dir"] == d]) for d in group["dir"]), len(group))
        for cell, group in done.groupby("regularization")
    }
    return ", ".join(f"{cell} {k}/{n}" for cell, (k, n) in counts.items())


@dataclass
class Judgement:
    verdict: Verdict
    rule: str
    tables: list[str]  # Markdown paragraphs: the seed tables and what they show


def judge(claim: Claim, jobs: pd.DataFrame, curves: pd.DataFrame, full_scale: bool) -> Judgement:
    """The claim judged on its grid's runs."""
    if claim.grid == "overfitting":
        return Judgement(
            overfitting_verdict(overfit_per_network(jobs, curves)),
            OVERFIT_RULE,
            [seed_table(cells(jobs, "model"), "model", None, "network"), ""],
        )
    if claim.grid == "regularization":
        return judge_per_network(claim, jobs, curves)
    if claim.grid == "study_final":
        table = cells(jobs, None)
        values = next(iter(cell_values(table, None).values()), np.array([]))
        return Judgement(
            final_verdict(values, full_scale), FINAL_RULE, [seed_table(table, None, None, "recipe", "study_final"), ""]
        )
    table = cells(jobs, claim.axis, claim.winner)
    return Judgement(
        winner_verdict(cell_values(table, claim.axis), str(claim.winner)),
        WINNER_RULE,
        [seed_table(table, claim.axis, claim.winner, claim.axis), ""],
    )


def judge_per_network(claim: Claim, jobs: pd.DataFrame, curves: pd.DataFrame) -> Judgement:
    """Claim 2: the winner rule on each network; it holds when it holds on all of them."""
    lines, subs = [], {}
    for net in sorted(jobs["model"].dropna().unique()):
        mine = jobs[jobs["model"] == net]
        table = cells(mine, "regularization", claim.winner)
        subs[net] = winner_verdict(cell_values(table, "regularization"), str(claim.winner))
        lines += [
            f"**{net}**",
            "",
            seed_table(table, "regularization", claim.winner, "regularization"),
            "",
            f"{net}: *{subs[net].verdict}* ({subs[net].reason}). Still overfitting at the end "
            f"(claim 1's rule), in seeds: {overfit_counts(mine, curves)}.",
            "",
        ]
    verdicts = [v.verdict for v in subs.values()]
    overall = (
        HOLDS if verdicts and all(v == HOLDS for v in verdicts) else (FAILS if FAILS in verdicts else INCONCLUSIVE)
    )
    verdict = Verdict(overall, "per network: " + ", ".join(f"{n} {v.verdict}" for n, v in subs.items()))
    rule = WINNER_RULE + (
        " Applied per network; the claim holds when it holds on all three and does not hold when it fails on any."
    )
    return Judgement(verdict, rule, lines)
