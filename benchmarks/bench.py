"""Run every benchmark in one process and print all measurements as one table.

Usage:
  python benchmarks/bench.py \
      --checkpoint outputs/runs/world_model_tiny/checkpoints/last.ckpt \
      --store outputs/data/procedural [--quick] [--only sim world_model]
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Sequence
from types import ModuleType

import env_speed
import rollout_quality
import sim_fps
import throughput_targets
import world_model
from _table import BenchRow, new_parser, parse, print_rows, require_inputs

from worldsim.data.store import EpisodeStore
from worldsim.runtime.checkpoint import read_checkpoint

BENCHMARKS: dict[str, ModuleType] = {
    "sim": sim_fps,
    "world_model": world_model,
    "rollout_quality": rollout_quality,
    "env": env_speed,
    "targets": throughput_targets,
}


def build_parser() -> argparse.ArgumentParser:
    """Options shared by all benchmarks."""
    parser = new_parser(__doc__)
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), default=list(BENCHMARKS))
    return parser


def forwarded(args: argparse.Namespace) -> list[str]:
    """The shared options as command-line arguments for each benchmark's own parser."""
    argv = ["--checkpoint", str(args.checkpoint), "--store", str(args.store)]
    return [*argv, "--quick"] if args.quick else argv


def run_one(name: str, module: ModuleType, argv: Sequence[str]) -> list[BenchRow]:
    """Rows of one benchmark; a failure becomes one row naming the error."""
    log(f"running {name} ...")
    start = time.perf_counter()
    try:
        rows = module.measure(parse(module.build_parser(), argv, module.QUICK, known_only=True))
    except Exception as exc:  # report it and go on with the other benchmarks
        traceback.print_exc()
        return [BenchRow(module.GROUP, "failed", "-", "", f"{type(exc).__name__}: {exc}")]
    log(f"{name} done in {time.perf_counter() - start:.0f}s")
    return rows


def inputs_line(args: argparse.Namespace) -> str:
    """Which checkpoint (and its training step) and store the measurements used."""
    step = read_checkpoint(args.checkpoint).get("global_step")
    episodes = len(EpisodeStore(args.store))
    mode = "quick" if args.quick else "full"
    return (
        f"# checkpoint {args.checkpoint} (step {step}), store {args.store} "
        f"({episodes} episodes), {mode} run"
    )


def log(message: str) -> None:
    """Progress on stderr, so stdout holds only the table."""
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected benchmarks and print one table; 1 when any of them failed."""
    args = build_parser().parse_args(argv)
    require_inputs(args.checkpoint, args.store)
    header = inputs_line(args)
    rows: list[BenchRow] = []
    for name in args.only:
        rows += run_one(name, BENCHMARKS[name], forwarded(args))
    print_rows(rows, header)
    return 1 if any(r.metric == "failed" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
