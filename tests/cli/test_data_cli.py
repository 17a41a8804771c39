"""worldsim-data as users run it: the installed console script in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from worldsim.data.store import EpisodeStore
from worldsim.data.video import read_video

SCRIPT = str(Path(sys.executable).with_name("worldsim-data"))


def run_data(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def test_writes_a_store_and_preview_in_parallel(tmp_path: Path) -> None:
    proc = run_data(
        "out=store", "episodes=3", "frames=16", "workers=2", "preview=true", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    store = EpisodeStore(tmp_path / "store")
    assert len(store) == 3
    preview = read_video(tmp_path / "store" / "preview" / "preview.mp4")
    assert preview.shape == (16, 64, 3 * 112, 3)
    png = (tmp_path / "store" / "preview" / "contact_sheet.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    captions = json.loads((tmp_path / "store" / "preview" / "captions.json").read_text())
    assert set(captions) == set(store.keys())


def test_bad_config_value_gives_one_clear_line(tmp_path: Path) -> None:
    proc = run_data("out=store", "source.weather=[hail]", cwd=tmp_path)
    assert proc.returncode == 2
    assert "weather" in proc.stderr and "hail" in proc.stderr and "snow" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run_data("out=store", "height=63", cwd=tmp_path)
    assert proc.returncode == 2 and "63x112" in proc.stderr


@pytest.mark.slow
def test_killed_write_leaves_a_valid_store_and_rerun_completes(tmp_path: Path) -> None:
    args = ["out=store", "episodes=6", "frames=40", "workers=2", "progress=false"]
    proc = subprocess.Popen(
        [SCRIPT, *args],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    manifest = tmp_path / "store" / "manifest.json"
    deadline = time.monotonic() + 120
    listed = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.exists():
            try:
                listed = len(json.loads(manifest.read_text())["episodes"])
            except (json.JSONDecodeError, KeyError):
                pytest.fail("manifest was observed half-written")
            if listed >= 1:
                break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 1 <= listed < 6, "the writer finished before it could be interrupted"

    store = EpisodeStore(tmp_path / "store")
    survivors = store.keys()
    assert 1 <= len(survivors) < 6
    mtimes = {}
    for key in survivors:
        frames = store.frames(key)
        assert frames.shape == (40, 64, 112, 3)
        mtimes[key] = (store.episode_dir(key) / "frames.mp4").stat().st_mtime_ns

    done = run_data(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    store = EpisodeStore(tmp_path / "store")
    assert len(store) == 6
    for key, mtime in mtimes.items():
        assert (store.episode_dir(key) / "frames.mp4").stat().st_mtime_ns == mtime
    assert not list((tmp_path / "store" / "episodes").glob(".tmp-*"))
    assert all(store.frames(k, 0, 2).shape == (2, 64, 112, 3) for k in store.keys())
    np.testing.assert_equal(store.ego_motion(store.keys()[0]).shape, (40, 2))
