"""Every benchmark that loads a world model refuses a missing checkpoint with one usage line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "script",
    [
        "discriminator_probe.py",
        "driving_heads.py",
        "step_time.py",
        "sharpness.py",
        "switch_changes.py",
    ],
)
def test_a_missing_checkpoint_is_one_usage_error(script: str, tmp_path: Path) -> None:
    missing = tmp_path / "no_such.ckpt"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--checkpoint", str(missing)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert str(missing) in proc.stderr and "does not exist" in proc.stderr
