"""The default text encoder: UTF-8 bytes through a small pre-norm transformer, trained jointly
with the world model. No vocabulary files, fully offline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from worldsim.models.text.base import (
    TextEncoding,
    as_encoder_config,
    check_kind,
    check_prompts,
    masked_mean,
)

PAD_ID, BOS_ID, EOS_ID = 256, 257, 258
BYTE_VOCAB = 259  # 256 byte values + PAD, BOS, EOS


@dataclass
class ByteTextConfig:
    """Byte-level transformer encoder, trained with the world model (``conf/text/byte.yaml``)."""

    dim: int = 128
    layers: int = 2
    heads: int = 4
    max_len: int = 96  # tokens including BOS and EOS; longer prompts are truncated
    dropout: float = 0.0
    lowercase: bool = True
    kind: str = "byte"  # fixed: names this encoder in configs and checkpoints

    def __post_init__(self) -> None:
        check_kind(self, "byte")
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


def byte_tokenize(
    prompts: Sequence[str],
    max_len: int,
    lowercase: bool = True,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids ``(B, L)`` (BOS, UTF-8 bytes truncated to ``max_len - 2``, EOS, PAD...) and the mask."""
    rows = []
    for text in check_prompts(prompts):
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

    def __init__(self, config: ByteTextConfig | Any | None = None) -> None:
        """``config``: a :class:`ByteTextConfig` (or a legacy flat ``TextEncoderConfig``)."""
        super().__init__()
        self.config = cfg = as_encoder_config(config, ByteTextConfig)
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
        return TextEncoding(x_BLD, mask_BL, masked_mean(x_BLD, mask_BL))
