"""worldsim/ProceduralDriving-v0 through Gymnasium's own API and checker."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import worldsim

ID = worldsim.PROCEDURAL_ENV_ID


@pytest.mark.parametrize("obs_mode", ["rgb", "dict"])
@pytest.mark.parametrize("action_mode", ["steer_accel", "speed_yaw_rate"])
@pytest.mark.parametrize("render_mode", [None, "rgb_array"])
def test_check_env_passes_with_warnings_as_errors(
    obs_mode: str, action_mode: str, render_mode: str | None
) -> None:
    env = gym.make(
        ID, obs_mode=obs_mode, action_mode=action_mode, render_mode=render_mode, horizon=40
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    env.close()


def test_spaces_match_the_documented_contract() -> None:
    env = gym.make(ID, height=64, width=112)
    assert env.observation_space == gym.spaces.Box(0, 255, (64, 112, 3), np.uint8)
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.uint8 and obs.shape == (64, 112, 3)
    assert {"speed", "yaw_rate", "s", "d", "caption", "action_clipped"} <= set(info)


def test_bad_actions_raise_and_out_of_range_is_clipped() -> None:
    env = gym.make(ID).unwrapped
    env.reset(seed=1)
    with pytest.raises(ValueError, match=r"shape \(2,\).*\(3,\)"):
        env.step(np.zeros(3))
    with pytest.raises(ValueError, match="finite"):
        env.step(np.array([np.nan, 0.0]))
    _, _, _, _, info = env.step(np.array([0.0, 0.5]))
    assert info["action_clipped"] is False
    _, _, _, _, info = env.step(np.array([3.0, -2.0]))
    assert info["action_clipped"] is True


def test_reset_options_pick_conditions_and_prompt() -> None:
    env = gym.make(ID).unwrapped
    _, info = env.reset(seed=0, options={"prompt": "night, snow, four-lane straight road"})
    assert info["caption"].startswith("night, snow, four-lane straight road")
    _, info = env.reset(seed=0, options={"conditions": {"weather": "fog", "lanes": 1}})
    assert ", fog, single-lane" in info["caption"]
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(options={"weather": "fog"})
    with pytest.raises(ValueError, match="time_of_day='noon'"):
        env.reset(options={"conditions": {"time_of_day": "noon"}})


def test_termination_when_leaving_the_road_and_truncation_at_horizon() -> None:
    env = gym.make(ID, horizon=400, conditions={"road": "straight", "traffic": "none"}).unwrapped
    env.reset(seed=3)
    for _ in range(400):
        _, _, terminated, truncated, info = env.step(np.array([1.0, 0.2]))
        if terminated or truncated:
            break
    assert terminated and info["offroad"] and not truncated

    short = gym.make(ID, horizon=5, conditions={"traffic": "none"}).unwrapped
    short.reset(seed=0)
    flags = [short.step(np.array([0.0, 0.0]))[3] for _ in range(5)]
    assert flags == [False, False, False, False, True]


def test_reward_rewards_progress() -> None:
    env = gym.make(ID, conditions={"traffic": "none", "road": "straight"}).unwrapped
    env.reset(seed=0)
    fast = sum(env.step(np.array([0.0, 0.3]))[1] for _ in range(10))
    env.reset(seed=0)
    stopped = sum(env.step(np.array([0.0, -1.0]))[1] for _ in range(10))
    assert fast > stopped


def test_get_state_set_state_branches_a_rollout() -> None:
    env = gym.make(ID, conditions={"traffic": "heavy"}).unwrapped
    env.reset(seed=5)
    for _ in range(5):
        env.step(np.array([0.0, 0.2]))
    state = env.get_state()
    brake = [env.step(np.array([0.0, -1.0]))[0] for _ in range(5)]
    env.set_state(state)
    brake_again = [env.step(np.array([0.0, -1.0]))[0] for _ in range(5)]
    env.set_state(state)
    accelerate = [env.step(np.array([0.0, 1.0]))[0] for _ in range(5)]
    np.testing.assert_array_equal(np.stack(brake), np.stack(brake_again))
    assert not np.array_equal(brake[-1], accelerate[-1])


def test_gymnasium_wrappers_and_sync_vector_env_work() -> None:
    env = gym.wrappers.RecordEpisodeStatistics(gym.make(ID, horizon=4))
    env.reset(seed=0)
    for _ in range(4):
        *_, info = env.step(env.action_space.sample())
    assert "episode" in info
    vec = gym.make_vec(ID, num_envs=2, vectorization_mode="sync", horizon=3)
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (2, 64, 112, 3)
    obs, *_ = vec.step(np.zeros((2, 2), np.float32))
    vec.close()
