"""What a Hydra command sweeps, in one place: the facts that the callbacks, the job's name, collect,
the exit line, the Slurm launcher and the report read from a config and from the multirun.yaml that
Hydra's basic sweeper writes before its first job. Torch-free.

    override_key(line)       'optimizer.lr' of '+optimizer.lr=0.1' (Hydra's +, ++ and ~ dropped)
    override_values(lines)   {key: value} of concrete overrides, such as a job's .hydra/overrides.yaml
    is_multirun, is_grid     what kind of command this is, from its `hydra` node
    task_overrides           the command line's overrides, as typed (`${...}` unresolved)
    grid_overrides           a grid's overrides: hydra.sweeper.params, then the command line's (which win)
    swept_keys, grid_keys    the keys a sweep varies (those of its overrides that sweep), grid_size
    grid_identity            the overrides that choose what a grid trains (resume-harmless keys left out)
    harmless(key)            a key that changes how a run is shown or where its files come from, never
                             what it learns: a resume may change it
    with_resume(args)        the arguments that continue a run, grid or job: trainer.resume=true
    override_value(text)     `text` as Hydra reads it back from an override's value (quoted if need be)
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from hydra.types import RunMode
from omegaconf import OmegaConf

PLAIN_VALUE = re.compile(r"[A-Za-z0-9_./@+:%-]+")  # characters Hydra reads as they are in an unquoted value
MULTIRUN_YAML = "multirun.yaml"  # the sweep's config, written by Hydra's basic sweeper before its first job
RESUME = "trainer.resume=true"
# keys that change how a run is shown or where its files come from, never what it learns
HARMLESS = (
    "trainer.resume",
    "trainer.progress_bar",
    "trainer.threads",
    "trainer.checkpoint_every",
    "data.cache_dir",
    "data.download",
    "name",
    "objective",
    "trust",
    "logger.",
)  # a key ending in "." stands for every key below it


def override_key(line: str) -> str:
    """The key an override sets: 'optimizer.lr' of '+optimizer.lr=0.1', '~seed' or '++seed=1'."""
    return str(line).partition("=")[0].lstrip("+~")


def override_values(lines: Iterable[str]) -> dict[str, str]:
    """{key: value} of concrete overrides (quotes around a value dropped); lines without '=' left out."""
    pairs = (str(line).split("=", 1) for line in lines if "=" in str(line))
    return {key.lstrip("+~"): value.strip("'\"") for key, value in pairs}


def harmless(key: str) -> bool:
    """Whether `key` is one of HARMLESS (or below one ending in ".")."""
    return any(key == h or (h.endswith(".") and key.startswith(h)) for h in HARMLESS)


def is_multirun(hydra_cfg) -> bool:
    """Whether the `hydra` node is a sweep's (python run.py -m ...)."""
    return hydra_cfg.mode == RunMode.MULTIRUN


def is_grid(hydra_cfg) -> bool:
    """Whether the sweep is a grid (Hydra's basic sweeper), not a search."""
    return str(hydra_cfg.sweeper.get("_target_", "")).endswith("BasicSweeper")


def as_typed(node) -> Any:
    """A config node's plain value with each `${...}` left as written: read through OmegaConf, a value
    such as data.dir=${oc.env:UNSET} would be resolved, and fail, where it is only being read."""
    return OmegaConf.to_container(node, resolve=False) if OmegaConf.is_config(node) else node


def task_overrides(hydra_cfg) -> list[str]:
    """The command line's overrides (hydra.overrides.task), as typed."""
    return [str(o) for o in as_typed(hydra_cfg.overrides.task)]


def grid_overrides(hydra_cfg, command_line: Sequence[str]) -> list[str]:
    """The overrides a grid sweeps over: its hydra.sweeper.params, then the command line's; the command
    line wins a key both set, as Hydra's basic sweeper does."""
    merged = {str(k): f"{k}={v}" for k, v in (as_typed(hydra_cfg.sweeper.get("params")) or {}).items()}
    for line in command_line:
        merged[override_key(line)] = str(line)
    return list(merged.values())


def _sweeping(overrides: Sequence[str]) -> list:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides([str(o) for o in overrides])
    return [o for o in parsed if o.is_sweep_override()]


def swept_keys(overrides: Sequence[str]) -> list[str]:
    """The keys of the overrides that sweep (a,b / range / choice / interval / glob), in their order."""
    return [o.get_key_element().lstrip("+~") for o in _sweeping(overrides)]


def grid_size(hydra_cfg) -> int | None:
    """How many jobs Hydra's basic sweeper launches, from the `hydra` node of the sweep as it starts (a
    callback's), whose overrides are the command line's; None for another sweeper."""
    if not is_grid(hydra_cfg):
        return None
    sweeping = _sweeping(grid_overrides(hydra_cfg, task_overrides(hydra_cfg)))
    return math.prod(len(list(o.sweep_string_iterator())) for o in sweeping)


def command_line(sweep_dir: Path) -> list[str]:
    """The overrides of the command that started the grid in `sweep_dir` (its multirun.yaml); none if absent."""
    started = sweep_dir / MULTIRUN_YAML
    return task_overrides(OmegaConf.load(started).hydra) if started.is_file() else []


def grid_keys(hydra_cfg, sweep_dir: Path) -> list[str]:
    """The keys a sweep varies, from one of its jobs' `hydra` node and the sweep's folder: its
    hydra.sweeper.params and command-line overrides that sweep (a search's space, when declared in
    hydra.sweeper.params)."""
    return swept_keys(grid_overrides(hydra_cfg, command_line(sweep_dir)))


def grid_identity(command_line: Iterable[str]) -> list[str]:
    """A grid's command-line overrides that choose what it trains (harmless keys left out), sorted: a grid's
    folder takes only the grid of the same identity again."""
    return sorted(str(line) for line in command_line if not harmless(override_key(line)))


def with_resume(args: Sequence[str], directory: tuple[str, str] | None = None) -> list[str]:
    """`args` set to continue what they started: trainer.resume=true, and `directory` (key, path) such as
    ('hydra.sweep.dir', '/x'), each in place of what args set for that key."""
    replaced = {"trainer.resume", *([directory[0]] if directory else [])}
    kept = [a for a in args if override_key(a) not in replaced]
    return [*kept, RESUME, *([f"{directory[0]}={override_value(directory[1])}"] if directory else [])]


def override_value(text: str) -> str:
    """`text` written as an override's value that Hydra reads back as `text`: as it is when plain, else
    single-quoted (a folder named 'runs é, x=1' would otherwise be a sweep over two values, or no
    override at all). Inside the quotes a quote is escaped as \\' and the backslashes before a quote, or
    at the end, are doubled, as Hydra's grammar asks."""
    if PLAIN_VALUE.fullmatch(text):
        return text
    escaped = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", text)
    return "'" + re.sub(r"(\\+)$", lambda m: m.group(1) * 2, escaped) + "'"
