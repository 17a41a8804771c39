"""Kinematic bicycle model of the ego car and the action conventions shared with the env."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class VehicleParams:
    """Physical limits that map a normalised action onto ego motion."""

    wheelbase: float = 2.7  # metres
    max_steer: float = 0.5  # radians of front-wheel angle at |steer| = 1
    max_accel: float = 3.0  # m/s^2 at accel = +1
    max_brake: float = 8.0  # m/s^2 at accel = -1
    max_speed: float = 30.0  # m/s
    max_lateral_accel: float = 7.0  # m/s^2, caps the yaw rate at speed
    max_yaw_rate: float = 0.6  # rad/s at yaw_rate action = +-1 in speed_yaw_rate mode
    length: float = 4.5
    width: float = 1.85


@dataclass(frozen=True)
class EgoState:
    """Ego pose and speed in world coordinates; heading is counter-clockwise from +x."""

    x: float
    y: float
    heading: float
    speed: float
    steer: float = 0.0  # last normalised steering command
    accel: float = 0.0  # last longitudinal acceleration, m/s^2


def step_steer_accel(
    ego: EgoState, action: np.ndarray, dt: float, params: VehicleParams
) -> tuple[EgoState, np.ndarray]:
    """Advance one step under ``[steer, accel]`` in [-1, 1]; steer > 0 turns left.

    Returns the new state and the ego motion ``[speed, yaw_rate]`` measured from t to t+1.
    """
    steer = float(np.clip(action[0], -1.0, 1.0))
    throttle = float(np.clip(action[1], -1.0, 1.0))
    accel = throttle * (params.max_accel if throttle >= 0 else params.max_brake)
    v_next = float(np.clip(ego.speed + accel * dt, 0.0, params.max_speed))
    v_mid = 0.5 * (ego.speed + v_next)
    yaw_rate = v_mid / params.wheelbase * np.tan(steer * params.max_steer)
    cap = params.max_lateral_accel / max(v_mid, 1e-3)
    yaw_rate = float(np.clip(yaw_rate, -cap, cap))
    new = _integrate(ego, v_mid, yaw_rate, dt)
    new = replace(new, speed=v_next, steer=steer, accel=(v_next - ego.speed) / dt)
    return new, _measure(ego, new, dt)


def step_speed_yaw_rate(
    ego: EgoState, action: np.ndarray, dt: float, params: VehicleParams
) -> tuple[EgoState, np.ndarray]:
    """Advance one step commanding ego motion directly: speed = (a0+1)/2 * max_speed."""
    speed = float((np.clip(action[0], -1.0, 1.0) + 1.0) * 0.5 * params.max_speed)
    yaw_rate = float(np.clip(action[1], -1.0, 1.0) * params.max_yaw_rate)
    new = _integrate(ego, speed, yaw_rate, dt)
    steer = np.arctan(yaw_rate * params.wheelbase / max(speed, 1e-3)) / params.max_steer
    new = replace(
        new, speed=speed, steer=float(np.clip(steer, -1, 1)), accel=(speed - ego.speed) / dt
    )
    return new, _measure(ego, new, dt)


def _integrate(ego: EgoState, speed: float, yaw_rate: float, dt: float) -> EgoState:
    """Exact integration of constant speed and yaw rate over ``dt`` (an arc)."""
    dpsi = yaw_rate * dt
    if abs(dpsi) < 1e-9:
        dx, dy = speed * dt * np.cos(ego.heading), speed * dt * np.sin(ego.heading)
    else:
        radius = speed / yaw_rate
        dx = radius * (np.sin(ego.heading + dpsi) - np.sin(ego.heading))
        dy = -radius * (np.cos(ego.heading + dpsi) - np.cos(ego.heading))
    return replace(ego, x=ego.x + float(dx), y=ego.y + float(dy), heading=ego.heading + dpsi)


def _measure(before: EgoState, after: EgoState, dt: float) -> np.ndarray:
    """Canonical ego motion from two poses: arc speed and heading change over ``dt``."""
    chord = float(np.hypot(after.x - before.x, after.y - before.y))
    dpsi = after.heading - before.heading
    half = 0.5 * abs(dpsi)
    arc = chord * half / np.sin(half) if half > 1e-9 else chord
    return np.array([arc / dt, dpsi / dt], dtype=np.float64)


def speed_yaw_rate_to_action(
    speed: np.ndarray, yaw_rate: np.ndarray, params: VehicleParams
) -> np.ndarray:
    """Inverse of the ``speed_yaw_rate`` action scaling, clipped to [-1, 1]."""
    a0 = np.asarray(speed) / params.max_speed * 2.0 - 1.0
    a1 = np.asarray(yaw_rate) / params.max_yaw_rate
    return np.clip(np.stack([a0, a1], axis=-1), -1.0, 1.0)
