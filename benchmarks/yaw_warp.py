"""How much of one frame's change the ego warp explains, on held-out ground truth.

Usage: python benchmarks/yaw_warp.py [--starts 48] [--horizon 10] [--seed 1]
For each held-out start (docs/evaluation.md) the true next frame is compared with the true
previous frame as is (repeat-last-frame), turned by the true yaw, and moved along the ground by
the true travel as well (the two views of the previous frame that the world model's ego warp
gives it before it predicts the rest). Prints the mean PSNR of each; nothing is trained.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from worldsim.diffusion.ego_warp import EgoWarp
from worldsim.eval.ground_truth import make_start, roll_future
from worldsim.eval.metrics import psnr_frames
from worldsim.sim.camera import Camera


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=48)
    parser.add_argument("--horizon", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    camera, dt = Camera(), 0.1
    warp = EgoWarp(camera.hfov_deg, camera.horizon, camera.mount_height)
    copied, warped, moved = [], [], []
    for i in range(args.starts):
        start = make_start(args.seed * 100_003 + i, (camera.height, camera.width), dt, 4, 20)
        future = roll_future(start, args.horizon)
        frames = np.concatenate([start.context_THWC[-1:], future.frames_HHWC])  # (H+1, h, w, 3)
        before, after = frames[:-1], frames[1:]
        pixels = torch.from_numpy(before).permute(0, 3, 1, 2).float()
        motion = torch.from_numpy(future.motion_H2).float()
        turned, ground = warp.views(pixels, motion, dt)[1].split(3, dim=1)
        copied.append(psnr_frames(before, after))
        warped.append(psnr_frames(_frames(turned), after))
        moved.append(psnr_frames(_frames(ground), after))
    print(f"{args.starts} held-out starts (seed {args.seed}) x {args.horizon} consecutive pairs")
    print(f"repeat last frame:        {np.mean(copied):6.2f} dB")
    print(f"last frame turned by yaw: {np.mean(warped):6.2f} dB")
    print(f"and moved along ground:   {np.mean(moved):6.2f} dB")


def _frames(pixels_BCHW: torch.Tensor) -> np.ndarray:
    """uint8 frames ``(B, H, W, 3)`` of float pixels."""
    return pixels_BCHW.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


if __name__ == "__main__":
    main()
