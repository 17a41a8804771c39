"""The messages a play page may send over its WebSocket, validated into typed commands.

Every message is a JSON object with a ``type``; anything else is refused with a
:class:`ProtocolError` whose text is shown on the page.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

MAX_MESSAGE_BYTES = 8192


class ProtocolError(ValueError):
    """A malformed message: bad JSON, an unknown type or field, or a bad value."""


@dataclass(frozen=True)
class Step:
    steer: float  # [-1, 1], > 0 turns left
    accel: float  # [-1, 1], < 0 brakes


@dataclass(frozen=True)
class SetPrompt:
    text: str


@dataclass(frozen=True)
class Restart:
    scenario: str | None


@dataclass(frozen=True)
class Bookmark:
    pass


@dataclass(frozen=True)
class Rewind:
    id: int


@dataclass(frozen=True)
class Record:
    on: bool


Command = Step | SetPrompt | Restart | Bookmark | Rewind | Record

_FIELDS: dict[str, set[str]] = {
    "step": {"steer", "accel"},
    "prompt": {"text"},
    "restart": {"scenario"},
    "bookmark": set(),
    "rewind": {"id"},
    "record": {"on"},
}


def _reject_constant(name: str) -> float:
    raise ProtocolError(f"{name} is not a number this page accepts; send finite numbers")


def _number(data: dict[str, Any], key: str) -> float:
    value = data.get(key, 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ProtocolError(f"{key}={value!r} must be a finite number in [-1, 1]")
    if not -1.0 <= value <= 1.0:
        raise ProtocolError(f"{key}={value!r} must lie in [-1, 1]")
    return float(value)


def parse_message(text: str | bytes, max_prompt_chars: int) -> Command:
    """One validated command from the raw text of a WebSocket message."""
    if len(text) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(text)} bytes is over the {MAX_MESSAGE_BYTES} limit")
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except ProtocolError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"message is not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ProtocolError(f"message must be a JSON object, got {type(data).__name__}")
    kind = data.get("type")
    if kind not in _FIELDS:
        raise ProtocolError(f"type={kind!r} is unknown; send one of {sorted(_FIELDS)}")
    unknown = sorted(set(data) - _FIELDS[kind] - {"type"})
    if unknown:
        raise ProtocolError(f"{kind}: unknown field(s) {unknown}; allowed: {sorted(_FIELDS[kind])}")
    if kind == "step":
        return Step(_number(data, "steer"), _number(data, "accel"))
    if kind == "prompt":
        value = data.get("text")
        if not isinstance(value, str) or not value.strip():
            raise ProtocolError(f"prompt text={value!r:.80} must be a non-empty string")
        if len(value) > max_prompt_chars:
            raise ProtocolError(
                f"prompt of {len(value)} characters is over the {max_prompt_chars} limit"
            )
        return SetPrompt(value.strip())
    if kind == "restart":
        scenario = data.get("scenario")
        if scenario is not None and not isinstance(scenario, str):
            raise ProtocolError(f"restart scenario={scenario!r} must be a scenario name")
        return Restart(scenario)
    if kind == "bookmark":
        return Bookmark()
    if kind == "rewind":
        value = data.get("id")
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProtocolError(f"rewind id={value!r} must be a bookmark number")
        return Rewind(value)
    value = data.get("on")
    if not isinstance(value, bool):
        raise ProtocolError(f"record on={value!r} must be true or false")
    return Record(value)
