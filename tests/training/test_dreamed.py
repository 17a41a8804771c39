"""World-model replays of labelled drives (``worldsim.training.dreamed``), with the bundled
model and the real store writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import short_run, train
from worldsim.data.signals import SignalDataModule, SignalWindows
from worldsim.data.store import EpisodeStore, write_store
from worldsim.training.dreamed import DreamedSource


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


@pytest.fixture(scope="module")
def dreamed_store(procedural_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dreamed") / "replays"
    source = DreamedSource(str(procedural_store), context=4, horizon=6, stride=8)
    write_store(source, out, workers=1, progress=False)
    return out


def test_replays_keep_the_true_context_and_labels(procedural_store: Path, dreamed_store: Path):
    true, dreamed = EpisodeStore(procedural_store), EpisodeStore(dreamed_store)
    # 24-frame drives, replays of 10 frames every 8: starts 0 and 8 of each of the 4 drives
    assert dreamed.keys() == [f"{k}-s{s:04d}" for k in true.keys() for s in (0, 8)]
    for key in dreamed.keys():
        drive, start = key.rsplit("-s", 1)
        s = int(start)
        rows = slice(s, s + 10)
        assert dreamed.split(key) == true.split(drive)  # a val drive's replays stay in val
        np.testing.assert_array_equal(dreamed.ego_state(key), true.ego_state(drive)[rows])
        np.testing.assert_array_equal(dreamed.ego_motion(key), true.ego_motion(drive)[rows])
        frames, truth = dreamed.frames(key), true.frames(drive)[rows]
        assert psnr(frames[:4], truth[:4]) > 30  # the context is the true frames (re-encoded)
        assert np.abs(frames[4:].astype(int) - truth[4:]).mean() > 1  # generated, not copied
        assert dreamed.meta(key)["extra"]["generated_from"] == 4


def test_replays_are_deterministic_and_resume(procedural_store: Path, dreamed_store: Path):
    a = DreamedSource(str(procedural_store), context=4, horizon=6, stride=8)
    b = DreamedSource(str(procedural_store), context=4, horizon=6, stride=8)
    key = a.keys()[3]
    # every random draw of a replay (the context noise too) comes from the drive's seeded generator
    np.testing.assert_array_equal(a.load(key).frames_THWC, b.load(key).frames_THWC)
    c = DreamedSource(str(procedural_store), context=4, horizon=6, stride=8, seed=1)
    assert not np.array_equal(c.load(key).frames_THWC, a.load(key).frames_THWC)
    summary = write_store(a, dreamed_store, workers=1, progress=False)
    assert summary.written == [] and len(summary.skipped) == len(a.keys())


def test_bad_replay_settings_are_refused(procedural_store: Path):
    with pytest.raises(ValueError, match="context=1"):
        DreamedSource(str(procedural_store), context=1)
    with pytest.raises(ValueError, match="stride=0"):
        DreamedSource(str(procedural_store), stride=0)
    source = DreamedSource(str(procedural_store), context=4, horizon=6, stride=8)
    with pytest.raises(KeyError, match="no replay starting at frame 3"):
        source.load(f"{EpisodeStore(procedural_store).keys()[0]}-s0003")
    with pytest.raises(KeyError, match="not a replay key"):
        source.load("nope")


def test_the_heads_data_reads_both_stores(procedural_store: Path, dreamed_store: Path):
    data = SignalDataModule(str(procedural_store), 2, 4, extra_stores=[str(dreamed_store)])
    data.setup()
    real = SignalWindows(procedural_store, "train", 2)
    replays = SignalWindows(dreamed_store, "train", 2)
    assert len(data.train_dataloader().dataset) == len(real) + len(replays)
    batch = next(iter(data.val_dataloader()))
    assert batch["frames"].shape[1:] == (2, 64, 112, 3)


@pytest.mark.slow
def test_train_reads_the_replays_beside_the_real_frames(tmp_path: Path):
    dreamed = ["+driving_heads/dreamed=default", "driving_heads.dreamed.horizon=4"]
    train(tmp_path, *short_run("driving_heads", clip_len=2, steps=4), *dreamed)
    replays = EpisodeStore(tmp_path / "data" / "procedural_signals_dreamed")
    # the tiny store's 4 drives of 20 frames, replays of 8 frames every 12: starts 0 and 12
    assert len(replays) == 8
    assert {replays.meta(k)["source"] for k in replays.keys()} == {"dreamed"}
    assert (tmp_path / "runs" / "driving_heads" / "checkpoints" / "last.ckpt").is_file()
    (tmp_path / "long").mkdir()
    proc = train(
        tmp_path / "long",
        *short_run("driving_heads", clip_len=2, steps=4),
        "+driving_heads/dreamed=default",
        "driving_heads.dreamed.horizon=40",
        check=False,
    )
    assert proc.returncode != 0
    assert "shorter than one replay" in proc.stderr and "driving_heads.dreamed=null" in proc.stderr
    assert "Traceback" not in proc.stderr
