"""Starts from the real env: the recorder's own settings, replayed from a seed.

The store's manifest keeps the settings the gym source recorded with (env id, frame mode,
resolution, action repeat, policy); replaying them with another seed gives real frames the
world model has never seen, framed exactly like its training data.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from worldsim.data.action_codec import encode_actions
from worldsim.data.episode import Episode
from worldsim.data.store import EpisodeStore
from worldsim.env.learned_copy.starts import Start

MAX_TRIES = 20  # seeds tried for an episode long enough


def recorded_settings(store: EpisodeStore) -> dict[str, Any] | None:
    """The gym source's settings of the store's latest recording, or None for other sources."""
    settings = store.manifest.get("settings") or []
    last = settings[-1] if settings else None
    return dict(last) if isinstance(last, dict) and "env_id" in last else None


def recorded_env_id(store: EpisodeStore) -> str | None:
    """The id of the env the store was recorded from (None when not a gym recording)."""
    settings = recorded_settings(store)
    return None if settings is None else str(settings["env_id"])


@contextmanager
def quiet_bindings() -> Iterator[None]:
    """Ignore the DeprecationWarnings that SWIG bindings (Box2D) raise while their module
    imports: turned into errors (``-W error``) they crash the interpreter inside C code."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "builtin type", DeprecationWarning)
        yield


@lru_cache(maxsize=16)
def real_env_available(env_id: str) -> bool:
    """Whether ``env_id`` can be made here (registered, and its dependencies importable)."""
    import gymnasium as gym

    import worldsim  # noqa: F401 - registers worldsim's ids

    try:
        with quiet_bindings():
            gym.make(env_id).close()
    except Exception:  # a missing dependency raises its own kind (DependencyNotInstalled, ...)
        return False
    return True


def record_real(store: EpisodeStore, seed: int, frames: int) -> tuple[Episode, int]:
    """A real episode of ``frames`` frames recorded like the store, and its seed: the first
    seed at or after ``seed`` whose episode lasts that long."""
    from worldsim.data.sources.gym import GymSource

    settings = recorded_settings(store)
    if settings is None:
        raise ValueError(f"store {store.root} was not recorded by the gym source")
    settings.pop("dt", None)  # recomputed identically from the env
    for offset in range(MAX_TRIES):
        source = GymSource(**{**settings, "episodes": 1, "frames": frames, "seed": seed + offset})
        with quiet_bindings():
            episode = source.load(source.keys()[0])
        if episode.num_frames >= frames:
            return episode, seed + offset
    raise ValueError(
        f"{settings['env_id']} ended before {frames} frames for {MAX_TRIES} seeds from {seed}; "
        "use fewer context frames or a shorter horizon"
    )


def env_start(store: EpisodeStore, seed: int, frames: int) -> Start:
    """The context of ``frames`` real frames from the real env reset with ``seed``."""
    episode, seed = record_real(store, seed, frames)
    assert episode.actions_TA is not None and store.action_space is not None
    past = encode_actions(episode.actions_TA[: frames - 1], store.action_space)
    env_id = recorded_env_id(store)
    return Start(episode.frames_THWC[:frames], past, episode.caption, f"env:{env_id}#{seed}")
