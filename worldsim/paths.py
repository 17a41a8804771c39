"""Where the packaged Hydra configs and scenario library live, for wheel and source installs."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def config_dir() -> Path:
    """The ``conf/`` directory: inside the package for a wheel, at the repo root otherwise."""
    return _first_existing("conf", "conf")


def scenario_dir() -> Path:
    """The scenario library (``envs/`` in the source tree)."""
    return _first_existing("scenario_library", "envs")


def _first_existing(packaged: str, source: str) -> Path:
    for candidate in (_PACKAGE / packaged, _PACKAGE.parent / source):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"worldsim cannot find its {source!r} directory (looked in {_PACKAGE / packaged} and "
        f"{_PACKAGE.parent / source}); reinstall the package, e.g. `pip install worldsim`"
    )
