"""Preview of a store: a tiled mp4 of several episodes and a PNG contact sheet."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from einops import rearrange

from worldsim.data.store import EpisodeStore
from worldsim.data.video import write_video
from worldsim.utils.png import write_png


def write_preview(
    store: EpisodeStore,
    out_dir: str | Path,
    max_episodes: int = 8,
    columns: int = 4,
    sheet_frames: int = 8,
) -> list[Path]:
    """Write ``preview.mp4``, ``contact_sheet.png`` and ``captions.json`` decoded from ``store``.

    The video tiles up to ``max_episodes`` episodes in a grid of ``columns``; the contact sheet
    has one row per episode with ``sheet_frames`` evenly spaced frames.
    """
    keys = store.keys()[:max_episodes]
    if not keys:
        raise ValueError(f"store {store.root} has no episodes to preview")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clips = [store.frames(k) for k in keys]  # each (T, H, W, 3)
    length = min(c.shape[0] for c in clips)
    columns = min(columns, len(clips))
    rows = -(-len(clips) // columns)
    blank = np.zeros_like(clips[0][:length])
    tiles = [c[:length] for c in clips] + [blank] * (rows * columns - len(clips))
    grid_NTHWC = np.stack(tiles)
    video_THWC = rearrange(grid_NTHWC, "(r c) t h w ch -> t (r h) (c w) ch", r=rows, c=columns)
    video_path = out / "preview.mp4"
    write_video(video_path, video_THWC, fps=1.0 / store.dt)
    picks = np.linspace(0, length - 1, sheet_frames).round().astype(int)
    sheet = np.stack([c[picks] for c in clips])  # (N, F, H, W, 3)
    sheet_HW3 = rearrange(sheet, "n f h w ch -> (n h) (f w) ch")
    sheet_path = write_png(out / "contact_sheet.png", sheet_HW3)
    captions = out / "captions.json"
    captions.write_text(json.dumps({k: store.caption(k) for k in keys}, indent=2))
    return [Path(video_path), sheet_path, captions]
