"""Which changes of weather a switched prompt takes, step by step after the switch.

Usage: python benchmarks/switch_changes.py [--checkpoint PATH] [--heads PATH] [--starts 48]
    [--steps 10] [--seed 2] [--sampling-steps N] [--temperature T] [--guidance-text S]
    [--by-look]

The switched-prompt rows of ``worldsim-eval`` on their own: the evaluation's start states
(validation seed 2 by default, docs/evaluation.md) roll out ``--steps`` frames under the data
policy's future, and the prompt switches to another time of day and weather before step
``steps // 2 + 1``, as in the evaluation (the context noise is drawn for this smaller batch,
so a row can differ from the evaluation's by a frame's rounding). The condition classifier labels every frame; the
table gives, per change of weather, the share of rollouts whose frame at each step shows the
new weather, the share over the evaluation's judged last quarter, and in the last column the
same share for the true frames re-rendered under the new look from the switch on. ``--sampling-steps``,
``--temperature`` and ``--guidance-text`` replace the checkpoint's sampler settings.
``--by-look`` splits each change of weather by the change of time of day that comes with it.
About a second per start.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

import worldsim
from worldsim.eval.config import ProceduralSuiteConfig
from worldsim.eval.ground_truth import make_start, roll_future, switched_conditions
from worldsim.eval.quality import changes_of_weather, generate, weather_hits
from worldsim.runtime.bundle import bundled_model_dir
from worldsim.runtime.heads import EvalHeads, load_eval_heads
from worldsim.runtime.world_model import WorldModel


def switch_table(
    model: WorldModel,
    heads: EvalHeads,
    starts: int,
    steps: int,
    seed: int,
    by_look: bool = False,
) -> tuple[list[str], list[list[str]]]:
    """Header and rows: change of weather (or of look, ``by_look``), rollouts, new-weather
    share per step and judged."""
    pc = ProceduralSuiteConfig()  # the evaluation's start states
    built = [
        make_start(
            seed * 100_003 + i, model.resolution, model.dt, pc.context_frames, pc.warmup_steps
        )
        for i in range(starts)
    ]
    at = steps // 2
    # the true frames re-rendered under the new look from the switch on: the classifier's ceiling
    futures = [roll_future(s, steps, look=(at, switched_conditions(s.conditions))) for s in built]
    context = np.stack([s.context_THWC for s in built])
    past = np.stack([s.past_motion_T2 for s in built])
    motion = np.stack([f.motion_H2 for f in futures])
    old = [s.conditions.to_dict() for s in built]
    new = [switched_conditions(s.conditions).to_dict() for s in built]
    prompts = [s.conditions.caption() for s in built]
    after = [switched_conditions(s.conditions).caption() for s in built]
    g = torch.Generator(model.device).manual_seed(seed)
    frames = generate(model, context, past, motion, prompts, g, (at, after))
    hits_RN = weather_hits(heads, frames, new)
    truth_RN = weather_hits(heads, np.stack([f.frames_HHWC for f in futures]), new)
    tail = at + (steps - at) // 2
    fields = ("time_of_day", "weather") if by_look else ("weather",)
    changes = changes_of_weather(old, new, fields)
    groups = {**changes, "all": list(range(starts))}
    judged = f"{tail + 1}-{steps}"
    header = ["change", "rollouts", *(str(t + 1) for t in range(at, steps)), judged, "truth"]
    rows = [
        [
            change,
            str(len(rows)),
            *(f"{hits_RN[rows, t].mean():.2f}" for t in range(at, steps)),
            f"{hits_RN[rows, tail:].mean():.3f}",
            f"{truth_RN[rows, tail:].mean():.3f}",
        ]
        for change, rows in groups.items()
    ]
    return header, rows


def _print(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="world model (default: the bundle)")
    parser.add_argument("--heads", default=None, help="evaluation heads (default: the bundle's)")
    parser.add_argument("--starts", type=int, default=48)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--sampling-steps", type=int, default=None)
    parser.add_argument("--temperature", type=float, default=None)
    parser.add_argument("--guidance-text", type=float, default=None)
    parser.add_argument(
        "--by-look",
        action="store_true",
        help="one row per change of time of day and weather, not of weather alone",
    )
    args = parser.parse_args()
    if args.starts < 1 or args.steps < 4:
        parser.error(f"--starts={args.starts} must be >= 1 and --steps={args.steps} >= 4")
    for name in ("checkpoint", "heads"):
        path = getattr(args, name)
        if path is not None and not Path(path).exists():
            parser.error(f"--{name}={path} does not exist")
    model = worldsim.load_world_model(args.checkpoint)
    overrides = {
        key: value
        for key, value in (
            ("steps", args.sampling_steps),
            ("temperature", args.temperature),
            ("guidance_text", args.guidance_text),
        )
        if value is not None
    }
    try:
        model = model.with_sampling(**overrides) if overrides else model
    except ValueError as err:  # SamplingConfig names the bad value
        parser.error(str(err))
    heads = load_eval_heads(args.heads or bundled_model_dir())
    header, rows = switch_table(model, heads, args.starts, args.steps, args.seed, args.by_look)
    print(
        f"switched weather, new-prompt share per step; seed {args.seed}, {args.starts} starts, "
        f"switch before step {args.steps // 2 + 1}; sampling {model.sampling_dict()}"
    )
    _print(header, rows)


if __name__ == "__main__":
    main()
