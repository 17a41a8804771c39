"""Where a learned copy starts: real context frames from held-out episodes of the store, or
from the real env reset with the episode's seed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from worldsim.data.action_codec import encode_actions
from worldsim.data.store import EpisodeStore


@dataclass
class Start:
    """The real context a rollout begins from."""

    frames_THWC: np.ndarray  # uint8
    past_actions_TA: np.ndarray  # (T-1, A) encoded actions between the context frames
    prompt: str
    origin: str  # "store:<key>@<frame>" or "env:<env_id>#<seed>"


class StoreStarts:
    """Context windows of ``frames`` frames from the store's held-out (``val``) episodes; a
    store with no held-out episode lends all of them."""

    def __init__(self, store: EpisodeStore, frames: int) -> None:
        if store.action_space is None:
            raise ValueError(
                f"store {store.root} records no action space; record it with "
                "`worldsim-data source=gym ...`"
            )
        keys = store.keys("val") or store.keys()
        self.keys = [k for k in keys if store.num_frames(k) >= frames]
        if not self.keys:
            raise ValueError(
                f"no episode of store {store.root} has {frames} frames for the context; "
                "pass a smaller context_frames"
            )
        self.store = store
        self.frames = frames

    def sample(self, rng: np.random.Generator) -> Start:
        """A random held-out context window."""
        key = self.keys[int(rng.integers(len(self.keys)))]
        first = int(rng.integers(self.store.num_frames(key) - self.frames + 1))
        return self.window(key, first)

    def window(self, key: str, first: int) -> Start:
        """The context of episode ``key`` from frame ``first``."""
        frames = self.store.frames(key, first, self.frames)
        actions = self.store.actions(key)
        assert actions is not None and self.store.action_space is not None
        past = encode_actions(actions[first : first + self.frames - 1], self.store.action_space)
        caption = self.store.caption_at(key, first + self.frames - 1)  # the last context frame
        return Start(frames, past, caption, f"store:{key}@{first}")


def describe(start: Start) -> dict[str, Any]:
    """The start's provenance for ``info``."""
    return {"start": start.origin}
