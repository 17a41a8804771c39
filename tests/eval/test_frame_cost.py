"""benchmarks/frame_cost.py: one row of timings per rollout, and bad sizes refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "frame_cost.py"
ROOT = SCRIPT.parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600, cwd=ROOT
    )


def test_one_row_per_rollout() -> None:
    proc = run("--rollouts", "2", "--frames", "200")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ") and " ms |" in line]
    assert [r.split("|")[1].strip() for r in rows] == ["1", "2"]
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert all(float(c.removesuffix(" ms")) > 0 for c in cells[1:5])
        assert all(float(c.removesuffix("x")) > 0 for c in cells[5:])


def test_bad_sizes_are_refused() -> None:
    for args, message in (
        (["--frames", "50"], "--frames >= 200"),
        (["--checkpoint", "no/such/bundle"], "does not exist"),
    ):
        proc = run(*args)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr[-2000:]
