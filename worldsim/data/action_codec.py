"""The action codec: a Gymnasium action space as plain JSON (what the store's manifest records)
and raw actions as the float vectors a world model is conditioned on.

Used by the gym source (to describe the space it records), by the data module (to encode the
stored actions of each clip) and by ``worldsim-train`` (to size the DiT's action input). Only
Box and Discrete spaces are supported.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def space_to_dict(space: Any) -> dict[str, Any]:
    """A JSON description of a Box or Discrete action space."""
    from gymnasium import spaces

    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.Box):
        return {
            "type": "Box",
            "shape": list(space.shape),
            "low": np.asarray(space.low, dtype=np.float64).reshape(-1).tolist(),
            "high": np.asarray(space.high, dtype=np.float64).reshape(-1).tolist(),
        }
    raise ValueError(
        f"action space {space} is not supported; the gym source records Box or Discrete actions"
    )


def action_dim(space: dict[str, Any]) -> int:
    """Width of the conditioning vector for an action space description."""
    if space["type"] == "Discrete":
        return int(space["n"])
    return int(np.prod(space["shape"]))


def encode_actions(actions_TA: np.ndarray, space: dict[str, Any]) -> np.ndarray:
    """Actions as float conditioning vectors ``(T, action_dim)``: one-hot for Discrete, Box
    values scaled to [-1, 1] where the bounds are finite."""
    if space["type"] == "Discrete":
        index = np.asarray(actions_TA).reshape(-1).astype(np.int64) - int(space.get("start", 0))
        return np.eye(int(space["n"]), dtype=np.float32)[index]
    flat = np.asarray(actions_TA, dtype=np.float64).reshape(len(actions_TA), -1)
    low, high = np.asarray(space["low"]), np.asarray(space["high"])
    finite = np.isfinite(low) & np.isfinite(high) & (high > low)
    scaled = np.where(finite, 2 * (flat - low) / np.where(finite, high - low, 1.0) - 1, flat)
    return scaled.astype(np.float32)


def space_from_dict(space: dict[str, Any]) -> Any:
    """The Gymnasium space described by :func:`space_to_dict` (float32 Box, or Discrete)."""
    from gymnasium import spaces

    kind = space.get("type")
    if kind == "Discrete":
        return spaces.Discrete(int(space["n"]), start=int(space.get("start", 0)))
    if kind == "Box":
        shape = tuple(int(s) for s in space["shape"])
        low = np.asarray(space["low"], dtype=np.float32).reshape(shape)
        high = np.asarray(space["high"], dtype=np.float32).reshape(shape)
        return spaces.Box(low, high, shape=shape, dtype=np.float32)
    raise ValueError(f"action space {space!r} is not a recorded Box or Discrete space")
