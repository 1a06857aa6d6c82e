"""A sweep directory -> one row per job -> tables and plots, written into the sweep directory.

    python -m cifar_sweep.collect multirun/optimizers/2026-11-28_10-00-00
    cifar-sweep-collect multirun/vgg16_tpe            # every invocation of an Optuna study

    from cifar_sweep.collect import collect
    jobs = collect("multirun/optimizers/...")         # pandas DataFrame, one row per job

Reads each job directory (any folder below SWEEP_DIR holding .hydra/overrides.yaml): its
overrides, summary.json and metrics.csv. A job without summary.json (still running, or killed)
is `incomplete`, never dropped; its numbers come from the epochs it finished. Writes
results.csv, results.md, summary.md and plots/*.png. Never imports the training code.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import pandas as pd
import yaml
from omegaconf import OmegaConf

from cifar_sweep import status, sweeps, trials
from cifar_sweep.errors import UserError, one_line, refuse
from cifar_sweep.results import CURVE_COLUMNS, HEADLINE, OBJECTIVES, read_summary
from cifar_sweep.stats import compare_cells
from optuna_pruning_sweeper import mask_password, trial_reference

RESULT_COLUMNS = ["status", *HEADLINE]  # each job's numbers, from its summary.json
TRIAL_COLUMNS = ["trial", "trial_state"]  # Optuna sweeps by the optuna_pruning sweeper
CLAIM_MARKER = "claim.json"  # in a sweep folder that cifar_sweep.decide ran for a claim: which claim it served
LABEL_COLUMNS = [*TRIAL_COLUMNS, "claim"]  # what a job is part of, shown before its keys


class CollectError(UserError):
    """SWEEP_DIR is not something collect can read."""


# ---------------------------------------------------------------- reading


def find_job_dirs(sweep_dir: Path) -> list[Path]:
    return sorted(p.parent.parent for p in sweep_dir.rglob(".hydra/overrides.yaml"))


def parse_overrides(job_dir: Path) -> dict[str, str]:
    """The job's overrides (.hydra/overrides.yaml); ValueError (or yaml's error) when it is damaged."""
    lines = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text())
    if not isinstance(lines, list):  # empty, NUL bytes, or something else than Hydra's list
        raise ValueError(f"holds {type(lines).__name__}, not a list of overrides")
    return sweeps.override_values(lines)


def job_overrides(job_dir: Path) -> tuple[dict[str, str], dict]:
    """(overrides with passwords masked, {}), or ({}, the fields of an unreadable job) when they are damaged."""
    try:
        return {k: mask_password(v) for k, v in parse_overrides(job_dir).items()}, {}
    except (OSError, ValueError, yaml.YAMLError) as e:
        return {}, {"status": status.UNREADABLE, "error": one_line(e, ".hydra/overrides.yaml")}


def read_config(job_dir: Path):
    """The job's config (.hydra/config.yaml) with its Hydra config (.hydra/hydra.yaml) under `hydra`,
    whose interpolations such as ${name} refer to the job's keys; None when either cannot be read."""
    try:
        job = OmegaConf.load(job_dir / ".hydra" / "config.yaml")
        cfg = OmegaConf.merge(job, OmegaConf.load(job_dir / ".hydra" / "hydra.yaml"))
        return cfg if OmegaConf.select(cfg, "hydra.job.env_set") is not None and "runtime" in cfg.hydra else None
    except Exception:  # missing, empty, truncated or not YAML: the row is still shown
        return None


def job_number(job_dir: Path, cfg) -> int | None:
    try:
        return int(cfg.hydra.job.num)
    except Exception:
        return int(job_dir.name) if job_dir.name.isdigit() else None


def sweep_folder(job_dir: Path, root: Path) -> Path:
    """The folder of the sweep that ran the job: the nearest one above it holding a multirun.yaml (a grid),
    else the job's parent (hydra.sweep.subdir is the job number by default)."""
    below_root = [p for p in job_dir.parents if p == root or root in p.parents]
    return next((p for p in below_root if (p / sweeps.MULTIRUN_YAML).is_file()), job_dir.parent)


