"""The study re-made: its six claims, each with figures, a table over seeds and a verdict.

    python -m cifar_sweep.report --run --scale cpu --out docs/study.md     run the six grids, then report
    cifar-sweep-report --sweeps multirun/study-cpu/2026-11-28_10-00-00 --out docs/study.md

    claims.py     the study's claims (read from cifar_sweep/conf/claims/), their grids' scales, the
                  verdict rules and their judges
    figures.py    a figure per claim, built on cifar_sweep.plots and the claims' cell tables
    runner.py     --run: the grids as `python run.py -m experiment=GRID ...`, resumable
    document.py   the Markdown report (settings.md: its fixed prose) and the command line

Never imports the training code: it reads what the runs wrote, through collect.
"""

from cifar_sweep.report.document import main

__all__ = ["main"]
