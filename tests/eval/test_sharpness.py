"""benchmarks/sharpness.py: generated and true sharpness per reported step, bad settings refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "sharpness.py"
ROOT = SCRIPT.parents[1]
sys.path.insert(0, str(SCRIPT.parent))

from sharpness import ground_sharpness, warp_rollout  # noqa: E402


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600, cwd=ROOT
    )


def test_sharpness_is_zero_on_flat_frames_and_grows_with_edges() -> None:
    flat = np.full((1, 16, 16, 3), 100, np.uint8)
    edges = flat.copy()
    edges[0, :, ::2] = 200  # vertical stripes below and above the first row counted
    assert ground_sharpness(flat, 4)[0] == 0.0
    assert ground_sharpness(edges, 4)[0] > 100.0


def test_one_row_per_figure_at_the_reported_steps() -> None:
    proc = run("--starts", "1", "--interpolation", "nearest", "--sampling-steps", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert "nearest warp, 2 sampling step(s) at temperature 0.0" in lines[0]
    assert lines[1].split()[1:] == ["1", "5", "10", "30", "60"]
    for name, line in zip(("generated", "truth", "PSNR"), lines[2:5], strict=True):
        assert line.startswith(name)
        assert all(float(v) > 0 for v in line.split()[-5:])


def test_bad_settings_are_refused() -> None:
    for args, message in (
        (["--steps", "20"], "--steps >= 60"),
        (["--interpolation", "cubic"], "invalid choice"),
        (["--sampling-steps", "0"], "steps"),
    ):
        proc = run(*args)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr[-2000:]


def test_the_warp_alone_moves_the_last_frame_and_keeps_it_without_motion() -> None:
    import worldsim

    model = worldsim.load_world_model()
    frame = np.random.default_rng(0).integers(0, 256, (*model.resolution, 3), dtype=np.uint8)
    still = warp_rollout(model, frame, np.zeros((3, 2), np.float32), 0.1)
    assert still.shape == (3, *frame.shape)
    assert np.abs(still.astype(int) - frame).max() <= 1
    moving = warp_rollout(model, frame, np.array([[10.0, 0.3]] * 3, np.float32), 0.1)
    assert np.abs(moving[-1].astype(int) - frame).mean() > 10
    proc = run("--starts", "1", "--warp-only")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "(the warp alone, no model)" in proc.stdout.splitlines()[0]
