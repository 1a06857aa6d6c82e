"""The report as a Markdown document, and its command line: a head with the verdicts, one section
per claim (its figure, seed tables, rule and verdict), and the settings (settings.md)."""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from cifar_sweep import status
from cifar_sweep.claims import Claim
from cifar_sweep.collect import read_sweep
from cifar_sweep.errors import UserError, refuse
from cifar_sweep.report import figures
from cifar_sweep.report.claims import METRIC, SCALES, STUDY, Verdict, judge, study_claims, study_epochs
from cifar_sweep.report.runner import ReportError, run_grids, run_record
from cifar_sweep.sweeps import override_value

GPU_COMMAND = "python -m cifar_sweep.report --run --scale gpu --seeds 3 --out docs/study-gpu.md"
SETTINGS = Path(__file__).with_name("settings.md")


def scale_of(jobs: pd.DataFrame, sweep_dir: Path) -> dict:
    """Width, epochs and training images of a grid's runs, from the first job's config."""
    cfg = OmegaConf.load(sweep_dir / jobs["dir"].iloc[0] / ".hydra" / "config.yaml")
    return {"width": cfg.model.width, "epochs": cfg.trainer.epochs, "train_subset": cfg.data.train_subset}


def images(scale: dict) -> str:
    return f"{scale['train_subset']:,}" if scale["train_subset"] else "all 50,000"


def section(
    claim: Claim, sweep_dir: Path, jobs: pd.DataFrame, curves: pd.DataFrame, figures_dir: Path
) -> tuple[list[str], Verdict, dict]:
    scale = scale_of(jobs, sweep_dir)
    seeds = jobs["seed"].nunique() if "seed" in jobs else 1
    figure = figures_dir / f"{claim.name}.png"
    figures.draw(claim, jobs, curves, figure)
    cfg = OmegaConf.load(sweep_dir / jobs["dir"].iloc[0] / ".hydra" / "config.yaml")
    judged = judge(claim, jobs, curves, {key: OmegaConf.select(cfg, key) for key in claim.only_at})
    verdict = judged.verdict
    lines = [
        f"## {claim.title}",
        "",
        f"> {claim.text}",
        "",
        f"Grid `{' '.join(claim.grid) or claim.override([claim.cell])}`: {len(jobs)} runs ({seeds} seeds), "
        f"{(jobs['status'] == status.COMPLETED).sum()} completed; width {scale['width']}, {scale['epochs']} epochs, "
        f"{images(scale)} training images. Compared: `{METRIC}`, the final model's test "
        "accuracy after the last epoch, as the study did.",
        "",
        f"![{claim.name}]({figures_dir.name}/{figure.name})",
        "",
        *judged.tables,
        judged.rule,
        "",
        f"**Verdict: {verdict.verdict}** ({verdict.reason}).",
        "",
    ]
    lines += [f"- {d}" for d in verdict.details] + ([""] if verdict.details else [])
    return (
        lines,
        verdict,
        {
            **scale,
            "seeds": seeds,
            "runs": len(jobs),
            "wall_seconds": pd.to_numeric(jobs["wall_seconds"], errors="coerce").sum(),
        },
    )


def read_grids(sweeps: Path) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """(jobs, curves) of each of the study's grids found in `sweeps` (a folder per grid). A folder named
    like a grid whose jobs are not that grid's is refused, before anything is written."""
    grids = {}
    for claim in study_claims():
        folder = sweeps / claim.name
        if not folder.is_dir():
            continue
        jobs, curves = read_sweep(folder)[:2]
        experiments = set(jobs["experiment"].astype(str)) if "experiment" in jobs else set()
        if experiments != {claim.name} or claim.key not in jobs:
            raise ReportError(
                f"--sweeps={str(sweeps)!r}: {folder} is not the study's {claim.name} grid (its jobs were not run "
                f"with experiment={claim.name} over {claim.key}); point --sweeps at the folder that "
                "python -m cifar_sweep.report --run made"
            )
        grids[claim.name] = (jobs, curves)
    if not grids:
        raise ReportError(
            f"--sweeps={str(sweeps)!r}: holds none of the study's grids (folders "
            + ", ".join(c.name for c in study_claims())
            + "); make them with python -m cifar_sweep.report --run"
        )
    return grids


def not_run(claim: Claim, sweeps: Path) -> list[str]:
    """The section of a grid that is not in `sweeps`: what runs it."""
    return [
        f"## {claim.title}",
        "",
        f"> {claim.text}",
        "",
        f"**Verdict: not run** (no folder `{claim.name}` in `{sweeps}`). Run it with "
        f"`python run.py -m experiment={claim.name} seed=0,1,2 "
        f"{shlex.quote('hydra.sweep.dir=' + override_value(str(sweeps / claim.name)))}` (with the "
        "overrides your other grids used, such as their width and epochs), then make this report again.",
        "",
    ]


def check_out(out: Path) -> None:
    """--out is a file that can be written, with room for its figures folder beside it: checked before any
    grid runs (a --run takes hours)."""
    for path, what in ((out, "the report"), (out.with_suffix(""), "its figures folder")):
        if path.exists() and path.is_dir() != (path != out):
            kind = "a folder" if path.is_dir() else "a file"
            raise ReportError(f"--out={str(out)!r}: {path} ({what}) is {kind} already; choose another --out")
    above = next(p for p in out.absolute().parents if p.exists())  # the folder it goes in, or the first one made
    if not above.is_dir():
        raise ReportError(f"--out={str(out)!r}: {above} is a file, not a folder; choose another --out")
    if not os.access(above, os.W_OK | os.X_OK):
        raise ReportError(f"--out={str(out)!r}: {above} cannot be written; choose another --out")


