"""Optuna's plots as collect writes them, checked on the figure objects at 3 and 12 trials: axes named
by the metric, whole-number ticks for trials and epochs, every trial dark enough to see."""

from __future__ import annotations

import math
import warnings

import numpy as np
import optuna
import pytest
from matplotlib.colors import to_rgba

from cifar_sweep import trials
from cifar_sweep.plots import plt


def study_of(n_trials: int) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=n_trials))

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("optimizer.lr", 1e-5, 1e-1, log=True)
        dropout = trial.suggest_float("model.dropout", 0.0, 0.5)
        for epoch in range(1, 4):
            trial.report(0.1 * epoch + dropout / 10, epoch)
            if lr < 1e-4 and epoch == 2:
                raise optuna.TrialPruned()
        return 0.5 - abs(math.log10(lr) + 3) / 10 + dropout / 10

    study.optimize(objective, n_trials=n_trials)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(["best_val_acc"])
    return study


def luminance(colour) -> float:
    r, g, b, _ = to_rgba(colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


@pytest.mark.parametrize("n_trials", [3, 12])
def test_optunas_plots_name_the_metric_count_in_whole_numbers_and_show_every_trial(n_trials):
    figures = trials.figures(study_of(n_trials))
    assert {"optuna_history.png", "optuna_slice.png", "optuna_parallel.png", "optuna_intermediate.png"} <= set(figures)
    history = figures["optuna_history.png"].axes[0]
    intermediate = figures["optuna_intermediate.png"].axes[0]
    assert history.get_ylabel() == "best_val_acc" and "best_val_acc" in [
        t.get_text() for t in history.get_legend().get_texts()
    ]
    assert intermediate.get_ylabel() == "best_val_acc after each epoch" and intermediate.get_xlabel() == "epoch"
    assert figures["optuna_slice.png"].axes[0].get_ylabel() == "best_val_acc"
    parallel_labels = [t.get_text() for ax in figures["optuna_parallel.png"].axes for t in ax.get_xticklabels()]
    assert "best_val_acc" in parallel_labels and "Objective Value" not in parallel_labels
    for fig in figures.values():
        fig.canvas.draw()
        for ax in fig.axes:
            text = " ".join([ax.get_xlabel(), ax.get_ylabel()] + [t.get_text() for t in ax.get_xticklabels()])
            assert "Objective Value" not in text and "Intermediate Value" not in text
    for ax, axis in ((history, history.xaxis), (intermediate, intermediate.xaxis)):
        ticks = [t for t in axis.get_majorticklocs() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks  # trials and epochs are counted
    for name in ("optuna_slice.png", "optuna_parallel.png"):
        for ax in figures[name].axes:
            for collection in ax.collections:
                if collection.get_array() is not None:  # coloured by trial or value: none near white
                    colours = collection.to_rgba(np.asarray(collection.get_array(), float).ravel())
                    assert max(luminance(c) for c in colours) < 0.8, name
    assert max(luminance(line.get_color()) for line in intermediate.get_lines()) < 0.8
    for fig in figures.values():
        plt.close(fig)
