"""worldsim-rollout: videos, contact sheets and step CSVs per scenario."""

from __future__ import annotations

import csv
from pathlib import Path

from tests.cli_helpers import CliRun, run_cli
from worldsim.data.video import read_video


def rollout(trained: Path, tmp_path: Path, *overrides: str, check: bool = False) -> CliRun:
    """worldsim-rollout of the tiny world model of ``trained``, run in ``tmp_path``."""
    ckpt = trained / "runs" / "world_model_tiny" / "checkpoints" / "last.ckpt"
    return run_cli("worldsim-rollout", f"checkpoint={ckpt}", *overrides, cwd=tmp_path, check=check)


def test_rollout_writes_video_sheet_and_csv_per_scenario(trained: Path, tmp_path: Path) -> None:
    proc = rollout(
        trained,
        tmp_path,
        "scenarios=[hard_braking,lane_change_left,snow_rural]",
        "policy=constant",
        "constant_action=[0.1,0.2]",
        "steps=5",
        "sampling_steps=1",
        "context_frames=2",
        "out=out",
        "progress=false",
        "prompt='night, fog'",
        check=True,
    )
    for name in ("hard_braking", "lane_change_left", "snow_rural"):
        folder = tmp_path / "out" / name
        assert read_video(folder / "rollout.mp4").shape == (6, 64, 112, 3)
        assert (folder / "contact_sheet.png").read_bytes()[:4] == b"\x89PNG"
        with open(folder / "steps.csv") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == 5 and abs(float(rows[0]["action_1"]) - 0.2) < 1e-6
        assert (folder / "prompt.txt").read_text().strip() == "night, fog"
        assert f"wrote out/{name}/rollout.mp4" in proc.stdout


def test_rollout_rejects_scripted_policy_without_script(trained: Path, tmp_path: Path) -> None:
    proc = rollout(trained, tmp_path, "scenarios=[snow_rural]", "policy=scripted")
    assert proc.returncode == 2 and "snow_rural" in proc.stderr and "policy=random" in proc.stderr
