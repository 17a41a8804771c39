"""``LearnedVectorEnv``: N rollouts of a learned copy as one native Gymnasium vector env."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector.utils import batch_space

from worldsim.env.autoreset import step_with_autoreset, vector_metadata
from worldsim.env.learned.core import torch_generator
from worldsim.env.learned_copy.core import RENDER_MODES, LearnedCopy
from worldsim.env.learned_copy.options import LearnedCopyOptions
from worldsim.env.learned_copy.single_env import check_render_mode, frame_space
from worldsim.models.env_heads import EnvHeads
from worldsim.runtime.world_model import WorldModel


class LearnedVectorEnv(gym.vector.VectorEnv):
    """N learned-copy rollouts stepped together, one batched DiT pass per denoising step; each
    env resets on its own (next-step autoreset). Takes ``num_envs`` and the keyword arguments
    of ``LearnedEnv``."""

    metadata = vector_metadata(RENDER_MODES)

    def __init__(
        self,
        num_envs: int = 1,
        render_mode: str | None = None,
        model: WorldModel | None = None,
        heads: EnvHeads | None = None,
        **options: Any,
    ) -> None:
        check_render_mode(render_mode)
        if int(num_envs) < 1:
            raise ValueError(f"num_envs={num_envs} must be at least 1")
        self.num_envs = int(num_envs)
        opts = LearnedCopyOptions.from_keywords("LearnedVectorEnv", options)
        self.core = LearnedCopy(self.num_envs, opts, model, heads)
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": 1.0 / self.core.model.dt}
        self.single_action_space = self.core.action_space
        self.single_observation_space = frame_space(self.core)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self._generator: torch.Generator | None = None
        self._autoreset = np.zeros(self.num_envs, dtype=bool)

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every env, or those of ``options["reset_mask"]``."""
        if isinstance(seed, list):
            seed = seed[0]
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = sorted(set(options) - {"reset_mask"})
        if unknown:
            raise ValueError(f"unknown reset option(s) {unknown}; allowed: reset_mask")
        mask = np.asarray(options.get("reset_mask", np.ones(self.num_envs, bool)), dtype=bool)
        if mask.shape != (self.num_envs,):
            raise ValueError(f"reset_mask must have shape ({self.num_envs},), got {mask.shape}")
        if self._generator is None or mask.all():
            self._generator = torch_generator(self.np_random, self.core.model.device)
            mask = np.ones(self.num_envs, dtype=bool)
        self.core.reset(mask, self.np_random, self._generator)
        self._autoreset[mask] = False
        return self.core.frames.copy(), self._infos()

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every env; an env that ended on the last step resets instead."""
        if self._generator is None:
            raise RuntimeError("call reset() before step()")
        encoded = self.core.encode(actions)
        rewards, terminated, truncated = step_with_autoreset(
            self._autoreset,
            lambda rows: self.core.step(encoded, self._generator, rows),
            lambda rows: self.core.reset(rows, self.np_random, self._generator),
        )
        self._autoreset = terminated | truncated
        return self.core.frames.copy(), rewards, terminated, truncated, self._infos()

    def render(self) -> np.ndarray | None:
        """The last frame of every env with ``render_mode="rgb_array"``."""
        return self.core.frames.copy() if self.render_mode == "rgb_array" else None

    def _infos(self) -> dict[str, Any]:
        infos = [self.core.info(i) for i in range(self.num_envs)]
        return {k: np.array([info[k] for info in infos]) for k in infos[0]}
