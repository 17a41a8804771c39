"""A Gymnasium wrapper that records every episode to an H.264 mp4 with PyAV (no moviepy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from worldsim.data.video import write_video


class VideoRecorder(gym.Wrapper):
    """Records ``env.render()`` (``render_mode="rgb_array"``) after reset and every step, and
    writes ``<folder>/<prefix>-episode-<n>.mp4`` when an episode ends or the env closes.

    Frames of odd size are padded by one pixel so they can be stored as yuv420p.
    """

    def __init__(
        self,
        env: gym.Env,
        folder: str | Path,
        prefix: str = "rollout",
        fps: float | None = None,
        every: int = 1,
    ) -> None:
        super().__init__(env)
        if env.render_mode != "rgb_array":
            raise ValueError(
                f"VideoRecorder needs render_mode='rgb_array', the env has {env.render_mode!r}; "
                "create it with gym.make(..., render_mode='rgb_array')"
            )
        if every < 1:
            raise ValueError(f"every={every} must be at least 1")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.prefix = prefix
        self.fps = fps or float(env.metadata.get("render_fps", 10))
        self.every = every
        self.episode = -1
        self.paths: list[Path] = []
        self._frames: list[np.ndarray] = []

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        self._flush()
        obs, info = self.env.reset(**kwargs)
        self.episode += 1
        self._capture()
        return obs, info

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._capture()
        if terminated or truncated:
            self._flush()
        return obs, reward, terminated, truncated, info

    def close(self) -> None:
        self._flush()
        super().close()

    def _capture(self) -> None:
        if self.episode % self.every:
            return
        frame = self.env.render()
        if frame is not None:
            self._frames.append(np.asarray(frame, dtype=np.uint8))

    def _flush(self) -> None:
        if not self._frames:
            return
        frames = np.stack(self._frames)
        self._frames = []
        h, w = frames.shape[1:3]
        frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        path = self.folder / f"{self.prefix}-episode-{self.episode}.mp4"
        write_video(path, frames, fps=self.fps)
        self.paths.append(path)
