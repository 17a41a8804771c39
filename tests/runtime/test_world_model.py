"""WorldModel streaming generation on a tiny randomly initialised model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.models.test_dit import randomized
from worldsim.eval.pixel_motion import horizontal_shift
from worldsim.models.dit import DiTConfig, VideoDiT
from worldsim.models.patch_tokenizer import PatchTokenizer, PatchTokenizerConfig
from worldsim.models.text import ByteTextEncoder, TextEncoderConfig
from worldsim.models.tokenizer import FrameTokenizer, TokenizerConfig
from worldsim.runtime.world_model import SamplingConfig, WorldModel, WorldModelParts

H, W = 32, 56


def tiny_world_model(
    use_cache: bool = True, residual: bool = False, warp: bool = False, **sampling: object
) -> WorldModel:
    torch.manual_seed(0)
    tokenizer: FrameTokenizer | PatchTokenizer
    if warp:  # the bundled recipe's setting: warped as pixels
        tokenizer = PatchTokenizer(PatchTokenizerConfig(factor=2))
    else:
        tokenizer = FrameTokenizer(TokenizerConfig(base_channels=8, channel_mult=(1, 2, 2)))
    text = ByteTextEncoder(TextEncoderConfig(dim=32, layers=1, heads=2))
    down = tokenizer.downsample
    dit = VideoDiT(
        DiTConfig(
            latent_channels=tokenizer.latent_channels,
            latent_height=H // down,
            latent_width=W // down,
            patch_size=2,
            dim=32,
            depth=2,
            heads=2,
            text_dim=text.dim,
            context_window=3,
            prev_frame_input=residual,
            yaw_warp_hfov_deg=70.0 if warp else 0.0,
        )
    )
    randomized(dit)
    values = {"steps": 2, "context_noise": 0.1, **sampling}
    parts = WorldModelParts(
        tokenizer,
        dit,
        text,
        motion_mean=[10.0, 0.0],
        motion_std=[5.0, 0.2],
        dt=0.1,
        prediction="x0_residual" if residual else "velocity",
    )
    return WorldModel.from_parts(parts, SamplingConfig(**values), use_cache=use_cache)


def context(batch: int = 2, frames: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (batch, frames, H, W, 3), dtype=np.uint8)


def motions(batch: int = 2, steps: int = 6) -> np.ndarray:
    m = np.zeros((batch, steps, 2), np.float32)
    m[..., 0] = 10.0
    m[0, :, 1] = 0.2
    m[1, :, 1] = -0.2
    return m


def run(model: WorldModel, seed: int = 0, steps: int = 6) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    past = np.full((2, 1, 2), [10.0, 0.0], np.float32)
    return model.rollout(context(), motions(steps=steps), ["day", "night, rain"], past, g)


def test_rollout_shapes_and_dtype() -> None:
    frames = run(tiny_world_model())
    assert frames.shape == (2, 6, H, W, 3) and frames.dtype == np.uint8


@pytest.mark.parametrize(("residual", "warp"), [(False, False), (True, False), (True, True)])
def test_kv_cached_rollout_equals_uncached(residual: bool, warp: bool) -> None:
    # 8 steps with a window of 3 frames: the cache has rolled over several times.
    cached = run(tiny_world_model(use_cache=True, residual=residual, warp=warp), steps=8)
    uncached = run(tiny_world_model(use_cache=False, residual=residual, warp=warp), steps=8)
    diff = np.abs(cached.astype(int) - uncached.astype(int))
    assert diff.max() <= 1, diff.max()


def switched_run(model: WorldModel, steps: int = 7, switch: int = 3) -> np.ndarray:
    """``steps`` frames whose prompts switch before frame ``switch`` (in row 0 only)."""
    g = torch.Generator().manual_seed(0)
    past = np.full((2, 1, 2), [10.0, 0.0], np.float32)
    model.reset(context(), ["day", "night, rain"], past, g)
    out = []
    for t in range(steps):
        prompts = ["night, snow", "night, rain"] if t == switch else None
        out.append(model.step(motions(steps=steps)[:, t], prompts=prompts, generator=g))
    return np.stack(out, axis=1)


def test_a_prompt_switched_mid_rollout_gives_the_same_frames_cached_and_uncached() -> None:
    # The uncached reference conditions every past frame on the text it was generated with
    # (one text per frame), as the KV cache keeps the keys and values computed under it.
    cached = switched_run(tiny_world_model(use_cache=True, residual=True, warp=True))
    uncached = switched_run(tiny_world_model(use_cache=False, residual=True, warp=True))
    assert np.abs(cached.astype(int) - uncached.astype(int)).max() <= 1
    plain = run(tiny_world_model(use_cache=True, residual=True, warp=True), steps=7)
    assert np.array_equal(cached[1], plain[1]) and np.array_equal(cached[0, :3], plain[0, :3])
    assert np.abs(cached[0, 3:].astype(int) - plain[0, 3:].astype(int)).max() > 1


def test_residual_model_with_zero_output_repeats_the_last_context_frame() -> None:
    # x0_residual: a network that outputs zeros predicts "nothing changes"; with no context
    # noise every generated frame is the tokenizer's reconstruction of the last context frame.
    model = tiny_world_model(residual=True, context_noise=0.0)
    torch.nn.init.zeros_(model.dit.patch_out.weight)
    torch.nn.init.zeros_(model.dit.patch_out.bias)
    ctx = context()
    frames = model.rollout(ctx, motions(steps=3), "day", generator=torch.Generator().manual_seed(0))
    recon = model.decode(model.encode(torch.as_tensor(ctx[:, -1])))
    for step in range(3):
        assert np.abs(frames[:, step].astype(int) - recon.astype(int)).max() <= 1
    # The velocity model with the same zero output keeps the noise instead.
    plain = tiny_world_model(context_noise=0.0)
    torch.nn.init.zeros_(plain.dit.patch_out.weight)
    torch.nn.init.zeros_(plain.dit.patch_out.bias)
    noisy = plain.rollout(ctx, motions(steps=1), "day", generator=torch.Generator().manual_seed(0))
    assert np.abs(noisy[:, 0].astype(int) - recon.astype(int)).mean() > 5


def test_warping_model_with_zero_output_turns_the_view_with_the_yaw() -> None:
    # With the yaw warp, "nothing else changes" already obeys the steering: a left turn
    # (positive yaw rate) moves the scene right in the image, a right turn moves it left.
    model = tiny_world_model(residual=True, warp=True, context_noise=0.0)
    torch.nn.init.zeros_(model.dit.patch_out.weight)
    torch.nn.init.zeros_(model.dit.patch_out.bias)
    rng = np.random.default_rng(3)
    row = np.repeat(rng.integers(0, 256, (1, 1, 1, W, 3)), H, axis=2)  # vertical stripes
    ctx = np.repeat(row, 2, axis=0).astype(np.uint8)
    m = np.zeros((2, 3, 2), np.float32)
    m[..., 0] = 10.0
    m[0, :, 1], m[1, :, 1] = 0.3, -0.3
    frames = model.rollout(ctx, m, "day", generator=torch.Generator().manual_seed(0))
    last = model.decode(model.encode(torch.as_tensor(ctx[:, -1])))
    shift = horizontal_shift(last, frames[:, -1])
    assert shift[0] > 2.0 and shift[1] < -2.0, shift


def test_same_generator_same_rollout() -> None:
    a = run(tiny_world_model(), seed=3)
    b = run(tiny_world_model(), seed=3)
    c = run(tiny_world_model(), seed=4)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 0.5


@pytest.mark.parametrize(("text", "action"), [(2.0, 1.0), (1.0, 2.0), (1.5, 3.0)])
def test_guidance_runs_every_branch_combination(text: float, action: float) -> None:
    model = tiny_world_model(guidance_text=text, guidance_action=action)
    frames = run(model, steps=2)
    assert frames.shape == (2, 2, H, W, 3)
    branches = 1 + (text != 1.0) + (action != 1.0)
    assert model.cache.valid_BN.shape[0] == 2 * branches


def test_step_api_and_prompt_switch() -> None:
    model = tiny_world_model()
    g = torch.Generator().manual_seed(0)
    model.reset(context(), "day", generator=g)
    first = model.step(np.array([[10.0, 0.0], [5.0, 0.1]]), generator=g)
    second = model.step(np.array([[10.0, 0.0], [5.0, 0.1]]), prompts="night, snow", generator=g)
    assert first.shape == second.shape == (2, H, W, 3)
    assert model.position == 4


def test_bad_inputs_raise_clear_errors() -> None:
    model = tiny_world_model()
    with pytest.raises(RuntimeError, match="reset"):
        model.step(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="uint8"):
        model.reset(context().astype(np.float32), "day")
    with pytest.raises(ValueError, match=r"\(16, 16\) but the model generates \(32, 56\)"):
        model.reset(np.zeros((2, 2, 16, 16, 3), np.uint8), "day")
    model.reset(context(), "day")
    with pytest.raises(ValueError, match="finite"):
        model.step(np.array([[np.nan, 0.0], [1.0, 0.0]]))
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        model.step(np.zeros(2))
    with pytest.raises(ValueError, match="3 prompts for a batch of 2"):
        model.reset(context(), ["a", "b", "c"])


def test_sampling_config_lives_next_to_the_samplers() -> None:
    from worldsim import runtime
    from worldsim.diffusion import samplers

    assert SamplingConfig is samplers.SamplingConfig is runtime.SamplingConfig


def test_with_sampling_keeps_every_runtime_setting() -> None:
    model = tiny_world_model(use_cache=False, residual=True)
    model.metadata["checkpoint"] = "x"
    other = model.with_sampling(steps=3, guidance_text=2.0)
    assert (other.sampling.steps, other.sampling.guidance_text) == (3, 2.0)
    assert other.sampling.context_noise == model.sampling.context_noise
    assert (other.use_cache, other.prediction, other.dtype) == (False, "x0_residual", model.dtype)
    assert other.device == model.device and other.metadata == model.metadata
    assert other.parts.dit is model.dit and other.parts.motion_std == model.parts.motion_std
    assert other.dt == model.dt and other.cache is None
    with pytest.raises(ValueError, match="unknown sampling settings"):
        model.with_sampling(stepz=3)


@pytest.mark.parametrize("guidance_text", [1.0, 2.0])
def test_row_state_round_trip_restores_a_row_exactly(guidance_text: float) -> None:
    model = tiny_world_model(residual=True, warp=True, guidance_text=guidance_text)
    with pytest.raises(RuntimeError, match="reset"):
        model.row_state(0)
    model.reset(context(), ["day", "night"], generator=torch.Generator().manual_seed(0))
    motion = np.array([[10.0, 0.2], [8.0, -0.1]], np.float32)
    state = model.row_state(0)
    first = model.step(motion, generator=torch.Generator().manual_seed(1))
    model.step(motion, prompts=["snow", "night"], generator=torch.Generator().manual_seed(2))
    model.load_row_state(0, state)
    assert model.prompts == ("day", "night") and int(model.position_B[0]) == 2
    again = model.step(motion, generator=torch.Generator().manual_seed(1))
    np.testing.assert_array_equal(again[0], first[0])


def test_the_deterministic_sampler_draws_no_noise() -> None:
    """At temperature 0 the denoising starts from zeros: the generator is left as it was, so
    only the context noise of a commit draws from it, and two generators that differ only in
    what the sampler would have drawn give the same frames."""
    model = tiny_world_model(residual=True, temperature=0.0, steps=1)
    g = torch.Generator().manual_seed(3)
    model.reset(context(), "clear day", generator=g)
    motion = torch.as_tensor(motions()[:, 0])
    before = g.get_state()
    model.sample_latents(motion, g)
    assert torch.equal(g.get_state(), before)
    stochastic = tiny_world_model(residual=True, temperature=1.0, steps=1)
    stochastic.reset(context(), "clear day", generator=g)
    before = g.get_state()
    stochastic.sample_latents(motion, g)
    assert not torch.equal(g.get_state(), before)
