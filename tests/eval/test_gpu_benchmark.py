"""benchmarks/gpu.py on the CPU: every setting gets a row, two frame sizes run on the bundled
networks, torch.compile runs, and bad arguments are refused with a message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu.py"


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600
    )


def rows(stdout: str) -> dict[str, str]:
    """metric -> value of the printed table."""
    out = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) >= 3 and cells[0] == "gpu":
            out[cells[1]] = cells[2]
    return out


@pytest.mark.slow
def test_every_setting_is_measured_on_the_cpu() -> None:
    common = ["--device", "cpu", "--dtypes", "float32", "--batch", "2", "--steps", "1"]
    run = bench(*common, "--sizes", "64x112,128x224", "--compile", "off", "--warmup", "1")
    assert run.returncode == 0, run.stderr[-3000:]
    table = rows(run.stdout)
    for size in ("64x112", "128x224"):
        for batch in (1, 2):
            assert float(table[f"{size} float32 batch {batch}"]) > 0
    assert float(table["matmul peak float32"]) > 0
    compiled = bench(*common, "--sizes", "64x112", "--compile", "on", "--warmup", "2")
    assert compiled.returncode == 0, compiled.stderr[-3000:]
    assert float(rows(compiled.stdout)["64x112 float32 compiled batch 2"]) > 0


def test_bad_arguments_are_refused() -> None:
    for args, message in (
        (["--device", "cpu", "--sizes", "64by112"], "is not HxW"),
        (["--device", "cpu", "--dtypes", "float33"], "is not a torch dtype"),
        (["--device", "cpu", "--batch", "0"], "must be >= 1"),
    ):
        run = bench(*args)
        assert run.returncode == 2 and message in run.stderr, run.stderr[-2000:]
        assert "Traceback" not in run.stderr
