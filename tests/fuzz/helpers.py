"""The fuzz suite's property and tally (kept here, not in conftest.py, so that the tests and
the end-of-run hook share one module).

Property: a bad input ends with an error raised by worldsim's own code (not from inside torch,
numpy, av, hydra or gymnasium), whose message names the bad value or file; or, for a CLI, with
a one-line message and no traceback (the CLIs run through ``tests.cli_helpers.run_cli``).
Every case is counted; with ``WORLDSIM_FUZZ_TALLY=<file>`` the counts are written there as JSON
at the end of the run (``docs/reliability.md``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import TracebackType

import worldsim

PACKAGE = Path(worldsim.__file__).resolve().parent
# Raised by a bug, never as a message for the user.
PROGRAMMING_ERRORS = (
    AssertionError,
    AttributeError,
    IndexError,
    KeyError,
    NameError,
    RecursionError,
    UnboundLocalError,
    ZeroDivisionError,
)


TALLY: Counter[str] = Counter()


def _last_frame(tb: TracebackType | None) -> Path | None:
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    return None if last is None else Path(last.tb_frame.f_code.co_filename).resolve()


def assert_clear_error(group: str, exc: BaseException, *names: str) -> None:
    """``exc`` came from worldsim's own checks and its message names one of ``names``."""
    origin = _last_frame(exc.__traceback__)
    message = str(exc)
    assert origin is not None and PACKAGE in origin.parents, (
        f"{type(exc).__name__} raised inside {origin}, not by worldsim: {message}"
    )
    assert not isinstance(exc, PROGRAMMING_ERRORS), f"{type(exc).__name__}: {message}"
    assert message.strip(), f"{type(exc).__name__} without a message"
    if names:
        assert any(n in message for n in names), f"{message!r} names none of {names}"
    TALLY[f"{group}:clear_error"] += 1


def accepted(group: str) -> None:
    """An input that was valid after all (e.g. a finite action clipped to the box)."""
    TALLY[f"{group}:accepted"] += 1


def count(name: str, n: int = 1) -> None:
    TALLY[name] += n


def assert_clear_cli(group: str, code: int, err: str, *names: str) -> None:
    """A refused CLI run: non-zero exit, a short message naming the value, no traceback."""
    assert code != 0, f"accepted silently; stderr: {err[-500:]}"
    assert "Traceback" not in err and 'File "' not in err, err[-2000:]
    if names:
        assert any(n in err for n in names), f"{err[-500:]!r} names none of {names}"
    TALLY[f"{group}:clear_error"] += 1
