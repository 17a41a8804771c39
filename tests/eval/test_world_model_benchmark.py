"""benchmarks/world_model.py on the bundled model: its recipe's real training step, rollouts
with and without the KV cache, and the tokenizer, in one table without a failed row."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from worldsim.data.sources.procedural import ProceduralSource
from worldsim.data.store.writer import write_store
from worldsim.runtime.bundle import bundled_model_dir

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "world_model.py"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bench") / "store"
    # Episodes as long as the bundled recipe's last training clips (16 frames).
    write_store(ProceduralSource(episodes=3, frames=20, seed=0), root, workers=1, progress=False)
    return root


def test_the_table_measures_every_row_on_the_bundled_model(store: Path) -> None:
    args = ["--checkpoint", str(bundled_model_dir()), "--store", str(store), "--quick"]
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {
        line.split("|")[1].strip(): float(line.split("|")[2])
        for line in proc.stdout.splitlines()
        if line.startswith("world model")
    }
    assert rows["train step (fwd+bwd+AdamW)"] > 0
    assert rows["rollout h=8, KV cache"] > 0 and rows["tokenizer reconstruction"] > 60


def test_the_training_step_is_the_recipe_s_and_moves_the_weights(store: Path) -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import world_model as bench
    finally:
        sys.path.remove(str(SCRIPT.parent))
    from worldsim.data.store import EpisodeStore
    from worldsim.runtime.checkpoint import load_world_model

    model = load_world_model(bundled_model_dir())
    flow = bench.training_flow(model)
    recorded = model.metadata["config"]["diffusion"]
    assert (flow.prediction, flow.adversarial_weight) == (
        recorded["prediction"],
        recorded["adversarial_weight"],
    )
    before = model.dit.patch_out.weight.detach().clone()
    assert bench.training_throughput(model, EpisodeStore(store), 2, 8, 1) > 0
    assert not torch.equal(before, model.dit.patch_out.weight)


def test_a_store_of_episodes_shorter_than_the_clip_is_refused_with_the_fix(
    tmp_path: Path,
) -> None:
    short = tmp_path / "short"
    write_store(ProceduralSource(episodes=2, frames=12, seed=0), short, workers=1, progress=False)
    args = ["--checkpoint", str(bundled_model_dir()), "--store", str(short), "--quick"]
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "clips of 16 frames, and the store's training episodes have at most" in proc.stderr
    assert "worldsim-data frames=16" in proc.stderr
