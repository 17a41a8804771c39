"""The episode store: one folder of H.264 videos and numpy arrays that every source writes.

Layout (see docs/data-format.md)::

    <root>/manifest.json
    <root>/episodes/<key>/frames.mp4 | ego_motion.npy | ego_state.npy | actions.npy | meta.json
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import re
import shutil
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from worldsim.data.episode import EGO_MOTION_FIELDS, Episode
from worldsim.data.errors import (
    EpisodeWriteError,
    SkipEpisode,
    StoreMismatchError,
    StoreReadError,
)
from worldsim.data.resume import (
    check_settings,
    episode_damage,
    file_digest,
    mismatch_message,
    source_settings,
)
from worldsim.data.sources.base import EpisodeSource
from worldsim.data.video import DEFAULT_CRF, DEFAULT_GOP, PIX_FMT, read_video, write_video

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
EPISODES_DIR = "episodes"
TMP_PREFIX = ".tmp-"
FRAMES_FILE = "frames.mp4"
EGO_MOTION_FILE = "ego_motion.npy"
EGO_STATE_FILE = "ego_state.npy"
ACTIONS_FILE = "actions.npy"
META_FILE = "meta.json"
SPLITS = ("train", "val")
STD_FLOOR = 1e-6  # fields with a smaller std are only centred, not scaled, by normalize()
DT_TOLERANCE = 1e-9

_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=-]{0,199}$")
_SPLIT_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


# --------------------------------------------------------------------------------------------
# Normalisation statistics


@dataclass(frozen=True)
class NormStats:
    """Per-field mean and (population) standard deviation over the train episodes."""

    fields: tuple[str, ...]
    mean: np.ndarray  # (K,) float64
    std: np.ndarray  # (K,) float64
    count: int  # number of frames (rows) the statistics cover

    def normalize(self, x_TK: np.ndarray) -> np.ndarray:
        """``(x - mean) / std`` as float32; fields with std < STD_FLOOR are only centred."""
        scale = np.where(self.std > STD_FLOOR, self.std, 1.0)
        return ((np.asarray(x_TK, np.float64) - self.mean) / scale).astype(np.float32)

    def denormalize(self, x_TK: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`normalize`, as float32."""
        scale = np.where(self.std > STD_FLOOR, self.std, 1.0)
        return (np.asarray(x_TK, np.float64) * scale + self.mean).astype(np.float32)

    def to_json(self) -> dict[str, Any]:
        return {
            "fields": list(self.fields),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "count": self.count,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NormStats:
        return cls(
            fields=tuple(data["fields"]),
            mean=np.asarray(data["mean"], np.float64),
            std=np.asarray(data["std"], np.float64),
            count=int(data["count"]),
        )


@dataclass(frozen=True)
class StoreStats:
    """Normalisation statistics of the store, computed over its train episodes."""

    ego_motion: NormStats
    ego_state: NormStats


def _moments(x_TK: np.ndarray) -> dict[str, Any]:
    """Count, mean and sum of squared deviations per column (merged with Chan's formula)."""
    x = np.asarray(x_TK, np.float64)
    mean = x.mean(axis=0) if len(x) else np.zeros(x.shape[1])
    m2 = ((x - mean) ** 2).sum(axis=0)
    return {"count": int(len(x)), "mean": mean.tolist(), "m2": m2.tolist()}


def _merge_moments(
    parts: Iterable[dict[str, Any]], num_fields: int
) -> tuple[int, np.ndarray, np.ndarray]:
    count = 0
    mean = np.zeros(num_fields)
    m2 = np.zeros(num_fields)
    for part in parts:
        n_b = int(part["count"])
        if n_b == 0:
            continue
        mean_b = np.asarray(part["mean"], np.float64)
        m2_b = np.asarray(part["m2"], np.float64)
        total = count + n_b
        delta = mean_b - mean
        mean = mean + delta * (n_b / total)
        m2 = m2 + m2_b + delta**2 * (count * n_b / total)
        count = total
    return count, mean, m2


def _norm_stats(fields: Sequence[str], parts: Iterable[dict[str, Any]]) -> NormStats:
    count, mean, m2 = _merge_moments(parts, len(fields))
    if count == 0:
        return NormStats(tuple(fields), np.zeros(len(fields)), np.ones(len(fields)), 0)
    return NormStats(tuple(fields), mean, np.sqrt(m2 / count), count)


# --------------------------------------------------------------------------------------------
# Splits and keys


def validate_key(key: str) -> str:
    """Check that an episode key is usable as a folder name; returns it unchanged."""
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise ValueError(
            f"episode key {key!r} is not a valid folder name: use 1-200 characters from "
            "[A-Za-z0-9._+=-], starting with a letter or digit"
        )
    return key


def key_fraction(key: str) -> float:
    """A stable pseudo-random number in [0, 1) derived from the SHA-1 of the key."""
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:13], 16) / 16.0**13


