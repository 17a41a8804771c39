"""The x0_residual loss: squared error trains the mean, the smoothed L1 the median."""

from __future__ import annotations

import pytest
import torch

from worldsim.diffusion.flow import FlowConfig
from worldsim.diffusion.prediction import x0_residual_loss


def _fit(kind: str) -> float:
    """Fit one shared change to three frames whose true change is 0, 0 and 1."""
    x0_BT = torch.tensor([0.0, 0.0, 1.0]).reshape(1, 3, 1, 1, 1).expand(1, 3, 2, 2, 2)
    prev_BT = torch.zeros_like(x0_BT)
    t_BT, mask_BT = torch.ones(1, 3), torch.ones(1, 3)
    change = torch.zeros((), requires_grad=True)
    opt = torch.optim.Adam([change], lr=0.02)
    for _ in range(600):
        opt.zero_grad()
        output_BT = change.expand_as(x0_BT)
        x0_residual_loss(output_BT, x0_BT, prev_BT, t_BT, mask_BT, kind).backward()
        opt.step()
    return float(change)


def test_mse_trains_the_mean_and_l1_the_median() -> None:
    assert _fit("mse") == pytest.approx(1 / 3, abs=0.02)
    assert abs(_fit("l1")) < 0.03  # the median of 0, 0, 1


def test_l1_is_zero_at_a_perfect_prediction_and_grows_linearly() -> None:
    x0 = torch.zeros(1, 2, 3, 4, 4)
    ones = torch.ones(1, 2)
    assert float(x0_residual_loss(x0, x0, x0, ones, ones, "l1")) == pytest.approx(0.0, abs=1e-7)
    one = float(x0_residual_loss(x0 + 0.5, x0, x0, ones, ones, "l1"))
    two = float(x0_residual_loss(x0 + 1.0, x0, x0, ones, ones, "l1"))
    assert two == pytest.approx(2 * one, rel=1e-2)


def test_an_unknown_loss_is_refused_with_the_choices() -> None:
    x0 = torch.zeros(1, 2, 3, 4, 4)
    ones = torch.ones(1, 2)
    with pytest.raises(ValueError, match=r"x0_loss='huber'.*'mse', 'l1'"):
        x0_residual_loss(x0, x0, x0, ones, ones, "huber")
    with pytest.raises(ValueError, match=r"x0_loss='l2'"):
        FlowConfig(prediction="x0_residual", x0_loss="l2")


def test_l1_needs_the_residual_prediction() -> None:
    with pytest.raises(ValueError, match="needs diffusion.prediction=x0_residual"):
        FlowConfig(prediction="velocity", x0_loss="l1")
    assert FlowConfig(prediction="x0_residual", x0_loss="l1").x0_loss == "l1"
