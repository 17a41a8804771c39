"""A re-run over an existing store checks what it keeps: settings and episode digests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from worldsim.data.errors import StoreMismatchError
from worldsim.data.resume import episode_damage, source_settings
from worldsim.data.sources.procedural import ProceduralSource
from worldsim.data.store import EpisodeStore, write_store


def _write(root: Path, **kwargs: object) -> object:
    extend = bool(kwargs.pop("extend", False))
    source = ProceduralSource(**{"episodes": 2, "frames": 6, **kwargs})  # type: ignore[arg-type]
    return write_store(source, root, workers=1, progress=False, extend=extend)


def _verify_all(root: Path) -> EpisodeStore:
    store = EpisodeStore(root)
    for key in store.keys():
        store.episode(key)  # reads and checks every file against its digest
    return store


@pytest.mark.parametrize(
    ("change", "setting"),
    [({"frames": 8}, "frames"), ({"seed": 5}, "seed"), ({"weather": ["fog"]}, "weather")],
)
def test_other_settings_are_refused_naming_the_setting(
    tmp_path: Path, change: dict, setting: str
) -> None:
    root = tmp_path / "store"
    _write(root)
    before = json.loads((root / "manifest.json").read_text())
    with pytest.raises(StoreMismatchError, match=rf"{setting}: the store has .*extend=true"):
        _write(root, episodes=3, **change)
    assert json.loads((root / "manifest.json").read_text()) == before
    assert len(_verify_all(root)) == 2


def test_more_episodes_with_the_same_settings_resume(tmp_path: Path) -> None:
    root = tmp_path / "store"
    _write(root)
    summary = _write(root, episodes=3)
    assert summary.skipped == ["procedural-000000", "procedural-000001"]  # type: ignore[attr-defined]
    assert summary.written == ["procedural-000002"]  # type: ignore[attr-defined]
    assert len(_verify_all(root).manifest["settings"]) == 1


def test_extend_adds_episodes_and_records_both_settings(tmp_path: Path) -> None:
    root = tmp_path / "store"
    _write(root, episodes=1)
    summary = _write(root, episodes=2, frames=9, extend=True)
    assert summary.written == ["procedural-000001"]  # type: ignore[attr-defined]
    store = _verify_all(root)
    assert [store.num_frames(k) for k in store.keys()] == [6, 9]
    assert [s["frames"] for s in store.manifest["settings"]] == [6, 9]
    _write(root, episodes=2, frames=9)  # either recorded setting resumes without extend


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_a_damaged_episode_is_rewritten(tmp_path: Path, damage: str) -> None:
    root = tmp_path / "store"
    _write(root)
    episode = root / "episodes" / "procedural-000001"
    target = episode / ("frames.mp4" if damage == "flip" else "ego_motion.npy")
    original = target.read_bytes()
    if damage == "flip":
        data = bytearray(original)
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
    elif damage == "truncate":
        target.write_bytes(original[:-7])
    else:
        target.unlink()
    meta = json.loads((episode / "meta.json").read_text())
    assert episode_damage(episode, meta) is not None
    with pytest.warns(UserWarning, match="procedural-000001 is damaged"):
        summary = _write(root)
    assert summary.written == ["procedural-000001"]  # type: ignore[attr-defined]
    assert summary.skipped == ["procedural-000000"]  # type: ignore[attr-defined]
    assert target.read_bytes() == original  # the same episode, written again
    assert episode_damage(episode, json.loads((episode / "meta.json").read_text())) is None
    _verify_all(root)


def test_settings_are_plain_json_without_the_episode_count() -> None:
    settings = source_settings(ProceduralSource(episodes=7, frames=5, seed=3))
    assert "episodes" not in settings and settings["frames"] == 5 and settings["seed"] == 3
    assert json.loads(json.dumps(settings)) == settings
