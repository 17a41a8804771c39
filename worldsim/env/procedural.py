"""``worldsim/ProceduralDriving-v0``: the procedural ground-truth world as a Gymnasium env."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from worldsim.env.rewards import (
    RewardFn,
    StepContext,
    TerminationFn,
    lane_offset,
    resolve_reward,
    resolve_termination,
)
from worldsim.env.scenarios import Scenario, load_scenario
from worldsim.env.spaces import (
    ACTION_MODES,
    OBS_MODES,
    action_space,
    check_mode,
    ego_observation,
    observation_space,
    validate_action,
)
from worldsim.sim.camera import Camera
from worldsim.sim.conditions import Conditions, conditions_from_prompt, sample_conditions
from worldsim.sim.recording import lane_keeper, record
from worldsim.sim.world import World, WorldState


class ProceduralDrivingEnv(gym.Env):
    """Drive an ego car through the procedural world, seen by a forward camera.

    ## Description
    A seeded procedural road (1 to 4 lanes, curves, roadside objects) with traffic, time of day
    and weather. This is the ground truth that the learned ``worldsim/DrivingWorld-v0`` imitates;
    both share observation and action spaces, so agents move between them.

    ## Action Space
    ``Box(-1, 1, (2,), float32)``. ``action_mode="steer_accel"``: ``[steer, accel]``, steer > 0
    turns left, integrated by a kinematic bicycle model. ``action_mode="speed_yaw_rate"``: ego
    motion directly, speed = (a0 + 1) / 2 * 30 m/s and yaw rate = a1 * 0.6 rad/s.
    Out-of-range values are clipped and ``info["action_clipped"]`` says so; a wrong shape or a
    non-finite value raises ``ValueError``.

    ## Observation Space
    ``obs_mode="rgb"``: ``Box(0, 255, (H, W, 3), uint8)``. ``obs_mode="dict"``: the image under
    ``"image"`` plus ``speed``, ``yaw_rate``, ``position``, ``heading`` and ``step``.

    ## Rewards
    ``reward_fn`` (default ``"progress_lane_comfort"``): progress along the lane minus a
    lane-keeping penalty on the squared distance from the lane centre and comfort penalties on
    acceleration, jerk and lateral acceleration. See ``worldsim.env.rewards``.

    ## Starting State
    The ego starts 30 m into a fresh road, centred in a random lane at 6-18 m/s. Conditions come
    from ``options["conditions"]``, else from ``options["prompt"]``, else from the constructor,
    else they are sampled from ``np_random``.

    ## Episode End
    ``terminated`` on collision or leaving the road (``termination_fn``); ``truncated`` after
    ``horizon`` steps.

    ## Arguments
    ``obs_mode``, ``action_mode``, ``height``, ``width``, ``horizon``, ``dt``, ``scenario`` (a
    name from the scenario library or a YAML path: fixes conditions, seed, prompt and horizon),
    ``conditions``
    (a dict of fixed conditions), ``prompt``, ``reward_fn``, ``termination_fn``, ``render_mode``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        obs_mode: str = "rgb",
        action_mode: str = "steer_accel",
        height: int = 64,
        width: int = 112,
        horizon: int | None = None,
        dt: float = 0.1,
        scenario: str | None = None,
        conditions: dict[str, Any] | None = None,
        prompt: str | None = None,
        reward_fn: str | RewardFn = "progress_lane_comfort",
        termination_fn: str | TerminationFn = "collision_or_offroad",
        render_mode: str | None = None,
    ) -> None:
        check_mode("obs_mode", obs_mode, OBS_MODES)
        check_mode("action_mode", action_mode, ACTION_MODES)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r} is not supported; use 'rgb_array'")
        self.scenario: Scenario | None = None
        if scenario is not None:
            self.scenario = load_scenario(scenario)
            if self.scenario.start_type != "procedural":
                raise ValueError(
                    f"scenario {self.scenario.name!r} starts from a dataset episode; the "
                    "procedural env needs a scenario with start.type: procedural"
                )
        if horizon is None:
            horizon = self.scenario.horizon if self.scenario else 300
        if horizon < 1:
            raise ValueError(f"horizon={horizon} must be at least 1 step")
        self.camera = Camera(height, width)
        self.obs_mode = obs_mode
        self.action_mode = action_mode
        self.horizon = int(horizon)
        self.dt = float(dt)
        self.fixed_conditions = Conditions.from_dict(conditions) if conditions else None
        if self.scenario is not None and self.fixed_conditions is None:
            self.fixed_conditions = self.scenario.conditions
        if prompt is None and self.scenario is not None:
            prompt = self.scenario.prompt
        self.prompt = prompt
        self.reward_fn = resolve_reward(reward_fn)
        self.termination_fn = resolve_termination(termination_fn)
        self.render_mode = render_mode
        self.action_space = action_space()
        self.observation_space = observation_space(height, width, obs_mode)
        self.world: World | None = None
        self._frame: np.ndarray | None = None
        self._prev_accel = 0.0

    # -- gymnasium API ----------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = sorted(set(options) - {"conditions", "prompt"})
        if unknown:
            raise ValueError(f"unknown reset option(s) {unknown}; allowed: conditions, prompt")
        conditions = self._pick_conditions(options)
        world_seed = int(self.np_random.integers(0, 2**31 - 1))
        warmup, lane, speed = 0, None, None
        sc = self.scenario
        if sc is not None:
            world_seed, warmup, lane, speed = sc.seed, sc.warmup_steps, sc.lane, sc.speed
            if lane is not None and lane >= conditions.lanes:
                lane = conditions.lanes - 1
        road_length = 200.0 + (self.horizon + warmup) * self.dt * 35.0
        self.world = World(
            world_seed,
            conditions,
            self.camera,
            self.dt,
            road_length=road_length,
            start_lane=lane,
            start_speed=speed,
        )
        self._warm_up(warmup)
        self._prev_accel = 0.0
        self._frame = self.world.render()
        return self._observation(), self._info(clipped=False)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self.world is None:
            raise RuntimeError("call reset() before step()")
        act, clipped = validate_action(action)
        before = self.world.state
        motion = self.world.step(act, self.action_mode)
        after = self.world.state
        road = self.world.road
        ctx = StepContext(
            dt=self.dt,
            progress=after.s - before.s,
            speed=float(motion[0]),
            yaw_rate=float(motion[1]),
            accel=after.ego.accel,
            prev_accel=self._prev_accel,
            lateral_offset=lane_offset(after.d, road.lane_width, road.num_lanes),
            collision=after.collision,
            offroad=after.offroad,
            heading_error=self.world.heading_error(),
            lead_gap=self.world.lead_gap(),
        )
        self._prev_accel = after.ego.accel
        reward = float(self.reward_fn(ctx))
        terminated = bool(self.termination_fn(ctx))
        truncated = after.step >= self.horizon and not terminated
        self._frame = self.world.render()
        return self._observation(), reward, terminated, truncated, self._info(clipped)

    def render(self) -> np.ndarray | None:
        if self.render_mode == "rgb_array":
            return None if self._frame is None else self._frame.copy()
        return None

    # -- forking ----------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """A snapshot to branch a rollout from; pass it to ``set_state``."""
        if self.world is None:
            raise RuntimeError("call reset() before get_state()")
        return {
            "world": self.world.clone(),
            "prev_accel": self._prev_accel,
            "np_random": self.np_random.bit_generator.state,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        world: World = state["world"]
        self.world = world.clone()
        self._prev_accel = float(state["prev_accel"])
        self.np_random.bit_generator.state = state["np_random"]
        self._frame = self.world.render()

    # -- helpers ----------------------------------------------------------------------------
    def _warm_up(self, steps: int) -> None:
        """Drive the lane keeper for ``steps`` steps so traffic and speed settle; the step
        counter then restarts at 0."""
        world = self.world
        assert world is not None
        if steps <= 0:
            return
        record(world, lane_keeper(world), steps, 0)
        world.state.step = 0

    def _pick_conditions(self, options: dict[str, Any]) -> Conditions:
        if "conditions" in options:
            base = self.fixed_conditions or Conditions()
            return Conditions.from_dict({**base.to_dict(), **dict(options["conditions"])})
        prompt = options.get("prompt", self.prompt)
        if self.fixed_conditions is not None:
            base = self.fixed_conditions
        else:
            base = sample_conditions(self.np_random)
        return conditions_from_prompt(prompt, base) if prompt else base

    def _observation(self) -> Any:
        assert self.world is not None and self._frame is not None
        if self.obs_mode == "rgb":
            return self._frame.copy()
        st: WorldState = self.world.state
        ego = ego_observation(
            st.ego.speed, st.ego_motion[1], st.ego.x, st.ego.y, st.ego.heading, st.step
        )
        return {"image": self._frame.copy(), **ego}

    def _info(self, clipped: bool) -> dict[str, Any]:
        assert self.world is not None
        st = self.world.state
        return {
            "step": int(st.step),
            "speed": float(st.ego.speed),
            "yaw_rate": float(st.ego_motion[1]),
            "x": float(st.ego.x),
            "y": float(st.ego.y),
            "heading": float(st.ego.heading),
            "s": float(st.s),
            "d": float(st.d),
            "lane": int(self.world.road.lane_of(st.d)),
            "lane_offset": self.world.lane_offset(),
            "heading_error": self.world.heading_error(),
            "lead_gap": self.world.lead_gap(),
            "collision": bool(st.collision),
            "offroad": bool(st.offroad),
            "action_clipped": bool(clipped),
            "caption": self.world.caption(),
        }
