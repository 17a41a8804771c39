"""Held-out rollout quality of a world model against the repeat-last-frame baseline, and whether
steering left and right from the same context moves the generated image the right way.

Usage:
  python benchmarks/rollout_quality.py \
      --checkpoint outputs/runs/world_model_tiny/checkpoints/last.ckpt \
      --store outputs/data/procedural
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from worldsim.data.store import EpisodeStore
from worldsim.data.video import psnr
from worldsim.runtime.checkpoint import load_world_model


def horizontal_shift(a_HW3: np.ndarray, b_HW3: np.ndarray, max_shift: int = 12) -> int:
    """Columns by which the lower half of ``b`` is shifted right relative to ``a``
    (best match of the column-mean luminance profiles)."""
    lum = np.array([0.299, 0.587, 0.114])
    pa = (a_HW3[a_HW3.shape[0] // 2 :].astype(float) @ lum).mean(0)
    pb = (b_HW3[b_HW3.shape[0] // 2 :].astype(float) @ lum).mean(0)
    pa, pb = pa - pa.mean(), pb - pb.mean()
    best, best_err = 0, np.inf
    for s in range(-max_shift, max_shift + 1):
        if s >= 0:
            err = np.mean((pb[s:] - pa[: len(pa) - s]) ** 2)
        else:
            err = np.mean((pb[:s] - pa[-s:]) ** 2)
        if err < best_err:
            best, best_err = s, err
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=Path("outputs/runs/world_model_tiny/checkpoints/last.ckpt"),
    )
    parser.add_argument("--store", type=Path, default=Path("outputs/data/procedural"))
    parser.add_argument("--context", type=int, default=2)
    parser.add_argument("--horizon", type=int, default=10)
    parser.add_argument("--steps", type=int, default=None, help="sampling steps override")
    parser.add_argument(
        "--guidance-action", type=float, default=None, help="action guidance scale override"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    store = EpisodeStore(args.store)
    sampling = {}
    if args.steps:
        sampling["steps"] = args.steps
    if args.guidance_action is not None:
        sampling["guidance_action"] = args.guidance_action
    model = load_world_model(args.checkpoint, sampling=sampling or None)
    keys = store.keys("val")
    k, n = args.context, args.horizon
    g = torch.Generator().manual_seed(args.seed)
    gen_psnr = {1: [], n: []}
    base_psnr = {1: [], n: []}
    for key in keys:
        total = store.num_frames(key)
        motion = store.ego_motion(key)
        for start in range(0, total - k - n + 1, k + n):
            frames = store.frames(key, start, k + n)
            m = motion[start : start + k + n]
            out = model.rollout(
                frames[None, :k],
                m[None, k - 1 : k + n - 1],
                store.caption(key),
                m[None, : k - 1],
                g,
            )[0]
            for h in (1, n):
                gen_psnr[h].append(psnr(out[h - 1], frames[k + h - 1]))
                base_psnr[h].append(psnr(frames[k - 1], frames[k + h - 1]))
    print(
        f"# {args.checkpoint}: {len(gen_psnr[1])} held-out windows from {len(keys)} val episodes, "
        f"{model.sampling.steps} sampling steps"
    )
    print(f"{'horizon':>8} {'model PSNR':>11} {'repeat-last PSNR':>17}")
    for h in (1, n):
        print(f"{h:>8} {np.mean(gen_psnr[h]):>11.2f} {np.mean(base_psnr[h]):>17.2f}")

    # Steering: same context, +yaw vs -yaw; measure the image shift of the last frame.
    shifts = {"left": [], "right": []}
    starts = [(key, s) for key in keys for s in range(0, store.num_frames(key) - k, k + n)]
    for key, start in starts:
        frames = store.frames(key, start, k)
        speed = max(float(store.ego_motion(key)[start + k - 1, 0]), 8.0)
        for name, yaw in (("left", 0.35), ("right", -0.35)):
            m = np.tile([[speed, yaw]], (1, n, 1)).astype(np.float32)
            out = model.rollout(
                frames[None],
                m,
                store.caption(key),
                generator=torch.Generator().manual_seed(args.seed),
            )[0]
            shifts[name].append(horizontal_shift(frames[-1], out[-1]))
    left, right = np.array(shifts["left"]), np.array(shifts["right"])
    print(
        f"steering over {n} steps at yaw rate +-0.35 rad/s, image shift of the lower half "
        f"(pixels, + = content moved right):"
    )
    print(
        f"  left  mean {left.mean():+.2f}  right mean {right.mean():+.2f}  "
        f"left > right in {np.mean(left > right) * 100:.0f}% of {len(left)} contexts"
    )


if __name__ == "__main__":
    main()
