"""Time ``WorldModel.step`` of one model at a few batch sizes, optionally against another checkout
of worldsim in alternating rounds (an A/B of a code change on a machine whose speed drifts).

Usage:
  python benchmarks/step_time.py [--checkpoint worldsim/assets/pretrained] [--batches 1,16]
  git worktree add /tmp/before <commit> && \\
      python benchmarks/step_time.py --compare /tmp/before --rounds 5

Each round runs the measurement in a fresh process: the median of ``--repeats`` steps per batch
size after one step whose FLOPs ``torch.utils.flop_counter`` counts (``throughput_targets.py``'s
batched step).
With ``--compare DIR`` the rounds alternate between the ``worldsim`` of ``DIR`` and this one,
on the same weights, and the table gives the median over rounds of each and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def measure(checkpoint: str, batches: list[int], repeats: int) -> dict[str, list[float]]:
    """``{"B": [median seconds of a step, FLOPs of a step]}`` for each batch size ``B``."""
    from throughput_targets import batched_step

    import worldsim

    model = worldsim.load_world_model(checkpoint)
    out = {}
    for batch in batches:
        seconds, flops = batched_step(model.with_sampling(), batch, repeats)
        out[str(batch)] = [seconds, float(flops)]
    return out


def child_round(code: Path, args: argparse.Namespace) -> dict[str, list[float]]:
    """One measurement in a fresh process that imports ``worldsim`` from ``code``."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    cmd = [sys.executable, __file__, "--child", "--checkpoint", str(args.checkpoint)]
    cmd += ["--batches", args.batches, "--repeats", str(args.repeats)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=code, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"the measurement with the code of {code} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def parse_batches(text: str) -> list[int]:
    try:
        batches = [int(b) for b in text.split(",")]
    except ValueError:
        batches = []
    if not batches or min(batches) < 1:
        raise argparse.ArgumentTypeError(f"--batches={text!r} must be positive integers, e.g. 1,16")
    return batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(ROOT / "worldsim" / "assets" / "pretrained"))
    parser.add_argument("--batches", default="1,16", help="comma-separated batch sizes")
    parser.add_argument("--repeats", type=int, default=20, help="timed steps per batch size")
    parser.add_argument("--rounds", type=int, default=3, help="fresh processes per code")
    parser.add_argument("--compare", type=Path, default=None, help="another worldsim checkout")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    try:
        batches = parse_batches(args.batches)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    if args.repeats < 1 or args.rounds < 1:
        parser.error("--repeats and --rounds must be at least 1")
    if args.compare is not None and not (args.compare / "worldsim" / "__init__.py").is_file():
        parser.error(f"--compare {args.compare} holds no worldsim package (a checkout's root)")
    if not Path(args.checkpoint).exists():
        parser.error(f"--checkpoint {args.checkpoint} does not exist")
    args.checkpoint = str(Path(args.checkpoint).resolve())
    if args.child:
        print(json.dumps(measure(args.checkpoint, batches, args.repeats)))
        return
    codes = {"this": ROOT} if args.compare is None else {"other": args.compare, "this": ROOT}
    rounds: dict[str, list[dict[str, list[float]]]] = {name: [] for name in codes}
    for _ in range(args.rounds):
        for name, code in codes.items():
            rounds[name].append(child_round(code, args))
    print(f"# WorldModel.step of {args.checkpoint}, {args.rounds} rounds, median of rounds")
    print(f"{'code':<6} {'batch':>5} {'ms/step':>9} {'GFLOP/step':>11} {'per round (ms)'}")
    medians: dict[str, dict[int, float]] = {}
    for name, runs in rounds.items():
        medians[name] = {}
        for b in batches:
            ms = [1000 * r[str(b)][0] for r in runs]
            medians[name][b] = float(np.median(ms))
            each = " ".join(f"{m:.1f}" for m in ms)
            gflop = runs[0][str(b)][1] / 1e9
            print(f"{name:<6} {b:>5} {medians[name][b]:>9.1f} {gflop:>11.3f} {each}")
    if args.compare is not None:
        for b in batches:
            print(f"speed-up at batch {b}: {medians['other'][b] / medians['this'][b]:.2f}x")


if __name__ == "__main__":
    main()
