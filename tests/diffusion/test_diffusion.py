"""Flow matching, diffusion forcing, samplers and guidance."""

from __future__ import annotations

import pytest
import torch

from worldsim.diffusion.flow import (
    FlowConfig,
    add_noise,
    sample_forcing_levels,
    sample_logit_normal,
    velocity_target,
)
from worldsim.diffusion.guidance import (
    GuidanceScales,
    combine_guidance,
    drop_conditions,
    guidance_batch,
)
from worldsim.diffusion.samplers import get_sampler, initial_noise, make_schedule


def test_logit_normal_is_in_range_and_seeded() -> None:
    a = sample_logit_normal((1000,), 0.0, 1.0, torch.Generator().manual_seed(1))
    b = sample_logit_normal((1000,), 0.0, 1.0, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert a.min() > 0 and a.max() < 1 and abs(a.median().item() - 0.5) < 0.05


def test_diffusion_forcing_levels_are_per_frame_with_clean_context() -> None:
    cfg = FlowConfig(context_prob=0.5, context_noise_max=0.1)
    t, mask = sample_forcing_levels(4000, 8, cfg, torch.Generator().manual_seed(0))
    assert t.shape == mask.shape == (4000, 8)
    ctx = mask == 0
    assert 0.4 < ctx[:, 0].float().mean() < 0.6  # half of the clips start with context
    assert t[ctx].max() <= 0.1
    # context is always a prefix, and never the whole clip
    assert (ctx[:, 1:] <= ctx[:, :-1]).all() and (~ctx[:, -1]).all()
    # independent levels per frame among noisy frames
    noisy = ~ctx.any(dim=1)
    assert t[noisy].std(dim=1).mean() > 0.1


def test_noise_interpolation_and_velocity() -> None:
    x0, noise = torch.randn(3, 4), torch.randn(3, 4)
    assert torch.allclose(add_noise(x0, noise, torch.zeros(3)), x0)
    assert torch.allclose(add_noise(x0, noise, torch.ones(3)), noise)
    t = torch.full((3,), 0.3)
    eps = 1e-3
    slope = (add_noise(x0, noise, t + eps) - add_noise(x0, noise, t)) / eps
    assert torch.allclose(slope, velocity_target(x0, noise), atol=1e-3)


def test_schedule_endpoints_and_shift() -> None:
    s = make_schedule(8)
    assert s[0] == 1 and s[-1] == 0 and (s[1:] < s[:-1]).all()
    shifted = make_schedule(8, shift=3.0)
    assert (shifted[1:-1] > s[1:-1]).all()
    with pytest.raises(ValueError, match="steps=0"):
        make_schedule(0)


@pytest.mark.parametrize("name", ["euler", "heun"])
def test_samplers_recover_the_target_of_an_exact_velocity_field(name: str) -> None:
    target = torch.randn(2, 3)
    g = torch.Generator().manual_seed(0)
    x1 = initial_noise((2, 3), g)

    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        # exact rectified-flow velocity towards a single point: (x - target) / t
        return (x - target) / t[:, None].clamp_min(1e-6)

    out = get_sampler(name)(velocity, x1, make_schedule(3))
    torch.testing.assert_close(out, target, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="sampler='ddim'"):
        get_sampler("ddim")


def test_heun_is_more_accurate_than_euler_on_a_curved_field() -> None:
    x1 = torch.ones(1, 1)

    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return x * t[:, None]  # dx/dt = x t  ->  x(0) = x(1) exp(-1/2)

    exact = torch.exp(torch.tensor(-0.5))
    schedule = make_schedule(4)
    err_euler = (get_sampler("euler")(velocity, x1, schedule) - exact).abs().item()
    err_heun = (get_sampler("heun")(velocity, x1, make_schedule(4)) - exact).abs().item()
    assert err_heun < err_euler


def test_condition_dropout_rates_are_separate() -> None:
    g = torch.Generator().manual_seed(0)
    prompts = ["night"] * 4000
    valid = torch.ones(4000, 3, dtype=torch.bool)
    new_prompts, new_valid = drop_conditions(prompts, valid, 0.3, 0.1, g)
    text_rate = sum(p == "" for p in new_prompts) / 4000
    action_rate = (~new_valid[:, 0]).float().mean().item()
    assert abs(text_rate - 0.3) < 0.03 and abs(action_rate - 0.1) < 0.03


def test_condition_dropout_keeps_the_marked_prompts() -> None:
    valid = torch.ones(4, 3, dtype=torch.bool)
    keep = torch.tensor([True, False, True, False])
    prompts, _ = drop_conditions(["a", "b", "c", "d"], valid, 1.0, 0.0, keep_text_B=keep)
    assert prompts == ["a", "", "c", ""]
    with pytest.raises(ValueError, match=r"keep_text_B has shape \(2,\); expected \(4,\)"):
        drop_conditions(["a", "b", "c", "d"], valid, 1.0, 0.0, keep_text_B=keep[:2])


def test_guidance_branches_and_combination() -> None:
    valid = torch.ones(2, 1, dtype=torch.bool)
    plain = GuidanceScales(1.0, 1.0)
    prompts, v = guidance_batch(["a", "b"], valid, plain)
    assert prompts == ["a", "b"] and plain.branches == 1
    both = GuidanceScales(text=2.0, action=3.0)
    prompts, v = guidance_batch(["a", "b"], valid, both)
    assert prompts == ["a", "b", "a", "b", "", ""]
    assert v[:, 0].tolist() == [True, True, False, False, False, False]
    full, text_only, none = torch.full((2, 1), 5.0), torch.full((2, 1), 3.0), torch.ones(2, 1)
    out = combine_guidance(torch.cat([full, text_only, none]), 2, both)
    assert torch.allclose(out, none + 2.0 * (text_only - none) + 3.0 * (full - text_only))
    only_action = GuidanceScales(text=1.0, action=2.0)
    out = combine_guidance(torch.cat([full, text_only]), 2, only_action)
    assert torch.allclose(out, text_only + 2.0 * (full - text_only))


@pytest.mark.parametrize("name", ["guidance_text", "guidance_action"])
@pytest.mark.parametrize("value", [-0.5, float("nan")])
def test_sampling_config_refuses_a_negative_guidance_scale(name: str, value: float) -> None:
    from worldsim.diffusion.samplers import SamplingConfig

    with pytest.raises(ValueError, match=f"{name}=(-0.5|nan) must be >= 0"):
        SamplingConfig(**{name: value})
    assert getattr(SamplingConfig(**{name: 0.0}), name) == 0.0  # the condition left out
