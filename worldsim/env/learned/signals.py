"""The driving signals of the learned env: the driving heads read each row's last frames and
predict what the procedural world knows exactly (lane offset, heading error, off-road,
collision, lead gap), so the reward and termination are the ground-truth world's functions."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from worldsim.models.heads import DrivingHeads
from worldsim.runtime.world_model import WorldModel

SIGNAL_INFO: tuple[str, ...] = (
    "lane_offset",
    "heading_error",
    "offroad_prob",
    "collision_prob",
    "lead_prob",
    "lead_gap",
)
NO_HEADS = "none"


def resolve_driving_heads(option: str | None, model: WorldModel) -> DrivingHeads | None:
    """The heads named by the env's ``driving_heads`` option: a checkpoint or bundle path;
    None for the ones shipped beside the model's bundle (a UserWarning when it has none);
    ``"none"`` for no heads."""
    from worldsim.runtime.driving_heads import has_driving_heads, load_driving_heads

    if option == NO_HEADS:
        return None
    if option is None:
        source = model.metadata.get("checkpoint")
        if source is None or not has_driving_heads(Path(str(source))):
            warnings.warn(
                f"the world model {source} ships no driving heads, so the learned env has no "
                "lane offset, off-road or collision signals: the lane term of the reward is 0 "
                "and collision_or_offroad never ends an episode. Pass driving_heads=<path> "
                "(`worldsim-train experiment=driving_heads`) or driving_heads='none'",
                UserWarning,
                stacklevel=4,
            )
            return None
        option = str(source)
    heads = load_driving_heads(option, model.device).heads
    c = heads.config
    if (c.height, c.width) != tuple(model.resolution):
        raise ValueError(
            f"driving_heads={option} read {c.height}x{c.width} frames but the world model "
            f"generates {model.resolution[0]}x{model.resolution[1]}; train heads at its size"
        )
    return heads


class SignalTracker:
    """Each row's last ``K`` frames and the signals the heads predict from them.

    Beside the uint8 windows (the rows' state) it keeps the heads' float input of every frame
    in a ring of ``K`` slots per row, so a step converts only the new frame.
    """

    def __init__(self, heads: DrivingHeads | None, num: int, resolution: tuple[int, int]) -> None:
        self.heads = heads
        k = heads.config.frames if heads is not None else 1
        self.window_NKHWC = np.zeros((num, k, *resolution, 3), np.uint8)
        self.values = {name: np.full(num, np.nan) for name in SIGNAL_INFO}
        for name in ("offroad_prob", "collision_prob", "lead_prob"):
            self.values[name][:] = 0.0
        self.inputs_NKCHW: torch.Tensor | None = None  # the ring of the heads' float inputs
        self.newest_N = np.full(num, k - 1)  # ring slot of each row's newest frame

    @property
    def enabled(self) -> bool:
        return self.heads is not None

    def start(self, rows: np.ndarray, context_NTHWC: np.ndarray) -> None:
        """Fill the windows of ``rows`` (indices) from their context frames and predict."""
        k = self.window_NKHWC.shape[1]
        t = context_NTHWC.shape[1]
        pick = np.clip(np.arange(t - k, t), 0, t - 1)  # repeat the first frame when t < k
        self.window_NKHWC[rows] = context_NTHWC[:, pick]
        self._load(rows)
        self._predict(rows)

    def push(self, rows: np.ndarray, frames_RHWC: np.ndarray) -> None:
        """Append the new frames of ``rows`` (indices) and predict their signals."""
        self.window_NKHWC[rows, :-1] = self.window_NKHWC[rows, 1:]
        self.window_NKHWC[rows, -1] = frames_RHWC
        if self.heads is None or len(rows) == 0:
            return
        k = self.window_NKHWC.shape[1]
        self.newest_N[rows] = (self.newest_N[rows] + 1) % k
        assert self.inputs_NKCHW is not None  # start() runs before any push
        slot = torch.from_numpy(self.newest_N[rows])
        self.inputs_NKCHW[torch.from_numpy(rows), slot] = self.heads.input_tensor(frames_RHWC)
        self._predict(rows)

    def _load(self, rows: np.ndarray) -> None:
        """Convert the uint8 windows of ``rows`` into their ring, oldest frame in slot 0."""
        if self.heads is None or len(rows) == 0:
            return
        if self.inputs_NKCHW is None:
            n, k, h, w, _ = self.window_NKHWC.shape
            param = next(self.heads.parameters())
            self.inputs_NKCHW = torch.zeros((n, k, 3, h, w), dtype=param.dtype, device=param.device)
        inputs = self.heads.input_tensor(self.window_NKHWC[rows])
        self.inputs_NKCHW[torch.from_numpy(np.asarray(rows))] = inputs
        self.newest_N[rows] = self.window_NKHWC.shape[1] - 1

    def _predict(self, rows: np.ndarray) -> None:
        if self.heads is None or len(rows) == 0:
            return
        assert self.inputs_NKCHW is not None
        k = self.window_NKHWC.shape[1]
        order_RK = (self.newest_N[rows, None] + 1 + np.arange(k)) % k  # oldest first
        rows_R1 = torch.from_numpy(np.asarray(rows)[:, None])
        out = self.heads.predict_inputs(self.inputs_NKCHW[rows_R1, torch.from_numpy(order_RK)])
        for name in SIGNAL_INFO:
            self.values[name][rows] = out[name]

    def row(self, i: int) -> dict[str, float]:
        """Row ``i``'s signals for ``info`` (none without heads)."""
        if self.heads is None:
            return {}
        return {name: float(self.values[name][i]) for name in SIGNAL_INFO}

    def arrays(self) -> dict[str, np.ndarray]:
        """Every row's signals ``(N,)`` for a vector env's ``info`` (none without heads)."""
        if self.heads is None:
            return {}
        return {name: value.copy() for name, value in self.values.items()}

    def get(self, i: int) -> dict[str, np.ndarray]:
        return {
            "window": self.window_NKHWC[i].copy(),
            **{n: self.values[n][i] for n in SIGNAL_INFO},
        }

    def set(self, i: int, state: dict[str, np.ndarray]) -> None:
        self.window_NKHWC[i] = state["window"]
        self._load(np.array([i]))
        for name in SIGNAL_INFO:
            self.values[name][i] = state[name]
