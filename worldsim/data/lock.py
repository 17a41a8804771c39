"""One writer per store: an advisory lock file in the store's root.

``store_lock(root)`` takes an exclusive ``fcntl.flock`` on ``<root>/.writer.lock`` and writes the
holder (pid, host, command) into it. The kernel drops the lock when its process dies, so a lock
left by a killed writer is recovered by the next writer without any clean-up; the file's text
then only names the last holder. A second writer fails at once with a message that names the
live holder (or, with ``wait=True``, blocks until the first one is done).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = ".writer.lock"


class StoreLockedError(RuntimeError):
    """Another live process is writing to this store."""


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "an unknown process"
    return f"pid {info.get('pid')} on {info.get('host')} ({info.get('command')})"


@contextlib.contextmanager
def store_lock(root: str | os.PathLike[str], wait: bool = False) -> Iterator[Path]:
    """Hold the store's writer lock for the duration of the ``with`` block."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise StoreLockedError(
                f"store {root} is being written by {_holder(path)}; wait for it to finish "
                f"(a lock of a killed process is released by the system), or write elsewhere"
            ) from None
        record = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv)}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the lock
