"""What the tests share: compose the real config, run the real entrypoint in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import optuna
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "cifar_sweep" / "conf"
# small and fast: narrow VGG on generated data, no progress bars
FAST = ["data=synthetic", "model.width=0.125", "trainer.epochs=2", "trainer.progress_bar=false"]
# smaller still, for sweeps of many jobs
TINY = [*FAST, "data.train_size=400", "data.val_size=100", "data.test_size=100"]


# A search whose learning rates either learn (0.003) or cannot (1e-9): a threshold pruner stops the
# hopeless trials after epoch 2 of 3; the seeded sampler tries both. After FAST: it sets the epochs.
HOPELESS_LR_SEARCH = [
    "hparams_search=lr_pruning",
    "trainer.epochs=3",
    "optimizer.lr=choice(0.003,1e-9)",
    "hydra/sweeper/pruner=threshold",
    "hydra.sweeper.pruner.lower=0.4",
    "hydra.sweeper.pruner.n_warmup_steps=2",
    "hydra.sweeper.sampler.seed=0",
]


def compose_cfg(overrides: list[str] = ()):
    with initialize_config_dir(config_dir=str(CONF)):
        return compose(config_name="config", overrides=list(overrides))


def run_cli(
    args: list[str], timeout: float = 600, env: dict | None = None, cwd: Path = ROOT, module: str | None = None
) -> subprocess.CompletedProcess:
    """`python run.py ARGS` (or `python -m MODULE ARGS`) in `cwd`, as a user would type it."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT), **(env or {})}
    command = ["-m", module] if module else [str(ROOT / "run.py")]
    return subprocess.run(
        [sys.executable, *command, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def interrupt(
    args: list[str], sig: signal.Signals, cwd: Path = ROOT, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Start `python run.py ARGS` in `cwd`, send `sig` once its first epoch is logged, wait for it to end."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT), **(env or {})},
        # as from a terminal: a test session started in the background (`cmd &` in a script, nohup) has
        # SIGINT ignored, which its children inherit, and then Python never raises KeyboardInterrupt
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if "epoch 1/" in line:
            break
    process.send_signal(sig)
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, "".join(seen) + out, err)


def in_a_shell(line: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`line` as a user pastes it into bash in `cwd`, where `python` is this interpreter and PYTHONPATH
    is unset: a command we print must carry what it needs."""
    full_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | (env or {})
    full_env["PATH"] = f"{os.path.dirname(sys.executable)}{os.pathsep}{full_env.get('PATH', '')}"
    return subprocess.run(["bash", "-c", line], cwd=cwd, capture_output=True, text=True, env=full_env, timeout=600)


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The single `error: ...` line a user mistake prints (and no traceback)."""
    assert "Traceback" not in result.stdout + result.stderr, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr[-2000:]
    return errors[0]


PASSWORD = "s3cret-pw"  # of the throwaway PostgreSQL server (conftest.postgres_url)


def study_trials(storage: str, name: str) -> list[optuna.trial.FrozenTrial]:
    """The study's trials, read through a storage closed afterwards: a PostgreSQL connection left to the
    garbage collector is a ResourceWarning that fails whichever test is running when it is collected."""
    rdb = optuna.storages.RDBStorage(storage)
    try:
        return optuna.load_study(study_name=name, storage=rdb).trials
    finally:
        rdb.engine.dispose()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_idx_dataset(root: Path, name: str = "FashionMNIST", n: tuple[int, int] = (60, 20), size=(28, 28)) -> Path:
    """MNIST-format files (idx, as torchvision's MNIST family reads them) of random images, 10 classes,
    in <root>/<name>/raw/: a torchvision dataset made on the fly."""
    import numpy as np

    raw = root / name / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, count in (("train", n[0]), ("t10k", n[1])):
        images = rng.integers(0, 256, (count, *size), dtype=np.uint8)
        labels = (np.arange(count) % 10).astype(np.uint8)
        header = np.array([2051, count, *size], ">i4").tobytes()
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(header + images.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(np.array([2049, count], ">i4").tobytes() + labels.tobytes())
    return root


def write_image_folder(root: Path, classes=("cat", "dog", "eel"), per_class=(8, 3), size=(20, 30)) -> Path:
    """<root>/train/<class>/*.png and <root>/test/<class>/*.png of random RGB images."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in zip(("train", "test"), per_class):
        for c in classes:
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / c / f"{i}.png")
    return root
