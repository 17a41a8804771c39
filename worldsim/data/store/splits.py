"""Train/val splits: a stable hash of each key picks its split; split names are checked."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

SPLITS = ("train", "val")

_SPLIT_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def key_fraction(key: str) -> float:
    """A stable pseudo-random number in [0, 1) derived from the SHA-1 of the key."""
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:13], 16) / 16.0**13


def assign_splits(keys: Sequence[str], val_fraction: float) -> dict[str, str]:
    """Deterministic train/val split by key hash.

    A key is ``"val"`` when ``key_fraction(key) < val_fraction``. If that leaves no val
    episode while there are at least two keys and ``val_fraction > 0``, the key with the
    smallest hash fraction becomes ``"val"``.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    fractions = {key: key_fraction(key) for key in keys}
    splits = {key: "val" if u < val_fraction else "train" for key, u in fractions.items()}
    if val_fraction > 0 and len(keys) >= 2 and "val" not in splits.values():
        splits[min(fractions, key=lambda k: (fractions[k], k))] = "val"
    return splits


def validate_split(key: str, split: object) -> str:
    """Check that episode ``key``'s split is a short lowercase name; returns it unchanged."""
    if not isinstance(split, str) or not _SPLIT_RE.match(split):
        raise ValueError(f"episode {key!r}: split {split!r} must be a short lowercase name")
    return split
