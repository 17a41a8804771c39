"""``DrivingWorldVectorEnv``: N learned-world rollouts as one native Gymnasium vector env."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector.utils import batch_space

from worldsim.env.autoreset import step_with_autoreset, vector_metadata
from worldsim.env.learned.core import RENDER_MODES, build_core, reset_options, torch_generator
from worldsim.env.spaces import action_space, as_float_array, observation_space, validate_actions
from worldsim.runtime.world_model import WorldModel


class DrivingWorldVectorEnv(gym.vector.VectorEnv):
    """N learned-world rollouts stepped together: one batched DiT forward pass per denoising
    step. Each env has its own scenario and prompt and resets on its own (next-step
    autoreset). Takes ``num_envs`` and the keyword arguments of ``DrivingWorldEnv``, checked the
    same way (``scenario`` may list one per env)."""

    metadata = vector_metadata(RENDER_MODES)

    def __init__(
        self,
        num_envs: int = 1,
        render_mode: str | None = None,
        model: WorldModel | None = None,
        **options: Any,
    ) -> None:
        self.num_envs = int(num_envs)
        self.core = build_core("DrivingWorldVectorEnv", self.num_envs, render_mode, model, options)
        self.obs_mode = self.core.options.obs_mode
        self.render_mode = render_mode
        h, w = self.core.resolution
        self.single_observation_space = observation_space(h, w, self.obs_mode)
        self.single_action_space = action_space()
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._generator: torch.Generator | None = None
        self._autoreset = np.zeros(self.num_envs, dtype=bool)

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Reset every env, or the envs of ``options["reset_mask"]``; ``prompt`` and
        ``scenario`` options take one value or one per resetting env."""
        if isinstance(seed, list):
            seed = seed[0]
        super().reset(seed=seed)
        options = reset_options(options, ("prompt", "scenario", "reset_mask"))
        mask = np.asarray(options.get("reset_mask", np.ones(self.num_envs, bool)), dtype=bool)
        if self._generator is None or mask.all():
            self._generator = torch_generator(self.np_random, self.core.model.device)
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
        """Step every env; an env that ended on the last step resets instead."""
        if self._generator is None:
            raise RuntimeError("call reset() before step()")
        arr = as_float_array(actions, "actions")
        if arr.shape != (self.num_envs, 2):
            raise ValueError(f"actions must have shape ({self.num_envs}, 2), got {arr.shape}")
        checked, clipped = validate_actions(arr)
        rewards, terminated, truncated = step_with_autoreset(
            self._autoreset,
            lambda rows: self.core.step(checked, self._generator, rows=rows)[:3],
            lambda rows: self.core.reset(rows, self._generator),
        )
        self._autoreset = terminated | truncated
        return self._observations(), rewards, terminated, truncated, self._infos(clipped)

    def render(self) -> np.ndarray | None:
        """The last frame of every env with ``render_mode="rgb_array"``."""
        return self.core.frames.copy() if self.render_mode == "rgb_array" else None

    def get_state(self, index: int) -> dict[str, Any]:
        """Snapshot of env ``index``; ``set_state`` may load it into any env of the batch."""
        return self.core.get_state(index)

    def set_state(self, index: int, state: dict[str, Any]) -> None:
        """Load a :meth:`get_state` snapshot into env ``index``."""
        self.core.set_state(index, state)
        self._autoreset[index] = False

    def _observations(self) -> Any:
        if self.obs_mode == "rgb":
            return self.core.frames.copy()
        obs = [self.core.observation(i) for i in range(self.num_envs)]
        return {k: np.stack([o[k] for o in obs]) for k in obs[0]}

    def _infos(self, clipped: np.ndarray) -> dict[str, Any]:
        out: dict[str, Any] = self.core.infos()
        out["action_clipped"] = clipped.copy()
        return out


def _per_env(value: Any, n: int) -> list[Any] | None:
    """One value per resetting env from one value or a sequence of ``n``."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value] * n
    values = list(value)
    if len(values) != n:
        raise ValueError(f"got {len(values)} values for {n} resetting envs")
    return values
