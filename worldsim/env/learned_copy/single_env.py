"""``LearnedEnv``: the learned copy of a recorded Gymnasium env as a Gymnasium env."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from worldsim.env.learned.core import torch_generator
from worldsim.env.learned_copy.core import RENDER_MODES, LearnedCopy
from worldsim.env.learned_copy.options import LearnedCopyOptions
from worldsim.models.env_heads import EnvHeads
from worldsim.runtime.world_model import WorldModel


def check_render_mode(render_mode: str | None) -> None:
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise ValueError(f"render_mode={render_mode!r} is not supported; use 'rgb_array'")


def frame_space(core: LearnedCopy) -> gym.spaces.Box:
    """``Box(0, 255, (H, W, 3), uint8)``: the recorded frame."""
    return gym.spaces.Box(0, 255, shape=(*core.resolution, 3), dtype=np.uint8)


class LearnedEnv(gym.Env):
    """A world model trained on a recorded env (``worldsim-train experiment=world_model_gym``),
    served with the recorded env's own action space.

    ## Action Space
    The recorded one: ``Box`` with its bounds (values outside are clipped, non-finite ones
    raise) or ``Discrete``. Actions are encoded with the store's codec before they condition
    the model.

    ## Observation Space
    ``Box(0, 255, (H, W, 3), uint8)``: the recorded frame at the store's resolution.

    ## Rewards and Episode End
    From the heads trained beside the model on the recorded ``reward`` and ``terminated``:
    ``reward_fn="heads"`` (the predicted reward) and ``termination_fn="heads"`` (predicted
    probability above ``termination_threshold``, 0.5). Both take a callable of
    :class:`~worldsim.env.learned_copy.outcome.Outcome`. ``info`` carries
    ``predicted_reward`` and ``terminated_prob``. Truncated after ``horizon`` steps.

    ## Starting State
    Real frames: the real env reset with a seed drawn from the env's ``np_random`` when it can
    be made here (``start="auto"`` or ``"env"``), else held-out episodes of the store
    (``start="store"``). ``info["start"]`` says which.

    ## Arguments
    The fields of :class:`LearnedCopyOptions` (``checkpoint`` first), ``render_mode`` and the
    already-loaded ``model``/``heads`` to share.
    """

    metadata = {"render_modes": list(RENDER_MODES), "render_fps": 10}

    def __init__(
        self,
        render_mode: str | None = None,
        model: WorldModel | None = None,
        heads: EnvHeads | None = None,
        **options: Any,
    ) -> None:
        check_render_mode(render_mode)
        opts = LearnedCopyOptions.from_keywords("LearnedEnv", options)
        self.core = LearnedCopy(1, opts, model, heads)
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": 1.0 / self.core.model.dt}
        self.action_space = self.core.action_space
        self.observation_space = frame_space(self.core)
        self._generator: torch.Generator | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start from a real context (no options are taken)."""
        super().reset(seed=seed)
        if options:
            raise ValueError(f"LearnedEnv.reset takes no options, got {sorted(options)}")
        self._generator = torch_generator(self.np_random, self.core.model.device)
        self.core.reset(np.ones(1, dtype=bool), self.np_random, self._generator)
        return self.core.frames[0].copy(), self.core.info(0)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Generate the next frame from ``action``."""
        if self._generator is None:
            raise RuntimeError("call reset() before step()")
        encoded = self.core.encode(np.asarray(action)[None])
        rows = np.ones(1, dtype=bool)
        rewards, terminated, truncated = self.core.step(encoded, self._generator, rows)
        info = self.core.info(0)
        return (
            self.core.frames[0].copy(),
            float(rewards[0]),
            bool(terminated[0]),
            bool(truncated[0]),
            info,
        )

    def render(self) -> np.ndarray | None:
        """The last frame with ``render_mode="rgb_array"``."""
        return self.core.frames[0].copy() if self.render_mode == "rgb_array" else None
