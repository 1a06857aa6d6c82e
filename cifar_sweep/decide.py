"""Decide claims with the seeds they need: each claim's grid runs at min_seeds, is judged, and only the
cells of comparisons still open get more seeds, look by look, until the claim is decided or its
max_seeds or budget is spent (cifar_sweep/sequential.py keeps every verdict valid under these looks).

    python -m cifar_sweep.decide claims=optimizers                       the study's claim 3
    cifar-sweep decide --config-dir my_conf claims=mine model.width=0.25 hydra/launcher=joblib

Every other override goes to each run (a launcher, the data, the scale). A look is one multirun,
`python -m cifar_sweep -m <grid> <overrides> KEY=<open cells> seed=<its new seeds>`, into
<out>/<claim>/[<per value>/]look-<k>/, with claim.json there saying which claim it served (collect
shows it). Rerunning the same command continues: every decision is made again from the finished runs,
which are never run again, and an interrupted look resumes (trainer.resume=true). The verdicts go to
<out>/claims.md (a section per claim, its figure beside it) and <out>/verdicts.json.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from cifar_sweep import claims, exits, sequential, status
from cifar_sweep.claims import Claim, ClaimError
from cifar_sweep.collect import CLAIM_MARKER as MARKER
from cifar_sweep.collect import read_sweep
from cifar_sweep.errors import UserError, refuse
from cifar_sweep.stats import confidence_interval, difference_interval
from cifar_sweep.sweeps import MULTIRUN_YAML, RESUME, override_value

INCONCLUSIVE = "inconclusive"


class BudgetSpent(Exception):
    """The claim's budget would be overrun by its next look."""


@dataclass
class Outcome:
    """What deciding one claim found."""

    claim: Claim
    verdict: str  # sequential.HOLDS, sequential.FAILS or INCONCLUSIVE
    why: str
    seeds: dict[str, dict[str, int]] = field(default_factory=dict)  # part -> cell -> seeds spent
    values: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # part -> cell -> per-seed values
    runs: int = 0
    hours: float = 0.0


@dataclass
class Launch:
    """How a look's runs are started: the entrypoint, --config-dir and the command's other overrides."""

    entry: list[str]
    config_dir: str | None
    extra: list[str]
    claims_arg: str

    def argv(self, overrides: list[str]) -> list[str]:
        config = ["--config-dir", self.config_dir] if self.config_dir else []
        return [sys.executable, *self.entry, "-m", *config, *overrides]


# ---------------------------------------------------------------- a claim's runs


