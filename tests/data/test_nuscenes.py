"""nuScenes source on a fixture in nuScenes' own format, read by the real nuscenes-devkit."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("nuscenes")

from tests.cli_helpers import run_cli  # noqa: E402
from tests.fixtures.nuscenes_fixture import (  # noqa: E402
    SPEED,
    STRAIGHT_S,
    YAW_RATE,
    write_nuscenes_fixture,
)
from worldsim.data.sources.nuscenes import NuScenesSource  # noqa: E402
from worldsim.data.store import EpisodeStore, write_store  # noqa: E402


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nuscenes")
    write_nuscenes_fixture(root)
    return root


def test_the_real_devkit_loads_the_fixture(fixture_root: Path) -> None:
    from nuscenes.nuscenes import NuScenes

    nusc = NuScenes("v1.0-mini", str(fixture_root), verbose=False)
    assert len(nusc.table_names) == 13
    assert [s["name"] for s in nusc.scene] == ["scene-0061", "scene-0103"]
    assert nusc.get("log", nusc.scene[0]["log_token"])["map_token"] == nusc.map[0]["token"]
    keyframes = [sd for sd in nusc.sample_data if sd["is_key_frame"]]
    assert 5 <= len(nusc.sample_data) / len(keyframes) <= 7


def test_motion_matches_the_known_trajectory(fixture_root: Path) -> None:
    source = NuScenesSource(str(fixture_root), height=48, width=80)
    ep = source.load("scene-0061-CAM_FRONT")
    t = np.arange(ep.num_frames) * 0.1
    straight = t < STRAIGHT_S - 0.1
    turning = t > STRAIGHT_S + 0.1
    # Tolerance: 0.05 m/s and 0.01 rad/s (interpolation between poses 83 ms apart).
    np.testing.assert_allclose(ep.ego_motion_T2[straight, 0], SPEED, atol=0.05)
    np.testing.assert_allclose(ep.ego_motion_T2[straight, 1], 0.0, atol=0.01)
    np.testing.assert_allclose(ep.ego_motion_T2[turning, 0], SPEED, atol=0.05)
    np.testing.assert_allclose(ep.ego_motion_T2[turning, 1], YAW_RATE, atol=0.01)


def test_resampled_timeline_and_frames(fixture_root: Path) -> None:
    source = NuScenesSource(str(fixture_root), height=48, width=80)
    ep = source.load("scene-0061-CAM_FRONT")
    # 48 sweeps (one dropped) from 0 to ~3.92 s: targets every 0.1 s inside the chain.
    chain = source.chain(source._parse("scene-0061-CAM_FRONT")[0], "CAM_FRONT")
    span = (chain.timestamps_us[-1] - chain.timestamps_us[0]) / 1e6
    assert ep.num_frames == int(span / 0.1) + 1
    assert len(chain.filenames) == 48  # the full sweep chain, not just the keyframes
    assert ep.frames_THWC.shape == (ep.num_frames, 48, 80, 3)
    assert ep.extra["duplicated_frames"] <= 1  # the dropped sweep is bridged
    assert ep.caption == "Night, after rain, many peds, PMD, ped crossing, singapore-onenorth"
    assert ep.split == "train"
    assert ep.intrinsics["fx"] == pytest.approx(126.6 * 48 / 90) and ep.intrinsics["width"] == 80


def test_store_through_the_cli_keeps_official_splits(fixture_root: Path, tmp_path: Path) -> None:
    run_cli(
        "worldsim-data",
        "source=nuscenes",
        f"source.root={fixture_root}",
        "source.version=v1.0-mini",
        "source.cameras=[CAM_FRONT]",
        "out=store",
        "height=48",
        "width=80",
        "workers=2",
        "progress=false",
        cwd=tmp_path,
        check=True,
    )
    store = EpisodeStore(tmp_path / "store")
    assert store.keys("train") == ["scene-0061-CAM_FRONT"]
    assert store.keys("val") == ["scene-0103-CAM_FRONT"]
    assert store.frames("scene-0103-CAM_FRONT").shape[1:] == (48, 80, 3)
    assert store.caption("scene-0103-CAM_FRONT").endswith("boston-seaport")


def test_missing_image_is_reported_not_written(tmp_path: Path) -> None:
    info = write_nuscenes_fixture(tmp_path / "data")
    victim = info.root / info.image_paths["scene-0103"][30]
    victim.unlink()
    source = NuScenesSource(str(info.root), height=48, width=80)
    with pytest.warns(UserWarning, match=r"1 missing or unreadable image.*" + victim.name):
        ep = source.load("scene-0103-CAM_FRONT")
    assert ep.extra["missing_images"] == 1 and ep.num_frames < 40
    skipping = NuScenesSource(str(info.root), height=48, width=80, on_missing="skip")
    summary = write_store(skipping, tmp_path / "store", workers=1, progress=False)
    assert list(summary.left_out) == ["scene-0103-CAM_FRONT"]
    assert victim.name in summary.left_out["scene-0103-CAM_FRONT"]
    assert EpisodeStore(tmp_path / "store").keys() == ["scene-0061-CAM_FRONT"]


def test_wrong_root_names_the_expected_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nowhere" / "v1.0-mini")):
        NuScenesSource(str(tmp_path / "nowhere")).keys()
    proc = run_cli(
        "worldsim-data",
        "source=nuscenes",
        f"source.root={tmp_path / 'nowhere'}",
        "out=store",
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "v1.0-mini" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_devkit_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nuscenes.nuscenes", None)  # import now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "worldsim\[nuscenes\]"'):
        NuScenesSource(str(tmp_path), version="v1.0-mini-missing").keys()
