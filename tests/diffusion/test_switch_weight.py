"""diffusion.switch_weight: the frames right after a caption switch weigh more in the loss."""

from __future__ import annotations

import pytest
import torch

from tests.training.test_rollout_training import clip, module
from worldsim.diffusion.flow import FlowConfig, switch_frame_weights


def test_the_weight_lands_on_the_span_from_each_switch() -> None:
    weights = switch_frame_weights(torch.tensor([0, 2, 5]), frames=6, span=2, weight=4.0)
    assert weights.tolist() == [
        [1.0] * 6,  # no switch in this clip
        [1.0, 1.0, 4.0, 4.0, 1.0, 1.0],
        [1.0, 1.0, 1.0, 1.0, 1.0, 4.0],  # the span ends with the clip
    ]


@pytest.mark.parametrize(("weight", "span"), [(0.0, 1), (-1.0, 1), (2.0, 0)])
def test_bad_switch_settings_are_refused(weight: float, span: int) -> None:
    with pytest.raises(ValueError, match=f"switch_weight={weight} must be > 0 and .*={span}"):
        FlowConfig(switch_weight=weight, switch_span=span)


def loss(
    weight: float, switch_at: list[int], train: bool = True, text_dropout: float = 0.1
) -> float:
    torch.manual_seed(0)  # the same weights for every call
    m = module(
        rollout_prob=0.0,
        switch_weight=weight,
        switch_span=1,
        text_dropout=text_dropout,
        action_dropout=0.0,
    )
    x0, cond = clip(m)
    batch = {
        "cond": cond,
        "caption": ["night, snow", "night, snow"],
        "caption_first": ["day, clear", "day, clear"],
        "switch_at": torch.tensor(switch_at),
    }
    with torch.no_grad():
        return float(m.flow_step(batch, torch.Generator().manual_seed(3), train=train, x0=x0))


def test_the_weight_changes_only_clips_that_switch_and_only_in_training() -> None:
    assert loss(4.0, [0, 0]) == pytest.approx(loss(1.0, [0, 0]), rel=1e-6)
    assert loss(4.0, [3, 3]) != pytest.approx(loss(1.0, [3, 3]), rel=1e-3)
    assert loss(4.0, [3, 3], train=False) == pytest.approx(loss(1.0, [3, 3], train=False))


def test_text_dropout_leaves_the_prompt_of_a_clip_that_switches() -> None:
    # Every prompt is dropped (dropout 1) unless its clip switches: such a clip trains exactly
    # as with no text dropout, and a clip without a switch does not.
    kept, always = loss(4.0, [3, 3], text_dropout=1.0), loss(4.0, [3, 3], text_dropout=0.0)
    assert kept == pytest.approx(always, rel=1e-6)
    dropped, plain = loss(4.0, [0, 0], text_dropout=1.0), loss(4.0, [0, 0], text_dropout=0.0)
    assert dropped != pytest.approx(plain, rel=1e-4)
