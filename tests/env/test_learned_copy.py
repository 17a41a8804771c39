"""worldsim/LearnedEnv-v0: record a Gymnasium env, train the world_model_gym preset for a few
steps, and serve the learned copy with the recorded action space (CarRacing-v3 and a
Discrete-action env), evaluated against the real env by ``worldsim-eval suite=env``."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import worldsim
from tests.cli_helpers import run_cli
from tests.conftest import train
from worldsim.data.datamodule import EpisodeDataModule
from worldsim.data.sources.gym import GymSource
from worldsim.data.store import EpisodeStore, write_store
from worldsim.env.learned_copy import LearnedEnv, Outcome
from worldsim.eval.config import EnvSuiteConfig
from worldsim.eval.env_suite import env_suite
from worldsim.runtime.bundle import bundled_model_dir
from worldsim.runtime.checkpoint import load_world_model
from worldsim.runtime.env_heads import load_env_heads

ID = worldsim.LEARNED_COPY_ENV_ID
pytestmark = pytest.mark.slow


class PaddleEnv(gym.Env):
    """A paddle moved left / kept / moved right (Discrete(3)); rewarded near the centre, the
    episode ends at either wall."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, render_mode: str | None = None) -> None:
        self.render_mode = render_mode
        self.action_space = gym.spaces.Discrete(3)
        self.observation_space = gym.spaces.Box(0, 63, (1,), np.float32)
        self.x = 32

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.x = int(self.np_random.integers(16, 48))
        return np.array([self.x], np.float32), {}

    def step(self, action):
        self.x = int(np.clip(self.x + (int(action) - 1) * 3, 0, 63))
        reward = 1.0 - abs(self.x - 32) / 32.0
        terminated = self.x <= 2 or self.x >= 61
        return np.array([self.x], np.float32), reward, terminated, False, {}

    def render(self) -> np.ndarray:
        image = np.full((32, 64, 3), 40, np.uint8)
        image[12:20, max(self.x - 3, 0) : self.x + 3] = 250
        return image


gym.register("worldsim-test/Paddle-v0", entry_point=PaddleEnv, max_episode_steps=40)


def preset_run(root: Path, store: Path) -> Path:
    """Train experiment=world_model_gym for three steps on ``store``; its last.ckpt."""
    train(
        root,
        "experiment=world_model_gym",
        f"data.store={store}",
        "~tokenizer.base_channels",
        "trainer.max_steps=3",
        "data.clip_len=4",
    )
    return root / "runs" / "world_model_gym" / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def car_racing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 3-episode CarRacing-v3 store at 64x64 and a world_model_gym checkpoint on it."""
    pytest.importorskip("Box2D")
    root = tmp_path_factory.mktemp("car_racing")
    source = GymSource(
        "CarRacing-v3",
        episodes=3,
        frames=12,
        frame="observation",
        resolution=[64, 64],
        action_repeat=2,
        policy="worldsim.data.policies:CarRacingDriver",
        caption="car racing",
    )
    write_store(source, root / "store", workers=1, progress=False)
    return root / "store", preset_run(root, root / "store")


@pytest.fixture(scope="module")
def paddle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A Discrete-action store (episodes end at the walls) and a checkpoint on it."""
    root = tmp_path_factory.mktemp("paddle")
    source = GymSource("worldsim-test/Paddle-v0", episodes=4, frames=16, seed=5)
    write_store(source, root / "store", workers=1, progress=False)
    return root / "store", preset_run(root, root / "store")


def test_the_preset_trains_heads_on_the_recorded_outcomes(paddle: tuple[Path, Path]) -> None:
    store_path, ckpt = paddle
    store = EpisodeStore(store_path)
    module = EpisodeDataModule(str(store_path), clip_len=4, batch_size=2, condition="actions")
    module.setup("fit")
    item = module.train_dataloader().dataset[0]
    state = store.ego_state(item["key"])[item["start"] : item["start"] + 4]
    assert np.allclose(item["reward"].numpy(), state[:, 1])
    assert np.allclose(item["terminated"].numpy(), state[:, 2])
    heads = load_env_heads(ckpt)
    assert heads is not None and heads.config.action_kind == "discrete"
    model = load_world_model(ckpt)
    assert model.metadata["action_space"] == {"type": "Discrete", "n": 3, "start": 0}
    assert model.resolution == (32, 64)


def test_car_racing_copy_has_the_recorded_spaces_and_passes_check_env(
    car_racing: tuple[Path, Path],
) -> None:
    _, ckpt = car_racing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for start in ("env", "store"):
            env = gym.make(ID, checkpoint=str(ckpt), start=start, sampling_steps=1)
            assert env.action_space == gym.spaces.Box(
                np.array([-1, 0, 0], np.float32), np.ones(3, np.float32), dtype=np.float32
            )
            assert env.observation_space.shape == (64, 64, 3)
            check_env(env.unwrapped)
            _, info = env.reset(seed=3)
            assert info["start"].startswith(start)
            _, reward, _, _, info = env.step(np.array([0.5, 0.5, 0.0], np.float32))
            assert np.isfinite(info["predicted_reward"]) and reward == info["predicted_reward"]
            assert 0.0 <= info["terminated_prob"] <= 1.0
            env.close()


