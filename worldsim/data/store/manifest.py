"""The writer's manifest: the state it rewrites after every episode, and the resume scan.

Before writing, an existing ``manifest.json`` is checked against the source (and its
settings, ``worldsim/data/resume.py``), stale temp folders are removed and the complete
episode folders already there are registered.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from worldsim.data.episode import EGO_MOTION_FIELDS
from worldsim.data.errors import StoreMismatchError
from worldsim.data.resume import check_settings, episode_damage, mismatch_message, source_settings
from worldsim.data.sources.base import EpisodeSource
from worldsim.data.store.layout import (
    DT_TOLERANCE,
    FORMAT_VERSION,
    MANIFEST_NAME,
    META_FILE,
    TMP_PREFIX,
)
from worldsim.data.store.splits import SPLITS
from worldsim.data.store.stats import _stats_json
from worldsim.data.video import PIX_FMT
from worldsim.utils.io import dumps_json, write_text_atomic


def _check_expected(
    key: str,
    resolution: tuple[int, int],
    ego_state_fields: Sequence[str],
    expected: dict[str, Any] | None,
) -> None:
    """StoreMismatchError when an episode's resolution or ego_state_fields differ from the store's."""
    if not expected:
        return
    want_res = expected.get("resolution")
    if want_res is not None and list(resolution) != list(want_res):
        raise StoreMismatchError(
            f"episode {key!r} has resolution {list(resolution)} (H, W) but the store holds "
            f"{list(want_res)}; write it to a different out= folder or resize the source"
        )
    want_fields = expected.get("ego_state_fields")
    if want_fields is not None and list(ego_state_fields) != list(want_fields):
        raise StoreMismatchError(
            f"episode {key!r} has ego_state_fields {list(ego_state_fields)} but the store holds "
            f"{list(want_fields)}; write it to a different out= folder"
        )


def _episode_entry(meta: dict[str, Any]) -> dict[str, Any]:
    """An episode's manifest entry; ``end`` is added when the source recorded how it ended."""
    entry = {
        "key": meta["key"],
        "num_frames": int(meta["num_frames"]),
        "split": meta["split"],
        "caption": meta["caption"],
    }
    end = (meta.get("extra") or {}).get("end")
    if end is not None:
        entry["end"] = end
    return entry


class _ManifestState:
    """The writer's view of the store: header fields plus the metas of complete episodes."""

    def __init__(self, root: Path, source: EpisodeSource, order: Sequence[str]) -> None:
        self.root = root
        self.source = source.name
        self.dt = float(source.dt)
        self.order = {key: i for i, key in enumerate(order)}
        self.metas: dict[str, dict[str, Any]] = {}
        self.resolution: list[int] | None = None
        self.ego_state_fields: list[str] | None = None
        self.settings: list[dict[str, Any]] = [source_settings(source)]

    def expected(self) -> dict[str, Any]:
        return {"resolution": self.resolution, "ego_state_fields": self.ego_state_fields}

    def add(self, meta: dict[str, Any]) -> None:
        key = meta["key"]
        if abs(float(meta["dt"]) - self.dt) > DT_TOLERANCE:
            raise StoreMismatchError(
                f"episode {key!r} in {self.root} has dt={meta['dt']} but source {self.source!r} "
                f"has dt={self.dt}; use a different out= folder or delete {self.root}"
            )
        _check_expected(key, tuple(meta["resolution"]), meta["ego_state_fields"], self.expected())
        self.resolution = list(meta["resolution"])
        self.ego_state_fields = list(meta["ego_state_fields"])
        self.metas[key] = meta

    def keys(self) -> list[str]:
        big = len(self.order)
        return sorted(self.metas, key=lambda k: (self.order.get(k, big), k))

    def manifest(self) -> dict[str, Any]:
        keys = self.keys()
        metas = [self.metas[k] for k in keys]
        train = [m for m in metas if m["split"] == "train"]
        split_counts = dict.fromkeys(SPLITS, 0)
        for m in metas:
            split_counts[m["split"]] = split_counts.get(m["split"], 0) + 1
        state_fields = self.ego_state_fields or []
        stats = _stats_json(state_fields, train)
        action_space = next(
            (
                m["extra"]["action_space"]
                for m in metas
                if (m.get("extra") or {}).get("action_space")
            ),
            None,
        )
        return {
            "format_version": FORMAT_VERSION,
            "source": self.source,
            "settings": self.settings,
            "action_space": action_space,
            "dt": self.dt,
            "fps": 1.0 / self.dt,
            "resolution": self.resolution,
            "ego_motion_fields": list(EGO_MOTION_FIELDS),
            "ego_state_fields": self.ego_state_fields,
            "num_episodes": len(metas),
            "num_frames": sum(int(m["num_frames"]) for m in metas),
            "splits": split_counts,
            "stats": stats,
            "video": {"codec": "h264", "pix_fmt": PIX_FMT},
            "episodes": [_episode_entry(m) for m in metas],
        }

    def save(self) -> None:
        path = self.root / MANIFEST_NAME
        tmp_name = f"{path.name}{TMP_PREFIX}{os.getpid()}"
        write_text_atomic(path, dumps_json(self.manifest()), fsync=True, tmp_name=tmp_name)


