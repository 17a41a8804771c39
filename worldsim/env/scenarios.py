"""The scenario library: one YAML per ready-made driving scenario, validated on load.

See ``envs/README.md`` for the schema. ``load_scenario("night_rain_curve")`` loads a packaged
scenario by name; a path to a ``.yaml`` file loads that file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from worldsim.env.spaces import ACTION_MODES
from worldsim.paths import scenario_dir
from worldsim.sim.conditions import Conditions

START_TYPES: tuple[str, ...] = ("procedural", "dataset")
_TOP_KEYS = {"name", "description", "start", "prompt", "horizon", "context_frames", "actions"}
_START_KEYS = {
    "procedural": {"type", "seed", "conditions", "warmup_steps", "lane", "speed"},
    "dataset": {"type", "store", "episode", "frame"},
}
_ACTION_KEYS = {"mode", "segments", "repeat"}


MAX_SCENARIO_BYTES = 64 * 1024  # the packaged scenarios are under 1 KiB


class ScenarioError(ValueError):
    """A scenario file is missing, unreadable or does not match the schema."""


@dataclass(frozen=True)
class ActionSegment:
    """Hold one normalised action for ``steps`` steps."""

    action: tuple[float, float]
    steps: int


@dataclass(frozen=True)
class ScriptedActions:
    """An open-loop action sequence; it needs no access to the simulator state."""

    mode: str
    segments: tuple[ActionSegment, ...]
    repeat: bool = False

    def action_at(self, step: int) -> np.ndarray:
        """The action for ``step`` (0-based); holds the last one, or cycles when ``repeat``."""
        total = sum(s.steps for s in self.segments)
        t = step % total if self.repeat else min(step, total - 1)
        for segment in self.segments:
            if t < segment.steps:
                return np.array(segment.action, dtype=np.float32)
            t -= segment.steps
        return np.array(self.segments[-1].action, dtype=np.float32)

    def sequence(self, length: int) -> np.ndarray:
        """The first ``length`` actions as ``(length, 2)`` float32."""
        return np.stack([self.action_at(t) for t in range(length)])


@dataclass(frozen=True)
class Scenario:
    """A validated scenario."""

    name: str
    start_type: str
    horizon: int
    context_frames: int
    description: str = ""
    prompt: str | None = None
    seed: int = 0
    conditions: Conditions | None = None
    warmup_steps: int = 0
    lane: int | None = None  # start lane, 0 = rightmost; random from the seed when absent
    speed: float | None = None  # start speed in m/s; random from the seed when absent
    store: str | None = None
    episode: str | None = None
    frame: int = 0
    actions: ScriptedActions | None = None
    source_path: str | None = field(default=None, compare=False)

    def effective_prompt(self) -> str:
        """The prompt, defaulting to the procedural caption."""
        if self.prompt:
            return self.prompt
        if self.conditions is not None:
            return self.conditions.caption()
        return ""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["conditions"] = self.conditions.to_dict() if self.conditions else None
        return out


def list_scenarios() -> list[str]:
    """Names of the packaged scenarios."""
    return sorted(p.stem for p in scenario_dir().glob("*.yaml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a packaged scenario by name, or a scenario YAML by path."""
    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith((".yaml", ".yml")) or path.is_file()):
        path = scenario_dir() / f"{text}.yaml"
        if not path.is_file():
            raise ScenarioError(
                f"unknown scenario {text!r}; choose one of {list_scenarios()} or pass a path "
                "to a .yaml file"
            )
    if not path.is_file():
        raise ScenarioError(f"scenario file {path} does not exist")
    try:
        size = path.stat().st_size
        if size > MAX_SCENARIO_BYTES:
            raise ScenarioError(
                f"scenario file {path} has {size} bytes, more than the {MAX_SCENARIO_BYTES} a "
                "scenario may have; is it the right file?"
            )
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"scenario file {path} is not UTF-8 text: {exc}") from exc
    except (OSError, yaml.YAMLError, RecursionError) as exc:
        raise ScenarioError(f"cannot read scenario file {path}: {exc}") from exc
    return parse_scenario(data, str(path))