def test_discrete_copy_passes_check_env_and_refuses_bad_actions(
    paddle: tuple[Path, Path],
) -> None:
    _, ckpt = paddle
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make(ID, checkpoint=str(ckpt), sampling_steps=1)
        assert env.action_space == gym.spaces.Discrete(3)
        assert env.observation_space.shape == (32, 64, 3)
        check_env(env.unwrapped)
    env.reset(seed=0)
    for bad in (3, 1.5, -1):
        with pytest.raises(ValueError, match=r"not in Discrete\(3\)"):
            env.step(bad)
    with pytest.raises(ValueError, match="shape"):
        env.step([0, 1])


def test_reward_and_termination_functions_are_pluggable(paddle: tuple[Path, Path]) -> None:
    _, ckpt = paddle
    seen: list[Outcome] = []

    def reward_fn(outcome: Outcome) -> float:
        seen.append(outcome)
        return 7.0

    env = LearnedEnv(
        checkpoint=str(ckpt), sampling_steps=1, reward_fn=reward_fn, termination_fn="never"
    )
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step(2)
    assert reward == 7.0 and not terminated
    assert seen[0].step == 1 and seen[0].reward == pytest.approx(info["predicted_reward"])
    always = LearnedEnv(checkpoint=str(ckpt), sampling_steps=1, termination_fn=lambda o: True)
    always.reset(seed=0)
    assert always.step(1)[2] is True
    zero = LearnedEnv(checkpoint=str(ckpt), sampling_steps=1, reward_fn="zero", horizon=2)
    zero.reset(seed=0)
    assert zero.step(1)[1] == 0.0 and zero.step(1)[3] is True  # truncated at the horizon


def test_native_vector_env_steps_and_autoresets(paddle: tuple[Path, Path]) -> None:
    _, ckpt = paddle
    envs = gym.make_vec(
        ID,
        num_envs=3,
        vectorization_mode="vector_entry_point",
        checkpoint=str(ckpt),
        sampling_steps=1,
        horizon=2,
        termination_fn="never",
    )
    obs, info = envs.reset(seed=1)
    assert obs.shape == (3, 32, 64, 3) and envs.single_action_space == gym.spaces.Discrete(3)
    envs.step(np.array([0, 1, 2]))
    _, _, _, truncated, info = envs.step(np.array([0, 1, 2]))
    assert truncated.all()
    envs.step(np.array([1, 1, 1]))  # the autoreset step
    assert (info["step"] == 2).all() and (envs.unwrapped.core.steps == 0).all()
    with pytest.raises(ValueError, match="shape"):
        envs.step(np.array([0, 1]))


def test_bad_arguments_get_clear_errors(paddle: tuple[Path, Path]) -> None:
    _, ckpt = paddle
    with pytest.raises(ValueError, match="checkpoint="):
        LearnedEnv()
    with pytest.raises(TypeError, match="scenario"):
        LearnedEnv(checkpoint=str(ckpt), scenario="day_clear_straight")
    with pytest.raises(ValueError, match="start='bogus'"):
        LearnedEnv(checkpoint=str(ckpt), start="bogus")
    with pytest.raises(ValueError, match="not trained on raw actions"):
        LearnedEnv(checkpoint=str(bundled_model_dir()))
    with pytest.raises(ValueError, match="store="):
        LearnedEnv(checkpoint=str(ckpt), store="/nonexistent/store")


def test_env_suite_reports_psnr_following_frechet_and_confusion(
    paddle: tuple[Path, Path],
) -> None:
    store_path, ckpt = paddle
    model = load_world_model(ckpt, sampling={"steps": 1})
    result, rollouts = env_suite(
        model,
        load_env_heads(ckpt),
        EpisodeStore(store_path),
        EnvSuiteConfig(starts=3, context_frames=2, horizon=3),
        run_seed=1,
        horizons=[1, 3],
        edges=[2],
    )
    assert rollouts.generated_RNHWC.shape == rollouts.truth_RNHWC.shape == (3, 3, 32, 64, 3)
    assert set(result["psnr"]["model"]) == {"psnr@1", "psnr@3"}
    assert [b["steps"] for b in result["frechet"]] == [[1, 2], [3, 3]]
    matrix = np.array(result["idm_confusion"]["model"]["matrix"])
    assert matrix.shape == (3, 3) and matrix.sum() == 3 * 3
    assert min(result["eval_seeds"]) >= 1_000_000  # never a recording seed


def test_eval_cli_suite_env_writes_the_report(
    car_racing: tuple[Path, Path], tmp_path: Path
) -> None:
    _, ckpt = car_racing
    run = run_cli(
        "worldsim-eval",
        "suite=env",
        "env_id=CarRacing-v3",
        f"checkpoint={ckpt}",
        "env.starts=2",
        "env.horizon=2",
        "horizons=[1,2]",
        "sampling_steps=1",
        "out=report",
        "progress=false",
        cwd=tmp_path,
        check=True,
    )
    assert "psnr@1" in run.stdout
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["env_id"] == "CarRacing-v3" and metrics["starts"] == 2
    assert (tmp_path / "report" / "samples.png").is_file()
    assert "repeat last frame" in (tmp_path / "report" / "report.md").read_text()
    wrong = run_cli(
        "worldsim-eval", "suite=env", "env_id=Pong-v5", f"checkpoint={ckpt}", cwd=tmp_path
    )
    assert wrong.returncode != 0 and "recorded from CarRacing-v3" in wrong.stderr
