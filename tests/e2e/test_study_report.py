"""`python -m cifar_sweep.report`: the six grids run for real on tiny synthetic data, the report
written from them and again from the finished sweeps."""

from __future__ import annotations

from cifar_sweep.report.claims import study_claims

from helpers import run_cli


def test_report_command_runs_the_six_grids_and_writes_every_section(tmp_path):
    out = tmp_path / "study.md"
    result = run_cli(
        [
            "--run",
            "--scale",
            "cpu",
            "--seeds",
            "1",
            "--sweeps",
            str(tmp_path / "sweeps"),
            "--out",
            str(out),
            "data=synthetic",
            "data.train_size=300",
            "data.test_size=100",
            "data.train_subset=null",
            "trainer.epochs=1",
        ],
        module="cifar_sweep.report",
        env={"CIFAR10_DIR": "/nonexistent"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    text = out.read_text()
    assert text.count("**Verdict: ") == 6
    for claim in study_claims():
        assert f"## {claim.title}" in text
        assert (tmp_path / "study" / f"{claim.name}.png").stat().st_size > 10_000
    assert "| setting | the study | ours | why |" in text
    # one seed per cell: no comparison can be decided, and the report says so
    assert "fewer than 2 completed seeds" in text
    again = run_cli(
        ["--sweeps", str(tmp_path / "sweeps"), "--out", str(tmp_path / "again.md")], module="cifar_sweep.report"
    )
    assert again.returncode == 0 and (tmp_path / "again.md").read_text().count("**Verdict: ") == 6
    # the head names the command that ran the grids (recorded in run-times.json), not a grid's argv
    made = "python -m cifar_sweep.report --run --scale cpu --seeds 1"
    assert text.splitlines()[2].startswith(f"Made by `{made}")
    assert (tmp_path / "again.md").read_text().splitlines()[2].startswith(f"Runs made by `{made}")
    assert "min, one run; 1-minute load average " in text.splitlines()[2]  # its time, said to be one run


def test_report_without_sweeps_is_one_line_and_writes_nothing(tmp_path):
    result = run_cli(
        ["--sweeps", str(tmp_path / "nothing"), "--out", str(tmp_path / "study.md")], module="cifar_sweep.report"
    )
    assert result.returncode == 2 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and list(tmp_path.iterdir()) == []


def test_report_judges_the_grids_it_finds_and_refuses_folders_that_are_not_the_studys(tmp_path):
    """One grid's sweep: its claim is judged, the five others are `not run` with the command that runs
    them. A sweep of another kind in a grid-named folder is refused in one line, and nothing is written."""
    tiny = ["data=synthetic", "model.width=0.125", "trainer.epochs=1", "trainer.progress_bar=false"]
    tiny += ["data.train_size=400", "data.val_size=100", "data.test_size=100", "seed=0"]
    one = tmp_path / "one"
    assert run_cli(["-m", "experiment=optimizers", *tiny, f"hydra.sweep.dir={one / 'optimizers'}"]).returncode == 0
    result = run_cli(["--sweeps", str(one), "--out", str(tmp_path / "one.md")], module="cifar_sweep.report")
    assert result.returncode == 0, result.stderr[-3000:]
    text = (tmp_path / "one.md").read_text()
    assert text.count("**Verdict: not run**") == 5 and text.count("**Verdict: ") == 6
    assert f"python run.py -m experiment=overfitting seed=0,1,2 hydra.sweep.dir={one / 'overfitting'}" in text
    assert "runs of 1 of the six grids" in text and (tmp_path / "one" / "optimizers.png").is_file()

    other = tmp_path / "other"  # a grid over optimizers, but not the study's experiment
    assert run_cli(["-m", *tiny, "optimizer=adam,sgd", f"hydra.sweep.dir={other / 'optimizers'}"]).returncode == 0
    out = tmp_path / "other-report.md"
    refused = run_cli(["--sweeps", str(other), "--out", str(out)], module="cifar_sweep.report")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not the study's optimizers grid" in lines[0], lines
    assert not out.exists() and not out.with_suffix("").exists()
