"""Ground-truth futures from the procedural world."""

from __future__ import annotations

import numpy as np
import pytest

from worldsim.eval.ground_truth import MANEUVERS, make_start, roll_future, switched_conditions


@pytest.fixture(scope="module")
def start():
    return make_start(5, (64, 112), 0.1, context_frames=3, warmup_steps=10)


def test_start_is_seeded(start) -> None:
    again = make_start(5, (64, 112), 0.1, context_frames=3, warmup_steps=10)
    other = make_start(6, (64, 112), 0.1, context_frames=3, warmup_steps=10)
    assert start.context_THWC.shape == (3, 64, 112, 3)
    assert start.past_motion_T2.shape == (2, 2)
    np.testing.assert_array_equal(start.context_THWC, again.context_THWC)
    assert not np.array_equal(start.context_THWC, other.context_THWC)


def test_future_is_repeatable_and_leaves_the_start_alone(start) -> None:
    before = start.world.get_state()
    a = roll_future(start, 8)
    b = roll_future(start, 8)
    np.testing.assert_array_equal(a.frames_HHWC, b.frames_HHWC)
    np.testing.assert_array_equal(a.motion_H2, b.motion_H2)
    assert a.frames_HHWC.shape == (8, 64, 112, 3) and a.motion_H2.shape == (8, 2)
    after = start.world.get_state()
    assert after.s == before.s and after.ego == before.ego
    # the first future frame differs from the last context frame: the world moved
    assert not np.array_equal(a.frames_HHWC[0], start.context_THWC[-1])


def test_maneuvers_command_the_expected_order(start) -> None:
    futures = {m: roll_future(start, 10, m, maneuver_steps=10) for m in MANEUVERS}
    yaw = {m: f.motion_H2[:, 1].mean() for m, f in futures.items()}
    speed = {m: f.motion_H2[:, 0].mean() for m, f in futures.items()}
    assert yaw["left"] > yaw["straight"] > yaw["right"]
    assert speed["accelerate"] > speed["straight"] > speed["brake"]
    with pytest.raises(ValueError, match="unknown"):
        roll_future(start, 2, "reverse")


def test_switched_conditions_differ(start) -> None:
    new = switched_conditions(start.conditions)
    assert new.time_of_day != start.conditions.time_of_day
    assert new.weather != start.conditions.weather
    assert new.lanes == start.conditions.lanes
