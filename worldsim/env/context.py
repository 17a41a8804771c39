"""Initial context for the learned env: frames, past ego motion and ego pose from a scenario."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from worldsim.env.scenarios import Scenario
from worldsim.sim.camera import Camera
from worldsim.sim.recording import lane_keeper, record
from worldsim.sim.vehicle import EgoState
from worldsim.sim.world import World


@dataclass
class StartContext:
    """What a rollout starts from."""

    frames_THWC: np.ndarray  # uint8
    past_motion_T2: np.ndarray  # (T-1, 2) motion between consecutive context frames
    ego: EgoState
    prompt: str


@dataclass(frozen=True)
class ContextSpec:
    """How much context to record, at which size and rate, and which variant of the seed."""

    frames: int
    resolution: tuple[int, int]  # (H, W)
    dt: float
    seed_offset: int = 0


def build_context(scenario: Scenario, spec: ContextSpec) -> StartContext:
    """Context frames for ``scenario``; procedural starts drive the lane keeper through the
    ground-truth world, dataset starts read the store."""
    if spec.frames < 1:
        raise ValueError(f"context_frames={spec.frames} must be at least 1")
    if scenario.start_type == "dataset":
        return _dataset_context(scenario, spec.frames, spec.resolution)
    return start_world(scenario, spec)[0]


def start_world(
    scenario: Scenario, spec: ContextSpec, road_length: float | None = None
) -> tuple[StartContext, World]:
    """The context of a procedural scenario and its ground-truth world at the context's last
    frame, to drive on beside the learned world."""
    if scenario.start_type != "procedural":
        raise ValueError(f"scenario {scenario.name!r} does not start in the procedural world")
    assert scenario.conditions is not None
    world = World(
        seed=scenario.seed + spec.seed_offset,
        conditions=scenario.conditions,
        camera=Camera(*spec.resolution),
        dt=spec.dt,
        road_length=road_length or 600.0 + spec.frames * spec.dt * 35.0,
        start_lane=scenario.lane
        if scenario.lane is None
        else min(scenario.lane, scenario.conditions.lanes - 1),
        start_speed=scenario.speed,
    )
    images, past = record(world, lane_keeper(world), scenario.warmup_steps, spec.frames)
    context = StartContext(images, past, world.state.ego, scenario.effective_prompt())
    return context, world


@lru_cache(maxsize=8)
def _open_store(path: str):  # noqa: ANN202 - cached EpisodeStore
    from worldsim.data.store import EpisodeStore

    return EpisodeStore(path)


def _dataset_context(scenario: Scenario, frames: int, resolution: tuple[int, int]) -> StartContext:
    assert scenario.store is not None and scenario.episode is not None
    store = _open_store(scenario.store)
    if tuple(store.resolution) != tuple(resolution):
        raise ValueError(
            f"scenario {scenario.name!r}: store {scenario.store} holds {tuple(store.resolution)} "
            f"frames but the model generates {tuple(resolution)}"
        )
    n = store.num_frames(scenario.episode)
    if scenario.frame + frames > n:
        raise ValueError(
            f"scenario {scenario.name!r}: start.frame={scenario.frame} + {frames} context frames "
            f"runs past the {n} frames of episode {scenario.episode!r}"
        )
    images = store.frames(scenario.episode, scenario.frame, frames)
    motion = store.ego_motion(scenario.episode)
    past = motion[scenario.frame : scenario.frame + frames - 1].astype(np.float32)
    fields = list(store.ego_state_fields)
    state = store.ego_state(scenario.episode)[scenario.frame + frames - 1]
    values = {
        name: float(state[fields.index(name)]) for name in ("x", "y", "heading") if name in fields
    }
    speed = float(motion[scenario.frame + frames - 1, 0])
    ego = EgoState(values.get("x", 0.0), values.get("y", 0.0), values.get("heading", 0.0), speed)
    prompt = scenario.prompt or store.caption_at(scenario.episode, scenario.frame + frames - 1)
    return StartContext(images, past, ego, prompt)
