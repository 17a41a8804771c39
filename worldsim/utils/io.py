"""Atomic file writes, JSON and digests: one home for the file helpers."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def json_default(value: Any) -> Any:
    """``json.dumps`` ``default``: numpy scalars and arrays, tuples, sets and paths as JSON."""
    import numpy as np  # here, so importing this module stays cheap

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps_json(data: Any, indent: int = 1) -> str:
    """``data`` as indented JSON text ending in a newline (numpy values become plain ones)."""
    return json.dumps(data, indent=indent, default=json_default) + "\n"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], tmp_name: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically, on
    error it is removed, so readers see the old file or the whole new one.

    ``tmp_name`` names the temporary file (default ``.<name>.<pid>.tmp``).
    """
    path = Path(path)
    tmp = path.with_name(tmp_name or f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "w", fsync: bool = False, tmp_name: str | None = None
) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing (text as UTF-8); when the block ends it
    is closed (flushed and fsynced first with ``fsync``) and replaces ``path`` atomically."""
    encoding = None if "b" in mode else "utf-8"
    with atomic_path(path, tmp_name) as tmp, open(tmp, mode, encoding=encoding) as f:
        yield f
        if fsync:
            f.flush()
            os.fsync(f.fileno())


def write_text_atomic(
    path: str | os.PathLike[str], text: str, fsync: bool = False, tmp_name: str | None = None
) -> Path:
    """Write UTF-8 text atomically (see :func:`atomic_open`)."""
    with atomic_open(path, "w", fsync, tmp_name) as f:
        f.write(text)
    return Path(path)


def write_json_atomic(path: str | os.PathLike[str], data: Any, indent: int = 2) -> Path:
    """Write ``data`` as JSON atomically."""
    return write_text_atomic(path, json.dumps(data, indent=indent, sort_keys=False) + "\n")


def file_hash(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes, read in 1 MiB chunks (``algorithm`` as ``hashlib.new``)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 hex digest of a file."""
    return file_hash(path, "sha256")
