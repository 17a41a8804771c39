"""``LearnedDriving``: N rollouts of the world model stepped in one batched forward pass per
denoising step, with kinematic ego state, rewards, scenario starts and per-row state.

The runtime ``WorldModel`` owns the text prompts; this core reads them from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from worldsim.env.context import ContextSpec, StartContext, build_context
from worldsim.env.learned.model_cache import load_model
from worldsim.env.learned.options import LearnedWorldOptions
from worldsim.env.learned.signals import SignalTracker, resolve_driving_heads
from worldsim.env.rewards import BATCHED, StepContext, resolve_reward, resolve_termination
from worldsim.env.scenarios import Scenario, load_scenario
from worldsim.env.spaces import ego_observation
from worldsim.runtime.world_model import WorldModel
from worldsim.sim.vehicle import VehicleParams
from worldsim.sim.vehicle_batch import (
    EgoBatch,
    step_speed_yaw_rate_batch,
    step_steer_accel_batch,
)


def torch_generator(np_random: np.random.Generator, device: torch.device) -> torch.Generator:
    """A torch generator on ``device`` seeded from the env's ``np_random``."""
    return torch.Generator(device=device).manual_seed(int(np_random.integers(0, 2**62)))


class LearnedDriving:
    """N rollouts of the world model with kinematic ego state, rewards and scenario starts."""

    def __init__(
        self, num: int, options: LearnedWorldOptions, model: WorldModel | None = None
    ) -> None:
        """``model``: already-loaded networks to share; None loads ``options.checkpoint``."""
        if model is None:
            model = load_model(options.checkpoint, options.device, options.dtype)
        self.model = model.with_sampling(**options.sampling_overrides())
        names = options.scenario_names(num)
        self.scenarios: list[Scenario] = [load_scenario(n) for n in names]
        self.num = num
        self.options = options
        self.reward_fn = resolve_reward(options.reward_fn)
        self.termination_fn = resolve_termination(options.termination_fn)
        self.params = VehicleParams()
        self.resolution = self.model.resolution
        self.ego = EgoBatch.zeros(num)
        self.motion = np.zeros((num, 2))
        self.steps = np.zeros(num, dtype=np.int64)
        self._horizons = np.array([self.horizon(i) for i in range(num)])
        self.frames = np.zeros((num, *self.resolution, 3), np.uint8)
        heads = resolve_driving_heads(options.driving_heads, self.model)
        self.signals = SignalTracker(heads, num, tuple(self.resolution))
        self.started = False

    @property
    def context_frames(self) -> int | None:
        """The ``context_frames`` option (None: each scenario's)."""
        return self.options.context_frames

    def horizon(self, i: int) -> int:
        """Steps until row ``i`` is truncated."""
        return self.options.horizon or self.scenarios[i].horizon

    def horizons(self) -> np.ndarray:
        """Steps until each row is truncated, ``(N,)`` (kept up to date by reset/set_state)."""
        return self._horizons

    @staticmethod
    def _apply(fn: Any, ctx: StepContext, kind: type) -> np.ndarray:
        """``fn`` over the stepped rows: one array call for the built-in functions, else one
        call per row with that row's floats (a user's callable)."""
        batched = BATCHED.get(fn)
        if batched is not None:
            return batched(ctx)
        n = len(ctx.speed)  # type: ignore[arg-type]
        rows = [
            StepContext(
                **{
                    name: value if np.isscalar(value) else value[j]  # type: ignore[index]
                    for name, value in vars(ctx).items()
                }
            )
            for j in range(n)
        ]
        return np.array([kind(fn(row)) for row in rows])

    def prompt(self, i: int) -> str:
        """The text condition of row ``i``, as the world model holds it ("" before reset)."""
        return self.model.prompts[i] if self.started else ""

    def set_prompt(self, i: int, prompt: str) -> None:
        """Condition row ``i`` on ``prompt`` from its next generated frame on."""
        if not self.started:
            raise RuntimeError("call reset() before set_prompt()")
        prompts = list(self.model.prompts)
        prompts[i] = prompt
        self.model._set_prompts(prompts, self.num)

    def _context(self, i: int, seed_offset: int) -> StartContext:
        scenario = self.scenarios[i]
        frames = self.options.context_frames or scenario.context_frames
        return build_context(
            scenario, ContextSpec(frames, self.resolution, self.model.dt, seed_offset)
        )

    def reset(
        self,
        rows: np.ndarray,
        generator: torch.Generator,
        prompts: Sequence[str | None] | None = None,
        scenarios: Sequence[str | None] | None = None,
    ) -> None:
        """Start the rows in ``rows`` (bool mask) from their scenarios."""
        idx = np.flatnonzero(rows)
        for j, i in enumerate(idx):
            if scenarios is not None and scenarios[j] is not None:
                self.scenarios[i] = load_scenario(scenarios[j])  # type: ignore[arg-type]
        self._horizons = np.array([self.horizon(i) for i in range(self.num)])
        contexts = [self._context(i, 0) for i in idx]
        row_prompts = []
        for j, (i, ctx) in enumerate(zip(idx, contexts, strict=True)):
            override = None if prompts is None else prompts[j]
            row_prompts.append(override or ctx.prompt)
            self.ego.set_row(i, ctx.ego)
            self.motion[i] = (
                ctx.past_motion_T2[-1] if len(ctx.past_motion_T2) else (ctx.ego.speed, 0.0)
            )
            self.steps[i] = 0
            self.frames[i] = ctx.frames_THWC[-1]
        lengths = {c.frames_THWC.shape[0] for c in contexts}
        if len(lengths) != 1:
            raise ValueError("all envs reset together must use the same number of context frames")
        frames = np.stack([c.frames_THWC for c in contexts])
        past = np.stack([c.past_motion_T2 for c in contexts])
        self.signals.start(idx, frames)
        if not self.started or rows.all():
            if not rows.all():
                raise RuntimeError("the first reset must start every env")
            self.model.reset(frames, row_prompts, past, generator)
            self.started = True
        else:
            self.model.reset_rows(rows, frames, row_prompts, past, generator)

    def step(
        self, actions_N2: np.ndarray, generator: torch.Generator, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Advance every row (or ``rows``); returns rewards, terminated, truncated, clipped."""
        rows = np.ones(self.num, dtype=bool) if rows is None else rows
        motions = np.zeros((self.num, 2))
        rewards = np.zeros(self.num)
        terminated = np.zeros(self.num, dtype=bool)
        dt = self.model.dt
        before = self.ego.take(rows)
        kinematics = (
            step_steer_accel_batch
            if self.options.action_mode == "steer_accel"
            else step_speed_yaw_rate_batch
        )
        after, motion_R2 = kinematics(before, actions_N2[rows], dt, self.params)
        self.ego.put(rows, after)
        self.motion[rows] = motion_R2
        motions[rows] = motion_R2
        self.steps[rows] += 1
        frames = self.model.step(motions, generator=generator, rows=rows)
        self.frames[rows] = frames[rows]
        idx = np.flatnonzero(rows)
        self.signals.push(idx, frames[rows])
        ctx = self._step_context(idx, motion_R2, after.accel, before.accel, dt)
        rewards[rows] = self._apply(self.reward_fn, ctx, float)
        terminated[rows] = self._apply(self.termination_fn, ctx, bool)
        truncated = rows & ~terminated & (self.steps >= self.horizons())
        return rewards, terminated, truncated, rows

    def _step_context(
        self,
        idx: np.ndarray,
        motion_R2: np.ndarray,
        accel_R: np.ndarray,
        prev_accel_R: np.ndarray,
        dt: float,
    ) -> StepContext:
        """The stepped rows' StepContext: kinematics from the bicycle model, lane and safety
        signals from the driving heads (progress along the lane is speed * cos(heading error)
        * dt; without heads the offset is nan and nothing crashes)."""
        speed_R = motion_R2[:, 0]
        v = self.signals.values
        n = len(idx)
        if not self.signals.enabled:
            return StepContext(
                dt=dt,
                progress=speed_R * dt,
                speed=speed_R,
                yaw_rate=motion_R2[:, 1],
                accel=accel_R,
                prev_accel=prev_accel_R,
                lateral_offset=np.full(n, np.nan),
                collision=np.zeros(n, dtype=bool),
                offroad=np.zeros(n, dtype=bool),
                heading_error=np.full(n, np.nan),
                lead_gap=np.full(n, np.inf),
            )
        threshold = self.options.termination_threshold
        heading_R = v["heading_error"][idx]
        return StepContext(
            dt=dt,
            progress=speed_R * np.cos(heading_R) * dt,
            speed=speed_R,
            yaw_rate=motion_R2[:, 1],
            accel=accel_R,
            prev_accel=prev_accel_R,
            lateral_offset=np.abs(v["lane_offset"][idx]),
            collision=v["collision_prob"][idx] > threshold,
            offroad=v["offroad_prob"][idx] > threshold,
            heading_error=heading_R,
            lead_gap=v["lead_gap"][idx],
        )

    def observation(self, i: int) -> Any:
        """Row ``i``'s observation in the ``obs_mode`` of the options."""
        frame = self.frames[i].copy()
        if self.options.obs_mode == "rgb":
            return frame
        e = self.ego.row(i)
        ego = ego_observation(e.speed, self.motion[i][1], e.x, e.y, e.heading, int(self.steps[i]))
        return {"image": frame, **ego}

    def infos(self) -> dict[str, np.ndarray]:
        """Every row's :meth:`info` as arrays ``(N,)``, from the batched state at once."""
        e = self.ego
        return {
            "step": self.steps.copy(),
            "speed": e.speed.copy(),
            "yaw_rate": self.motion[:, 1].copy(),
            "x": e.x.copy(),
            "y": e.y.copy(),
            "heading": e.heading.copy(),
            "prompt": np.array([self.prompt(i) for i in range(self.num)]),
            "scenario": np.array([s.name for s in self.scenarios]),
            **self.signals.arrays(),
        }

    def info(self, i: int) -> dict[str, Any]:
        """Row ``i``'s step, ego state, prompt and scenario."""
        e = self.ego.row(i)
        return {
            "step": int(self.steps[i]),
            "speed": float(e.speed),
            "yaw_rate": float(self.motion[i][1]),
            "x": float(e.x),
            "y": float(e.y),
            "heading": float(e.heading),
            "prompt": self.prompt(i),
            "scenario": self.scenarios[i].name,
            **self.signals.row(i),
        }

    def get_state(self, i: int) -> dict[str, Any]:
        """A copy of row ``i``: its world-model rows (prompt included), ego state and frame."""
        return {
            "model": self.model.row_state(i),
            "ego": self.ego.row(i),
            "motion": self.motion[i].copy(),
            "steps": int(self.steps[i]),
            "frame": self.frames[i].copy(),
            "scenario": self.scenarios[i],
            "signals": self.signals.get(i),
        }

    def set_state(self, i: int, state: dict[str, Any]) -> None:
        """Load a :meth:`get_state` snapshot (of any row) into row ``i``."""
        self.model.load_row_state(i, state["model"])
        self.ego.set_row(i, state["ego"])
        self.motion[i] = state["motion"]
        self.steps[i] = state["steps"]
        self.frames[i] = state["frame"]
        self.scenarios[i] = state["scenario"]
        self._horizons[i] = self.horizon(i)
        self.signals.set(i, state["signals"])


RENDER_MODES: tuple[str, ...] = ("rgb_array",)


def build_core(
    owner: str,
    num: int,
    render_mode: str | None,
    model: WorldModel | None,
    keywords: Mapping[str, Any],
) -> LearnedDriving:
    """The core of ``num`` rows behind a wrapper, from the wrapper's keyword arguments."""
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise ValueError(f"render_mode={render_mode!r} is not supported; use 'rgb_array'")
    return LearnedDriving(num, LearnedWorldOptions.from_keywords(owner, keywords), model)


def reset_options(options: Mapping[str, Any] | None, allowed: tuple[str, ...]) -> dict[str, Any]:
    """A copy of ``reset``'s ``options``; a ValueError names any key not in ``allowed``."""
    out = dict(options or {})
    unknown = sorted(set(out) - set(allowed))
    if unknown:
        raise ValueError(f"unknown reset option(s) {unknown}; allowed: {', '.join(allowed)}")
    return out
