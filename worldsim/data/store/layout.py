"""Where an episode store keeps what: file names, key checks, paths and the fix hints.

Layout (see docs/data-format.md)::

    <root>/manifest.json
    <root>/episodes/<key>/frames.mp4 | ego_motion.npy | ego_state.npy | actions.npy | meta.json
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from worldsim.data.errors import StoreReadError

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
EPISODES_DIR = "episodes"
TMP_PREFIX = ".tmp-"
FRAMES_FILE = "frames.mp4"
EGO_MOTION_FILE = "ego_motion.npy"
EGO_STATE_FILE = "ego_state.npy"
ACTIONS_FILE = "actions.npy"
META_FILE = "meta.json"
DT_TOLERANCE = 1e-9

_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=-]{0,199}$")


def validate_key(key: str) -> str:
    """Check that an episode key is usable as a folder name; returns it unchanged."""
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise ValueError(
            f"episode key {key!r} is not a valid folder name: use 1-200 characters from "
            "[A-Za-z0-9._+=-], starting with a letter or digit"
        )
    return key


def _fix_hint(root: Path, key: str | None = None) -> str:
    """How to repair the store at ``root``, or only its episode ``key``."""
    if key is None:
        return f"re-create the store with `worldsim-data ... out={root}`"
    return (
        f"delete the folder {root / EPISODES_DIR / key} and re-run `worldsim-data ... out={root}` "
        "with the same source to re-create that episode"
    )


def _read_json(path: Path, fix: str) -> dict[str, Any]:
    """A JSON object from ``path``; StoreReadError (ending in ``fix``) when it is not one."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError as exc:
        raise StoreReadError(f"{path} is missing; {fix}") from exc
    except (OSError, ValueError) as exc:
        raise StoreReadError(f"{path} is not readable JSON ({exc}); {fix}") from exc
    if not isinstance(data, dict):
        raise StoreReadError(f"{path} does not hold a JSON object; {fix}")
    return data
