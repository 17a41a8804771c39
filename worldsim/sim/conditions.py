"""Scene conditions (time of day, weather, road, traffic) and the captions built from them."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields

import numpy as np

TIMES_OF_DAY: tuple[str, ...] = ("day", "dusk", "night")
WEATHERS: tuple[str, ...] = ("clear", "rain", "fog", "snow")
ROAD_SHAPES: tuple[str, ...] = ("straight", "left", "right", "winding")
TRAFFIC_LEVELS: tuple[str, ...] = ("none", "light", "moderate", "heavy")
LANE_COUNTS: tuple[int, ...] = (1, 2, 3, 4)

_LANE_WORDS = {1: "single-lane", 2: "two-lane", 3: "three-lane", 4: "four-lane"}
_ROAD_WORDS = {
    "straight": "straight road",
    "left": "road curving left",
    "right": "road curving right",
    "winding": "winding road",
}
_TRAFFIC_WORDS = {
    "none": "no traffic",
    "light": "light traffic",
    "moderate": "moderate traffic",
    "heavy": "heavy traffic",
}


@dataclass(frozen=True)
class Conditions:
    """What a procedural scene looks like; every field is validated on construction."""

    time_of_day: str = "day"
    weather: str = "clear"
    lanes: int = 2
    road: str = "winding"
    traffic: str = "moderate"

    def __post_init__(self) -> None:
        _check("time_of_day", self.time_of_day, TIMES_OF_DAY)
        _check("weather", self.weather, WEATHERS)
        _check("lanes", self.lanes, LANE_COUNTS)
        _check("road", self.road, ROAD_SHAPES)
        _check("traffic", self.traffic, TRAFFIC_LEVELS)

    def caption(self) -> str:
        """Caption such as ``"night, rain, three-lane road curving left, heavy traffic"``."""
        weather = "clear weather" if self.weather == "clear" else self.weather
        road = f"{_LANE_WORDS[self.lanes]} {_ROAD_WORDS[self.road]}"
        return f"{self.time_of_day}, {weather}, {road}, {_TRAFFIC_WORDS[self.traffic]}"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> Conditions:
        """Build from a mapping; unknown keys are rejected by name."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown condition key(s) {unknown}; allowed keys are {sorted(known)}"
            )
        return cls(**values)  # type: ignore[arg-type]

    def replace(self, **changes: object) -> Conditions:
        return Conditions.from_dict({**self.to_dict(), **changes})


def _check(name: str, value: object, allowed: tuple[object, ...]) -> None:
    if value not in allowed:
        raise ValueError(
            f"condition {name}={value!r} is not allowed; choose one of {list(allowed)}"
        )


def sample_conditions(
    rng: np.random.Generator,
    time_of_day: tuple[str, ...] = TIMES_OF_DAY,
    weather: tuple[str, ...] = WEATHERS,
    lanes: tuple[int, ...] = LANE_COUNTS,
    road: tuple[str, ...] = ROAD_SHAPES,
    traffic: tuple[str, ...] = TRAFFIC_LEVELS,
) -> Conditions:
    """Draw conditions uniformly from the given choices."""
    return Conditions(
        time_of_day=str(rng.choice(list(time_of_day))),
        weather=str(rng.choice(list(weather))),
        lanes=int(rng.choice(list(lanes))),
        road=str(rng.choice(list(road))),
        traffic=str(rng.choice(list(traffic))),
    )


LOOK_CHANGES = ("kind", "uniform")


def sample_look_change(
    rng: np.random.Generator,
    conditions: Conditions,
    time_of_day: tuple[str, ...] = TIMES_OF_DAY,
    weather: tuple[str, ...] = WEATHERS,
    how: str = "kind",
) -> Conditions:
    """Other conditions for a drive whose look changes mid-way, drawn from the allowed choices.

    ``how="kind"``: a different time of day, a different weather, or both, each kind with equal
    chance. ``how="uniform"``: any other allowed (time of day, weather) pair with equal chance,
    so that changes of both, the eval's switched prompt among them, are the majority.
    """
    if how not in LOOK_CHANGES:
        raise ValueError(f"look change how={how!r} is unknown; choose one of {list(LOOK_CHANGES)}")
    times = [t for t in time_of_day if t != conditions.time_of_day]
    weathers = [w for w in weather if w != conditions.weather]
    kinds = [k for k, options in (("time", times), ("weather", weathers)) if options]
    if not kinds:
        raise ValueError(
            f"no other look to change to from {conditions.time_of_day}, {conditions.weather}: "
            "allow at least two times of day or two weathers"
        )
    if how == "uniform":
        looks = [
            (t, w)
            for t in dict.fromkeys([conditions.time_of_day, *time_of_day])
            for w in dict.fromkeys([conditions.weather, *weather])
            if (t, w) != (conditions.time_of_day, conditions.weather)
        ]
        time, wet = looks[int(rng.integers(len(looks)))]
        return conditions.replace(time_of_day=time, weather=wet)
    if len(kinds) == 2:
        kinds.append("both")
    kind = str(rng.choice(kinds))
    changes: dict[str, object] = {}
    if kind in ("time", "both"):
        changes["time_of_day"] = str(rng.choice(times))
    if kind in ("weather", "both"):
        changes["weather"] = str(rng.choice(weathers))
    return conditions.replace(**changes)


def _words(*words: str) -> str:
    """A pattern matching any of ``words`` (each a regex) as a whole word."""
    return r"\b(?:" + "|".join(words) + r")\b"


# Per condition, the value a prompt names and its pattern; the first value that matches wins.
_PROMPT_PATTERNS: dict[str, dict[object, str]] = {
    "time_of_day": {
        "night": _words("night", "dark"),
        "dusk": _words("dusk", "sunset", "twilight", "evening"),
        "day": _words("day", "daytime", "sunny", "noon"),
    },
    "weather": {
        "rain": _words(r"rain\w*", "wet", r"storm\w*"),
        "fog": _words(r"fog\w*", r"mist\w*", r"haz\w*"),
        "snow": _words(r"snow\w*", "winter"),
        "clear": _words("clear"),
    },
    "lanes": {
        1: _words("single[- ]lane", "one[- ]lane"),
        2: _words("two[- ]lane", "2[- ]lane"),
        3: _words("three[- ]lane", "3[- ]lane"),
        4: _words("four[- ]lane", "4[- ]lane"),
    },
    "road": {
        "left": r"curv\w* left|left (curve|bend|turn)",
        "right": r"curv\w* right|right (curve|bend|turn)",
        "winding": _words("winding", "curvy"),
        "straight": _words("straight"),
    },
    "traffic": {
        "none": _words("no traffic", "empty"),
        "heavy": _words("heavy traffic", "dense traffic", r"congest\w*"),
        "moderate": _words("moderate traffic"),
        "light": _words("light traffic", "sparse traffic"),
    },
}


def conditions_from_prompt(prompt: str, base: Conditions | None = None) -> Conditions:
    """Read the conditions a free-text prompt names; anything it does not name keeps ``base``."""
    if not isinstance(prompt, str):
        raise ValueError(f"prompt must be a string, got {prompt!r:.80}")
    text = prompt.lower()
    values = (base or Conditions()).to_dict()
    for key, patterns in _PROMPT_PATTERNS.items():
        for value, pattern in patterns.items():
            if re.search(pattern, text):
                values[key] = value
                break
    return Conditions.from_dict(values)
