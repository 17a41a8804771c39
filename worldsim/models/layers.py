"""Building blocks of the video diffusion transformer: embeddings, rotary positions, attention."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN modulation ``x * (1 + scale) + shift`` in one fused pass over ``x``;
    ``shift``/``scale`` broadcast over the token axis."""
    return torch.addcmul(shift, x, 1 + scale)


class TimestepEmbedder(nn.Module):
    """Noise level t in [0, 1] -> vector, via sinusoidal features and an MLP (as in DiT)."""

    def __init__(self, dim: int, freq_dim: int = 256) -> None:
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.freq_dim // 2
        freqs = torch.exp(
            -math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half
        )
        args = (t.float() * 1000.0)[..., None] * freqs  # (..., half)
        emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
        return self.mlp(emb.to(self.mlp[0].weight.dtype))


class MotionEmbedder(nn.Module):
    """Normalised ego motion ``[speed, yaw_rate]`` -> vector; a learned null for missing motion."""

    def __init__(self, action_dim: int, dim: int, freq_dim: int = 64) -> None:
        super().__init__()
        self.register_buffer(
            "freqs", torch.exp(torch.linspace(0.0, math.log(32.0), freq_dim // 2)), persistent=False
        )
        self.mlp = nn.Sequential(
            nn.Linear(action_dim * (freq_dim + 1), dim), nn.SiLU(), nn.Linear(dim, dim)
        )
        self.null = nn.Parameter(torch.zeros(dim))

    def forward(self, motion_BT2: torch.Tensor, valid_BT: torch.Tensor) -> torch.Tensor:
        args = motion_BT2[..., None].float() * self.freqs  # (B, T, A, F/2)
        feats = torch.cat([motion_BT2[..., None].float(), torch.sin(args), torch.cos(args)], -1)
        emb = self.mlp(rearrange(feats, "b t a f -> b t (a f)").to(self.null.dtype))
        return torch.where(valid_BT[..., None], emb, self.null.to(emb.dtype))


def sincos_2d(height: int, width: int, dim: int) -> torch.Tensor:
    """Fixed 2D sine-cosine position embedding, ``(height * width, dim)``."""
    if dim % 4:
        raise ValueError(f"model dim {dim} must be divisible by 4 for 2D position embeddings")
    quarter = dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float64),
        torch.arange(width, dtype=torch.float64),
        indexing="ij",
    )
    out_y = ys.reshape(-1, 1) * omega
    out_x = xs.reshape(-1, 1) * omega
    emb = torch.cat([out_y.sin(), out_y.cos(), out_x.sin(), out_x.cos()], dim=1)
    return emb.float()


def rope_angles(positions: torch.Tensor, head_dim: int, base: float = 10000.0) -> torch.Tensor:
    """Rotary angles ``(..., head_dim / 2)`` for integer or float positions."""
    inv = 1.0 / base ** (
        torch.arange(0, head_dim, 2, device=positions.device, dtype=torch.float32) / head_dim
    )
    return positions.float()[..., None] * inv


def rope_rotation(positions: torch.Tensor, head_dim: int, base: float = 10000.0) -> torch.Tensor:
    """``exp(i * angle)`` of :func:`rope_angles`, complex ``(..., head_dim / 2)``: computed once
    per forward pass and shared by every block's queries and keys."""
    angles = rope_angles(positions, head_dim, base)
    return torch.polar(torch.ones_like(angles), angles)


def apply_rope(x: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
    """Rotate pairs of channels of ``x`` (..., n, head_dim) by ``rotation`` (n, head_dim / 2),
    complex, from :func:`rope_rotation`.

    Each pair ``(x[2i], x[2i+1])`` is read as one complex number and multiplied by its
    rotation: one complex product instead of four real ones, a stack and a copy."""
    pairs = x.float().unflatten(-1, (-1, 2))  # (..., n, head_dim / 2, 2), a view
    out = torch.view_as_real(torch.view_as_complex(pairs) * rotation)
    return out.flatten(-2).to(x.dtype)


class Attention(nn.Module):
    """Multi-head attention on ``scaled_dot_product_attention`` with optional QK-norm."""

    def __init__(self, dim: int, heads: int, kv_dim: int | None = None, qk_norm: bool = True):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads}")
        self.heads = heads
        self.head_dim = dim // heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(kv_dim or dim, 2 * dim)
        self.out = nn.Linear(dim, dim)
        self.q_norm = nn.RMSNorm(self.head_dim) if qk_norm else nn.Identity()
        self.k_norm = nn.RMSNorm(self.head_dim) if qk_norm else nn.Identity()

    def project_q(self, x_BND: torch.Tensor) -> torch.Tensor:
        q = rearrange(self.q(x_BND), "b n (h d) -> b h n d", h=self.heads)
        return self.q_norm(q)

    def project_kv(self, x_BND: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k, v = rearrange(self.kv(x_BND), "b n (two h d) -> two b h n d", two=2, h=self.heads)
        return self.k_norm(k), v

    def attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """``mask`` is boolean, True = may attend, broadcastable to (B, H, Nq, Nk)."""
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(rearrange(out, "b h n d -> b n (h d)"))

    def attend_one(
        self,
        q_NH1d: torch.Tensor,
        k_NH1d: torch.Tensor,
        v_NH1d: torch.Tensor,
        past: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """``attend`` for a single query per row over its own key and a few cached ones (a
        streamed frame's temporal attention), ``(N, 1, D)``: the same result without the fused
        kernel's per-row set-up, which dominates at one query and a handful of keys, and
        without copying the cache to append the new key. ``past`` is the cached keys and
        values ``(N, H, n, hd)`` and which of them each row may attend to, ``(N, n)`` bool."""
        if past is None:  # nothing cached: the frame attends to itself alone
            return self.out(rearrange(v_NH1d, "b h 1 d -> b 1 (h d)"))
        scale = self.head_dim**-0.5
        scores_NH1 = (q_NH1d * k_NH1d).sum(-1) * scale
        past_k, past_v, valid_Nn = past
        scores_NHn = (q_NH1d * past_k).sum(-1) * scale
        scores_NHn = scores_NHn.masked_fill(~valid_Nn[:, None, :], float("-inf"))
        weights = torch.cat([scores_NHn, scores_NH1], dim=-1).softmax(dim=-1)  # (N, H, n + 1)
        out_NHd = (weights[..., :-1, None] * past_v).sum(-2) + weights[..., -1:] * v_NH1d[:, :, 0]
        return self.out(rearrange(out_NHd, "b h d -> b 1 (h d)"))

    def forward(
        self,
        x_BND: torch.Tensor,
        context_BMD: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        q = self.project_q(x_BND)
        k, v = self.project_kv(x_BND if context_BMD is None else context_BMD)
        return self.attend(q, k, v, mask)


class Mlp(nn.Module):
    def __init__(self, dim: int, ratio: float) -> None:
        super().__init__()
        hidden = int(dim * ratio)
        self.net = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