def parse_scenario(data: Any, origin: str = "<dict>") -> Scenario:
    """Validate a scenario mapping; errors name the field and the allowed values."""
    where = f"scenario {origin}"
    if not isinstance(data, dict):
        raise ScenarioError(
            f"{where}: expected a mapping at the top level, got {type(data).__name__}"
        )
    _no_unknown(data, _TOP_KEYS, where)
    name = _get(data, "name", str, where, default=Path(origin).stem)
    horizon = _get(data, "horizon", int, where, required=True)
    if horizon < 1:
        raise ScenarioError(f"{where}: horizon={horizon} must be at least 1")
    context = _get(data, "context_frames", int, where, default=4)
    if context < 1:
        raise ScenarioError(f"{where}: context_frames={context} must be at least 1")
    start = data.get("start")
    if not isinstance(start, dict):
        raise ScenarioError(f"{where}: field 'start' is required and must be a mapping")
    start_type = start.get("type")
    if start_type not in START_TYPES:
        raise ScenarioError(
            f"{where}: start.type={start_type!r} is not allowed; choose one of {list(START_TYPES)}"
        )
    _no_unknown(start, _START_KEYS[start_type], f"{where} start")
    kwargs: dict[str, Any] = {}
    if start_type == "procedural":
        raw = start.get("conditions") or {}
        if not isinstance(raw, dict):
            raise ScenarioError(f"{where}: start.conditions must be a mapping")
        try:
            kwargs["conditions"] = Conditions.from_dict(raw)
        except ValueError as exc:
            raise ScenarioError(f"{where}: start.conditions: {exc}") from exc
        kwargs["seed"] = _get(start, "seed", int, f"{where} start", default=0)
        kwargs["warmup_steps"] = _get(start, "warmup_steps", int, f"{where} start", default=0)
        lane = _get(start, "lane", int, f"{where} start", default=None)
        lanes = kwargs["conditions"].lanes
        if lane is not None and not 0 <= lane < lanes:
            raise ScenarioError(
                f"{where}: start.lane={lane} is out of range; a {lanes}-lane road has lanes "
                f"0 (rightmost) to {lanes - 1}"
            )
        kwargs["lane"] = lane
        speed = _get(start, "speed", (int, float), f"{where} start", default=None)
        if speed is not None and not 0.0 <= speed <= 30.0:
            raise ScenarioError(f"{where}: start.speed={speed} must lie in [0, 30] m/s")
        kwargs["speed"] = None if speed is None else float(speed)
    else:
        kwargs["store"] = _get(start, "store", str, f"{where} start", required=True)
        kwargs["episode"] = _get(start, "episode", str, f"{where} start", required=True)
        kwargs["frame"] = _get(start, "frame", int, f"{where} start", default=0)
    actions = data.get("actions")
    return Scenario(
        name=name,
        start_type=start_type,
        horizon=horizon,
        context_frames=context,
        description=_get(data, "description", str, where, default=""),
        prompt=_get(data, "prompt", str, where, default=None),
        actions=None if actions is None else _parse_actions(actions, where),
        source_path=origin,
        **kwargs,
    )


def _parse_actions(raw: Any, where: str) -> ScriptedActions:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: actions must be a mapping with 'mode' and 'segments'")
    _no_unknown(raw, _ACTION_KEYS, f"{where} actions")
    mode = raw.get("mode", "steer_accel")
    if mode not in ACTION_MODES:
        raise ScenarioError(
            f"{where}: actions.mode={mode!r} is not allowed; choose one of {list(ACTION_MODES)}"
        )
    segments_raw = raw.get("segments")
    if not isinstance(segments_raw, list) or not segments_raw:
        raise ScenarioError(f"{where}: actions.segments must be a non-empty list")
    segments = []
    for i, seg in enumerate(segments_raw):
        label = f"{where}: actions.segments[{i}]"
        if not isinstance(seg, dict) or set(seg) != {"action", "steps"}:
            raise ScenarioError(f"{label} must have exactly the keys 'action' and 'steps'")
        action = seg["action"]
        if (
            not isinstance(action, list)
            or len(action) != 2
            or not all(isinstance(a, (int, float)) and -1.0 <= a <= 1.0 for a in action)
        ):
            raise ScenarioError(f"{label}.action={action!r} must be two numbers in [-1, 1]")
        steps = seg["steps"]
        if not isinstance(steps, int) or steps < 1:
            raise ScenarioError(f"{label}.steps={steps!r} must be a positive integer")
        segments.append(ActionSegment((float(action[0]), float(action[1])), steps))
    repeat = raw.get("repeat", False)
    if not isinstance(repeat, bool):
        raise ScenarioError(f"{where}: actions.repeat={repeat!r} must be true or false")
    return ScriptedActions(mode=mode, segments=tuple(segments), repeat=repeat)


def _no_unknown(data: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {unknown}; allowed: {sorted(allowed)}")


def _get(
    data: dict[str, Any],
    key: str,
    kind: type | tuple[type, ...],
    where: str,
    default: Any = None,
    required: bool = False,
) -> Any:
    if key not in data or data[key] is None:
        if required:
            raise ScenarioError(f"{where}: field {key!r} is required")
        return default
    value = data[key]
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise ScenarioError(f"{where}: field {key!r}={value!r} must be of type {kind.__name__}")
    return value
