"""Captions, prompt parsing, and the coverage of the data-generating policies."""

from __future__ import annotations

import numpy as np
import pytest

from worldsim.sim import Conditions, DrivingPolicy, World, conditions_from_prompt
from worldsim.sim.policies import BEHAVIOURS


def test_caption_names_every_condition() -> None:
    cond = Conditions(time_of_day="night", weather="rain", lanes=3, road="left", traffic="heavy")
    assert cond.caption() == "night, rain, three-lane road curving left, heavy traffic"


def test_prompt_sets_the_conditions_it_names() -> None:
    base = Conditions(time_of_day="day", weather="clear", lanes=2, road="straight")
    cond = conditions_from_prompt("Foggy night on a four-lane road curving right", base)
    assert (cond.time_of_day, cond.weather, cond.lanes, cond.road) == ("night", "fog", 4, "right")
    assert cond.traffic == base.traffic
    assert conditions_from_prompt(cond.caption()) == cond


def test_bad_conditions_name_the_field_and_the_choices() -> None:
    with pytest.raises(ValueError, match=r"weather='hail'.*clear"):
        Conditions(weather="hail")
    with pytest.raises(ValueError, match="unknown condition key"):
        Conditions.from_dict({"wether": "rain"})


def test_policies_cover_the_action_space_and_all_behaviours() -> None:
    actions, behaviours, yaw_rates = [], set(), []
    for seed in range(6):
        world = World(seed=seed, conditions=Conditions(lanes=3, traffic="light"))
        policy = DrivingPolicy(np.random.default_rng(seed))
        for _ in range(150):
            action = policy.act(world)
            behaviours.add(policy.behaviour)
            actions.append(action)
            yaw_rates.append(world.step(action)[1])
    a = np.array(actions)
    hist, _, _ = np.histogram2d(a[:, 0], a[:, 1], bins=4, range=[[-1, 1], [-1, 1]])
    assert (hist > 0).sum() >= 12, hist
    assert a[:, 1].min() < -0.9 and a[:, 1].max() > 0.9  # hard braking and full throttle
    assert np.std(yaw_rates) > 0.05
    assert len(behaviours) >= len(BEHAVIOURS) - 1, behaviours
