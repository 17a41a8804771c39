"""The Gymnasium recorder: worldsim's own env, a third-party Discrete env, and a world model
trained on the recorded raw actions (action dimension from the manifest)."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import worldsim
from tests.cli_helpers import run_cli
from tests.conftest import TINY
from worldsim.data.action_codec import encode_actions
from worldsim.data.sources.gym import GymSource
from worldsim.data.store import EpisodeStore, write_store


class DotEnv(gym.Env):
    """A third-party-style env: a dot moved left/stay/right by a Discrete(3) action."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, render_mode: str | None = None) -> None:
        self.render_mode = render_mode
        self.action_space = gym.spaces.Discrete(3)
        self.observation_space = gym.spaces.Box(0, 111, (1,), np.float32)
        self.x = 56

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.x = int(self.np_random.integers(20, 92))
        return np.array([self.x], np.float32), {}

    def step(self, action):
        self.x = int(np.clip(self.x + (int(action) - 1) * 4, 0, 111))
        return np.array([self.x], np.float32), 0.0, False, False, {}

    def render(self) -> np.ndarray:
        image = np.full((64, 112, 3), 30, np.uint8)
        image[28:36, max(self.x - 4, 0) : self.x + 4] = 255
        return image


gym.register("worldsim-test/Dot-v0", entry_point=DotEnv, max_episode_steps=50)


def test_records_worldsim_env_through_the_cli(tmp_path: Path) -> None:
    run_cli(
        "worldsim-data",
        "source=gym",
        f"source.env_id={worldsim.PROCEDURAL_ENV_ID}",
        "source.caption=procedural drive",
        "episodes=2",
        "frames=8",
        "out=store",
        "workers=1",
        "progress=false",
        cwd=tmp_path,
        check=True,
    )
    store = EpisodeStore(tmp_path / "store")
    key = store.keys()[0]
    assert store.action_space == {
        "type": "Box",
        "shape": [2],
        "low": [-1.0, -1.0],
        "high": [1.0, 1.0],
    }
    assert store.actions(key).shape == (8, 2)
    assert store.caption(key) == "procedural drive"
    assert store.frames(key).shape == (8, 64, 112, 3)
    assert np.abs(store.ego_motion(key)[:, 0]).max() > 0  # speed from the env's info


def test_records_a_discrete_env_and_encodes_its_actions(tmp_path: Path) -> None:
    source = GymSource("worldsim-test/Dot-v0", episodes=2, frames=12, caption="a dot")
    write_store(source, tmp_path / "dots", workers=1, progress=False)
    store = EpisodeStore(tmp_path / "dots")
    assert store.action_space == {"type": "Discrete", "n": 3, "start": 0}
    raw = store.actions(store.keys()[0])
    assert raw.shape == (12, 1) and set(np.unique(raw)) <= {0.0, 1.0, 2.0}
    onehot = encode_actions(raw, store.action_space)
    assert onehot.shape == (12, 3) and (onehot.sum(1) == 1).all()


def test_bad_env_id_is_reported() -> None:
    with pytest.raises(ValueError, match="NoSuchEnv"):
        GymSource("NoSuchEnv-v0").load("gym-000000")


@pytest.mark.slow
def test_world_model_trains_on_three_dim_actions(trained: Path, tmp_path: Path) -> None:
    write_store(
        GymSource("worldsim-test/Dot-v0", episodes=4, frames=16, caption="a dot"),
        tmp_path / "dots",
        workers=1,
        progress=False,
    )
    run_cli(
        "worldsim-train",
        f"paths.runs_dir={tmp_path / 'runs'}",
        *TINY,
        "experiment=world_model_tiny",
        f"tokenizer_ckpt={trained / 'runs' / 'tokenizer_tiny' / 'checkpoints' / 'last.ckpt'}",
        f"data.store={tmp_path / 'dots'}",
        "data.generate=null",
        "data.condition=actions",
        "trainer.max_steps=3",
        "trainer.val_check_interval=1000",
        "callbacks.rollout=null",
        "trainer.limit_val_batches=0",
        cwd=tmp_path,
        timeout=600,
        check=True,
    )
    model = worldsim.load_world_model(
        tmp_path / "runs" / "world_model_tiny" / "checkpoints" / "last.ckpt"
    )
    assert model.action_dim == 3
    frames = model.rollout(
        np.zeros((1, 2, 64, 112, 3), np.uint8),
        np.eye(3, dtype=np.float32)[None],
        "a dot",
        generator=torch.Generator().manual_seed(0),
    )
    assert frames.shape == (1, 3, 64, 112, 3)
