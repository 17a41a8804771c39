"""The evaluation harness: one suite, the standard metrics and speed, into ``EvalResults``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from worldsim.eval.config import EvalConfig
from worldsim.eval.results import (
    EvalResults,
    QualityResult,
    Reproducibility,
    RolloutArrays,
    SpeedResult,
)
from worldsim.runtime.world_model import WorldModel

if TYPE_CHECKING:
    from worldsim.runtime.heads import EvalHeads

SPEED_PROMPT = "day, clear weather, two-lane straight road, light traffic"


def run_suite(
    model: WorldModel, heads: EvalHeads | None, cfg: EvalConfig
) -> tuple[QualityResult, RolloutArrays]:
    """The quality metrics of ``cfg.suite`` and the frames behind them."""
    if cfg.suite == "procedural":
        from worldsim.eval.procedural_suite import procedural_suite

        return procedural_suite(model, heads, cfg)
    from worldsim.eval.store_suite import store_suite

    return store_suite(model, heads, cfg)


def _check_heads(model: WorldModel, heads: EvalHeads | None) -> None:
    """Refuse heads trained on frames of another size than the model's."""
    if heads is not None and tuple(heads.metadata.get("resolution") or model.resolution) != tuple(
        model.resolution
    ):
        raise ValueError(
            f"the heads were trained on {heads.metadata.get('resolution')} frames but the model "
            f"generates {model.resolution}; train heads on the model's data"
        )


def _speed(
    model: WorldModel, cfg: EvalConfig, checkpoint: str, arrays: RolloutArrays
) -> SpeedResult:
    """The speed measurements, from the first context of the suite."""
    from worldsim.eval.speed import measure_speed

    context = arrays.context[:1]  # (1, T, H, W, 3)
    sc = cfg.speed
    return SpeedResult.from_dict(
        measure_speed(
            model,
            checkpoint,
            context,
            SPEED_PROMPT,
            sc.sampling_steps,
            sc.repeats,
            sc.env_steps,
            sc.vector_envs,
            cfg.seed,
        )
    )


def evaluate(
    model: WorldModel,
    heads: EvalHeads | None,
    cfg: EvalConfig,
    checkpoint: str,
    heads_path: str | None = None,
    config_record: dict[str, Any] | None = None,
) -> tuple[EvalResults, RolloutArrays]:
    """Run the suite, the standard metrics and speed: ``metrics.json``'s results and frames."""
    from worldsim.eval.report import summary
    from worldsim.eval.repro import hardware, package_versions
    from worldsim.eval.standard import standard_metrics
    from worldsim.runtime.bundle import HEADS_META, HEADS_WEIGHTS, digest

    _check_heads(model, heads)
    torch.manual_seed(cfg.seed)
    quality, arrays = run_suite(model, heads, cfg)
    generated, real = arrays.generated, arrays.truth
    standard = standard_metrics(
        generated.reshape(-1, *generated.shape[2:]), real.reshape(-1, *real.shape[2:])
    )
    speed = _speed(model, cfg, checkpoint, arrays) if cfg.speed.enabled else None
    reproducibility = Reproducibility(
        seed=cfg.seed,
        checkpoint=str(checkpoint),
        checkpoint_sha256=digest(checkpoint),
        heads=heads_path,
        heads_sha256=digest(heads_path, (HEADS_WEIGHTS, HEADS_META)) if heads_path else None,
        sampling=model.sampling_dict(),
        config=config_record or {},
        packages=package_versions(),
        hardware=hardware(model.device),
    )
    results = EvalResults(quality, standard, speed, reproducibility)
    results.summary = summary(results)
    return results, arrays
