"""World-model speed and quality, measured in one run on this machine.

Measures training samples per second (forward + backward + AdamW step of the world-model module
on real cached latents), rollout frames per second with and without the KV cache at several
horizons, and the tokenizer's reconstruction PSNR on held-out episodes.

Usage:
  python benchmarks/world_model.py \
      --checkpoint outputs/runs/world_model_tiny/checkpoints/last.ckpt \
      --store outputs/data/procedural [--quick]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _table import BenchRow, new_parser, require_inputs, run

from worldsim.data.store import EpisodeStore
from worldsim.models.tokenizer import frames_to_tensor
from worldsim.runtime.checkpoint import load_world_model
from worldsim.runtime.world_model import WorldModel
from worldsim.utils.psnr import psnr_tensor

GROUP = "world model"
QUICK = {"batch": 2, "train_steps": 2, "horizons": [8], "episodes": 2}
WARMUP_STEPS = 2


def clip_latents(
    model: WorldModel, store: EpisodeStore, batch: int, clip: int
) -> tuple[torch.Tensor, list[str]]:
    """Tokenizer latents of ``batch`` training clips (B, T, ...) and their captions, from the
    training episodes that hold a whole clip."""
    keys = [k for k in store.keys("train") if store.num_frames(k) >= clip]
    if not keys:
        longest = max((store.num_frames(k) for k in store.keys("train")), default=0)
        raise SystemExit(
            f"the model trains on clips of {clip} frames, and the store's training episodes "
            f"have at most {longest}: give --store a store with episodes of {clip} frames or "
            f"more (worldsim-data frames={clip})"
        )
    frames = np.stack([store.frames(keys[i % len(keys)], 0, clip) for i in range(batch)])
    with torch.no_grad():
        latents = model.tokenizer.encode(frames_to_tensor(frames.reshape(-1, *frames.shape[2:])))
    captions = [store.caption(keys[i % len(keys)]) for i in range(batch)]
    return latents.reshape(batch, clip, *latents.shape[1:]), captions


def training_flow(model: WorldModel) -> Any:
    """The model's own training objective (``FlowConfig``) from its recorded run config; the
    defaults for a model whose config does not record one."""
    import dataclasses

    from worldsim.diffusion.flow import FlowConfig

    recorded = model.metadata.get("config", {}).get("diffusion") or {}
    names = {f.name for f in dataclasses.fields(FlowConfig)}
    return FlowConfig(**{k: v for k, v in recorded.items() if k in names})


def training_throughput(
    model: WorldModel, store: EpisodeStore, batch: int, clip: int, steps: int
) -> float:
    """Samples (clips) per second of the training step the model was trained with: the
    world-model module's loss (its rollouts, texture and adversarial terms included, as its
    recorded diffusion config sets them), backward and AdamW, on real clips."""
    import functools

    from worldsim.training.world_model_module import WorldModelModule

    latents, captions = clip_latents(model, store, batch, clip)
    parts = model.parts
    module = WorldModelModule(
        parts.tokenizer,
        parts.dit,
        parts.text_encoder,
        optimizer=functools.partial(torch.optim.AdamW, lr=1e-4),
        flow=training_flow(model),
        motion_mean=parts.motion_mean,
        motion_std=parts.motion_std,
        dt=parts.dt,
        sampling=model.sampling,
    ).train()
    opt = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=1e-4)
    batch_dict = {"cond": torch.zeros(batch, clip, 2), "caption": captions}
    times = []
    for i in range(steps + WARMUP_STEPS):
        t0 = time.perf_counter()
        loss = module.flow_step(batch_dict, x0=latents)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= WARMUP_STEPS:
            times.append(time.perf_counter() - t0)
    module.eval()
    return batch / float(np.median(times))


def rollout_fps(
    path: Path, store: EpisodeStore, use_cache: bool, horizon: int, batch: int
) -> float:
    """Generated frames per second over ``horizon`` steps after a two-frame context."""
    model = load_world_model(path, use_cache=use_cache)
    key = store.keys("val")[0] if store.keys("val") else store.keys()[0]
    ctx = np.repeat(store.frames(key, 0, 2)[None], batch, axis=0)
    g = torch.Generator().manual_seed(0)
    model.reset(ctx, store.caption(key), generator=g)
    motion = np.tile([[10.0, 0.0]], (batch, 1))
    start = time.perf_counter()
    for _ in range(horizon):
        model.step(motion, generator=g)
    return horizon * batch / (time.perf_counter() - start)


def tokenizer_psnr(model: WorldModel, store: EpisodeStore, episodes: int) -> tuple[float, int]:
    """Mean reconstruction PSNR over the first held-out episodes, and how many were used."""
    keys = (store.keys("val") or store.keys())[:episodes]
    values = []
    for key in keys:
        x = frames_to_tensor(store.frames(key))
        with torch.no_grad():
            values.append(float(psnr_tensor(model.tokenizer.decode(model.tokenizer.encode(x)), x)))
    return float(np.mean(values)), len(keys)


def rollout_rows(path: Path, store: EpisodeStore, horizon: int, steps: int) -> list[BenchRow]:
    """Cached and uncached rollout speed at one horizon, and their ratio."""
    cached = rollout_fps(path, store, True, horizon, 1)
    uncached = rollout_fps(path, store, False, horizon, 1)
    note = f"batch 1, {steps} sampling steps per frame"
    return [
        BenchRow(GROUP, f"rollout h={horizon}, KV cache", cached, "frames/s", note),
        BenchRow(GROUP, f"rollout h={horizon}, no cache", uncached, "frames/s", note),
        BenchRow(GROUP, f"rollout h={horizon}, cache speed-up", cached / uncached, "x"),
    ]


def measure(args: argparse.Namespace) -> list[BenchRow]:
    """Training throughput, rollout speed per horizon and tokenizer PSNR."""
    require_inputs(args.checkpoint, args.store)
    store = EpisodeStore(args.store)
    model = load_world_model(args.checkpoint)
    clip = int(model.metadata["config"].get("data", {}).get("clip_len", 8))
    sps = training_throughput(model, store, args.batch, clip, args.train_steps)
    note = f"batch {args.batch}, clips of {clip} frames, median of {args.train_steps} steps"
    rows = [BenchRow(GROUP, "train step (fwd+bwd+AdamW)", sps, "samples/s", note)]
    for horizon in args.horizons:
        rows += rollout_rows(args.checkpoint, store, horizon, model.sampling.steps)
    value, used = tokenizer_psnr(model, store, args.episodes)
    note = f"held-out episodes: {used}"
    rows.append(BenchRow(GROUP, "tokenizer reconstruction", value, "dB PSNR", note))
    return rows


def build_parser() -> argparse.ArgumentParser:
    """Options of this benchmark."""
    parser = new_parser(__doc__)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--train-steps", type=int, default=5)
    parser.add_argument("--horizons", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--episodes", type=int, default=4, help="held-out episodes for PSNR")
    return parser


if __name__ == "__main__":
    run(build_parser(), QUICK, measure, "# world model {checkpoint}")
