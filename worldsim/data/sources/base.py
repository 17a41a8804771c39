"""The interface every data source implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from worldsim.data.episode import Episode


@runtime_checkable
class EpisodeSource(Protocol):
    """A picklable object that lists episode keys and builds one episode per key.

    ``load`` must be deterministic for a key, so that an interrupted write can resume.
    """

    name: str
    dt: float

    def keys(self) -> list[str]:
        """All episode keys, in a stable order."""
        ...

    def load(self, key: str) -> Episode:
        """Build the episode for ``key``."""
        ...
