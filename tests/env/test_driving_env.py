"""worldsim/DrivingWorld-v0 on a tiny checkpoint trained inside the tests."""

from __future__ import annotations

import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml
from gymnasium.utils.env_checker import check_env

import worldsim

ID = worldsim.LEARNED_ENV_ID


@pytest.fixture(scope="module")
def checkpoint(trained: Path) -> str:
    return str(trained / "runs" / "world_model_tiny" / "checkpoints" / "last.ckpt")


def make(checkpoint: str, **kwargs: object) -> gym.Env:
    kwargs.setdefault("sampling_steps", 1)
    kwargs.setdefault("context_frames", 2)
    kwargs.setdefault("driving_heads", "none")  # the tiny checkpoint ships none
    return gym.make(ID, checkpoint=checkpoint, **kwargs)


def scenario_file(tmp_path: Path, name: str, horizon: int) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": name,
                "start": {"type": "procedural", "seed": 3, "conditions": {"traffic": "light"}},
                "horizon": horizon,
                "context_frames": 2,
            }
        )
    )
    return str(path)


@pytest.mark.parametrize("obs_mode", ["rgb", "dict"])
def test_check_env_passes_with_warnings_as_errors(
    checkpoint: str, driving_heads_ckpt: Path, obs_mode: str
) -> None:
    env = make(
        checkpoint,
        obs_mode=obs_mode,
        render_mode="rgb_array",
        horizon=20,
        driving_heads=str(driving_heads_ckpt),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)


def test_same_seed_and_actions_give_the_same_frames(checkpoint: str) -> None:
    def run() -> np.ndarray:
        env = make(checkpoint)
        obs, _ = env.reset(seed=7)
        frames = [obs]
        for t in range(4):
            obs, *_ = env.step(np.array([0.3 * (-1) ** t, 0.2], np.float32))
            frames.append(obs)
        return np.stack(frames)

    np.testing.assert_array_equal(run(), run())


def test_bad_actions_raise_value_errors(checkpoint: str) -> None:
    env = make(checkpoint).unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        env.step(np.zeros(4))
    with pytest.raises(ValueError, match="finite"):
        env.step(np.array([0.0, np.inf]))
    *_, info = env.step(np.array([5.0, 0.0]))
    assert info["action_clipped"] is True


def test_get_state_set_state_reproduces_the_continuation(checkpoint: str) -> None:
    env = make(checkpoint).unwrapped
    env.reset(seed=1)
    env.step(np.array([0.0, 0.5]))
    state = env.get_state()
    brake = [env.step(np.array([0.0, -1.0])) for _ in range(3)]
    env.set_state(state)
    again = [env.step(np.array([0.0, -1.0])) for _ in range(3)]
    np.testing.assert_array_equal(np.stack([b[0] for b in brake]), np.stack([a[0] for a in again]))
    env.set_state(state)
    _, _, _, _, info = env.step(np.array([0.0, 1.0]))
    assert info["step"] == 2
    assert info["speed"] > brake[0][4]["speed"]


def test_prompt_and_scenario_options_at_reset(checkpoint: str) -> None:
    env = make(checkpoint).unwrapped
    _, info = env.reset(seed=0, options={"prompt": "night, snow"})
    assert info["prompt"] == "night, snow"
    _, info = env.reset(seed=0, options={"scenario": "fog_highway"})
    assert info["scenario"] == "fog_highway"
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(options={"weather": "fog"})


def test_native_vector_env_and_sync_vector_env(checkpoint: str) -> None:
    native = gym.make_vec(ID, num_envs=3, checkpoint=checkpoint, sampling_steps=1, context_frames=2)
    assert type(native).__name__ == "DrivingWorldVectorEnv"
    assert native.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    obs, info = native.reset(seed=0)
    assert obs.shape == (3, 64, 112, 3)
    obs, reward, terminated, truncated, info = native.step(np.zeros((3, 2), np.float32))
    assert obs.shape == (3, 64, 112, 3) and reward.shape == (3,)
    sync = gym.make_vec(
        ID,
        num_envs=2,
        vectorization_mode="sync",
        checkpoint=checkpoint,
        sampling_steps=1,
        context_frames=2,
    )
    obs, _ = sync.reset(seed=0)
    obs, *_ = sync.step(np.zeros((2, 2), np.float32))
    assert obs.shape == (2, 64, 112, 3)


