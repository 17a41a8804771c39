"""The evaluation harness: the procedural suite (ground-truth futures from cloned start states)
and the store suite (held-out continuations of a recorded store), plus speed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm.auto import tqdm

from worldsim.eval.metrics import psnr_frames
from worldsim.eval.pixel_motion import pixel_motion
from worldsim.eval.procedural import MANEUVERS, make_start, roll_future, switched_conditions
from worldsim.eval.quality import (
    RolloutSet,
    action_adherence,
    action_following,
    classifier_accuracy,
    counterfactual,
    drift,
    fidelity,
    generate,
    label_indices,
)
from worldsim.runtime.world_model import WorldModel

if TYPE_CHECKING:
    from worldsim.runtime.heads import EvalHeads

SUITES = ("procedural", "store")


@dataclass
class ProceduralSuiteConfig:
    """Start states, horizons and rollout counts of the procedural suite."""

    starts: int = 6
    context_frames: int = 4
    warmup_steps: int = 20
    horizon: int = 60
    maneuver_steps: int = 10
    drift_rollouts: int = 4
    drift_horizon: int = 600

    def __post_init__(self) -> None:
        for name in ("starts", "context_frames", "horizon", "maneuver_steps", "drift_rollouts"):
            if getattr(self, name) < 1:
                raise ValueError(f"procedural.{name}={getattr(self, name)} must be >= 1")
        if self.drift_rollouts > self.starts:
            raise ValueError(
                f"procedural.drift_rollouts={self.drift_rollouts} must be <= procedural.starts="
                f"{self.starts} (each drift rollout starts from one start state)"
            )
        if self.drift_horizon < 2 or self.horizon < 2:
            raise ValueError(
                f"procedural.horizon={self.horizon} and procedural.drift_horizon="
                f"{self.drift_horizon} must be >= 2"
            )


@dataclass
class StoreSuiteConfig:
    """Held-out windows of a recorded store."""

    path: str | None = None
    split: str = "val"
    context_frames: int = 4
    horizon: int = 60
    max_windows: int = 16

    def __post_init__(self) -> None:
        for name in ("context_frames", "horizon", "max_windows"):
            if getattr(self, name) < 1:
                raise ValueError(f"store.{name}={getattr(self, name)} must be >= 1")


@dataclass
class SpeedConfig:
    enabled: bool = True
    sampling_steps: list[int] = field(default_factory=lambda: [1, 2, 4, 8])
    repeats: int = 5
    env_steps: int = 10
    vector_envs: int = 16


@dataclass
class EvalConfig:
    suite: str = "procedural"
    seed: int = 0
    horizons: list[int] = field(default_factory=lambda: [1, 5, 10, 30, 60])
    drift_edges: list[int] = field(default_factory=lambda: [10, 30, 60, 150, 300, 600])
    counterfactual_steps: int = 10
    procedural: ProceduralSuiteConfig = field(default_factory=ProceduralSuiteConfig)
    store: StoreSuiteConfig = field(default_factory=StoreSuiteConfig)
    speed: SpeedConfig = field(default_factory=SpeedConfig)
    progress: bool = True

    def __post_init__(self) -> None:
        if self.suite not in SUITES:
            raise ValueError(f"suite={self.suite!r} is unknown; choose one of {list(SUITES)}")
        if self.suite == "store" and not self.store.path:
            raise ValueError("suite=store needs store.path=<episode store folder>")
        for name in ("horizons", "drift_edges"):
            values = list(getattr(self, name))
            if not values or any(v < 1 for v in values):
                raise ValueError(f"{name}={values} must be a non-empty list of steps >= 1")
        if self.counterfactual_steps < 1:
            raise ValueError(f"counterfactual_steps={self.counterfactual_steps} must be >= 1")


def _bar(total: int, desc: str, enabled: bool) -> Any:
    return tqdm(total=total, desc=desc, unit="frame", disable=not enabled, leave=False)


def _split_quality(
    model: WorldModel,
    heads: EvalHeads | None,
    rollouts: RolloutSet,
    horizons: Sequence[int],
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    result = fidelity(model, rollouts, horizons)
    adherence = action_adherence(heads, rollouts) if heads is not None else None
    return result, adherence


def _public(adherence: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in adherence.items() if not k.startswith("estimates")}


def procedural_suite(
    model: WorldModel, heads: EvalHeads | None, cfg: EvalConfig
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every quality metric of the procedural suite; also returns arrays for plots."""
    pc = cfg.procedural
    starts = [
        make_start(
            cfg.seed * 100_003 + i, model.resolution, model.dt, pc.context_frames, pc.warmup_steps
        )
        for i in tqdm(range(pc.starts), desc="start states", disable=not cfg.progress, leave=False)
    ]
    kinds = [*MANEUVERS, "policy", "switch"]
    rows = [(i, kind) for i in range(pc.starts) for kind in kinds]
    futures: dict[tuple[int, str], Any] = {}
    for i, kind in tqdm(rows, desc="true futures", disable=not cfg.progress, leave=False):
        if kind == "switch":
            continue
        maneuver = None if kind == "policy" else kind
        futures[(i, kind)] = roll_future(starts[i], pc.horizon, maneuver, pc.maneuver_steps)
    for i in range(pc.starts):
        futures[(i, "switch")] = futures[(i, "policy")]

    context = np.stack([starts[i].context_THWC for i, _ in rows])
    past = np.stack([starts[i].past_motion_T2 for i, _ in rows])
    truth = np.stack([futures[r].frames_HHWC for r in rows])
    motion = np.stack([futures[r].motion_H2 for r in rows])
    prompts = [starts[i].conditions.caption() for i, _ in rows]
    after = [
        switched_conditions(starts[i].conditions).caption() if kind == "switch" else prompts[j]
        for j, (i, kind) in enumerate(rows)
    ]
    switch_at = pc.horizon // 2
    g = torch.Generator(model.device).manual_seed(cfg.seed)
    with _bar(len(rows) * pc.horizon, "procedural rollouts", cfg.progress) as bar:
        generated = generate(model, context, past, motion, prompts, g, (switch_at, after), bar)

    fid_rows = [j for j, (_, kind) in enumerate(rows) if kind != "switch"]
    main = RolloutSet(
        context[fid_rows, -1],
        generated[fid_rows],
        truth[fid_rows],
        motion[fid_rows],
        group_R=np.array([rows[j][0] for j in fid_rows]),
    )
    result: dict[str, Any] = {"suite": "procedural", "start_seeds": [s.seed for s in starts]}
    result["fidelity"], adherence = _split_quality(model, heads, main, cfg.horizons)
    per_kind = {}
    for kind in (*MANEUVERS, "policy"):
        sel = [k for k, j in enumerate(fid_rows) if rows[j][1] == kind]
        per_kind[kind] = float(psnr_frames(main.generated_RNHWC[sel], main.truth_RNHWC[sel]).mean())
    result["fidelity"]["model_psnr_by_action"] = per_kind

    arrays: dict[str, Any] = {
        "rows": rows,
        "context": context,
        "generated": generated,
        "truth": truth,
    }
    index = {rows[j]: k for k, j in enumerate(fid_rows)}
    steer = [[index[(i, m)] for m in ("left", "straight", "right")] for i in range(pc.starts)]
    speed = [[index[(i, m)] for m in ("brake", "accelerate")] for i in range(pc.starts)]
    groups = {"steer": steer, "speed": speed}
    steps = min(cfg.counterfactual_steps, pc.horizon)
    result["action_following"] = action_following(main, steps)
    result["counterfactual_pixels"] = {
        "generated": counterfactual(
            groups,
            pixel_motion(main.context_last_RHWC, main.generated_RNHWC),
            main.motion_RN2,
            steps,
        ),
        "ground_truth": counterfactual(
            groups, pixel_motion(main.context_last_RHWC, main.truth_RNHWC), main.motion_RN2, steps
        ),
    }
    if heads is not None and adherence is not None:
        result["action"] = _public(adherence)
        result["counterfactual"] = {
            "generated": counterfactual(
                groups, adherence["estimates_generated"], main.motion_RN2, steps
            ),
            "ground_truth": counterfactual(
                groups, adherence["estimates_truth"], main.motion_RN2, steps
            ),
        }
        result["text"] = _text_adherence(heads, rows, starts, generated, truth, switch_at)
    else:
        result["skipped"] = "action, counterfactual, text and Fréchet metrics need heads=<ckpt>"

    drift_rows = list(range(pc.drift_rollouts))
    long_futures = [
        roll_future(starts[i], pc.drift_horizon, None)
        for i in tqdm(drift_rows, desc="long true futures", disable=not cfg.progress, leave=False)
    ]
    g = torch.Generator(model.device).manual_seed(cfg.seed + 1)
    with _bar(len(drift_rows) * pc.drift_horizon, "long rollouts", cfg.progress) as bar:
        long_gen = generate(
            model,
            np.stack([starts[i].context_THWC for i in drift_rows]),
            np.stack([starts[i].past_motion_T2 for i in drift_rows]),
            np.stack([f.motion_H2 for f in long_futures]),
            [starts[i].conditions.caption() for i in drift_rows],
            g,
            progress=bar,
        )
    long_truth = np.stack([f.frames_HHWC for f in long_futures])
    reference = main.truth_RNHWC.reshape(-1, *main.truth_RNHWC.shape[2:])
    result["drift"] = drift(heads, long_gen, long_truth, reference, cfg.drift_edges)
    arrays.update(long_generated=long_gen, long_truth=long_truth)
    return result, arrays


