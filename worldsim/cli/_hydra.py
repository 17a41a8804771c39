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


def run_hydra(task: Callable[[DictConfig], Any], config_name: str) -> None:
    """Run ``task`` under Hydra with the packaged configs, turning input errors into one line."""

    def guarded(cfg: DictConfig) -> Any:
        try:
            return task(cfg)
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)

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