def test_native_vector_env_resets_each_env_on_its_own(checkpoint: str, tmp_path: Path) -> None:
    short, long = scenario_file(tmp_path, "short", 2), scenario_file(tmp_path, "long", 5)
    env = gym.make_vec(
        ID,
        num_envs=2,
        checkpoint=checkpoint,
        scenario=[short, long],
        sampling_steps=1,
        context_frames=2,
    )
    env.reset(seed=0)
    steps = []
    truncs = []
    for _ in range(4):
        _, _, _, truncated, info = env.step(np.zeros((2, 2), np.float32))
        steps.append(info["step"].tolist())
        truncs.append(truncated.tolist())
    assert truncs[1] == [True, False]
    assert steps == [[1, 1], [2, 2], [0, 3], [1, 4]]  # env 0 autoreset on the next step
    obs, _ = env.reset(options={"reset_mask": np.array([False, True])})
    *_, info = env.step(np.zeros((2, 2), np.float32))
    assert info["step"].tolist() == [2, 1]


def test_batched_rows_match_single_env_rollouts(checkpoint: str) -> None:
    vec = gym.make_vec(ID, num_envs=2, checkpoint=checkpoint, sampling_steps=1, context_frames=2)
    obs, _ = vec.reset(seed=0)
    assert np.array_equal(obs[0], obs[1])  # same scenario, same context


def test_vectorised_step_equals_stepping_each_row_alone(
    checkpoint: str, driving_heads_ckpt: Path
) -> None:
    """The batched step (array kinematics, heads and rewards) against the scalar bicycle
    model, the heads on that row alone and the scalar reward, and each row's frame against
    stepping that row alone from the same state."""
    from worldsim.env.rewards import StepContext, progress_lane_comfort
    from worldsim.runtime.driving_heads import load_driving_heads
    from worldsim.sim.vehicle import step_steer_accel

    # termination_fn="never": no autoreset between the steps compared
    vec = small_test_vec(checkpoint, driving_heads_ckpt, num_envs=3)
    vec.reset(seed=0)
    core = vec.unwrapped.core
    heads = load_driving_heads(driving_heads_ckpt).heads
    actions = np.array([[0.5, 1.0], [-0.7, -0.4], [0.0, 0.2]], np.float32)
    vec.step(actions)  # leave the start, so the speeds and accelerations differ per row
    before = [core.ego.row(i) for i in range(3)]
    states = [vec.unwrapped.get_state(i) for i in range(3)]
    windows = [core.signals.window_NKHWC[i].copy() for i in range(3)]
    generator_state = vec.unwrapped._generator.get_state()
    obs, rewards, terminated, _, info = vec.step(actions[::-1].copy())
    for i in range(3):
        ego, motion = step_steer_accel(before[i], actions[::-1][i], core.model.dt, core.params)
        window = np.concatenate([windows[i][1:], obs[i][None]])  # the row's last K frames
        alone = heads.predict(window[None])  # (1, K, H, W, 3)
        for name in ("lane_offset", "heading_error", "offroad_prob", "collision_prob"):
            assert info[name][i] == pytest.approx(float(alone[name][0]), abs=1e-5)
        ctx = StepContext(
            dt=core.model.dt,
            progress=float(motion[0]) * np.cos(info["heading_error"][i]) * core.model.dt,
            speed=float(motion[0]),
            yaw_rate=float(motion[1]),
            accel=ego.accel,
            prev_accel=before[i].accel,
            lateral_offset=abs(float(info["lane_offset"][i])),
        )
        assert rewards[i] == pytest.approx(progress_lane_comfort(ctx), abs=1e-9)
        got = core.ego.row(i)
        assert np.allclose(
            [got.x, got.y, got.heading, got.speed, got.accel],
            [ego.x, ego.y, ego.heading, ego.speed, ego.accel],
            atol=1e-12,
        )
    for i in range(3):
        for j in range(3):
            vec.unwrapped.set_state(j, states[j])
        vec.unwrapped._generator.set_state(generator_state)
        rows = np.arange(3) == i
        core.step(actions[::-1].copy(), vec.unwrapped._generator, rows=rows)
        assert np.array_equal(core.frames[i], obs[i])


@pytest.mark.slow
def test_600_step_episode_runs_with_bounded_memory(checkpoint: str) -> None:
    env = make(checkpoint, horizon=600).unwrapped
    env.reset(seed=0)
    sizes = []
    for t in range(600):
        _, _, terminated, truncated, _ = env.step(np.array([0.1, 0.0], np.float32))
        if t % 100 == 50:
            sizes.append(env.core.model.cache.nbytes())
    assert truncated and not terminated
    assert len(set(sizes)) == 1


