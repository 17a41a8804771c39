"""Frame tokenizer: shapes, scaling, bottlenecks, and learning on real procedural frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from worldsim.models.tokenizer import (
    FrameTokenizer,
    TokenizerConfig,
    frames_to_tensor,
    tensor_to_frames,
)
from worldsim.sim import Camera, Conditions, DrivingPolicy, World
from worldsim.utils.psnr import psnr_tensor


def procedural_frames(n: int = 8, size: tuple[int, int] = (32, 56)) -> torch.Tensor:
    """``n`` consecutive rendered driving frames as (n, 3, H, W) in [-1, 1]."""
    world = World(seed=0, conditions=Conditions(traffic="moderate"), camera=Camera(*size))
    policy = DrivingPolicy(np.random.default_rng(0))
    frames = []
    for _ in range(n):
        frames.append(world.render())
        world.step(policy.act(world))
    return frames_to_tensor(np.stack(frames))


def tiny(**kwargs: object) -> FrameTokenizer:
    torch.manual_seed(0)
    return FrameTokenizer(TokenizerConfig(base_channels=8, **kwargs))


@pytest.mark.parametrize(
    ("mult", "channels", "factor"), [((1, 2, 2), 4, 4), ((1, 2, 2, 4), 8, 8), ((1,), 3, 1)]
)
def test_compression_factor_and_shapes(mult: tuple[int, ...], channels: int, factor: int) -> None:
    tok = tiny(channel_mult=mult, latent_channels=channels)
    x = torch.rand(2, 3, 32, 56) * 2 - 1
    with torch.no_grad():
        z = tok.encode(x)
        y = tok.decode(z)
    assert tok.downsample == tok.config.downsample == factor
    assert tok.latent_channels == channels
    assert z.shape == (2, channels, 32 // factor, 56 // factor)
    assert tok.latent_shape(32, 56) == tuple(z.shape[1:])
    assert y.shape == x.shape
    out = tok(x)
    assert out.recon.shape == x.shape and out.mean.shape == z.shape
    assert out.logvar is not None and out.logvar.shape == z.shape


def test_bad_sizes_and_configs_name_the_problem() -> None:
    tok = tiny(channel_mult=(1, 2, 2, 2))
    with pytest.raises(ValueError, match=r"32x60 \(HxW\) is not divisible by .* factor 8"):
        tok.encode(torch.zeros(1, 3, 32, 60))
    with pytest.raises(ValueError, match=r"30x56 .* factor 8"):
        tok.latent_shape(30, 56)
    with pytest.raises(ValueError, match=r"frames must be \(B, 3, H, W\)"):
        tok.encode(torch.zeros(3, 32, 56))
    with pytest.raises(ValueError, match=r"latents must be \(B, 4, h, w\)"):
        tok.decode(torch.zeros(1, 3, 4, 7))
    with pytest.raises(ValueError, match="tokenizer.bottleneck='vq'"):
        TokenizerConfig(bottleneck="vq")
    with pytest.raises(ValueError, match="tokenizer.channel_mult"):
        TokenizerConfig(channel_mult=())
    with pytest.raises(ValueError, match="tokenizer.channel_mult"):
        TokenizerConfig(channel_mult=(1, 0))
    with pytest.raises(ValueError, match="tokenizer.base_channels=0"):
        TokenizerConfig(base_channels=0)
    with pytest.raises(ValueError, match="tokenizer.latent_channels"):
        TokenizerConfig(latent_channels=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="uint8"):
        frames_to_tensor(np.zeros((2, 4, 4, 3), np.float32))


def test_config_accepts_lists_and_odd_channel_counts() -> None:
    cfg = TokenizerConfig(base_channels=12, channel_mult=[1, 2, 2])  # type: ignore[arg-type]
    assert cfg.channel_mult == (1, 2, 2) and cfg.downsample == 4
    z = FrameTokenizer(cfg).encode(torch.zeros(1, 3, 16, 16))
    assert z.shape == (1, 4, 4, 4)


def test_calibrated_latents_have_unit_variance_and_round_trip() -> None:
    tok = tiny().eval()
    x = procedural_frames()
    with torch.no_grad():
        before = tok.decode(tok.encode(x))
        scale = tok.calibrate_scale(x)
        z = tok.encode(x)
        after = tok.decode(z)
    assert scale != 1.0 and float(tok.latent_scale) == pytest.approx(scale)
    assert float(z.std()) == pytest.approx(1.0, abs=1e-3)
    torch.testing.assert_close(after, before, atol=1e-4, rtol=1e-4)  # decode undoes the scale
    state = tok.state_dict()
    assert float(state["latent_scale"]) == pytest.approx(scale)
    fresh = FrameTokenizer(tok.config)
    fresh.load_state_dict(state)
    assert float(fresh.latent_scale) == pytest.approx(scale)


def test_posterior_sampling_uses_only_the_generator() -> None:
    tok = tiny()
    x = procedural_frames(2)
    with torch.no_grad():
        torch.manual_seed(123)
        a = tok.encode(x, sample=True, generator=torch.Generator().manual_seed(1))
        torch.manual_seed(456)  # the global RNG must not matter
        b = tok.encode(x, sample=True, generator=torch.Generator().manual_seed(1))
        c = tok.encode(x, sample=True, generator=torch.Generator().manual_seed(2))
        mean = tok.encode(x)
        r1 = tok(x, generator=torch.Generator().manual_seed(5), sample=True).recon
        r2 = tok(x, generator=torch.Generator().manual_seed(5), sample=True).recon
    assert torch.equal(a, b) and not torch.equal(a, c) and not torch.equal(a, mean)
    assert torch.equal(r1, r2)
    assert torch.equal(tok.eval()(x).recon, tok.eval()(x).recon)  # eval: posterior mean
    with pytest.raises(ValueError, match="Generator"):
        tok.encode(x, sample=True)


def test_tanh_bottleneck_is_bounded_and_deterministic() -> None:
    tok = tiny(bottleneck="tanh")
    x = torch.rand(2, 3, 32, 56) * 20 - 10
    with torch.no_grad():
        z = tok.encode(x)
        zs = tok.encode(x, sample=True, generator=torch.Generator().manual_seed(0))
    assert z.abs().max() <= 1.0
    assert torch.equal(z, zs)
    out = tok(x)
    assert out.logvar is None and out.mean.abs().max() <= 1.0
    with torch.no_grad():
        tok.latent_scale.fill_(2.5)
        assert tok.encode(x).abs().max() <= 2.5


def test_frame_conversion_round_trip() -> None:
    frames = np.random.default_rng(0).integers(0, 256, (2, 3, 8, 10, 3), dtype=np.uint8)
    x = frames_to_tensor(frames)
    assert x.shape == (2, 3, 3, 8, 10) and x.dtype == torch.float32
    assert x.min() >= -1.0 and x.max() <= 1.0
    np.testing.assert_array_equal(tensor_to_frames(x).numpy(), frames)
    np.testing.assert_array_equal(
        tensor_to_frames(frames_to_tensor(torch.from_numpy(frames))), frames
    )


def test_tokenizer_learns_to_reconstruct_driving_frames() -> None:
    tok = tiny(channel_mult=(1, 2, 2))
    x = procedural_frames(8)
    opt = torch.optim.Adam(tok.parameters(), lr=3e-3)
    with torch.no_grad():
        before = float(psnr_tensor(tok.decode(tok.encode(x)), x))
    for _ in range(40):
        out = tok(x, generator=torch.Generator().manual_seed(0))
        loss = (out.recon - x).abs().mean() + (out.recon - x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    tok.eval()
    with torch.no_grad():
        after = float(psnr_tensor(tok.decode(tok.encode(x)), x))
    assert after > before + 8.0 and after > 18.0, (before, after)
