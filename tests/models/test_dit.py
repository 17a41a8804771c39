"""VideoDiT on a tiny config: shapes, adaLN-Zero, causality, and the KV cache."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from worldsim.models.conditioning import per_frame_text
from worldsim.models.dit import DiTConfig, FrameConditioning, VideoDiT

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


def inputs(seed: int = 0, frames: int = T) -> tuple[torch.Tensor, FrameConditioning]:
    """Random latents ``(B, T, C, h, w)`` and the conditioning of a clip of ``frames``."""
    g = torch.Generator().manual_seed(seed)
    latents_BTCHW = torch.randn(B, frames, 4, 8, 14, generator=g)
    cond = FrameConditioning(
        levels=torch.rand(B, frames, generator=g),
        motion=torch.randn(B, frames, 2, generator=g),
        motion_valid=torch.ones(B, frames, dtype=torch.bool),
        text_tokens=torch.randn(B, L_TEXT, 32, generator=g),
        text_mask=torch.tensor([[True] * L_TEXT, [True, True, False, False, False]]),
        text_pooled=torch.randn(B, 32, generator=g),
    )
    return latents_BTCHW, cond


def test_output_shape_and_fresh_model_outputs_zeros() -> None:
    torch.manual_seed(0)
    model = VideoDiT(tiny_config())
    out = model(*inputs())
    assert out.shape == (B, T, 4, 8, 14)
    assert torch.count_nonzero(out) == 0


def test_causality_future_frames_do_not_affect_the_past() -> None:
    torch.manual_seed(0)
    model = randomized(VideoDiT(tiny_config()))
    latents, cond = inputs()
    out = model(latents, cond)
    for k in (1, 3, 6):
        changed_latents = latents.clone()
        changed_latents[:, k] += 1.0
        changed_motion = cond.motion.clone()
        changed_motion[:, k] += 1.0
        out2 = model(changed_latents, replace(cond, motion=changed_motion))
        torch.testing.assert_close(out2[:, :k], out[:, :k], rtol=0, atol=0)
        assert (out2[:, k] - out[:, k]).abs().max() > 1e-3


def test_cached_streaming_equals_full_forward() -> None:
    torch.manual_seed(0)
    model = randomized(VideoDiT(tiny_config()))
    latents, cond = inputs(frames=10)  # longer than the context window of 4
    full = model(latents, cond)
    cache = model.new_cache()
    outs = []
    for i in range(10):
        outs.append(
            model.forward_step(latents[:, i], cond.frame(i), cache, position=i, commit=True)
        )
        assert cache.length == min(i + 1, 3)
    torch.testing.assert_close(torch.stack(outs, 1), full, rtol=1e-4, atol=1e-5)


def test_previous_frame_input_streams_like_the_full_forward() -> None:
    torch.manual_seed(0)
    model = randomized(VideoDiT(tiny_config(prev_frame_input=True)))
    latents, cond = inputs(frames=6)
    cond = replace(cond, prev_latents=torch.randn(latents.shape))
    full = model(latents, cond)
    cache = model.new_cache()
    outs = [model.forward_step(latents[:, i], cond.frame(i), cache, i, True) for i in range(6)]
    torch.testing.assert_close(torch.stack(outs, 1), full, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(
        model(latents, FrameConditioning.stack([cond.frame(i) for i in range(6)])),
        full,
        rtol=0,
        atol=0,
    )
    with pytest.raises(ValueError, match="prev_latents"):
        model(latents, replace(cond, prev_latents=None))


def test_cache_memory_is_bounded() -> None:
    model = randomized(VideoDiT(tiny_config()))
    latents, cond = inputs(frames=1)
    cache = model.new_cache()
    sizes = []
    for i in range(40):
        model.forward_step(latents[:, 0], cond.frame(0), cache, position=i, commit=True)
        sizes.append(cache.nbytes())
    assert sizes[-1] == sizes[3] == max(sizes)


def first_row(x: torch.Tensor) -> torch.Tensor:
    """Row 0 of ``x`` repeated over the batch."""
    return x[:1].expand(B, *x.shape[1:])


def test_cache_rows_snapshot_and_restore() -> None:
    # Row 1 restored from a snapshot of row 0 continues exactly like row 0; and a row restored
    # from its own snapshot after more frames is back where it was.
    model = randomized(VideoDiT(tiny_config()))
    latents, cond = inputs(frames=5)
    text = {k: first_row(getattr(cond, k)) for k in ("text_tokens", "text_mask", "text_pooled")}
    cond = replace(cond, **text)
    cache = model.new_cache()
    with pytest.raises(RuntimeError, match="empty"):
        cache.snapshot_rows(torch.tensor([0]))
    for i in range(3):  # different histories in the two rows
        model.forward_step(latents[:, i], cond.frame(i), cache, position=i, commit=True)
    snapshot = cache.snapshot_rows(torch.tensor([0]))
    cache.restore_rows(torch.tensor([1]), snapshot)
    frame = cond.frame(3)
    frame = replace(frame, levels=first_row(frame.levels), motion=first_row(frame.motion))
    out = model.forward_step(first_row(latents[:, 3]), frame, cache, position=3, commit=True)
    torch.testing.assert_close(out[1], out[0])
    model.forward_step(latents[:, 4], cond.frame(4), cache, position=4, commit=True)
    cache.restore_rows(torch.tensor([0]), snapshot)
    again = model.forward_step(first_row(latents[:, 3]), frame, cache, position=3)
    torch.testing.assert_close(again[0], out[0], rtol=0, atol=0)


def test_text_padding_is_ignored() -> None:
    model = randomized(VideoDiT(tiny_config()))
    latents, cond = inputs()
    out = model(latents, cond)
    text_BLD = cond.text_tokens.clone()
    text_BLD[1, 2:] = 100.0  # masked positions of row 1
    torch.testing.assert_close(model(latents, replace(cond, text_tokens=text_BLD)), out)


def test_bad_configs_and_shapes_name_the_problem() -> None:
    with pytest.raises(ValueError, match="latent_height=9 is not divisible"):
        tiny_config(latent_height=9)
    with pytest.raises(ValueError, match="heads"):
        tiny_config(dim=60, heads=8)
    model = VideoDiT(tiny_config())
    _, cond = inputs()
    with pytest.raises(ValueError, match=r"\(4, 16, 14\).*\(4, 8, 14\)"):
        model(torch.zeros(B, T, 4, 16, 14), cond)


@pytest.mark.slow
def test_tiny_model_overfits_one_clip() -> None:
    """Loss on a fixed set of noise draws falls more than 10x when training on one clip."""
    torch.manual_seed(0)
    from worldsim.diffusion.flow import FlowConfig, add_noise, flow_loss, sample_forcing_levels

    model = VideoDiT(tiny_config(depth=2, dim=64, context_window=4))
    x0, cond = inputs(frames=4)
    cfg = FlowConfig(context_prob=0.0)
    g = torch.Generator().manual_seed(0)
    probe = [
        sample_forcing_levels(B, 4, cfg, g) + (torch.randn(x0.shape, generator=g),)
        for _ in range(8)
    ]

    def probe_loss() -> float:
        with torch.no_grad():
            return sum(
                flow_loss(model(add_noise(x0, n, t), replace(cond, levels=t)), n - x0, m).item()
                for t, m, n in probe
            ) / len(probe)

    before = probe_loss()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(400):
        t, mask = sample_forcing_levels(B, 4, cfg, g)
        noise = torch.randn(x0.shape, generator=g)
        loss = flow_loss(model(add_noise(x0, noise, t), replace(cond, levels=t)), noise - x0, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = probe_loss()
    assert after < before / 10, (before, after)


def test_a_text_per_frame_conditions_each_frame_on_its_own_text() -> None:
    torch.manual_seed(0)
    model = randomized(VideoDiT(tiny_config()))
    latents, cond = inputs()
    _, other = inputs(seed=1)
    one = model(latents, cond)
    # The same text repeated per frame is the per-clip text.
    per_frame = per_frame_text(
        (cond.text_tokens, cond.text_mask, cond.text_pooled),
        (cond.text_tokens, cond.text_mask, cond.text_pooled),
        torch.tensor([3, 0]),
        T,
    )
    tokens, mask, pooled = per_frame
    assert tokens.shape == (B, T, L_TEXT, 32) and mask.shape == (B, T, L_TEXT)
    repeated = replace(cond, text_tokens=tokens, text_mask=mask, text_pooled=pooled)
    torch.testing.assert_close(model(latents, repeated), one, rtol=1e-5, atol=1e-5)
    # Row 0 switches to the other text from frame 3: frames 0-2 keep their output, the later
    # ones change; row 1 has the other text throughout (switch at 0).
    tokens, mask, pooled = per_frame_text(
        (cond.text_tokens, cond.text_mask, cond.text_pooled),
        (other.text_tokens, other.text_mask, other.text_pooled),
        torch.tensor([3, 0]),
        T,
    )
    clip = replace(cond, text_tokens=tokens, text_mask=mask, text_pooled=pooled)
    switched = model(latents, clip)
    whole_other = model(
        latents,
        replace(
            cond,
            text_tokens=other.text_tokens,
            text_mask=other.text_mask,
            text_pooled=other.text_pooled,
        ),
    )
    torch.testing.assert_close(switched[0, :3], one[0, :3], rtol=1e-5, atol=1e-5)
    assert (switched[0, 3:] - one[0, 3:]).abs().amax(dim=(1, 2, 3)).min() > 1e-3
    torch.testing.assert_close(switched[1], whole_other[1], rtol=1e-5, atol=1e-5)
    # Streaming the frames, each with its own text, gives the same outputs.
    cache = model.new_cache()
    for i in range(T):
        step = model.forward_step(latents[:, i], clip.frame(i), cache, position=i, commit=True)
        torch.testing.assert_close(step, switched[:, i], rtol=1e-4, atol=1e-4)


def test_the_config_accepts_exactly_the_warp_interpolations() -> None:
    import dataclasses

    from worldsim.diffusion.ego_warp import INTERPOLATIONS

    config = DiTConfig()
    for mode in INTERPOLATIONS:
        assert (
            dataclasses.replace(config, yaw_warp_interpolation=mode).yaw_warp_interpolation == mode
        )
    with pytest.raises(ValueError, match="yaw_warp_interpolation='area'"):
        dataclasses.replace(config, yaw_warp_interpolation="area")


def test_streaming_shortcuts_give_the_full_forward() -> None:
    """Precomputed text keys/values, the single-query temporal attention and a commit that
    stops at the last block's keys/values stream exactly what the clip forward computes."""
    torch.manual_seed(0)
    model = randomized(VideoDiT(tiny_config(prev_frame_input=True)))
    latents, cond = inputs(frames=8)
    cond = replace(cond, prev_latents=torch.randn(latents.shape))
    full = model(latents, cond)
    text_kv = model.text_keys_values(cond.text_tokens)
    assert len(text_kv) == 2 and text_kv[0][0].shape == (B, 4, L_TEXT, 16)
    cache, outs = model.new_cache(), []
    for i in range(8):
        frame = replace(cond.frame(i), text_kv=text_kv)
        outs.append(model.forward_step(latents[:, i], frame, cache, position=i))
        model.commit_step(latents[:, i], frame, cache, position=i)
    torch.testing.assert_close(torch.stack(outs, 1), full, rtol=1e-4, atol=1e-5)
    # The commit wrote what forward_step(commit=True) writes.
    reference = model.new_cache()
    for i in range(8):
        model.forward_step(latents[:, i], cond.frame(i), reference, position=i, commit=True)
    for layer in range(2):
        torch.testing.assert_close(cache.k[layer], reference.k[layer], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(cache.v[layer], reference.v[layer], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="text_kv holds 1 blocks"):
        model.forward_step(latents[:, 0], replace(cond.frame(0), text_kv=text_kv[:1]), cache, 0)


def test_single_query_attention_equals_the_fused_kernel() -> None:
    from worldsim.models.layers import Attention

    torch.manual_seed(0)
    attn = Attention(64, 4)
    g = torch.Generator().manual_seed(3)
    q = torch.randn(30, 4, 1, 16, generator=g)
    k, v = torch.randn(30, 4, 6, 16, generator=g), torch.randn(30, 4, 6, 16, generator=g)
    valid = torch.rand(30, 5, generator=g) > 0.4
    valid[0] = False  # a row with nothing valid in its past still sees itself
    mask = torch.cat([valid, torch.ones(30, 1, dtype=torch.bool)], dim=1)[:, None, None, :]
    past = (k[:, :, :5], v[:, :, :5], valid)
    torch.testing.assert_close(
        attn.attend_one(q, k[:, :, 5:], v[:, :, 5:], past),
        attn.attend(q, k, v, mask),
        rtol=1e-5,
        atol=1e-6,
    )
    alone = attn.attend(q, k[:, :, 5:], v[:, :, 5:], None)
    torch.testing.assert_close(attn.attend_one(q, k[:, :, 5:], v[:, :, 5:]), alone)
