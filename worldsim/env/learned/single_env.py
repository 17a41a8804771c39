"""``DrivingWorldEnv``: one rollout of the learned world model as a Gymnasium env."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from worldsim.env.learned.core import RENDER_MODES, build_core, reset_options, torch_generator
from worldsim.env.spaces import action_space, observation_space, validate_action
from worldsim.runtime.world_model import WorldModel


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
    ``reward_fn`` (default ``"progress_lane_comfort"``): the same function as
    ``worldsim/ProceduralDriving-v0``'s (progress along the lane, lane keeping, comfort), computed
    from the signals the driving heads predict from the generated frames (lane offset, heading
    error, off-road, collision, lead gap). ``info`` carries them: ``lane_offset``,
    ``heading_error``, ``offroad_prob``, ``collision_prob``, ``lead_prob``, ``lead_gap``.

    ## Starting State
    The scenario's start: procedural conditions and seed (the ground-truth world renders the
    context frames), or a dataset episode and frame. ``reset(options={"prompt": ..., "scenario":
    ...})`` overrides the prompt or the scenario.

    ## Episode End
    ``terminated`` by ``termination_fn`` (default ``"collision_or_offroad"``: predicted
    ``P(off-road)`` or ``P(collision)`` above ``termination_threshold``, 0.5); ``truncated`` at
    the horizon.

    ## Arguments
    ``checkpoint``, ``scenario``, ``obs_mode``, ``action_mode``, ``sampling_preset`` (``"fast"``:
    one deterministic step; ``"stochastic"``: 4 steps from full noise), ``sampling_steps``, ``guidance``
    (``{"text": s, "action": s}``), ``context_frames``, ``device``, ``dtype``, ``horizon``,
    ``reward_fn``, ``termination_fn``, ``driving_heads`` (a heads checkpoint or bundle; None:
    the ones shipped with the model; ``"none"``: no heads), ``termination_threshold`` (the fields of :class:`LearnedWorldOptions`, their one
    declaration; any other keyword is a ``TypeError`` naming it), ``render_mode="rgb_array"``,
    and ``model``: an already-loaded ``WorldModel`` whose networks the env shares (then
    ``checkpoint``, ``device`` and ``dtype`` are not used); without it the env loads
    ``checkpoint`` afresh.
    """

    metadata = {"render_modes": list(RENDER_MODES), "render_fps": 10}

    def __init__(
        self, render_mode: str | None = None, model: WorldModel | None = None, **options: Any
    ) -> None:
        self.core = build_core("DrivingWorldEnv", 1, render_mode, model, options)
        self.obs_mode = self.core.options.obs_mode
        self.render_mode = render_mode
        h, w = self.core.resolution
        self.observation_space = observation_space(h, w, self.obs_mode)
        self.action_space = action_space()
        self._generator: torch.Generator | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Start an episode; ``options`` may hold ``prompt`` and ``scenario`` overrides."""
        super().reset(seed=seed)
        options = reset_options(options, ("prompt", "scenario"))
        self._generator = torch_generator(self.np_random, self.core.model.device)
        self.core.reset(
            np.ones(1, dtype=bool),
            self._generator,
            prompts=[options.get("prompt")],
            scenarios=[options.get("scenario")],
        )
        info = self.core.info(0)
        info["action_clipped"] = False
        return self.core.observation(0), info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Generate the next frame from ``action``."""
        if self._generator is None:
            raise RuntimeError("call reset() before step()")
        act, clipped = validate_action(action)
        rewards, terminated, truncated, _ = self.core.step(act[None], self._generator)
        info = self.core.info(0)
        info["action_clipped"] = clipped
        obs = self.core.observation(0)
        return obs, float(rewards[0]), bool(terminated[0]), bool(truncated[0]), info

    def render(self) -> np.ndarray | None:
        """The last generated frame with ``render_mode="rgb_array"``."""
        return self.core.frames[0].copy() if self.render_mode == "rgb_array" else None

    def set_prompt(self, prompt: str) -> None:
        """Switch the text condition from the next step on (an event mid-episode)."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"prompt must be a non-empty string, got {prompt!r:.80}")
        self.core.set_prompt(0, prompt.strip())

    def get_state(self) -> dict[str, Any]:
        """A snapshot to branch the rollout from ("what if I brake here?")."""
        assert self._generator is not None, "call reset() before get_state()"
        return {"core": self.core.get_state(0), "generator": self._generator.get_state()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`get_state` snapshot."""
        assert self._generator is not None, "call reset() before set_state()"
        self.core.set_state(0, state["core"])
        self._generator.set_state(state["generator"])
