"""Shared fixtures: small procedural worlds and stores built with the real components."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from worldsim.data.sources.procedural import ProceduralSource
from worldsim.data.store import write_store
from worldsim.sim import Camera, Conditions, World


@pytest.fixture
def straight_day() -> Conditions:
    return Conditions(time_of_day="day", weather="clear", lanes=2, road="straight", traffic="none")


def make_world(conditions: Conditions, seed: int = 7, size: tuple[int, int] = (64, 112)) -> World:
    return World(seed=seed, conditions=conditions, camera=Camera(*size), start_speed=10.0)


@pytest.fixture(scope="session")
def procedural_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-episode procedural store written in-process."""
    root = tmp_path_factory.mktemp("store") / "procedural"
    source = ProceduralSource(episodes=4, frames=24, seed=3)
    write_store(source, root, workers=1, val_fraction=0.25, progress=False)
    return root


def luminance(frame_HW3: np.ndarray) -> np.ndarray:
    return frame_HW3.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
