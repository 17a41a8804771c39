"""Check plain config values (from YAML or overrides) against type hints, with messages that
name the value: ``model.dim='abc' must be an int``."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

_NAMES = {int: "an int", float: "a number", bool: "true or false", str: "a string"}


def type_problem(value: Any, hint: Any) -> str | None:
    """What is wrong with ``value`` for ``hint`` (None when it fits or the hint is unknown)."""
    if hint is Any or hint is object:
        return None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        problems = [type_problem(value, a) for a in args]
        if any(p is None for p in problems):
            return None
        kinds = [p.removeprefix("must be ") for p in problems if p]
        return "must be " + " or ".join(kinds)
    if hint is type(None):
        return None if value is None else "must be null"
    if origin is typing.Literal:
        return None if value in args else f"must be one of {list(args)}"
    if hint is bool:
        return None if isinstance(value, bool) else "must be true or false"
    if hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else "must be an int"
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "must be a number"
        return None if math.isfinite(value) else "must be a finite number"
    if hint is str:
        return None if isinstance(value, str) else "must be a string"
    if origin in (list, tuple, typing.Sequence) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return "must be a list"
        inner = [a for a in args if a is not Ellipsis]
        if len(inner) == 1 or (origin is not tuple and inner):
            for i, item in enumerate(value):
                problem = type_problem(item, inner[0])
                if problem:
                    return f"item {i} ({item!r}) {problem}"
        return None
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            return "must be a mapping"
        if len(args) == 2:
            for key, item in value.items():
                problem = type_problem(item, args[1])
                if problem:
                    return f"entry {key!r} ({item!r}) {problem}"
        return None
    return None  # a hint this checker does not know: the constructor decides


def dataclass_problems(cls: type, values: dict[str, Any], prefix: str) -> list[str]:
    """One message per field of ``values`` whose value does not fit dataclass ``cls``."""
    if not dataclasses.is_dataclass(cls):
        return []
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # unresolvable annotations: leave it to the constructor
        return []
    names = {f.name for f in dataclasses.fields(cls)}
    problems = []
    for key, value in values.items():
        if key.startswith("_"):
            continue
        if key not in names:
            problems.append(f"{prefix}.{key} is not a setting; known: {sorted(names)}")
            continue
        if value is None and key in getattr(cls, "FILLED_LATER", ()):
            continue  # null in a preset: the CLI fills it in (e.g. latent sizes from the data)
        problem = type_problem(value, hints.get(key, Any))
        if problem:
            problems.append(f"{prefix}.{key}={value!r} {problem}")
    return problems


def default_problems(value: Any, default: Any, name: str) -> str | None:
    """Check an override against the kind of its YAML default (an int stays an int)."""
    kind = next((k for k in (bool, int, float, str) if isinstance(default, k)), None)
    if kind is None:
        return None
    problem = type_problem(value, kind)
    return f"{name}={value!r} {problem}" if problem else None
