"""The kinematic bicycle model of :mod:`worldsim.sim.vehicle` for N cars at once, as numpy
array operations (the batched learned env steps every row with one call)."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from worldsim.sim.vehicle import EgoState, VehicleParams

ARC_EPS = 1e-9  # below this heading change a step is a straight line


@dataclass
class EgoBatch:
    """Ego states of N cars, one float64 array ``(N,)`` per :class:`EgoState` field."""

    x: np.ndarray
    y: np.ndarray
    heading: np.ndarray
    speed: np.ndarray
    steer: np.ndarray
    accel: np.ndarray

    @classmethod
    def zeros(cls, num: int) -> EgoBatch:
        return cls(*(np.zeros(num) for _ in fields(cls)))

    def row(self, i: int) -> EgoState:
        """Car ``i`` as an :class:`EgoState`."""
        return EgoState(*(float(getattr(self, f.name)[i]) for f in fields(self)))

    def set_row(self, i: int, ego: EgoState) -> None:
        for f in fields(self):
            getattr(self, f.name)[i] = float(getattr(ego, f.name))

    def take(self, rows: np.ndarray) -> EgoBatch:
        """A copy of the cars selected by ``rows`` (a bool mask or indices)."""
        return EgoBatch(*(getattr(self, f.name)[rows].copy() for f in fields(self)))

    def put(self, rows: np.ndarray, other: EgoBatch) -> None:
        """Write ``other``'s cars into the rows ``rows``."""
        for f in fields(self):
            getattr(self, f.name)[rows] = getattr(other, f.name)


def step_steer_accel_batch(
    ego: EgoBatch, actions_N2: np.ndarray, dt: float, params: VehicleParams
) -> tuple[EgoBatch, np.ndarray]:
    """``step_steer_accel`` for every car: new states and ego motion ``(N, 2)``."""
    steer = np.clip(actions_N2[:, 0], -1.0, 1.0)
    throttle = np.clip(actions_N2[:, 1], -1.0, 1.0)
    accel = throttle * np.where(throttle >= 0, params.max_accel, params.max_brake)
    v_next = np.clip(ego.speed + accel * dt, 0.0, params.max_speed)
    v_mid = 0.5 * (ego.speed + v_next)
    yaw_rate = v_mid / params.wheelbase * np.tan(steer * params.max_steer)
    cap = params.max_lateral_accel / np.maximum(v_mid, 1e-3)
    yaw_rate = np.clip(yaw_rate, -cap, cap)
    x, y, heading = _integrate(ego, v_mid, yaw_rate, dt)
    new = EgoBatch(x, y, heading, v_next, steer, (v_next - ego.speed) / dt)
    return new, _measure(ego, new, dt)


def step_speed_yaw_rate_batch(
    ego: EgoBatch, actions_N2: np.ndarray, dt: float, params: VehicleParams
) -> tuple[EgoBatch, np.ndarray]:
    """``step_speed_yaw_rate`` for every car: new states and ego motion ``(N, 2)``."""
    speed = (np.clip(actions_N2[:, 0], -1.0, 1.0) + 1.0) * 0.5 * params.max_speed
    yaw_rate = np.clip(actions_N2[:, 1], -1.0, 1.0) * params.max_yaw_rate
    x, y, heading = _integrate(ego, speed, yaw_rate, dt)
    steer = np.arctan(yaw_rate * params.wheelbase / np.maximum(speed, 1e-3)) / params.max_steer
    new = EgoBatch(x, y, heading, speed, np.clip(steer, -1, 1), (speed - ego.speed) / dt)
    return new, _measure(ego, new, dt)


def _integrate(
    ego: EgoBatch, speed: np.ndarray, yaw_rate: np.ndarray, dt: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact arcs of constant speed and yaw rate over ``dt``: new x, y and heading."""
    dpsi = yaw_rate * dt
    straight = np.abs(dpsi) < ARC_EPS
    radius = speed / np.where(straight, 1.0, yaw_rate)
    dx = np.where(
        straight,
        speed * dt * np.cos(ego.heading),
        radius * (np.sin(ego.heading + dpsi) - np.sin(ego.heading)),
    )
    dy = np.where(
        straight,
        speed * dt * np.sin(ego.heading),
        -radius * (np.cos(ego.heading + dpsi) - np.cos(ego.heading)),
    )
    return ego.x + dx, ego.y + dy, ego.heading + dpsi


def _measure(before: EgoBatch, after: EgoBatch, dt: float) -> np.ndarray:
    """Arc speed and heading change over ``dt`` of every car, ``(N, 2)``."""
    chord = np.hypot(after.x - before.x, after.y - before.y)
    dpsi = after.heading - before.heading
    half = 0.5 * np.abs(dpsi)
    ratio = np.where(half > ARC_EPS, half / np.sin(np.where(half > ARC_EPS, half, 1.0)), 1.0)
    return np.stack([chord * ratio / dt, dpsi / dt], axis=1)