def assign_splits(keys: Sequence[str], val_fraction: float) -> dict[str, str]:
    """Deterministic train/val split by key hash.

    A key is ``"val"`` when ``key_fraction(key) < val_fraction``. If that leaves no val
    episode while there are at least two keys and ``val_fraction > 0``, the key with the
    smallest hash fraction becomes ``"val"``.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    fractions = {key: key_fraction(key) for key in keys}
    splits = {key: "val" if u < val_fraction else "train" for key, u in fractions.items()}
    if val_fraction > 0 and len(keys) >= 2 and "val" not in splits.values():
        splits[min(fractions, key=lambda k: (fractions[k], k))] = "val"
    return splits


# --------------------------------------------------------------------------------------------
# Small file helpers


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _dumps(data: Any) -> str:
    return json.dumps(data, indent=1, default=_json_default) + "\n"


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}{TMP_PREFIX}{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _fix_hint(root: Path, key: str | None = None) -> str:
    if key is None:
        return f"re-create the store with `worldsim-data ... out={root}`"
    return (
        f"delete the folder {root / EPISODES_DIR / key} and re-run `worldsim-data ... out={root}` "
        "with the same source to re-create that episode"
    )


def _read_json(path: Path, fix: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError as exc:
        raise StoreReadError(f"{path} is missing; {fix}") from exc
    except (OSError, ValueError) as exc:
        raise StoreReadError(f"{path} is not readable JSON ({exc}); {fix}") from exc
    if not isinstance(data, dict):
        raise StoreReadError(f"{path} does not hold a JSON object; {fix}")
    return data


# --------------------------------------------------------------------------------------------
# Writing one episode (runs in worker processes)


def write_episode(
    source: EpisodeSource,
    key: str,
    episodes_dir: str | os.PathLike[str],
    default_split: str = "train",
    expected: dict[str, Any] | None = None,
    crf: int = DEFAULT_CRF,
) -> dict[str, Any]:
    """Load ``key`` from ``source`` and write ``<episodes_dir>/<key>/`` atomically.

    Files go to ``.tmp-<key>-<pid>`` first, ``meta.json`` last, and the folder is renamed into
    place. ``expected`` may hold ``resolution`` and ``ego_state_fields`` the episode must match.
    Returns the episode's meta dict.
    """
    validate_key(key)
    episodes_dir = Path(episodes_dir)
    episode = source.load(key)
    if not isinstance(episode, Episode):
        raise TypeError(f"source {source.name!r} returned {type(episode).__name__}, not Episode")
    if episode.key != key:
        raise ValueError(f"source {source.name!r} returned episode {episode.key!r} for key {key!r}")
    if abs(episode.dt - source.dt) > DT_TOLERANCE:
        raise StoreMismatchError(
            f"episode {key!r} has dt={episode.dt} but source {source.name!r} declares "
            f"dt={source.dt}; resample the episode to the source's time step"
        )
    _check_expected(key, episode.resolution, episode.ego_state_fields, expected)
    split = episode.split if episode.split is not None else default_split
    if not isinstance(split, str) or not _SPLIT_RE.match(split):
        raise ValueError(f"episode {key!r}: split {split!r} must be a short lowercase name")

    ego_motion_T2 = np.asarray(episode.ego_motion_T2, np.float32)
    state_dtype = np.float64 if episode.ego_state_TK.dtype == np.float64 else np.float32
    ego_state_TK = np.asarray(episode.ego_state_TK, state_dtype)
    actions_TA = None
    if episode.actions_TA is not None:
        actions_TA = np.asarray(episode.actions_TA)
        if actions_TA.dtype.kind not in "biuf":
            raise ValueError(f"episode {key!r}: actions must be numeric, got {actions_TA.dtype}")

    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "key": key,
        "source": episode.source,
        "dt": float(episode.dt),
        "fps": 1.0 / float(episode.dt),
        "num_frames": episode.num_frames,
        "resolution": list(episode.resolution),
        "split": split,
        "caption": episode.caption,
        "conditions": episode.conditions,
        "intrinsics": episode.intrinsics,
        "ego_motion_fields": list(EGO_MOTION_FIELDS),
        "ego_state_fields": list(episode.ego_state_fields),
        "ego_state_dtype": np.dtype(state_dtype).name,
        "actions": None
        if actions_TA is None
        else {"dtype": actions_TA.dtype.name, "shape": list(actions_TA.shape)},
        "moments": {"ego_motion": _moments(ego_motion_T2), "ego_state": _moments(ego_state_TK)},
        "video": {"codec": "h264", "pix_fmt": PIX_FMT, "crf": crf, "gop": DEFAULT_GOP},
        "extra": episode.extra,
    }
    try:
        meta_text = _dumps(meta)  # fail before writing anything if a field is not JSON
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"episode {key!r}: conditions/intrinsics/extra must be JSON serialisable ({exc})"
        ) from exc
    meta = json.loads(meta_text)

    tmp = episodes_dir / f"{TMP_PREFIX}{key}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        write_video(tmp / FRAMES_FILE, episode.frames_THWC, fps=meta["fps"], crf=crf)
        np.save(tmp / EGO_MOTION_FILE, ego_motion_T2)
        np.save(tmp / EGO_STATE_FILE, ego_state_TK)
        if actions_TA is not None:
            np.save(tmp / ACTIONS_FILE, actions_TA)
        names = [FRAMES_FILE, EGO_MOTION_FILE, EGO_STATE_FILE]
        names += [ACTIONS_FILE] if actions_TA is not None else []
        meta["files"] = {name: file_digest(tmp / name) for name in names}
        (tmp / META_FILE).write_text(_dumps(meta), encoding="utf-8")
        final = episodes_dir / key
        if final.exists():
            if (final / META_FILE).exists():  # written meanwhile by another run: keep that one
                shutil.rmtree(tmp)
                return _read_json(final / META_FILE, _fix_hint(episodes_dir.parent, key))
            shutil.rmtree(final)  # an incomplete folder left by hand
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def _check_expected(
    key: str,
    resolution: tuple[int, int],
    ego_state_fields: Sequence[str],
    expected: dict[str, Any] | None,
) -> None:
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


_WORKER_SOURCE: EpisodeSource | None = None


def _init_worker(source: EpisodeSource) -> None:
    global _WORKER_SOURCE
    _WORKER_SOURCE = source


def _write_task(
    key: str, episodes_dir: str, default_split: str, expected: dict[str, Any], crf: int
) -> dict[str, Any]:
    """Worker entry point: writes one episode with the source given to the initializer."""
    assert _WORKER_SOURCE is not None, "worker was started without a source"
    return write_episode(_WORKER_SOURCE, key, episodes_dir, default_split, expected, crf)


# --------------------------------------------------------------------------------------------
# Writing a whole store


@dataclass
class StoreSummary:
    """What :func:`write_store` did."""

    root: Path
    num_episodes: int
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)  # key -> reason given by the source
    splits: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


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
        stats = {
            "ego_motion": _norm_stats(
                EGO_MOTION_FIELDS, (m["moments"]["ego_motion"] for m in train)
            ).to_json(),
            "ego_state": _norm_stats(
                state_fields, (m["moments"]["ego_state"] for m in train)
            ).to_json(),
        }
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
            "episodes": [
                {
                    "key": m["key"],
                    "num_frames": int(m["num_frames"]),
                    "split": m["split"],
                    "caption": m["caption"],
                }
                for m in metas
            ],
        }

    def save(self) -> None:
        _write_text_atomic(self.root / MANIFEST_NAME, _dumps(self.manifest()))


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


def write_store(
    source: EpisodeSource,
    out: str | os.PathLike[str],
    workers: int = 2,
    val_fraction: float = 0.1,
    progress: bool = True,
    crf: int = DEFAULT_CRF,
    extend: bool = False,
) -> StoreSummary:
    """Write every episode of ``source`` into the store at ``out``, resuming if it exists.

    Complete episodes already in ``out`` are verified against their recorded digests and kept;
    damaged ones are rewritten, and stale temp folders are removed. A store written with other
    source settings is refused (``StoreMismatchError`` naming them) unless ``extend``, which
    adds this source's episodes beside the old ones (``worldsim/data/resume.py``).
    The manifest is rewritten atomically after every episode, so the store can be opened at any
    moment. One writer at a time: a second writer fails with a ``StoreLockedError`` naming the
    first (``worldsim/data/lock.py``). ``workers > 1`` writes in that many spawned processes
    (the source must be picklable, and a calling script needs an ``if __name__ ==
    "__main__":`` guard).
    """
    from worldsim.data.lock import store_lock

    with store_lock(out):
        started = time.perf_counter()
        if (
            not isinstance(source.dt, (int, float))
            or not math.isfinite(source.dt)
            or source.dt <= 0
        ):
            raise ValueError(
                f"source {source.name!r} has invalid dt {source.dt!r}; expected seconds > 0"
            )
        listed = source.keys()
        keys = [validate_key(k) for k in listed]
        duplicates = sorted(k for k, n in Counter(keys).items() if n > 1)
        if duplicates:
            raise ValueError(f"source {source.name!r} lists duplicate keys: {duplicates[:5]}")
        default_splits = assign_splits(keys, val_fraction)

        root = Path(out)
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.glob(f"{MANIFEST_NAME}{TMP_PREFIX}*"):
            stale.unlink(missing_ok=True)
        settings = _check_existing_manifest(root, source, extend)
        state = _ManifestState(root, source, keys)
        if settings is not None:
            state.settings = settings
        if not (root / MANIFEST_NAME).exists():
            state.save()  # an empty but valid store from the first moment
        episodes_dir = root / EPISODES_DIR
        episodes_dir.mkdir(exist_ok=True)
        _scan_existing(episodes_dir, state, set(keys))
        state.save()

        skipped = [k for k in keys if k in state.metas]
        missing = [k for k in keys if k not in state.metas]
        written: list[str] = []
        left_out: dict[str, str] = {}
        bar = tqdm(
            total=len(keys),
            initial=len(skipped),
            disable=not progress,
            desc=f"writing {source.name}",
            unit="episode",
        )

        def accept(meta: dict[str, Any]) -> None:
            try:
                state.add(meta)
            except StoreMismatchError:
                shutil.rmtree(episodes_dir / meta["key"], ignore_errors=True)
                raise
            state.save()
            written.append(meta["key"])
            bar.update(1)

        try:
            if workers <= 1 or len(missing) <= 1:
                for key in missing:
                    try:
                        meta = write_episode(
                            source, key, episodes_dir, default_splits[key], state.expected(), crf
                        )
                    except SkipEpisode as exc:
                        left_out[key] = str(exc)
                        bar.update(1)
                        continue
                    except StoreMismatchError:
                        raise
                    except Exception as exc:
                        raise _episode_error(source, key, exc) from exc
                    accept(meta)
            else:
                _write_parallel(
                    source,
                    missing,
                    episodes_dir,
                    default_splits,
                    state,
                    accept,
                    workers,
                    crf,
                    left_out,
                    bar,
                )
        finally:
            bar.close()
        for key, reason in left_out.items():
            print(f"left out episode {key!r}: {reason}")
        return StoreSummary(
            root=root,
            num_episodes=len(state.metas),
            written=written,
            skipped=skipped,
            left_out=left_out,
            splits=state.manifest()["splits"],
            seconds=time.perf_counter() - started,
        )


def _episode_error(source: EpisodeSource, key: str, exc: BaseException) -> EpisodeWriteError:
    return EpisodeWriteError(
        f"writing episode {key!r} of source {source.name!r} failed: {type(exc).__name__}: {exc}"
    )


def _write_parallel(
    source: EpisodeSource,
    missing: list[str],
    episodes_dir: Path,
    default_splits: dict[str, str],
    state: _ManifestState,
    accept: Callable[[dict[str, Any]], None],
    workers: int,
    crf: int,
    left_out: dict[str, str],
    bar: Any,
) -> None:
    try:
        pickle.dumps(source)
    except Exception as exc:
        raise TypeError(
            f"source {source.name!r} cannot be pickled ({exc}), which workers > 1 needs; "
            "make it picklable or use workers=1"
        ) from exc
    context = get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=min(workers, len(missing)),
        mp_context=context,
        initializer=_init_worker,
        initargs=(source,),
    ) as pool:
        pending: dict[Future[dict[str, Any]], str] = {}
        try:
            for key in missing:
                future = pool.submit(
                    _write_task, key, str(episodes_dir), default_splits[key], state.expected(), crf
                )
                pending[future] = key
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    key = pending.pop(future)
                    try:
                        meta = future.result()
                    except SkipEpisode as exc:
                        left_out[key] = str(exc)
                        bar.update(1)
                        continue
                    except StoreMismatchError:
                        raise
                    except Exception as exc:
                        raise _episode_error(source, key, exc) from exc
                    accept(meta)
        except BaseException:
            for future in pending:
                future.cancel()
            raise


# --------------------------------------------------------------------------------------------
# Reading


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
        manifest_path = self.root / MANIFEST_NAME
        fix = (
            f"re-run `worldsim-data ... out={self.root}` with the same source to rebuild the "
            "manifest (finished episodes are kept)"
        )
        manifest = _read_json(manifest_path, fix)
        version = manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise StoreReadError(
                f"{manifest_path} has format_version {version!r}; this version of worldsim reads "
                f"format {FORMAT_VERSION}. Re-create the store with `worldsim-data ... out={self.root}`"
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
        return str(self._entry(key)["caption"])

    def episode_dir(self, key: str) -> Path:
        self._entry(key)
        return self.root / EPISODES_DIR / key

    def meta(self, key: str) -> dict[str, Any]:
        """The episode's meta.json as a dict (cached)."""
        meta = self._metas.get(key)
        if meta is None:
            path = self.episode_dir(key) / META_FILE
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
        return self._load_array(key, EGO_MOTION_FILE, len(EGO_MOTION_FIELDS))

    def ego_state(self, key: str) -> np.ndarray:
        """(T, K) float32 or float64, columns named by ``ego_state_fields``."""
        return self._load_array(key, EGO_STATE_FILE, len(self.meta(key)["ego_state_fields"]))

    @property
    def action_space(self) -> dict[str, Any] | None:
        """The recorded action space (``{"type": "Box", ...}`` or ``{"type": "Discrete", "n"}``)
        when the source recorded raw actions with their space, else None."""
        return self.manifest.get("action_space")

    def actions(self, key: str) -> np.ndarray | None:
        """(T, A) actions, or None when the source recorded none."""
        if self.meta(key).get("actions") is None:
            return None
        return self._load_array(key, ACTIONS_FILE, None)

    def frames(self, key: str, start: int = 0, length: int | None = None) -> np.ndarray:
        """(length, H, W, 3) uint8 RGB frames from ``start`` (to the end when length is None)."""
        total = self.num_frames(key)
        end = total if length is None else start + length
        if start < 0 or end > total or end < start:
            raise ValueError(
                f"frames [{start}, {end}) are out of range for episode {key!r} with {total} frames"
            )
        path = self._check_file(key, FRAMES_FILE)
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
