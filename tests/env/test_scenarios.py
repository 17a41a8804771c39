"""The scenario library: every packaged file loads, and bad files get errors naming the field."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml

import worldsim
from worldsim.env.scenarios import ScenarioError, list_scenarios, load_scenario, parse_scenario

GOOD = {
    "name": "t",
    "start": {"type": "procedural", "seed": 1, "conditions": {"weather": "fog"}},
    "horizon": 10,
}


def test_library_has_the_required_coverage() -> None:
    names = list_scenarios()
    assert len(names) >= 8
    scenarios = [load_scenario(n) for n in names]
    conds = [s.conditions for s in scenarios if s.conditions is not None]
    assert {c.time_of_day for c in conds} >= {"day", "night"}
    assert {c.weather for c in conds} >= {"clear", "rain", "fog", "snow"}
    assert {c.road for c in conds} & {"left", "right", "winding"}
    assert "heavy" in {c.traffic for c in conds}
    assert {"hard_braking", "lane_change_left"} <= set(names)


@pytest.mark.parametrize("name", list_scenarios())
def test_every_scenario_runs_in_the_procedural_env(name: str) -> None:
    scenario = load_scenario(name)
    if scenario.start_type == "dataset":
        with pytest.raises(ValueError, match="start.type: procedural"):
            gym.make(worldsim.PROCEDURAL_ENV_ID, scenario=name)
        return
    mode = scenario.actions.mode if scenario.actions else "steer_accel"
    env = gym.make(worldsim.PROCEDURAL_ENV_ID, scenario=name, action_mode=mode).unwrapped
    _, info = env.reset(seed=0)
    assert env.horizon == scenario.horizon
    assert info["step"] == 0
    if scenario.prompt is None:
        assert info["caption"] == scenario.conditions.caption()
    for t in range(3):
        action = scenario.actions.action_at(t) if scenario.actions else np.zeros(2, np.float32)
        env.step(action)


def test_scripted_lane_change_ends_one_lane_to_the_left() -> None:
    scenario = load_scenario("lane_change_left")
    env = gym.make(worldsim.PROCEDURAL_ENV_ID, scenario="lane_change_left").unwrapped
    _, info = env.reset(seed=0)
    start_lane = info["lane"]
    for t in range(scenario.horizon):
        _, _, terminated, truncated, info = env.step(scenario.actions.action_at(t))
        assert not terminated
    assert truncated and info["lane"] == start_lane + 1


def test_scripted_actions_hold_or_repeat() -> None:
    data = {
        **GOOD,
        "actions": {
            "segments": [{"action": [0.5, 0], "steps": 2}, {"action": [0, -1], "steps": 1}]
        },
    }
    held = parse_scenario(data).actions
    assert held.sequence(5)[:, 0].tolist() == [0.5, 0.5, 0.0, 0.0, 0.0]
    data["actions"]["repeat"] = True
    assert parse_scenario(data).actions.sequence(4)[:, 0].tolist() == [0.5, 0.5, 0.0, 0.5]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"horizon": None}, "'horizon' is required"),
        ({"horizon": 0}, "horizon=0"),
        ({"colour": 1}, r"unknown field\(s\) \['colour'\]"),
        ({"start": {"type": "carla"}}, r"start.type='carla'.*procedural"),
        ({"start": {"type": "procedural", "conditions": {"weather": "hail"}}}, "weather='hail'"),
        ({"start": {"type": "procedural", "lane": 5}}, "start.lane=5"),
        ({"start": {"type": "dataset", "store": "x"}}, "'episode' is required"),
        ({"actions": {"mode": "throttle", "segments": []}}, "actions.mode='throttle'"),
        ({"actions": {"segments": [{"action": [2, 0], "steps": 1}]}}, r"action=\[2, 0\]"),
        ({"context_frames": "four"}, "'context_frames'='four' must be of type int"),
    ],
)
def test_bad_scenarios_name_the_field(patch: dict, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario({**GOOD, **patch})


def test_load_by_path_and_unknown_name(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(GOOD))
    assert load_scenario(path).conditions.weather == "fog"
    with pytest.raises(ScenarioError, match="unknown scenario 'nope'.*hard_braking"):
        load_scenario("nope")
    bad = tmp_path / "broken.yaml"
    bad.write_text("start: [unclosed")
    with pytest.raises(ScenarioError, match="broken.yaml"):
        load_scenario(bad)
