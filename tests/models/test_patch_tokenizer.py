"""The lossless patch tokenizer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from worldsim.models.patch_tokenizer import PatchTokenizer, PatchTokenizerConfig
from worldsim.models.tokenizer import frames_to_tensor, tensor_to_frames
from worldsim.runtime.checkpoint import tokenizer_from_dict


def test_round_trip_is_exact_and_latents_have_about_unit_scale() -> None:
    frames = np.random.default_rng(0).integers(0, 256, (3, 64, 112, 3), dtype=np.uint8)
    tok = PatchTokenizer(PatchTokenizerConfig(factor=2))
    z = tok.encode(frames_to_tensor(frames))
    assert z.shape == (3, 12, 32, 56) and tok.latent_shape(64, 112) == (12, 32, 56)
    back = tensor_to_frames(tok.decode(z)).numpy()
    assert np.array_equal(back, frames)
    assert 0.5 < float(z.std()) < 1.5  # uniform pixels in [-1, 1] have std 0.58; x2 scale


def test_bad_sizes_and_configs_are_named() -> None:
    tok = PatchTokenizer(PatchTokenizerConfig(factor=4))
    with pytest.raises(ValueError, match="factor 4.*tokenizer.factor"):
        tok.encode(torch.zeros(1, 3, 64, 110))
    with pytest.raises(ValueError, match="tokenizer.factor"):
        PatchTokenizerConfig(factor=0)
    with pytest.raises(ValueError, match="tokenizer.scale"):
        PatchTokenizerConfig(scale=float("nan"))


def test_saved_config_rebuilds_the_same_tokenizer() -> None:
    tok = PatchTokenizer(PatchTokenizerConfig(factor=2, scale=1.5))
    again = tokenizer_from_dict(tok.to_dict())
    assert isinstance(again, PatchTokenizer) and again.config == tok.config
