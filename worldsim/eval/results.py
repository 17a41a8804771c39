"""Typed results of an evaluation; each ``to_dict`` gives its part of ``metrics.json``."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

Interval = dict[str, float]  # {"mean", "low", "high"}: a 95% bootstrap interval
SOURCES: tuple[str, ...] = ("model", "repeat_last", "tokenizer")
OMIT_NONE = {"omit_none": True}  # field metadata: left out of ``to_dict`` while None
NOT_WRITTEN = {"not_written": True}  # field metadata: never in ``to_dict`` (arrays for plots)


@dataclass
class Section:
    """A part of ``metrics.json``: ``to_dict`` writes the fields in ``KEY_ORDER`` (default:
    declaration order), nested sections through their own ``to_dict``; a field that defaults
    to None, or has ``OMIT_NONE`` metadata, is left out while None."""

    KEY_ORDER: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        """This part of ``metrics.json``, as plain values."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            omitted = value is None and (f.default is None or "omit_none" in f.metadata)
            if not omitted and "not_written" not in f.metadata:
                out[f.name] = _plain(value)
        return {k: out[k] for k in self.KEY_ORDER or tuple(out) if k in out}


def _plain(value: Any) -> Any:
    """A field's value as written: sections as their ``to_dict``, anything else a deep copy."""
    if isinstance(value, Section):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return copy.deepcopy(value)


@dataclass
class FidelityResult(Section):
    """PSNR/SSIM of the model, repeat-last-frame and the tokenizer against the true future."""

    rows: int
    contexts: int
    horizon: int
    curves: dict[str, dict[str, list[float]]]  # source -> metric -> mean at every step
    intervals: dict[str, dict[str, Interval]]  # source -> "metric@h" -> interval
    model: dict[str, float]  # "metric@h" -> mean
    repeat_last: dict[str, float]
    tokenizer: dict[str, float]
    model_psnr_by_action: dict[str, float] | None = None  # procedural: per action sequence

    def source(self, name: str) -> dict[str, float]:
        """The ``metric@h`` means of one source (``model``, ``repeat_last``, ``tokenizer``)."""
        if name not in SOURCES:
            raise KeyError(f"fidelity source {name!r} is unknown; choose one of {list(SOURCES)}")
        return getattr(self, name)


@dataclass
class ActionFollowingResult(Section):
    """Share of rollout pairs from one start where each is closer to its own true future."""

    score: Interval | None
    contexts: int
    steps: int


@dataclass
class CounterfactualScores(Section):
    """How often futures from one context rank in the commanded order, for one frame set."""

    steer_order_accuracy: float | None
    steer_pair_accuracy: float | None
    speed_order_accuracy: float | None
    intervals: dict[str, Interval | None]
    contexts: int
    steps: int


@dataclass
class CounterfactualResult(Section):
    """Counterfactual rankings of the generated frames and of the true frames."""

    generated: CounterfactualScores
    ground_truth: CounterfactualScores


@dataclass
class ActionErrors(Section):
    """Mean absolute errors of IDM estimates against the commanded ego motion."""

    mae_speed: float
    mae_yaw_rate: float
    action_error: float  # in motion standard deviations


@dataclass
class AdherenceResult(Section):
    """IDM action errors on generated and true frames and of a constant prediction."""

    generated: ActionErrors
    ground_truth: ActionErrors
    constant: ActionErrors
    estimates_generated: np.ndarray = field(repr=False, metadata=NOT_WRITTEN)  # (R, N, 2)
    estimates_truth: np.ndarray = field(repr=False, metadata=NOT_WRITTEN)


@dataclass
class ClassifierAccuracy(Section):
    """Condition-classifier accuracy over frames (None where no row's label is known)."""

    time_of_day_accuracy: float | None
    weather_accuracy: float | None

    def values(self) -> list[float | None]:
        """Time-of-day and weather accuracy, in that order."""
        return [self.time_of_day_accuracy, self.weather_accuracy]


@dataclass
class TextSwitchResult(Section):
    """Classifier accuracy of rollouts whose prompt switched mid-rollout."""

    at_step: int
    judged_steps: list[int]  # first and last step of the judged tail
    vs_new_prompt: ClassifierAccuracy
    vs_old_prompt: ClassifierAccuracy
    before_switch_vs_old_prompt: ClassifierAccuracy
    # "old -> new" weather -> {"rollouts": n, "weather_accuracy": a} on the judged tail
    weather_by_change: dict[str, dict[str, float]] | None = None


