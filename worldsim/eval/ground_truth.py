"""Ground truth from the procedural world: seeded start states and their true futures."""

# The same start is continued under different action sequences: the data policy, and the
# scripted manoeuvres of MANEUVERS.

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from worldsim.sim.camera import Camera
from worldsim.sim.conditions import Conditions, sample_conditions
from worldsim.sim.policies import DrivingPolicy, lane_keeping_action
from worldsim.sim.recording import record
from worldsim.sim.world import World, WorldState

MANEUVERS: tuple[str, ...] = ("straight", "left", "right", "brake", "accelerate")
STEER = 0.5  # normalised steering of the left/right manoeuvres


@dataclass
class Start:
    """A world paused after its context frames, with the data policy that drove it there."""

    seed: int
    world: World
    state: WorldState
    policy: DrivingPolicy
    conditions: Conditions
    context_THWC: np.ndarray  # uint8
    past_motion_T2: np.ndarray  # (T-1, 2): motion between consecutive context frames


@dataclass
class Future:
    """The true continuation of a start: the frame after each step and the motion before it."""

    frames_HHWC: np.ndarray  # uint8 (horizon, H, W, 3)
    motion_H2: np.ndarray  # (horizon, 2) [speed m/s, yaw_rate rad/s]
    actions_H2: np.ndarray  # (horizon, 2) normalised [steer, accel]


def make_start(
    seed: int,
    resolution: tuple[int, int],
    dt: float,
    context_frames: int,
    warmup_steps: int,
    road_length: float = 3000.0,
) -> Start:
    """Conditions from ``seed``, ``warmup_steps`` of the data policy, then the context frames."""
    if context_frames < 1 or warmup_steps < 0:
        raise ValueError(
            f"context_frames={context_frames} must be >= 1 and warmup_steps={warmup_steps} >= 0"
        )
    cond_seq, world_seq, policy_seq = np.random.SeedSequence([seed, 7919]).spawn(3)
    conditions = sample_conditions(np.random.default_rng(cond_seq))
    world = World(
        seed=int(world_seq.generate_state(1)[0]),
        conditions=conditions,
        camera=Camera(*resolution),
        dt=dt,
        road_length=road_length,
    )
    policy = DrivingPolicy(np.random.default_rng(policy_seq))
    context, past = record(world, policy.act, warmup_steps, context_frames)
    return Start(
        seed=seed,
        world=world,
        state=world.get_state(),
        policy=policy,
        conditions=conditions,
        context_THWC=context,
        past_motion_T2=past,
    )


def _maneuver_action(
    world: World, name: str, step: int, lane_d: float, speed0: float, maneuver_steps: int
) -> np.ndarray:
    """Scripted action: the manoeuvre for ``maneuver_steps`` steps, then lane keeping."""
    if name == "straight":
        return lane_keeping_action(world, lane_d, speed0)
    active = step < maneuver_steps
    if name in ("left", "right"):
        if active:
            keep = lane_keeping_action(world, lane_d, speed0, follow=False)
            return np.array([STEER if name == "left" else -STEER, keep[1]])
        return lane_keeping_action(world, float(world.state.d), speed0)
    if name == "brake":
        keep = lane_keeping_action(world, lane_d, 0.0, follow=False)
        return np.array([keep[0], -1.0]) if active else keep
    if name == "accelerate":
        keep = lane_keeping_action(world, lane_d, speed0, follow=False)
        if active:
            return np.array([keep[0], 1.0])
        return lane_keeping_action(world, lane_d, max(speed0, world.state.ego.speed))
    raise ValueError(f"manoeuvre {name!r} is unknown; choose one of {list(MANEUVERS)}")


def roll_future(
    start: Start,
    horizon: int,
    maneuver: str | None = None,
    maneuver_steps: int = 10,
    look: tuple[int, Conditions] | None = None,
) -> Future:
    """The true future of ``start`` (left unchanged) under the data policy or a manoeuvre;
    ``look=(step, conditions)`` renders frame ``step`` on under that other look."""
    world = start.world.clone()
    policy = copy.deepcopy(start.policy)
    lane_d = float(world.road.lane_center(world.road.lane_of(world.state.d)))
    speed0 = float(world.state.ego.speed)
    frames, motions, actions = [], [], []
    for step in range(horizon):
        if look is not None and step == look[0]:
            world.change_look(look[1])
        if maneuver is None:
            action = policy.act(world)
        else:
            action = _maneuver_action(world, maneuver, step, lane_d, speed0, maneuver_steps)
        action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        motions.append(world.step(action))
        actions.append(action)
        frames.append(world.render())
    return Future(
        frames_HHWC=np.stack(frames),
        motion_H2=np.asarray(motions, dtype=np.float32),
        actions_H2=np.asarray(actions, dtype=np.float32),
    )


def switched_conditions(conditions: Conditions) -> Conditions:
    """A different time of day and weather, for the prompt switched mid-rollout."""
    time = {"day": "night", "dusk": "day", "night": "day"}[conditions.time_of_day]
    weather = {"clear": "snow", "rain": "fog", "fog": "clear", "snow": "rain"}[conditions.weather]
    return conditions.replace(time_of_day=time, weather=weather)
