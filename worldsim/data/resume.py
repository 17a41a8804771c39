"""What a re-run over an existing store checks before it keeps the episodes already there.

A store records the settings of the source that wrote it (``manifest.json`` ``settings``).
A re-run with other settings (frames, resolution, seed, source options) is refused, naming
each setting, unless it asks to extend the store. Each finished episode is checked against
the sizes and SHA-1 digests in its ``meta.json``; a damaged one is rewritten.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from worldsim.utils.io import file_hash

# Settings that only choose which episodes exist, never what an episode holds: a store may
# grow (more episodes) without a mismatch. A source extends this with ``settings_exempt``.
GROWTH_SETTINGS = ("episodes",)


def source_settings(source: Any) -> dict[str, Any]:
    """The JSON settings that decide what ``source`` writes into an episode."""
    if callable(getattr(source, "settings", None)):
        values = dict(source.settings())
    elif dataclasses.is_dataclass(source):
        values = {f.name: getattr(source, f.name) for f in dataclasses.fields(source)}
    else:
        values = {"name": source.name, "dt": source.dt}
    exempt = set(GROWTH_SETTINGS) | set(getattr(source, "settings_exempt", ()))
    plain = {k: v for k, v in values.items() if k not in exempt}
    return json.loads(json.dumps(plain, sort_keys=True, default=repr))


def settings_problems(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """One line per setting that differs, e.g. ``frames: the store has 80, this run 100``."""
    problems = []
    for name in sorted(set(recorded) | set(current)):
        old, new = recorded.get(name, "<unset>"), current.get(name, "<unset>")
        if old != new:
            problems.append(f"{name}: the store has {old!r}, this run {new!r}")
    return problems


def check_settings(
    recorded: list[dict[str, Any]] | None, current: dict[str, Any], extend: bool, root: Path
) -> tuple[list[dict[str, Any]], list[str]]:
    """The settings list to record, and the mismatch lines (empty when the run may go on).

    ``recorded`` is the store's list (the first writer's settings, then each extension's).
    """
    if not recorded:
        return [current], []
    if current in recorded:
        return list(recorded), []
    if extend:
        return [*recorded, current], []
    return list(recorded), settings_problems(recorded[-1], current)


def mismatch_message(root: Path, problems: list[str]) -> str:
    return (
        f"the store at {root} was written with other settings ({'; '.join(problems)}). "
        "Re-run with the store's settings to resume it, pass extend=true to add episodes "
        "written with these settings, or choose a different out= folder"
    )


def file_digest(path: Path) -> dict[str, Any]:
    """Size and SHA-1 of a file, as stored in meta.json ``files``."""
    sha1 = file_hash(path, "sha1")
    return {"bytes": path.stat().st_size, "sha1": sha1}


def episode_damage(episode_dir: Path, meta: dict[str, Any]) -> str | None:
    """Why a finished episode's files do not match its ``meta.json``, or None when they do."""
    files = meta.get("files")
    if not isinstance(files, dict) or not files:
        return "meta.json records no file digests"
    for name, recorded in sorted(files.items()):
        path = episode_dir / name
        if not path.is_file():
            return f"{name} is missing"
        try:
            actual = file_digest(path)
        except OSError as exc:
            return f"{name} is unreadable ({exc})"
        if not isinstance(recorded, dict) or actual != {
            "bytes": recorded.get("bytes"),
            "sha1": recorded.get("sha1"),
        }:
            return f"{name} does not match its recorded size and SHA-1"
    return None
