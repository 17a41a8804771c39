"""The action codec: Box and Discrete spaces as JSON, and raw actions as conditioning vectors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from gymnasium import spaces

from worldsim.data import action_codec
from worldsim.data.action_codec import action_dim, encode_actions, space_to_dict
from worldsim.data.sources import gym as gym_source


def test_spaces_as_plain_json() -> None:
    box = space_to_dict(
        spaces.Box(np.array([-1, 0], np.float32), np.array([1, np.inf], np.float32))
    )
    assert box == {"type": "Box", "shape": [2], "low": [-1.0, 0.0], "high": [1.0, float("inf")]}
    discrete = space_to_dict(spaces.Discrete(3, start=1))
    assert discrete == {"type": "Discrete", "n": 3, "start": 1}
    assert json.loads(json.dumps(discrete)) == discrete
    with pytest.raises(ValueError, match="Box or Discrete"):
        space_to_dict(spaces.MultiBinary(4))


def test_action_dim_is_the_width_of_the_encoding() -> None:
    grid = space_to_dict(spaces.Box(-1.0, 1.0, (2, 3)))
    assert action_dim(grid) == 6 and encode_actions(np.zeros((5, 2, 3)), grid).shape == (5, 6)
    assert action_dim({"type": "Discrete", "n": 4, "start": 0}) == 4


def test_discrete_actions_are_one_hot_from_the_start_value() -> None:
    space = {"type": "Discrete", "n": 3, "start": 1}
    onehot = encode_actions(np.array([[1.0], [3.0], [2.0]]), space)
    np.testing.assert_array_equal(onehot, np.eye(3, dtype=np.float32)[[0, 2, 1]])
    assert onehot.dtype == np.float32


def test_box_actions_scale_to_unit_range_where_bounded() -> None:
    bounds = np.array([0.0, -np.inf], np.float32), np.array([10.0, np.inf], np.float32)
    space = space_to_dict(spaces.Box(*bounds))
    encoded = encode_actions(np.array([[0.0, 7.0], [5.0, -3.0], [10.0, 0.0]]), space)
    np.testing.assert_allclose(encoded, [[-1.0, 7.0], [0.0, -3.0], [1.0, 0.0]])
    assert encoded.dtype == np.float32


def test_the_gym_source_still_exports_the_codec() -> None:
    for name in ("space_to_dict", "action_dim", "encode_actions"):
        assert getattr(gym_source, name) is getattr(action_codec, name)