def _text_adherence(
    heads: EvalHeads,
    rows: Sequence[tuple[int, str]],
    starts: Sequence[Any],
    generated: np.ndarray,
    truth: np.ndarray,
    switch_at: int,
) -> dict[str, Any]:
    """Classifier accuracy against the prompt, and after a prompt switched mid-rollout."""
    plain = [j for j, (_, kind) in enumerate(rows) if kind != "switch"]
    switched = [j for j, (_, kind) in enumerate(rows) if kind == "switch"]
    before = label_indices(heads, [starts[rows[j][0]].conditions.to_dict() for j in plain])
    steps = generated.shape[1]
    tail = switch_at + (steps - switch_at) // 2  # judge the switch on the last quarter
    old = label_indices(heads, [starts[rows[j][0]].conditions.to_dict() for j in switched])
    new = label_indices(
        heads, [switched_conditions(starts[rows[j][0]].conditions).to_dict() for j in switched]
    )
    return {
        "generated": classifier_accuracy(heads, generated[plain], before),
        "ground_truth": classifier_accuracy(heads, truth[plain], before),
        "switch": {
            "at_step": switch_at,
            "judged_steps": [tail + 1, steps],
            "vs_new_prompt": classifier_accuracy(heads, generated[switched, tail:], new),
            "vs_old_prompt": classifier_accuracy(heads, generated[switched, tail:], old),
            "before_switch_vs_old_prompt": classifier_accuracy(
                heads, generated[switched, :switch_at], old
            ),
        },
    }