def _check_existing_manifest(
    root: Path, source: EpisodeSource, extend: bool
) -> list[dict[str, Any]] | None:
    """Refuse a store written by another source or with other settings; returns the settings
    list to record (None when there is no readable manifest yet)."""
    path = root / MANIFEST_NAME
    if not path.exists():
        return None
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(old, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        warnings.warn(f"{path} is unreadable ({exc}); rebuilding it", stacklevel=3)
        return None
    version = old.get("format_version")
    if version != FORMAT_VERSION:
        raise StoreMismatchError(
            f"{path} has format_version {version!r}, this writer writes {FORMAT_VERSION}; "
            "use a different out= folder"
        )
    problems = []
    if old.get("source") != source.name:
        problems.append(f"source {old.get('source')!r} != {source.name!r}")
    old_dt = old.get("dt")
    if not isinstance(old_dt, (int, float)) or abs(old_dt - source.dt) > DT_TOLERANCE:
        problems.append(f"dt {old_dt!r} != {source.dt!r}")
    if problems:
        raise StoreMismatchError(
            f"the store at {root} was written by a different source: {'; '.join(problems)}. "
            "Use a different out= folder, or delete the existing store to replace it"
        )
    recorded = old.get("settings")
    if not isinstance(recorded, list) or not all(isinstance(r, dict) for r in recorded):
        if old.get("num_episodes"):
            warnings.warn(f"{path} records no source settings; recording this run's", stacklevel=3)
        recorded = None
    settings, mismatch = check_settings(recorded, source_settings(source), extend, root)
    if mismatch:
        raise StoreMismatchError(mismatch_message(root, mismatch))
    return settings


def _scan_existing(episodes_dir: Path, state: _ManifestState, wanted: set[str]) -> None:
    """Remove stale temp folders and register complete episode folders."""
    for path in sorted(episodes_dir.iterdir()):
        if path.name.startswith(TMP_PREFIX):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            continue
        if not path.is_dir() or path.name.startswith("."):
            continue
        meta_path = path / META_FILE
        if not meta_path.exists():
            continue  # never renamed into place by the writer; rewritten if still wanted
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if not isinstance(meta, dict):
                raise ValueError("not a JSON object")
            if meta.get("key") != path.name:
                raise ValueError(f"meta key {meta.get('key')!r} != folder name")
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            if path.name in wanted:
                warnings.warn(
                    f"{meta_path} is damaged ({exc}); rewriting the episode", stacklevel=3
                )
                shutil.rmtree(path)
            else:
                warnings.warn(f"{meta_path} is damaged ({exc}); leaving it out", stacklevel=3)
            continue
        damage = episode_damage(path, meta)
        if damage is not None:
            if path.name in wanted:
                warnings.warn(f"episode {path} is damaged ({damage}); rewriting it", stacklevel=3)
                shutil.rmtree(path)
            else:
                warnings.warn(f"episode {path} is damaged ({damage}); leaving it out", stacklevel=3)
            continue
        state.add(meta)
