"""Reading an episode store: :class:`EpisodeStore`, with each file checked against its digest."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from worldsim.data.captions import CaptionSwitch, caption_at, caption_switch
from worldsim.data.episode import EGO_MOTION_FIELDS, Episode
from worldsim.data.errors import StoreReadError
from worldsim.data.resume import file_digest
from worldsim.data.store import layout
from worldsim.data.store.layout import _fix_hint, _read_json
from worldsim.data.store.splits import SPLITS
from worldsim.data.store.stats import NormStats, StoreStats
from worldsim.data.video import read_video


class EpisodeStore:
    """Read-only access to an episode store written by :func:`write_store`.

    Holds only paths and small dicts, so it is cheap to pickle into DataLoader workers.
    With ``verify=True`` every episode file is checked against the size and SHA-1 recorded in
    its meta.json the first time it is read (and again whenever its size or mtime changes).
    """

    def __init__(self, root: str | os.PathLike[str], verify: bool = True) -> None:
        self.root = Path(root)
        self.verify = verify
        self._verified: dict[Path, tuple[int, int]] = {}
        if not self.root.is_dir():
            raise StoreReadError(
                f"episode store {self.root} does not exist; create it with "
                f"`worldsim-data ... out={self.root}`"
            )
        manifest_path = self.root / layout.MANIFEST_NAME
        fix = (
            f"re-run `worldsim-data ... out={self.root}` with the same source to rebuild the "
            "manifest (finished episodes are kept)"
        )
        manifest = _read_json(manifest_path, fix)
        version = manifest.get("format_version")
        if version != layout.FORMAT_VERSION:
            raise StoreReadError(
                f"{manifest_path} has format_version {version!r}; this version of worldsim reads "
                f"format {layout.FORMAT_VERSION}. "
                f"Re-create the store with `worldsim-data ... out={self.root}`"
            )
        try:
            self._episodes: dict[str, dict[str, Any]] = {e["key"]: e for e in manifest["episodes"]}
            stats = manifest["stats"]
            self._stats = StoreStats(
                ego_motion=NormStats.from_json(stats["ego_motion"]),
                ego_state=NormStats.from_json(stats["ego_state"]),
            )
            self.source: str = manifest["source"]
            self.dt: float = float(manifest["dt"])
            self.fps: float = float(manifest["fps"])
            res = manifest["resolution"]
            self.resolution: tuple[int, int] | None = None if res is None else (res[0], res[1])
            self.ego_motion_fields: tuple[str, ...] = tuple(manifest["ego_motion_fields"])
            self.ego_state_fields: tuple[str, ...] = tuple(manifest["ego_state_fields"] or ())
            self.splits: dict[str, int] = dict(manifest["splits"])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise StoreReadError(
                f"{manifest_path} is missing or has a bad field ({exc!r}); {fix}"
            ) from exc
        self.manifest = manifest
        self._metas: dict[str, dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"EpisodeStore({str(self.root)!r}, {len(self)} episodes, source={self.source!r})"

    def __len__(self) -> int:
        return len(self._episodes)

    def __contains__(self, key: object) -> bool:
        return key in self._episodes

    @property
    def stats(self) -> StoreStats:
        """Normalisation statistics over the train episodes."""
        return self._stats

    def keys(self, split: str | None = None) -> list[str]:
        """Episode keys in manifest order, optionally only those of one split."""
        if split is None:
            return list(self._episodes)
        if split not in self.splits and split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; this store has {sorted(self.splits)}")
        return [k for k, e in self._episodes.items() if e["split"] == split]

    def _entry(self, key: str) -> dict[str, Any]:
        try:
            return self._episodes[key]
        except KeyError:
            examples = ", ".join(list(self._episodes)[:3])
            raise KeyError(
                f"episode {key!r} is not in the store {self.root} "
                f"({len(self)} episodes, e.g. {examples})"
            ) from None

    def num_frames(self, key: str) -> int:
        return int(self._entry(key)["num_frames"])

    def split(self, key: str) -> str:
        return str(self._entry(key)["split"])

    def caption(self, key: str) -> str:
        """The episode's caption (of its first frame when its caption switches mid-way)."""
        return str(self._entry(key)["caption"])

    def caption_switch(self, key: str) -> CaptionSwitch | None:
        """Where and to what the episode's caption switches (``None``: one caption)."""
        meta = self.meta(key)
        return caption_switch(meta.get("extra") or {}, self.num_frames(key), key)

    def caption_at(self, key: str, frame: int) -> str:
        """The caption of frame ``frame`` of episode ``key``."""
        return caption_at(self.caption(key), self.caption_switch(key), frame)

    def episode_dir(self, key: str) -> Path:
        self._entry(key)
        return self.root / layout.EPISODES_DIR / key

    def meta(self, key: str) -> dict[str, Any]:
        """The episode's meta.json as a dict (cached)."""
        meta = self._metas.get(key)
        if meta is None:
            path = self.episode_dir(key) / layout.META_FILE
            meta = _read_json(path, _fix_hint(self.root, key))
            if meta.get("key") != key or meta.get("num_frames") != self.num_frames(key):
                raise StoreReadError(
                    f"{path} does not match the manifest entry for {key!r}; {_fix_hint(self.root, key)}"
                )
            self._metas[key] = meta
        return meta

    def _check_file(self, key: str, name: str) -> Path:
        """The path of an episode file, verified against its recorded size and SHA-1."""
        path = self.episode_dir(key) / name
        fix = _fix_hint(self.root, key)
        try:
            stat = path.stat()
        except OSError as exc:
            raise StoreReadError(f"{path} is missing; {fix}") from exc
        if not self.verify:
            return path
        recorded = self.meta(key).get("files", {}).get(name)
        if recorded is None:
            raise StoreReadError(f"{path} has no checksum in meta.json; {fix}")
        if stat.st_size != recorded["bytes"]:
            raise StoreReadError(
                f"{path} has {stat.st_size} bytes but {recorded['bytes']} were written "
                f"(truncated or overwritten); {fix}"
            )
        if self._verified.get(path) != (stat.st_size, stat.st_mtime_ns):
            if file_digest(path)["sha1"] != recorded["sha1"]:
                raise StoreReadError(
                    f"{path} does not match its SHA-1 in meta.json (damaged); {fix}"
                )
            self._verified[path] = (stat.st_size, stat.st_mtime_ns)
        return path

    def _load_array(self, key: str, name: str, columns: int | None) -> np.ndarray:
        path = self._check_file(key, name)
        fix = _fix_hint(self.root, key)
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise StoreReadError(f"{path} is not a readable .npy file ({exc}); {fix}") from exc
        rows = self.num_frames(key)
        if (
            array.ndim != 2
            or array.shape[0] != rows
            or (columns is not None and array.shape[1] != columns)
        ):
            want = f"({rows}, {columns if columns is not None else 'A'})"
            raise StoreReadError(f"{path} has shape {tuple(array.shape)}, expected {want}; {fix}")
        return array

    def ego_motion(self, key: str) -> np.ndarray:
        """(T, 2) float32 ``[speed m/s, yaw_rate rad/s]``."""
        return self._load_array(key, layout.EGO_MOTION_FILE, len(EGO_MOTION_FIELDS))

    def ego_state(self, key: str) -> np.ndarray:
        """(T, K) float32 or float64, columns named by ``ego_state_fields``."""
        return self._load_array(key, layout.EGO_STATE_FILE, len(self.meta(key)["ego_state_fields"]))

    @property
    def action_space(self) -> dict[str, Any] | None:
        """The recorded action space (``{"type": "Box", ...}`` or ``{"type": "Discrete", "n"}``)
        when the source recorded raw actions with their space, else None."""
        return self.manifest.get("action_space")

    def actions(self, key: str) -> np.ndarray | None:
        """(T, A) actions, or None when the source recorded none."""
        if self.meta(key).get("actions") is None:
            return None
        return self._load_array(key, layout.ACTIONS_FILE, None)

    def frames(self, key: str, start: int = 0, length: int | None = None) -> np.ndarray:
        """(length, H, W, 3) uint8 RGB frames from ``start`` (to the end when length is None)."""
        total = self.num_frames(key)
        end = total if length is None else start + length
        if start < 0 or end > total or end < start:
            raise ValueError(
                f"frames [{start}, {end}) are out of range for episode {key!r} with {total} frames"
            )
        path = self._check_file(key, layout.FRAMES_FILE)
        frames_THWC = read_video(path, start, end - start, fix=_fix_hint(self.root, key))
        if self.resolution is not None and frames_THWC.shape[1:3] != self.resolution:
            raise StoreReadError(
                f"{path} has frames of {frames_THWC.shape[1:3]}, expected {self.resolution}; "
                f"{_fix_hint(self.root, key)}"
            )
        return frames_THWC

    def episode(self, key: str) -> Episode:
        """The whole episode, decoded back into memory."""
        meta = self.meta(key)
        return Episode(
            key=key,
            frames_THWC=self.frames(key),
            ego_motion_T2=self.ego_motion(key),
            ego_state_TK=self.ego_state(key),
            ego_state_fields=tuple(meta["ego_state_fields"]),
            caption=meta["caption"],
            source=meta["source"],
            dt=float(meta["dt"]),
            conditions=meta["conditions"],
            intrinsics=meta["intrinsics"],
            actions_TA=self.actions(key),
            split=meta["split"],
            extra=meta["extra"],
        )
