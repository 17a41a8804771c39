"""Procedural source: episodes driven by scripted policies in the procedural world."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from worldsim.data.captions import SWITCH_KEY, CaptionSwitch
from worldsim.data.episode import Episode
from worldsim.sim.camera import Camera
from worldsim.sim.conditions import (
    LANE_COUNTS,
    LOOK_CHANGES,
    ROAD_SHAPES,
    TIMES_OF_DAY,
    TRAFFIC_LEVELS,
    WEATHERS,
    Conditions,
    sample_conditions,
    sample_look_change,
)
from worldsim.sim.policies import DEFAULT_WEIGHTS, DrivingPolicy
from worldsim.sim.world import EGO_STATE_FIELDS, World


@dataclass
class ProceduralSource:
    """``episodes`` drives of ``frames`` frames each; episode ``i`` depends only on (seed, i).

    Conditions are drawn uniformly from the allowed lists; the driving policy mixes behaviours
    with ``behaviour_weights``.
    """

    episodes: int = 16
    frames: int = 100  # per episode
    seed: int = 0
    height: int = 64  # pixels
    width: int = 112  # pixels
    dt: float = 0.1  # seconds between frames
    hfov_deg: float = 70.0  # the camera's horizontal field of view
    time_of_day: list[str] = field(default_factory=lambda: list(TIMES_OF_DAY))
    weather: list[str] = field(default_factory=lambda: list(WEATHERS))
    lanes: list[int] = field(default_factory=lambda: list(LANE_COUNTS))
    road: list[str] = field(default_factory=lambda: list(ROAD_SHAPES))
    traffic: list[str] = field(default_factory=lambda: list(TRAFFIC_LEVELS))
    behaviour_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    # Share of episodes whose time of day and/or weather (and caption) switch once, at a frame
    # drawn from the middle half of the episode (data for prompts switched mid-rollout).
    switch_prob: float = 0.0
    # How a switching episode's new look is drawn: "kind" (time of day, weather or both, each a
    # third) or "uniform" (any other allowed time of day and weather pair, equally likely).
    look_change: str = "kind"
    name: str = "procedural"

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"episodes={self.episodes} must be at least 1")
        if self.frames < 2:
            raise ValueError(f"frames={self.frames} must be at least 2")
        if not 0.0 <= self.switch_prob <= 1.0:
            raise ValueError(f"switch_prob={self.switch_prob} must be a share in [0, 1]")
        if self.look_change not in LOOK_CHANGES:
            raise ValueError(
                f"source.look_change={self.look_change!r} is unknown; choose one of "
                f"{list(LOOK_CHANGES)}"
            )
        if self.switch_prob > 0 and len(self.time_of_day) < 2 and len(self.weather) < 2:
            raise ValueError(
                f"switch_prob={self.switch_prob} needs another look to switch to: allow at "
                "least two times of day or two weathers"
            )
        if self.seed < 0:
            raise ValueError(f"seed={self.seed} must be >= 0 (numpy seeds are non-negative)")
        for key, allowed in (
            ("time_of_day", TIMES_OF_DAY),
            ("weather", WEATHERS),
            ("lanes", LANE_COUNTS),
            ("road", ROAD_SHAPES),
            ("traffic", TRAFFIC_LEVELS),
        ):
            values = list(getattr(self, key))
            bad = [v for v in values if v not in allowed]
            if not values or bad:
                raise ValueError(
                    f"source.{key}={values} is not allowed; use a non-empty subset of "
                    f"{list(allowed)}"
                )
        Camera(self.height, self.width, self.hfov_deg)  # validates the resolution
        DrivingPolicy(np.random.default_rng(0), dict(self.behaviour_weights))

    def keys(self) -> list[str]:
        return [f"{self.name}-{i:06d}" for i in range(self.episodes)]

    def load(self, key: str) -> Episode:
        index = self._index(key)
        seeds = np.random.SeedSequence([self.seed, index]).spawn(4)
        cond_seq, world_seq, policy_seq, switch_seq = seeds
        conditions = sample_conditions(
            np.random.default_rng(cond_seq),
            tuple(self.time_of_day),
            tuple(self.weather),
            tuple(self.lanes),
            tuple(self.road),
            tuple(self.traffic),
        )
        camera = Camera(self.height, self.width, self.hfov_deg)
        road_length = 200.0 + self.frames * self.dt * 32.0
        world = World(
            seed=int(world_seq.generate_state(1)[0]),
            conditions=conditions,
            camera=camera,
            dt=self.dt,
            road_length=road_length,
        )
        policy = DrivingPolicy(np.random.default_rng(policy_seq), dict(self.behaviour_weights))
        t = self.frames
        switch = self._switch(np.random.default_rng(switch_seq), conditions, t)
        frames = np.empty((t, camera.height, camera.width, 3), dtype=np.uint8)
        motion = np.empty((t, 2))
        state = np.empty((t, len(EGO_STATE_FIELDS)))
        actions = np.empty((t, 2))
        behaviours: list[str] = []
        for i in range(t):
            if switch is not None and i == switch.frame:
                world.change_look(conditions.replace(**switch.conditions))
            frames[i] = world.render()
            state[i] = world.ego_state_vector()
            actions[i] = policy.act(world)
            behaviours.append(policy.behaviour)
            motion[i] = world.step(actions[i])
        return Episode(
            key=key,
            frames_THWC=frames,
            ego_motion_T2=motion.astype(np.float32),
            ego_state_TK=state.astype(np.float32),
            ego_state_fields=EGO_STATE_FIELDS,
            caption=conditions.caption(),
            source=self.name,
            dt=self.dt,
            conditions={**conditions.to_dict(), "world_seed": world.seed},
            intrinsics=camera.intrinsics(),
            actions_TA=actions.astype(np.float32),
            extra={
                "action_mode": "steer_accel",
                "behaviours": _runs(behaviours),
                **({} if switch is None else {SWITCH_KEY: switch.to_dict()}),
            },
        )

    def _switch(
        self, rng: np.random.Generator, conditions: Conditions, frames: int
    ) -> CaptionSwitch | None:
        """The episode's mid-way change of look, or ``None`` (drawn with ``switch_prob``)."""
        if frames < 4 or not rng.random() < self.switch_prob:
            return None
        frame = int(rng.integers(frames // 4, max(3 * frames // 4, frames // 4 + 1)))
        new = sample_look_change(
            rng, conditions, tuple(self.time_of_day), tuple(self.weather), self.look_change
        )
        return CaptionSwitch(
            max(frame, 1),
            new.caption(),
            {"time_of_day": new.time_of_day, "weather": new.weather},
        )

    def _index(self, key: str) -> int:
        prefix = f"{self.name}-"
        if not key.startswith(prefix) or not key[len(prefix) :].isdigit():
            raise KeyError(f"{key!r} is not a key of this source; keys look like {prefix}000000")
        index = int(key[len(prefix) :])
        if not 0 <= index < self.episodes:
            raise KeyError(f"{key!r} is out of range for episodes={self.episodes}")
        return index


def _runs(labels: list[str]) -> list[list[object]]:
    """Run-length encoding ``[[label, start, length], ...]`` of per-step labels."""
    runs: list[list[object]] = []
    for i, label in enumerate(labels):
        if runs and runs[-1][0] == label:
            runs[-1][2] = int(runs[-1][2]) + 1  # type: ignore[index]
        else:
            runs.append([label, i, 1])
    return runs
