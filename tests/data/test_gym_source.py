"""The Gymnasium recorder: worldsim's own env, third-party envs (Discrete, image observations,
CarRacing), its options (resolution, frame, action_repeat, dt, policies), the episode semantics,
and a world model trained on the recorded raw actions (action dimension from the manifest)."""

from __future__ import annotations

import json
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
from worldsim.utils.image import cover_and_crop


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


class CountEnv(gym.Env):
    """Counts its env steps: reward 1 per step, terminated after ``end_at`` steps.

    Observations are images filled with ``10 * steps``; renders are a fixed 64x128 pattern
    (red with a green band over columns 24-103).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, render_mode: str | None = None, end_at: int | None = None) -> None:
        self.render_mode = render_mode
        self.end_at = end_at
        self.action_space = gym.spaces.Box(-100.0, 100.0, (1,), np.float32)
        self.observation_space = gym.spaces.Box(0, 255, (32, 48, 3), np.uint8)
        self.count = 0

    def _obs(self) -> np.ndarray:
        return np.full((32, 48, 3), 10 * self.count, np.uint8)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.count = 0
        return self._obs(), {}

    def step(self, action):
        self.count += 1
        terminated = self.end_at is not None and self.count >= self.end_at
        return self._obs(), 1.0, terminated, False, {}

    def render(self) -> np.ndarray:
        image = np.zeros((64, 128, 3), np.uint8)
        image[..., 0] = 255
        image[:, 24:104] = (0, 255, 0)
        return image


class NoFpsEnv(CountEnv):
    """A CountEnv whose metadata has no ``render_fps``."""

    metadata = {"render_modes": ["rgb_array"]}


gym.register("worldsim-test/Count-v0", entry_point=CountEnv, max_episode_steps=20)
gym.register("worldsim-test/NoFps-v0", entry_point=NoFpsEnv)


class StepCounter:
    """A stateful policy: acts ``seed + calls / 10`` and checks ``info["step"]``."""

    def __init__(self) -> None:
        self.calls = 0
        self.seed = -1

    def reset(self, seed: int) -> None:
        self.seed = seed

    def __call__(self, observation: np.ndarray, info: dict) -> np.ndarray:
        assert info["step"] == self.calls and "action_space" in info
        self.calls += 1
        return np.array([self.seed + self.calls / 10], np.float32)


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
    assert store.dt == pytest.approx(0.1)  # 1 / render_fps
    assert store.ego_state_fields == ("step", "reward", "terminated", "truncated")
    assert store.manifest["episodes"][0]["end"] == "frames"


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


def test_resolution_scales_to_cover_and_centre_crops() -> None:
    source = GymSource("worldsim-test/Count-v0", episodes=1, frames=3, resolution=[32, 32])
    frames = source.load("gym-000000").frames_THWC
    # 64x128 -> 32x64 covers 32x32; the centre columns lie inside the green band
    assert frames.shape == (3, 32, 32, 3)
    assert (frames == np.array([0, 255, 0], np.uint8)).all()
    expected = cover_and_crop(CountEnv().render(), 32, 32)[0]
    assert np.array_equal(frames[0], expected)
    native = GymSource("worldsim-test/Count-v0", episodes=1, frames=3).load("gym-000000")
    assert native.frames_THWC.shape == (3, 64, 128, 3)
    assert (native.frames_THWC[:, :, :24] == np.array([255, 0, 0], np.uint8)).all()


def test_frame_observation_records_the_observation() -> None:
    source = GymSource("worldsim-test/Count-v0", episodes=1, frames=5, frame="observation")
    assert source._make().render_mode is None
    episode = source.load("gym-000000")
    assert episode.frames_THWC.shape == (5, 32, 48, 3)
    assert episode.frames_THWC[:, 0, 0, 0].tolist() == [0, 10, 20, 30, 40]
    assert episode.extra["end"] == "frames"


def test_action_repeat_sums_rewards_and_scales_dt() -> None:
    source = GymSource(
        "worldsim-test/Count-v0", episodes=1, frames=4, frame="observation", action_repeat=3
    )
    assert source.dt == pytest.approx(3 / 20)
    episode = source.load("gym-000000")
    assert episode.frames_THWC[:, 0, 0, 0].tolist() == [0, 30, 60, 90]  # 3 env steps per frame
    assert episode.ego_state_TK[:, 1].tolist() == [0.0, 3.0, 3.0, 3.0]
    # the env terminates after 7 steps: in the third repeat block, after one step
    early = GymSource(
        "worldsim-test/Count-v0",
        episodes=1,
        frames=10,
        frame="observation",
        action_repeat=3,
        env_kwargs={"end_at": 7},
    ).load("gym-000000")
    assert early.frames_THWC[:, 0, 0, 0].tolist() == [0, 30, 60, 70]
    assert early.ego_state_TK[:, 1].tolist() == [0.0, 3.0, 3.0, 1.0]
    assert early.ego_state_TK[:, 2].tolist() == [0.0, 0.0, 0.0, 1.0]
    assert early.extra["end"] == "terminated"


def test_dt_comes_from_render_fps_unless_given() -> None:
    assert GymSource("worldsim-test/Count-v0").dt == pytest.approx(1 / 20)
    assert GymSource("worldsim-test/Count-v0", action_repeat=2).dt == pytest.approx(0.1)
    assert GymSource("worldsim-test/Count-v0", dt=0.25, action_repeat=2).dt == 0.25
    assert GymSource("worldsim-test/NoFps-v0", dt=0.1).dt == 0.1
    with pytest.raises(ValueError, match=r"render_fps.*set source\.dt"):
        GymSource("worldsim-test/NoFps-v0")


def test_an_episode_that_terminates_early_is_kept_whole() -> None:
    source = GymSource(
        "worldsim-test/Count-v0",
        episodes=1,
        frames=10,
        frame="observation",
        env_kwargs={"end_at": 4},
    )
    episode = source.load("gym-000000")
    assert episode.num_frames == 5  # reset frame + 4 steps, the final frame included
    assert episode.frames_THWC[-1, 0, 0, 0] == 40
    assert episode.actions_TA.shape == (5, 1)
    assert np.array_equal(episode.actions_TA[-1], episode.actions_TA[-2])  # filler row
    assert episode.ego_state_fields == ("step", "reward", "terminated", "truncated")
    np.testing.assert_array_equal(
        episode.ego_state_TK,
        [[0, 0, 0, 0], [1, 1, 0, 0], [2, 1, 0, 0], [3, 1, 0, 0], [4, 1, 1, 0]],
    )
    assert episode.extra["end"] == "terminated"


def test_end_is_recorded_in_the_manifest_and_survives_a_resume(tmp_path: Path) -> None:
    source = GymSource("worldsim-test/Count-v0", episodes=2, frames=30, frame="observation")
    write_store(source, tmp_path / "counts", workers=1, progress=False)
    store = EpisodeStore(tmp_path / "counts")
    assert store.dt == pytest.approx(0.05)
    entries = store.manifest["episodes"]
    assert [e["end"] for e in entries] == ["truncated", "truncated"]  # max_episode_steps=20
    assert [e["num_frames"] for e in entries] == [21, 21]
    assert store.ego_state(store.keys()[0])[-1].tolist() == [20.0, 1.0, 0.0, 1.0]
    (tmp_path / "counts" / "manifest.json").unlink()
    write_store(source, tmp_path / "counts", workers=1, progress=False)  # rebuilt from meta.json
    manifest = json.loads((tmp_path / "counts" / "manifest.json").read_text())
    assert [e["end"] for e in manifest["episodes"]] == ["truncated", "truncated"]


def test_a_policy_class_is_made_afresh_for_every_episode() -> None:
    source = GymSource(
        "worldsim-test/Count-v0",
        episodes=2,
        frames=4,
        seed=10,
        frame="observation",
        policy=f"{__name__}:StepCounter",
    )
    first, second = (source.load(key).actions_TA[:, 0] for key in source.keys())
    np.testing.assert_allclose(first, [10.1, 10.2, 10.3, 10.3], rtol=1e-6)
    np.testing.assert_allclose(second, [11.1, 11.2, 11.3, 11.3], rtol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"resolution": [63, 64]}, r"source\.resolution=\[63, 64\].*even"),
        ({"resolution": [0, 64]}, r"source\.resolution=\[0, 64\]"),
        ({"resolution": [64]}, r"source\.resolution=\[64\]"),
        ({"frame": "pixels"}, r"source\.frame='pixels'"),
        ({"action_repeat": 0}, r"source\.action_repeat=0"),
        ({"dt": -1.0}, r"source\.dt=-1\.0"),
        ({"env_id": "worldsim-test/Dot-v0", "frame": "observation"}, r"source\.frame=render"),
    ],
)
def test_bad_settings_are_reported(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GymSource(**{"env_id": "worldsim-test/Count-v0", **kwargs}).load("gym-000000")


def test_records_a_car_racing_store(tmp_path: Path) -> None:
    source = GymSource(
        "CarRacing-v3", episodes=1, frames=6, frame="observation", resolution=[64, 64]
    )
    write_store(source, tmp_path / "car", workers=1, progress=False)
    store = EpisodeStore(tmp_path / "car")
    key = store.keys()[0]
    assert store.frames(key).shape == (6, 64, 64, 3)
    assert store.actions(key).shape == (6, 3)
    assert store.action_space == {
        "type": "Box",
        "shape": [3],
        "low": [-1.0, 0.0, 0.0],
        "high": [1.0, 1.0, 1.0],
    }
    assert store.dt == pytest.approx(1 / 50)  # CarRacing renders at 50 fps


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
