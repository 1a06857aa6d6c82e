"""Claims as config: what a user believes about a grid, in a file of the `claims` group
(cifar_sweep/conf/claims/<name>.yaml, or their own through --config-dir), checked before anything runs.

A file holds one or more claims, each under its name (the name is its folder and its report section):

    optimizers:
      title: 3. Adam is the best optimizer     # the report's heading (default: the name)
      text: Of Adam, RMSprop and SGD ...       # the claim in words
      grid: [experiment=optimizers]            # overrides every run of the claim takes
      key: optimizer                           # the compared key ...
      cell: adam                               # ... the cell the claim is about
      others: [rmsprop, sgd]                   # ... and those it is compared with
      kind: winner                             # see KINDS
      metric: test_acc                         # a number of summary.json (results.HEADLINE)
      mode: max                                # max: higher is better; min: lower
      margin: 0.0                              # d of better, winner, equivalent
      value: null                              # v of reaches, overfits
      per: null                                # a key of the grid: the claim must hold for each of its values
      only_at: {}                              # settings the runs must have for the claim to be judged
      alpha: 0.05
      min_seeds: 3                             # decide: seeds per cell at the first look,
      max_seeds: 10                            #   at most
      step: 1                                  #   and added per look
      budget: {runs: null, hours: null}        # decide: stop a claim inconclusive past these

`load` composes the files (several: claims=[a,b]) and checks each claim: its fields (one line naming
the field, the value and what is allowed) and its cells (each `key=cell` with the grid composes into a
config that validates, as a run would start). `cifar_sweep/sequential.py` judges what `sequential_claim`
makes of one; the report (cifar_sweep/report/) judges the study's six at a fixed number of seeds.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.errors import MissingConfigException
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from cifar_sweep import sequential
from cifar_sweep.errors import UserError, one_line
from cifar_sweep.results import HEADLINE
from cifar_sweep.sweeps import override_value

KINDS = {
    "winner": "the cell beats every other by more than margin",
    "better": "the cell beats the one other by more than margin",
    "equivalent": "the cell and the one other lie within margin of each other (two one-sided tests)",
    "reaches": "each listed cell's mean reaches value",
    "overfits": "each listed cell's runs overfit: their validation loss ends more than value above its minimum",
}
MODES = ("max", "min")


@dataclass
class Budget:
    runs: int | None = None  # runs of the claim, those already in its folder included
    hours: float | None = None  # the runs' own wall time


@dataclass
class Claim:
    key: str = MISSING
    cell: str = MISSING
    kind: str = MISSING
    others: list[str] = field(default_factory=list)
    grid: list[str] = field(default_factory=list)
    title: str = ""
    text: str = ""
    metric: str = "test_acc"
    mode: str = "max"
    margin: float = 0.0
    value: float | None = None
    per: str | None = None
    only_at: dict[str, Any] = field(default_factory=dict)
    alpha: float = 0.05
    min_seeds: int = 3
    max_seeds: int = 10
    step: int = 1
    budget: Budget = field(default_factory=Budget)
    name: str = ""  # set from the file: the claim's key there

    @property
    def target(self) -> float:
        """v of a reaches or overfits claim (check makes sure it is set)."""
        return math.nan if self.value is None else float(self.value)

    @property
    def cells(self) -> list[str]:
        return [self.cell, *self.others]

    def override(self, cells: list[str]) -> str:
        """`key=a,b`: the override that sweeps `cells`."""
        return f"{self.key}={','.join(override_value(c) for c in cells)}"


class ClaimError(UserError):
    """A claim that cannot be judged as written: one line, before anything runs."""


def compose(
    overrides: list[str], config_dir: str | None, config_name: str | None = None, with_hydra: bool = False
) -> DictConfig:
    """The packaged configs (plus `config_dir`, as --config-dir adds it) composed with `overrides` (and
    the `hydra` node, with_hydra)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    search = [f"hydra.searchpath=[{override_value('file://' + os.path.abspath(config_dir))}]"] if config_dir else []
    with initialize_config_module("cifar_sweep.conf"):
        return hydra_compose(config_name=config_name, overrides=[*overrides, *search], return_hydra_config=with_hydra)


def load(names: list[str], config_dir: str | None = None) -> list[Claim]:
    """The claims of the files `names` (claims=NAME, or claims=[A,B]), each checked (`check`)."""
    try:
        files = compose([f"+claims=[{','.join(names)}]"], config_dir)
    except MissingConfigException:
        known = ", ".join(available(config_dir)) or "none"
        raise ClaimError(f"claims={','.join(names)}: no such claims file; there are: {known}") from None
    except Exception as e:  # Hydra's: a file that is not YAML
        raise ClaimError(f"claims={','.join(names)}: {first_line(e)}") from None
    if not isinstance(files.get("claims"), DictConfig) or not files.claims:
        raise ClaimError(f"claims={','.join(names)}: holds no claims; write each as `name: {{key: ..., cell: ...}}`")
    return [check(name, node) for name, node in files.claims.items()]


