"""Errors raised when reading the episode store."""

from __future__ import annotations


class StoreReadError(RuntimeError):
    """A file of the episode store is missing, unreadable or inconsistent.

    The message names the file and says how to repair the store.
    """


class StoreMismatchError(ValueError):
    """A source does not match the episode store it is being written into."""


class EpisodeWriteError(RuntimeError):
    """Loading or writing one episode failed; the message names the episode key."""


class SkipEpisode(Exception):
    """Raised by a source's ``load`` when an episode cannot be written (e.g. missing images);
    the writer leaves it out, reports the reason and goes on."""
