"""Captions per frame: an episode's caption, or the caption it switches to from one frame on.

An episode whose look changes mid-way (the procedural source's ``switch_prob``) records the
switch in ``extra["caption_switch"] = {"frame": k, "caption": ..., "conditions": {...}}``:
frames ``0 .. k-1`` have the episode's ``caption`` and ``conditions``, frames ``k ..`` the
switched ones. Episodes without that entry have one caption for every frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SWITCH_KEY = "caption_switch"


@dataclass(frozen=True)
class CaptionSwitch:
    """From frame ``frame`` on, the episode has ``caption`` and ``conditions``."""

    frame: int
    caption: str
    conditions: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"frame": self.frame, "caption": self.caption, "conditions": dict(self.conditions)}


def caption_switch(extra: dict[str, Any], num_frames: int, key: str = "") -> CaptionSwitch | None:
    """The switch recorded in an episode's ``extra``, checked; ``None`` when there is none."""
    entry = extra.get(SWITCH_KEY)
    if entry is None:
        return None
    where = f"episode {key!r}: extra[{SWITCH_KEY!r}]"
    if not isinstance(entry, dict) or set(entry) != {"frame", "caption", "conditions"}:
        raise ValueError(
            f"{where} must be a dict with exactly the keys 'frame', 'caption' and 'conditions', "
            f"got {entry!r}"
        )
    frame, caption, conditions = entry["frame"], entry["caption"], entry["conditions"]
    if isinstance(frame, bool) or not isinstance(frame, int) or not 0 < frame < num_frames:
        raise ValueError(
            f"{where}['frame']={frame!r} must be an int in 1..{num_frames - 1} (the first frame "
            "with the new caption; frame 0 always has the episode's caption)"
        )
    if not isinstance(caption, str) or not isinstance(conditions, dict):
        raise ValueError(f"{where}: 'caption' must be a str and 'conditions' a dict")
    return CaptionSwitch(frame, caption, conditions)


def caption_at(caption: str, switch: CaptionSwitch | None, frame: int) -> str:
    """The caption of frame ``frame``."""
    return switch.caption if switch is not None and frame >= switch.frame else caption


def conditions_at(
    conditions: dict[str, Any], switch: CaptionSwitch | None, frame: int
) -> dict[str, Any]:
    """The scene conditions of frame ``frame``."""
    if switch is not None and frame >= switch.frame:
        return {**conditions, **switch.conditions}
    return conditions


def window_captions(
    caption: str, switch: CaptionSwitch | None, start: int, length: int
) -> tuple[str, str, int]:
    """``(first, last, switch_at)`` of the frames ``start .. start+length-1``: the caption of
    the first frame, of the last frame, and the index in the window where ``last`` begins (0
    when the window has one caption)."""
    first = caption_at(caption, switch, start)
    last = caption_at(caption, switch, start + length - 1)
    if switch is None or first == last:
        return first, last, 0
    return first, last, switch.frame - start
