"""Pluggable reward and termination functions for the driving envs.

A reward function maps a :class:`StepContext` to a float; a termination function maps it to a
bool. Pass a name from ``REWARDS``/``TERMINATIONS`` or any callable to the env.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class StepContext:
    """What happened in one step, in physical units (floats; ``(N,)`` arrays for the array
    versions in ``BATCHED``)."""

    dt: float
    progress: float  # metres travelled along the lane (negative when going backwards)
    speed: float  # m/s
    yaw_rate: float  # rad/s
    accel: float  # m/s^2
    prev_accel: float  # m/s^2
    lateral_offset: float  # metres from the nearest lane centre (nan when unknown)
    collision: bool = False
    offroad: bool = False
    heading_error: float = float("nan")  # rad, ego heading minus the lane's (nan when unknown)
    lead_gap: float = float("inf")  # metres to the vehicle ahead in the lane (inf when none)


RewardFn = Callable[[StepContext], float]
TerminationFn = Callable[[StepContext], bool]


CRASH_PENALTY = 10.0  # progress_comfort_safety's one-off penalty


def _progress_comfort(
    ctx: StepContext,
    progress_scale: float = 0.1,
    accel_weight: float = 0.01,
    jerk_weight: float = 0.002,
    lateral_weight: float = 0.02,
) -> Any:
    """The formula of ``progress_comfort`` on floats or on ``(N,)`` arrays alike."""
    jerk = (ctx.accel - ctx.prev_accel) / ctx.dt
    lateral = ctx.speed * ctx.yaw_rate
    penalty = accel_weight * ctx.accel**2 + jerk_weight * jerk**2 + lateral_weight * lateral**2
    return progress_scale * ctx.progress - penalty * ctx.dt


LANE_WEIGHT = 0.5  # progress_lane_comfort's penalty per squared metre from the lane centre


def _progress_lane_comfort(ctx: StepContext, lane_weight: float = LANE_WEIGHT) -> Any:
    """``progress_comfort`` minus ``lane_weight * offset**2 * dt``; an unknown (nan) offset
    costs nothing."""
    offset = np.nan_to_num(np.asarray(ctx.lateral_offset, dtype=np.float64), nan=0.0)
    return _progress_comfort(ctx) - lane_weight * offset**2 * ctx.dt


def _crash(ctx: StepContext) -> Any:
    return np.logical_or(ctx.collision, ctx.offroad)


def progress_comfort(ctx: StepContext, **weights: float) -> float:
    """Progress along the lane minus penalties on acceleration, jerk and lateral acceleration
    (``weights``: ``progress_scale``, ``accel_weight``, ``jerk_weight``, ``lateral_weight``)."""
    return float(_progress_comfort(ctx, **weights))


def progress_lane_comfort(ctx: StepContext, lane_weight: float = LANE_WEIGHT) -> float:
    """Progress along the lane, lane keeping and comfort: ``progress_comfort`` minus
    ``lane_weight * lateral_offset**2 * dt``. The default of both driving envs."""
    return float(_progress_lane_comfort(ctx, lane_weight))


def progress_comfort_safety(ctx: StepContext, crash_penalty: float = CRASH_PENALTY) -> float:
    """``progress_comfort`` with a one-off penalty on collision or leaving the road."""
    return float(_progress_comfort(ctx) - crash_penalty * _crash(ctx))


def never(ctx: StepContext) -> bool:
    """No termination; episodes end by truncation at the horizon."""
    return False


def collision_or_offroad(ctx: StepContext) -> bool:
    return bool(_crash(ctx))


# Array versions of the built-in functions: the same formulas on a StepContext of (N,) arrays,
# so a batched env computes N rewards with array operations. A user's callable has none and is
# called once per row with float fields.
BatchFn = Callable[[StepContext], np.ndarray]
BATCHED: dict[Callable[..., Any], BatchFn] = {
    progress_comfort: lambda ctx: np.asarray(_progress_comfort(ctx), dtype=np.float64),
    progress_lane_comfort: lambda ctx: np.asarray(_progress_lane_comfort(ctx), dtype=np.float64),
    progress_comfort_safety: lambda ctx: np.asarray(
        _progress_comfort(ctx) - CRASH_PENALTY * _crash(ctx), dtype=np.float64
    ),
    never: lambda ctx: np.zeros(np.shape(ctx.speed), dtype=bool),
    collision_or_offroad: lambda ctx: np.asarray(_crash(ctx), dtype=bool),
}


REWARDS: dict[str, RewardFn] = {
    "progress_comfort": progress_comfort,
    "progress_lane_comfort": progress_lane_comfort,
    "progress_comfort_safety": progress_comfort_safety,
}
TERMINATIONS: dict[str, TerminationFn] = {
    "never": never,
    "collision_or_offroad": collision_or_offroad,
}


def resolve_reward(fn: str | RewardFn) -> RewardFn:
    return _resolve(fn, REWARDS, "reward_fn")


def resolve_termination(fn: str | TerminationFn) -> TerminationFn:
    return _resolve(fn, TERMINATIONS, "termination_fn")


def _resolve(fn, table, name):
    if callable(fn):
        return fn
    if isinstance(fn, str) and fn in table:
        return table[fn]
    raise ValueError(f"{name}={fn!r} is unknown; pass a callable or one of {sorted(table)}")


def lane_offset(d: float, lane_width: float, num_lanes: int) -> float:
    """Distance from lateral offset ``d`` to the nearest lane centre."""
    half = 0.5 * num_lanes * lane_width
    centres = (np.arange(num_lanes) + 0.5) * lane_width - half
    return float(np.min(np.abs(centres - d)))
