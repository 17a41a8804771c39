"""The texture term: pooled gradient energy, which a blurred frame lacks and a shifted one
keeps."""

from __future__ import annotations

import pytest
import torch

from worldsim.diffusion.flow import FlowConfig
from worldsim.diffusion.texture_loss import gradient_energy, texture_loss


def _dashes(offset: int) -> torch.Tensor:
    """(1, 1, C=2, 16, 32) frames with vertical bars of width 2 every 8 columns."""
    x = torch.zeros(1, 1, 2, 16, 32)
    for c in range(offset, 30, 8):
        x[..., c : c + 2] = 1.0
    return x


def test_a_small_shift_costs_less_than_a_blur() -> None:
    truth = _dashes(2)
    shifted = _dashes(3)
    blurred = 0.5 * (_dashes(2) + _dashes(6))  # the mean of two guesses: half-bright bars
    mask = torch.ones(1, 1)
    shift_cost = float(texture_loss(shifted, truth, mask, pool=8))
    blur_cost = float(texture_loss(blurred, truth, mask, pool=8))
    assert shift_cost < 0.1 * blur_cost
    assert float(texture_loss(truth, truth, mask, pool=8)) == 0.0


def test_energy_shape_and_refusal() -> None:
    assert gradient_energy(torch.rand(3, 4, 32, 56), 4).shape == (3, 1, 8, 14)
    with pytest.raises(ValueError, match="pool=0"):
        gradient_energy(torch.rand(1, 1, 4, 4), 0)


def test_fitting_two_possible_dashes_with_the_texture_term_draws_one() -> None:
    """The squared error alone fits the half-bright mean of two equally likely dash positions,
    whose edge energy is far below either outcome's; the texture term brings it closer."""
    a, b = _dashes(2), _dashes(6)
    targets = torch.cat([a, b], dim=1)  # (1, 2, C, H, W): two outcomes of one input

    def fit(weight: float) -> torch.Tensor:
        torch.manual_seed(0)
        out = (0.5 * (a + b) + 0.05 * torch.randn_like(a)).requires_grad_(True)
        opt = torch.optim.Adam([out], lr=0.02)
        mask = torch.ones(1, 2)
        for _ in range(400):
            opt.zero_grad()
            pred = out.expand_as(targets)
            loss = (pred - targets).pow(2).mean() + weight * texture_loss(pred, targets, mask, 8)
            loss.backward()
            opt.step()
        return out.detach()

    plain, textured = fit(0.0), fit(20.0)
    energy = lambda x: float(gradient_energy(x.flatten(0, 1), 8).mean())  # noqa: E731
    truth = energy(a)
    assert abs(energy(textured) - truth) < 0.5 * abs(energy(plain) - truth)


def test_texture_weight_is_checked() -> None:
    with pytest.raises(ValueError, match="texture_weight=-1"):
        FlowConfig(prediction="x0_residual", texture_weight=-1.0)
    with pytest.raises(ValueError, match="needs diffusion.prediction=x0_residual"):
        FlowConfig(prediction="velocity", texture_weight=1.0)
    with pytest.raises(ValueError, match="texture_pool=0"):
        FlowConfig(prediction="x0_residual", texture_pool=0)


def _texture_loss(texture_weight: float, min_level: float, sampler_prob: float) -> float:
    from tests.training.test_rollout_training import clip, module

    torch.manual_seed(0)  # the same weights for every call
    m = module(
        rollout_prob=0.0,
        texture_weight=texture_weight,
        texture_min_level=min_level,
        sampler_prob=sampler_prob,
        text_dropout=0.0,
        action_dropout=0.0,
    )
    x0, cond = clip(m)
    batch = {"cond": cond, "caption": ["day, clear", "day, clear"]}
    with torch.no_grad():
        return float(m.flow_step(batch, torch.Generator().manual_seed(3), train=True, x0=x0))


def test_texture_min_level_keeps_the_term_off_partly_noisy_frames() -> None:
    plain = _texture_loss(0.0, 0.0, 0.0)
    # Logit-normal levels are below 1: at min level 1 the term counts no frame.
    assert _texture_loss(50.0, 1.0, 0.0) == pytest.approx(plain, rel=1e-6)
    assert _texture_loss(50.0, 0.0, 0.0) > plain * 1.01  # every frame counts by default
    # The frames at the one-step sampler's input (level 1) still count.
    at_start = _texture_loss(0.0, 1.0, 1.0)
    assert _texture_loss(50.0, 1.0, 1.0) > at_start * 1.01


def test_texture_min_level_is_checked() -> None:
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=f"texture_min_level={bad} must lie in"):
            FlowConfig(prediction="x0_residual", texture_min_level=bad)
