"""What a later command may do in a run directory that already holds a run.

When training first starts, the run keeps its own copy of the config it trained with (Hydra's
`.hydra/` files) in `checkpoints/config/`. Later, in that directory:
- without trainer.resume=true, nothing runs: the earlier run's files stay as they are;
- with trainer.resume=true, the config must match the trained one in every key that changes the
  result (all but sweeps.HARMLESS; trainer.epochs included, since cosine's T_max and one-cycle follow it);
- Hydra rewrites `.hydra/` before any of this runs, so `.hydra/` is put back from the copy: it always
  describes the training that made the files beside it.
A run that failed (a full disk, CUDA out of memory, a crash) is a run like a killed one: resuming it
continues from its last checkpoint, and a new config there is refused. Only a run that diverged cannot
be resumed (it would diverge again): one line says so and nothing changes. trainer.resume=true where
no run has trained is one line for a single run; a grid's job that never started starts.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from pathlib import Path
from typing import cast

from omegaconf import DictConfig, OmegaConf

from cifar_sweep import results, status
from cifar_sweep.config import flatten
from cifar_sweep.errors import UserError, one_line
from cifar_sweep.files import write_file
from cifar_sweep.results import Summary
from cifar_sweep.sweeps import as_typed, harmless, task_overrides

log = logging.getLogger(__name__)

RECORD = Path("checkpoints") / "config"
HYDRA_FILES = ("overrides.yaml", "hydra.yaml", "config.yaml")  # copied in this order: a record is complete
# once its config.yaml is there (a crash while copying leaves no record, so the run starts afresh)
TRAINED = ("metrics.csv", "checkpoints/last.pt")  # what a run writes once an epoch has trained


def differences(cfg: DictConfig, trained: DictConfig) -> list[str]:
    """`key=trained value (now value)` for every result-changing key that differs."""
    now = flatten(cfg, resolve=False)
    then = flatten(trained, resolve=False)
    keys = sorted(k for k in now.keys() | then.keys() if not harmless(k))
    return [f"{k}={then.get(k, '<absent>')} (now {now.get(k, '<absent>')})" for k in keys if now.get(k) != then.get(k)]


class PreviousRun:
    """A job's run directory and the run it may already hold."""

    def __init__(self, path: Path, key: str) -> None:
        self.path, self.key = path, key  # key: hydra.run.dir or hydra.sweep.dir, for messages
        self.foreign: str | None = None  # why files there (summary.json, metrics.csv, last.pt) are not ours
        self.trained, broken_record = read_record(path / RECORD)
        self.damaged: str | None = None  # what of our run's files is damaged, and what to do about it
        if broken_record is not None:
            self.damaged = (
                f"the record of the config its run trained with is damaged ({broken_record}), so nothing can "
                f"continue it; delete {path / RECORD.parent} to start the run over there, or choose another directory"
            )
        try:
            self.summary = results.read_summary(path)
        except (OSError, ValueError) as e:
            self.summary = None
            if self.trained is None and broken_record is None:
                self.foreign = one_line(e, "")
            elif self.damaged is None:
                self.damaged = (
                    f"its summary.json cannot be read ({one_line(e, '')}); move it away and add trainer.resume=true "
                    "to continue the run from its checkpoint, or choose another directory"
                )
        self.remembered = False  # this job made the config record (it started training afresh)
        unrecorded = [name for name in TRAINED if (path / name).exists()]
        if self.trained is None and self.foreign is None and self.damaged is None and unrecorded:  # ours record first
            self.foreign = f"{' and '.join(unrecorded)} without the config record a run of ours writes first"

    @property
    def empty(self) -> bool:
        """No run and no file of another's: a new run may write here."""
        return self.summary is None and self.trained is None and self.foreign is None and self.damaged is None

    @property
    def finished(self) -> bool:
        return self.summary is not None and self.summary.get("status") in status.FINISHED

    @property
    def diverged(self) -> bool:
        return self.summary is not None and str(self.summary.get("error", "")).startswith(status.DIVERGED)

    def check(self, cfg: DictConfig) -> None:
        """Refuse, with one line, anything but resuming the same run (see the module's doc)."""
        if self.damaged is not None:
            raise UserError(f"{self.key}={str(self.path)!r}: {self.damaged}")
        if self.foreign is not None:
            raise UserError(
                f"{self.key}={str(self.path)!r}: holds files that no run of ours wrote ({self.foreign}); "
                "they are left as they are: choose another directory, or move them away"
            )
        if self.trained is None and not self.finished:  # nothing trained here (refused before training, or new)
            self.check_nothing_to_resume(cfg)
            return
        state = self.summary["status"] if self.summary else "killed before it finished"
        if not cfg.trainer.resume:
            raise UserError(
                f"{self.key}={str(self.path)!r}: holds a run already ({state}); add "
                "trainer.resume=true to continue it, or choose another directory"
            )
        differ = differences(cfg, cast(DictConfig, self.trained)) if self.trained is not None else []
        if differ:
            raise UserError(
                f"trainer.resume=true: this run ({state}) was trained with "
                + ", ".join(differ)
                + f"; resume it with its own config, or choose another {self.key}"
            )
        if self.diverged:
            raise UserError(
                f"trainer.resume=true: this run in {self.path} failed ({cast(Summary, self.summary)['error']}); "
                "resuming from its checkpoint would diverge again, so it is left as it is: start a new run in "
                f"another {self.key}, e.g. with a lower optimizer.lr"
            )

    def check_nothing_to_resume(self, cfg: DictConfig) -> None:
        """trainer.resume=true where no run trained: one line for a single run; a grid's job starts."""
        if not cfg.trainer.resume:
            return
        if self.key == "hydra.run.dir":
            raise UserError(
                f"trainer.resume=true: {self.key}={str(self.path)!r} holds no run to resume; "
                "run without trainer.resume=true to start one there, or point it at the run to continue"
            )
        log.info("trainer.resume=true: %s holds no run yet, so this job starts from epoch 1", self.path)

    def remember(self) -> None:
        """Keep Hydra's record of this config as the run's own (when training starts afresh)."""
        target = self.path / RECORD
        shutil.rmtree(target, ignore_errors=True)
        _copy(self.path / ".hydra", target)
        self.remembered = True

    def forget(self) -> None:
        """Drop the record this job made if no epoch trained (it was refused while loading its data):
        the same command may start here once the mistake is fixed."""
        if self.remembered and not any((self.path / name).exists() for name in TRAINED):
            shutil.rmtree(self.path / RECORD, ignore_errors=True)
            with contextlib.suppress(OSError):  # checkpoints/ too, if nothing else is in it
                (self.path / RECORD).parent.rmdir()
            self.remembered = False

    def restore_hydra(self) -> None:
        """Put back the `.hydra/` files of the training that made this directory's files."""
        if self.trained is not None:
            _copy(self.path / RECORD, self.path / ".hydra")


