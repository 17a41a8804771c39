"""Ready-made recording policies for ``worldsim-data source=gym source.policy=...``.

A policy is called as ``policy(observation, info) -> action`` (``info`` holds the env's info,
``action_space`` and ``step``). A class is made afresh for every episode, so its instances may
keep state across steps; ``reset(seed)`` is called at each episode start when it exists.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CAR_COLUMN = 48  # the car's column in CarRacing's 96x96 observation
LOOKAHEAD_ROWS = slice(44, 64)  # rows of road ahead of the car


class CarRacingDriver:
    """Follows the grey road of ``CarRacing`` observations with noisy steering and throttle
    held at random levels for random spells, so recordings cover turning, speeding up and
    braking while mostly staying on the track."""

    def __init__(self, steer_noise: float = 0.35, theta: float = 0.2) -> None:
        self.steer_noise = float(steer_noise)
        self.theta = float(theta)
        self.rng = np.random.default_rng(0)
        self.noise = 0.0
        self.gas = 0.3
        self.brake = 0.0
        self.hold = 0

    def reset(self, seed: int | None) -> None:
        """Seed the noise for a new episode."""
        self.rng = np.random.default_rng(seed)
        self.noise, self.gas, self.brake, self.hold = 0.0, 0.3, 0.0, 0

    def road_offset(self, observation: np.ndarray) -> float:
        """Horizontal offset in [-1, 1] of the road ahead from the car (0 when none is seen)."""
        ahead = np.asarray(observation, dtype=np.int16)[LOOKAHEAD_ROWS]
        r, g, b = ahead[..., 0], ahead[..., 1], ahead[..., 2]
        grey = (np.abs(r - g) < 20) & (np.abs(g - b) < 20) & (r > 60) & (r < 160)
        columns = np.nonzero(grey)[1]
        if columns.size == 0:
            return 0.0
        return float(np.clip((columns.mean() - CAR_COLUMN) / 24.0, -1.0, 1.0))

    def __call__(self, observation: Any, info: dict[str, Any]) -> np.ndarray:
        """``[steer, gas, brake]`` for the current observation."""
        self.noise += -self.theta * self.noise + self.steer_noise * self.rng.normal()
        if self.hold <= 0:
            self.hold = int(self.rng.integers(5, 20))
            self.gas = float(self.rng.choice([0.0, 0.2, 0.4, 0.7]))
            self.brake = float(self.rng.random() < 0.15) * 0.6
        self.hold -= 1
        steer = np.clip(1.5 * self.road_offset(observation) + self.noise, -1.0, 1.0)
        return np.array([steer, self.gas, self.brake], dtype=np.float32)
