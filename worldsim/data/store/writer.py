"""Writing episodes into a store: one episode atomically, or a whole source, resuming."""

from __future__ import annotations

import functools
import json
import math
import os
import pickle
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from worldsim.data.episode import EGO_MOTION_FIELDS, Episode
from worldsim.data.errors import EpisodeWriteError, SkipEpisode, StoreMismatchError
from worldsim.data.resume import file_digest
from worldsim.data.sources.base import EpisodeSource
from worldsim.data.store import layout
from worldsim.data.store.layout import _fix_hint, _read_json, validate_key
from worldsim.data.store.manifest import (
    _check_existing_manifest,
    _check_expected,
    _ManifestState,
    _scan_existing,
)
from worldsim.data.store.splits import assign_splits, validate_split
from worldsim.data.store.stats import _moments
from worldsim.data.video import DEFAULT_CRF, DEFAULT_GOP, PIX_FMT, write_video
from worldsim.utils.io import dumps_json

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
    if abs(episode.dt - source.dt) > layout.DT_TOLERANCE:
        raise StoreMismatchError(
            f"episode {key!r} has dt={episode.dt} but source {source.name!r} declares "
            f"dt={source.dt}; resample the episode to the source's time step"
        )
    _check_expected(key, episode.resolution, episode.ego_state_fields, expected)
    split = validate_split(key, episode.split if episode.split is not None else default_split)

    ego_motion_T2 = np.asarray(episode.ego_motion_T2, np.float32)
    state_dtype = np.float64 if episode.ego_state_TK.dtype == np.float64 else np.float32
    ego_state_TK = np.asarray(episode.ego_state_TK, state_dtype)
    actions_TA = None
    if episode.actions_TA is not None:
        actions_TA = np.asarray(episode.actions_TA)
        if actions_TA.dtype.kind not in "biuf":
            raise ValueError(f"episode {key!r}: actions must be numeric, got {actions_TA.dtype}")

    meta: dict[str, Any] = {
        "format_version": layout.FORMAT_VERSION,
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
        meta_text = dumps_json(meta)  # fail before writing anything if a field is not JSON
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"episode {key!r}: conditions/intrinsics/extra must be JSON serialisable ({exc})"
        ) from exc
    meta = json.loads(meta_text)

    tmp = episodes_dir / f"{layout.TMP_PREFIX}{key}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        write_video(tmp / layout.FRAMES_FILE, episode.frames_THWC, fps=meta["fps"], crf=crf)
        np.save(tmp / layout.EGO_MOTION_FILE, ego_motion_T2)
        np.save(tmp / layout.EGO_STATE_FILE, ego_state_TK)
        if actions_TA is not None:
            np.save(tmp / layout.ACTIONS_FILE, actions_TA)
        names = [layout.FRAMES_FILE, layout.EGO_MOTION_FILE, layout.EGO_STATE_FILE]
        names += [layout.ACTIONS_FILE] if actions_TA is not None else []
        meta["files"] = {name: file_digest(tmp / name) for name in names}
        (tmp / layout.META_FILE).write_text(dumps_json(meta), encoding="utf-8")
        final = episodes_dir / key
        if final.exists():
            # written meanwhile by another run: keep that one
            if (final / layout.META_FILE).exists():
                shutil.rmtree(tmp)
                return _read_json(final / layout.META_FILE, _fix_hint(episodes_dir.parent, key))
            shutil.rmtree(final)  # an incomplete folder left by hand
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


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
        for stale in root.glob(f"{layout.MANIFEST_NAME}{layout.TMP_PREFIX}*"):
            stale.unlink(missing_ok=True)
        settings = _check_existing_manifest(root, source, extend)
        state = _ManifestState(root, source, keys)
        if settings is not None:
            state.settings = settings
        if not (root / layout.MANIFEST_NAME).exists():
            state.save()  # an empty but valid store from the first moment
        episodes_dir = root / layout.EPISODES_DIR
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

        def write_serially() -> Iterator[tuple[str, Callable[[], dict[str, Any]]]]:
            """``(key, write)`` for each missing episode, written in this process when called."""
            for key in missing:
                expected = state.expected()  # with the episodes accepted so far
                yield (
                    key,
                    functools.partial(
                        write_episode, source, key, episodes_dir, default_splits[key], expected, crf
                    ),
                )

        try:
            if workers <= 1 or len(missing) <= 1:
                _accept_results(source, write_serially(), accept, left_out, bar)
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


def _accept_results(
    source: EpisodeSource,
    results: Iterable[tuple[str, Callable[[], dict[str, Any]]]],
    accept: Callable[[dict[str, Any]], None],
    left_out: dict[str, str],
    bar: Any,
) -> None:
    """Take each ``(key, result)`` in turn: ``result()`` gives the written episode's meta.

    A skipped episode is recorded in ``left_out``; a mismatch is raised as it is, any other
    failure as an :class:`EpisodeWriteError` naming the episode.
    """
    for key, result in results:
        try:
            meta = result()
        except SkipEpisode as exc:
            left_out[key] = str(exc)
            bar.update(1)
            continue
        except StoreMismatchError:
            raise
        except Exception as exc:
            raise _episode_error(source, key, exc) from exc
        accept(meta)


def _completed(
    pending: dict[Future[dict[str, Any]], str],
) -> Iterator[tuple[str, Callable[[], dict[str, Any]]]]:
    """``(key, future.result)`` of each future as it completes, removing it from ``pending``."""
    while pending:
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            yield pending.pop(future), future.result


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
            _accept_results(source, _completed(pending), accept, left_out, bar)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