@dataclass
class TextResult(Section):
    """Classifier accuracy of generated and true frames against the prompted conditions."""

    generated: ClassifierAccuracy
    ground_truth: ClassifierAccuracy
    switch: TextSwitchResult | None = None


@dataclass
class DriftBucket(Section):
    """Fréchet distance and out-of-range rates of the frames in steps ``first..last``."""

    first: int
    last: int
    frames: int
    out_of_range_generated: float
    out_of_range_truth: float
    fd_generated: float | None = None  # None without heads or with under two frames
    fd_truth: float | None = None


@dataclass
class DriftResult(Section):
    """Drift of long rollouts away from real frames, per horizon bucket."""

    horizon: int
    reference_frames: int  # the real frames whose colour statistics bound the out-of-range rate
    fd_reference_frames: int  # the rollouts' own true frames, the Fréchet reference
    stat_bounds: dict[str, list[float]]  # {"p1", "p99"} of the reference's frame statistics
    out_of_range_generated: float
    out_of_range_reference: float
    buckets: list[DriftBucket]


@dataclass
class QualityResult(Section):
    """What a suite measured; the fields a suite does not measure stay None (and unwritten)."""

    # The order in metrics.json: what was evaluated, the fidelity, the other measures, the drift.
    KEY_ORDER: ClassVar[tuple[str, ...]] = (
        "suite",
        "start_seeds",
        "store",
        "windows",
        "fidelity",
        "action_following",
        "counterfactual_pixels",
        "action",
        "counterfactual",
        "text",
        "skipped",
        "drift",
    )

    suite: str
    fidelity: FidelityResult
    drift: DriftResult
    start_seeds: list[int] | None = None  # procedural
    store: str | None = None  # store: the store and its evaluated (episode, start) windows
    windows: list[list[Any]] | None = None
    action_following: ActionFollowingResult | None = None  # procedural
    counterfactual_pixels: CounterfactualResult | None = None  # procedural
    action: AdherenceResult | None = None  # with heads
    counterfactual: CounterfactualResult | None = None  # procedural, with heads
    text: TextResult | None = None  # with heads (store: where conditions are recorded)
    skipped: str | None = None  # why the metrics that need heads are missing


@dataclass
class StandardMetrics(Section):
    """FID and FVD, or a line saying why each was skipped."""

    fid: float | None = None
    fid_skipped: str | None = None
    fvd_skipped: str | None = None


@dataclass
class SpeedResult(Section):
    """Every speed number of the report, measured in this run."""

    sampling_steps: int
    step_latency_s: dict[str, float]  # sampling steps -> median seconds per step
    model_fps_batch1: float
    env_fps_single: float
    env_fps_vector: float
    vector_envs: int
    flops_per_frame: int
    matmul_peak_flops: float
    matmul_peak_dtype: str
    achieved_flops: float
    mfu: float
    process_peak_rss_mib: float
    gpu_peak_allocated_mib: float | None = None  # CUDA only

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SpeedResult:
        """The result of ``worldsim.eval.speed.measure_speed``."""
        return cls(**values)


@dataclass
class Reproducibility(Section):
    """What the run evaluated and ran on."""

    seed: int
    checkpoint: str
    checkpoint_sha256: str
    heads: str | None
    heads_sha256: str | None
    sampling: dict[str, Any]
    config: dict[str, Any]
    packages: dict[str, str | None]
    hardware: dict[str, Any]


@dataclass
class EvalResults(Section):
    """Everything ``metrics.json`` holds."""

    quality: QualityResult
    standard: StandardMetrics
    speed: SpeedResult | None = field(metadata=OMIT_NONE)
    reproducibility: Reproducibility
    summary: dict[str, float | None] = field(default_factory=dict)  # flat headline numbers


@dataclass
class RolloutArrays:
    """The frames behind the metrics, for the plots (uint8 ``(R, N, H, W, 3)``)."""

    context: np.ndarray  # (R, T, H, W, 3) context frames
    generated: np.ndarray
    truth: np.ndarray
    long_generated: np.ndarray | None = None  # procedural: the drift rollouts
    long_truth: np.ndarray | None = None
