"""VideoDiT on a tiny config: shapes, adaLN-Zero, causality, and the KV cache."""

from __future__ import annotations

import pytest
import torch

from worldsim.models.dit import DiTConfig, VideoDiT

B, T, L_TEXT = 2, 7, 5


def tiny_config(**overrides: object) -> DiTConfig:
    values = dict(
        latent_channels=4,
        latent_height=8,
        latent_width=14,
        patch_size=2,
        dim=64,
        depth=2,
        heads=4,
        text_dim=32,
        context_window=4,
    )
    values.update(overrides)
    return DiTConfig(**values)


def randomized(model: VideoDiT, seed: int = 0) -> VideoDiT:
    """Give the zero-initialised layers random weights so every path is exercised."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if (p == 0).all():
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return model


def inputs(seed: int = 0, frames: int = T) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return dict(
        latents_BTCHW=torch.randn(B, frames, 4, 8, 14, generator=g),
        t_BT=torch.rand(B, frames, generator=g),
        motion_BT2=torch.randn(B, frames, 2, generator=g),
        motion_valid_BT=torch.ones(B, frames, dtype=torch.bool),
        text_BLD=torch.randn(B, L_TEXT, 32, generator=g),
        text_mask_BL=torch.tensor([[True] * L_TEXT, [True, True, False, False, False]]),
        text_pooled_BD=torch.randn(B, 32, generator=g),
    )


def test_output_shape_and_fresh_model_outputs_zeros() -> None:
    torch.manual_seed(0)
    model = VideoDiT(tiny_config())
    out = model(**inputs())
    assert out.shape == (B, T, 4, 8, 14)
    assert torch.count_nonzero(out) == 0


def test_causality_future_frames_do_not_affect_the_past() -> None:
    torch.manual_seed(0)
    model = randomized(VideoDiT(tiny_config()))
    base = inputs()
    out = model(**base)
    for k in (1, 3, 6):
        changed = dict(base)
        changed["latents_BTCHW"] = base["latents_BTCHW"].clone()
        changed["latents_BTCHW"][:, k] += 1.0
        changed["motion_BT2"] = base["motion_BT2"].clone()
        changed["motion_BT2"][:, k] += 1.0
        out2 = model(**changed)
        torch.testing.assert_close(out2[:, :k], out[:, :k], rtol=0, atol=0)
        assert (out2[:, k] - out[:, k]).abs().max() > 1e-3


def test_cached_streaming_equals_full_forward() -> None:
    torch.manual_seed(0)
    model = randomized(VideoDiT(tiny_config()))
    x = inputs(frames=10)  # longer than the context window of 4
    full = model(**x)
    cache = model.new_cache()
    outs = []
    for i in range(10):
        outs.append(
            model.forward_step(
                x["latents_BTCHW"][:, i],
                x["t_BT"][:, i],
                x["motion_BT2"][:, i],
                x["motion_valid_BT"][:, i],
                x["text_BLD"],
                x["text_mask_BL"],
                x["text_pooled_BD"],
                cache,
                position=i,
                commit=True,
            )
        )
        assert cache.length == min(i + 1, 3)
    torch.testing.assert_close(torch.stack(outs, 1), full, rtol=1e-4, atol=1e-5)


def test_cache_memory_is_bounded() -> None:
    model = randomized(VideoDiT(tiny_config()))
    x = inputs(frames=1)
    cache = model.new_cache()
    sizes = []
    for i in range(40):
        model.forward_step(
            x["latents_BTCHW"][:, 0],
            x["t_BT"][:, 0],
            x["motion_BT2"][:, 0],
            x["motion_valid_BT"][:, 0],
            x["text_BLD"],
            x["text_mask_BL"],
            x["text_pooled_BD"],
            cache,
            position=i,
            commit=True,
        )
        sizes.append(cache.nbytes())
    assert sizes[-1] == sizes[3] == max(sizes)


def test_text_padding_is_ignored() -> None:
    model = randomized(VideoDiT(tiny_config()))
    x = inputs()
    out = model(**x)
    padded = dict(x)
    padded["text_BLD"] = x["text_BLD"].clone()
    padded["text_BLD"][1, 2:] = 100.0  # masked positions of row 1
    torch.testing.assert_close(model(**padded), out)


def test_bad_configs_and_shapes_name_the_problem() -> None:
    with pytest.raises(ValueError, match="latent_height=9 is not divisible"):
        tiny_config(latent_height=9)
    with pytest.raises(ValueError, match="heads"):
        tiny_config(dim=60, heads=8)
    model = VideoDiT(tiny_config())
    x = inputs()
    x["latents_BTCHW"] = torch.zeros(B, T, 4, 16, 14)
    with pytest.raises(ValueError, match=r"\(4, 16, 14\).*\(4, 8, 14\)"):
        model(**x)


@pytest.mark.slow
def test_tiny_model_overfits_one_clip() -> None:
    """Loss on a fixed set of noise draws falls more than 10x when training on one clip."""
    torch.manual_seed(0)
    from worldsim.diffusion.flow import FlowConfig, add_noise, flow_loss, sample_forcing_levels

    model = VideoDiT(tiny_config(depth=2, dim=64, context_window=4))
    x = inputs(frames=4)
    x0 = x.pop("latents_BTCHW")
    x.pop("t_BT")
    cfg = FlowConfig(context_prob=0.0)
    g = torch.Generator().manual_seed(0)
    probe = [
        sample_forcing_levels(B, 4, cfg, g) + (torch.randn(x0.shape, generator=g),)
        for _ in range(8)
    ]

    def probe_loss() -> float:
        with torch.no_grad():
            return sum(
                flow_loss(model(add_noise(x0, n, t), t, **x), n - x0, m).item() for t, m, n in probe
            ) / len(probe)

    before = probe_loss()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(400):
        t, mask = sample_forcing_levels(B, 4, cfg, g)
        noise = torch.randn(x0.shape, generator=g)
        loss = flow_loss(model(add_noise(x0, noise, t), t, **x), noise - x0, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = probe_loss()
    assert after < before / 10, (before, after)
