"""The procedural suite: rollouts from cloned start states against their ground-truth futures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm.auto import tqdm

from worldsim.eval.config import EvalConfig
from worldsim.eval.ground_truth import (
    MANEUVERS,
    Future,
    Start,
    make_start,
    roll_future,
    switched_conditions,
)
from worldsim.eval.metrics import psnr_frames
from worldsim.eval.pixel_motion import pixel_motion
from worldsim.eval.quality import (
    RolloutSet,
    action_following,
    classifier_accuracy,
    counterfactual,
    drift,
    fidelity_and_adherence,
    generate,
    label_indices,
    progress_bar,
    weather_by_change,
)
from worldsim.eval.results import (
    CounterfactualResult,
    QualityResult,
    RolloutArrays,
    TextResult,
    TextSwitchResult,
)
from worldsim.runtime.world_model import WorldModel

if TYPE_CHECKING:
    from worldsim.runtime.heads import EvalHeads

Row = tuple[int, str]  # (start index, action sequence: a manoeuvre, "policy" or "switch")
SKIPPED = "action, counterfactual, text and Fréchet metrics need heads=<ckpt>"


def _starts(model: WorldModel, cfg: EvalConfig) -> list[Start]:
    """The seeded start states of the suite."""
    pc = cfg.procedural
    return [
        make_start(
            cfg.seed * 100_003 + i, model.resolution, model.dt, pc.context_frames, pc.warmup_steps
        )
        for i in tqdm(range(pc.starts), desc="start states", disable=not cfg.progress, leave=False)
    ]


def _futures(starts: Sequence[Start], rows: Sequence[Row], cfg: EvalConfig) -> dict[Row, Future]:
    """The true future of every row; a switched-prompt row shares its start's policy future."""
    pc = cfg.procedural
    futures: dict[Row, Future] = {}
    for i, kind in tqdm(rows, desc="true futures", disable=not cfg.progress, leave=False):
        if kind == "switch":
            continue
        maneuver = None if kind == "policy" else kind
        futures[(i, kind)] = roll_future(starts[i], pc.horizon, maneuver, pc.maneuver_steps)
    for i in range(pc.starts):
        futures[(i, "switch")] = futures[(i, "policy")]
    return futures


def procedural_suite(
    model: WorldModel, heads: EvalHeads | None, cfg: EvalConfig
) -> tuple[QualityResult, RolloutArrays]:
    """Every quality metric of the procedural suite, and the frames for the plots."""
    pc = cfg.procedural
    starts = _starts(model, cfg)
    kinds = [*MANEUVERS, "policy", "switch"]
    rows = [(i, kind) for i in range(pc.starts) for kind in kinds]
    futures = _futures(starts, rows, cfg)

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
    with progress_bar(len(rows) * pc.horizon, "procedural rollouts", cfg.progress) as bar:
        generated = generate(model, context, past, motion, prompts, g, (switch_at, after), bar)

    fid_rows = [j for j, (_, kind) in enumerate(rows) if kind != "switch"]
    main = RolloutSet(
        context[fid_rows, -1],
        generated[fid_rows],
        truth[fid_rows],
        motion[fid_rows],
        group_R=np.array([rows[j][0] for j in fid_rows]),
    )
    fid, adherence = fidelity_and_adherence(model, heads, main, cfg.horizons)
    per_kind: dict[str, float] = {}
    for kind in (*MANEUVERS, "policy"):
        sel = [k for k, j in enumerate(fid_rows) if rows[j][1] == kind]
        per_kind[kind] = float(psnr_frames(main.generated_RNHWC[sel], main.truth_RNHWC[sel]).mean())
    fid.model_psnr_by_action = per_kind

    index = {rows[j]: k for k, j in enumerate(fid_rows)}
    steer = [[index[(i, m)] for m in ("left", "straight", "right")] for i in range(pc.starts)]
    speed = [[index[(i, m)] for m in ("brake", "accelerate")] for i in range(pc.starts)]
    groups = {"steer": steer, "speed": speed}
    steps = min(cfg.counterfactual_steps, pc.horizon)
    following = action_following(main, steps)
    pixels = CounterfactualResult(
        generated=counterfactual(
            groups,
            pixel_motion(main.context_last_RHWC, main.generated_RNHWC),
            main.motion_RN2,
            steps,
        ),
        ground_truth=counterfactual(
            groups, pixel_motion(main.context_last_RHWC, main.truth_RNHWC), main.motion_RN2, steps
        ),
    )
    action, cf, text = None, None, None
    if heads is not None and adherence is not None:
        action = adherence
        cf = CounterfactualResult(
            generated=counterfactual(groups, adherence.estimates_generated, main.motion_RN2, steps),
            ground_truth=counterfactual(groups, adherence.estimates_truth, main.motion_RN2, steps),
        )
        text = _text_adherence(heads, rows, starts, generated, truth, switch_at)

    long_gen, long_truth = _long_rollouts(model, starts, cfg)
    reference = main.truth_RNHWC.reshape(-1, *main.truth_RNHWC.shape[2:])
    result = QualityResult(
        suite="procedural",
        fidelity=fid,
        drift=drift(heads, long_gen, long_truth, reference, cfg.drift_edges),
        start_seeds=[s.seed for s in starts],
        action_following=following,
        counterfactual_pixels=pixels,
        action=action,
        counterfactual=cf,
        text=text,
        skipped=None if action is not None else SKIPPED,
    )
    arrays = RolloutArrays(context, generated, truth, long_gen, long_truth)
    return result, arrays


