"""Typed results of an evaluation; each ``to_dict`` gives its part of ``metrics.json``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Interval = dict[str, float]  # {"mean", "low", "high"}: a 95% bootstrap interval
SOURCES: tuple[str, ...] = ("model", "repeat_last", "tokenizer")


@dataclass
class FidelityResult:
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

    def to_dict(self) -> dict[str, Any]:
        """The ``quality.fidelity`` section."""
        out: dict[str, Any] = {
            "rows": self.rows,
            "contexts": self.contexts,
            "horizon": self.horizon,
            "curves": self.curves,
            "intervals": self.intervals,
            **{name: self.source(name) for name in SOURCES},
        }
        if self.model_psnr_by_action is not None:
            out["model_psnr_by_action"] = self.model_psnr_by_action
        return out


@dataclass
class ActionFollowingResult:
    """Share of rollout pairs from one start where each is closer to its own true future."""

    score: Interval | None
    contexts: int
    steps: int

    def to_dict(self) -> dict[str, Any]:
        """The ``quality.action_following`` section."""
        return dataclasses.asdict(self)


@dataclass
class CounterfactualScores:
    """How often futures from one context rank in the commanded order, for one frame set."""

    steer_order_accuracy: float | None
    steer_pair_accuracy: float | None
    speed_order_accuracy: float | None
    intervals: dict[str, Interval | None]
    contexts: int
    steps: int

    def to_dict(self) -> dict[str, Any]:
        """Plain values."""
        return dataclasses.asdict(self)


@dataclass
class CounterfactualResult:
    """Counterfactual rankings of the generated frames and of the true frames."""

    generated: CounterfactualScores
    ground_truth: CounterfactualScores

    def to_dict(self) -> dict[str, Any]:
        """The ``quality.counterfactual`` (or ``counterfactual_pixels``) section."""
        return {"generated": self.generated.to_dict(), "ground_truth": self.ground_truth.to_dict()}


@dataclass
class ActionErrors:
    """Mean absolute errors of IDM estimates against the commanded ego motion."""

    mae_speed: float
    mae_yaw_rate: float
    action_error: float  # in motion standard deviations

    def to_dict(self) -> dict[str, float]:
        """Plain values."""
        return dataclasses.asdict(self)


@dataclass
class AdherenceResult:
    """IDM action errors on generated and true frames and of a constant prediction."""

    generated: ActionErrors
    ground_truth: ActionErrors
    constant: ActionErrors
    estimates_generated: np.ndarray = field(repr=False)  # (R, N, 2), not in metrics.json
    estimates_truth: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The ``quality.action`` section (without the estimates)."""
        return {k: getattr(self, k).to_dict() for k in ("generated", "ground_truth", "constant")}


@dataclass
class ClassifierAccuracy:
    """Condition-classifier accuracy over frames (None where no row's label is known)."""

    time_of_day_accuracy: float | None
    weather_accuracy: float | None

    def to_dict(self) -> dict[str, float | None]:
        """Plain values."""
        return dataclasses.asdict(self)

    def values(self) -> list[float | None]:
        """Time-of-day and weather accuracy, in that order."""
        return [self.time_of_day_accuracy, self.weather_accuracy]


@dataclass
class TextSwitchResult:
    """Classifier accuracy of rollouts whose prompt switched mid-rollout."""

    at_step: int
    judged_steps: list[int]  # first and last step of the judged tail
    vs_new_prompt: ClassifierAccuracy
    vs_old_prompt: ClassifierAccuracy
    before_switch_vs_old_prompt: ClassifierAccuracy

    def to_dict(self) -> dict[str, Any]:
        """Plain values."""
        return dataclasses.asdict(self)


@dataclass
class TextResult:
    """Classifier accuracy of generated and true frames against the prompted conditions."""

    generated: ClassifierAccuracy
    ground_truth: ClassifierAccuracy
    switch: TextSwitchResult | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``quality.text`` section."""
        out: dict[str, Any] = {
            "generated": self.generated.to_dict(),
            "ground_truth": self.ground_truth.to_dict(),
        }
        if self.switch is not None:
            out["switch"] = self.switch.to_dict()
        return out


@dataclass
class DriftBucket:
    """Fréchet distance and out-of-range rates of the frames in steps ``first..last``."""

    first: int
    last: int
    frames: int
    out_of_range_generated: float
    out_of_range_truth: float
    fd_generated: float | None = None  # None without heads or with under two frames
    fd_truth: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain values (without the Fréchet distances when there are none)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass
class DriftResult:
    """Drift of long rollouts away from real frames, per horizon bucket."""

    horizon: int
    reference_frames: int
    stat_bounds: dict[str, list[float]]  # {"p1", "p99"} of the reference's frame statistics
    out_of_range_generated: float
    out_of_range_reference: float
    buckets: list[DriftBucket]

    def to_dict(self) -> dict[str, Any]:
        """The ``quality.drift`` section."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["buckets"] = [b.to_dict() for b in self.buckets]
        return out


@dataclass
class QualityResult:
    """What a suite measured; the fields a suite does not measure stay None."""

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

    def to_dict(self) -> dict[str, Any]:
        """The ``quality`` section of ``metrics.json``."""
        out: dict[str, Any] = {"suite": self.suite}
        for name in ("start_seeds", "store", "windows"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        out["fidelity"] = self.fidelity.to_dict()
        for name in ("action_following", "counterfactual_pixels", "action", "counterfactual"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name).to_dict()
        if self.text is not None:
            out["text"] = self.text.to_dict()
        if self.skipped is not None:
            out["skipped"] = self.skipped
        out["drift"] = self.drift.to_dict()
        return out


@dataclass
class StandardMetrics:
    """FID and FVD, or a line saying why each was skipped."""

    fid: float | None = None
    fid_skipped: str | None = None
    fvd_skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``standard`` section (only the keys that are set)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass
class SpeedResult:
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

    def to_dict(self) -> dict[str, Any]:
        """The ``speed`` section (without GPU memory on the CPU)."""
        out = dataclasses.asdict(self)
        if self.gpu_peak_allocated_mib is None:
            del out["gpu_peak_allocated_mib"]
        return out


@dataclass
class Reproducibility:
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

    def to_dict(self) -> dict[str, Any]:
        """The ``reproducibility`` section."""
        return dataclasses.asdict(self)


@dataclass
class EvalResults:
    """Everything ``metrics.json`` holds."""

    quality: QualityResult
    standard: StandardMetrics
    speed: SpeedResult | None
    reproducibility: Reproducibility
    summary: dict[str, float | None] = field(default_factory=dict)  # flat headline numbers

    def to_dict(self) -> dict[str, Any]:
        """The contents of ``metrics.json``."""
        out: dict[str, Any] = {"quality": self.quality.to_dict()}
        out["standard"] = self.standard.to_dict()
        if self.speed is not None:
            out["speed"] = self.speed.to_dict()
        out["reproducibility"] = self.reproducibility.to_dict()
        out["summary"] = self.summary
        return out


@dataclass
class RolloutArrays:
    """The frames behind the metrics, for the plots (uint8 ``(R, N, H, W, 3)``)."""

    context: np.ndarray  # (R, T, H, W, 3) context frames
    generated: np.ndarray
    truth: np.ndarray
    long_generated: np.ndarray | None = None  # procedural: the drift rollouts
    long_truth: np.ndarray | None = None
