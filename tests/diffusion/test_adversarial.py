"""The adversarial term: a patch discriminator whose loss trains only itself, a predictor's loss
that trains only the predictor, and a fit that leaves the grey mean of two outcomes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.conftest import train
from tests.training.test_rollout_training import ROLLOUT, clip, module
from worldsim.diffusion.adversarial import (
    PatchDiscriminator,
    adaptive_weight,
    adversarial_losses,
)
from worldsim.diffusion.flow import FlowConfig
from worldsim.runtime.checkpoint import load_world_model
from worldsim.training.world_model_module import WorldModelModule


def _dashes(offset: int) -> torch.Tensor:
    """(1, C=2, 16, 32) frames with vertical bars of width 2 every 8 columns."""
    x = torch.zeros(1, 2, 16, 32)
    for c in range(offset, 30, 8):
        x[..., c : c + 2] = 1.0
    return x


def test_each_loss_trains_only_its_own_player() -> None:
    torch.manual_seed(0)
    disc = PatchDiscriminator(2, width=4)
    assert disc(torch.rand(3, 2, 16, 32)).shape == (3, 1, 4, 8)
    fake = torch.rand(3, 2, 16, 32, requires_grad=True)
    d_loss, g_loss = adversarial_losses(disc, torch.rand(3, 2, 16, 32), fake)
    d_loss.backward(retain_graph=True)
    assert fake.grad is None  # the discriminator's loss does not move the predictor
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in disc.parameters())
    disc.zero_grad(set_to_none=True)
    g_loss.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert all(p.grad is None for p in disc.parameters())  # nor the predictor's the other


def test_the_adaptive_weight_balances_the_two_pulls_on_the_last_layer() -> None:
    layer = torch.nn.Linear(4, 4)
    out = layer(torch.randn(8, 4))
    rec, adv = out.pow(2).mean(), out.sum()
    w1 = adaptive_weight(rec, adv, layer.weight)
    w2 = adaptive_weight(rec, 2.0 * adv, layer.weight)
    assert not w1.requires_grad and float(w1) > 0
    assert torch.allclose(w2, w1 / 2.0, rtol=1e-3)  # twice the adversarial pull, half the weight


def test_fitting_two_possible_dashes_with_a_discriminator_leaves_the_grey_mean() -> None:
    """The squared error alone fits the half-bright mean of two equally likely dash patterns;
    with the adversarial term the fit moves towards full-contrast bars."""
    a, b = _dashes(2), _dashes(6)
    targets = torch.cat([a, b], dim=0)  # (2, C, H, W): two outcomes of one input

    def fit(weight: float) -> torch.Tensor:
        torch.manual_seed(0)
        out = (0.5 * (a + b) + 0.05 * torch.randn_like(a)).requires_grad_(True)
        disc = PatchDiscriminator(2, width=8)
        opt = torch.optim.Adam([out, *disc.parameters()], lr=0.01, betas=(0.5, 0.9))
        for _ in range(300):
            opt.zero_grad()
            pred = out.expand_as(targets)
            rec = (pred - targets).pow(2).mean()
            d_loss, g_loss = adversarial_losses(disc, targets, pred)
            (rec + d_loss + weight * g_loss).backward()
            opt.step()
        return out.detach()

    plain, adversarial = fit(0.0), fit(0.05)
    # Distance to the nearer of the two outcomes: the grey mean is 0.5 from both at every bar.
    nearer = lambda x: min(float((x - a).abs().mean()), float((x - b).abs().mean()))  # noqa: E731
    assert nearer(adversarial) < 0.5 * nearer(plain)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"adversarial_weight": -1.0, "prediction": "x0_residual"}, "adversarial_weight"),
        ({"adversarial_width": 0, "prediction": "x0_residual"}, "adversarial_width"),
        ({"adversarial_start": -1, "prediction": "x0_residual"}, "adversarial_start"),
        ({"adversarial_lr_scale": 0.0, "prediction": "x0_residual"}, "adversarial_lr_scale"),
        ({"adversarial_weight": 0.1}, "x0_residual"),
    ],
)
def test_bad_adversarial_settings_are_refused(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FlowConfig(**settings)


def adversarial_module(**settings: float) -> WorldModelModule:
    """A tiny residual world model with the adversarial term, every step on a rollout."""
    return module(rollout_prob=1.0, sampler_prob=1.0, **settings)


def test_a_training_step_with_the_adversarial_term_trains_both_players() -> None:
    m = adversarial_module(adversarial_weight=0.5)
    assert m.discriminator is not None
    x0, cond = clip(m)
    m.train()
    loss = m.flow_step({"cond": cond, "caption": ["day", "night"]}, x0=x0)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in m.discriminator.parameters())
    assert m.dit.patch_out.weight.grad is not None
    # A step without a rollout leaves it out: predictions from true frames are not judged.
    m.flow.rollout_prob = 0.0
    m.flow_step({"cond": cond, "caption": ["day", "night"]}, x0=x0)
    assert "adv_d" not in m.terms
    # Validation leaves the term out: its loss stays comparable with a run without it.
    m.zero_grad(set_to_none=True)
    m.eval()
    val = m.flow_step({"cond": cond, "caption": ["day", "night"]}, x0=x0, train=False)
    val.backward()
    assert all(p.grad is None for p in m.discriminator.parameters())


def test_the_discriminator_has_its_own_learning_rate_and_gradient_clip() -> None:
    m = adversarial_module(adversarial_weight=0.5, adversarial_lr_scale=4.0)
    configured = m.configure_optimizers()
    optimizer, scheduler = configured["optimizer"], configured["lr_scheduler"]["scheduler"]
    model_group, disc_group = optimizer.param_groups
    assert {id(p) for p in disc_group["params"]} == {id(p) for p in m.discriminator.parameters()}
    assert not {id(p) for p in model_group["params"]} & {id(p) for p in disc_group["params"]}
    for _ in range(3):
        scheduler.step()
        assert disc_group["lr"] == pytest.approx(4.0 * model_group["lr"])
    # Large discriminator gradients are clipped on their own: the model's stay as they are.
    for p in m.parameters():
        p.grad = torch.full_like(p, 1e-6)
    for p in m.discriminator.parameters():
        p.grad = torch.full_like(p, 100.0)
    m.configure_gradient_clipping(optimizer, 1.0, "norm")
    assert all(torch.all(p.grad == 1e-6) for p in m.predictor_parameters())
    disc_norm = torch.cat([p.grad.flatten() for p in m.discriminator.parameters()]).norm()
    assert float(disc_norm) == pytest.approx(1.0, rel=1e-3)


def test_the_model_is_not_paid_for_fooling_the_discriminator_before_its_head_start() -> None:
    m = adversarial_module(adversarial_weight=0.5, adversarial_start=10)
    x0, cond = clip(m)
    m.train()
    m.flow_step({"cond": cond, "caption": ["day", "day"]}, x0=x0)
    assert float(m.terms["adv_weight"]) == 0.0 and float(m.terms["adv_d"]) > 0


@pytest.mark.slow
def test_an_adversarial_run_resumes_and_exports_only_the_world_model(tmp_path: Path) -> None:
    args = [*ROLLOUT, "init_weights=null", "diffusion.adversarial_weight=0.2", "run_name=adv"]
    args.append("lr_decay_steps=8")  # one schedule for both runs, longer than the warm-up
    train(tmp_path, *args, "trainer.max_steps=2")
    ckpt = tmp_path / "runs" / "adv" / "checkpoints" / "last.ckpt"
    train(tmp_path, *args, "trainer.max_steps=4", f"ckpt_path={ckpt}")
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert state["global_step"] == 4
    assert any(k.startswith("discriminator.") for k in state["state_dict"])
    model = load_world_model(ckpt)  # the runtime reads the DiT and ignores the discriminator
    assert not any("discriminator" in name for name, _ in model.dit.named_parameters())
