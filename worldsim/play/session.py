"""One driver's session: the learned world, the ground truth beside it, bookmarks, recording."""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from worldsim.env.context import ContextSpec, start_world
from worldsim.env.learned import DrivingWorldEnv, ModelCache
from worldsim.env.scenarios import ScenarioError, list_scenarios, load_scenario
from worldsim.play.protocol import (
    Bookmark,
    Command,
    ProtocolError,
    Record,
    Restart,
    Rewind,
    SetPrompt,
    Step,
)
from worldsim.sim.world import World
from worldsim.utils.png import encode_png

PRESETS = {
    "night": "driving at night on a dark road",
    "rain": "driving in heavy rain",
    "fog": "driving in thick fog",
    "snow": "driving in snow",
}
ENDLESS = 10**9  # the page drives until the user restarts
GROUND_TRUTH_ROAD_M = 20_000.0
_RECORDING_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}\.mp4$")


@dataclass
class PlayOptions:
    """Settings every session of one server shares."""

    checkpoint: str | None = None  # None: the bundled model
    scenario: str = "day_clear_straight"
    sampling_steps: int | None = None
    device: str = "cpu"
    ground_truth: bool = True  # drive the procedural world beside it when the scenario allows
    max_prompt_chars: int = 200
    max_bookmarks: int = 16
    max_record_frames: int = 3000  # 5 minutes at 10 Hz (about 130 MB of frames in memory)
    record_dir: str = "outputs/play"

    def __post_init__(self) -> None:
        load_scenario(self.scenario)  # a clear ScenarioError for an unknown default
        for name in ("max_prompt_chars", "max_bookmarks", "max_record_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be at least 1")


