"""Hypothesis settings for the fuzz suite, and the tally written at the end of the run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.fuzz.helpers import TALLY

settings.register_profile(
    "fuzz",
    deadline=None,
    derandomize=True,  # the same cases on every run, so CI is reproducible
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("fuzz")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get("WORLDSIM_FUZZ_TALLY")
    if path and TALLY:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(dict(sorted(TALLY.items())), indent=1) + "\n")
