"""Which Python targets a config may build: one rule for models, optimizers, schedulers and datasets.

Hydra calls only what an execution whitelist allows. A `_target_` of ours (and every `_target_` nested
below it, such as a block class or a norm layer) is allowed when it is:

- a class of the kind its key builds, wherever it is defined: a model (or a part of one) an
  `nn.Module`, an optimizer a `torch.optim.Optimizer`, a scheduler an LR scheduler, a dataset a
  `torch.utils.data.Dataset`;
- a function of your own code (a module outside the standard library and the installed packages),
  such as pytorch-cifar's `ResNet18()`: what it returns is checked where it is used;
- a name matching a pattern of the config's top-level `trust` list (fnmatch patterns, e.g.
  `timm.create_model`, `torchvision.models.*`, `mypkg.*`), for functions of installed libraries.

Anything else is one line naming the key, the target and how to allow it: never a call of an
arbitrary function such as `os.system`.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import site
import sysconfig
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig

from cifar_sweep.errors import UserError, one_line

# what each kind of key builds: the classes it may name (checked by name, so torch loads only when asked)
KINDS = {
    "model": ("torch.nn.Module",),
    "part": ("torch.nn.Module",),  # a _target_ nested in a model's config
    "optimizer": ("torch.optim.Optimizer",),
    "scheduler": ("torch.optim.lr_scheduler.LRScheduler", "torch.optim.lr_scheduler.ReduceLROnPlateau"),
    "dataset": ("torch.utils.data.Dataset",),
}
WHAT = {
    "model": "an nn.Module subclass",
    "part": "an nn.Module subclass",
    "optimizer": "a torch.optim.Optimizer subclass",
    "scheduler": "an LR scheduler class",
    "dataset": "a torch.utils.data.Dataset subclass",
}
OURS = Path(__file__).resolve().parent  # this package: a library like any installed one


def locate(key: str, target: Any) -> Any:
    """The object `target` names; one line when it does not name one."""
    if not isinstance(target, str) or "." not in target:
        raise UserError(f"{key}={target!r}: must name a class or function as package.module.Name")
    module_name, _, attr = target.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise UserError(
            f"{key}={target!r}: cannot import it ({one_line(e)}); install the package that defines it, or "
            "run from the folder that holds it (or add that folder to PYTHONPATH)"
        ) from None
    except Exception as e:  # the module itself fails to import
        raise UserError(f"{key}={target!r}: importing {module_name} fails ({one_line(e)})") from None


def base_classes(kind: str) -> tuple[type, ...]:
    found = []
    for name in KINDS[kind]:
        module_name, _, attr = name.rpartition(".")
        found.append(getattr(importlib.import_module(module_name), attr))
    return tuple(found)


@cache
def installed_roots() -> tuple[Path, ...]:
    """The standard library's and the installed packages' folders: code there is not the user's own."""
    paths = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths |= set(getattr(site, "getsitepackages", list)()) | {site.getusersitepackages()}
    return tuple(Path(p).resolve() for p in paths if p)


def own_code(found: Any) -> bool:
    """Whether a function is defined in the user's own code, not in Python's or an installed package."""
    try:
        path = Path(inspect.getsourcefile(found) or "").resolve()
    except TypeError:  # a builtin
        return False
    return path.is_file() and not any(path.is_relative_to(root) for root in (*installed_roots(), OURS))


def trusted_by_pattern(target: str, trust: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(target, pattern) for pattern in trust)


def allowed(key: str, target: Any, kind: str, trust: Iterable[str] = ()) -> tuple[str, ...]:
    """The whitelist entries that let Hydra build `target` for `key`; one line when the rule allows it not."""
    found = locate(key, target)
    canonical = f"{getattr(found, '__module__', '')}.{getattr(found, '__qualname__', '')}"
    names = (target, canonical)
    if inspect.isclass(found):
        if issubclass(found, base_classes(kind)) or trusted_by_pattern(target, trust):
            return names
        raise UserError(f"{key}={target!r}: is not {WHAT[kind]}; name one, or add {target!r} to `trust`")
    if callable(found) and own_code(found):
        return names
    if callable(found) and trusted_by_pattern(target, trust):  # the patterns too: Hydra checks what a
        return (*names, *(p for p in trust if fnmatch.fnmatchcase(target, p)))  # builder resolves to
    raise UserError(
        f"{key}={target!r}: is not {WHAT[kind]}, and a function of Python's or an installed package is "
        f"called only when the config trusts it: add {target!r} (or {target.rsplit('.', 1)[0] + '.*'!r}) to "
        "its top-level `trust` list"
    )


def nested(node: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """(key, target) of every `_target_` below a config node, the node's own left out."""
    if isinstance(node, (DictConfig, dict)):
        items: Iterable = node.items()
    else:
        items = enumerate(node) if isinstance(node, (ListConfig, list)) else []
    for name, child in items:
        key = f"{prefix}.{name}"
        if isinstance(child, (DictConfig, dict)) and "_target_" in child:
            yield f"{key}._target_", child["_target_"]
        if isinstance(child, (DictConfig, dict, ListConfig, list)):
            yield from nested(child, key)


def whitelist(key: str, node: Any, kind: str, trust: Iterable[str] = ()) -> tuple[str, ...]:
    """Everything Hydra may build for a config node: its own target as `kind`, nested ones as parts
    (a model's) or by the same rule (an optimizer's, a scheduler's)."""
    trust = tuple(trust)
    names = list(allowed(f"{key}._target_", node.get("_target_"), kind, trust))
    for nested_key, target in nested(node, key):
        names += allowed(nested_key, target, "part" if kind == "model" else kind, trust)
    return tuple(dict.fromkeys(names))


def trust_of(cfg: Any) -> tuple[str, ...]:
    """The config's `trust` patterns (none when it has no such key)."""
    return tuple(str(p) for p in (cfg.get("trust") or ())) if cfg is not None else ()