def run_values(claim: Claim, jobs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """(cell, seed, value) of each completed run of the claim's cells below its folder: the metric (negated
    in mode min, so that higher is better), or for `overfits` each run's rise of its validation loss at
    the last epoch over its minimum."""
    done = jobs[jobs["status"] == status.COMPLETED] if "status" in jobs else jobs.iloc[0:0]
    rows = []
    for _, job in done.iterrows():
        cell = next((c for c in claim.cells if claims.same_value(job.get(claim.key), c)), None)
        if cell is None or pd.isna(job.get("seed")):
            continue
        if claim.kind == "overfits":
            val = curves[curves["dir"] == job["dir"]].sort_values("epoch")["val_loss"]
            value = float(val.iloc[-1] / val.min() - 1)
        else:
            value = float(job[claim.metric]) * (-1.0 if claim.mode == "min" else 1.0)
        rows.append({"cell": cell, "seed": int(job["seed"]), "value": value, "wall": job.get("wall_seconds")})
    return pd.DataFrame(rows, columns=["cell", "seed", "value", "wall"]).drop_duplicates(["cell", "seed"])


def read_runs(folder: Path, claim: Claim) -> pd.DataFrame:
    if not any(folder.rglob(".hydra/overrides.yaml")):
        return pd.DataFrame(columns=["cell", "seed", "value", "wall"])
    jobs, curves, _ = read_sweep(folder)
    return run_values(claim, jobs, curves)


def spent(folder: Path) -> tuple[int, float]:
    """(runs, hours of their own wall time) below `folder`, finished or not."""
    if not any(folder.rglob(".hydra/overrides.yaml")):
        return 0, 0.0
    jobs = read_sweep(folder)[0]
    return len(jobs), float(pd.to_numeric(jobs["wall_seconds"], errors="coerce").fillna(0).sum()) / 3600


class Part:
    """One claim (or one value of its `per` key) judged look by look in `folder`: the draw that
    sequential.run_claim calls runs the seeds it asks for and returns their values."""

    def __init__(self, claim: Claim, grid: list[str], folder: Path, launch: Launch, part: str) -> None:
        self.claim, self.grid, self.folder, self.launch, self.part = claim, grid, folder, launch, part
        self.looks = claims.looks(claim)
        self.grown: dict[str, int] = {}  # seeds each cell was asked for so far

    def draw(self, wanted: dict[str, int]) -> dict[str, np.ndarray]:
        n = max(wanted.values())
        look = self.looks.seeds.index(n)
        start = min(self.grown.get(c, 0) for c in wanted)
        have = read_runs(self.folder, self.claim)
        missing = [(c, s) for c in wanted for s in range(n) if not ((have["cell"] == c) & (have["seed"] == s)).any()]
        if missing:
            if not (self.folder / f"look-{look}" / MARKER).is_file():  # a look begun within budget finishes
                self.check_budget(look, len(missing))
            self.run_look(look, list(wanted), range(start, n))
            have = read_runs(self.folder, self.claim)
        self.grown.update(wanted)
        values = {}
        for cell in wanted:
            mine = have[(have["cell"] == cell) & (have["seed"] < n)].sort_values("seed")
            if len(mine) < n:
                lacking = sorted(set(range(n)) - set(mine["seed"]))
                raise UserError(
                    f"claims.{self.claim.name}: {self.claim.key}={cell} seed={lacking[0]} did not complete "
                    f"(see its run below {self.folder}); fix what failed it, then run this command again"
                )
            values[cell] = mine["value"].to_numpy(float)
        return values

    def check_budget(self, look: int, new_runs: int) -> None:
        runs, hours = spent(self.folder.parent if self.part else self.folder)
        budget = self.claim.budget
        if look > 0 and budget.runs is not None and runs + new_runs > budget.runs:
            raise BudgetSpent(
                f"budget spent: {runs} runs, the next look needs {new_runs} more (budget.runs={budget.runs})"
            )
        if look > 0 and budget.hours is not None and hours >= budget.hours:
            raise BudgetSpent(f"budget spent: {hours:.2f} h of runs (budget.hours={budget.hours})")

    def run_look(self, look: int, cells: list[str], seeds: range) -> None:
        target = self.folder / f"look-{look}"
        overrides = [
            *self.grid,
            *self.launch.extra,
            self.claim.override(cells),
            f"seed={','.join(map(str, seeds))}",
            f"hydra.sweep.dir={override_value(str(target))}",
        ]
        resume = (target / MULTIRUN_YAML).is_file()
        if (target / MARKER).is_file():  # an interrupted look: the same runs, continued
            overrides = json.loads((target / MARKER).read_text())["overrides"]
        target.mkdir(parents=True, exist_ok=True)
        marker = {"claims": self.launch.claims_arg, "claim": self.claim.name, "part": self.part, "look": look}
        (target / MARKER).write_text(json.dumps({**marker, "overrides": overrides}, indent=1) + "\n")
        argv = self.launch.argv([*overrides, *([RESUME] if resume else [])])
        say(f"{self.claim.name}{' ' + self.part if self.part else ''}: look {look + 1}, {' '.join(argv[2:])}")
        with open(target / "decide-run.log", "a") as log:
            if subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT).returncode != 0:
                raise UserError(
                    f"claims.{self.claim.name}: look {look + 1}'s runs failed; see {target / 'decide-run.log'}, "
                    "fix what failed them, then run this command again"
                )


# ---------------------------------------------------------------- a claim


def decide_claim(claim: Claim, out: Path, launch: Launch) -> Outcome:
    """Judge the claim (each value of its `per` key a part that must hold) with the seeds it needs."""
    folder = out / claim.name
    parts = per_values(claim, launch.config_dir) if claim.per else [""]
    rule = claims.sequential_claim(claim, split=len(parts))
    outcome = Outcome(claim, INCONCLUSIVE, "")
    verdicts = []
    for part in parts:
        grid = [*claim.grid, f"{claim.per}={override_value(part)}"] if part else list(claim.grid)
        runner = Part(claim, grid, folder / part if part else folder, launch, part)
        try:
            verdict, seeds = sequential.run_claim(rule, runner.looks, runner.draw)
            most = max(seeds.values())
            why = f"decided at {most} seeds" if verdict else f"still open at max_seeds={claim.max_seeds}"
        except BudgetSpent as e:
            verdict, seeds, why = None, dict(runner.grown), str(e)
        have = read_runs(runner.folder, claim)
        outcome.seeds[part] = seeds
        outcome.values[part] = {
            c: have[(have["cell"] == c) & (have["seed"] < seeds.get(c, 0))].sort_values("seed")["value"].tolist()
            for c in claim.cells
        }
        verdicts.append((part, verdict, why))
        if verdict == sequential.FAILS:
            break  # one part that fails decides the claim
    outcome.runs, hours = spent(folder)
    outcome.hours = hours
    outcome.verdict, outcome.why = overall(verdicts)
    return outcome