def declared_keys(cfg, folder: Path) -> list[str]:
    """The keys the job's sweep varies by its own account (sweeps.grid_keys); none when its records cannot
    say (a damaged multirun.yaml, a search space given on the command line): the values still show it."""
    try:
        return sweeps.grid_keys(cfg.hydra, folder)
    except Exception:
        return []


def read_curves(job_dir: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(job_dir / "metrics.csv")
        return frame[list(CURVE_COLUMNS)].apply(pd.to_numeric, errors="coerce").dropna(subset=["epoch"])
    except (OSError, ValueError, KeyError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return pd.DataFrame({c: pd.Series(dtype=float) for c in CURVE_COLUMNS})


def read_result(job_dir: Path, curves: pd.DataFrame) -> dict:
    """The job's status and numbers: summary.json if there is one, else what metrics.csv shows."""
    try:
        summary = read_summary(job_dir)
    except (OSError, ValueError) as e:
        return {"status": status.UNREADABLE, "error": one_line(e, "summary.json")}
    if summary is not None:  # and the names of its labels, which the table shows once
        return {k: summary.get(k) for k in RESULT_COLUMNS} | {
            "error": summary.get("error"),
            "classes": summary.get("classes"),
        }
    val = curves["val_acc"]
    return {
        "status": status.INCOMPLETE,
        "best_val_acc": val.max() if len(val) else None,
        "final_val_acc": val.iloc[-1] if len(val) else None,
        "epochs_completed": len(curves),
    }


def trial_fields(url: str, trial_id: int, storages: dict) -> dict:
    """The `trial` and `trial_state` columns of a job launched by the optuna_pruning sweeper."""
    try:
        if url not in storages:
            storages[url] = trials.existing_storage(url)
        trial = storages[url].get_trial(trial_id) if storages[url] is not None else None
    except Exception as e:  # an unreachable database or a broken file must not stop the table
        return {"trial_state": f"unknown ({type(e).__name__})"}
    return {"trial": trial.number, "trial_state": trial.state.name} if trial else {}


def served_claim(job_dir: Path) -> dict:
    """{'claim': 'optimizers'} ('name[part]' for a value of its per key) for a job that cifar_sweep.decide
    ran to decide a claim; {} for any other, or when its marker cannot be read."""
    try:
        served = json.loads((job_dir.parent / CLAIM_MARKER).read_text())
        return {"claim": served["claim"] + (f"[{served['part']}]" if served.get("part") else "")}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def numeric_if_possible(column: pd.Series) -> pd.Series:
    try:
        return pd.to_numeric(column)
    except (ValueError, TypeError):
        return column


def read_sweep(sweep_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(jobs, curves, swept keys). jobs: one row per job; curves: one row per job and epoch."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise CollectError(
            f"{sweep_dir}: no such directory; pass a sweep directory such as multirun/optimizers/<date_time>"
        )
    job_dirs = find_job_dirs(sweep_dir)
    if not job_dirs:
        raise CollectError(
            f"{sweep_dir}: no job directories (folders with .hydra/overrides.yaml) below it; "
            "pass the directory a multirun wrote, such as multirun/optimizers/<date_time>"
        )
    rows, curves, objectives, studies, classes = [], [], [], set(), []
    declared: dict[Path, list[str]] = {}  # sweep folder -> the keys its sweep varies
    with trials.storages() as storages:  # each study's database, closed when read
        for job_dir in job_dirs:
            job_curves = read_curves(job_dir)
            overrides, damaged = job_overrides(job_dir)
            cfg = read_config(job_dir)
            objectives.append(cfg.get("objective") if cfg is not None else None)
            folder = sweep_folder(job_dir, sweep_dir)
            if folder not in declared and cfg is not None:
                declared[folder] = declared_keys(cfg, folder)
            trial = trial_reference(cfg.hydra) if cfg is not None else None  # (url, study, trial id)
            if trial is not None:
                studies.add(trial[:2])
            rows.append(
                {
                    "job": job_number(job_dir, cfg),
                    "dir": str(job_dir.relative_to(sweep_dir)),
                    **overrides,
                    **(trial_fields(trial[0], trial[2], storages) if trial else {}),
                    **served_claim(job_dir),
                    **read_result(job_dir, job_curves),
                    **damaged,
                }
            )
            classes.append(rows[-1].pop("classes", None))
            curves.append(job_curves.assign(dir=rows[-1]["dir"]))
    jobs = pd.DataFrame(rows).reindex(
        columns=list(dict.fromkeys([*(k for row in rows for k in row), *RESULT_COLUMNS, "error"]))
    )  # every column, even if no job has it
    override_keys = [c for c in jobs.columns if c not in ("job", "dir", "error", *LABEL_COLUMNS, *RESULT_COLUMNS)]
    for key in override_keys:
        jobs[key] = numeric_if_possible(jobs[key])
    # what a sweep declares it varies, and whatever differs between the jobs collected (several sweeps)
    varied = {k for keys in declared.values() for k in keys}
    swept = [k for k in override_keys if k in varied or jobs[k].nunique(dropna=False) > 1]
    fixed = [k for k in override_keys if k not in swept]
    labels = [c for c in LABEL_COLUMNS if c in jobs.columns]
    jobs = jobs[["job", *labels, *swept, *RESULT_COLUMNS, "error", "dir", *fixed]]
    # the number the sweep itself optimised or compared (cfg.objective), when its jobs agree on one
    known = [o for o in objectives if o in OBJECTIVES]
    jobs.attrs["objective"] = known[0] if known and len(set(known)) == 1 else "best_val_acc"
    jobs.attrs["studies"] = sorted(studies)  # (storage URL, study name) of an Optuna search
    named = {tuple(c) for c in classes if c}
    jobs.attrs["classes"] = list(next(iter(named))) if len(named) == 1 else None  # the label names, when one
    return jobs, pd.concat(curves, ignore_index=True), swept


def collect(sweep_dir: str | Path) -> pd.DataFrame:
    """One row per job of the sweep: job number, swept keys, status and results."""
    return read_sweep(sweep_dir)[0]


# ---------------------------------------------------------------- writing


def cell_keys(swept: list[str]) -> list[str]:
    """Grouping keys for the comparison: every swept key but the seed (seeds are folded)."""
    return [k for k in swept if k != "seed"]


def results_markdown(jobs: pd.DataFrame, swept: list[str]) -> str:
    shown = jobs[["job", *[c for c in LABEL_COLUMNS if c in jobs.columns], *swept, *RESULT_COLUMNS]]
    fixed = {k: jobs[k].iloc[0] for k in jobs.columns if k not in shown.columns and k not in ("error", "dir")}
    lines = [
        "# Results",
        "",
        f"{len(jobs)} jobs: " + ", ".join(f"{n} {s}" for s, n in jobs["status"].value_counts().items()),
        "",
    ]
    if fixed:
        lines += ["Fixed overrides: " + " ".join(f"`{k}={v}`" for k, v in fixed.items()), ""]
    if jobs.attrs.get("classes"):
        lines += ["Classes: " + ", ".join(jobs.attrs["classes"]), ""]
    lines += [shown.to_markdown(index=False, floatfmt=".4g"), ""]
    failed = jobs[jobs["error"].notna()]
    if len(failed):
        lines += ["## Errors", ""] + [f"- job {r.job}: {r.error}" for r in failed.itertuples()] + [""]
    return "\n".join(lines)


def optuna_results(sweep_dir: Path) -> list[str]:
    """One line per Optuna invocation below sweep_dir: the best trial its sweeper recorded."""
    lines = []
    for path in sorted(sweep_dir.rglob("optimization_results.yaml")):
        try:
            best = yaml.safe_load(path.read_text())
            lines.append(
                f"- `{path.parent.relative_to(sweep_dir)}`: best value {best['best_value']:.4g} "
                f"(trial {best.get('best_trial', '?')}) with {best['best_params']}"
            )
        except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError):
            lines.append(f"- `{path.relative_to(sweep_dir)}`: unreadable")
    return ["## Optuna's best trial per invocation", "", *lines, ""] if lines else []


def summary_markdown(table: pd.DataFrame, metric: str, optuna_lines: Sequence[str] = (), search: bool = False) -> str:
    if search and table.empty:
        cells = [
            "No cell of this search was run more than once, so there are no seed statistics; "
            "the trials below are its comparison.",
            "",
        ]
    else:
        cells = [
            "mean ± std over completed runs, n runs, 95 % confidence interval (t distribution). "
            "`best` marks the highest mean; `≈ best` cells are not distinguishable from it "
            "(Welch's t-test, p ≥ 0.05); `?` cells have too few runs to tell."
            + (" Only cells run more than once (seeds) are shown." if search else ""),
            "",
            table.drop(columns="values").to_markdown(index=False, floatfmt=".4g"),
            "",
        ]
    return "\n".join(
        [
            f"# Summary: {metric} per cell (seeds folded)",
            "",
            f"Compared: `{metric}`, {OBJECTIVES[metric]}.",
            "",
            *cells,
            *optuna_lines,
        ]
    )


def write_outputs(
    sweep_dir: Path, jobs: pd.DataFrame, curves: pd.DataFrame, swept: list[str], metric: str
) -> list[str]:
    """Write the tables and plots into sweep_dir; returns the two Markdown texts written. A grid
    gets the cell table and the grid plots; an Optuna search its trials, best first, and Optuna's
    own plots, with the cell table only for cells that seeds repeat."""
    from cifar_sweep import plots  # matplotlib only when writing

    table = compare_cells(jobs, cell_keys(swept), metric)
    with ExitStack() as opened:
        found = (opened.enter_context(trials.opened_study(url, name)) for url, name in jobs.attrs.get("studies", []))
        studies = [s for s in found if s]
        extra = []
        if studies:
            table = table[table["n"] + table["not_completed"] >= 2].reset_index(drop=True)
        for study in studies:
            table_of_trials = trials.trials_table(study)
            table_of_trials.to_csv(sweep_dir / f"trials_{study.study_name}.csv", index=False)
            extra += trials.trials_markdown(table_of_trials)
            written = trials.write_plots(study, sweep_dir / "plots")
            extra += [f"Optuna's plots of study `{study.study_name}`: " + ", ".join(f"plots/{w}" for w in written), ""]
    texts = [
        results_markdown(jobs, swept),
        summary_markdown(table, metric, [*optuna_results(sweep_dir), *extra], search=bool(studies)),
    ]
    jobs.to_csv(sweep_dir / "results.csv", index=False)
    (sweep_dir / "results.md").write_text(texts[0])
    (sweep_dir / "summary.md").write_text(texts[1])
    if not studies:
        plots.write_all(sweep_dir / "plots", jobs, curves, cell_keys(swept), table, metric)
    return texts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cifar-sweep-collect", description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep_dir", type=Path, help="a multirun directory, e.g. multirun/optimizers/<time>")
    parser.add_argument(
        "--metric",
        choices=list(OBJECTIVES),
        help="the number compared across cells (default: the sweep's own objective; the study's grids use test_acc)",
    )
    args = parser.parse_args(argv)
    try:
        jobs, curves, swept = read_sweep(args.sweep_dir)
        texts = write_outputs(args.sweep_dir, jobs, curves, swept, args.metric or jobs.attrs["objective"])
    except UserError as e:
        refuse(str(e))
    except OSError as e:
        refuse(f"{args.sweep_dir}: cannot write the results there ({e.strerror}: {e.filename})")
    print("\n".join(texts))
    trial_tables = ", ".join(f"trials_{name}.csv" for _, name in jobs.attrs["studies"])
    print(
        f"wrote results.csv, results.md, summary.md and plots/ into {args.sweep_dir}"
        + (f" (an Optuna search: also {trial_tables} and Optuna's plots)" if trial_tables else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
