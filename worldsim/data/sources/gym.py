"""Record any Gymnasium env with image frames into the episode store.

Frames come from ``env.render()`` (``render_mode="rgb_array"``) or, for envs whose observation
is an image, from the observation. Raw actions are stored as given, with their space written to
the manifest (``action_space``, described by :mod:`worldsim.data.action_codec`); when the env's
``info`` carries ``speed`` and ``yaw_rate`` (as ``worldsim/ProceduralDriving-v0`` does) they are
recorded as ego motion, otherwise ego motion is zero and a world model is conditioned on the
actions instead (``data.condition=actions``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from worldsim.data.action_codec import action_dim, encode_actions, space_to_dict
from worldsim.data.episode import Episode
from worldsim.utils.loading import Policy, load_callable

# The action codec lives in worldsim.data.action_codec; these names stay importable from here.
__all__ = ["EGO_STATE_FIELDS", "GymSource", "action_dim", "encode_actions", "space_to_dict"]

EGO_STATE_FIELDS: tuple[str, ...] = ("step", "reward", "terminated")


def _policy(spec: str) -> Policy | None:
    """``None`` for ``random`` (the action space's own sampler), else the loaded callable."""
    return None if spec == "random" else load_callable(spec, "source.policy")


@dataclass
class GymSource:
    """``episodes`` episodes of ``env_id`` of at most ``frames`` frames each."""

    env_id: str
    episodes: int = 8
    frames: int = 100
    policy: str = "random"  # random | module:callable, called as policy(observation, info)
    caption: str = ""
    seed: int = 0
    dt: float = 0.1
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    name: str = "gym"

    def __post_init__(self) -> None:
        if self.episodes < 1 or self.frames < 2:
            raise ValueError(
                f"episodes={self.episodes} and frames={self.frames} must be >= 1 and >= 2"
            )
        _policy(self.policy)

    def keys(self) -> list[str]:
        return [f"{self.name}-{i:06d}" for i in range(self.episodes)]

    def _make(self) -> Any:
        import gymnasium as gym

        import worldsim  # noqa: F401 - registers worldsim's ids

        try:
            return gym.make(self.env_id, render_mode="rgb_array", **self.env_kwargs)
        except gym.error.Error as exc:
            raise ValueError(f"source.env_id={self.env_id!r} cannot be made: {exc}") from exc

    def load(self, key: str) -> Episode:
        index = int(key.rsplit("-", 1)[-1])
        env = self._make()
        space = space_to_dict(env.action_space)
        policy = _policy(self.policy)
        obs, info = env.reset(seed=self.seed + index)
        env.action_space.seed(self.seed + index)
        frames, actions, motion, state = [], [], [], []
        for step in range(self.frames):
            frames.append(self._frame(env, obs))
            if policy is None:
                action = env.action_space.sample()
            else:
                action = policy(obs, {**info, "action_space": env.action_space})
            obs, reward, terminated, truncated, info = env.step(action)
            actions.append(np.asarray(action, dtype=np.float32).reshape(-1))
            motion.append([float(info.get("speed", 0.0)), float(info.get("yaw_rate", 0.0))])
            state.append([step, float(reward), float(terminated)])
            if terminated or truncated:
                break
        env.close()
        images = np.stack(frames)
        h, w = images.shape[1:3]
        images = images[:, : h - h % 2, : w - w % 2]  # even sizes for yuv420p video
        return Episode(
            key=key,
            frames_THWC=np.ascontiguousarray(images),
            ego_motion_T2=np.asarray(motion, dtype=np.float32),
            ego_state_TK=np.asarray(state, dtype=np.float32),
            ego_state_fields=EGO_STATE_FIELDS,
            caption=self.caption,
            source=self.name,
            dt=self.dt,
            conditions={"env_id": self.env_id},
            actions_TA=np.stack(actions),
            extra={"action_space": space, "policy": self.policy},
        )

    @staticmethod
    def _frame(env: Any, obs: Any) -> np.ndarray:
        frame = env.render()
        if frame is None and isinstance(obs, np.ndarray) and obs.ndim == 3 and obs.shape[-1] == 3:
            frame = obs
        if frame is None:
            raise ValueError(
                "the env gives no image: it needs render_mode='rgb_array' or image observations"
            )
        return np.asarray(frame, dtype=np.uint8)
