"""logger=tensorboard and logger=mlflow, read back with each tool's own reader (and a real TensorBoard
server over HTTP), compared with metrics.csv; a tracker that fails never fails the run."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from helpers import FAST, read_json, run_cli


def metrics(run_dir) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def tensorboard_run(tmp_path_factory):
    pytest.importorskip("tensorboard", reason="pip install -e '.[tensorboard]'")
    run_dir = tmp_path_factory.mktemp("tb") / "run"
    result = run_cli([*FAST, "trainer.epochs=3", "logger=tensorboard", f"hydra.run.dir={run_dir}"])
    assert result.returncode == 0, result.stderr[-2000:]
    return run_dir


def test_tensorboard_events_equal_metrics_csv(tensorboard_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tensorboard_run / "tensorboard"))
    events.Reload()
    rows = metrics(tensorboard_run)
    for column, tag in (
        ("train_loss", "train/loss"),
        ("val_acc", "val/acc"),
        ("lr", "lr"),
        ("images_per_second", "images_per_second"),
    ):
        logged = events.Scalars(tag)
        assert [s.step for s in logged] == [1, 2, 3]
        assert [s.value for s in logged] == pytest.approx([float(r[column]) for r in rows], rel=1e-6), tag
    assert not [tag for tag in events.Tags()["scalars"] if tag.startswith("hparams/")]  # no single-point cards


def test_tensorboard_pointed_at_a_sweep_lists_its_runs_by_what_they_tried(tmp_path):
    """Read back with TensorBoard's own readers: run names carry the swept values; the hparams view holds
    the swept keys alone, in the sweep's order, with the per-epoch scalars as its metrics."""
    pytest.importorskip("tensorboard", reason="pip install -e '.[tensorboard]'")
    from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer
    from tensorboard.plugins.hparams import plugin_data_pb2

    sweep = tmp_path / "sweep"
    args = ["-m", *FAST, "trainer.epochs=1", "optimizer=adam,sgd", "seed=0,1", "logger=tensorboard"]
    result = run_cli([*args, f"hydra.sweep.dir={sweep}"])
    assert result.returncode == 0, result.stderr[-2000:]
    runs = EventMultiplexer().AddRunsFromDirectory(str(sweep))
    runs.Reload()
    expected = {f"tensorboard/optimizer={o},seed={s}" for o in ("adam", "sgd") for s in (0, 1)}
    assert set(runs.Runs()) == expected
    for run, tags in runs.PluginRunToTagToContent("hparams").items():
        data = plugin_data_pb2.HParamsPluginData.FromString(tags["_hparams_/experiment"])
        assert [h.name for h in data.experiment.hparam_infos] == ["optimizer", "seed"]  # constants left out
        assert [m.name.tag for m in data.experiment.metric_infos] == ["val/acc", "val/loss", "train/acc", "train/loss"]
        start = plugin_data_pb2.HParamsPluginData.FromString(tags["_hparams_/session_start_info"])
        assert run.endswith(
            f"optimizer={start.session_start_info.hparams['optimizer'].string_value},"
            f"seed={int(start.session_start_info.hparams['seed'].number_value)}"
        )
    accumulator = runs.GetAccumulator("tensorboard/optimizer=sgd,seed=1")
    assert "val/acc" in accumulator.Tags()["tensors"] and not any(
        t.startswith("hparams/") for t in accumulator.Tags()["tensors"]
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_real_tensorboard_server_serves_the_runs_scalars(tensorboard_run):
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tensorboard.main",
            "--logdir",
            str(tensorboard_run),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/data/plugin/scalars/scalars?run=tensorboard&tag=val%2Facc"
    try:
        deadline, data = time.time() + 90, None
        while time.time() < deadline and data is None:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    data = json.loads(response.read())
            except OSError:  # not listening yet, or the run not loaded yet
                time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(30)
    assert data is not None, "TensorBoard did not answer"
    assert [step for _, step, _ in data] == [1, 2, 3]
    assert [value for _, _, value in data] == pytest.approx([float(r["val_acc"]) for r in metrics(tensorboard_run)])


def test_mlflow_holds_one_run_per_job_equal_to_metrics_csv(tmp_path):
    pytest.importorskip("mlflow", reason="pip install -e '.[mlflow]'")
    from mlflow.tracking import MlflowClient

    sweep = tmp_path / "sweep"
    result = run_cli(["-m", *FAST, "optimizer=adam,sgd", "logger=mlflow", f"hydra.sweep.dir={sweep}"])
    assert result.returncode == 0, result.stderr[-2000:]
    client = MlflowClient(tracking_uri=f"sqlite:///{sweep}/mlflow.db")
    experiment = client.get_experiment_by_name(f"default/{sweep.name}")  # the sweep's, shared by its jobs
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {"optimizer=adam", "optimizer=sgd"}  # named by what they tried
    for name, run in runs.items():
        job = "0" if name == "optimizer=adam" else "1"
        rows, summary = metrics(sweep / job), read_json(sweep / job / "summary.json")
        history = client.get_metric_history(run.info.run_id, "val_acc")
        assert [(m.step, m.value) for m in history] == [(int(r["epoch"]), float(r["val_acc"])) for r in rows]
        assert run.data.params["optimizer._target_"] in ("torch.optim.Adam", "torch.optim.SGD")
        assert run.data.params["model.name"] == "vgg16" and run.data.tags["status"] == "completed"
        assert run.data.metrics["test_acc"] == pytest.approx(summary["test_acc"])
        assert run.info.status == "FINISHED"


def test_a_tracker_that_is_down_never_fails_the_run(tmp_path):
    pytest.importorskip("mlflow", reason="pip install -e '.[mlflow]'")
    result = run_cli([*FAST, "logger=mlflow", "logger.tracking_uri=http://127.0.0.1:1", f"hydra.run.dir={tmp_path}"])
    assert result.returncode == 0, result.stderr[-2000:]
    warnings = [line for line in (tmp_path / "run.log").read_text().splitlines() if "logger=mlflow:" in line]
    assert len(warnings) == 1 and "carrying on without it" in warnings[0]
    assert read_json(tmp_path / "summary.json")["status"] == "completed" and len(metrics(tmp_path)) == 2


def test_wandb_holds_one_offline_run_per_job_named_and_grouped_equal_to_metrics_csv(tmp_path):
    pytest.importorskip("wandb", reason="pip install -e '.[wandb]'")
    from wandb_records import read_run

    sweep = tmp_path / "sweep"
    args = ["-m", *FAST, "optimizer=adam,sgd", "logger=wandb", f"hydra.sweep.dir={sweep}"]
    result = run_cli(args, env={"WANDB_API_KEY": ""})  # no key: offline
    assert result.returncode == 0, result.stderr[-2000:]
    for job, optimizer in (("0", "adam"), ("1", "sgd")):
        found = read_run(sweep / job)
        (run,) = found["runs"]
        assert run.display_name == f"optimizer={optimizer}" and run.run_group == f"default/{sweep.name}"
        rows = metrics(sweep / job)
        assert sorted(found["history"]) == [int(r["epoch"]) for r in rows]
        for r in rows:
            assert found["history"][int(r["epoch"])]["val/acc"] == pytest.approx(float(r["val_acc"]))
        assert found["summary"]["test_acc"] == pytest.approx(read_json(sweep / job / "summary.json")["test_acc"])
        assert found["exit"] == 0
