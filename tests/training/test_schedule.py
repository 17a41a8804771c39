"""Learning-rate multipliers: warm-up, then constant or cosine decay."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from worldsim.training.schedule import clip_each, warmup_lambda


def test_warmup_then_constant() -> None:
    f = warmup_lambda(10)
    assert f(0) == pytest.approx(0.1) and f(9) == 1.0 and f(1000) == 1.0


def test_warmup_then_cosine_to_the_final_ratio() -> None:
    f = warmup_lambda(10, decay_steps=110, final_ratio=0.1)
    values = np.array([f(s) for s in range(10, 200)])
    assert values[0] == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.55)  # half-way down the cosine
    assert f(110) == pytest.approx(0.1) and f(500) == pytest.approx(0.1)
    assert (np.diff(values) <= 1e-12).all()


def test_decay_must_end_after_the_warmup() -> None:
    with pytest.raises(ValueError, match="lr_decay_steps=5"):
        warmup_lambda(10, decay_steps=5)


def test_clip_each_clips_every_group_on_its_own() -> None:
    small, large = torch.nn.Parameter(torch.zeros(4)), torch.nn.Parameter(torch.zeros(4))
    for algorithm, check in (("norm", lambda g: g.norm()), ("value", lambda g: g.abs().max())):
        small.grad, large.grad = torch.full((4,), 1e-3), torch.full((4,), 100.0)
        clip_each([[small], [large]], 1.0, algorithm)
        assert torch.all(small.grad == 1e-3)  # a shared norm would have shrunk it
        assert float(check(large.grad)) == pytest.approx(1.0, rel=1e-3)
    large.grad = torch.full((4,), 100.0)
    clip_each([[large]], 0.0, "norm")  # unset: nothing clipped
    assert torch.all(large.grad == 100.0)
