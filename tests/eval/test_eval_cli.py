"""worldsim-eval end to end on a tiny checkpoint and tiny heads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EVAL = str(Path(sys.executable).with_name("worldsim-eval"))

SMALL = [
    "procedural.starts=2",
    "procedural.context_frames=2",
    "procedural.warmup_steps=2",
    "procedural.horizon=6",
    "procedural.maneuver_steps=3",
    "procedural.drift_rollouts=1",
    "procedural.drift_horizon=12",
    "horizons=[1,5]",
    "drift_edges=[5,10]",
    "counterfactual_steps=3",
    "speed.sampling_steps=[1,2]",
    "speed.repeats=1",
    "speed.env_steps=2",
    "speed.vector_envs=16",
    "progress=false",
]


def run_eval(cwd: Path, *overrides: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    args = [EVAL, *SMALL, *overrides]
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    if check:
        assert proc.returncode == 0, f"{args}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


@pytest.fixture(scope="module")
def procedural_runs(trained: Path, heads_ckpt: Path, tmp_path_factory: pytest.TempPathFactory):
    """Two procedural evaluations with the same seed."""
    ckpt = trained / "runs" / "world_model_tiny" / "checkpoints" / "last.ckpt"
    root = tmp_path_factory.mktemp("eval")
    outs = []
    for name in ("a", "b"):
        out = root / name
        proc = run_eval(root, f"checkpoint={ckpt}", f"heads={heads_ckpt}", f"out={out}", "seed=3")
        outs.append(out)
    return outs, proc


@pytest.mark.slow
def test_procedural_eval_writes_every_metric(procedural_runs) -> None:
    (out, _), proc = procedural_runs
    for name in ("metrics.json", "report.md", "fidelity.png", "drift.png", "samples.png"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    q = metrics["quality"]
    fid = q["fidelity"]
    for source in ("model", "repeat_last", "tokenizer"):
        assert set(fid[source]) == {
            "psnr@1",
            "psnr@5",
            "ssim@1",
            "ssim@5",
            "changed_psnr@1",
            "changed_psnr@5",
        }
        assert len(fid["curves"][source]["psnr"]) == 6
        assert len(fid["curves"][source]["ssim"]) == 6
        assert all(0 < v <= 100 for k, v in fid[source].items() if k.startswith("psnr"))
    for frames in ("generated", "ground_truth", "constant"):
        assert set(q["action"][frames]) == {"mae_speed", "mae_yaw_rate", "action_error"}
    for frames in ("generated", "ground_truth"):
        cf = q["counterfactual"][frames]
        assert cf["contexts"] == 2 and 0.0 <= cf["steer_order_accuracy"] <= 1.0
        assert 0.0 <= cf["speed_order_accuracy"] <= 1.0
        assert 0.0 <= cf["steer_pair_accuracy"] <= 1.0
    text = q["text"]
    assert set(text["generated"]) == {"time_of_day_accuracy", "weather_accuracy"}
    assert set(text["switch"]["vs_new_prompt"]) == {"time_of_day_accuracy", "weather_accuracy"}
    by_change = text["switch"]["weather_by_change"]
    assert sum(v["rollouts"] for v in by_change.values()) == 2  # one switched row per start
    assert all(" -> " in change for change in by_change)
    drift = q["drift"]
    assert [(b["first"], b["last"]) for b in drift["buckets"]] == [(1, 5), (6, 10), (11, 12)]
    for b in drift["buckets"]:
        assert b["fd_generated"] >= 0 and b["fd_truth"] >= 0
        assert 0.0 <= b["out_of_range_generated"] <= 1.0
    speed = metrics["speed"]
    assert speed["vector_envs"] == 16
    assert speed["env_fps_single"] > 0 and speed["env_fps_vector"] > 0
    assert set(speed["step_latency_s"]) == {"1", "2"}
    assert speed["flops_per_frame"] > 0 and speed["mfu"] > 0
    assert speed["process_peak_rss_mib"] > 0
    standard = metrics["standard"]
    assert "fid" in standard or standard["fid_skipped"].startswith("FID skipped")
    assert standard["fvd_skipped"].startswith("FVD skipped")
    repro = metrics["reproducibility"]
    assert len(repro["checkpoint_sha256"]) == 64 and len(repro["heads_sha256"]) == 64
    assert repro["seed"] == 3 and repro["packages"]["torch"]
    assert repro["config"]["procedural"]["horizon"] == 6
    assert repro["hardware"]["cpu_count"] >= 1
    assert "eval/action_error" in metrics["summary"]
    report = (out / "report.md").read_text()
    assert "Fidelity" in report and "Counterfactual" in report and "MFU" in report
    assert "per change of weather" in report
    assert "eval/psnr@1" in proc.stdout


@pytest.mark.slow
def test_same_seed_gives_identical_quality_metrics(procedural_runs) -> None:
    (a, b), _ = procedural_runs
    qa = json.loads((a / "metrics.json").read_text())["quality"]
    qb = json.loads((b / "metrics.json").read_text())["quality"]
    assert qa == qb


@pytest.mark.slow
def test_store_suite(trained: Path, heads_ckpt: Path, tmp_path: Path) -> None:
    ckpt = trained / "runs" / "world_model_tiny" / "checkpoints" / "last.ckpt"
    store = trained / "data" / "procedural"
    out = tmp_path / "store_eval"
    run_eval(
        tmp_path,
        f"checkpoint={ckpt}",
        f"heads={heads_ckpt}",
        "suite=store",
        f"store.path={store}",
        "store.context_frames=2",
        "store.horizon=6",
        "speed.enabled=false",
        f"out={out}",
    )
    q = json.loads((out / "metrics.json").read_text())["quality"]
    assert q["suite"] == "store" and q["windows"]
    assert "psnr@5" in q["fidelity"]["model"]
    assert "action" in q and q["drift"]["buckets"]
    assert (out / "report.md").is_file()


def test_bad_input_gives_one_clear_line(tmp_path: Path) -> None:
    proc = run_eval(tmp_path, f"checkpoint={tmp_path / 'missing.ckpt'}", check=False)
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_eval(tmp_path, f"checkpoint={tmp_path / 'missing.ckpt'}", "suite=bogus", check=False)
    assert proc.returncode == 2 and "suite='bogus' is unknown" in proc.stderr


def test_defaults_are_defined_once_by_the_dataclasses() -> None:
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from worldsim.eval.config import EvalConfig, store_defaults
    from worldsim.paths import config_dir

    assert set(OmegaConf.load(config_dir() / "eval.yaml")) == {"defaults", "hydra"}
    store_defaults()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="eval", overrides=["procedural.starts=5"])
    values = OmegaConf.to_container(cfg)
    expected = EvalConfig().to_dict()
    expected["procedural"]["starts"] = 5
    assert values == expected
    assert EvalConfig.from_dict(values).procedural.starts == 5
