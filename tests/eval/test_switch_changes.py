"""benchmarks/switch_changes.py: one row per change of weather plus the total, bad input refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from worldsim.eval.ground_truth import make_start, roll_future, switched_conditions

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "switch_changes.py"
ROOT = SCRIPT.parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600, cwd=ROOT
    )


def test_one_row_per_change_of_weather_and_the_total() -> None:
    proc = run("--starts", "4", "--steps", "6", "--seed", "5")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert "seed 5, 4 starts, switch before step 4" in lines[0]
    assert lines[1].split() == ["change", "rollouts", "4", "5", "6", "5-6", "truth"]
    body = [line.split() for line in lines[2:]]
    total = body[-1]
    assert total[0] == "all" and total[1] == "4"
    changes = body[:-1]
    assert changes and all(row[1] == "->" for row in changes)
    assert sum(int(row[3]) for row in changes) == 4  # every rollout in one change
    for row in body:
        shares = [float(v) for v in row[-5:]]
        assert all(0.0 <= v <= 1.0 for v in shares)


def test_bad_settings_name_the_value() -> None:
    proc = run("--steps", "2")
    assert proc.returncode == 2 and "--steps=2 >= 4" in proc.stderr
    proc = run("--starts", "1", "--guidance-text", "-1")
    assert proc.returncode == 2 and "guidance_text=-1.0 must be >= 0" in proc.stderr


def test_by_look_splits_each_change_of_weather_by_its_time_of_day() -> None:
    weather = run("--starts", "4", "--steps", "6", "--seed", "5")
    look = run("--starts", "4", "--steps", "6", "--seed", "5", "--by-look")
    assert weather.returncode == 0 and look.returncode == 0, look.stderr[-3000:]
    per_weather = {
        f"{row[0]} -> {row[2]}": int(row[3])
        for row in (line.split() for line in weather.stdout.splitlines()[2:-1])
    }
    per_look: dict[str, int] = {}
    for line in look.stdout.splitlines()[2:-1]:
        # "dusk, snow -> day, rain  1  ..."
        old, new = line.split(" -> ")
        fields = new.split()
        assert old.count(",") == 1 and fields[0].endswith(",")
        change = f"{old.split(', ')[1].strip()} -> {fields[1]}"
        per_look[change] = per_look.get(change, 0) + int(fields[2])
        assert float(fields[-1]) >= 0.5  # the true frames under the new look show its weather
    assert per_look == per_weather  # the same rollouts, split further
    assert look.stdout.splitlines()[-1].split()[:2] == ["all", "4"]


def test_roll_future_with_a_look_switch_keeps_the_drive_and_changes_the_frames() -> None:
    start = make_start(11, (64, 112), 0.1, 4, 5)
    new = switched_conditions(start.conditions)
    plain = roll_future(start, 6)
    switched = roll_future(start, 6, look=(3, new))
    np.testing.assert_array_equal(plain.motion_H2, switched.motion_H2)
    np.testing.assert_array_equal(plain.frames_HHWC[:3], switched.frames_HHWC[:3])
    changed = np.abs(plain.frames_HHWC[3:].astype(int) - switched.frames_HHWC[3:]).mean()
    assert changed > 10  # another time of day and weather: most pixels move
    assert start.world.conditions == start.conditions  # the start is left unchanged