@pytest.mark.slow
def test_stable_baselines3_checker_and_ppo(checkpoint: str, driving_heads_ckpt: Path) -> None:
    sb3 = pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.env_checker import check_env as sb3_check

    env = make(checkpoint, horizon=32)
    sb3_check(env.unwrapped, warn=True)  # without heads
    with_heads = make(checkpoint, horizon=8, driving_heads=str(driving_heads_ckpt))
    sb3_check(with_heads.unwrapped, warn=True)
    check_env(with_heads.unwrapped)
    model = sb3.PPO("CnnPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0, verbose=0)
    model.learn(total_timesteps=128)
    assert model.num_timesteps == 128
    obs, _ = env.reset(seed=1)
    assert env.action_space.contains(model.predict(obs, deterministic=True)[0])
    dict_env = make(checkpoint, horizon=32, obs_mode="dict")
    dict_model = sb3.PPO(
        "MultiInputPolicy", dict_env, n_steps=32, batch_size=16, n_epochs=1, seed=0
    )
    dict_model.learn(64)
    assert dict_model.num_timesteps == 64
    dict_obs, _ = dict_env.reset(seed=1)
    assert dict_env.action_space.contains(dict_model.predict(dict_obs, deterministic=True)[0])


@pytest.mark.parametrize("threshold", [0.05, 0.5, 0.95])
def test_predicted_crash_terminates_above_the_threshold(
    checkpoint: str, driving_heads_ckpt: Path, threshold: float
) -> None:
    env = make(checkpoint, driving_heads=str(driving_heads_ckpt), termination_threshold=threshold)
    _, info = env.reset(seed=0)
    assert 0.0 <= info["offroad_prob"] <= 1.0 and 0.0 <= info["collision_prob"] <= 1.0
    for _ in range(3):
        _, _, terminated, _, info = env.step(np.array([0.2, 0.5], np.float32))
        assert terminated == (max(info["offroad_prob"], info["collision_prob"]) > threshold)
        if terminated:
            break


def test_without_heads_the_env_warns_and_never_crashes(checkpoint: str) -> None:
    with pytest.warns(UserWarning, match="ships no driving heads"):
        env = make(checkpoint, driving_heads=None)
    _, info = env.reset(seed=0)
    assert "lane_offset" not in info
    _, _, terminated, _, _ = env.step(np.array([1.0, 1.0], np.float32))
    assert not terminated
    with pytest.raises(ValueError, match="termination_threshold=1.5"):
        make(checkpoint, termination_threshold=1.5)


def small_test_vec(
    checkpoint: str, heads: Path, num_envs: int = 2, **kwargs: object
) -> gym.vector.VectorEnv:
    """A small native vector env: 1 sampling step, 2 context frames, no crash ends."""
    return gym.make_vec(
        ID,
        num_envs=num_envs,
        checkpoint=checkpoint,
        sampling_steps=1,
        context_frames=2,
        driving_heads=str(heads),
        termination_fn="never",
        **kwargs,
    )


def test_sb3_adapter_resets_in_the_step_that_ends(
    checkpoint: str, driving_heads_ckpt: Path
) -> None:
    """SB3's VecEnv protocol on the native vector env: an env that ends returns its reset
    observation, the final one in ``info["terminal_observation"]``, and PPO trains on it."""
    sb3 = pytest.importorskip("stable_baselines3")
    from worldsim.env.sb3 import SB3VecEnv

    vec = small_test_vec(checkpoint, driving_heads_ckpt, horizon=3)
    chosen: list[int] = []

    def options(rows: np.ndarray) -> dict[str, object]:
        chosen.append(len(rows))
        return {"scenario": ["day_clear_straight"] * len(rows)}

    env = SB3VecEnv(vec, reset_options=options)
    obs = env.reset()
    assert obs.shape == (2, 64, 112, 3) and chosen == [2]
    start = obs.copy()
    for _ in range(3):
        env.step_async(np.zeros((2, 2), np.float32))
        obs, rewards, dones, infos = env.step_wait()
    assert dones.all() and chosen == [2, 2]
    assert all(info["TimeLimit.truncated"] for info in infos)
    assert all(info["terminal_observation"].shape == (64, 112, 3) for info in infos)
    assert np.array_equal(obs, start)  # the same scenario starts from the same context
    assert {"lane_offset", "offroad_prob", "collision_prob"} <= set(infos[0])
    model = sb3.PPO("CnnPolicy", env, n_steps=8, batch_size=8, n_epochs=1, seed=0, verbose=0)
    model.learn(total_timesteps=16)
    assert model.num_timesteps == 16


def test_sb3_adapter_takes_dict_observations(checkpoint: str, driving_heads_ckpt: Path) -> None:
    """A Dict observation (the image and the speed) goes through the adapter key by key: the
    final one of an ended env in ``terminal_observation``, the reset one in its row."""
    sb3 = pytest.importorskip("stable_baselines3")
    from gymnasium.wrappers.vector import FilterObservation

    from worldsim.env.sb3 import SB3VecEnv

    vec = small_test_vec(checkpoint, driving_heads_ckpt, horizon=2, obs_mode="dict")
    env = SB3VecEnv(FilterObservation(vec, ["image", "speed"]))
    obs = env.reset()
    assert set(obs) == {"image", "speed"} and obs["image"].shape == (2, 64, 112, 3)
    start_speed = obs["speed"].copy()
    for _ in range(2):
        env.step_async(np.array([[0.0, 1.0], [0.0, 1.0]], np.float32))
        obs, _, dones, infos = env.step_wait()
    assert dones.all()
    final = infos[0]["terminal_observation"]
    assert set(final) == {"image", "speed"} and final["image"].shape == (64, 112, 3)
    assert final["speed"][0] > start_speed[0, 0]  # full throttle for two steps
    np.testing.assert_array_equal(obs["speed"], start_speed)  # the reset rows start again
    model = sb3.PPO("MultiInputPolicy", env, n_steps=4, batch_size=8, n_epochs=1, seed=0)
    model.learn(total_timesteps=8)
    assert model.num_timesteps == 8


def test_dataset_scenario_starts_from_store_frames(
    checkpoint: str, procedural_store: Path, tmp_path: Path
) -> None:
    from worldsim.data.store import EpisodeStore

    store = EpisodeStore(procedural_store)
    key = store.keys()[0]
    path = tmp_path / "from_store.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "from_store",
                "start": {
                    "type": "dataset",
                    "store": str(procedural_store),
                    "episode": key,
                    "frame": 3,
                },
                "horizon": 5,
                "context_frames": 2,
            }
        )
    )
    env = make(checkpoint, scenario=str(path)).unwrapped
    obs, info = env.reset(seed=0)
    np.testing.assert_array_equal(obs, store.frames(key, 4, 1)[0])
    assert info["prompt"] == store.caption(key)
    assert abs(info["speed"] - float(store.ego_motion(key)[4, 0])) < 1e-4
    env.step(np.zeros(2, np.float32))
    bad = tmp_path / "bad.yaml"
    bad.write_text(path.read_text().replace("frame: 3", "frame: 23"))
    with pytest.raises(ValueError, match="runs past"):
        make(checkpoint, scenario=str(bad)).reset(seed=0)


