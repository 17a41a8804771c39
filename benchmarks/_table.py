"""Shared row type, argument helpers and the table printer of the benchmark scripts."""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch

DEVICE = "cpu"
CHECKPOINT = Path("outputs/runs/world_model_tiny/checkpoints/last.ckpt")
STORE = Path("outputs/data/procedural")
COLUMNS = ("group", "metric", "value", "unit", "note")


class BenchRow(NamedTuple):
    """One measurement: which benchmark, what was measured, its value and unit, and context."""

    group: str
    metric: str
    value: float | int | str
    unit: str = ""
    note: str = ""


def format_value(value: float | int | str) -> str:
    """Integers as they are, floats with two decimals, text unchanged."""
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return f"{value:d}"
    return f"{value:.2f}"


def format_table(rows: Sequence[BenchRow]) -> str:
    """Rows as an aligned text table with a header line; values are right-aligned."""
    cells = [COLUMNS, *((r.group, r.metric, format_value(r.value), r.unit, r.note) for r in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = [_format_line(line, widths) for line in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def _format_line(cells: Sequence[str], widths: Sequence[int]) -> str:
    """One table line, the value column right-aligned and the others left-aligned."""
    parts = [
        c.rjust(w) if i == 2 else c.ljust(w)
        for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    ]
    return " | ".join(parts).rstrip()


def machine_line() -> str:
    """CPU, core count, torch threads, torch version and the device the benchmarks run on."""
    cpu = platform.processor() or platform.machine()
    return (
        f"# machine: {cpu}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads, device {DEVICE}"
    )


def print_rows(rows: Sequence[BenchRow], *headers: str) -> None:
    """Print the machine line, any extra header lines, then the table."""
    print("\n".join((machine_line(), *headers, format_table(rows))), flush=True)


def new_parser(doc: str, checkpoint: bool = True, store: bool = True) -> argparse.ArgumentParser:
    """A parser described by ``doc``'s first line, with --quick, --checkpoint and --store."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    if checkpoint:
        parser.add_argument("--checkpoint", type=Path, default=CHECKPOINT)
    if store:
        parser.add_argument("--store", type=Path, default=STORE)
    parser.add_argument("--quick", action="store_true", help="fewer steps and sizes")
    return parser


def parse(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    quick: Mapping[str, Any],
    known_only: bool = False,
) -> argparse.Namespace:
    """Parse ``argv``; with --quick, options left at their defaults take the ``quick`` values."""
    args = parser.parse_known_args(argv)[0] if known_only else parser.parse_args(argv)
    if getattr(args, "quick", False):
        for name, value in quick.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    return args


def missing_inputs(checkpoint: Path | None = None, store: Path | None = None) -> str | None:
    """A message naming the missing checkpoint file or store folder, or None when both exist."""
    missing = []
    if checkpoint is not None and not checkpoint.exists():  # a file, or a bundle folder
        missing.append(f"checkpoint {checkpoint}")
    if store is not None and not store.is_dir():
        missing.append(f"episode store {store}")
    if not missing:
        return None
    return f"{' and '.join(missing)} not found: run `make demo` first"


def require_inputs(checkpoint: Path | None = None, store: Path | None = None) -> None:
    """Exit with status 1 and a message when the checkpoint or the store is missing."""
    message = missing_inputs(checkpoint, store)
    if message is not None:
        raise SystemExit(message)


def run(
    parser: argparse.ArgumentParser,
    quick: Mapping[str, Any],
    measure: Callable[[argparse.Namespace], Sequence[BenchRow]],
    header: str,
) -> None:
    """Parse the options, measure, and print the table under ``header`` filled with them."""
    args = parse(parser, None, quick)
    print_rows(measure(args), header.format(**vars(args)))
