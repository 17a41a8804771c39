"""Env actions and reset options: NaN, inf, huge values, wrong shapes and dtypes, lists, strings.

Each either gets a clear worldsim error, or is a valid input (finite actions are clipped to
the box) and the env goes on with an observation inside its space.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import worldsim  # noqa: F401  (registers the env ids)
from tests.fuzz.helpers import accepted, assert_clear_error

FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), FLOATS, st.text(max_size=8))

BAD_ACTIONS = st.one_of(
    hnp.arrays(np.float64, (2,), elements=FLOATS),  # NaN, inf, huge, and valid ones
    hnp.arrays(np.float32, hnp.array_shapes(min_dims=0, max_dims=3, max_side=3)),
    hnp.arrays(st.sampled_from([np.int64, np.bool_, np.uint8, np.complex64]), (2,)),
    st.lists(SCALARS, max_size=4),
    SCALARS,
    st.dictionaries(st.text(max_size=4), SCALARS, max_size=2),
    st.tuples(FLOATS, FLOATS),
)
OPTION_VALUES = st.one_of(
    SCALARS,
    st.text(max_size=300),
    st.lists(SCALARS, max_size=3),
    st.dictionaries(st.text(max_size=6), SCALARS, max_size=3),
    st.sampled_from(["hard_braking", "night_rain_curve", "no_such_scenario", "x.yaml"]),
)
BAD_OPTIONS = st.one_of(
    st.none(),
    st.dictionaries(
        st.one_of(st.sampled_from(["prompt", "scenario", "reset_mask"]), st.text(max_size=6)),
        OPTION_VALUES,
        max_size=3,
    ),
)


@pytest.fixture(scope="module")
def procedural_env():
    env = gym.make("worldsim/ProceduralDriving-v0")
    env.reset(seed=0)
    yield env
    env.close()


@pytest.fixture(scope="module")
def learned_env():
    env = gym.make("worldsim/DrivingWorld-v0", sampling_steps=1)  # the bundled model
    env.reset(seed=0)
    yield env
    env.close()


def _step_or_clear_error(
    group: str, env: gym.Env | gym.vector.VectorEnv, action: object, shape: tuple[int, ...]
) -> tuple | None:
    """``env.step(action)``; None after a clear worldsim error. An accepted action must have
    been finite, of ``shape``."""
    try:
        result = env.step(action)
    except Exception as exc:
        assert_clear_error(group, exc, "action")
        return None
    arr = np.asarray(action, dtype=np.float64)
    assert arr.shape == shape and np.isfinite(arr).all(), f"accepted {action!r}"
    return result


def _step(group: str, env: gym.Env, action: object) -> None:
    result = _step_or_clear_error(group, env, action, (2,))
    if result is None:
        return
    obs, reward, terminated, truncated, info = result
    arr = np.asarray(action, dtype=np.float64)
    assert env.observation_space.contains(obs) and np.isfinite(reward)
    assert info["action_clipped"] == bool((np.abs(arr) > 1).any())
    accepted(group)
    if terminated or truncated:
        env.reset()


def _reset(group: str, env: gym.Env, options: object) -> None:
    try:
        obs, _ = env.reset(options=options)
    except Exception as exc:
        assert_clear_error(group, exc, "option", "prompt", "scenario", "reset_mask")
        return
    assert env.observation_space.contains(obs)
    accepted(group)


# Per kind of input: its strategy, and the check of one drawn value.
INPUTS = {"actions": (BAD_ACTIONS, _step), "reset_options": (BAD_OPTIONS, _reset)}

# What each single env is fuzzed with: (fixture, input kind, examples); the learned env runs the
# world model on every step and reset, so it gets fewer.
SINGLE_ENV_CASES = [
    ("procedural_env", "actions", 150),
    ("learned_env", "actions", 60),
    ("procedural_env", "reset_options", 60),
    ("learned_env", "reset_options", 30),
]


@pytest.mark.parametrize(("env_fixture", "kind", "examples"), SINGLE_ENV_CASES)
def test_single_env_inputs(
    request: pytest.FixtureRequest, env_fixture: str, kind: str, examples: int
) -> None:
    env = request.getfixturevalue(env_fixture)
    strategy, check = INPUTS[kind]

    @settings(max_examples=examples)
    @given(value=strategy)
    def fuzz(value: object) -> None:
        check(f"env.{kind}", env, value)

    fuzz()


@settings(max_examples=30)
@given(actions=BAD_ACTIONS)
def test_learned_vector_env_actions(actions) -> None:
    if _step_or_clear_error("env.actions", _vector_env(), actions, (2, 2)) is not None:
        accepted("env.actions")


_VECTOR: list[gym.vector.VectorEnv] = []


def _vector_env() -> gym.vector.VectorEnv:
    if not _VECTOR:
        env = gym.make_vec("worldsim/DrivingWorld-v0", num_envs=2, sampling_steps=1)
        env.reset(seed=0)
        _VECTOR.append(env)
    return _VECTOR[0]
