"""The episode store: one folder of H.264 videos and numpy arrays that every source writes.

``layout`` names the files (see docs/data-format.md), ``stats`` holds the normalisation
statistics, ``splits`` the train/val split, ``writer`` (with ``manifest``) writes a store and
``reader`` reads one. Everything is importable from here, as ``worldsim.data.store.X``.
"""

from __future__ import annotations

from worldsim.data.store.layout import (
    ACTIONS_FILE,
    DT_TOLERANCE,
    EGO_MOTION_FILE,
    EGO_STATE_FILE,
    EPISODES_DIR,
    FORMAT_VERSION,
    FRAMES_FILE,
    MANIFEST_NAME,
    META_FILE,
    TMP_PREFIX,
    validate_key,
)
from worldsim.data.store.reader import EpisodeStore
from worldsim.data.store.splits import SPLITS, assign_splits, key_fraction, validate_split
from worldsim.data.store.stats import STD_FLOOR, NormStats, StoreStats
from worldsim.data.store.writer import (
    StoreSummary,
    _init_worker,
    _write_task,
    write_episode,
    write_store,
)

__all__ = [
    "ACTIONS_FILE",
    "DT_TOLERANCE",
    "EGO_MOTION_FILE",
    "EGO_STATE_FILE",
    "EPISODES_DIR",
    "FORMAT_VERSION",
    "FRAMES_FILE",
    "MANIFEST_NAME",
    "META_FILE",
    "SPLITS",
    "STD_FLOOR",
    "TMP_PREFIX",
    "EpisodeStore",
    "NormStats",
    "StoreStats",
    "StoreSummary",
    "_init_worker",
    "_write_task",
    "assign_splits",
    "key_fraction",
    "validate_key",
    "validate_split",
    "write_episode",
    "write_store",
]
