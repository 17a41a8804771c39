"""A small deterministic driving-like source shared by the data tests."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from worldsim.data.episode import Episode

STATE_FIELDS = ("x", "y", "heading", "speed")


def render_frames(num_frames: int, height: int, width: int, seed: int) -> np.ndarray:
    """Sky gradient, a noisy scrolling road texture, moving lane dashes and a coloured car."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    horizon = height // 2
    texture = rng.normal(0.0, 12.0, size=(height * 4, width)).astype(np.float32)
    car_colour = rng.integers(40, 230, size=3).astype(np.float32)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for t in range(num_frames):
        img = np.empty((height, width, 3), np.float32)
        sky = yy < horizon
        road_tex = np.roll(texture, 3 * t, axis=0)[:height]
        img[..., 0] = np.where(sky, 110 + 1.5 * yy, 85 + road_tex)
        img[..., 1] = np.where(sky, 150 + 1.0 * yy, 88 + road_tex)
        img[..., 2] = np.where(sky, 225 - 0.5 * yy, 92 + road_tex)
        dashes = (~sky) & (np.abs(xx - width / 2) < 1.5) & (((yy + 2 * t) // 5) % 2 == 0)
        img[dashes] = 235.0
        cx = int((7 + 3 * t + seed * 11) % (width - 16))
        cy = horizon + 6 + (t % 5)
        img[cy : cy + 10, cx : cx + 16] = car_colour
        frames[t] = np.clip(img, 0, 255).astype(np.uint8)
    return frames


@dataclass
class SyntheticSource:
    """Deterministic episodes: ``num_frames + 5 * i`` frames for episode ``i``."""

    name: str = "synthetic-test"
    dt: float = 0.1
    num_episodes: int = 4
    num_frames: int = 20
    height: int = 64
    width: int = 112
    with_actions: bool = True
    splits: dict[str, str] = field(default_factory=dict)
    fail_on: tuple[str, ...] = ()
    # The episode count and the simulated failures do not change what an episode holds.
    settings_exempt: ClassVar[tuple[str, ...]] = ("num_episodes", "fail_on")

    def keys(self) -> list[str]:
        return [f"ep-{i:03d}" for i in range(self.num_episodes)]

    def load(self, key: str) -> Episode:
        if key in self.fail_on:
            raise RuntimeError("simulated loader failure")
        index = self.keys().index(key)
        seed = int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) % 1000
        num_frames = self.num_frames + 5 * index
        t = np.arange(num_frames) * self.dt
        speed = 8.0 + 2.0 * np.sin(0.7 * t + index)
        yaw_rate = 0.05 * np.cos(0.3 * t + 2 * index)
        heading = np.cumsum(yaw_rate) * self.dt
        state = np.stack(
            [
                np.cumsum(speed * np.cos(heading)) * self.dt,
                np.cumsum(speed * np.sin(heading)) * self.dt,
                heading,
                speed,
            ],
            axis=1,
        )
        actions = np.stack([np.gradient(speed, self.dt), yaw_rate], axis=1).astype(np.float32)
        return Episode(
            key=key,
            frames_THWC=render_frames(num_frames, self.height, self.width, seed),
            ego_motion_T2=np.stack([speed, yaw_rate], axis=1),
            ego_state_TK=state,
            ego_state_fields=STATE_FIELDS,
            caption=f"a straight road, episode {index}",
            source=self.name,
            dt=self.dt,
            conditions={"weather": "clear", "num_lanes": np.int64(2)},
            intrinsics={"fx": 60.0, "fy": 60.0, "cx": self.width / 2, "cy": self.height / 2},
            actions_TA=actions if self.with_actions else None,
            split=self.splits.get(key),
            extra={"seed": seed},
        )


@pytest.fixture(scope="session")
def source() -> SyntheticSource:
    return SyntheticSource()


@pytest.fixture(scope="session")
def pristine_store(tmp_path_factory: pytest.TempPathFactory, source: SyntheticSource) -> Path:
    """A complete store written once per session; copy it before modifying it."""
    from worldsim.data.store import write_store

    root = tmp_path_factory.mktemp("pristine") / "store"
    write_store(source, root, workers=1, val_fraction=0.25, progress=False)
    return root


@pytest.fixture
def store_copy(pristine_store: Path, tmp_path: Path) -> Path:
    root = tmp_path / "store"
    shutil.copytree(pristine_store, root)
    return root


@pytest.fixture(scope="session")
def render():
    """The frame renderer: ``render(num_frames, height, width, seed) -> (T, H, W, 3) uint8``."""
    return render_frames
