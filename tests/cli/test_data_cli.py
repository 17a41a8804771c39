"""worldsim-data as users run it: the installed console script in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from tests.cli_helpers import console_script, run_cli
from worldsim.data.store import EpisodeStore
from worldsim.data.video import read_video


def test_writes_a_store_and_preview_in_parallel(tmp_path: Path) -> None:
    run_cli(
        "worldsim-data",
        *("out=store", "episodes=3", "frames=16", "workers=2", "preview=true"),
        cwd=tmp_path,
        check=True,
    )
    store = EpisodeStore(tmp_path / "store")
    assert len(store) == 3
    preview = read_video(tmp_path / "store" / "preview" / "preview.mp4")
    assert preview.shape == (16, 64, 3 * 112, 3)
    png = (tmp_path / "store" / "preview" / "contact_sheet.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    captions = json.loads((tmp_path / "store" / "preview" / "captions.json").read_text())
    assert set(captions) == set(store.keys())


def test_bad_config_value_gives_one_clear_line(tmp_path: Path) -> None:
    proc = run_cli("worldsim-data", "out=store", "source.weather=[hail]", cwd=tmp_path)
    assert proc.returncode == 2
    assert "weather" in proc.stderr and "hail" in proc.stderr and "snow" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run_cli("worldsim-data", "out=store", "height=63", cwd=tmp_path)
    assert proc.returncode == 2 and "63x112" in proc.stderr


def test_a_rerun_names_a_changed_setting_and_extend_true_adds(tmp_path: Path) -> None:
    base = ["out=store", "episodes=1", "frames=4", "workers=1", "progress=false"]
    run_cli("worldsim-data", *base, cwd=tmp_path, check=True)
    refused = run_cli("worldsim-data", *base, "episodes=2", "height=32", "width=56", cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert "height: the store has 64, this run 32" in refused.stderr
    assert "Traceback" not in refused.stderr
    grown = run_cli("worldsim-data", *base, "episodes=2", "seed=4", "extend=true", cwd=tmp_path)
    assert grown.returncode == 0, grown.stderr
    store = EpisodeStore(tmp_path / "store")
    for key in store.keys():
        store.episode(key)  # reads and checks every file against its digest
    assert len(store) == 2 and [s["seed"] for s in store.manifest["settings"]] == [0, 4]
    frames = store.frames("procedural-000001")
    assert frames.shape == (4, 64, 112, 3) and np.isfinite(frames).all()


def test_an_empty_out_is_refused(tmp_path: Path) -> None:
    proc = run_cli(
        "worldsim-data", "out=", "episodes=1", "frames=4", "progress=false", cwd=tmp_path
    )
    assert proc.returncode == 2 and "out='' is not a folder" in proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_killed_write_leaves_a_valid_store_and_rerun_completes(tmp_path: Path) -> None:
    args = ["out=store", "episodes=6", "frames=40", "workers=2", "progress=false"]
    proc = subprocess.Popen(
        [console_script("worldsim-data"), *args],
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

    run_cli("worldsim-data", *args, cwd=tmp_path, check=True)
    store = EpisodeStore(tmp_path / "store")
    assert len(store) == 6
    for key, mtime in mtimes.items():
        assert (store.episode_dir(key) / "frames.mp4").stat().st_mtime_ns == mtime
    assert not list((tmp_path / "store" / "episodes").glob(".tmp-*"))
    assert all(store.frames(k, 0, 2).shape == (2, 64, 112, 3) for k in store.keys())
    np.testing.assert_equal(store.ego_motion(store.keys()[0]).shape, (40, 2))