def data_url(frame_HW3: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(encode_png(frame_HW3, level=1)).decode()


class PlaySession:
    """The state behind one browser tab; ``handle`` turns a command into reply messages.

    ``models``: the server's :class:`ModelCache`, so the tabs share one set of networks (and a
    checkpoint retrained at the same path is loaded again); without it the session loads its own.
    """

    def __init__(self, options: PlayOptions, sid: str, models: ModelCache | None = None) -> None:
        self.options = options
        self.sid = sid
        model = None if models is None else models.get(options.checkpoint, options.device)
        self.env = DrivingWorldEnv(
            checkpoint=options.checkpoint,
            scenario=options.scenario,
            sampling_steps=options.sampling_steps,
            device=options.device,
            horizon=ENDLESS,
            model=model,
        )
        self.truth: World | None = None
        self.truth_frame: np.ndarray | None = None
        self.bookmarks: list[dict[str, Any]] = []
        self.recording: list[np.ndarray] | None = None
        self.recordings = 0
        self._last_step: float | None = None
        self.fps = 0.0
        self._restart(options.scenario)

    # -- commands ---------------------------------------------------------------------------
    def hello(self) -> dict[str, Any]:
        return {
            "type": "hello",
            "session": self.sid,
            "scenarios": list_scenarios(),
            "presets": PRESETS,
            "max_prompt_chars": self.options.max_prompt_chars,
            "rate_hz": float(self.env.metadata["render_fps"]),
        }

    def handle(self, command: Command) -> list[dict[str, Any]]:
        if isinstance(command, Step):
            return [self._step(command)]
        if isinstance(command, SetPrompt):
            self.env.set_prompt(command.text)
            return [self.frame_message(event=f"prompt: {command.text}")]
        if isinstance(command, Restart):
            self._restart(command.scenario or self.scenario)
            return [self.frame_message(event=f"scenario: {self.scenario}")]
        if isinstance(command, Bookmark):
            return [self._bookmark()]
        if isinstance(command, Rewind):
            return [self._rewind(command.id)]
        if isinstance(command, Record):
            return [self._record(command.on)]
        raise ProtocolError(f"unsupported command {command!r}")

    def _restart(self, scenario: str) -> None:
        try:
            loaded = load_scenario(scenario)
        except ScenarioError as exc:
            raise ProtocolError(str(exc)) from exc
        self.env.reset(seed=0, options={"scenario": scenario})
        self.scenario = scenario
        self.bookmarks = []
        self.truth, self.truth_frame = None, None
        if self.options.ground_truth and loaded.start_type == "procedural":
            core = self.env.core
            frames = core.context_frames or loaded.context_frames
            spec = ContextSpec(frames, core.resolution, core.model.dt)
            _, self.truth = start_world(loaded, spec, road_length=GROUND_TRUTH_ROAD_M)
            self.truth_frame = self.truth.render()
        self._last_step = None

    def _step(self, step: Step) -> dict[str, Any]:
        action = np.array([step.steer, step.accel])
        self.env.step(action)
        if self.truth is not None:
            try:
                self.truth.step(action)
                self.truth_frame = self.truth.render()
            except Exception:  # the end of the generated road: the ground truth stops there
                self.truth = None
        now = time.perf_counter()
        if self._last_step is not None:
            rate = 1.0 / max(now - self._last_step, 1e-6)
            self.fps = rate if self.fps == 0 else 0.8 * self.fps + 0.2 * rate
        self._last_step = now
        if self.recording is not None:
            self.recording.append(self._side_by_side())
            if len(self.recording) >= self.options.max_record_frames:
                return self._record(False)
        return self.frame_message()

    def _bookmark(self) -> dict[str, Any]:
        if len(self.bookmarks) >= self.options.max_bookmarks:
            raise ProtocolError(
                f"{self.options.max_bookmarks} bookmarks is the limit; restart to clear them"
            )
        mark = {
            "env": self.env.get_state(),
            "truth": None if self.truth is None else self.truth.clone(),
            "truth_frame": self.truth_frame,
            "step": int(self.env.core.steps[0]),
        }
        self.bookmarks.append(mark)
        message = self.frame_message(event=f"bookmark {len(self.bookmarks) - 1}")
        message["bookmarked"] = len(self.bookmarks) - 1
        return message

    def _rewind(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self.bookmarks):
            raise ProtocolError(f"rewind id={index} is not a bookmark; have {len(self.bookmarks)}")
        mark = self.bookmarks[index]
        self.env.set_state(mark["env"])
        self.truth = None if mark["truth"] is None else mark["truth"].clone()
        self.truth_frame = mark["truth_frame"]
        self._last_step = None
        return self.frame_message(event=f"rewound to bookmark {index} (step {mark['step']})")

    def _record(self, on: bool) -> dict[str, Any]:
        if on:
            self.recording = [self._side_by_side()]
            return self.frame_message(event="recording")
        frames, self.recording = self.recording, None
        if not frames:
            raise ProtocolError("no recording is running; start one first")
        from worldsim.data.video import write_video

        self.recordings += 1
        name = f"{self.sid}-{self.recordings}.mp4"
        folder = Path(self.options.record_dir)
        folder.mkdir(parents=True, exist_ok=True)
        write_video(folder / name, np.stack(frames), fps=float(self.env.metadata["render_fps"]))
        message = self.frame_message(event=f"saved {name} ({len(frames)} frames)")
        message["recording_url"] = f"/recordings/{name}"
        return message

    # -- replies ----------------------------------------------------------------------------
    def _side_by_side(self) -> np.ndarray:
        learned = self.env.core.frames[0]
        if self.truth_frame is None:
            return np.ascontiguousarray(learned)
        return np.ascontiguousarray(np.concatenate([learned, self.truth_frame], axis=1))

    def frame_message(self, event: str | None = None) -> dict[str, Any]:
        info = self.env.core.info(0)
        return {
            "type": "frame",
            "image": data_url(self.env.core.frames[0]),
            "truth": None if self.truth_frame is None else data_url(self.truth_frame),
            "step": info["step"],
            "speed": round(info["speed"], 3),
            "yaw_rate": round(info["yaw_rate"], 4),
            "prompt": info["prompt"],
            "scenario": self.scenario,
            "fps": round(self.fps, 2),
            "bookmarks": [m["step"] for m in self.bookmarks],
            "recording": self.recording is not None,
            "event": event,
        }

    def close(self) -> None:
        self.recording = None
        self.bookmarks = []
        self.env.close()


def recording_path(options: PlayOptions, name: str) -> Path | None:
    """The file behind ``/recordings/<name>``, or None for a name this server never writes."""
    if not _RECORDING_NAME.match(name):
        return None
    path = Path(options.record_dir) / name
    return path if path.is_file() else None
