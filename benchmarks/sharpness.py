"""How sharp generated frames stay over a rollout, against the truth's own sharpness.

Usage: python benchmarks/sharpness.py [--checkpoint PATH] [--starts 6] [--steps 60] [--seed 2]
    [--yaw true|zero] [--interpolation bilinear|bicubic|nearest] [--sampling-steps N]
    [--temperature T] [--warp-only]

For each start (validation seed 2 by default, docs/evaluation.md) the world model rolls out
``--steps`` frames under the true future's speeds, with the true yaw rates or with zero yaw
(where the ego warp's turn is the identity and nothing is resampled). Sharpness is the mean
absolute Laplacian of the grey ground rows (below the principal row), printed at steps 1, 5,
10, 30 and 60 beside the true frames' and the PSNR against them. ``--interpolation`` swaps the
ego warp's resampling at sampling time only (default: the one the model was trained with);
``--sampling-steps`` and ``--temperature`` replace the checkpoint's sampler settings.
``--warp-only`` replaces the model by its ego warp alone: each frame is the previous one moved
by the warp, with no predicted change (what the resampling does by itself over a rollout).
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import torch

import worldsim
from worldsim.diffusion.ego_warp import INTERPOLATIONS
from worldsim.eval.ground_truth import make_start, roll_future
from worldsim.eval.metrics import psnr_frames
from worldsim.runtime.checkpoint import CheckpointError
from worldsim.runtime.world_model import WorldModel
from worldsim.sim.camera import Camera

REPORT_STEPS = (1, 5, 10, 30, 60)


def ground_sharpness(frames_THWC: np.ndarray, first_row: int) -> np.ndarray:
    """Mean absolute Laplacian of the grey image below ``first_row``, per frame ``(T,)``."""
    x = frames_THWC.astype(np.float32).mean(-1)  # (T, H, W)
    lap = np.abs(
        4 * x[:, 1:-1, 1:-1] - x[:, :-2, 1:-1] - x[:, 2:, 1:-1] - x[:, 1:-1, :-2] - x[:, 1:-1, 2:]
    )
    return lap[:, first_row:, :].mean(axis=(1, 2))


def warp_rollout(
    model: WorldModel, last_HWC: np.ndarray, motion_T2: np.ndarray, dt: float
) -> np.ndarray:
    """Frames ``(T, H, W, 3)``: ``last_HWC`` moved again and again by the model's ego warp under
    each motion ``(T, 2)``, with nothing predicted."""
    assert model.ego_warp is not None
    latents = model.encode(torch.as_tensor(last_HWC[None]))
    frames = []
    for motion in motion_T2:
        latents, _ = model.ego_warp.views(latents, torch.as_tensor(motion[None]), dt)
        frames.append(model.decode(latents)[0])
    return np.stack(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="default: the bundled model")
    parser.add_argument("--starts", type=int, default=6)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--yaw", choices=("true", "zero"), default="true")
    parser.add_argument(
        "--interpolation",
        choices=INTERPOLATIONS,
        default=None,
        help="default: the model's own (model.yaw_warp_interpolation)",
    )
    parser.add_argument("--sampling-steps", type=int, default=None, help="default: the model's")
    parser.add_argument("--temperature", type=float, default=None, help="default: the model's")
    parser.add_argument(
        "--warp-only", action="store_true", help="roll the ego warp alone, with no model"
    )
    args = parser.parse_args()
    if args.starts < 1 or args.steps < max(REPORT_STEPS):
        parser.error(f"--starts must be >= 1 and --steps >= {max(REPORT_STEPS)}")
    camera, dt = Camera(), 0.1
    try:
        model = worldsim.load_world_model(args.checkpoint)
    except CheckpointError as exc:  # names the path and what is wrong with it
        parser.error(str(exc))
    overrides = {"steps": args.sampling_steps, "temperature": args.temperature}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if overrides:
        try:
            model = model.with_sampling(**overrides)
        except ValueError as exc:
            parser.error(str(exc))
    if model.ego_warp is None and (args.interpolation is not None or args.warp_only):
        parser.error("this model has no ego warp, so --interpolation and --warp-only do not apply")
    if model.ego_warp is not None and args.interpolation is not None:
        model.ego_warp = dataclasses.replace(model.ego_warp, interpolation=args.interpolation)
    warp = model.ego_warp.interpolation if model.ego_warp is not None else "no"
    warp += " (the warp alone, no model)" if args.warp_only else ""
    at = [s - 1 for s in REPORT_STEPS]
    first_row = int(np.ceil(camera.cy)) + 2
    generated, truth, psnr = [], [], []
    for i in range(args.starts):
        start = make_start(args.seed * 100_003 + i, (camera.height, camera.width), dt, 4, 20)
        future = roll_future(start, args.steps)
        motion = future.motion_H2.astype(np.float32).copy()
        if args.yaw == "zero":
            motion[:, 1] = 0.0
        g = torch.Generator().manual_seed(i)
        prompt = start.conditions.caption()
        if args.warp_only:
            frames = warp_rollout(model, start.context_THWC[-1], motion, dt)
        else:
            frames = model.rollout(start.context_THWC[None], motion[None], prompt, generator=g)[0]
        generated.append(ground_sharpness(frames, first_row)[at])
        truth.append(ground_sharpness(future.frames_HHWC, first_row)[at])
        psnr.append(
            [
                float(np.mean(psnr_frames(frames[j : j + 1], future.frames_HHWC[j : j + 1])))
                for j in at
            ]
        )
    sampling = model.sampling_dict()
    print(
        f"{args.starts} starts (seed {args.seed}), yaw {args.yaw}, {warp} warp, "
        f"{sampling['steps']} sampling step(s) at temperature {sampling['temperature']}"
    )
    print("step       " + "".join(f"{s:>8d}" for s in REPORT_STEPS))
    for name, rows in (("generated", generated), ("truth", truth), ("PSNR (dB)", psnr)):
        print(f"{name:11s}" + "".join(f"{v:8.2f}" for v in np.mean(rows, axis=0)))


if __name__ == "__main__":
    main()
