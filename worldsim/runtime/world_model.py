"""``WorldModel``: tokenizer, VideoDiT and text encoder behind a streaming generation API.

Frames are generated one at a time. Each past frame is encoded, lightly re-noised (context
noise augmentation) and passed through the DiT once to fill the per-layer temporal KV cache;
the cache keeps the last ``context_window - 1`` frames, so the cost per generated frame and the
memory stay constant however long the rollout runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from worldsim.diffusion.ego_warp import yaw_warp_for
from worldsim.diffusion.flow import add_noise
from worldsim.diffusion.guidance import GuidanceScales, combine_guidance, guidance_batch
from worldsim.diffusion.prediction import check_prediction, velocity_from_output
from worldsim.diffusion.samplers import get_sampler, initial_noise, make_schedule
from worldsim.models.dit import KVCache, VideoDiT
from worldsim.models.tokenizer import frames_to_tensor, tensor_to_frames


@dataclass
class SamplingConfig:
    """How frames are sampled at run time."""

    steps: int = 8
    sampler: str = "euler"
    shift: float = 1.0
    context_noise: float = 0.05  # noise level given to past frames before they are cached
    guidance_text: float = 1.0
    guidance_action: float = 1.0

    def __post_init__(self) -> None:
        get_sampler(self.sampler)
        make_schedule(self.steps, self.shift)
        if not 0.0 <= self.context_noise < 1.0:
            raise ValueError(f"context_noise={self.context_noise} must lie in [0, 1)")

    @property
    def scales(self) -> GuidanceScales:
        return GuidanceScales(text=self.guidance_text, action=self.guidance_action)


class WorldModel:
    """Batched, streaming frame generation from a trained checkpoint.

    ``reset`` fills the context; ``step`` generates the next frame of every batch row from the
    ego motion that leads to it; ``rollout`` does both for a whole action sequence.
    """

    def __init__(
        self,
        tokenizer: nn.Module,
        dit: VideoDiT,
        text_encoder: nn.Module,
        motion_mean: Sequence[float],
        motion_std: Sequence[float],
        dt: float,
        sampling: SamplingConfig | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        metadata: dict[str, Any] | None = None,
        use_cache: bool = True,
        prediction: str = "velocity",
    ) -> None:
        self.use_cache = use_cache
        self.prediction = check_prediction(prediction)
        self.device = torch.device(device)
        self.dtype = dtype
        self.tokenizer = tokenizer.to(self.device).eval()
        self.dit = dit.to(self.device, dtype).eval()
        self.text_encoder = text_encoder.to(self.device).eval()
        self.motion_mean = torch.tensor(list(motion_mean), dtype=torch.float32, device=self.device)
        self.motion_std = torch.tensor(list(motion_std), dtype=torch.float32, device=self.device)
        self.dt = float(dt)
        cfg = dit.config
        tok_cfg = getattr(tokenizer, "config", None)
        self.yaw_warp = yaw_warp_for(cfg.yaw_warp_hfov_deg, cfg.yaw_warp_horizon, tok_cfg)
        self.sampling = sampling or SamplingConfig()
        self.metadata = dict(metadata or {})
        self.cache: KVCache | None = None
        self.position_B = torch.zeros(0, dtype=torch.long, device=self.device)
        self.batch = 0
        self._prompts: list[str] = []
        self._text: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self._prev: torch.Tensor | None = None  # (B, C, h, w) clean latents of the last frame
        # Without the cache, committed frames are kept and the whole history is re-encoded by
        # the DiT for every denoising step (the reference the cache must match; cost grows).
        self._history: list[tuple[torch.Tensor, ...]] = []

    # -- properties -------------------------------------------------------------------------
    @property
    def position(self) -> int:
        """Frames committed so far in the longest-running row."""
        return int(self.position_B.max()) if self.position_B.numel() else 0

    @property
    def action_dim(self) -> int:
        """Width of the per-frame conditioning (2 for ego motion)."""
        return self.dit.config.action_dim

    @property
    def context_window(self) -> int:
        return self.dit.config.context_window

    @property
    def resolution(self) -> tuple[int, int]:
        cfg = self.dit.config
        down = self.tokenizer.downsample
        return cfg.latent_height * down, cfg.latent_width * down

    def sampling_dict(self) -> dict[str, Any]:
        return asdict(self.sampling)

    def with_sampling(self, **overrides: Any) -> WorldModel:
        """A new runtime over the same networks with some ``SamplingConfig`` fields replaced
        (its own rolling context, nothing shared but the weights)."""
        unknown = sorted(set(overrides) - set(self.sampling_dict()))
        if unknown:
            raise ValueError(
                f"unknown sampling settings {unknown}; choose from {sorted(self.sampling_dict())}"
            )
        return WorldModel(
            self.tokenizer,
            self.dit,
            self.text_encoder,
            self.motion_mean.tolist(),
            self.motion_std.tolist(),
            self.dt,
            SamplingConfig(**{**self.sampling_dict(), **overrides}),
            device=self.device,
            dtype=self.dtype,
            metadata=self.metadata,
            use_cache=self.use_cache,
            prediction=self.prediction,
        )

    # -- conditioning -----------------------------------------------------------------------
    def normalize_motion(self, motion_N2: torch.Tensor) -> torch.Tensor:
        return (motion_N2.to(self.device, torch.float32) - self.motion_mean) / self.motion_std

    def _set_prompts(self, prompts: str | Sequence[str], batch: int) -> None:
        listed = [prompts] * batch if isinstance(prompts, str) else list(prompts)
        if len(listed) != batch:
            raise ValueError(f"got {len(listed)} prompts for a batch of {batch}; pass one or B")
        if listed == self._prompts and self._text is not None:
            return
        self._prompts = listed
        valid = torch.ones(batch, dtype=torch.bool, device=self.device)
        expanded, _ = guidance_batch(listed, valid, self.sampling.scales)
        with torch.no_grad():
            enc = self.text_encoder(expanded)
        self._text = (
            enc.tokens_BLD.to(self.dtype),
            enc.mask_BL,
            enc.pooled_BD.to(self.dtype),
        )

    def _expand(self, x: torch.Tensor) -> torch.Tensor:
        return x.repeat(self.sampling.scales.branches, *([1] * (x.ndim - 1)))

    def _motion_inputs(self, motion_B2: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        b = self.batch
        if motion_B2 is None:
            motion = torch.zeros(b, self.action_dim, device=self.device)
            valid = torch.zeros(b, dtype=torch.bool, device=self.device)
        else:
            motion = self.normalize_motion(motion_B2)
            valid = torch.ones(b, dtype=torch.bool, device=self.device)
        _, valid_all = guidance_batch(self._prompts, valid[:, None], self.sampling.scales)
        return self._expand(motion).to(self.dtype), valid_all[:, 0]

    # -- streaming API ----------------------------------------------------------------------
    @torch.no_grad()
    def reset(
        self,
        context_frames: np.ndarray | torch.Tensor,
        prompts: str | Sequence[str],
        past_motion: np.ndarray | torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        """Start new rollouts from ``context_frames`` uint8 ``(B, T, H, W, 3)``.

        ``past_motion`` ``(B, T-1, 2)`` is the ego motion between consecutive context frames in
        physical units (m/s, rad/s); without it the context is conditioned on null motion.
        """
        frames = torch.as_tensor(np.asarray(context_frames))
        if frames.ndim != 5 or frames.shape[-1] != 3 or frames.dtype != torch.uint8:
            raise ValueError(
                f"context_frames must be uint8 (B, T, H, W, 3), got {frames.dtype} "
                f"{tuple(frames.shape)}"
            )
        if tuple(frames.shape[2:4]) != self.resolution:
            raise ValueError(
                f"context frames are {tuple(frames.shape[2:4])} but the model generates "
                f"{self.resolution}; resize the frames or use a matching checkpoint"
            )
        b, t = frames.shape[:2]
        if past_motion is not None:
            past = torch.as_tensor(np.asarray(past_motion), dtype=torch.float32)
            if past.shape != (b, t - 1, self.action_dim):
                raise ValueError(
                    f"past_motion must have shape ({b}, {t - 1}, {self.action_dim}), got "
                    f"{tuple(past.shape)}"
                )
        self.batch = b
        self.cache = self.dit.new_cache()
        self._history = []
        self._prev = self._zero_latents()
        self.position_B = torch.zeros(b, dtype=torch.long, device=self.device)
        self._text = None
        self._set_prompts(prompts, b)
        for i in range(t):
            latents = self.encode(frames[:, i])
            motion = None if (past_motion is None or i == 0) else past[:, i - 1]
            self._commit(latents, motion, generator)

    @torch.no_grad()
    def reset_rows(
        self,
        rows: np.ndarray | torch.Tensor,
        context_frames: np.ndarray | torch.Tensor,
        prompts: str | Sequence[str],
        past_motion: np.ndarray | torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        """Restart only the batch rows where ``rows`` (bool, ``(B,)``) is True, from
        ``context_frames`` ``(R, T, H, W, 3)`` of those rows; the other rows keep going."""
        if self.cache is None:
            raise RuntimeError("call reset() for the whole batch before reset_rows()")
        if not self.use_cache:
            raise RuntimeError("reset_rows needs the KV cache (use_cache=True)")
        mask = torch.as_tensor(np.asarray(rows), dtype=torch.bool, device=self.device)
        if mask.shape != (self.batch,):
            raise ValueError(f"rows must be a bool mask of shape ({self.batch},)")
        idx = torch.nonzero(mask)[:, 0]
        frames = torch.as_tensor(np.asarray(context_frames))
        r = int(idx.numel())
        if frames.ndim != 5 or frames.shape[0] != r or frames.dtype != torch.uint8:
            raise ValueError(
                f"context_frames must be uint8 ({r}, T, H, W, 3) for the {r} reset rows, got "
                f"{frames.dtype} {tuple(frames.shape)}"
            )
        t = frames.shape[1]
        row_prompts = [prompts] * r if isinstance(prompts, str) else list(prompts)
        if len(row_prompts) != r:
            raise ValueError(f"got {len(row_prompts)} prompts for {r} reset rows")
        new_prompts = list(self._prompts)
        for j, b in enumerate(idx.tolist()):
            new_prompts[b] = row_prompts[j]
        self._set_prompts(new_prompts, self.batch)
        self.cache.invalidate(self._expand(mask))
        assert self._prev is not None
        self._prev[mask] = 0.0
        self.position_B[mask] = 0
        past = None if past_motion is None else torch.as_tensor(np.asarray(past_motion))
        for i in range(t):
            latents = self._zero_latents()
            latents[idx] = self.encode(frames[:, i])
            motion = None
            if past is not None and i > 0:
                motion = torch.zeros(self.batch, self.action_dim)
                motion[idx.cpu()] = past[:, i - 1].float()
            self._commit(latents, motion, generator, rows=mask)

    @torch.no_grad()
    def step(
        self,
        ego_motion: np.ndarray | torch.Tensor,
        prompts: str | Sequence[str] | None = None,
        generator: torch.Generator | None = None,
        rows: np.ndarray | torch.Tensor | None = None,
    ) -> np.ndarray:
        """Generate the next frame of every row from the motion ``(B, 2)`` leading to it.

        With ``rows`` (bool ``(B,)``) only those rows advance; the others are computed in the
        same batch but their frame is not added to their history.
        """
        if self.cache is None:
            raise RuntimeError("call reset() with context frames before step()")
        motion = torch.as_tensor(np.asarray(ego_motion), dtype=torch.float32)
        if motion.shape != (self.batch, self.action_dim) or not torch.isfinite(motion).all():
            raise ValueError(
                f"ego_motion must be finite with shape ({self.batch}, {self.action_dim}), got "
                f"{tuple(motion.shape)}"
            )
        if prompts is not None:
            self._set_prompts(prompts, self.batch)
        mask = None
        if rows is not None:
            if not self.use_cache:
                raise RuntimeError("stepping a subset of rows needs the KV cache (use_cache=True)")
            mask = torch.as_tensor(np.asarray(rows), dtype=torch.bool, device=self.device)
            if mask.shape != (self.batch,):
                raise ValueError(f"rows must be a bool mask of shape ({self.batch},)")
        latents = self.sample_latents(motion, generator)
        self._commit(latents, motion, generator, rows=mask)
        return self.decode(latents)

    @torch.no_grad()
    def rollout(
        self,
        context_frames: np.ndarray | torch.Tensor,
        ego_motion: np.ndarray | torch.Tensor,
        prompts: str | Sequence[str],
        past_motion: np.ndarray | torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> np.ndarray:
        """Generate ``N`` frames for ego motions ``(B, N, 2)``; returns uint8 ``(B, N, H, W, 3)``."""
        motion = np.asarray(ego_motion, dtype=np.float32)
        if motion.ndim != 3 or motion.shape[-1] != self.action_dim:
            raise ValueError(
                f"ego_motion must have shape (B, N, {self.action_dim}), got {motion.shape}"
            )
        self.reset(context_frames, prompts, past_motion, generator)
        frames = [self.step(motion[:, i], generator=generator) for i in range(motion.shape[1])]
        return np.stack(frames, axis=1)

    # -- pieces -----------------------------------------------------------------------------
    def encode(self, frames_BHWC: torch.Tensor) -> torch.Tensor:
        x = frames_to_tensor(frames_BHWC).to(self.device)
        return self.tokenizer.encode(x).to(self.dtype)

    def _zero_latents(self) -> torch.Tensor:
        cfg = self.dit.config
        shape = (self.batch, cfg.latent_channels, cfg.latent_height, cfg.latent_width)
        return torch.zeros(shape, device=self.device, dtype=self.dtype)

    def _warped_prev(self, motion_B2: torch.Tensor | None) -> torch.Tensor | None:
        """The previous frame's clean latents, turned by the yaw of ``motion_B2`` (physical
        units) when the model warps; no motion means no turn."""
        if self._prev is None or self.yaw_warp is None or motion_B2 is None:
            return self._prev
        yaw_B = motion_B2[:, 1].to(self.device, torch.float32) * self.dt
        return self.yaw_warp(self._prev, yaw_B)

    def _prev_input(self, prev_BCHW: torch.Tensor | None) -> torch.Tensor | None:
        """The previous frame's latents for every guidance branch, when the DiT takes them."""
        if not self.dit.config.prev_frame_input:
            return None
        assert prev_BCHW is not None
        return self._expand(prev_BCHW)

    def decode(self, latents_BCHW: torch.Tensor) -> np.ndarray:
        frames = self.tokenizer.decode(latents_BCHW.float())
        return tensor_to_frames(frames).cpu().numpy()

    def sample_latents(
        self, motion_B2: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        """Denoise one new frame per row, attending to the cached context."""
        assert self.cache is not None and self._text is not None
        cfg = self.dit.config
        shape = (self.batch, cfg.latent_channels, cfg.latent_height, cfg.latent_width)
        x = initial_noise(shape, generator, self.device, self.dtype)
        motion, valid = self._motion_inputs(motion_B2)
        tokens, mask, pooled = self._text
        scales = self.sampling.scales
        cache, position = self.cache, self._expand(self.position_B)
        prev = self._warped_prev(motion_B2)
        prev_in = self._prev_input(prev)
        prev_out = None if prev is None else self._expand(prev)

        def velocity(x_B: torch.Tensor, t_B: torch.Tensor) -> torch.Tensor:
            x, t = self._expand(x_B), self._expand(t_B.to(self.dtype))
            if not self.use_cache:
                out = self._uncached(x, t, motion, valid, prev_in)
            else:
                out = self.dit.forward_step(
                    x,
                    t,
                    motion,
                    valid,
                    tokens,
                    mask,
                    pooled,
                    cache,
                    position,
                    commit=False,
                    prev_latents_BCHW=prev_in,
                )
            v = velocity_from_output(self.prediction, out, x, t, prev_out)
            return combine_guidance(v, self.batch, scales)

        schedule = make_schedule(self.sampling.steps, self.sampling.shift, self.device)
        return get_sampler(self.sampling.sampler)(velocity, x, schedule.to(self.dtype))

    def _commit(
        self,
        latents_BCHW: torch.Tensor,
        motion_B2: torch.Tensor | None,
        generator: torch.Generator | None,
        rows: torch.Tensor | None = None,
    ) -> None:
        """Re-noise a finished frame to the context level and store it in the KV cache (only for
        ``rows`` when given)."""
        assert self.cache is not None and self._text is not None
        level = self.sampling.context_noise
        t_B = torch.full((self.batch,), level, device=self.device, dtype=self.dtype)
        clean_BCHW = latents_BCHW
        prev_in = self._prev_input(self._warped_prev(motion_B2))
        if level > 0:
            noise = initial_noise(tuple(latents_BCHW.shape), generator, self.device, self.dtype)
            latents_BCHW = add_noise(latents_BCHW, noise, t_B)
        motion, valid = self._motion_inputs(motion_B2)
        tokens, mask, pooled = self._text
        rows_B = (
            torch.ones(self.batch, dtype=torch.bool, device=self.device) if rows is None else rows
        )
        if not self.use_cache:
            entry = (self._expand(latents_BCHW), self._expand(t_B), motion, valid, prev_in)
            self._history.append(entry)
            self.position_B += 1
            self._prev = clean_BCHW.clone()
            return
        self.dit.forward_step(
            self._expand(latents_BCHW),
            self._expand(t_B),
            motion,
            valid,
            tokens,
            mask,
            pooled,
            self.cache,
            self._expand(self.position_B),
            commit=self._expand(rows_B),
            prev_latents_BCHW=prev_in,
        )
        self.position_B[rows_B] += 1
        assert self._prev is not None
        self._prev[rows_B] = clean_BCHW[rows_B]

    def _uncached(
        self,
        x_B: torch.Tensor,
        t_B: torch.Tensor,
        motion: torch.Tensor,
        valid: torch.Tensor,
        prev_B: torch.Tensor | None,
    ) -> torch.Tensor:
        """DiT output for the new frame from a full forward pass over the whole history."""
        assert self._text is not None
        tokens, mask, pooled = self._text
        latents = torch.stack([h[0] for h in self._history] + [x_B], dim=1)
        levels = torch.stack([h[1] for h in self._history] + [t_B], dim=1)
        motions = torch.stack([h[2] for h in self._history] + [motion], dim=1)
        valids = torch.stack([h[3] for h in self._history] + [valid], dim=1)
        prevs = None
        if prev_B is not None:
            prevs = torch.stack([h[4] for h in self._history] + [prev_B], dim=1)
        out = self.dit(latents, levels, motions, valids, tokens, mask, pooled, None, prevs)
        return out[:, -1]

    # -- per-row state (forking) ------------------------------------------------------------
    def row_state(self, row: int) -> dict[str, Any]:
        """A copy of everything row ``row`` needs to continue: cache slots, position, prompt."""
        if self.cache is None or self.cache.valid_BN is None:
            raise RuntimeError("call reset() before row_state()")
        idx, flat = self._branch_rows(row)
        return {
            "k": [k[flat].clone() for k in self.cache.k],  # type: ignore[index]
            "v": [v[flat].clone() for v in self.cache.v],  # type: ignore[index]
            "valid": self.cache.valid_BN[idx].clone(),
            "pointer": self.cache.pointer_B[idx].clone(),  # type: ignore[index]
            "position": int(self.position_B[row]),
            "prompt": self._prompts[row],
            "prev": None if self._prev is None else self._prev[row].clone(),
        }

    def load_row_state(self, row: int, state: dict[str, Any]) -> None:
        """Restore a row from :meth:`row_state` (possibly taken from another row)."""
        if self.cache is None or self.cache.valid_BN is None:
            raise RuntimeError("call reset() before load_row_state()")
        idx, flat = self._branch_rows(row)
        for layer in range(self.cache.depth):
            self.cache.k[layer][flat] = state["k"][layer]  # type: ignore[index]
            self.cache.v[layer][flat] = state["v"][layer]  # type: ignore[index]
        self.cache.valid_BN[idx] = state["valid"]
        self.cache.pointer_B[idx] = state["pointer"]  # type: ignore[index]
        self.position_B[row] = state["position"]
        if self._prev is not None and state.get("prev") is not None:
            self._prev[row] = state["prev"]
        prompts = list(self._prompts)
        prompts[row] = state["prompt"]
        self._set_prompts(prompts, self.batch)

    def _branch_rows(self, row: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch rows of ``row`` in every guidance branch, and their token rows in the cache."""
        branches = self.sampling.scales.branches
        idx = torch.arange(branches, device=self.device) * self.batch + row
        per = self.dit.config.tokens_per_frame
        flat = (idx[:, None] * per + torch.arange(per, device=self.device)).reshape(-1)
        return idx, flat
