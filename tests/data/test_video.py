from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from worldsim.data.errors import StoreReadError
from worldsim.data.video import read_video, video_num_frames, write_video
from worldsim.utils.psnr import psnr


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, render) -> tuple[Path, np.ndarray, np.ndarray]:
    """A 50-frame video (several GOPs), its source frames, and its full decode."""
    frames_THWC = render(50, 64, 112, seed=3)
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    write_video(path, frames_THWC, fps=10)
    return path, frames_THWC, read_video(path)


def test_round_trip_psnr(clip) -> None:
    _, frames_THWC, decoded_THWC = clip
    assert decoded_THWC.shape == frames_THWC.shape
    assert decoded_THWC.dtype == np.uint8
    assert psnr(frames_THWC, decoded_THWC) >= 35.0
    assert min(psnr(a, b) for a, b in zip(frames_THWC, decoded_THWC, strict=True)) >= 35.0


def test_same_frames_give_the_same_bytes(clip, tmp_path: Path) -> None:
    _, frames_THWC, _ = clip
    encodings = set()
    for i in range(5):  # threaded libx264 differed on most repeats
        write_video(tmp_path / f"{i}.mp4", frames_THWC, fps=10)
        encodings.add((tmp_path / f"{i}.mp4").read_bytes())
    assert len(encodings) == 1


def test_frame_count_without_decoding(clip) -> None:
    path, frames_THWC, _ = clip
    assert video_num_frames(path) == len(frames_THWC)


@pytest.mark.parametrize(
    ("start", "length"), [(0, 1), (0, 16), (5, 3), (15, 2), (16, 16), (17, 20), (31, 19), (49, 1)]
)
def test_partial_read_matches_full_decode(clip, start: int, length: int) -> None:
    path, _, decoded_THWC = clip
    part = read_video(path, start, length)
    np.testing.assert_array_equal(part, decoded_THWC[start : start + length])


def test_read_to_end_and_empty(clip) -> None:
    path, _, decoded_THWC = clip
    np.testing.assert_array_equal(read_video(path, 40), decoded_THWC[40:])
    assert read_video(path, 10, 0).shape == (0, 64, 112, 3)


def test_non_integer_frame_rate(tmp_path: Path, render) -> None:
    frames_THWC = render(20, 32, 48, seed=1)
    path = tmp_path / "v.mp4"
    write_video(path, frames_THWC, fps=1 / (1 / 12))
    full = read_video(path)
    assert len(full) == 20
    np.testing.assert_array_equal(read_video(path, 17, 3), full[17:])


def test_odd_size_is_rejected(tmp_path: Path) -> None:
    frames_THWC = np.zeros((2, 63, 112, 3), np.uint8)
    with pytest.raises(ValueError, match="63x112"):
        write_video(tmp_path / "odd.mp4", frames_THWC, fps=10)


def test_bad_frames_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="uint8"):
        write_video(tmp_path / "f.mp4", np.zeros((2, 8, 8, 3), np.float32), fps=10)
    with pytest.raises(ValueError, match="fps"):
        write_video(tmp_path / "f.mp4", np.zeros((2, 8, 8, 3), np.uint8), fps=0)


def test_reading_past_the_end_raises(clip) -> None:
    path, _, _ = clip
    with pytest.raises(StoreReadError, match="holds 50 frames"):
        read_video(path, 45, 10)


def _corrupt(path: Path, tmp_path: Path, how: str) -> Path:
    data = path.read_bytes()
    bad = tmp_path / f"{how}.mp4"
    n = len(data)
    if how == "random_middle":
        noise = np.random.default_rng(0).integers(0, 256, 512, dtype=np.uint8).tobytes()
        bad.write_bytes(data[: n // 3] + noise + data[n // 3 + 512 :])
    elif how == "truncated":
        bad.write_bytes(data[: n // 2])
    elif how == "empty":
        bad.write_bytes(b"")
    return bad


# Damage the decoder cannot notice (e.g. zeroed bytes inside the bitstream) is caught by the
# store's checksums; see test_store.py.
@pytest.mark.parametrize("how", ["random_middle", "truncated", "empty"])
def test_damaged_video_raises_naming_the_file(clip, tmp_path: Path, how: str) -> None:
    path, _, _ = clip
    bad = _corrupt(path, tmp_path, how)
    with pytest.raises(StoreReadError) as info:
        read_video(bad)
    assert str(bad) in str(info.value)
    assert "worldsim-data" in str(info.value)


def test_missing_video_raises(tmp_path: Path) -> None:
    with pytest.raises(StoreReadError, match="does not exist"):
        read_video(tmp_path / "nope.mp4")
