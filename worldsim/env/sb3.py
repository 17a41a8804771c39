"""Stable-Baselines3 on a native worldsim vector env: ``SB3VecEnv`` adapts a Gymnasium vector
env with next-step autoreset (``worldsim/DrivingWorld-v0``'s ``make_vec``) to SB3's ``VecEnv``,
so one batched world-model pass per denoising step serves all of PPO's envs.

SB3 resets an env in the step that ends it and hands the final observation back in
``info["terminal_observation"]``; the adapter does exactly that with a masked ``reset`` of the
ended rows, so the vector env's own next-step autoreset never fires. Needs
``stable-baselines3`` (the ``rl`` extra).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

# Options for the rows that reset, by their indices: e.g. a fresh scenario for each.
ResetOptions = Callable[[np.ndarray], dict[str, Any]]


class SB3VecEnv(VecEnv):
    """``env`` (a Gymnasium ``VectorEnv``) as an SB3 ``VecEnv``; ``reset_options(rows)`` gives
    the options of each reset (``reset_mask`` is added)."""

    def __init__(self, env: gym.vector.VectorEnv, reset_options: ResetOptions | None = None):
        self.env = env
        self.reset_options = reset_options
        self._actions: np.ndarray | None = None
        super().__init__(env.num_envs, env.single_observation_space, env.single_action_space)

    # -- the VecEnv protocol --------------------------------------------------------------
    def reset(self) -> Any:
        seed = self._seeds[0]
        rows = np.arange(self.num_envs)
        options = self.reset_options(rows) if self.reset_options else {}
        obs, info = self.env.reset(seed=seed, options=options or None)
        self._seeds = [None] * self.num_envs
        self.reset_infos = _split_infos(info, self.num_envs)
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> tuple[Any, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        if self._actions is None:
            raise RuntimeError("step_async must come before step_wait")
        obs, rewards, terminated, truncated, info = self.env.step(self._actions)
        self._actions = None
        dones = np.asarray(terminated | truncated, dtype=bool)
        infos = _split_infos(info, self.num_envs)
        for i in np.flatnonzero(dones):
            infos[i]["terminal_observation"] = _row(obs, i)
            infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
        if dones.any():
            rows = np.flatnonzero(dones)
            options = self.reset_options(rows) if self.reset_options else {}
            reset_obs, reset_info = self.env.reset(options={**options, "reset_mask": dones})
            obs = _replace_rows(obs, reset_obs, dones)
            for i, row_info in enumerate(_split_infos(reset_info, self.num_envs)):
                if dones[i]:
                    self.reset_infos[i] = row_info
        return obs, np.asarray(rewards, dtype=np.float32), dones, infos

    def close(self) -> None:
        self.env.close()

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        value = getattr(self.env, attr_name)
        return [value for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self.env, attr_name, value)

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list:
        result = getattr(self.env, method_name)(*args, **kwargs)
        return [result for _ in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False for _ in self._indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        frames = self.env.render()
        return [None] * self.num_envs if frames is None else list(frames)

    def _indices(self, indices: Any) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        if isinstance(indices, int):
            return [indices]
        return list(indices)


Obs = np.ndarray | dict[str, np.ndarray]  # (N, ...) arrays, one per key of a Dict space


def _row(obs: Obs, i: int) -> Any:
    """Row ``i`` of a batched observation (an array, or a dict of arrays), copied."""
    if isinstance(obs, dict):
        return {key: np.array(value[i], copy=True) for key, value in obs.items()}
    return np.array(obs[i], copy=True)


def _replace_rows(obs: Obs, new: Obs, mask_N: np.ndarray) -> Obs:
    """``obs`` with the rows where ``mask_N`` is set taken from ``new`` (a fresh copy)."""
    if isinstance(obs, dict):
        return {key: _replace_rows(value, new[key], mask_N) for key, value in obs.items()}
    out = np.array(obs, copy=True)
    out[mask_N] = new[mask_N]
    return out


def _split_infos(info: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """A vector env's dict of arrays as one dict per env (``_key`` masks left out)."""
    out: list[dict[str, Any]] = [{} for _ in range(n)]
    for key, value in info.items():
        if key.startswith("_"):
            continue
        arr = np.asarray(value)
        if arr.ndim >= 1 and arr.shape[0] == n:
            for i in range(n):
                out[i][key] = arr[i].item() if arr[i].ndim == 0 else arr[i]
        else:
            for i in range(n):
                out[i][key] = value
    return out
