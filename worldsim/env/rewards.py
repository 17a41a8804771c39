"""Pluggable reward and termination functions for the driving envs.

A reward function maps a :class:`StepContext` to a float; a termination function maps it to a
bool. Pass a name from ``REWARDS``/``TERMINATIONS`` or any callable to the env.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StepContext:
    """What happened in one step, in physical units."""

    dt: float
    progress: float  # metres travelled along the lane (negative when going backwards)
    speed: float  # m/s
    yaw_rate: float  # rad/s
    accel: float  # m/s^2
    prev_accel: float  # m/s^2
    lateral_offset: float  # metres from the nearest lane centre (nan when unknown)
    collision: bool = False
    offroad: bool = False


RewardFn = Callable[[StepContext], float]
TerminationFn = Callable[[StepContext], bool]


def progress_comfort(
    ctx: StepContext,
    progress_scale: float = 0.1,
    accel_weight: float = 0.01,
    jerk_weight: float = 0.002,
    lateral_weight: float = 0.02,
) -> float:
    """Progress along the lane minus penalties on acceleration, jerk and lateral acceleration."""
    jerk = (ctx.accel - ctx.prev_accel) / ctx.dt
    lateral = ctx.speed * ctx.yaw_rate
    penalty = accel_weight * ctx.accel**2 + jerk_weight * jerk**2 + lateral_weight * lateral**2
    return float(progress_scale * ctx.progress - penalty * ctx.dt)


def progress_comfort_safety(ctx: StepContext, crash_penalty: float = 10.0) -> float:
    """``progress_comfort`` with a one-off penalty on collision or leaving the road."""
    crash = crash_penalty if (ctx.collision or ctx.offroad) else 0.0
    return progress_comfort(ctx) - crash


def never(ctx: StepContext) -> bool:
    """No termination; episodes end by truncation at the horizon."""
    return False


def collision_or_offroad(ctx: StepContext) -> bool:
    return bool(ctx.collision or ctx.offroad)


REWARDS: dict[str, RewardFn] = {
    "progress_comfort": progress_comfort,
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
