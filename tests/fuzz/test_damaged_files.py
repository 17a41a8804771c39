"""Damaged files: store files, checkpoints and nuScenes roots give errors that name the file,
and a re-run over a damaged store leaves it valid."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fixtures.nuscenes_fixture import write_nuscenes_fixture
from tests.fuzz.helpers import accepted, assert_clear_error, count
from worldsim.data.sources.nuscenes import NUSCENES_TABLES, NuScenesSource
from worldsim.data.sources.procedural import ProceduralSource
from worldsim.data.store import EpisodeStore, write_store
from worldsim.runtime.bundle import bundled_model_dir
from worldsim.runtime.checkpoint import load_world_model
from worldsim.runtime.heads import load_eval_heads

SOURCE = ProceduralSource(episodes=2, frames=6)
FILES = ["frames.mp4", "ego_motion.npy", "ego_state.npy", "meta.json"]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pristine") / "store"
    write_store(SOURCE, root, workers=1, progress=False)
    return root


def _damage(root: Path, target: str, how: str, cut: float) -> Path:
    path = root / target if target == "manifest.json" else root / "episodes" / target
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: int(len(data) * cut)])
    elif how == "garbage":
        path.write_bytes(bytes(np.random.default_rng(int(cut * 1e6)).integers(0, 256, 64)))
    elif how == "delete":
        path.unlink()
    elif how == "wrong_shape" and path.suffix == ".npy":
        np.save(path, np.zeros((3, 7), np.float32))
    else:  # valid JSON of the wrong shape
        path.write_text(json.dumps([1, "x"]) if path.suffix == ".json" else "{}")
    return path


def _read_all(root: Path) -> None:
    store = EpisodeStore(root)
    for key in store.keys():
        store.episode(key)


TARGETS = ["manifest.json"] + [f"procedural-000001/{name}" for name in FILES]


@settings(max_examples=40)
@given(
    target=st.sampled_from(TARGETS),
    how=st.sampled_from(["truncate", "garbage", "delete", "wrong_shape", "wrong_json"]),
    cut=st.floats(0.0, 0.99),
)
def test_damaged_store_files(tmp_path_factory, pristine: Path, target, how, cut) -> None:
    root = tmp_path_factory.mktemp("damaged") / "store"
    shutil.copytree(pristine, root)
    path = _damage(root, target, how, cut)
    try:
        _read_all(root)
    except Exception as exc:
        assert_clear_error("store_files", exc, path.name, str(path.parent))
    else:
        accepted("store_files")  # e.g. a manifest cut to a still valid prefix never happens
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the re-run warns about what it rewrites
        write_store(SOURCE, root, workers=1, progress=False)  # ...and repairs the store
    _read_all(root)
    count("stores_verified_after_rerun")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ckpts")
    bundle = bundled_model_dir()
    model = (bundle / "model.safetensors").read_bytes()
    out = {}
    for cut in (0, 8, 100, len(model) // 2, len(model) - 1):
        folder = root / f"truncated_{cut}"
        shutil.copytree(bundle, folder)
        (folder / "model.safetensors").write_bytes(model[:cut])
        out[f"truncated bundle ({cut} bytes)"] = folder
    rng = np.random.default_rng(0)
    for name in ("random.ckpt", "random.safetensors"):
        (root / name).write_bytes(bytes(rng.integers(0, 256, 4096, dtype=np.uint8)))
        out[name] = root / name
    (root / "empty.ckpt").write_bytes(b"")
    out["empty.ckpt"] = root / "empty.ckpt"
    (root / "a_directory").mkdir()
    out["a directory"] = root / "a_directory"
    out["the heads file, not a model"] = bundle / "heads.safetensors"
    (root / "text.ckpt").write_text("not a checkpoint")
    out["text.ckpt"] = root / "text.ckpt"
    return out


LOADERS = {
    "load_world_model": lambda p: load_world_model(p),
    "gym.make": lambda p: gym.make("worldsim/DrivingWorld-v0", checkpoint=str(p)),
    "load_eval_heads": lambda p: load_eval_heads(p),
}
CKPT_CASES = [
    "truncated bundle (0 bytes)",
    "truncated bundle (8 bytes)",
    "truncated bundle (100 bytes)",
    f"truncated bundle ({(bundled_model_dir() / 'model.safetensors').stat().st_size // 2} bytes)",
    f"truncated bundle ({(bundled_model_dir() / 'model.safetensors').stat().st_size - 1} bytes)",
    "random.ckpt",
    "random.safetensors",
    "empty.ckpt",
    "a directory",
    "the heads file, not a model",
    "text.ckpt",
]


@pytest.mark.parametrize("loader", sorted(LOADERS))
@pytest.mark.parametrize("case", CKPT_CASES)
def test_bad_checkpoints(checkpoints: dict[str, Path], loader: str, case: str) -> None:
    path = checkpoints[case]
    try:
        LOADERS[loader](path)
    except Exception as exc:
        assert_clear_error("checkpoints", exc, path.name, str(path))
    else:
        # only the heads loader may accept a bundle whose model file alone is cut
        assert loader == "load_eval_heads" and case.startswith("truncated"), f"{case} loaded"
        accepted("checkpoints")


@pytest.fixture(scope="module")
def nuscenes_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nusc") / "data"
    write_nuscenes_fixture(root)
    return root


@pytest.mark.parametrize("table", NUSCENES_TABLES)
@pytest.mark.parametrize("how", ["delete", "garbage"])
def test_nuscenes_tables(nuscenes_root: Path, tmp_path: Path, table: str, how: str) -> None:
    root = tmp_path / "data"
    shutil.copytree(nuscenes_root, root)
    path = root / "v1.0-mini" / f"{table}.json"
    if how == "delete":
        path.unlink()
    else:
        path.write_text('{"not": "a table"')
    with pytest.raises(Exception) as info:
        NuScenesSource(str(root), height=48, width=80).keys()
    assert_clear_error("nuscenes_roots", info.value, table, "v1.0-mini")


def test_nuscenes_missing_image_is_left_out_with_its_name(
    nuscenes_root: Path, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    shutil.copytree(nuscenes_root, root)
    image = sorted((root / "sweeps").rglob("*.jpg"))[3]
    image.unlink()
    source = NuScenesSource(str(root), height=48, width=80, on_missing="skip")
    summary = write_store(source, tmp_path / "store", workers=1, progress=False)
    assert summary.left_out and image.name in " ".join(summary.left_out.values())
    _read_all(tmp_path / "store")
    count("nuscenes_roots:clear_error")
