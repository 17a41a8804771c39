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


_PROMPT_PATTERNS: tuple[tuple[str, str, object], ...] = (
    ("time_of_day", r"\bnight\b|\bdark\b", "night"),
    ("time_of_day", r"\bdusk\b|\bsunset\b|\btwilight\b|\bevening\b", "dusk"),
    ("time_of_day", r"\bday\b|\bdaytime\b|\bsunny\b|\bnoon\b", "day"),
    ("weather", r"\brain\w*\b|\bwet\b|\bstorm\w*\b", "rain"),
    ("weather", r"\bfog\w*\b|\bmist\w*\b|\bhaz\w*\b", "fog"),
    ("weather", r"\bsnow\w*\b|\bwinter\b", "snow"),
    ("weather", r"\bclear\b", "clear"),
    ("lanes", r"\bsingle[- ]lane\b|\bone[- ]lane\b", 1),
    ("lanes", r"\btwo[- ]lane\b|\b2[- ]lane\b", 2),
    ("lanes", r"\bthree[- ]lane\b|\b3[- ]lane\b", 3),
    ("lanes", r"\bfour[- ]lane\b|\b4[- ]lane\b", 4),
    ("road", r"curv\w* left|left (curve|bend|turn)", "left"),
    ("road", r"curv\w* right|right (curve|bend|turn)", "right"),
    ("road", r"\bwinding\b|\bcurvy\b", "winding"),
    ("road", r"\bstraight\b", "straight"),
    ("traffic", r"\bno traffic\b|\bempty\b", "none"),
    ("traffic", r"\bheavy traffic\b|\bdense traffic\b|\bcongest\w*\b", "heavy"),
    ("traffic", r"\bmoderate traffic\b", "moderate"),
    ("traffic", r"\blight traffic\b|\bsparse traffic\b", "light"),
)


def conditions_from_prompt(prompt: str, base: Conditions | None = None) -> Conditions:
    """Read the conditions a free-text prompt names; anything it does not name keeps ``base``."""
    text = prompt.lower()
    values = (base or Conditions()).to_dict()
    seen: set[str] = set()
    for key, pattern, value in _PROMPT_PATTERNS:
        if key not in seen and re.search(pattern, text):
            values[key] = value
            seen.add(key)
    return Conditions.from_dict(values)