def read_record(record: Path) -> tuple[DictConfig | None, str | None]:
    """(the config the run trained with, None), (None, None) without a record, or (None, what is wrong)
    when a file of it is empty, NUL bytes or cut short (a power loss, a disk that filled up)."""
    if not (record / "config.yaml").is_file():
        return None, None
    loaded = {}
    for name in HYDRA_FILES:
        try:
            loaded[name] = OmegaConf.load(record / name)
        except Exception as e:  # yaml's errors, a read error
            return None, f"{record / name}: {one_line(e)}"
    config, hydra, overrides = loaded["config.yaml"], loaded["hydra.yaml"], loaded["overrides.yaml"]
    if not ("trainer" in config and "model" in config):
        return None, f"{record / 'config.yaml'}: not the config Hydra writes"
    if OmegaConf.select(hydra, "hydra.runtime") is None:  # its last key: absent when cut short
        return None, f"{record / 'hydra.yaml'}: not the Hydra config Hydra writes"
    if not OmegaConf.is_list(overrides) or [str(o) for o in as_typed(overrides)] != task_overrides(hydra.hydra):
        return None, f"{record / 'overrides.yaml'}: not the overrides its hydra.yaml records"
    return cast(DictConfig, loaded["config.yaml"]), None


def _copy(source: Path, target: Path) -> None:
    """Hydra's three files from source to target, each written atomically (a crash leaves the old one)."""
    for name in HYDRA_FILES:
        if (source / name).is_file():
            try:
                data = (source / name).read_bytes()
            except OSError as e:
                raise UserError(f"{source / name}: cannot read it ({e.strerror})") from None
            write_file(target / name, data)
