"""Building a text encoder from its config, and the plain-data checkpoint form of one.

Each encoder has its own config class, which the Hydra ``text`` group targets directly
(``conf/text/{byte,minilm,hf}.yaml``). :class:`TextEncoderConfig` is the former flat union of
their fields: it stays so that old run configs (``_target_: worldsim.models.text.TextEncoderConfig``)
and old checkpoint dicts, which may hold keys of other kinds, still build the right encoder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from torch import nn

from worldsim.models.text.byte import ByteTextConfig, ByteTextEncoder
from worldsim.models.text.hf import HFTextConfig, HFTextEncoder
from worldsim.models.text.minilm import MiniLMConfig, MiniLMTextEncoder

TEXT_KINDS = ("byte", "minilm", "hf")
AnyTextConfig = ByteTextConfig | MiniLMConfig | HFTextConfig
KIND_CONFIGS: dict[str, type[AnyTextConfig]] = {
    "byte": ByteTextConfig,
    "minilm": MiniLMConfig,
    "hf": HFTextConfig,
}
ENCODERS: dict[str, type[nn.Module]] = {
    "byte": ByteTextEncoder,
    "minilm": MiniLMTextEncoder,
    "hf": HFTextEncoder,
}


def _check_kind_known(kind: object) -> str:
    if kind not in KIND_CONFIGS:
        raise ValueError(f"text.kind={kind!r} is unknown; choose one of {list(TEXT_KINDS)}")
    return str(kind)


@dataclass
class TextEncoderConfig:
    """Legacy flat config: which encoder (``kind``) and the settings of all kinds. New configs
    use :class:`ByteTextConfig`, :class:`MiniLMConfig` or :class:`HFTextConfig` directly."""

    kind: str = "byte"
    dim: int = 128  # byte
    layers: int = 2  # byte
    heads: int = 4  # byte
    max_len: int = 96  # all kinds
    dropout: float = 0.0  # byte
    lowercase: bool = True  # byte
    name_or_path: str | None = None  # hf (required), minilm (optional local copy)

    def __post_init__(self) -> None:
        self.encoder_config()

    def encoder_config(self) -> AnyTextConfig:
        """The config dataclass of the encoder named by ``kind``."""
        cls = KIND_CONFIGS[_check_kind_known(self.kind)]
        values = asdict(self)
        kwargs = {f.name: values[f.name] for f in fields(cls)}
        if cls is HFTextConfig:
            kwargs["name_or_path"] = kwargs["name_or_path"] or ""
        return cls(**kwargs)


def build_text_encoder(config: AnyTextConfig | TextEncoderConfig | Mapping[str, Any]) -> nn.Module:
    """The encoder named by ``config.kind`` (a config dataclass or its plain-dict form)."""
    if isinstance(config, Mapping):
        config = _config_from_dict(config)
    elif isinstance(config, TextEncoderConfig):
        config = config.encoder_config()
    return ENCODERS[_check_kind_known(getattr(config, "kind", None))](config)


def _config_from_dict(values: Mapping[str, Any]) -> AnyTextConfig:
    """The kind's config from plain data (a checkpoint's), naming any unknown key; keys that
    belong to another kind (as the flat config saved them) are ignored."""
    known = {f.name for f in fields(TextEncoderConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown text encoder config keys {unknown}; known: {sorted(known)}")
    return TextEncoderConfig(**values).encoder_config()


def text_encoder_state(encoder: nn.Module) -> dict[str, Any]:
    """Plain data to rebuild ``encoder``: its config, plus weights only for the byte encoder."""
    config = getattr(encoder, "config", None)
    if getattr(config, "kind", None) not in ENCODERS:
        raise TypeError(f"{type(encoder).__name__} is not a worldsim text encoder")
    state_dict = encoder.state_dict() if config.kind == "byte" else None
    return {"config": {"kind": config.kind, **asdict(config)}, "state_dict": state_dict}


def text_encoder_from_state(state: Mapping[str, Any]) -> nn.Module:
    """Rebuild an encoder saved by :func:`text_encoder_state`, without Hydra."""
    encoder = build_text_encoder(state["config"])
    if isinstance(encoder, ByteTextEncoder):
        if not state.get("state_dict"):
            raise ValueError("a byte text encoder state needs its 'state_dict' (weights)")
        encoder.load_state_dict(state["state_dict"])
    return encoder
