"""Scripted driving policies that generate diverse, action-covering training data."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from worldsim.sim.world import World

BEHAVIOURS: tuple[str, ...] = (
    "cruise",
    "speed_change",
    "hard_brake",
    "lane_change",
    "swerve",
    "stop",
    "explore",
    "tailgate",
)
DEFAULT_WEIGHTS: dict[str, float] = {
    "cruise": 0.25,
    "speed_change": 0.15,
    "hard_brake": 0.10,
    "lane_change": 0.15,
    "swerve": 0.10,
    "stop": 0.07,
    "explore": 0.18,
}
# "tailgate" (closing in on the vehicle ahead without braking for it, which ends in rear-end
# collisions) is off by default; stores that label collisions turn it on.


def lane_keeping_action(
    world: World, target_d: float, target_speed: float, follow: bool = True
) -> np.ndarray:
    """Pure-pursuit steering towards ``target_d`` plus a proportional speed controller."""
    st, road, params = world.state, world.road, world.params
    ego = st.ego
    lookahead = max(7.0, 0.9 * ego.speed)
    tx, ty, _ = road.to_world(st.s + lookahead, target_d)
    dx, dy = float(tx) - ego.x, float(ty) - ego.y
    left = -dx * np.sin(ego.heading) + dy * np.cos(ego.heading)
    dist2 = max(dx * dx + dy * dy, 1.0)
    curvature = 2.0 * left / dist2
    steer = np.arctan(curvature * params.wheelbase) / params.max_steer
    desired = target_speed
    if follow:
        gap = world.lead_gap()
        safe = 6.0 + 1.6 * ego.speed
        if gap < safe:
            desired = min(desired, max(0.0, ego.speed * gap / safe - 1.0))
    error = desired - ego.speed
    accel = error / params.max_accel if error >= 0 else error / (0.4 * params.max_brake)
    return np.clip(np.array([steer, accel]), -1.0, 1.0)


@dataclass
class DrivingPolicy:
    """A schedule of behaviours (cruise, speed changes, hard braking, lane changes, swerves,
    stops, random exploration and tailgating) on top of a lane keeper, with Ornstein-Uhlenbeck noise.

    Deterministic given ``rng``; call ``act(world)`` once per step.
    """

    rng: np.random.Generator
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    steer_noise: float = 0.015
    accel_noise: float = 0.10
    behaviour: str = "cruise"
    _left: int = 0
    _t: int = 0
    _target_speed: float = 12.0
    _target_d: float | None = None
    _noise: np.ndarray = field(default_factory=lambda: np.zeros(2))
    _explore: np.ndarray = field(default_factory=lambda: np.zeros(2))
    _swerve: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.weights) - set(BEHAVIOURS))
        if unknown:
            raise ValueError(f"unknown behaviour(s) {unknown}; choose from {list(BEHAVIOURS)}")
        total = sum(self.weights.values())
        if total <= 0:
            raise ValueError("behaviour weights must sum to a positive number")

    def act(self, world: World) -> np.ndarray:
        """The next normalised action ``[steer, accel]``."""
        if self._target_d is None:
            self._target_d = float(world.road.lane_center(world.road.lane_of(world.state.d)))
        if self._left <= 0:
            self._choose(world)
        self._left -= 1
        self._t += 1
        action = self._behave(world)
        theta = 0.15
        self._noise += -theta * self._noise + self.rng.normal(0, 1, 2) * [
            self.steer_noise,
            self.accel_noise,
        ]
        return np.clip(action + self._noise, -1.0, 1.0)

    def _choose(self, world: World) -> None:
        names = list(self.weights)
        p = np.array([self.weights[n] for n in names], dtype=np.float64)
        self.behaviour = str(self.rng.choice(names, p=p / p.sum()))
        dt = world.dt
        self._t = 0
        road, st = world.road, world.state
        lane = int(road.lane_of(st.d))
        self._target_d = float(road.lane_center(lane))
        if self.behaviour == "cruise":
            self._left = int(self.rng.uniform(1.5, 4.0) / dt)
            self._target_speed = float(np.clip(st.ego.speed + self.rng.normal(0, 2), 4, 25))
        elif self.behaviour == "speed_change":
            self._left = int(self.rng.uniform(2.0, 4.0) / dt)
            self._target_speed = float(self.rng.uniform(3.0, 28.0))
        elif self.behaviour == "hard_brake":
            self._left = int(self.rng.uniform(0.8, 2.0) / dt)
        elif self.behaviour == "lane_change":
            self._left = int(self.rng.uniform(3.0, 5.0) / dt)
            options = [n for n in (lane - 1, lane + 1) if 0 <= n < road.num_lanes]
            if options:
                self._target_d = float(road.lane_center(int(self.rng.choice(options))))
            else:  # single lane: drift towards the shoulder and back instead
                self._target_d = float(self.rng.choice([-1.0, 1.0]) * road.half_width * 0.8)
        elif self.behaviour == "swerve":
            self._left = int(self.rng.uniform(1.5, 3.0) / dt)
            amp = float(self.rng.uniform(0.25, 0.8) * self.rng.choice([-1.0, 1.0]))
            self._swerve = (amp, self._left * dt)
        elif self.behaviour == "stop":
            self._left = int(self.rng.uniform(3.0, 6.0) / dt)
        elif self.behaviour == "explore":
            self._left = int(self.rng.uniform(1.0, 3.0) / dt)
            self._explore = self.rng.uniform(-1, 1, 2)
        elif self.behaviour == "tailgate":
            self._left = int(self.rng.uniform(3.0, 6.0) / dt)
            self._target_speed = float(self.rng.uniform(20.0, 30.0))

    def _behave(self, world: World) -> np.ndarray:
        assert self._target_d is not None
        speed = world.state.ego.speed
        follow = self.behaviour != "tailgate"
        base = lane_keeping_action(world, self._target_d, self._target_speed, follow)
        if self.behaviour == "hard_brake":
            return np.array([base[0], -1.0 + 0.3 * self.rng.random()])
        if self.behaviour == "swerve":
            amp, period = self._swerve
            phase = 2 * np.pi * self._t * world.dt / period
            return np.array([base[0] + amp * np.sin(phase), base[1]])
        if self.behaviour == "stop":
            accel = -0.6 if speed > 0.5 else 0.0
            return np.array([base[0], accel])
        if self.behaviour == "explore":
            self._explore += -0.2 * self._explore + self.rng.normal(0, 0.35, 2)
            self._explore = np.clip(self._explore, -1, 1)
            offroad = abs(world.state.d) > world.road.half_width
            w = 0.3 if offroad else 0.75
            return (1 - w) * base + w * self._explore
        return base
