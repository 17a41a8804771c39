"""VideoDiT: a causal latent video diffusion transformer conditioned per frame on noise level,
ego motion and text.

Each block applies, in order: spatial self-attention within a frame, causal temporal
self-attention across frames (banded to ``context_window`` frames, rotary positions),
cross-attention to the text tokens, and an MLP. Spatial, temporal and MLP sub-blocks are
modulated per frame by adaLN-Zero from the sum of that frame's noise-level embedding, ego-motion
embedding and the pooled text embedding.

Attention is factorised (space, then time) rather than full causal spacetime attention: the
cost per frame is O(S^2 + S*W) instead of O((S*W)^2), and temporal attention is the only path
between frames, so a per-layer cache of temporal keys/values (``KVCache``, ``kv_cache.py``)
makes autoregressive generation cost constant per frame with bounded memory. Everything but the
noisy latents comes in one ``FrameConditioning`` (``conditioning.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

import torch
from einops import rearrange, repeat
from torch import nn

from worldsim.models.conditioning import FrameConditioning
from worldsim.models.kv_cache import KVCache
from worldsim.models.layers import (
    Attention,
    Mlp,
    MotionEmbedder,
    TimestepEmbedder,
    apply_rope,
    modulate,
    rope_rotation,
    sincos_2d,
)

__all__ = ["DiTBlock", "DiTConfig", "FrameConditioning", "KVCache", "VideoDiT"]


@dataclass
class DiTConfig:
    """Shapes and sizes of a VideoDiT; presets live in ``conf/model/``."""

    latent_channels: int = 4
    latent_height: int = 16
    latent_width: int = 28
    patch_size: int = 2
    dim: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 4.0
    text_dim: int = 128
    action_dim: int = 2
    context_window: int = 8  # frames a frame attends to in time, itself included
    qk_norm: bool = True
    prev_frame_input: bool = False  # also patchify the previous frame's clean latents
    # Move the previous frame by the ego motion first (diffusion/ego_warp.py); 0 turns it off.
    yaw_warp_hfov_deg: float = 0.0  # the camera's horizontal field of view
    yaw_warp_horizon: float = 0.5  # its principal-point row, as a fraction of the height
    yaw_warp_mount_height: float = 0.0  # its height above the ground (m); >0: ground travels too
    yaw_warp_base: str = "turned"  # with a mount height: add the change to "turned" or "moved"
    yaw_warp_interpolation: str = "bilinear"  # how the warp resamples: bilinear, bicubic, nearest
    # Null in the presets: worldsim-train fills them from the tokenizer, data and text encoder.
    FILLED_LATER: ClassVar[tuple[str, ...]] = (
        "latent_channels",
        "latent_height",
        "latent_width",
        "text_dim",
    )

    def __post_init__(self) -> None:
        for name in ("latent_height", "latent_width"):
            size = getattr(self, name)
            if size % self.patch_size:
                raise ValueError(
                    f"model.{name}={size} is not divisible by model.patch_size={self.patch_size}"
                )
        if self.dim % self.heads or (self.dim // self.heads) % 2:
            raise ValueError(
                f"model.dim={self.dim} must split into model.heads={self.heads} heads of even size"
            )
        if self.context_window < 1:
            raise ValueError(f"model.context_window={self.context_window} must be at least 1")
        if self.yaw_warp_hfov_deg and not 1.0 <= self.yaw_warp_hfov_deg <= 170.0:
            raise ValueError(
                f"model.yaw_warp_hfov_deg={self.yaw_warp_hfov_deg} must be 0 (off) or lie in "
                "[1, 170] degrees"
            )
        if self.yaw_warp_mount_height < 0:
            raise ValueError(
                f"model.yaw_warp_mount_height={self.yaw_warp_mount_height} must be 0 (the warp "
                "only turns) or the camera's height above the ground in metres"
            )
        if self.yaw_warp_base not in ("turned", "moved") or (
            self.yaw_warp_base == "moved" and not self.yaw_warp_mount_height
        ):
            raise ValueError(
                f"model.yaw_warp_base={self.yaw_warp_base!r} must be 'turned', or 'moved' with "
                "a model.yaw_warp_mount_height"
            )
        # The same modes as worldsim.diffusion.ego_warp.INTERPOLATIONS (models may not import
        # diffusion; tests/models/test_dit.py keeps the two equal).
        if self.yaw_warp_interpolation not in ("bilinear", "bicubic", "nearest"):
            raise ValueError(
                f"model.yaw_warp_interpolation={self.yaw_warp_interpolation!r} must be one of "
                "('bilinear', 'bicubic', 'nearest')"
            )

    @property
    def prev_views(self) -> int:
        """Views of the previous frame in the input: turned, and moved along the ground too."""
        return 2 if self.yaw_warp_hfov_deg and self.yaw_warp_mount_height > 0 else 1

    @property
    def tokens_per_frame(self) -> int:
        return (self.latent_height // self.patch_size) * (self.latent_width // self.patch_size)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class DiTBlock(nn.Module):
    """Spatial attention, causal temporal attention, text cross-attention, MLP; adaLN-Zero."""

    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        d = cfg.dim
        self.norm_s = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn_s = Attention(d, cfg.heads, qk_norm=cfg.qk_norm)
        self.norm_t = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn_t = Attention(d, cfg.heads, qk_norm=cfg.qk_norm)
        self.norm_x = nn.LayerNorm(d, eps=1e-6)
        self.attn_x = Attention(d, cfg.heads, qk_norm=cfg.qk_norm)
        self.norm_m = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(d, cfg.mlp_ratio)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(d, 9 * d))

    def forward(
        self,
        x_BTSD: torch.Tensor,
        c_BTD: torch.Tensor,
        text_BLD: torch.Tensor,  # (B, L, D), or (B, T, L, D) with a text per frame
        text_mask_BL: torch.Tensor,  # (B, L), or (B, T, L)
        rope_TA: torch.Tensor,  # complex rotations (T, hd/2), streamed: (B*S, 1, 1, hd/2)
        time_mask: torch.Tensor | None,  # (T, T) band of a clip; streamed: (B*S, slots) or None
        cache: KVCache | None = None,
        layer: int = 0,
        text_kv: tuple[torch.Tensor, torch.Tensor] | None = None,
        kv_only: bool = False,
    ) -> torch.Tensor:
        """``x_BTSD`` after this block. With a ``cache`` (one streamed frame, ``T = 1``),
        ``time_mask`` says which cached slots each token row may attend to (``None`` while
        nothing is cached), ``text_kv`` are this block's
        precomputed text keys and values, and ``kv_only`` stops once the temporal keys and
        values are staged (a commit's last block: nothing after them is ever read), returning
        ``x_BTSD`` unchanged past that point."""
        b, t, s, _ = x_BTSD.shape
        mods = self.ada(c_BTD)[:, :, None, :].chunk(9, dim=-1)  # 9 x (B, T, 1, D)
        sh_s, sc_s, g_s, sh_t, sc_t, g_t, sh_m, sc_m, g_m = mods

        h = modulate(self.norm_s(x_BTSD), sh_s, sc_s)
        h = self.attn_s(rearrange(h, "b t s d -> (b t) s d"))  # (B*T, S, D)
        x_BTSD = torch.addcmul(x_BTSD, g_s, rearrange(h, "(b t) s d -> b t s d", b=b))

        h = rearrange(modulate(self.norm_t(x_BTSD), sh_t, sc_t), "b t s d -> (b s) t d")
        q = apply_rope(self.attn_t.project_q(h), rope_TA)  # (B*S, H, T, hd)
        k, v = self.attn_t.project_kv(h)
        k = apply_rope(k, rope_TA)
        if cache is None:
            h = self.attn_t.attend(q, k, v, time_mask)  # (B*S, T, D)
        else:  # one streamed frame (T = 1): its own key and the cached ones
            cache.stage(layer, k, v)
            if kv_only:
                return x_BTSD
            past = cache.past(layer)
            past = None if past is None or time_mask is None else (*past, time_mask)
            h = self.attn_t.attend_one(q, k, v, past)  # (B*S, 1, D)
        x_BTSD = torch.addcmul(x_BTSD, g_t, rearrange(h, "(b s) t d -> b t s d", b=b))

        h = self.norm_x(x_BTSD)
        if text_BLD.ndim == 3:  # one text per row
            h = rearrange(h, "b t s d -> b (t s) d")
            mask_x = text_mask_BL[:, None, None, :]
            if text_kv is not None:
                h = self.attn_x.attend(self.attn_x.project_q(h), *text_kv, mask_x)
            else:
                h = self.attn_x(h, text_BLD, mask=mask_x)  # (B, T*S, D)
            h = rearrange(h, "b (t s) d -> b t s d", t=t)
        else:  # (B, T, L, D): a text per frame (a prompt switched inside the clip)
            h = self.attn_x(
                rearrange(h, "b t s d -> (b t) s d"),
                rearrange(text_BLD, "b t l d -> (b t) l d"),
                mask=rearrange(text_mask_BL, "b t l -> (b t) 1 1 l"),
            )  # (B*T, S, D)
            h = rearrange(h, "(b t) s d -> b t s d", b=b)
        x_BTSD = x_BTSD + h

        h = self.mlp(modulate(self.norm_m(x_BTSD), sh_m, sc_m))
        return torch.addcmul(x_BTSD, g_m, h)  # the gated residual, fused


class VideoDiT(nn.Module):
    """Predicts the flow-matching velocity of every frame of a latent clip."""

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        self.config = cfg = config
        p, c = cfg.patch_size, cfg.latent_channels
        self.grid = (cfg.latent_height // p, cfg.latent_width // p)
        in_channels = c + cfg.prev_views * c if cfg.prev_frame_input else c
        self.patch_in = nn.Linear(p * p * in_channels, cfg.dim)
        self.register_buffer("pos_SD", sincos_2d(*self.grid, cfg.dim), persistent=False)
        self.t_embed = TimestepEmbedder(cfg.dim)
        self.motion_embed = MotionEmbedder(cfg.action_dim, cfg.dim)
        self.text_proj = nn.Linear(cfg.text_dim, cfg.dim)
        self.text_pool = nn.Sequential(
            nn.Linear(cfg.text_dim, cfg.dim), nn.SiLU(), nn.Linear(cfg.dim, cfg.dim)
        )
        self.blocks = nn.ModuleList(DiTBlock(cfg) for _ in range(cfg.depth))
        self.final_norm = nn.LayerNorm(cfg.dim, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Sequential(nn.SiLU(), nn.Linear(cfg.dim, 2 * cfg.dim))
        self.patch_out = nn.Linear(cfg.dim, p * p * c)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """Xavier linears; adaLN-Zero: every modulation and the output layer start at zero."""

        def init(module: nn.Module) -> None:
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

        self.apply(init)
        for mlp in (self.t_embed.mlp, self.motion_embed.mlp):
            nn.init.normal_(mlp[0].weight, std=0.02)
            nn.init.normal_(mlp[2].weight, std=0.02)
        for block in self.blocks:
            nn.init.zeros_(block.ada[-1].weight)
            nn.init.zeros_(block.ada[-1].bias)
        nn.init.zeros_(self.final_ada[-1].weight)
        nn.init.zeros_(self.final_ada[-1].bias)
        nn.init.zeros_(self.patch_out.weight)
        nn.init.zeros_(self.patch_out.bias)

    # -- shared pieces ------------------------------------------------------------------------
    def _tokens(
        self, latents_BTCHW: torch.Tensor, prev_BTCHW: torch.Tensor | None = None
    ) -> torch.Tensor:
        p = self.config.patch_size
        if self.config.prev_frame_input:
            if prev_BTCHW is None:
                raise ValueError("this model takes the previous frame's latents (prev_latents)")
            latents_BTCHW = torch.cat([latents_BTCHW, prev_BTCHW], dim=2)  # (B, T, (1+k)C, h, w)
        x = rearrange(latents_BTCHW, "b t c (y p1) (x p2) -> b t (y x) (p1 p2 c)", p1=p, p2=p)
        return self.patch_in(x) + self.pos_SD  # (B, T, S, D)

    def _conditioning(
        self,
        t_BT: torch.Tensor,
        motion_BT2: torch.Tensor,
        motion_valid_BT: torch.Tensor,
        text_pooled_BD: torch.Tensor,
    ) -> torch.Tensor:
        c = self.t_embed(t_BT) + self.motion_embed(motion_BT2, motion_valid_BT)
        pooled = self.text_pool(text_pooled_BD)  # (B, D), or (B, T, D) with a text per frame
        return c + (pooled[:, None, :] if pooled.ndim == 2 else pooled)  # (B, T, D)

    def _output(self, x_BTSD: torch.Tensor, c_BTD: torch.Tensor) -> torch.Tensor:
        cfg, (gh, gw) = self.config, self.grid
        shift, scale = self.final_ada(c_BTD)[:, :, None, :].chunk(2, dim=-1)
        x = self.patch_out(modulate(self.final_norm(x_BTSD), shift, scale))  # (B, T, S, p*p*C)
        return rearrange(
            x,
            "b t (y x) (p1 p2 c) -> b t c (y p1) (x p2)",
            y=gh,
            x=gw,
            p1=cfg.patch_size,
            p2=cfg.patch_size,
        )

    def _check(self, latents: torch.Tensor, spatial_dims: tuple[int, ...]) -> None:
        cfg = self.config
        expected = (cfg.latent_channels, cfg.latent_height, cfg.latent_width)
        if tuple(latents.shape[d] for d in spatial_dims) != expected:
            raise ValueError(
                f"latents have (C, H, W) = {tuple(latents.shape[d] for d in spatial_dims)} but "
                f"the model expects {expected}; check the tokenizer and model.latent_* settings"
            )

    # -- full clip (training, reference) ------------------------------------------------------
    def forward(
        self,
        latents_BTCHW: torch.Tensor,
        cond: FrameConditioning,
        positions_T: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Output for every frame; frame i sees frames i-W+1..i only (W = context_window).

        ``cond`` has a time axis; its ``prev_latents`` (models with ``prev_frame_input``) holds
        for each frame the clean latents of the frame before it (zeros for the first).
        """
        self._check(latents_BTCHW, (2, 3, 4))
        t = latents_BTCHW.shape[1]
        device = latents_BTCHW.device
        if positions_T is None:
            positions_T = torch.arange(t, device=device)
        i = torch.arange(t, device=device)
        window = self.config.context_window
        time_mask = (i[None, :] <= i[:, None]) & (i[None, :] > i[:, None] - window)  # (T, T)
        rope = rope_rotation(positions_T, self.config.dim // self.config.heads)
        x = self._tokens(latents_BTCHW, cond.prev_latents)
        c = self._conditioning(cond.levels, cond.motion, cond.motion_valid, cond.text_pooled)
        text = self.text_proj(cond.text_tokens)
        for block in self.blocks:
            x = block(x, c, text, cond.text_mask, rope, time_mask)
        return self._output(x, c)

    # -- one frame at a time (streaming generation) -------------------------------------------
    def text_keys_values(
        self, text_tokens_BLD: torch.Tensor
    ) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
        """Every block's cross-attention keys and values ``(B, H, L, hd)`` of one text per row,
        for ``FrameConditioning.text_kv``: a prompt costs them once, not once per pass."""
        text = self.text_proj(text_tokens_BLD)
        return tuple(block.attn_x.project_kv(text) for block in self.blocks)

    def new_cache(self) -> KVCache:
        """An empty cache sized for this model's depth and context window."""
        return KVCache(depth=self.config.depth, window=self.config.context_window)

    def forward_step(
        self,
        latents_BCHW: torch.Tensor,
        cond: FrameConditioning,
        cache: KVCache,
        position: int | torch.Tensor,
        commit: bool | torch.Tensor = False,
    ) -> torch.Tensor:
        """Velocity of one new frame attending to the cached past.

        ``cond`` has no time axis. ``position`` is the frame index (an int, or one per row).
        ``commit`` (a bool, or a bool per row) stores this frame's keys and values so that
        later frames can see it.
        """
        x, c = self._step_blocks(latents_BCHW, cond, cache, position, kv_only=False)
        self._finish_step(latents_BCHW.shape[0], latents_BCHW.device, cache, commit)
        return self._output(x, c)[:, 0]

    def commit_step(
        self,
        latents_BCHW: torch.Tensor,
        cond: FrameConditioning,
        cache: KVCache,
        position: int | torch.Tensor,
        commit: bool | torch.Tensor = True,
    ) -> None:
        """Store one finished frame's keys and values in ``cache`` (for the rows where
        ``commit`` is True) without computing its output: the same cache as ``forward_step``
        with that ``commit``, for less work (the last block stops at its temporal keys and
        values, and no output layer runs; about 0.9 of a sampling pass, docs/performance.md)."""
        self._step_blocks(latents_BCHW, cond, cache, position, kv_only=True)
        self._finish_step(latents_BCHW.shape[0], latents_BCHW.device, cache, commit)

    def _step_blocks(
        self,
        latents_BCHW: torch.Tensor,
        cond: FrameConditioning,
        cache: KVCache,
        position: int | torch.Tensor,
        kv_only: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens ``(B, 1, S, D)`` after every block and the conditioning ``(B, 1, D)`` of one
        streamed frame, the new keys and values staged in ``cache``."""
        self._check(latents_BCHW, (1, 2, 3))
        b = latents_BCHW.shape[0]
        device = latents_BCHW.device
        s = self.config.tokens_per_frame
        pos_B = torch.as_tensor(position, device=device).expand(b)
        rope = rope_rotation(
            repeat(pos_B, "b -> (b s) 1 1", s=s), self.config.dim // self.config.heads
        )
        valid_BN = cache.valid_BN  # (B, slots) or None before the first commit
        time_mask = None if valid_BN is None else repeat(valid_BN, "b n -> (b s) n", s=s)
        prev = None if cond.prev_latents is None else cond.prev_latents[:, None]
        x = self._tokens(latents_BCHW[:, None], prev)
        c = self._conditioning(
            cond.levels[:, None], cond.motion[:, None], cond.motion_valid[:, None], cond.text_pooled
        )
        text_kv = cond.text_kv if cond.text_tokens.ndim == 3 else None
        if text_kv is not None and len(text_kv) != len(self.blocks):
            raise ValueError(
                f"cond.text_kv holds {len(text_kv)} blocks' keys and values but the model has "
                f"{len(self.blocks)} blocks; compute them with this model's text_keys_values"
            )
        text = cond.text_tokens if text_kv is not None else self.text_proj(cond.text_tokens)
        last = len(self.blocks) - 1
        for layer, block in enumerate(self.blocks):
            x = block(
                x,
                c,
                text,
                cond.text_mask,
                rope,
                time_mask,
                cache=cache,
                layer=layer,
                text_kv=None if text_kv is None else text_kv[layer],
                kv_only=kv_only and layer == last,
            )
        return x, c

    @staticmethod
    def _finish_step(
        batch: int, device: torch.device, cache: KVCache, commit: bool | torch.Tensor
    ) -> None:
        """Commit the staged frame for the rows where ``commit`` is True, else drop it."""
        rows = torch.as_tensor(commit, device=device).expand(batch)
        if bool(rows.any()):
            cache.commit(rows)
        else:
            cache.discard()
