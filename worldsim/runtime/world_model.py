"""``WorldModel``: tokenizer, VideoDiT and text encoder behind a streaming generation API.

Frames are generated one at a time. Each past frame is encoded, lightly re-noised (context
noise augmentation) and passed through the DiT once to fill the per-layer temporal KV cache;
the cache keeps the last ``context_window - 1`` frames, so the cost per generated frame and the
memory stay constant however long the rollout runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, fields
from typing import Any

import numpy as np
import torch
from torch import nn

from worldsim.diffusion.ego_warp import ego_warp_for
from worldsim.diffusion.flow import add_noise
from worldsim.diffusion.guidance import combine_guidance
from worldsim.diffusion.prediction import check_prediction, velocity_from_output
from worldsim.diffusion.samplers import SamplingConfig, get_sampler, initial_noise, make_schedule
from worldsim.models.dit import KVCache, VideoDiT
from worldsim.models.tokenizer import frames_to_tensor, tensor_to_frames
from worldsim.runtime import inputs
from worldsim.runtime.conditioner import BranchConditioner, expand_branches
from worldsim.runtime.parts import WorldModelParts
from worldsim.runtime.reference import UncachedReference

__all__ = ["SamplingConfig", "WorldModel", "WorldModelParts"]


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
        motion_mean: Sequence[float],  # (A,) of the ego motion, in physical units
        motion_std: Sequence[float],  # (A,)
        dt: float,  # seconds between frames
        sampling: SamplingConfig | None = None,  # None: the default SamplingConfig()
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,  # of the DiT and the latents
        metadata: dict[str, Any] | None = None,
        use_cache: bool = True,  # False: the uncached reference path (reference.py)
        prediction: str = "velocity",  # what the DiT outputs (diffusion/prediction.py)
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
        self.ego_warp = ego_warp_for(
            cfg.yaw_warp_hfov_deg,
            cfg.yaw_warp_horizon,
            cfg.yaw_warp_mount_height,
            tok_cfg,
            cfg.yaw_warp_base,
            cfg.yaw_warp_interpolation,
        )
        self.sampling = sampling or SamplingConfig()
        self.metadata = dict(metadata or {})
        self.cache: KVCache | None = None
        self.position_B = torch.zeros(0, dtype=torch.long, device=self.device)
        self.batch = 0
        self._cond = BranchConditioner(
            self.text_encoder, self.device, dtype, self.dit.text_keys_values
        )
        self._prev: torch.Tensor | None = None  # (B, C, h, w) clean latents of the last frame
        self._reference = UncachedReference(self.dit)  # the history, when use_cache is False

    @classmethod
    def from_parts(
        cls,
        parts: WorldModelParts,
        sampling: SamplingConfig | None = None,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        metadata: dict[str, Any] | None = None,
        use_cache: bool = True,
    ) -> WorldModel:
        """The runtime of a trained model's ``parts`` with these run-time settings."""
        trained = {f.name: getattr(parts, f.name) for f in fields(parts)}  # named as in __init__
        settings: dict[str, Any] = {"device": device, "dtype": dtype, "use_cache": use_cache}
        return cls(**trained, sampling=sampling, metadata=metadata, **settings)

    @property
    def parts(self) -> WorldModelParts:
        """The networks and statistics this runtime runs (shared, not copied)."""
        return WorldModelParts(
            tokenizer=self.tokenizer,
            dit=self.dit,
            text_encoder=self.text_encoder,
            motion_mean=self.motion_mean.tolist(),
            motion_std=self.motion_std.tolist(),
            dt=self.dt,
            prediction=self.prediction,
        )

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
        """Frames a generated frame attends to, itself included."""
        return self.dit.config.context_window

    @property
    def resolution(self) -> tuple[int, int]:
        """``(H, W)`` of the frames in and out."""
        cfg = self.dit.config
        down = self.tokenizer.downsample
        return cfg.latent_height * down, cfg.latent_width * down

    @property
    def prompts(self) -> tuple[str, ...]:
        """The text condition of every batch row (read-only; set by reset, reset_rows, step)."""
        return tuple(self._cond.prompts)

    def sampling_dict(self) -> dict[str, Any]:
        """The sampling settings as plain data."""
        return asdict(self.sampling)

    def with_sampling(self, **overrides: Any) -> WorldModel:
        """A new runtime over the same networks with some ``SamplingConfig`` fields replaced
        (its own rolling context, nothing shared but the weights)."""
        unknown = sorted(set(overrides) - set(self.sampling_dict()))
        if unknown:
            raise ValueError(
                f"unknown sampling settings {unknown}; choose from {sorted(self.sampling_dict())}"
            )
        return WorldModel.from_parts(
            self.parts,
            SamplingConfig(**{**self.sampling_dict(), **overrides}),
            device=self.device,
            dtype=self.dtype,
            metadata=self.metadata,
            use_cache=self.use_cache,
        )

    # -- conditioning -----------------------------------------------------------------------
    def normalize_motion(self, motion_N2: torch.Tensor) -> torch.Tensor:
        """Ego motion in physical units to the normalised units the DiT is conditioned on."""
        return (motion_N2.to(self.device, torch.float32) - self.motion_mean) / self.motion_std

    def _set_prompts(self, prompts: str | Sequence[str], batch: int) -> None:
        """Condition the rows on ``prompts`` (one, or one per row)."""
        self._cond.set_prompts(prompts, batch, self.sampling.scales)

    def _expand(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` repeated once per guidance branch along the batch."""
        return expand_branches(x, self.sampling.scales)

    def _motion_inputs(self, motion_B2: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised motion and its validity for every branch row (None: null motion)."""
        norm_B2 = None if motion_B2 is None else self.normalize_motion(motion_B2)
        return self._cond.motion(norm_B2, self.batch, self.action_dim, self.sampling.scales)

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
        frames = inputs.context_frames(context_frames, self.resolution)
        latents = torch.stack([self.encode(frames[:, i]) for i in range(frames.shape[1])], 1)
        self.reset_latents(latents, prompts, past_motion, generator)

    @torch.no_grad()
    def reset_latents(
        self,
        latents_BTCHW: torch.Tensor,
        prompts: str | Sequence[str],
        past_motion: np.ndarray | torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        """``reset`` from the tokenizer latents of the context frames (training rollouts)."""
        b, t = latents_BTCHW.shape[:2]
        if past_motion is not None:
            past = inputs.past_motion(past_motion, b, t, self.action_dim)
        self.batch = b
        self.cache = self.dit.new_cache()
        self._reference.clear()
        self._prev = self._zero_latents()
        self.position_B = torch.zeros(b, dtype=torch.long, device=self.device)
        self._cond.text = None
        self._set_prompts(prompts, b)
        for i in range(t):
            latents = latents_BTCHW[:, i].to(self.device, self.dtype)
            motion = None if (past_motion is None or i == 0) else past[:, i - 1]
            self._commit(latents, motion, generator)

    @torch.no_grad()
    def reset_rows(
        self,
        rows: np.ndarray | torch.Tensor,  # bool (B,): the rows to restart
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
        mask = inputs.row_mask(rows, self.batch, self.device)
        idx = torch.nonzero(mask)[:, 0]
        r = int(idx.numel())
        frames = inputs.row_context_frames(context_frames, r)
        t = frames.shape[1]
        row_prompts = inputs.row_prompts(prompts, r)
        self._cond.replace_prompts(idx.tolist(), row_prompts, self.sampling.scales)
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
        return self.decode(self.step_latents(ego_motion, prompts, generator, rows))

    @torch.no_grad()
    def step_latents(
        self,
        ego_motion: np.ndarray | torch.Tensor,
        prompts: str | Sequence[str] | None = None,
        generator: torch.Generator | None = None,
        rows: np.ndarray | torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``step`` without the decode: the new frame's latents ``(B, C, h, w)``."""
        if self.cache is None:
            raise RuntimeError("call reset() with context frames before step()")
        motion = inputs.ego_motion(ego_motion, self.batch, self.action_dim)
        if prompts is not None:
            self._set_prompts(prompts, self.batch)
        mask = None
        if rows is not None:
            if not self.use_cache:
                raise RuntimeError("stepping a subset of rows needs the KV cache (use_cache=True)")
            mask = inputs.row_mask(rows, self.batch, self.device)
        warped = self._warped_prev(motion)  # the same views serve the sampling and the commit
        latents = self.sample_latents(motion, generator, warped)
        self._commit(latents, motion, generator, rows=mask, warped=warped)
        return latents

    @torch.no_grad()
    def rollout(
        self,
        context_frames: np.ndarray | torch.Tensor,
        ego_motion: np.ndarray | torch.Tensor,  # (B, N, 2) in m/s and rad/s
        prompts: str | Sequence[str],
        past_motion: np.ndarray | torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> np.ndarray:
        """Generate ``N`` frames for ego motions ``(B, N, 2)``; returns uint8 ``(B, N, H, W, 3)``."""
        motion = inputs.motion_sequence(ego_motion, self.action_dim)
        self.reset(context_frames, prompts, past_motion, generator)
        frames = [self.step(motion[:, i], generator=generator) for i in range(motion.shape[1])]
        return np.stack(frames, axis=1)

    # -- pieces -----------------------------------------------------------------------------
    def encode(self, frames_BHWC: torch.Tensor) -> torch.Tensor:
        """Latents ``(B, C, h, w)`` of uint8 frames ``(B, H, W, 3)``."""
        x = frames_to_tensor(frames_BHWC).to(self.device)
        return self.tokenizer.encode(x).to(self.dtype)

    def _zero_latents(self) -> torch.Tensor:
        """Zero latents ``(B, C, h, w)``."""
        cfg = self.dit.config
        shape = (self.batch, cfg.latent_channels, cfg.latent_height, cfg.latent_width)
        return torch.zeros(shape, device=self.device, dtype=self.dtype)

    def _warped_prev(
        self, motion_B2: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The previous frame's clean latents as ``EgoWarp.views`` gives them under the ego
        motion ``motion_B2`` (physical units): the residual's base and the DiT's input."""
        if self._prev is None:
            return None, None
        if self.ego_warp is None or motion_B2 is None:
            if self.dit.config.prev_views == 1:
                return self._prev, self._prev
            motion_B2 = torch.zeros(self.batch, 2, device=self.device)  # no motion: no move
        return self.ego_warp.views(self._prev, motion_B2, self.dt)

    def _prev_input(self, prev_BCHW: torch.Tensor | None) -> torch.Tensor | None:
        """The previous frame's views for every guidance branch, when the DiT takes them."""
        if not self.dit.config.prev_frame_input:
            return None
        assert prev_BCHW is not None
        return self._expand(prev_BCHW)

    def decode(self, latents_BCHW: torch.Tensor) -> np.ndarray:
        """uint8 frames ``(B, H, W, 3)`` of latents ``(B, C, h, w)``."""
        frames = self.tokenizer.decode(latents_BCHW.float())
        return tensor_to_frames(frames).cpu().numpy()

    def sample_latents(
        self,
        motion_B2: torch.Tensor,
        generator: torch.Generator | None,
        warped: tuple[torch.Tensor | None, torch.Tensor | None] | None = None,
    ) -> torch.Tensor:
        """Denoise one new frame per row, attending to the cached context (``warped``: the
        previous frame's ``_warped_prev`` views under ``motion_B2``, when already made)."""
        assert self.cache is not None and self._cond.text is not None
        cfg = self.dit.config
        shape = (self.batch, cfg.latent_channels, cfg.latent_height, cfg.latent_width)
        if self.sampling.temperature == 0:  # the deterministic sampler starts from zeros
            x = torch.zeros(shape, device=self.device, dtype=self.dtype)  # nothing to draw
        else:
            x = initial_noise(shape, generator, self.device, self.dtype) * self.sampling.temperature
        motion, valid = self._motion_inputs(motion_B2)
        scales = self.sampling.scales
        cache, position = self.cache, self._expand(self.position_B)
        prev, prev_views = self._warped_prev(motion_B2) if warped is None else warped
        prev_in = self._prev_input(prev_views)
        prev_out = None if prev is None else self._expand(prev)

        def velocity(x_B: torch.Tensor, t_B: torch.Tensor) -> torch.Tensor:
            x, t = self._expand(x_B), self._expand(t_B.to(self.dtype))
            cond = self._cond.frame(t, motion, valid, prev_in)
            if not self.use_cache:
                out = self._reference.output(x, cond)
            else:
                out = self.dit.forward_step(x, cond, cache, position, commit=False)
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
        warped: tuple[torch.Tensor | None, torch.Tensor | None] | None = None,
    ) -> None:
        """Re-noise a finished frame to the context level and store it in the KV cache (only for
        ``rows`` when given; ``warped`` as in ``sample_latents``)."""
        assert self.cache is not None and self._cond.text is not None
        level = self.sampling.context_noise
        t_B = torch.full((self.batch,), level, device=self.device, dtype=self.dtype)
        clean_BCHW = latents_BCHW
        prev_in = self._prev_input((self._warped_prev(motion_B2) if warped is None else warped)[1])
        if level > 0:
            noise = initial_noise(tuple(latents_BCHW.shape), generator, self.device, self.dtype)
            latents_BCHW = add_noise(latents_BCHW, noise, t_B)
        motion, valid = self._motion_inputs(motion_B2)
        cond = self._cond.frame(self._expand(t_B), motion, valid, prev_in)
        all_B = torch.ones(self.batch, dtype=torch.bool, device=self.device)
        rows_B = all_B if rows is None else rows
        if not self.use_cache:
            self._reference.append(self._expand(latents_BCHW), cond)
            self.position_B += 1
            self._prev = clean_BCHW.clone()
            return
        position_B = self._expand(self.position_B)
        commit_B = self._expand(rows_B)
        self.dit.commit_step(self._expand(latents_BCHW), cond, self.cache, position_B, commit_B)
        self.position_B[rows_B] += 1
        assert self._prev is not None
        self._prev[rows_B] = clean_BCHW[rows_B]

    # -- per-row state (forking) ------------------------------------------------------------
    def row_state(self, row: int) -> dict[str, Any]:
        """A copy of everything row ``row`` needs to continue: cache slots, position, prompt."""
        if self.cache is None or not self.cache.allocated:
            raise RuntimeError("call reset() before row_state()")
        return {
            **self.cache.snapshot_rows(self._branch_rows(row)),
            "position": int(self.position_B[row]),
            "prompt": self._cond.prompts[row],
            "prev": None if self._prev is None else self._prev[row].clone(),
        }

    def load_row_state(self, row: int, state: dict[str, Any]) -> None:
        """Restore a row from :meth:`row_state` (possibly taken from another row)."""
        if self.cache is None or not self.cache.allocated:
            raise RuntimeError("call reset() before load_row_state()")
        self.cache.restore_rows(self._branch_rows(row), state)
        self.position_B[row] = state["position"]
        if self._prev is not None and state.get("prev") is not None:
            self._prev[row] = state["prev"]
        self._cond.replace_prompts([row], [state["prompt"]], self.sampling.scales)

    def _branch_rows(self, row: int) -> torch.Tensor:
        """Batch rows of ``row`` in every guidance branch: its rows in the KV cache."""
        return torch.arange(self.sampling.scales.branches, device=self.device) * self.batch + row
