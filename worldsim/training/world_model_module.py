"""Stage 2: train the VideoDiT with flow matching and diffusion forcing on tokenizer latents."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import lightning as L
import torch
from einops import rearrange
from torch import nn

from worldsim.diffusion.adversarial import (
    PatchDiscriminator,
    adaptive_weight,
    adversarial_losses,
)
from worldsim.diffusion.ego_warp import ego_warp_for, warp_frames
from worldsim.diffusion.flow import (
    FlowConfig,
    add_noise,
    flow_loss,
    sample_forcing_levels,
    switch_frame_weights,
    velocity_target,
)
from worldsim.diffusion.guidance import drop_conditions
from worldsim.diffusion.prediction import x0_residual_loss
from worldsim.diffusion.samplers import SamplingConfig
from worldsim.diffusion.texture_loss import texture_loss
from worldsim.models.conditioning import FrameConditioning, per_frame_text
from worldsim.models.dit import VideoDiT
from worldsim.models.env_heads import EnvHeads, transition_pairs
from worldsim.models.tokenizer import FrameTokenizer, frames_to_tensor
from worldsim.runtime.checkpoint import FORMAT_VERSION
from worldsim.runtime.parts import WorldModelParts
from worldsim.runtime.world_model import WorldModel
from worldsim.training.schedule import OptimizerFactory, WarmupSchedule, clip_each


class WorldModelModule(L.LightningModule):
    """Receives built networks; the tokenizer is frozen, the DiT and text encoder train."""

    def __init__(
        self,
        tokenizer: FrameTokenizer,
        dit: VideoDiT,
        text_encoder: nn.Module,
        optimizer: OptimizerFactory,
        flow: FlowConfig,
        motion_mean: list[float],
        motion_std: list[float],
        dt: float,
        sampling: SamplingConfig | None = None,
        warmup_steps: int = 100,
        lr_decay_steps: int | None = None,
        text_state: dict[str, Any] | None = None,
        run_config: dict[str, Any] | None = None,
        action_space: dict[str, Any] | None = None,
        env_heads: EnvHeads | None = None,
        env_heads_weight: float = 1.0,
    ) -> None:
        """``action_space``: the store's recorded space when the model is conditioned on raw
        actions; ``env_heads``: trained beside the DiT on the clips' real transitions."""
        super().__init__()
        self.tokenizer = tokenizer.eval().requires_grad_(False)
        self.dit = dit
        self.text_encoder = text_encoder
        self.schedule = WarmupSchedule(optimizer, warmup_steps, lr_decay_steps)
        self.flow = flow
        self.sampling = sampling or SamplingConfig()
        self.dt = float(dt)
        cfg = dit.config
        self.ego_warp = ego_warp_for(
            cfg.yaw_warp_hfov_deg,
            cfg.yaw_warp_horizon,
            cfg.yaw_warp_mount_height,
            tokenizer.config,
            cfg.yaw_warp_base,
            cfg.yaw_warp_interpolation,
        )
        self.discriminator = None
        self.terms: dict[str, torch.Tensor] = {}  # the last training step's loss terms, logged
        if flow.adversarial_weight > 0:
            # It judges (previous frame as the residual starts from it, frame) pairs.
            self.discriminator = PatchDiscriminator(
                2 * tokenizer.latent_channels, flow.adversarial_width
            )
        self.env_heads = env_heads
        self.env_heads_weight = float(env_heads_weight)
        self.register_buffer("motion_mean", torch.tensor(motion_mean, dtype=torch.float32))
        self.register_buffer("motion_std", torch.tensor(motion_std, dtype=torch.float32))
        self.save_hyperparameters(
            {
                "worldsim": {
                    "format_version": FORMAT_VERSION,
                    "tokenizer": _plain(asdict(tokenizer.config)),
                    "dit": dit.config.to_dict(),
                    "text": _plain(text_state or {}),
                    "flow": asdict(flow),
                    "sampling": asdict(self.sampling),
                    "motion_mean": list(map(float, motion_mean)),
                    "motion_std": list(map(float, motion_std)),
                    "dt": float(dt),
                    "warmup_steps": int(warmup_steps),
                    "config": _plain(run_config or {}),
                    "action_space": _plain(action_space),
                    "env_heads": None if env_heads is None else env_heads.config.to_dict(),
                }
            }
        )

    # -- batches ----------------------------------------------------------------------------
    def latents(self, batch: dict[str, Any]) -> torch.Tensor:
        """Clip latents ``(B, T, C, h, w)``: cached, or encoded from frames on the fly."""
        if "latents" in batch:
            return batch["latents"].float()
        frames = batch["frames"]  # (B, T, H, W, 3) uint8
        b = frames.shape[0]
        with torch.no_grad():
            x = frames_to_tensor(rearrange(frames, "b t h w c -> (b t) h w c"))
            z = self.tokenizer.encode(x.to(self.device))
        return rearrange(z, "(b t) c h w -> b t c h w", b=b)

    @staticmethod
    def incoming_motion(motion_BT2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame i is conditioned on the motion from frame i-1 to i; frame 0 gets the null."""
        shifted = torch.cat([torch.zeros_like(motion_BT2[:, :1]), motion_BT2[:, :-1]], dim=1)
        valid = torch.ones(motion_BT2.shape[:2], dtype=torch.bool, device=motion_BT2.device)
        valid[:, 0] = False
        return shifted, valid

    def flow_step(
        self,
        batch: dict[str, Any],
        generator: torch.Generator | None = None,
        train: bool = True,
        x0: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The flow-matching loss of a batch (``x0``: its latents, when already encoded)."""
        self.terms = {}
        x0 = self.latents(batch) if x0 is None else x0
        b, t = x0.shape[:2]
        cond = batch["cond"] if "cond" in batch else batch["ego_motion_norm"]
        motion, valid = self.incoming_motion(cond.float())
        prompts = list(batch["caption"])  # the caption of each clip's last frame
        firsts, switch_at_B = clip_captions(batch, self.device)  # and of its first frames
        x_in, context = x0, None  # x_in: x0 with its context frames replaced by a rollout's
        rollout = train and self.flow.rollout_prob > 0 and t >= 3
        if rollout and float(torch.rand(())) < self.flow.rollout_prob:
            x_in, context = self.rollout_context(x0, cond.float(), (firsts, prompts, switch_at_B))
        if train:
            kept = prompts
            prompts, valid = drop_conditions(
                prompts,
                valid,
                self.flow.text_dropout,
                self.flow.action_dropout,
                generator,
                keep_text_B=switch_at_B > 0,  # a switching clip's look change needs its prompt
            )
            firsts = [
                f if new == old else "" for f, new, old in zip(firsts, prompts, kept, strict=True)
            ]
        levels, mask = sample_forcing_levels(b, t, self.flow, generator, self.device, context)
        noise = torch.randn(x0.shape, generator=generator, device=self.device)
        if train and self.flow.sampler_prob > 0:
            levels, noise = self.at_sampler_start(levels, mask, noise, generator)
        xt = add_noise(x_in, noise, levels)
        tokens, mask_text, pooled = self.clip_text(firsts, prompts, switch_at_B, t)
        prev, prev_views = self.previous(x_in, motion, train, generator)  # (B, T, C | kC, h, w)
        cond = FrameConditioning(
            levels=levels,
            motion=motion,
            motion_valid=valid,
            text_tokens=tokens,
            text_mask=mask_text,
            text_pooled=pooled,
            prev_latents=prev_views if self.dit.config.prev_frame_input else None,
        )
        pred = self.dit(xt, cond)
        if train and self.flow.switch_weight != 1.0:  # the frames after a prompt switch
            mask = mask * switch_frame_weights(
                switch_at_B, t, self.flow.switch_span, self.flow.switch_weight
            )
        if self.flow.prediction == "x0_residual":
            mask = mask.clone()
            mask[:, 0] = 0.0  # the first frame of a clip has no previous frame to start from
            loss = x0_residual_loss(pred, x0, prev, levels, mask, self.flow.x0_loss)
            x0_hat = prev.float() + pred.float()
            if self.flow.texture_weight > 0:
                texture_mask = mask * (levels >= self.flow.texture_min_level)
                texture = texture_loss(x0_hat, x0, texture_mask, self.flow.texture_pool)
                loss = loss + self.flow.texture_weight * texture
            # Only after a rollout: a prediction from the model's own frames is where the
            # mean guess blurs, and one from true frames is too close to the truth to tell.
            if train and self.discriminator is not None and context is not None:
                self.terms["reconstruction"] = loss.detach()
                loss = loss + self.adversarial(loss, x0_hat, x0, prev, levels, mask)
            return loss
        return flow_loss(pred, velocity_target(x0, noise), mask)

    def adversarial(
        self,
        reconstruction: torch.Tensor,
        x0_hat_BTCHW: torch.Tensor,
        x0_BTCHW: torch.Tensor,
        prev_BTCHW: torch.Tensor,
        levels_BT: torch.Tensor,
        mask_BT: torch.Tensor,
    ) -> torch.Tensor:
        """The discriminator's loss plus the weighted predictor's loss, on the frames in the
        loss that start from the sampler's input (level 1), the only frames a one-step sampler
        makes, each beside the previous frame it was predicted from (``prev_BTCHW``, the
        residual's base); zero when a batch has none."""
        chosen_BT = (mask_BT > 0) & (levels_BT >= 1.0)
        if not bool(chosen_BT.any()):
            return reconstruction.new_zeros(())
        fake_NCHW, real_NCHW = x0_hat_BTCHW[chosen_BT], x0_BTCHW[chosen_BT].float()
        context_NCHW = prev_BTCHW[chosen_BT].float()
        d_loss, g_loss = adversarial_losses(self.discriminator, real_NCHW, fake_NCHW, context_NCHW)
        layer = self.dit.patch_out.weight
        if self.global_step < self.flow.adversarial_start:  # the discriminator's head start
            scale = reconstruction.new_zeros(())
        elif layer.requires_grad:
            scale = adaptive_weight(reconstruction, g_loss, layer)
        else:  # a fine-tune that freezes the last layer: the weight as given
            scale = reconstruction.new_ones(())
        weight = self.flow.adversarial_weight * scale
        self.terms.update(adv_d=d_loss.detach(), adv_g=g_loss.detach(), adv_weight=weight)
        return d_loss + weight * g_loss

    def clip_text(
        self, firsts: list[str], lasts: list[str], switch_at_B: torch.Tensor, frames: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The encoded text of every clip: one per clip, or one per frame (``(B, T, ...)``) when
        a caption switches inside a clip (frames before ``switch_at_B`` get ``firsts``)."""
        b = len(lasts)
        if not bool((switch_at_B > 0).any()):
            text = self.text_encoder(lasts)
            return text.tokens_BLD, text.mask_BL, text.pooled_BD
        text = self.text_encoder([*firsts, *lasts])  # one call: one padded length
        first = (text.tokens_BLD[:b], text.mask_BL[:b], text.pooled_BD[:b])
        last = (text.tokens_BLD[b:], text.mask_BL[b:], text.pooled_BD[b:])
        return per_frame_text(first, last, switch_at_B, frames)

    def at_sampler_start(
        self,
        levels_BT: torch.Tensor,
        mask_BT: torch.Tensor,
        noise_BTCHW: torch.Tensor,
        generator: torch.Generator | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """In a ``flow.sampler_prob`` share of the clips, the frames in the loss get level 1 and
        noise scaled by the sampler's temperature, as the sampler's first step sees them."""
        b = levels_BT.shape[0]
        clips_B = torch.rand(b, generator=generator, device=levels_BT.device)
        chosen_BT = (clips_B < self.flow.sampler_prob)[:, None] & (mask_BT > 0)
        levels_BT = torch.where(chosen_BT, torch.ones_like(levels_BT), levels_BT)
        scale_BT = torch.where(chosen_BT, float(self.sampling.temperature), 1.0)
        return levels_BT, noise_BTCHW * scale_BT[:, :, None, None, None]

    @torch.no_grad()
    def rollout_context(
        self,
        x0_BTCHW: torch.Tensor,
        cond_BTA: torch.Tensor,
        captions: tuple[list[str], list[str], torch.Tensor],
    ) -> tuple[torch.Tensor, int]:
        """The clip with frames ``c .. c+k-1`` replaced by the model's own continuation of
        frames ``0 .. c-1`` under the clip's motion, sampled exactly as at run time; returns it
        and the context length ``c + k`` (the frames after it are the training targets).

        ``captions`` is ``(first, last, switch_at_B)`` (see ``clip_captions``): the context is
        conditioned on the caption of frame ``c-1``, and the prompt switches where the clip's
        caption does, as ``WorldModel.step(prompts=...)`` switches it at run time."""
        t = x0_BTCHW.shape[1]
        k = int(torch.randint(1, min(self.flow.rollout_frames, t - 2) + 1, ()))
        c = int(torch.randint(1, t - k, ()))  # true frames; c + k <= t - 1 leaves a target
        # Physical units, on the CPU: the runtime takes motion as numpy-convertible input.
        motion_BTA = (cond_BTA * self.motion_std + self.motion_mean).cpu()
        modes = (self.dit.training, self.text_encoder.training)
        runtime = WorldModel.from_parts(self.parts(), self.sampling, device=self.device)
        try:
            past = motion_BTA[:, : c - 1] if c > 1 else None
            runtime.reset_latents(x0_BTCHW[:, :c], frame_prompts(captions, c - 1), past)
            made = [
                runtime.step_latents(motion_BTA[:, j - 1], frame_prompts(captions, j))
                for j in range(c, c + k)
            ]
        finally:
            self.dit.train(modes[0])
            self.text_encoder.train(modes[1])
        x_in = x0_BTCHW.clone()
        x_in[:, c : c + k] = torch.stack(made, dim=1).to(x_in.dtype)
        return x_in, c + k

    def parts(self) -> WorldModelParts:
        """The networks and statistics of this module, as the runtime takes them (shared)."""
        return WorldModelParts(
            self.tokenizer,
            self.dit,
            self.text_encoder,
            self.motion_mean.tolist(),
            self.motion_std.tolist(),
            dt=self.dt,
            prediction=self.flow.prediction,
        )

    def previous(
        self,
        x0_BTCHW: torch.Tensor,
        motion_BT2: torch.Tensor,
        train: bool,
        generator: torch.Generator | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame i-1 for frame i (zeros for frame 0) as ``EgoWarp.views`` gives it, under the
        ego motion from i-1 to i when the model warps: the base that the residual is added
        to, and the DiT's input; both are noised in training when ``flow.prev_noise`` is set
        (with the same noise)."""
        prev = previous_frames(x0_BTCHW)
        physical_BT2 = motion_BT2[..., :2] * self.motion_std[:2] + self.motion_mean[:2]
        base, views = warp_frames(self.ego_warp, prev, physical_BT2, self.dt)
        if train and self.flow.prev_noise > 0:
            b = prev.shape[0]
            sigma = torch.rand(b, generator=generator, device=prev.device) * self.flow.prev_noise
            noise = torch.randn(prev.shape, generator=generator, device=prev.device)
            noise = sigma.reshape(b, 1, 1, 1, 1) * noise
            noise[:, 0] = 0.0
            base = base + noise
            repeats = views.shape[2] // base.shape[2]
            views = views + noise.repeat(1, 1, repeats, 1, 1)
        return base, views

    # -- lightning hooks --------------------------------------------------------------------
    def heads_losses(
        self, batch: dict[str, Any], x0_BTCHW: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """The env heads' losses on the clip's real transitions (none without heads or labels)."""
        if self.env_heads is None or "reward" not in batch:
            return {}
        z0, z1 = transition_pairs(x0_BTCHW)
        action, _ = transition_pairs(batch["cond"].float())
        _, reward = transition_pairs(batch["reward"])  # received on arriving at frame t+1
        _, ended = transition_pairs(batch["terminated"])
        return self.env_heads.loss(z0, z1, action, reward, ended)

    def _step(self, batch: dict[str, Any], stage: str, train: bool, batch_idx: int) -> torch.Tensor:
        generator = None
        if not train:
            generator = torch.Generator(device=self.device).manual_seed(1000 + batch_idx)
        x0 = self.latents(batch)
        loss = self.flow_step(batch, generator, train=train, x0=x0)
        size = len(batch["caption"])
        self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=size, sync_dist=not train)
        for name, value in self.terms.items():
            self.log(f"{stage}/{name}", value, batch_size=size, sync_dist=not train)
        heads = self.heads_losses(batch, x0)
        for name, value in heads.items():
            self.log(f"{stage}/heads_{name}", value, batch_size=size, sync_dist=not train)
        if heads:
            loss = loss + self.env_heads_weight * sum(heads.values())
        return loss

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train", True, batch_idx)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "val", False, batch_idx)

    def configure_optimizers(self) -> dict[str, Any]:
        if self.discriminator is None:
            return self.schedule.configure([p for p in self.parameters() if p.requires_grad])
        # The discriminator in its own group, at its own learning rate.
        players = [
            {"params": self.predictor_parameters()},
            {"params": [p for p in self.discriminator.parameters() if p.requires_grad]},
        ]
        configured = self.schedule.configure(players)
        scale = self.flow.adversarial_lr_scale
        group = configured["optimizer"].param_groups[1]
        group["lr"], group["initial_lr"] = group["lr"] * scale, group["initial_lr"] * scale
        scheduler = configured["lr_scheduler"]["scheduler"]
        scheduler.base_lrs[1] *= scale  # what the schedule multiplies at every step
        return configured

    def predictor_parameters(self) -> list[nn.Parameter]:
        """The trainable parameters other than the discriminator's."""
        disc = {id(p) for p in self.discriminator.parameters()} if self.discriminator else set()
        return [p for p in self.parameters() if p.requires_grad and id(p) not in disc]

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """With a discriminator, each player's gradient norm is clipped on its own, so that
        the discriminator's gradients do not shrink the model's steps (nor the reverse)."""
        if self.discriminator is None:
            super().configure_gradient_clipping(
                optimizer, gradient_clip_val, gradient_clip_algorithm
            )
            return
        players = (self.predictor_parameters(), self.discriminator.parameters())
        clip_each(players, gradient_clip_val, gradient_clip_algorithm)


def clip_captions(batch: dict[str, Any], device: torch.device) -> tuple[list[str], torch.Tensor]:
    """The caption of each clip's first frame and the frame index ``(B,)`` from which the
    batch's ``caption`` holds (0 for every clip of a batch without ``switch_at``)."""
    lasts = list(batch["caption"])
    if "switch_at" not in batch:
        return lasts, torch.zeros(len(lasts), dtype=torch.long, device=device)
    firsts = list(batch["caption_first"])
    return firsts, torch.as_tensor(batch["switch_at"], dtype=torch.long, device=device)


def frame_prompts(captions: tuple[list[str], list[str], torch.Tensor], frame: int) -> list[str]:
    """The caption of frame ``frame`` of every clip, from ``(first, last, switch_at_B)``."""
    firsts, lasts, switch_at_B = captions
    return [
        last if frame >= at else first
        for first, last, at in zip(firsts, lasts, switch_at_B.tolist(), strict=True)
    ]


def previous_frames(x0_BTCHW: torch.Tensor) -> torch.Tensor:
    """For every frame the clean latents of the frame before it; zeros for the first."""
    return torch.cat([torch.zeros_like(x0_BTCHW[:, :1]), x0_BTCHW[:, :-1]], dim=1)


def _plain(value: Any) -> Any:
    """Tuples to lists recursively, so hyper-parameters are plain YAML/JSON data."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