def store_suite(
    model: WorldModel, heads: EvalHeads | None, cfg: EvalConfig
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fidelity, IDM adherence and Fréchet distance against held-out continuations."""
    from worldsim.data.store import EpisodeStore

    sc = cfg.store
    store = EpisodeStore(str(sc.path))
    if store.resolution is None or tuple(store.resolution) != tuple(model.resolution):
        raise ValueError(
            f"store {sc.path} holds {store.resolution} frames but the model generates "
            f"{model.resolution}; evaluate on a store of the model's resolution"
        )
    keys = store.keys(sc.split) or store.keys()
    lengths = [store.num_frames(k) - sc.context_frames for k in keys]
    usable = [k for k, n in zip(keys, lengths, strict=True) if n >= 2]
    if not usable:
        raise ValueError(
            f"no episode of {sc.path} has more than context_frames+1={sc.context_frames + 1} "
            "frames; lower store.context_frames"
        )
    horizon = min(sc.horizon, *(store.num_frames(k) - sc.context_frames for k in usable))
    span = sc.context_frames + horizon
    windows = [(k, s) for k in usable for s in range(0, store.num_frames(k) - span + 1, span)][
        : sc.max_windows
    ]
    frames = np.stack([store.frames(k, s, span) for k, s in windows])
    motion = np.stack([store.ego_motion(k)[s : s + span] for k, s in windows]).astype(np.float32)
    c = sc.context_frames
    g = torch.Generator(model.device).manual_seed(cfg.seed)
    with _bar(len(windows) * horizon, "store rollouts", cfg.progress) as bar:
        generated = generate(
            model,
            frames[:, :c],
            motion[:, : c - 1],
            motion[:, c - 1 : c - 1 + horizon],
            [store.caption(k) for k, _ in windows],
            g,
            progress=bar,
        )
    rollouts = RolloutSet(
        frames[:, c - 1], generated, frames[:, c:], motion[:, c - 1 : c - 1 + horizon]
    )
    result: dict[str, Any] = {
        "suite": "store",
        "store": str(sc.path),
        "windows": [[k, int(s)] for k, s in windows],
    }
    result["fidelity"], adherence = _split_quality(model, heads, rollouts, cfg.horizons)
    if adherence is not None:
        result["action"] = _public(adherence)
        conditions = [store.meta(k).get("conditions") or {} for k, _ in windows]
        labels = label_indices(heads, conditions)
        if (labels >= 0).any():
            result["text"] = {
                "generated": classifier_accuracy(heads, generated, labels),
                "ground_truth": classifier_accuracy(heads, rollouts.truth_RNHWC, labels),
            }
    reference = np.concatenate([store.frames(k) for k in usable])
    result["drift"] = drift(heads, generated, rollouts.truth_RNHWC, reference, cfg.drift_edges)
    return result, {"context": frames[:, :c], "generated": generated, "truth": rollouts.truth_RNHWC}


def evaluate(
    model: WorldModel,
    heads: EvalHeads | None,
    cfg: EvalConfig,
    checkpoint: str,
    heads_path: str | None = None,
    config_record: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the suite, the standard metrics and the speed measurements; returns the results
    (what ``metrics.json`` holds) and the frame arrays for the plots."""
    from worldsim.eval.report import summary
    from worldsim.eval.repro import hardware, package_versions
    from worldsim.eval.speed import measure_speed
    from worldsim.eval.standard import standard_metrics
    from worldsim.runtime.bundle import HEADS_META, HEADS_WEIGHTS, digest

    if heads is not None and tuple(heads.metadata.get("resolution") or model.resolution) != tuple(
        model.resolution
    ):
        raise ValueError(
            f"the heads were trained on {heads.metadata.get('resolution')} frames but the model "
            f"generates {model.resolution}; train heads on the model's data"
        )
    torch.manual_seed(cfg.seed)
    if cfg.suite == "procedural":
        quality, arrays = procedural_suite(model, heads, cfg)
    else:
        quality, arrays = store_suite(model, heads, cfg)
    generated, real = arrays["generated"], arrays["truth"]
    results: dict[str, Any] = {"quality": quality}
    results["standard"] = standard_metrics(
        generated.reshape(-1, *generated.shape[2:]), real.reshape(-1, *real.shape[2:])
    )
    if cfg.speed.enabled:
        context = arrays["context"][:1]  # (1, T, H, W, 3)
        results["speed"] = measure_speed(
            model,
            checkpoint,
            context,
            "day, clear weather, two-lane straight road, light traffic",
            cfg.speed.sampling_steps,
            cfg.speed.repeats,
            cfg.speed.env_steps,
            cfg.speed.vector_envs,
            cfg.seed,
        )
    results["reproducibility"] = {
        "seed": cfg.seed,
        "checkpoint": str(checkpoint),
        "checkpoint_sha256": digest(checkpoint),
        "heads": heads_path,
        "heads_sha256": digest(heads_path, (HEADS_WEIGHTS, HEADS_META)) if heads_path else None,
        "sampling": model.sampling_dict(),
        "config": config_record or {},
        "packages": package_versions(),
        "hardware": hardware(model.device),
    }
    results["summary"] = summary(results)
    return results, arrays
