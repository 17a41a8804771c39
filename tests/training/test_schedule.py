"""Learning-rate multipliers: warm-up, then constant or cosine decay."""

from __future__ import annotations

import numpy as np
import pytest

from worldsim.training.schedule import warmup_lambda


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
