"""``module:callable`` loading, and the one policy signature of the rollout CLI and recorder."""

from __future__ import annotations

import numpy as np
import pytest

from tests.utils.policies import SEEN, steer_left
from worldsim.data.sources.gym import GymSource
from worldsim.utils.loading import load_callable


def test_load_callable_finds_the_function_and_names_bad_specs() -> None:
    assert load_callable("tests.utils.policies:steer_left", "policy") is steer_left
    with pytest.raises(ValueError, match=r"policy='nocolon' must look like"):
        load_callable("nocolon", "policy")
    with pytest.raises(ValueError, match=r"source.policy='no_such_module_xyz:f' cannot be"):
        load_callable("no_such_module_xyz:f", "source.policy")
    with pytest.raises(ValueError, match=r"policy='tests.utils.policies:SEEN' is not"):
        load_callable("tests.utils.policies:SEEN", "policy")


def test_gym_recorder_calls_the_policy_with_observation_and_info() -> None:
    SEEN.clear()
    source = GymSource(
        env_id="worldsim/ProceduralDriving-v0",
        episodes=1,
        frames=3,
        policy="tests.utils.policies:steer_left",
    )
    episode = source.load(source.keys()[0])
    assert np.allclose(episode.actions_TA, [[0.5, 0.0]] * 3)
    assert len(SEEN) == 2 and all("action_space" in info for info in SEEN)  # one per step
    assert "speed" in SEEN[-1]  # the env's own info comes along
