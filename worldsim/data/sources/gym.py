"""Record any Gymnasium env with image frames into the episode store.

Frames come from ``env.render()`` with ``render_mode="rgb_array"`` (``frame="render"``) or from
the observation itself when it is an ``(H, W, 3)`` uint8 image (``frame="observation"``; the env
is then made without a render mode). ``resolution=[H, W]`` scales each frame to cover H x W and
centre-crops it (:func:`worldsim.utils.image.cover_and_crop`); ``None`` keeps the native size,
cropped by a pixel where needed to even sizes for yuv420p video.

An episode starts with the frame after ``reset`` (frame 0); every recorded step repeats the
chosen action ``action_repeat`` times (summing the rewards, stopping at once when the env
terminates or truncates) and appends the frame after it, up to ``frames`` frames. An episode
that ends early is kept whole, final frame included. Per frame ``t``:

- ``actions[t]`` is the raw action taken at frame ``t``; the last row has no step after it and
  repeats the last action taken (filler). The space is written to the manifest
  (``action_space``, described by :mod:`worldsim.data.action_codec`);
- ``ego_state[t]`` is ``[step, reward, terminated, truncated]``: the step index ``t``, the
  (summed) reward received on arriving at frame ``t`` (0 for frame 0), and whether that
  transition terminated / truncated (0 or 1);
- ``ego_motion[t]`` is ``info["speed"]``, ``info["yaw_rate"]`` of the step taken at frame ``t``
  when the env reports them (as ``worldsim/ProceduralDriving-v0`` does), else zero, and a world
  model is conditioned on the actions instead (``data.condition=actions``); the last row repeats
  the one before it.

The episode's ``extra["end"]`` (also listed per episode in the manifest) is ``"terminated"``,
``"truncated"`` or ``"frames"`` (the frame limit was reached). ``dt`` defaults to
``action_repeat / env.metadata["render_fps"]``.

Policies: ``random`` samples the action space (seeded per episode), and ``module:callable`` is
called as ``policy(observation, info) -> action``, where ``info`` is the env's latest info plus
``info["action_space"]`` and ``info["step"]`` (the frame index ``t``, in place of any ``step``
the env reports). If the loaded object is a class, a fresh instance (made with no arguments) is
the policy of each episode; a policy with a ``reset(seed)`` method gets it called at the start
of each episode with the episode's seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from worldsim.data.action_codec import action_dim, encode_actions, space_to_dict
from worldsim.data.episode import Episode
from worldsim.utils.image import cover_and_crop
from worldsim.utils.loading import Policy, load_callable

# The action codec lives in worldsim.data.action_codec; these names stay importable from here.
__all__ = ["EGO_STATE_FIELDS", "GymSource", "action_dim", "encode_actions", "space_to_dict"]

EGO_STATE_FIELDS: tuple[str, ...] = ("step", "reward", "terminated", "truncated")
FRAME_MODES: tuple[str, ...] = ("render", "observation")


def _load_policy(spec: str) -> Any:
    """``None`` for ``random`` (the action space's own sampler), else the loaded object."""
    return None if spec == "random" else load_callable(spec, "source.policy")


def _episode_policy(loaded: Any, spec: str, seed: int) -> Policy | None:
    """The policy of one episode: a fresh instance of a class, reset with the episode's seed."""
    if loaded is None:
        return None
    policy = loaded() if isinstance(loaded, type) else loaded
    if not callable(policy):
        raise ValueError(
            f"source.policy={spec!r} is a class whose instances are not callable; "
            "give it a __call__(observation, info) method"
        )
    reset = getattr(policy, "reset", None)
    if callable(reset):
        reset(seed)
    return policy


def _check_resolution(resolution: Any) -> list[int] | None:
    """``[H, W]`` as positive even ints, or ``None``; else a ValueError naming the setting."""
    if resolution is None:
        return None
    values = list(resolution) if isinstance(resolution, (list, tuple)) else [resolution]
    if len(values) != 2 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 and v % 2 == 0
        for v in values
    ):
        raise ValueError(
            f"source.resolution={resolution!r} must be [H, W] with positive even integers "
            "(the store writes yuv420p H.264), e.g. source.resolution=[64,64], or null for "
            "the native size"
        )
    return [int(v) for v in values]


