"""Held-out rollout quality of a world model against the repeat-last-frame baseline, and whether
steering left and right from the same context moves the generated image the right way.

Usage:
  python benchmarks/rollout_quality.py \
      --checkpoint outputs/runs/world_model_tiny/checkpoints/last.ckpt \
      --store outputs/data/procedural [--quick]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from _table import BenchRow, new_parser, require_inputs, run

from worldsim.data.store import EpisodeStore
from worldsim.runtime.checkpoint import load_world_model
from worldsim.runtime.world_model import WorldModel
from worldsim.utils.psnr import psnr

GROUP = "rollout quality"
QUICK = {"horizon": 4, "max_windows": 4}
YAW_RATE = 0.35


def horizontal_shift(a_HW3: np.ndarray, b_HW3: np.ndarray, max_shift: int = 12) -> int:
    """Columns by which the lower half of ``b`` is shifted right relative to ``a``."""
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


def windows(store: EpisodeStore, need: int, step: int, limit: int | None) -> list[tuple[str, int]]:
    """(episode, start) every ``step`` frames of the held-out episodes, ``need`` frames each."""
    starts = [
        (key, start)
        for key in store.keys("val")
        for start in range(0, store.num_frames(key) - need + 1, step)
    ]
    return starts[:limit]


def prediction_psnr(
    model: WorldModel, store: EpisodeStore, args: argparse.Namespace
) -> tuple[dict[int, list[float]], dict[int, list[float]]]:
    """PSNR of the model and of repeating the last context frame, at 1 and ``horizon`` steps."""
    k, n = args.context, args.horizon
    g = torch.Generator().manual_seed(args.seed)
    gen: dict[int, list[float]] = {1: [], n: []}
    base: dict[int, list[float]] = {1: [], n: []}
    for key, start in windows(store, k + n, k + n, args.max_windows):
        frames = store.frames(key, start, k + n)
        m = store.ego_motion(key)[start : start + k + n]
        out = model.rollout(
            frames[None, :k], m[None, k - 1 : k + n - 1], store.caption(key), m[None, : k - 1], g
        )[0]
        for h in gen:
            gen[h].append(psnr(out[h - 1], frames[k + h - 1]))
            base[h].append(psnr(frames[k - 1], frames[k + h - 1]))
    return gen, base


def steering_shifts(
    model: WorldModel, store: EpisodeStore, args: argparse.Namespace
) -> tuple[np.ndarray, np.ndarray]:
    """Image shift of the last generated frame when yawing left and right from each context."""
    k, n = args.context, args.horizon
    shifts: dict[str, list[int]] = {"left": [], "right": []}
    for key, start in windows(store, k + 1, k + n, args.max_windows):
        frames = store.frames(key, start, k)
        speed = max(float(store.ego_motion(key)[start + k - 1, 0]), 8.0)
        for name, yaw in (("left", YAW_RATE), ("right", -YAW_RATE)):
            m = np.tile([[speed, yaw]], (1, n, 1)).astype(np.float32)
            g = torch.Generator().manual_seed(args.seed)
            out = model.rollout(frames[None], m, store.caption(key), generator=g)[0]
            shifts[name].append(horizontal_shift(frames[-1], out[-1]))
    return np.array(shifts["left"]), np.array(shifts["right"])


def psnr_rows(model: WorldModel, store: EpisodeStore, args: argparse.Namespace) -> list[BenchRow]:
    """Model and repeat-last PSNR rows at each horizon."""
    gen, base = prediction_psnr(model, store, args)
    windows_used = len(gen[1])
    note = f"{windows_used} held-out windows, {model.sampling.steps} sampling steps"
    rows = []
    for h in gen:
        rows.append(BenchRow(GROUP, f"model, horizon {h}", float(np.mean(gen[h])), "dB PSNR", note))
        rows.append(
            BenchRow(
                GROUP, f"repeat-last frame, horizon {h}", float(np.mean(base[h])), "dB PSNR", note
            )
        )
    return rows


def steer_note(sign: int, args: argparse.Namespace) -> str:
    """Context of a steering row: yaw rate, number of steps and the sign convention."""
    return f"yaw {sign * YAW_RATE:+.2f} rad/s for {args.horizon} steps; + = content moved right"


def steering_rows(
    model: WorldModel, store: EpisodeStore, args: argparse.Namespace
) -> list[BenchRow]:
    """Mean image shift when steering left and right, and how often left ends right of right."""
    left, right = steering_shifts(model, store, args)
    return [
        BenchRow(GROUP, "steer left, image shift", float(left.mean()), "px", steer_note(1, args)),
        BenchRow(
            GROUP, "steer right, image shift", float(right.mean()), "px", steer_note(-1, args)
        ),
        BenchRow(
            GROUP,
            "shift left > shift right",
            float(np.mean(left > right) * 100),
            "%",
            f"of {len(left)} contexts",
        ),
    ]


def load_model(args: argparse.Namespace) -> WorldModel:
    """The world model with the sampling overrides given on the command line."""
    sampling: dict[str, float | int] = {}
    if args.steps:
        sampling["steps"] = args.steps
    if args.guidance_action is not None:
        sampling["guidance_action"] = args.guidance_action
    return load_world_model(args.checkpoint, sampling=sampling or None)


def measure(args: argparse.Namespace) -> list[BenchRow]:
    """Prediction PSNR against the baseline, then the steering check."""
    require_inputs(args.checkpoint, args.store)
    store = EpisodeStore(args.store)
    model = load_model(args)
    return psnr_rows(model, store, args) + steering_rows(model, store, args)


def build_parser() -> argparse.ArgumentParser:
    """Options of this benchmark."""
    parser = new_parser(__doc__)
    parser.add_argument("--context", type=int, default=2)
    parser.add_argument("--horizon", type=int, default=10)
    parser.add_argument("--steps", type=int, default=None, help="sampling steps override")
    parser.add_argument(
        "--guidance-action", type=float, default=None, help="action guidance scale override"
    )
    parser.add_argument("--max-windows", type=int, default=None, help="cap on held-out windows")
    parser.add_argument("--seed", type=int, default=0)
    return parser


if __name__ == "__main__":
    run(build_parser(), QUICK, measure, "# rollout quality of {checkpoint} on {store}")
