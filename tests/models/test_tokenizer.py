"""Frame tokenizer: shapes, scaling, bottlenecks, and learning on real procedural frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from worldsim.models.tokenizer import (
    FrameTokenizer,
    TokenizerConfig,
    frames_to_tensor,
    psnr_tensor,
    tensor_to_frames,
)
from worldsim.sim import Camera, Conditions, DrivingPolicy, World


def procedural_frames(n: int = 8) -> torch.Tensor:
    world = World(seed=0, conditions=Conditions(traffic="moderate"), camera=Camera(32, 56))
    policy = DrivingPolicy(np.random.default_rng(0))
    frames = []
    for _ in range(n):
        frames.append(world.render())
        world.step(policy.act(world))
    return frames_to_tensor(np.stack(frames))


@pytest.mark.parametrize(("mult", "factor"), [((1, 2, 2), 4), ((1, 2, 2, 2), 8)])
def test_compression_factor_and_shapes(mult: tuple[int, ...], factor: int) -> None:
    tok = FrameTokenizer(TokenizerConfig(base_channels=8, channel_mult=mult, latent_channels=6))
    x = torch.rand(2, 3, 32, 56) * 2 - 1
    z = tok.encode(x)
    assert tok.downsample == factor
    assert z.shape == (2, 6, 32 // factor, 56 // factor)
    assert tok.decode(z).shape == x.shape


def test_bad_sizes_and_configs_name_the_problem() -> None:
    tok = FrameTokenizer(TokenizerConfig(base_channels=8, channel_mult=(1, 2, 2)))
    with pytest.raises(ValueError, match=r"30x56 is not divisible by .* 4"):
        tok.encode(torch.zeros(1, 3, 30, 56))
    with pytest.raises(ValueError, match="bottleneck='vq'"):
        TokenizerConfig(bottleneck="vq")
    with pytest.raises(ValueError, match="uint8"):
        frames_to_tensor(np.zeros((2, 4, 4, 3), np.float32))


def test_calibrated_latents_have_unit_variance() -> None:
    torch.manual_seed(0)
    tok = FrameTokenizer(TokenizerConfig(base_channels=8))
    x = procedural_frames()
    tok.calibrate_scale(x)
    with torch.no_grad():
        assert abs(float(tok.encode(x).std()) - 1.0) < 1e-3
    assert "latent_scale" in tok.state_dict()


def test_posterior_sampling_uses_the_generator() -> None:
    tok = FrameTokenizer(TokenizerConfig(base_channels=8))
    x = procedural_frames(2)
    a = tok.encode(x, sample=True, generator=torch.Generator().manual_seed(1))
    b = tok.encode(x, sample=True, generator=torch.Generator().manual_seed(1))
    c = tok.encode(x, sample=True, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_tanh_bottleneck_is_bounded() -> None:
    tok = FrameTokenizer(TokenizerConfig(base_channels=8, bottleneck="tanh"))
    z = tok.encode(torch.rand(2, 3, 32, 56) * 20 - 10)
    assert z.abs().max() <= 1.0


def test_frame_conversion_round_trip() -> None:
    frames = np.random.default_rng(0).integers(0, 256, (3, 8, 10, 3), dtype=np.uint8)
    back = tensor_to_frames(frames_to_tensor(frames)).numpy()
    np.testing.assert_array_equal(back, frames)


@pytest.mark.slow
def test_tokenizer_learns_to_reconstruct_driving_frames() -> None:
    torch.manual_seed(0)
    tok = FrameTokenizer(TokenizerConfig(base_channels=16))
    x = procedural_frames(8)
    opt = torch.optim.Adam(tok.parameters(), lr=2e-3)
    with torch.no_grad():
        before = float(psnr_tensor(tok.decode(tok.encode(x)), x))
    for _ in range(80):
        out = tok(x)
        loss = (out.recon - x).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = float(psnr_tensor(tok.decode(tok.encode(x)), x))
    assert after > before + 6.0, (before, after)
