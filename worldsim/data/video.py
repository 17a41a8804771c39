"""H.264 mp4 video files: writing, seeking reads, and a PSNR helper."""

from __future__ import annotations

import os
from collections.abc import Callable
from fractions import Fraction

import av
import numpy as np
from av.container import InputContainer

from worldsim.data.errors import StoreReadError

DEFAULT_CRF = 10  # near-lossless luma; RGB round trip is limited by 4:2:0 chroma (~40 dB)
DEFAULT_GOP = 16  # keyframe interval in frames: a seek decodes at most GOP - 1 extra frames
DEFAULT_PRESET = "fast"
PIX_FMT = "yuv420p"

DEFAULT_FIX = (
    "the file is damaged or incomplete; if it belongs to an episode store, delete that "
    "episode's folder and re-run `worldsim-data ... out=<store root>` to re-create it"
)


def _frame_rate(fps: float) -> Fraction:
    if not np.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a positive finite number, got {fps!r}")
    return Fraction(fps).limit_denominator(1001)


def write_video(
    path: str | os.PathLike[str],
    frames_THWC: np.ndarray,
    fps: float,
    crf: int = DEFAULT_CRF,
    gop: int = DEFAULT_GOP,
    preset: str = DEFAULT_PRESET,
) -> None:
    """Encode uint8 RGB frames (T, H, W, 3) as H.264 (libx264, yuv420p) in an mp4 file."""
    frames_THWC = np.asarray(frames_THWC)
    if frames_THWC.ndim != 4 or frames_THWC.shape[-1] != 3 or frames_THWC.dtype != np.uint8:
        raise ValueError(
            f"frames must be uint8 (T, H, W, 3), got {frames_THWC.dtype} {tuple(frames_THWC.shape)}"
        )
    t, h, w, _ = frames_THWC.shape
    if t == 0:
        raise ValueError(f"cannot write {os.fspath(path)}: no frames given")
    if h % 2 or w % 2:
        raise ValueError(
            f"frame size {h}x{w} (H x W) must be even in both dimensions for {PIX_FMT} "
            "video; crop or resize the frames to an even size"
        )
    if gop < 1:
        raise ValueError(f"gop must be >= 1, got {gop}")
    rate = _frame_rate(fps)
    with av.open(os.fspath(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width = w
        stream.height = h
        stream.pix_fmt = PIX_FMT
        stream.codec_context.gop_size = gop
        stream.codec_context.time_base = 1 / rate
        # x264's macroblock-tree rate control made the same frames encode to different
        # bytes from call to call; without it a store is byte-for-byte reproducible from its
        # seed, at 10-35% more bytes at this near-lossless quality.
        stream.options = {"crf": str(crf), "preset": preset, "x264-params": "mbtree=0"}
        stream.thread_type = "AUTO"
        for i, frame_HWC in enumerate(frames_THWC):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_HWC), format="rgb24")
            frame.pts = i
            frame.time_base = 1 / rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def read_video(
    path: str | os.PathLike[str],
    start: int = 0,
    length: int | None = None,
    *,
    fix: str = DEFAULT_FIX,
) -> np.ndarray:
    """Decode frames ``[start, start + length)`` as uint8 RGB (T, H, W, 3).

    Seeks to the keyframe at or before ``start`` and decodes only what is needed.
    ``length=None`` reads to the end. Any failure, or fewer frames than requested, raises
    :class:`StoreReadError` naming the file; ``fix`` is the advice appended to that message.
    """
    if start < 0:
        raise ValueError(f"start must be >= 0, got {start}")
    if length is not None and length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    path_str = os.fspath(path)

    def fail(problem: str) -> StoreReadError:
        return StoreReadError(f"cannot read video {path_str}: {problem}; {fix}")

    if not os.path.isfile(path_str):
        raise fail("the file does not exist")
    try:
        container = av.open(path_str, mode="r")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise fail(f"{type(exc).__name__}: {exc}") from exc
    try:
        with container:
            return _decode_range(container, start, length, fail)
    except StoreReadError:
        raise
    except (av.FFmpegError, OSError, ValueError, EOFError) as exc:
        raise fail(f"{type(exc).__name__}: {exc}") from exc


def _decode_range(
    container: InputContainer,
    start: int,
    length: int | None,
    fail: Callable[[str], StoreReadError],
) -> np.ndarray:
    if not container.streams.video:
        raise fail("no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    # Raise on bitstream errors the decoder detects instead of concealing them.
    stream.codec_context.options = {"err_detect": "explode"}
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    time_base = stream.time_base
    if not rate or not time_base:
        raise fail("the stream has no frame rate or time base")
    t0 = stream.start_time or 0
    if length == 0:
        return np.zeros((0, stream.height, stream.width, 3), np.uint8)
    total = stream.frames or None  # the mp4 sample table gives an exact count
    if total is not None and (start >= total or (length is not None and start + length > total)):
        end = "the end" if length is None else start + length
        raise fail(f"requested frames [{start}, {end}) but the video holds {total} frames")

    def frame_index(frame: av.VideoFrame, previous: int | None) -> int:
        if frame.pts is None:
            return 0 if previous is None else previous + 1
        return round((frame.pts - t0) * time_base * rate)

    def collect(seek_target: int) -> list[np.ndarray] | None:
        """Frames from ``start`` after seeking; None if the seek landed past ``start``."""
        container.seek(seek_target, stream=stream, backward=True)
        out: list[np.ndarray] = []
        index = None
        for frame in container.decode(stream):
            index = frame_index(frame, index)
            if index < start:
                continue
            if length is not None and index >= start + length:
                break
            expected = start + len(out)
            if index != expected:
                if not out:
                    return None
                raise fail(f"frame {expected} is missing (decoder jumped to frame {index})")
            out.append(frame.to_ndarray(format="rgb24"))
        return out

    frames = collect(int(t0 + start / rate / time_base)) if start > 0 else None
    if frames is None:
        frames = collect(t0)
    if frames is None:
        raise fail(f"frame {start} could not be decoded")
    wanted = (total - start if total is not None else None) if length is None else length
    if wanted is not None and len(frames) != wanted:
        raise fail(f"decoded {len(frames)} frames from {start}, expected {wanted}")
    if not frames:
        raise fail(f"no frames decoded from frame {start}")
    return np.stack(frames)


def video_num_frames(path: str | os.PathLike[str], *, fix: str = DEFAULT_FIX) -> int:
    """Frame count from the container's sample table (no decoding)."""
    path_str = os.fspath(path)
    try:
        with av.open(path_str, mode="r") as container:
            if not container.streams.video:
                raise StoreReadError(f"cannot read video {path_str}: no video stream; {fix}")
            return int(container.streams.video[0].frames)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise StoreReadError(
            f"cannot read video {path_str}: {type(exc).__name__}: {exc}; {fix}"
        ) from exc