def test_a_checkpoint_retrained_at_the_same_path_is_loaded_afresh(
    trained: Path, tmp_path: Path
) -> None:
    import os
    import shutil

    from worldsim.env.learned import ModelCache

    runs = trained / "runs" / "world_model_tiny" / "checkpoints"
    path = tmp_path / "model.ckpt"
    shutil.copyfile(runs / "step0000003.ckpt", path)
    cache = ModelCache()
    first = cache.get(str(path), "cpu", "float32")
    assert cache.get(str(path), "cpu", "float32") is first  # same file: shared networks
    shutil.copyfile(runs / "last.ckpt", path)
    os.utime(path, ns=(1, 1))  # a new modification time marks a new version of the file
    second = cache.get(str(path), "cpu", "float32")
    assert second is not first and len(cache) == 1  # the old version is dropped
    a = next(iter(first.dit.parameters()))
    b = next(iter(second.dit.parameters()))
    assert not bool((a == b).all())
    env = make(str(path)).unwrapped  # no process-wide cache: gym.make reads the file now
    assert bool((next(iter(env.core.model.dit.parameters())) == b).all())


def test_envs_given_one_model_share_its_networks_not_its_state(checkpoint: str) -> None:
    from worldsim.env.learned import load_model

    model = load_model(checkpoint)
    a, b = make(checkpoint, model=model).unwrapped, make(checkpoint, model=model).unwrapped
    assert a.core.model.dit is model.dit and b.core.model.dit is model.dit
    assert a.core.model is not b.core.model  # each env has its own rolling context
    a.reset(seed=0)
    b.reset(seed=0, options={"prompt": "night, snow"})
    a.set_prompt(" fog ")
    assert a.core.model.prompts == ("fog",) and b.core.model.prompts == ("night, snow",)
    *_, info = a.step(np.zeros(2, np.float32))
    assert info["prompt"] == "fog"


def test_sampling_presets_set_the_sampler_and_unknown_ones_are_refused(checkpoint: str) -> None:
    env = gym.make(ID, checkpoint=checkpoint, sampling_preset="fast", context_frames=2)
    sampling = env.unwrapped.core.model.sampling
    assert (sampling.steps, sampling.temperature) == (1, 0.0)
    env.reset(seed=0)
    env.step(np.zeros(2, np.float32))
    env.close()
    env = gym.make(ID, checkpoint=checkpoint, sampling_preset="fast", sampling_steps=3)
    assert env.unwrapped.core.model.sampling.steps == 3  # an explicit setting wins
    with pytest.raises(ValueError, match="sampling_preset='turbo' is unknown"):
        gym.make(ID, checkpoint=checkpoint, sampling_preset="turbo")
