"""Shared helpers for the Hydra entry points."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from worldsim.paths import config_dir


class UserError(RuntimeError):
    """An error caused by the user's input; printed as one clear line, without a traceback."""


def run_hydra(
    task: Callable[[DictConfig], Any], config_name: str, hints: dict[str, Any] | None = None
) -> None:
    """Run ``task`` under Hydra with the packaged configs, turning input errors into one line.

    ``hints`` types keys (needed where the YAML default is null) and may bound them:
    ``{"steps": (int | None, 1, None)}`` means null or an int >= 1.
    """

    def guarded(cfg: DictConfig) -> Any:
        try:
            check_config(cfg, config_name, hints or {})
            return task(cfg)
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)

    from worldsim.cli._smoke import SMOKE_ENV, smoke_overrides

    extra = smoke_overrides(config_name)
    if extra and not any(a in ("--help", "-h", "--cfg", "-c") for a in sys.argv[1:]):
        print(f"{SMOKE_ENV}=1: shrinking this run with {' '.join(extra)}", file=sys.stderr)
        sys.argv = [*sys.argv, *extra]
    main = hydra.main(config_path=str(config_dir()), config_name=config_name, version_base="1.3")
    main(guarded)()


def instantiate(node: DictConfig, what: str) -> Any:
    """``hydra.utils.instantiate`` that reports the underlying error, naming the config group."""
    try:
        return hydra.utils.instantiate(node)
    except Exception as exc:  # Hydra wraps constructor errors; show the root cause.
        root: BaseException = exc
        while root.__cause__ is not None:
            root = root.__cause__
        raise UserError(f"invalid {what} config: {root}") from exc


def out_dir(value: Any, name: str = "out") -> Path:
    """An output folder from an override; refuses empty values, which would mean the cwd."""
    if value is None or not isinstance(value, (str, Path)) or not str(value).strip():
        raise UserError(
            f"{name}={value!r} is not a folder; give one, e.g. {name}=outputs/<name> "
            f"(use {name}=. to write into the current directory)"
        )
    return Path(str(value))


def check_config(cfg: DictConfig, config_name: str, hints: dict[str, Any]) -> None:
    """Refuse values of the wrong kind before anything runs, naming each one: a value whose
    default (``<config_name>.yaml`` or a ConfigStore node its defaults list names, see
    ``declared_defaults``) is an int/number/bool/string must stay one, and the fields of every
    ``_target_`` dataclass must fit its type hints."""
    from hydra.utils import get_class
    from omegaconf import OmegaConf

    from worldsim.utils.typecheck import dataclass_problems, default_problems, type_problem

    try:
        values = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    except Exception as exc:  # a broken interpolation in an override
        raise UserError(f"the config cannot be resolved: {exc}") from exc
    defaults = declared_defaults(config_name)
    problems: list[str] = []

    def against_defaults(default: Any, value: Any, path: str) -> None:
        if isinstance(default, dict) and isinstance(value, dict):
            for key, sub in default.items():
                if key not in ("defaults", "hydra") and key in value:
                    against_defaults(sub, value[key], f"{path}.{key}" if path else str(key))
        elif not (isinstance(default, str) and "${" in default) and path:
            problem = default_problems(value, default, path)
            if problem:
                problems.append(problem)

    def targets(node: Any, path: str) -> None:
        if isinstance(node, dict):
            target = node.get("_target_")
            if isinstance(target, str):
                try:
                    cls = get_class(target)
                except Exception:
                    cls = None
                if cls is not None:
                    problems.extend(dataclass_problems(cls, node, path or "config"))
            for key, sub in node.items():
                targets(sub, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                targets(sub, f"{path}[{i}]")

    against_defaults(defaults, values, "")
    for name, spec in hints.items():
        hint, lo, hi = spec if isinstance(spec, tuple) else (spec, None, None)
        value: Any = values
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        problem = type_problem(value, hint)
        if problem:
            problems.append(f"{name}={value!r} {problem}")
        elif _out_of_range(value, lo, hi):
            span = f"[{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
            problems.append(f"{name}={value!r} must lie in {span}")
    targets(values, "")
    if problems:
        raise UserError("; ".join(problems[:5]))


def declared_defaults(config_name: str) -> Any:
    """``<config_name>.yaml`` over the ConfigStore nodes its defaults list names (e.g. eval's)."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    own = OmegaConf.load(config_dir() / f"{config_name}.yaml")
    repo = ConfigStore.instance().repo
    stored = [
        repo[f"{entry}.yaml"].node
        for entry in own.get("defaults") or []
        if isinstance(entry, str) and f"{entry}.yaml" in repo
    ]
    return OmegaConf.to_container(OmegaConf.merge(*stored, own) if stored else own)


def _out_of_range(value: Any, lo: float | None, hi: float | None) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return (lo is not None and value < lo) or (hi is not None and value > hi)


def torch_placement(device: Any, dtype: Any) -> tuple[Any, Any]:
    """``device=`` and ``dtype=`` overrides as torch objects, with one-line errors."""
    import torch

    try:
        dev = torch.device(str(device))
    except (RuntimeError, ValueError) as exc:
        raise UserError(f"device={device!r} is not a torch device; use cpu or cuda") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device={device!r} but CUDA is not available here; use device=cpu")
    kind = getattr(torch, str(dtype), None)
    if not isinstance(kind, torch.dtype) or not kind.is_floating_point:
        raise UserError(f"dtype={dtype!r} is not a float dtype; use float32 or bfloat16")
    return dev, kind
