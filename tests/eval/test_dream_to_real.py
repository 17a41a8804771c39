"""benchmarks/dream_to_real.py end to end at a tiny size: both PPO agents train, all four
agents are scored in the real world, and the table, results.json and plot are written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "dream_to_real.py"
AGENTS = (
    "PPO in the dream (DrivingWorld-v0)",
    "PPO in the real world (ProceduralDriving-v0)",
    "random",
    "scripted lane keeper",
)


@pytest.mark.slow
@pytest.mark.parametrize(("obs", "ppo_seeds"), [("image", "0,1"), ("image_speed", "3")])
def test_dream_to_real_runs_end_to_end(tmp_path: Path, obs: str, ppo_seeds: str) -> None:
    out = tmp_path / "d2r"
    args = [
        "--steps", "32", "--rollout", "16", "--seeds", "2", "--horizon", "8",
        "--dream-envs", "2", "--real-envs", "2", "--starts", "3", "--dream-horizon", "5",
        "--curve-points", "2", "--curve-seeds", "1", "--obs", obs, "--ppo-seeds", ppo_seeds,
        "--out", str(out),
    ]  # fmt: skip
    run = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=900
    )
    assert run.returncode == 0, run.stderr[-3000:]
    for name in AGENTS:
        assert f"| {name} |" in run.stdout
    record = json.loads((out / "results.json").read_text())
    assert list(record["results"]) == list(AGENTS)
    assert record["env_steps"] == {"dream": 32, "real": 32}
    assert [len(record["curves"][k]) for k in ("dream", "real")] == [2, 2]
    # One training per PPO seed; each agent's row pools the scoring worlds of all of them.
    n_seeds = len(ppo_seeds.split(","))
    for key, name in (("dream", AGENTS[0]), ("real", AGENTS[1])):
        assert len(record["curves_per_seed"][key]) == n_seeds
        assert len(record["results"][name]["seed_returns"]) == n_seeds
        assert len(record["results"][name]["returns"]) == 2 * n_seeds
    # The dream starts are random frames of the recorded drives, and the eval seeds held out.
    starts = sorted((out / "dream_starts").glob("dream_store_start_*.yaml"))
    assert len(starts) == 3 and (out / "dream_starts" / "store" / "manifest.json").exists()
    assert record["eval_seeds"] == [2_000_000, 2_000_001]
    assert (out / "learning_curves.png").stat().st_size > 0


def test_dream_to_real_refuses_bad_sizes() -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--dream-horizon", "0"], capture_output=True, text=True
    )
    assert run.returncode == 2
    assert "--dream-horizon=0 must be >= 1" in run.stderr
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--ppo-seeds", "0,0"], capture_output=True, text=True
    )
    assert run.returncode == 2
    assert "'0,0' is not a list of distinct non-negative integers" in run.stderr
