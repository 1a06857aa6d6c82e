"""An Optuna search as Optuna sees it: its trials, best first, and Optuna's own plots.

    trials_table(study)        one row per trial: number, state, value, params, epochs reported
    write_plots(study, dir)    optuna_history.png, optuna_slice.png (log axes for log parameters),
                               optuna_intermediate.png (x: where pruned trials stopped),
                               optuna_parallel.png, optuna_importance.png (with 2+ parameters)

collect calls these for a sweep whose jobs belong to an optuna_pruning study.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from optuna_pruning_sweeper import sqlite_file


def existing_storage(url: str):
    """An RDBStorage for `url`, or None when it is an SQLite file that does not exist: reading a
    finished search never creates a database. Close it with close()."""
    import optuna

    path = sqlite_file(url)
    if path is not None and not path.is_file():
        return None
    return optuna.storages.RDBStorage(url, skip_table_creation=True)


def close(storage) -> None:
    """Close the storage's connections (a PostgreSQL connection left to the garbage collector is a
    ResourceWarning in whatever code runs when it is collected)."""
    if storage is not None:
        storage.engine.dispose()


@contextmanager
def storages() -> Iterator[dict]:
    """A cache url -> existing_storage(url) (or None) that closes every storage it holds on exit."""
    opened: dict = {}
    try:
        yield opened
    finally:
        for storage in opened.values():
            close(storage)


@contextmanager
def opened_study(url: str, name: str) -> Iterator:
    """The study, or None when its storage cannot be opened (collect still writes its other tables);
    its storage is closed on exit."""
    import optuna

    storage = None
    try:
        storage = existing_storage(url)
        study = optuna.load_study(study_name=name, storage=storage) if storage is not None else None
    except Exception:  # a missing or broken database must not stop collect
        study = None
    try:
        yield study
    finally:
        close(storage)


def trials_table(study) -> pd.DataFrame:
    """Finished trials by objective (best first), then the pruned, failed and running ones."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append(
            {
                "trial": t.number,
                "state": t.state.name,
                "value": t.value if t.values is not None and len(t.values) == 1 else None,
                "epochs": len(t.intermediate_values),
                **t.params,
            }
        )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    maximize = study.direction.name == "MAXIMIZE" if len(study.directions) == 1 else True
    table["_done"] = table["state"] != "COMPLETE"
    table = table.sort_values(["_done", "value"], ascending=[True, not maximize], na_position="last")
    return table.drop(columns="_done").reset_index(drop=True)


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    fig.set_size_inches(max(6.0, 4.0 * len(axes)) if len(axes) > 1 else 8.0, 5.0)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def _mark_pruned(ax, study) -> None:
    """An x at each pruned trial's last reported value (after readable(), which recolours the lines)."""
    from optuna.trial import TrialState

    pruned = [t for t in study.get_trials(deepcopy=False, states=(TrialState.PRUNED,)) if t.intermediate_values]
    if pruned:
        steps = [max(t.intermediate_values) for t in pruned]
        ax.plot(
            steps, [t.intermediate_values[s] for t, s in zip(pruned, steps)], "kx", markersize=8, label="pruned here"
        )
        ax.legend(fontsize="x-small")


# Optuna's defaults that its target_name does not reach, and what our figures say instead
LABELS = {"Intermediate Value": "{metric} after each epoch", "Step": "epoch"}
WHOLE_NUMBERS = ("Trial", "trial", "Step", "epoch")  # axes that count, so their ticks are integers


def readable(fig, metric: str) -> None:
    """Optuna's matplotlib figure, made readable: axes named by the metric, whole-number ticks where
    they count trials or epochs, and every trial drawn dark enough to see (Optuna's Blues fade the
    first trials, or the worst, to white; its line colours include pale ones)."""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import ListedColormap
    from matplotlib.ticker import MaxNLocator

    visible = ListedColormap(plt.get_cmap("Blues")(np.linspace(0.35, 1.0, 256)), name="Blues_visible")
    for ax in fig.axes:
        for get, set_ in ((ax.get_xlabel, ax.set_xlabel), (ax.get_ylabel, ax.set_ylabel)):
            if get() in LABELS:
                set_(LABELS[get()].format(metric=metric))
        if ax.get_xlabel() in WHOLE_NUMBERS:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ax.get_ylabel() in WHOLE_NUMBERS:
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        for collection in ax.collections:
            if collection.get_array() is not None and collection.get_cmap().name == "Blues":
                collection.set_cmap(visible)
        if ax.get_xlabel() == "epoch":  # the intermediate values: one dark colour per trial (tab10, not tab20)
            tab10 = plt.get_cmap("tab10")
            for i, line in enumerate(ax.get_lines()):
                line.set_color(tab10(i % 10))
            if ax.get_legend() is not None:
                ax.legend(fontsize="x-small")


def figures(study) -> dict:
    """Optuna's matplotlib plots of the study, made readable: file name -> figure."""
    from optuna.exceptions import ExperimentalWarning
    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as plots

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        return {}
    params = {name for t in done for name in t.params}
    metric = (study.metric_names or ["objective"])[0]
    made = {
        "optuna_history.png": lambda: plots.plot_optimization_history(study, target_name=metric),
        "optuna_slice.png": lambda: plots.plot_slice(study, target_name=metric),
        "optuna_parallel.png": lambda: plots.plot_parallel_coordinate(study, target_name=metric),
    }
    if any(t.intermediate_values for t in study.get_trials(deepcopy=False)):
        made["optuna_intermediate.png"] = lambda: plots.plot_intermediate_values(study)
    if len(params) >= 2 and len(done) >= 2:
        made["optuna_importance.png"] = lambda: plots.plot_param_importances(study)
    result = {}
    with warnings.catch_warnings():  # Optuna marks its matplotlib plots experimental; that is its business
        warnings.simplefilter("ignore", ExperimentalWarning)
        for name, plot in made.items():
            axes = plot()
            fig = (axes.ravel()[0] if hasattr(axes, "ravel") else axes).figure
            readable(fig, metric)
            if name == "optuna_intermediate.png":
                _mark_pruned(fig.axes[0], study)
            result[name] = fig
    return result


def write_plots(study, out_dir: Path) -> list[str]:
    """Optuna's plots of the study (figures()), as PNGs in out_dir; returns the names written."""
    made = figures(study)
    if made:
        out_dir.mkdir(parents=True, exist_ok=True)
    for name, fig in made.items():
        _save(fig, out_dir / name)
    return list(made)


def trials_markdown(table: pd.DataFrame, top: int = 10) -> list[str]:
    if table.empty:
        return []
    shown = table.head(top)
    return [
        f"## Trials, best first ({len(shown)} of {len(table)})",
        "",
        shown.to_markdown(index=False, floatfmt=".4g"),
        "",
    ]