def overall(verdicts: list[tuple[str, str | None, str]]) -> tuple[str, str]:
    """The claim's verdict and why, from its parts' (part, verdict, why): it does not hold if one part does
    not, it holds if all do."""
    if len(verdicts) == 1 and not verdicts[0][0]:
        _, verdict, why = verdicts[0]
        return verdict or INCONCLUSIVE, why
    named = ", ".join(f"{part} {v or INCONCLUSIVE}" + (f" ({why})" if why else "") for part, v, why in verdicts)
    if any(v == sequential.FAILS for _, v, _ in verdicts):
        return sequential.FAILS, named
    if all(v == sequential.HOLDS for _, v, _ in verdicts):
        return sequential.HOLDS, named
    return INCONCLUSIVE, named


def per_values(claim: Claim, config_dir: str | None) -> list[str]:
    """The values of claim.per that the claim's grid sweeps (its experiment's hydra.sweeper.params or an
    override of its grid)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from cifar_sweep.sweeps import grid_overrides, override_key

    try:
        cfg = claims.compose(claims.first_values(list(claim.grid)), config_dir, "config", with_hydra=True)
    except Exception as e:
        raise ClaimError(f"claims.{claim.name}: grid {claim.grid}: {claims.first_line(e)}") from None
    for line in grid_overrides(cfg.hydra, claim.grid):
        if override_key(line) == claim.per:
            parsed = OverridesParser.create().parse_overrides([line])[0]
            if parsed.is_sweep_override():
                return [str(v) for v in parsed.sweep_string_iterator()]
            return [str(parsed.get_value_element_as_str())]
    raise ClaimError(f"claims.{claim.name}.per={claim.per!r}: the grid {claim.grid} does not set {claim.per}")


# ---------------------------------------------------------------- the report


def sign(claim: Claim) -> float:
    """-1 where run_values negated the metric (mode min), to show it as the runs measured it."""
    return -1.0 if claim.mode == "min" and claim.kind != "overfits" else 1.0


def effect(claim: Claim, values: dict[str, list[float]]) -> list[str]:
    """Per comparison: the difference of means with its 95 % interval (in the metric's own direction)."""
    lines = []
    for cell, other in sequential.comparisons(claims.sequential_claim(claim)):
        x = sign(claim) * np.asarray(values.get(cell, []), float)
        if other is None:
            target = claim.target
            low, high = confidence_interval(x - target)
            lines.append(
                f"{cell}: mean {np.mean(x) if len(x) else math.nan:.4f}, 95 % CI of its difference from "
                f"{target}: [{low:+.4f}, {high:+.4f}]"
            )
            continue
        y = sign(claim) * np.asarray(values.get(other, []), float)
        low, high = difference_interval(x, y)
        diff = x.mean() - y.mean() if len(x) and len(y) else math.nan
        lines.append(f"{cell} - {other}: {diff:+.4f}, 95 % CI [{low:+.4f}, {high:+.4f}]")
    return lines


def report(outcomes: list[Outcome], out: Path, command: str) -> Path:
    """claims.md (a summary table, then per claim its verdict, effects, seeds and figure) and verdicts.json."""
    from cifar_sweep import plots

    figures = out / "claims"
    figures.mkdir(parents=True, exist_ok=True)
    lines = [
        f"# Claims: {outcomes[0].claim.name if len(outcomes) == 1 else f'{len(outcomes)} claims'}",
        "",
        f"Made by `{command}` on {datetime.now():%Y-%m-%d %H:%M}.",
        "",
        "| claim | verdict | seeds per cell | runs |",
        "| --- | --- | --- | --- |",
    ]
    for o in outcomes:
        lines.append(f"| {o.claim.title or o.claim.name} | **{o.verdict}** | {seeds_text(o)} | {o.runs} |")
    for o in outcomes:
        figure = figures / f"{o.claim.name}.png"
        plots.claim_figure(
            {
                (f"{o.claim.per}={part}" if part else ""): {
                    c: list(sign(o.claim) * np.asarray(v)) for c, v in cells.items()
                }
                for part, cells in o.values.items()
            },
            "validation loss rise over its minimum" if o.claim.kind == "overfits" else o.claim.metric,
            figure,
            o.claim.title or o.claim.name,
            o.claim.target if o.claim.kind in ("reaches", "overfits") else None,
        )
        lines += ["", f"## {o.claim.title or o.claim.name}", ""]
        lines += [f"> {o.claim.text}", ""] if o.claim.text else []
        lines += [
            f"Kind *{o.claim.kind}*: {claims.KINDS[o.claim.kind]} (key `{o.claim.key}`, cell `{o.claim.cell}`, "
            f"others {', '.join(f'`{c}`' for c in o.claim.others) or 'none'}, margin {o.claim.margin}, value "
            f"{o.claim.value}, alpha {o.claim.alpha}, seeds {o.claim.min_seeds} to {o.claim.max_seeds}).",
            "",
            f"**Verdict: {o.verdict}** ({o.why}).",
            "",
            *[
                f"- {part + ': ' if part else ''}{line}"
                for part, vals in o.values.items()
                for line in effect(o.claim, vals)
            ],
            "",
            f"Seeds per cell: {seeds_text(o)}; {o.runs} runs, {o.hours:.2f} h of their own wall time.",
            "",
            f"![{o.claim.name}]({figures.name}/{figure.name})",
            "",
        ]
    path = out / "claims.md"
    path.write_text("\n".join(lines) + "\n")
    (out / "verdicts.json").write_text(
        json.dumps(
            {o.claim.name: {"verdict": o.verdict, "why": o.why, "seeds": o.seeds, "runs": o.runs} for o in outcomes},
            indent=1,
        )
        + "\n"
    )
    return path


def seeds_text(o: Outcome) -> str:
    return "; ".join(
        (f"{part}: " if part else "") + ", ".join(f"{c} {n}" for c, n in seeds.items())
        for part, seeds in o.seeds.items()
    )


# ---------------------------------------------------------------- the command


def say(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Ctrl-C or SIGTERM: one line with the command that continues (exits.command_exits), exit 130/143."""
    with exits.command_exits():
        return decide_command(argv)


def decide_command(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(
        prog="cifar-sweep decide",
        description="Decide each claim of a claims file with only the seeds it needs (cifar_sweep/decide.py).",
    )
    parser.add_argument("--config-dir", help="your config folder (claims/, model/, ...), as for cifar-sweep")
    parser.add_argument("--out", type=Path, help="where the runs and the report go (default multirun/claims/<name>)")
    parser.add_argument(
        "--run-py", type=Path, help="a Hydra entrypoint to run the grids with (default: python -m cifar_sweep)"
    )
    parser.add_argument("overrides", nargs="*", help="claims=NAME (or claims=[A,B]), then overrides for every run")
    args = parser.parse_args(argv)
    chosen = [o for o in args.overrides if o.startswith("claims=")]
    extra = [o for o in args.overrides if not o.startswith("claims=")]
    command = "python -m cifar_sweep.decide " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    try:
        if len(chosen) != 1:
            raise UserError("claims: name the claims file once, as claims=NAME (conf/claims/NAME.yaml) or claims=[A,B]")
        names = chosen[0].partition("=")[2].strip("[]").split(",")
        if args.config_dir and not Path(args.config_dir).is_dir():
            raise UserError(f"--config-dir={args.config_dir!r}: no such folder")
        if args.run_py is not None and not args.run_py.is_file():
            raise UserError(f"--run-py={str(args.run_py)!r}: no such file")
        loaded = claims.load(names, args.config_dir)
        for claim in loaded:  # every claim is checked before anything runs
            claims.check_cells(claim, args.config_dir, extra)
        out = args.out or Path("multirun") / "claims" / "+".join(names)
        entry = [str(args.run_py)] if args.run_py else ["-m", "cifar_sweep"]
        launch = Launch(entry, args.config_dir, extra, chosen[0])
        outcomes = []
        exits.NOW = exits.Activity("decide", str(out), command)  # what Ctrl-C's one line says continues it
        for claim in loaded:
            outcomes.append(decide_claim(claim, out, launch))
            done = outcomes[-1]
            say(f"{claim.name}: {done.verdict} ({done.why}; seeds {seeds_text(done)})")
        path = report(outcomes, out, command)
    except UserError as e:
        refuse(str(e))
    print(f"wrote {path} and {out / 'verdicts.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