def _is_image_space(space: Any) -> bool:
    """Whether ``space`` is a uint8 Box of shape ``(H, W, 3)``."""
    from gymnasium import spaces

    return (
        isinstance(space, spaces.Box)
        and space.dtype == np.uint8
        and len(space.shape) == 3
        and space.shape[-1] == 3
    )


@dataclass
class GymSource:
    """``episodes`` episodes of ``env_id`` of at most ``frames`` frames each."""

    env_id: str
    episodes: int = 8
    frames: int = 100
    policy: str = "random"  # random | module:callable, called as policy(observation, info)
    caption: str = ""
    seed: int = 0
    dt: float | None = None  # None: action_repeat / env.metadata["render_fps"]
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    resolution: list[int] | None = None  # [H, W], both even; None: native size cropped to even
    frame: str = "render"  # render | observation
    action_repeat: int = 1
    warmup_steps: int = 0  # env steps driven by the policy before frame 0 (e.g. intro animations)
    name: str = "gym"

    def __post_init__(self) -> None:
        if self.episodes < 1 or self.frames < 2:
            raise ValueError(
                f"episodes={self.episodes} and frames={self.frames} must be >= 1 and >= 2"
            )
        if self.frame not in FRAME_MODES:
            raise ValueError(
                f"source.frame={self.frame!r} is not allowed; choose one of {list(FRAME_MODES)}"
            )
        repeat = self.action_repeat
        if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
            raise ValueError(f"source.action_repeat={repeat!r} must be an integer >= 1")
        warmup = self.warmup_steps
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            raise ValueError(f"source.warmup_steps={warmup!r} must be an integer >= 0")
        self.resolution = _check_resolution(self.resolution)
        self.env_kwargs = dict(self.env_kwargs)
        _load_policy(self.policy)
        if self.dt is None:
            env = self._make()
            try:
                self.dt = self._default_dt(env)
            finally:
                env.close()
        elif (
            isinstance(self.dt, bool)
            or not isinstance(self.dt, (int, float))
            or not math.isfinite(self.dt)
            or self.dt <= 0
        ):
            raise ValueError(f"source.dt={self.dt!r} must be seconds > 0, or null")
        self.dt = float(self.dt)

    def keys(self) -> list[str]:
        """``<name>-<index>`` for every episode; episode ``i`` is reset with ``seed + i``."""
        return [f"{self.name}-{i:06d}" for i in range(self.episodes)]

    def _default_dt(self, env: Any) -> float:
        """``action_repeat / render_fps`` from the env's metadata."""
        fps = (getattr(env, "metadata", None) or {}).get("render_fps")
        if not fps or not math.isfinite(float(fps)) or float(fps) <= 0:
            raise ValueError(
                f"source.env_id={self.env_id!r} declares no metadata['render_fps'], so the "
                "time step is unknown; set source.dt (seconds per recorded step)"
            )
        return self.action_repeat / float(fps)

    def _make(self) -> Any:
        """The env, with ``render_mode="rgb_array"`` for ``frame="render"``, checked."""
        import gymnasium as gym

        import worldsim  # noqa: F401 - registers worldsim's ids

        kwargs = dict(self.env_kwargs)
        if self.frame == "render":
            kwargs = {"render_mode": "rgb_array", **kwargs}
        try:
            env = gym.make(self.env_id, **kwargs)
        except gym.error.Error as exc:
            raise ValueError(f"source.env_id={self.env_id!r} cannot be made: {exc}") from exc
        if self.frame == "observation" and not _is_image_space(env.observation_space):
            env.close()
            raise ValueError(
                f"source.frame='observation' needs image observations (a uint8 Box of shape "
                f"(H, W, 3)), but {self.env_id!r} observes {env.observation_space}; use "
                "source.frame=render"
            )
        return env

    def load(self, key: str) -> Episode:
        """Record the episode ``key`` (deterministic for a key and the settings)."""
        index = int(key.rsplit("-", 1)[-1])
        seed = self.seed + index
        env = self._make()
        try:
            space = space_to_dict(env.action_space)
            policy = _episode_policy(_load_policy(self.policy), self.policy, seed)
            obs, info = env.reset(seed=seed)
            env.action_space.seed(seed)
            obs, info = self._warm_up(env, policy, obs, info, key)
            frames = [self._frame(env, obs)]
            actions: list[np.ndarray] = []
            motion: list[list[float]] = []
            state = [[0.0, 0.0, 0.0, 0.0]]
            end = "frames"
            for step in range(1, self.frames):
                if policy is None:
                    action = env.action_space.sample()
                else:
                    action = policy(
                        obs, {**info, "action_space": env.action_space, "step": step - 1}
                    )
                reward, terminated, truncated = 0.0, False, False
                for _ in range(self.action_repeat):
                    obs, r, terminated, truncated, info = env.step(action)
                    reward += float(r)
                    if terminated or truncated:
                        break
                actions.append(np.asarray(action, dtype=np.float32).reshape(-1))
                motion.append([float(info.get("speed", 0.0)), float(info.get("yaw_rate", 0.0))])
                frames.append(self._frame(env, obs))
                state.append([float(step), reward, float(terminated), float(truncated)])
                if terminated or truncated:
                    end = "terminated" if terminated else "truncated"
                    break
        finally:
            env.close()
        actions.append(actions[-1])  # filler: no step follows the last frame
        motion.append(motion[-1])
        return Episode(
            key=key,
            frames_THWC=np.ascontiguousarray(np.stack(frames)),
            ego_motion_T2=np.asarray(motion, dtype=np.float32),
            ego_state_TK=np.asarray(state, dtype=np.float32),
            ego_state_fields=EGO_STATE_FIELDS,
            caption=self.caption,
            source=self.name,
            dt=float(self.dt),
            conditions={"env_id": self.env_id},
            actions_TA=np.stack(actions),
            extra={"action_space": space, "policy": self.policy, "end": end},
        )

    def _warm_up(self, env: Any, policy: Policy | None, obs: Any, info: Any, key: str) -> Any:
        """Drive ``warmup_steps`` env steps with the policy before recording; the last
        observation and info."""
        for step in range(self.warmup_steps):
            if policy is None:
                action = env.action_space.sample()
            else:
                action = policy(obs, {**info, "action_space": env.action_space, "step": -1})
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                raise ValueError(
                    f"episode {key!r} of {self.env_id} ended during warm-up (env step {step}); "
                    f"use a smaller source.warmup_steps than {self.warmup_steps}"
                )
        return obs, info

    def _frame(self, env: Any, obs: Any) -> np.ndarray:
        """The frame for the env's current state, resized or cropped to even sizes."""
        if self.frame == "observation":
            image = np.asarray(obs)
        else:
            image = env.render()
            if image is None:
                raise ValueError(
                    f"{self.env_id!r} gives no image from render() with render_mode="
                    "'rgb_array'; if its observations are images, use source.frame=observation"
                )
            image = np.asarray(image)
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(
                f"{self.env_id!r} gives frames of shape {image.shape}, expected (H, W, 3)"
            )
        image = np.ascontiguousarray(image, dtype=np.uint8)
        if self.resolution is not None:
            return cover_and_crop(image, *self.resolution)[0]
        h, w = image.shape[:2]
        return image[: h - h % 2, : w - w % 2]
