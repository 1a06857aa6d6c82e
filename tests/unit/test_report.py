"""The study report: its verdict rules on known values, its scale overrides, and one real run of the
command on tiny synthetic grids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cifar_sweep.report.claims import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    grid_commands,
    overfits,
    overfitting_verdict,
    reaches_verdict,
    study_claims,
    winner_verdict,
)
from cifar_sweep.report.document import main as report_main

from helpers import compose_cfg

A = np.array([0.80, 0.81, 0.82])


def test_winner_holds_when_it_beats_every_cell_significantly():
    verdict = winner_verdict({"adam": A, "sgd": A - 0.10, "rmsprop": A - 0.05}, "adam")
    assert verdict.verdict == HOLDS


def test_winner_does_not_hold_when_another_cell_is_significantly_better():
    verdict = winner_verdict({"adam": A, "sgd": A + 0.05, "rmsprop": A - 0.05}, "adam")
    assert verdict.verdict == FAILS and "sgd" in verdict.reason


def test_winner_is_inconclusive_on_a_tie_within_noise():
    tie = np.array([0.805, 0.815, 0.81])
    verdict = winner_verdict({"adam": A, "rmsprop": tie, "sgd": A - 0.10}, "adam")
    assert verdict.verdict == INCONCLUSIVE and "rmsprop" in verdict.reason and "sgd" not in verdict.reason


def test_winner_is_inconclusive_with_fewer_than_two_seeds():
    assert winner_verdict({"adam": A, "sgd": np.array([0.5])}, "adam").verdict == INCONCLUSIVE
    assert winner_verdict({"sgd": A}, "adam").verdict == INCONCLUSIVE


def test_a_better_mean_that_is_not_significant_is_not_a_failure():
    noisy = np.array([0.70, 0.95, 0.82])  # mean 0.823 > 0.81, but p is large
    assert winner_verdict({"adam": A, "sgd": noisy}, "adam").verdict == INCONCLUSIVE


def curve(val_loss, train_loss=None):
    train_loss = train_loss or list(np.linspace(2.0, 0.5, len(val_loss)))
    return pd.DataFrame({"epoch": range(1, len(val_loss) + 1), "val_loss": val_loss, "train_loss": train_loss})


def test_overfitting_needs_a_rising_validation_loss_and_a_falling_training_loss():
    assert overfits(curve([2.0, 1.5, 1.2, 1.3, 1.4]), 0.02)  # +17 % over the minimum, train falls
    assert not overfits(curve([2.0, 1.5, 1.2, 1.21, 1.22]), 0.02)  # +1.7 %: under the 2 % margin
    assert not overfits(curve([2.0, 1.5, 1.2, 1.1, 1.0]), 0.02)  # still falling
    assert not overfits(curve([2.0, 1.5, 1.2, 1.3, 1.4], [2.0, 1.0, 0.5, 0.6, 0.7]), 0.02)  # train rose too


def test_overfitting_verdict_over_networks_and_seeds():
    assert overfitting_verdict({"vgg11": [True] * 3, "vgg16": [True] * 3}).verdict == HOLDS
    assert overfitting_verdict({"vgg11": [True] * 3, "vgg16": [False] * 3}).verdict == FAILS
    assert overfitting_verdict({"vgg11": [True] * 3, "vgg16": [True, False, True]}).verdict == INCONCLUSIVE


def test_final_recipe_is_judged_only_at_the_studys_scale():
    final = next(c for c in study_claims() if c.kind == "reaches")
    assert final.target == 0.9228 and final.only_at == {
        "model.width": 1.0,
        "trainer.epochs": 50,
        "data.train_subset": None,
    }

    def verdict(values: list[float], comparable: bool = True) -> str:
        return reaches_verdict(np.array(values), final.target, comparable, final.only_at).verdict

    assert verdict([0.95, 0.95], comparable=False) == INCONCLUSIVE
    assert verdict([0.921, 0.924, 0.925]) == HOLDS  # 92.28 % inside the CI
    assert verdict([0.90, 0.901, 0.899]) == FAILS
    assert verdict([0.93]) == HOLDS
    assert verdict([0.91]) == INCONCLUSIVE


def test_scaled_grids_keep_the_shape_of_steplr():
    by_grid = {c.name: c for c in study_claims()}
    ((sub, over),) = grid_commands(by_grid["overfitting"], "cpu")
    assert "trainer.epochs=12" in over and "scheduler.step_size=6" in over and "data.train_subset=2500" in over
    cells = dict(grid_commands(by_grid["schedulers"], "cpu"))
    assert "scheduler=cosine,exponential,plateau" in cells[""] and "scheduler.step_size=2" in cells["step"]
    assert grid_commands(by_grid["schedulers"], "gpu") == [
        (
            "",
            [
                "experiment=schedulers",
                "trainer.epochs=50",
                "data.train_subset=null",
                "scheduler=cosine,exponential,plateau,step",
            ],
        )
    ]
    for claim in study_claims():  # every command composes (Hydra rejects a key a grid's scheduler lacks)
        for _, overrides in grid_commands(claim, "cpu"):
            compose_cfg([o.split(",")[0] for o in overrides])


@pytest.mark.parametrize(
    "out, expected",
    [
        ("a_file/study.md", "a_file is a file, not a folder; choose another --out"),
        ("a_file/deeper/study.md", "a_file is a file, not a folder; choose another --out"),
        ("a_folder", "a_folder (the report) is a folder already; choose another --out"),
        ("clash.md", "clash (its figures folder) is a file already; choose another --out"),
    ],
)
def test_an_out_that_cannot_be_written_is_one_line_before_anything_runs(tmp_path, capsys, out, expected):
    (tmp_path / "a_file").write_text("")
    (tmp_path / "a_folder").mkdir()
    (tmp_path / "clash").write_text("")
    with pytest.raises(SystemExit) as stop:
        report_main(["--run", "--run-py", "/no/such/run.py", "--out", str(tmp_path / out)])
    assert stop.value.code == 2
    assert capsys.readouterr().err.splitlines() == [f"error: --out='{tmp_path / out}': {tmp_path}/{expected}"]