def _long_rollouts(
    model: WorldModel, starts: Sequence[Start], cfg: EvalConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Generated and true data-policy futures of ``drift_horizon`` steps from the first starts."""
    pc = cfg.procedural
    drift_rows = list(range(pc.drift_rollouts))
    long_futures = [
        roll_future(starts[i], pc.drift_horizon, None)
        for i in tqdm(drift_rows, desc="long true futures", disable=not cfg.progress, leave=False)
    ]
    g = torch.Generator(model.device).manual_seed(cfg.seed + 1)
    with progress_bar(len(drift_rows) * pc.drift_horizon, "long rollouts", cfg.progress) as bar:
        long_gen = generate(
            model,
            np.stack([starts[i].context_THWC for i in drift_rows]),
            np.stack([starts[i].past_motion_T2 for i in drift_rows]),
            np.stack([f.motion_H2 for f in long_futures]),
            [starts[i].conditions.caption() for i in drift_rows],
            g,
            progress=bar,
        )
    return long_gen, np.stack([f.frames_HHWC for f in long_futures])


def _text_adherence(
    heads: EvalHeads,
    rows: Sequence[Row],
    starts: Sequence[Start],
    generated: np.ndarray,
    truth: np.ndarray,
    switch_at: int,
) -> TextResult:
    """Classifier accuracy against the prompt, and after a prompt switched mid-rollout."""
    plain = [j for j, (_, kind) in enumerate(rows) if kind != "switch"]
    switched = [j for j, (_, kind) in enumerate(rows) if kind == "switch"]
    before = label_indices(heads, [starts[rows[j][0]].conditions.to_dict() for j in plain])
    steps = generated.shape[1]
    tail = switch_at + (steps - switch_at) // 2  # judge the switch on the last quarter
    old_conditions = [starts[rows[j][0]].conditions.to_dict() for j in switched]
    new_conditions = [
        switched_conditions(starts[rows[j][0]].conditions).to_dict() for j in switched
    ]
    old = label_indices(heads, old_conditions)
    new = label_indices(heads, new_conditions)
    return TextResult(
        generated=classifier_accuracy(heads, generated[plain], before),
        ground_truth=classifier_accuracy(heads, truth[plain], before),
        switch=TextSwitchResult(
            at_step=switch_at,
            judged_steps=[tail + 1, steps],
            vs_new_prompt=classifier_accuracy(heads, generated[switched, tail:], new),
            vs_old_prompt=classifier_accuracy(heads, generated[switched, tail:], old),
            before_switch_vs_old_prompt=classifier_accuracy(
                heads, generated[switched, :switch_at], old
            ),
            weather_by_change=weather_by_change(
                heads, generated[switched, tail:], old_conditions, new_conditions
            ),
        ),
    )
