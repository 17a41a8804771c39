"""benchmarks/step_time.py: one table of step times, an A/B against another checkout, bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "step_time.py"
ROOT = SCRIPT.parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600, cwd=ROOT
    )


def test_an_ab_against_a_checkout_gives_both_codes_and_their_ratio() -> None:
    # This checkout against itself: both rows count the same FLOPs.
    proc = run("--compare", str(ROOT), "--rounds", "1", "--repeats", "2", "--batches", "1,2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line.split() for line in proc.stdout.splitlines()[2:6]]
    assert [(r[0], r[1]) for r in rows] == [
        ("other", "1"),
        ("other", "2"),
        ("this", "1"),
        ("this", "2"),
    ]
    assert rows[0][3] == rows[2][3] and rows[1][3] == rows[3][3]  # GFLOP per step
    assert float(rows[1][3]) > 1.5 * float(rows[0][3])  # two rows cost about twice one
    assert all(float(r[2]) > 0 for r in rows)
    assert proc.stdout.splitlines()[-1].startswith("speed-up at batch 2: ")


def test_bad_settings_are_refused() -> None:
    for args, message in (
        (["--batches", "0"], "--batches='0' must be positive integers"),
        (["--batches", "a,b"], "--batches='a,b'"),
        (["--rounds", "0"], "--rounds must be at least 1"),
        (["--compare", "/"], "holds no worldsim package"),
    ):
        proc = run(*args)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr[-2000:]
