"""Per-frame cost over long rollouts of one row, in windows wide enough to read on a noisy
machine: frames 11-20, 101-200, the last 100 and the last 10 of each rollout.

Usage:
  python benchmarks/frame_cost.py [--checkpoint worldsim/assets/pretrained] [--rollouts 3]
      [--frames 600]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from throughput_targets import long_rollout

from worldsim.env.learned.model_cache import load_model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=Path("worldsim/assets/pretrained"))
    p.add_argument("--rollouts", type=int, default=3)
    p.add_argument("--frames", type=int, default=600)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    if args.rollouts < 1 or args.frames < 200:
        p.error("need --rollouts >= 1 and --frames >= 200 (the windows reach frame 200)")
    if not args.checkpoint.exists():
        p.error(f"--checkpoint {args.checkpoint} does not exist")
    torch.set_num_threads(args.threads)
    model = load_model(str(args.checkpoint), "cpu", "float32").with_sampling()
    print(
        "| rollout | frames 11-20 | frames 101-200 | last 100 | last 10 | last 100 / first 10 "
        "| last 10 / first 10 |"
    )
    print("|---|---|---|---|---|---|---|")
    for i in range(args.rollouts):
        ms = np.asarray(long_rollout(model, args.frames)[0]) * 1000  # after 10 warm-up frames
        first, mid = np.median(ms[:10]), np.median(ms[90:190])
        last100, last10 = np.median(ms[-100:]), np.median(ms[-10:])
        print(
            f"| {i + 1} | {first:.2f} ms | {mid:.2f} ms | {last100:.2f} ms | {last10:.2f} ms | "
            f"{last100 / first:.2f}x | {last10 / first:.2f}x |",
            flush=True,
        )


if __name__ == "__main__":
    main()