def check(name: Any, node: Any) -> Claim:
    """One claim's fields, typed by the Claim schema and checked against each other."""
    where = f"claims.{name}"
    if not isinstance(node, DictConfig):
        raise ClaimError(f"{where}={node!r}: a claim is a mapping of fields (key, cell, others, kind, ...)")
    try:
        typed = OmegaConf.merge(OmegaConf.structured(Claim), node, {"name": str(name)})
        claim = OmegaConf.to_object(typed)
        assert isinstance(claim, Claim)
    except OmegaConfBaseException as e:
        raise ClaimError(f"{where}: {first_line(e)}") from None
    bad = problems(claim)
    if bad:
        field_name, allowed = bad[0]
        raise ClaimError(f"{where}.{field_name}={getattr(claim, field_name)!r}: {allowed}")
    return claim


def problems(claim: Claim) -> list[tuple[str, str]]:
    """(field, what is allowed) of each field that does not fit the others."""
    kind, n_others = claim.kind, len(claim.others)
    rules = [
        ("kind", kind in KINDS, "must be one of " + ", ".join(KINDS)),
        ("mode", claim.mode in MODES, "must be max or min"),
        ("metric", claim.metric in HEADLINE, "must be one of " + ", ".join(HEADLINE)),
        ("others", kind not in ("winner",) or n_others >= 1, "a winner claim names at least one other cell"),
        ("others", kind not in ("better", "equivalent") or n_others == 1, f"a {kind} claim names exactly one other"),
        ("others", claim.cell not in claim.others and len(set(claim.others)) == n_others, "cells must differ"),
        ("margin", math.isfinite(claim.margin) and claim.margin >= 0, "must be a number >= 0"),
        ("margin", kind != "equivalent" or claim.margin > 0, "an equivalent claim needs its margin d > 0"),
        ("value", kind not in ("reaches", "overfits") or claim.value is not None, f"a {kind} claim needs its value"),
        ("alpha", 0 < claim.alpha < 0.5, "must lie in (0, 0.5)"),
        ("min_seeds", claim.min_seeds >= 2, "must be >= 2: a t-test needs two seeds a cell"),
        ("max_seeds", claim.max_seeds >= claim.min_seeds, f"must be >= min_seeds ({claim.min_seeds})"),
        ("step", claim.step >= 1, "must be >= 1"),
        ("per", claim.per != claim.key, "must differ from key"),
    ]
    budget = [
        ("budget", claim.budget.runs is None or claim.budget.runs >= 1, "budget.runs must be null or >= 1"),
        ("budget", claim.budget.hours is None or claim.budget.hours > 0, "budget.hours must be null or > 0"),
    ]
    return [(name, allowed) for name, ok, allowed in [*rules, *budget] if not ok]


def check_cells(claim: Claim, config_dir: str | None, extra: list[str]) -> None:
    """Each cell composes with the claim's grid and the command's overrides into a config that validates:
    an unknown key or cell is one line before anything runs."""
    from cifar_sweep.config import validate

    for cell in claim.cells:
        override = claim.override([cell])
        try:
            validate(compose(first_values([*claim.grid, *extra, override]), config_dir, "config"))
        except Exception as e:
            raise ClaimError(f"claims.{claim.name}: {override} (grid {claim.grid}): {first_line(e)}") from None


def grid_config(claim: Claim, config_dir: str | None = None) -> DictConfig:
    """The config of the claim's grid, at its first cell (and the first value of what else it sweeps)."""
    return compose(first_values([*claim.grid, claim.override([claim.cell])]), config_dir, "config")


def first_values(overrides: list[str]) -> list[str]:
    """`overrides` with each sweep (a,b / range / choice) cut to its first value: one config to compose."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    return [
        f"{o.get_key_element()}={next(iter(o.sweep_string_iterator()))}" if o.is_sweep_override() else line
        for o, line in zip(parsed, overrides)
    ]


def sequential_claim(claim: Claim, split: int = 1) -> sequential.Claim:
    """What sequential.py judges; in mode min every value is negated, so that higher is better there too.
    split: the claim judged as that many parts (one per value of `per`)."""
    threshold = claim.value if claim.kind in ("reaches", "overfits") else claim.margin
    sign = -1.0 if claim.mode == "min" and claim.kind == "reaches" else 1.0
    return sequential.Claim(
        claim.kind, claim.cell, tuple(claim.others), sign * float(threshold or 0.0), claim.alpha, split
    )


def looks(claim: Claim) -> sequential.Looks:
    return sequential.Looks(claim.min_seeds, claim.max_seeds, claim.step)


def same_value(a: Any, b: Any) -> bool:
    """Whether a job's value of the key (as collect read it) is the cell `b`: 1e-2 is 0.01."""
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)


def first_line(error: BaseException) -> str:
    """The error's first line, and its cause's (Hydra's "Could not override 'x.y'." says why only there)."""
    if isinstance(error, UserError):
        return str(error).splitlines()[0]
    cause = error.__cause__
    return one_line(error) + (f" ({one_line(cause)})" if cause is not None and str(cause) else "")


def available(config_dir: str | None) -> list[str]:
    """The claims files there are: the packaged ones and those in config_dir/claims."""
    folders = [Path(__file__).parent / "conf" / "claims", *([Path(config_dir) / "claims"] if config_dir else [])]
    return sorted({p.stem for folder in folders if folder.is_dir() for p in folder.glob("*.yaml")})
