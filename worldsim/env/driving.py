"""``worldsim/DrivingWorld-v0``: the learned world model as a Gymnasium env, single and native
vectorised. Both share :class:`LearnedDriving`, which steps N rollouts in one batched forward
pass per denoising step."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector.utils import batch_space

from worldsim.env.context import build_context
from worldsim.env.rewards import (
    RewardFn,
    StepContext,
    TerminationFn,
    resolve_reward,
    resolve_termination,
)
from worldsim.env.scenarios import Scenario, load_scenario
from worldsim.env.spaces import (
    ACTION_MODES,
    OBS_MODES,
    action_space,
    as_float_array,
    check_mode,
    ego_observation,
    observation_space,
    validate_action,
)
from worldsim.runtime.world_model import WorldModel
from worldsim.sim.vehicle import EgoState, VehicleParams, step_speed_yaw_rate, step_steer_accel

_MODELS: dict[tuple[object, ...], WorldModel] = {}


def _file_identity(checkpoint: str | None) -> tuple[object, ...]:
    """Path, size and modification time of a checkpoint file (or of a bundle's weights), so a
    file retrained at the same path is loaded afresh instead of served from the cache."""
    from worldsim.runtime.bundle import MODEL_WEIGHTS, bundled_model_dir

    path = Path(checkpoint) if checkpoint is not None else bundled_model_dir()
    target = path / MODEL_WEIGHTS if path.is_dir() else path
    try:
        stat = target.stat()
    except OSError:
        return (str(path.resolve()),)
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def _load_networks(checkpoint: str | None, device: str, dtype: str) -> WorldModel:
    """Load a checkpoint (None: the bundled model) once per process and file version; envs
    share its networks."""
    from worldsim.runtime.checkpoint import load_world_model

    key = (*_file_identity(checkpoint), str(device), str(dtype))
    if key not in _MODELS:
        _MODELS[key] = load_world_model(checkpoint, device=device, dtype=getattr(torch, dtype))
    return _MODELS[key]


class LearnedDriving:
    """N rollouts of the world model with kinematic ego state, rewards and scenario starts."""

    def __init__(
        self,
        num: int,
        checkpoint: str | None,
        scenario: str | Sequence[str],
        action_mode: str,
        sampling_steps: int | None,
        guidance: dict[str, float] | None,
        context_frames: int | None,
        device: str,
        dtype: str,
        horizon: int | None,
        reward_fn: str | RewardFn,
        termination_fn: str | TerminationFn,
        model: WorldModel | None = None,
    ) -> None:
        check_mode("action_mode", action_mode, ACTION_MODES)
        if model is None:
            model = _load_networks(checkpoint, device, dtype)
        overrides: dict[str, Any] = {}
        if sampling_steps is not None:
            overrides["steps"] = int(sampling_steps)
        for key, value in (guidance or {}).items():
            if key not in ("text", "action"):
                raise ValueError(f"guidance key {key!r} is unknown; use 'text' and 'action'")
            overrides[f"guidance_{key}"] = float(value)
        self.model = model.with_sampling(**overrides)
        names = [scenario] * num if isinstance(scenario, str) else list(scenario)
        if len(names) != num:
            raise ValueError(f"got {len(names)} scenarios for {num} envs; pass one or {num}")
        self.scenarios: list[Scenario] = [load_scenario(n) for n in names]
        self.num = num
        self.action_mode = action_mode
        self.context_frames = context_frames
        self.horizon_override = horizon
        self.reward_fn = resolve_reward(reward_fn)
        self.termination_fn = resolve_termination(termination_fn)
        self.params = VehicleParams()
        self.resolution = self.model.resolution
        self.ego: list[EgoState] = [EgoState(0.0, 0.0, 0.0, 0.0)] * num
        self.motion = np.zeros((num, 2))
        self.steps = np.zeros(num, dtype=np.int64)
        self.prompts = [""] * num
        self.frames = np.zeros((num, *self.resolution, 3), np.uint8)
        self.started = False

    def horizon(self, i: int) -> int:
        return self.horizon_override or self.scenarios[i].horizon

    def _context(self, i: int, seed_offset: int) -> Any:
        scenario = self.scenarios[i]
        frames = self.context_frames or scenario.context_frames
        return build_context(scenario, frames, self.resolution, self.model.dt, seed_offset)

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
        contexts = [self._context(i, 0) for i in idx]
        for j, (i, ctx) in enumerate(zip(idx, contexts, strict=True)):
            override = None if prompts is None else prompts[j]
            self.prompts[i] = override or ctx.prompt
            self.ego[i] = ctx.ego
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
        row_prompts = [self.prompts[i] for i in idx]
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
        truncated = np.zeros(self.num, dtype=bool)
        for i in np.flatnonzero(rows):
            before = self.ego[i]
            if self.action_mode == "steer_accel":
                ego, motion = step_steer_accel(before, actions_N2[i], self.model.dt, self.params)
            else:
                ego, motion = step_speed_yaw_rate(before, actions_N2[i], self.model.dt, self.params)
            ctx = StepContext(
                dt=self.model.dt,
                progress=float(motion[0]) * self.model.dt,
                speed=float(motion[0]),
                yaw_rate=float(motion[1]),
                accel=ego.accel,
                prev_accel=before.accel,
                lateral_offset=float("nan"),
            )
            rewards[i] = float(self.reward_fn(ctx))
            terminated[i] = bool(self.termination_fn(ctx))
            self.ego[i] = ego
            self.motion[i] = motion
            motions[i] = motion
            self.steps[i] += 1
            truncated[i] = self.steps[i] >= self.horizon(i) and not terminated[i]
        frames = self.model.step(motions, prompts=self.prompts, generator=generator, rows=rows)
        self.frames[rows] = frames[rows]
        return rewards, terminated, truncated, rows

    def observation(self, i: int, obs_mode: str) -> Any:
        frame = self.frames[i].copy()
        if obs_mode == "rgb":
            return frame
        e = self.ego[i]
        ego = ego_observation(e.speed, self.motion[i][1], e.x, e.y, e.heading, int(self.steps[i]))
        return {"image": frame, **ego}

    def info(self, i: int) -> dict[str, Any]:
        e = self.ego[i]
        return {
            "step": int(self.steps[i]),
            "speed": float(e.speed),
            "yaw_rate": float(self.motion[i][1]),
            "x": float(e.x),
            "y": float(e.y),
            "heading": float(e.heading),
            "prompt": self.prompts[i],
            "scenario": self.scenarios[i].name,
        }

    def get_state(self, i: int) -> dict[str, Any]:
        return {
            "model": self.model.row_state(i),
            "ego": self.ego[i],
            "motion": self.motion[i].copy(),
            "steps": int(self.steps[i]),
            "prompt": self.prompts[i],
            "frame": self.frames[i].copy(),
            "scenario": self.scenarios[i],
        }

    def set_state(self, i: int, state: dict[str, Any]) -> None:
        self.model.load_row_state(i, state["model"])
        self.ego[i] = replace(state["ego"])
        self.motion[i] = state["motion"]
        self.steps[i] = state["steps"]
        self.prompts[i] = state["prompt"]
        self.frames[i] = state["frame"]
        self.scenarios[i] = state["scenario"]


def _torch_generator(np_random: np.random.Generator, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(int(np_random.integers(0, 2**62)))


class DrivingWorldEnv(gym.Env):
    """Drive in the learned world model: every observation is a generated camera frame.

    ## Description
    A trained worldsim world model (tokenizer + causal VideoDiT) generates the next camera frame
    from the past frames, the ego motion your action produces and a text prompt. Same spaces as
    ``worldsim/ProceduralDriving-v0``.

    ## Action Space
    ``Box(-1, 1, (2,), float32)``. ``steer_accel``: ``[steer, accel]`` through the kinematic
    bicycle model (steer > 0 turns left). ``speed_yaw_rate``: ego motion directly. Wrong shape or
    non-finite values raise ``ValueError``; out-of-range values are clipped and
    ``info["action_clipped"]`` records it.

    ## Observation Space
    ``obs_mode="rgb"``: ``Box(0, 255, (H, W, 3), uint8)`` at the checkpoint's resolution.
    ``obs_mode="dict"``: the image plus ``speed``, ``yaw_rate``, ``position``, ``heading``, ``step``.

    ## Rewards
    ``reward_fn`` (default ``"progress_comfort"``): distance travelled minus comfort penalties.

    ## Starting State
    The scenario's start: procedural conditions and seed (the ground-truth world renders the
    context frames), or a dataset episode and frame. ``reset(options={"prompt": ..., "scenario":
    ...})`` overrides the prompt or the scenario.

    ## Episode End
    ``terminated`` by ``termination_fn`` (default ``"never"``); ``truncated`` at the horizon.

    ## Arguments
    ``checkpoint``, ``scenario``, ``obs_mode``, ``action_mode``, ``sampling_steps``, ``guidance``
    (``{"text": s, "action": s}``), ``context_frames``, ``device``, ``dtype``, ``horizon``,
    ``reward_fn``, ``termination_fn``, ``render_mode="rgb_array"``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        checkpoint: str | None = None,
        scenario: str = "day_clear_straight",
        obs_mode: str = "rgb",
        action_mode: str = "steer_accel",
        sampling_steps: int | None = None,
        guidance: dict[str, float] | None = None,
        context_frames: int | None = None,
        device: str = "cpu",
        dtype: str = "float32",
        horizon: int | None = None,
        reward_fn: str | RewardFn = "progress_comfort",
        termination_fn: str | TerminationFn = "never",
        render_mode: str | None = None,
        model: WorldModel | None = None,
    ) -> None:
        check_mode("obs_mode", obs_mode, OBS_MODES)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r} is not supported; use 'rgb_array'")
        self.core = LearnedDriving(
            1,
            checkpoint,
            scenario,
            action_mode,
            sampling_steps,
            guidance,
            context_frames,
            device,
            dtype,
            horizon,
            reward_fn,
            termination_fn,
            model,
        )
        self.obs_mode = obs_mode
        self.render_mode = render_mode
        h, w = self.core.resolution
        self.observation_space = observation_space(h, w, obs_mode)
        self.action_space = action_space()
        self._generator: torch.Generator | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = sorted(set(options) - {"prompt", "scenario"})
        if unknown:
            raise ValueError(f"unknown reset option(s) {unknown}; allowed: prompt, scenario")
        self._generator = _torch_generator(self.np_random, self.core.model.device)
        self.core.reset(
            np.ones(1, dtype=bool),
            self._generator,
            prompts=[options.get("prompt")],
            scenarios=[options.get("scenario")],
        )
        info = self.core.info(0)
        info["action_clipped"] = False
        return self.core.observation(0, self.obs_mode), info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self._generator is None:
            raise RuntimeError("call reset() before step()")
        act, clipped = validate_action(action)
        rewards, terminated, truncated, _ = self.core.step(act[None], self._generator)
        info = self.core.info(0)
        info["action_clipped"] = clipped
        obs = self.core.observation(0, self.obs_mode)
        return obs, float(rewards[0]), bool(terminated[0]), bool(truncated[0]), info

    def render(self) -> np.ndarray | None:
        return self.core.frames[0].copy() if self.render_mode == "rgb_array" else None

    def set_prompt(self, prompt: str) -> None:
        """Switch the text condition from the next step on (an event mid-episode)."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"prompt must be a non-empty string, got {prompt!r:.80}")
        self.core.prompts[0] = prompt.strip()

    def get_state(self) -> dict[str, Any]:
        """A snapshot to branch the rollout from ("what if I brake here?")."""
        assert self._generator is not None, "call reset() before get_state()"
        return {"core": self.core.get_state(0), "generator": self._generator.get_state()}

    def set_state(self, state: dict[str, Any]) -> None:
        assert self._generator is not None, "call reset() before set_state()"
        self.core.set_state(0, state["core"])
        self._generator.set_state(state["generator"])


class DrivingWorldVectorEnv(gym.vector.VectorEnv):
    """N learned-world rollouts stepped together: one batched DiT forward pass per denoising
    step. Each env has its own scenario and prompt and resets on its own (next-step
    autoreset)."""

    metadata = {
        "render_modes": ["rgb_array"],
        "render_fps": 10,
        "autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP,
    }

    def __init__(
        self,
        num_envs: int = 1,
        checkpoint: str | None = None,
        scenario: str | Sequence[str] = "day_clear_straight",
        obs_mode: str = "rgb",
        action_mode: str = "steer_accel",
        sampling_steps: int | None = None,
        guidance: dict[str, float] | None = None,
        context_frames: int | None = None,
        device: str = "cpu",
        dtype: str = "float32",
        horizon: int | None = None,
        reward_fn: str | RewardFn = "progress_comfort",
        termination_fn: str | TerminationFn = "never",
        render_mode: str | None = None,
        model: WorldModel | None = None,
    ) -> None:
        check_mode("obs_mode", obs_mode, OBS_MODES)
        self.num_envs = int(num_envs)
        self.core = LearnedDriving(
            self.num_envs,
            checkpoint,
            scenario,
            action_mode,
            sampling_steps,
            guidance,
            context_frames,
            device,
            dtype,
            horizon,
            reward_fn,
            termination_fn,
            model,
        )
        self.obs_mode = obs_mode
        self.render_mode = render_mode
        h, w = self.core.resolution
        self.single_observation_space = observation_space(h, w, obs_mode)
        self.single_action_space = action_space()
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._generator: torch.Generator | None = None
        self._autoreset = np.zeros(self.num_envs, dtype=bool)

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        if isinstance(seed, list):
            seed = seed[0]
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = sorted(set(options) - {"prompt", "scenario", "reset_mask"})
        if unknown:
            raise ValueError(
                f"unknown reset option(s) {unknown}; allowed: prompt, scenario, reset_mask"
            )
        mask = np.asarray(options.get("reset_mask", np.ones(self.num_envs, bool)), dtype=bool)
        if self._generator is None or mask.all():
            self._generator = _torch_generator(self.np_random, self.core.model.device)
            mask = np.ones(self.num_envs, dtype=bool)
        n = int(mask.sum())
        self.core.reset(
            mask,
            self._generator,
            prompts=_per_env(options.get("prompt"), n),
            scenarios=_per_env(options.get("scenario"), n),
        )
        self._autoreset[mask] = False
        return self._observations(), self._infos(np.zeros(self.num_envs, bool))

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self._generator is None:
            raise RuntimeError("call reset() before step()")
        arr = as_float_array(actions, "actions")
        if arr.shape != (self.num_envs, 2):
            raise ValueError(f"actions must have shape ({self.num_envs}, 2), got {arr.shape}")
        clipped = np.zeros(self.num_envs, dtype=bool)
        checked = np.zeros_like(arr)
        for i in range(self.num_envs):
            checked[i], clipped[i] = validate_action(arr[i])
        resetting = self._autoreset.copy()
        stepping = ~resetting
        rewards = np.zeros(self.num_envs)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        if stepping.any():
            r, te, tr, _ = self.core.step(checked, self._generator, rows=stepping)
            rewards[stepping], terminated[stepping], truncated[stepping] = (
                r[stepping],
                te[stepping],
                tr[stepping],
            )
        if resetting.any():
            self.core.reset(resetting, self._generator)
        self._autoreset = terminated | truncated
        return self._observations(), rewards, terminated, truncated, self._infos(clipped)

    def render(self) -> np.ndarray | None:
        return self.core.frames.copy() if self.render_mode == "rgb_array" else None

    def get_state(self, index: int) -> dict[str, Any]:
        """Snapshot of env ``index``; ``set_state`` may load it into any env of the batch."""
        return self.core.get_state(index)

    def set_state(self, index: int, state: dict[str, Any]) -> None:
        self.core.set_state(index, state)
        self._autoreset[index] = False

    def _observations(self) -> Any:
        obs = [self.core.observation(i, self.obs_mode) for i in range(self.num_envs)]
        if self.obs_mode == "rgb":
            return np.stack(obs)
        return {k: np.stack([o[k] for o in obs]) for k in obs[0]}

    def _infos(self, clipped: np.ndarray) -> dict[str, Any]:
        infos = [self.core.info(i) for i in range(self.num_envs)]
        out: dict[str, Any] = {k: np.array([info[k] for info in infos]) for k in infos[0]}
        out["action_clipped"] = clipped.copy()
        return out


def _per_env(value: Any, n: int) -> list[Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value] * n
    values = list(value)
    if len(values) != n:
        raise ValueError(f"got {len(values)} values for {n} resetting envs")
    return values
