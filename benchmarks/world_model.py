"""World-model speed and quality, measured in one run on this machine.

Prints training samples per second (forward + backward + AdamW step of the world-model module on
real cached latents), rollout frames per second with and without the KV cache at several
horizons, and the tokenizer's reconstruction PSNR on held-out episodes.

Usage:
  python benchmarks/world_model.py \
      --checkpoint outputs/runs/world_model_tiny/checkpoints/last.ckpt \
      --store outputs/data/procedural
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from worldsim.data.store import EpisodeStore
from worldsim.models.tokenizer import frames_to_tensor, psnr_tensor
from worldsim.runtime.checkpoint import load_world_model


def training_throughput(model, store: EpisodeStore, batch: int, clip: int, steps: int) -> float:
    """Samples (clips) per second for a training step of the DiT + text encoder."""
    from worldsim.diffusion.flow import FlowConfig, add_noise, flow_loss, sample_forcing_levels
    from worldsim.training.world_model_module import WorldModelModule

    keys = store.keys("train")
    frames = np.stack([store.frames(keys[i % len(keys)], 0, clip) for i in range(batch)])
    with torch.no_grad():
        x = frames_to_tensor(frames.reshape(-1, *frames.shape[2:]))
        latents = model.tokenizer.encode(x).reshape(
            batch, clip, *model.tokenizer.encode(x[:1]).shape[1:]
        )
    dit, text = model.dit.train(), model.text_encoder.train()
    params = [p for p in (*dit.parameters(), *text.parameters()) if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    motion = torch.zeros(batch, clip, 2)
    shifted, valid = WorldModelModule.incoming_motion(motion)
    captions = [store.caption(keys[i % len(keys)]) for i in range(batch)]
    cfg = FlowConfig()
    times = []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        levels, mask = sample_forcing_levels(batch, clip, cfg)
        noise = torch.randn_like(latents)
        enc = text(captions)
        pred = dit(
            add_noise(latents, noise, levels),
            levels,
            shifted,
            valid,
            enc.tokens_BLD,
            enc.mask_BL,
            enc.pooled_BD,
        )
        loss = flow_loss(pred, noise - latents, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    dit.eval(), text.eval()
    return batch / float(np.median(times))


def rollout_fps(
    path: Path, store: EpisodeStore, use_cache: bool, horizon: int, batch: int
) -> float:
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


def tokenizer_psnr(model, store: EpisodeStore, episodes: int = 4) -> float:
    keys = store.keys("val") or store.keys()
    values = []
    for key in keys[:episodes]:
        x = frames_to_tensor(store.frames(key))
        with torch.no_grad():
            values.append(float(psnr_tensor(model.tokenizer.decode(model.tokenizer.encode(x)), x)))
    return float(np.mean(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=Path("outputs/runs/world_model_tiny/checkpoints/last.ckpt"),
    )
    parser.add_argument("--store", type=Path, default=Path("outputs/data/procedural"))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--horizons", type=int, nargs="+", default=[16, 64])
    args = parser.parse_args()
    if not args.checkpoint.is_file():
        raise SystemExit(
            f"{args.checkpoint} not found: run `make demo` or the training presets first"
        )
    store = EpisodeStore(args.store)
    model = load_world_model(args.checkpoint)
    print(f"# world model {args.checkpoint}, torch threads {torch.get_num_threads()}")
    clip = int(model.metadata["config"].get("data", {}).get("clip_len", 8))
    sps = training_throughput(model, store, args.batch, clip, steps=5)
    print(f"training: {sps:.1f} samples/s (batch {args.batch}, clips of {clip} frames)")
    print(f"{'horizon':>8} {'cached fps':>11} {'uncached fps':>13} {'speed-up':>9}")
    for horizon in args.horizons:
        cached = rollout_fps(args.checkpoint, store, True, horizon, 1)
        uncached = rollout_fps(args.checkpoint, store, False, horizon, 1)
        print(f"{horizon:>8} {cached:>11.1f} {uncached:>13.1f} {cached / uncached:>8.1f}x")
    print(
        f"tokenizer reconstruction PSNR on held-out episodes: {tokenizer_psnr(model, store):.2f} dB"
    )


if __name__ == "__main__":
    main()
