"""benchmarks/driving_heads.py --val-stores: the shipped heads on a store's val split."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "driving_heads.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600
    )


def test_val_split_scores(procedural_store: Path, tmp_path: Path) -> None:
    proc = run("--val-stores", str(procedural_store))
    assert proc.returncode == 0, proc.stderr[-3000:]
    # 1 val drive of 24 frames, windows of the shipped heads' 8 frames: 17 windows
    line = re.search(r"\(val, (\d+) windows\): lane offset MAE ([\d.]+) m", proc.stdout)
    assert line is not None, proc.stdout
    assert int(line[1]) == 17 and float(line[2]) < 5.0
    missing = run("--val-stores", str(tmp_path))
    assert missing.returncode != 0 and "is not an episode store" in missing.stderr
