"""benchmarks/throughput_targets.py: the early and late frame costs are timed in alternation from
saved row states, each step at the frame it names."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import throughput_targets  # noqa: E402

from worldsim.env.learned.model_cache import load_model  # noqa: E402


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return load_model(None, "cpu", "float32").with_sampling()


def test_paired_cost_steps_from_each_saved_frame(model) -> None:
    states: dict[int, dict] = {}
    times, rss0, rss1 = throughput_targets.long_rollout(model, 12, states)
    assert len(times) == 12 and rss0 > 0 and rss1 > 0
    assert sorted(states) == [10, 22]
    assert states[22]["position"] - states[10]["position"] == 12
    early, late = throughput_targets.paired_frame_cost(model, states, rounds=3)
    assert early > 0 and late > 0
    # Round 3 (index 2) times the early state first, so the last step started from the late one.
    assert int(model.position_B[0]) == states[22]["position"] + 1
    throughput_targets.paired_frame_cost(model, states, rounds=2)  # round 2 ends on the early one
    assert int(model.position_B[0]) == states[10]["position"] + 1


def test_a_step_from_a_saved_state_repeats_the_rollout(model) -> None:
    """Loading the state taken after the warm-up and stepping gives the frame the rollout gave."""
    states: dict[int, dict] = {}
    throughput_targets.long_rollout(model, 1, states)
    motion = np.array([[10.0, 0.05]])
    model.load_row_state(0, states[10])
    first = model.step(motion, generator=torch.Generator().manual_seed(3))
    model.load_row_state(0, states[10])
    again = model.step(motion, generator=torch.Generator().manual_seed(3))
    np.testing.assert_array_equal(first, again)