def write_report(sweeps: Path, out: Path, command: str) -> list[Verdict]:
    grids = read_grids(sweeps)  # every grid found is readable and the study's, or nothing is written
    figures_dir = out.with_suffix("")
    figures_dir.mkdir(parents=True, exist_ok=True)
    body, verdicts, scales = [], [], {}
    for claim in study_claims():
        if claim.name not in grids:
            body += not_run(claim, sweeps)
            verdicts.append(Verdict("not run", f"no {claim.name} grid in {sweeps}"))
            continue
        lines, verdict, scales[claim.name] = section(claim, sweeps / claim.name, *grids[claim.name], figures_dir)
        body += lines
        verdicts.append(verdict)
    out.write_text("\n".join(head(scales, verdicts, sweeps, command) + body) + "\n" + SETTINGS.read_text())
    return verdicts


def head(scales: dict[str, dict], verdicts: list[Verdict], sweeps: Path, command: str) -> list[str]:
    runs = sum(s["runs"] for s in scales.values())
    train_seconds = sum(s["wall_seconds"] for s in scales.values())
    run_command, elapsed, load = run_record(sweeps)
    found = [c for c in study_claims() if c.name in scales]
    small = any(
        scales[c.name]["width"] != 1.0
        or scales[c.name]["train_subset"] is not None
        or scales[c.name]["epochs"] != study_epochs(c.name)
        for c in found
    )
    loaded = "load not recorded" if load is None else f"1-minute load average {load:.2f} at its start"
    timed = f" ({elapsed:.0f} min, one run; {loaded})" if elapsed is not None else ""
    made = (
        f"Runs made by `{run_command}`{timed}; report by `{command}`"
        if run_command and run_command != command
        else f"Made by `{command}`{timed}"
    )
    lines = [
        "# The study, re-made",
        "",
        made + f" on {datetime.now():%Y-%m-%d}: {runs} runs of "
        f"{'the six grids' if len(found) == len(STUDY) else f'{len(found)} of the six grids'} in "
        "`cifar_sweep/conf/experiment/` "
        f"(the runs' own wall time {train_seconds / 60:.0f} min), "
        f"{'at a reduced scale' if small else 'at the study' + chr(39) + 's scale'}, on "
        f"{platform.machine()} with {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
        f"torch {torch_version()}.",
        "",
        "Data: CIFAR-10 from `CIFAR10_DIR`. Every setting is the study's where the study gives one; the "
        "table at the end lists each, with ours where it gives none. Each grid runs every cell with several "
        "seeds and compares the last epoch's test accuracy, as the study did; the study ran each setting "
        "once, unseeded.",
        "",
    ]
    if small:
        width = scales[found[0].name]["width"]
        by_epochs = {study_epochs(c.name): scales[c.name] for c in reversed(found)}  # a grid of each length found
        lengths = ", ".join(
            f"{s['epochs']} epochs of {images(s)} training images for the grids the study ran {n} epochs"
            for n, s in sorted(by_epochs.items())
        )
        lines += [
            f"**Scale.** Width {width} VGGs (about {width**2:.2%} of the parameters); "
            f"{lengths} (StepLR's step scaled alike); validation and test on the whole test set. "
            "The verdicts below are about these small networks trained briefly; they say what the grids "
            "show at this scale, not what the study's full-size networks do. For that, run on a GPU:",
            "",
            f"    {GPU_COMMAND}",
            "",
        ]
    lines += ["| claim | verdict | because |", "| --- | --- | --- |"]
    return lines + [f"| {c.title} | **{v.verdict}** | {v.reason} |" for c, v in zip(study_claims(), verdicts)] + [""]


def torch_version() -> str:
    try:
        from importlib.metadata import version

        return version("torch")
    except Exception:
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cifar-sweep-report",
        description="The study re-made: its six claims, each with figures, a table over seeds and a verdict.",
    )
    parser.add_argument("--run", action="store_true", help="run the six grids first (else read --sweeps)")
    parser.add_argument(
        "--scale",
        choices=list(SCALES),
        default="gpu",
        help="with --run: gpu: the study's scale; cpu: width 1/8, 12 epochs of 2,500 images for the 20-epoch "
        "grids, 10 of 5,000 for the 50-epoch ones (default gpu)",
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds per cell when running (default 3)")
    parser.add_argument(
        "--sweeps",
        type=Path,
        help="the folder with one sweep folder per grid (default with --run: multirun/study-<scale>/<date_time>)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("study.md"),
        help="the report; figures go to a folder of the same name beside it (default study.md)",
    )
    parser.add_argument(
        "--run-py", type=Path, help="a Hydra entrypoint to run the grids with (default: python -m cifar_sweep)"
    )
    parser.add_argument("overrides", nargs="*", help="more overrides for every grid, e.g. hydra/launcher=joblib")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds={args.seeds}: must be a positive integer")
    sweeps = args.sweeps or (Path("multirun") / f"study-{args.scale}" / f"{datetime.now():%Y-%m-%d_%H-%M-%S}")
    command = "python -m cifar_sweep.report " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    try:
        check_out(args.out)
        if args.run:
            if args.run_py is not None and not args.run_py.is_file():
                raise ReportError(f"--run-py={str(args.run_py)!r}: no such file")
            run_grids(sweeps, args.scale, args.seeds, args.overrides, args.run_py, command)
        elif args.sweeps is None:
            raise ReportError("--sweeps: give the folder of a finished study run, or --run to make one")
        verdicts = write_report(sweeps, args.out, command)
    except UserError as e:  # collect's and the report's own
        refuse(str(e))
    for claim, verdict in zip(study_claims(), verdicts):
        print(f"{claim.title}: {verdict.verdict} ({verdict.reason})")
    print(f"wrote {args.out} and {args.out.with_suffix('')}/ (sweeps in {sweeps})")
    return 0
