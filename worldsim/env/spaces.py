"""Observation and action spaces shared by every worldsim driving env."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

OBS_MODES: tuple[str, ...] = ("rgb", "dict")
ACTION_MODES: tuple[str, ...] = ("steer_accel", "speed_yaw_rate")
EGO_KEYS: tuple[str, ...] = ("speed", "yaw_rate", "position", "heading", "step")
MAX_SPEED = 100.0  # m/s
MAX_YAW_RATE = 10.0  # rad/s
MAX_POSITION = 1.0e6  # metres
MAX_STEPS = 1.0e7


def action_space() -> spaces.Box:
    """Normalised ``Box(-1, 1, (2,))``: ``[steer, accel]`` or ``[speed, yaw_rate]``."""
    return spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)


def observation_space(height: int, width: int, obs_mode: str) -> spaces.Space:
    """``Box(0, 255, (H, W, 3), uint8)``, or a ``Dict`` of that image plus the ego state."""
    check_mode("obs_mode", obs_mode, OBS_MODES)
    image = spaces.Box(0, 255, shape=(height, width, 3), dtype=np.uint8)
    if obs_mode == "rgb":
        return image
    return spaces.Dict(
        {
            "image": image,
            "speed": spaces.Box(0.0, MAX_SPEED, shape=(1,), dtype=np.float32),
            "yaw_rate": spaces.Box(-MAX_YAW_RATE, MAX_YAW_RATE, shape=(1,), dtype=np.float32),
            "position": spaces.Box(-MAX_POSITION, MAX_POSITION, shape=(2,), dtype=np.float32),
            "heading": spaces.Box(-np.pi, np.pi, shape=(1,), dtype=np.float32),
            "step": spaces.Box(0.0, MAX_STEPS, shape=(1,), dtype=np.float32),
        }
    )


def ego_observation(
    speed: float, yaw_rate: float, x: float, y: float, heading: float, step: int
) -> dict[str, np.ndarray]:
    """The ego-state part of a dict observation, clipped into the space's bounds."""
    wrapped = (heading + np.pi) % (2 * np.pi) - np.pi
    return {
        "speed": np.array([np.clip(speed, 0.0, MAX_SPEED)], np.float32),
        "yaw_rate": np.array([np.clip(yaw_rate, -MAX_YAW_RATE, MAX_YAW_RATE)], np.float32),
        "position": np.clip(np.array([x, y]), -MAX_POSITION, MAX_POSITION).astype(np.float32),
        "heading": np.array([np.clip(wrapped, -np.pi, np.pi)], np.float32),
        "step": np.array([min(step, MAX_STEPS)], np.float32),
    }


def check_mode(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not supported; choose one of {list(allowed)}")


def as_float_array(value: object, name: str) -> np.ndarray:
    """``value`` as a float64 array; a ValueError naming it when it is not real numbers."""
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{name} must be numbers, got {value!r:.200} ({exc})") from exc
    if raw.dtype.kind not in "biuf":  # strings, None, objects, complex numbers
        raise ValueError(
            f"{name} must be real numbers, got {type(value).__name__} of dtype {raw.dtype}: "
            f"{value!r:.200}"
        )
    return raw.astype(np.float64)


def validate_action(action: object) -> tuple[np.ndarray, bool]:
    """Check shape and finiteness, then clip to [-1, 1]; returns the action and whether it was
    clipped. Raises ``ValueError`` naming the problem."""
    arr = as_float_array(action, "action")
    if arr.shape != (2,):
        raise ValueError(
            f"action must have shape (2,) ([steer, accel] or [speed, yaw_rate]), got shape "
            f"{arr.shape}: {action!r}"
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"action must be finite, got {arr.tolist()}")
    clipped = np.clip(arr, -1.0, 1.0)
    return clipped, bool((clipped != arr).any())


def validate_actions(actions_N2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`validate_action` for a batch ``(N, 2)`` at once: the clipped actions and which
    rows were clipped. The shape is the caller's to check."""
    bad = ~np.isfinite(actions_N2).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"action of env {row} must be finite, got {actions_N2[row].tolist()}")
    clipped = np.clip(actions_N2, -1.0, 1.0)
    return clipped, (clipped != actions_N2).any(axis=1)
