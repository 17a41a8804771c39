"""Checking the actions a learned copy receives against the recorded action space."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from worldsim.env.spaces import as_float_array


def check_actions(actions: Any, space: spaces.Space, num: int) -> np.ndarray:
    """``num`` actions of ``space`` as an array ``(num, ...)``: Box actions must be finite and
    are clipped to the bounds; Discrete actions must be integers of the space. A ValueError
    names any bad value."""
    arr = as_float_array(actions, "actions")
    if isinstance(space, spaces.Discrete):
        if arr.shape != (num,):
            raise ValueError(f"actions must have shape ({num},) for {space}, got {arr.shape}")
        start, stop = int(space.start), int(space.start) + int(space.n)
        bad = ~np.isfinite(arr) | (arr != np.round(arr)) | (arr < start) | (arr >= stop)
        if bad.any():
            raise ValueError(
                f"action {arr[bad][0]!r} is not in {space}; pass an integer in [{start}, {stop})"
            )
        return arr.astype(np.int64)
    assert isinstance(space, spaces.Box)
    want = (num, *space.shape)
    if arr.shape != want:
        raise ValueError(f"actions must have shape {want} for {space}, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"actions must be finite, got {arr.tolist()!r:.200}")
    return np.clip(arr, space.low, space.high).astype(np.float32)
