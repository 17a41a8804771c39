"""``metrics.json``, ``report.md`` and the plots of an evaluation run."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from worldsim.eval.results import CounterfactualResult, EvalResults, RolloutArrays
from worldsim.utils.io import dumps_json, write_text_atomic


def summary(results: EvalResults) -> dict[str, float | None]:
    """Flat ``eval/...`` and ``speed/...`` headline numbers."""
    out: dict[str, float | None] = {}
    q = results.quality
    for source, prefix in (
        ("model", ""),
        ("repeat_last", "repeat_last_"),
        ("tokenizer", "tokenizer_"),
    ):
        for key, value in q.fidelity.source(source).items():
            out[f"eval/{prefix}{key}"] = value
    if q.action is not None:
        out["eval/action_error"] = q.action.generated.action_error
        out["eval/action_error_ground_truth"] = q.action.ground_truth.action_error
        out["eval/action_error_constant"] = q.action.constant.action_error
    if q.action_following is not None and q.action_following.score:
        out["eval/action_following"] = q.action_following.score["mean"]
    if q.counterfactual_pixels is not None:
        cf = q.counterfactual_pixels.generated
        out["eval/counterfactual_pixels_steer"] = cf.steer_order_accuracy
        out["eval/counterfactual_pixels_speed"] = cf.speed_order_accuracy
    if q.counterfactual is not None:
        cf = q.counterfactual.generated
        out["eval/counterfactual_steer"] = cf.steer_order_accuracy
        out["eval/counterfactual_steer_pair"] = cf.steer_pair_accuracy
        out["eval/counterfactual_speed"] = cf.speed_order_accuracy
    if q.text is not None:
        for key, value in q.text.generated.to_dict().items():
            out[f"eval/text_{key}"] = value
        if q.text.switch is not None:
            for key, value in q.text.switch.vs_new_prompt.to_dict().items():
                out[f"eval/text_switch_{key}"] = value
    out["eval/out_of_range"] = q.drift.out_of_range_generated
    for b in q.drift.buckets:
        if b.fd_generated is not None:
            out[f"eval/fd@{b.first}-{b.last}"] = b.fd_generated
    speed = results.speed
    if speed is not None:
        out["speed/env_fps_single"] = speed.env_fps_single
        out[f"speed/env_fps_vector{speed.vector_envs}"] = speed.env_fps_vector
        out["speed/mfu"] = speed.mfu
    return out


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write atomically (temporary file, then rename)."""
    write_text_atomic(path, dumps_json(data))


def _fmt(value: Any, digits: int = 3) -> str:
    """A table cell: ``n/a`` for None, three decimals or scientific notation for floats."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if abs(value) >= 1e4 or (value != 0 and abs(value) < 1e-3):
            return f"{value:.3e}"
        return f"{value:.{digits}f}"
    return str(value)


def _ci(value: Any, interval: dict[str, float] | None) -> str:
    """``mean [low, high]`` with the 95% bootstrap interval when there is one."""
    if not interval:
        return _fmt(value)
    return f"{_fmt(value)} [{_fmt(interval['low'])}, {_fmt(interval['high'])}]"


def _counterfactual_table(cf: CounterfactualResult) -> str:
    """Order accuracies of the generated and of the true frames, with intervals."""
    rows = []
    for name, scores in (("generated", cf.generated), ("ground truth", cf.ground_truth)):
        values = scores.to_dict()
        rows.append(
            [name]
            + [
                _ci(values[k], scores.intervals.get(k))
                for k in ("steer_order_accuracy", "steer_pair_accuracy", "speed_order_accuracy")
            ]
        )
    return _table(["frames", "left > straight > right", "left > right", "accelerate > brake"], rows)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_plots(out_dir: Path, results: EvalResults, arrays: RolloutArrays) -> list[str]:
    """PSNR/SSIM curves, the drift curve and a sample strip; returns the file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    curves = results.quality.fidelity.curves
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, metric in zip(axes, ("psnr", "ssim"), strict=True):
        for source, style in (("model", "-"), ("repeat_last", "--"), ("tokenizer", ":")):
            values = curves[source][metric]
            ax.plot(np.arange(1, len(values) + 1), values, style, label=source)
        ax.set_xlabel("horizon step")
        ax.set_ylabel(metric.upper() + (" (dB)" if metric == "psnr" else ""))
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(out_dir / "fidelity.png", dpi=100)
    plt.close(fig)
    names.append("fidelity.png")

    buckets = results.quality.drift.buckets
    labels = [f"{b.first}-{b.last}" for b in buckets]
    x = np.arange(len(labels))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    if all(b.fd_generated is not None for b in buckets):
        axes[0].plot(x, [b.fd_generated for b in buckets], "o-", label="generated")
        axes[0].plot(x, [b.fd_truth for b in buckets], "s--", label="ground truth")
        axes[0].set_ylabel("Fréchet distance")
        axes[0].legend()
    axes[0].set_xlabel("horizon bucket (steps)")
    axes[1].plot(x, [b.out_of_range_generated for b in buckets], "o-", label="generated")
    axes[1].plot(x, [b.out_of_range_truth for b in buckets], "s--", label="ground truth")
    axes[1].set_ylabel("fraction out of the 1-99% range")
    axes[1].set_xlabel("horizon bucket (steps)")
    axes[1].legend()
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.set_xticks(x, labels, rotation=30)
    fig.tight_layout()
    fig.savefig(out_dir / "drift.png", dpi=100)
    plt.close(fig)
    names.append("drift.png")

    gen = arrays.long_generated if arrays.long_generated is not None else arrays.generated
    truth = arrays.long_truth if arrays.long_truth is not None else arrays.truth
    steps = gen.shape[1]
    picks = sorted({s for s in (1, 5, 10, 30, 60, 150, 300, 600, steps) if s <= steps})
    fig, axes = plt.subplots(2, len(picks), figsize=(1.9 * len(picks), 2.6), squeeze=False)
    for k, step in enumerate(picks):
        for r, (frames, name) in enumerate(((truth, "truth"), (gen, "model"))):
            axes[r][k].imshow(frames[0, step - 1])
            axes[r][k].set_xticks([])
            axes[r][k].set_yticks([])
            if k == 0:
                axes[r][k].set_ylabel(name)
        axes[0][k].set_title(f"step {step}", fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "samples.png", dpi=100)
    plt.close(fig)
    names.append("samples.png")
    return names


def _fidelity_part(results: EvalResults) -> list[str]:
    """The fidelity table, the action-following score and the pixel counterfactuals."""
    q = results.quality
    fid = q.fidelity
    keys = list(fid.model.keys())
    parts = [
        _table(
            ["metric", "model", "repeat last frame", "tokenizer (ceiling)"],
            [
                [k]
                + [
                    _ci(fid.source(src)[k], fid.intervals.get(src, {}).get(k))
                    for src in ("model", "repeat_last", "tokenizer")
                ]
                for k in keys
            ],
        ),
        f"\nIntervals: 95% bootstrap over the {fid.contexts} start contexts. "
        "`changed_psnr` counts only the pixels where the truth differs from the last "
        "context frame by more than 16/255.",
    ]
    af = q.action_following
    if af is not None and af.score:
        sc = af.score
        parts += [
            "",
            f"**Action-following score** (first {af.steps} steps, {af.contexts} "
            f"contexts): {_ci(sc['mean'], sc)}: the share of pairs of rollouts from one start "
            "where a rollout is closer to its own true future than the rollout under other "
            "actions is.",
        ]
    if q.counterfactual_pixels is not None:
        cfp = q.counterfactual_pixels
        parts += [
            "",
            "## Counterfactuals measured from pixels (no learned model)",
            "",
            f"Horizontal image shift (steering) and image change (speed) over the first "
            f"{cfp.generated.steps} steps of {cfp.generated.contexts} contexts:",
            "",
            _counterfactual_table(cfp),
        ]
    if fid.model_psnr_by_action is not None:
        parts += ["", "Mean model PSNR over the horizon by action sequence:", ""]
        by = fid.model_psnr_by_action
        parts.append(_table(["actions", "PSNR (dB)"], [[k, v] for k, v in by.items()]))
    return parts


def _adherence_part(results: EvalResults) -> list[str]:
    """The IDM action errors, the IDM counterfactuals and the classifier accuracies."""
    q = results.quality
    parts: list[str] = []
    if q.action is not None:
        a = q.action
        parts += ["", "## Action adherence (inverse-dynamics model)", ""]
        parts.append(
            _table(
                ["frames", "speed MAE (m/s)", "yaw-rate MAE (rad/s)", "action error (std units)"],
                [
                    [name, e.mae_speed, e.mae_yaw_rate, e.action_error]
                    for name, e in (
                        ("generated", a.generated),
                        ("ground truth (floor)", a.ground_truth),
                        ("constant prediction", a.constant),
                    )
                ],
            )
        )
    if q.counterfactual is not None:
        cf = q.counterfactual
        parts += [
            "",
            f"Counterfactual ranking by the IDM over the first {cf.generated.steps} steps "
            f"of {cf.generated.contexts} contexts:",
            "",
            _counterfactual_table(cf),
        ]
    if q.text is not None:
        t = q.text
        parts += ["", "## Text adherence (condition classifier)", ""]
        rows = [
            ["generated vs prompt", *t.generated.values()],
            ["ground truth vs conditions", *t.ground_truth.values()],
        ]
        s = t.switch
        if s is not None:
            rows += [
                [
                    "switched prompt: before the switch vs old",
                    *s.before_switch_vs_old_prompt.values(),
                ],
                ["switched prompt: last quarter vs new", *s.vs_new_prompt.values()],
                ["switched prompt: last quarter vs old", *s.vs_old_prompt.values()],
            ]
        parts.append(_table(["frames", "time-of-day accuracy", "weather accuracy"], rows))
        if s is not None:
            parts.append(
                f"\nThe prompt switches before step {s.at_step + 1}; the last quarter "
                f"is steps {s.judged_steps[0]}-{s.judged_steps[1]}."
            )
        if s is not None and s.weather_by_change:
            parts += [
                "",
                "Switched weather on the last quarter, per change of weather:",
                "",
                _table(
                    ["change", "rollouts", "weather accuracy"],
                    [
                        [change, int(v["rollouts"]), v["weather_accuracy"]]
                        for change, v in s.weather_by_change.items()
                    ],
                ),
            ]
    return parts


def _drift_part(results: EvalResults) -> list[str]:
    """The drift table and the standard metrics."""
    d = results.quality.drift
    parts = [
        "",
        f"## Drift over {d.horizon} steps",
        "",
        f"Fréchet distances (FD) are to the {d.fd_reference_frames} true frames of the same "
        f"rollouts, pooled over the horizon. Out-of-range rates use the colour statistics of "
        f"{d.reference_frames} real frames; the rate of those frames themselves: "
        f"{_fmt(d.out_of_range_reference)}.",
        "",
    ]
    rows = [
        [
            f"{b.first}-{b.last}",
            b.frames,
            b.fd_generated,
            b.fd_truth,
            b.out_of_range_generated,
            b.out_of_range_truth,
        ]
        for b in d.buckets
    ]
    parts.append(
        _table(
            [
                "steps",
                "frames",
                "FD generated",
                "FD ground truth",
                "out of range (gen)",
                "out of range (truth)",
            ],
            rows,
        )
    )
    std = results.standard.to_dict()
    if std:
        parts += ["", "## Standard metrics", ""]
        for key, value in std.items():
            parts.append(f"- {key}: {_fmt(value)}")
    return parts


def _speed_part(results: EvalResults) -> list[str]:
    """The speed table, when speed was measured."""
    speed = results.speed
    if speed is None:
        return []
    rows = [
        ["env frames/s, 1 env", speed.env_fps_single],
        [f"env frames/s, native vector env N={speed.vector_envs}", speed.env_fps_vector],
        ["model frames/s, batch 1", speed.model_fps_batch1],
    ]
    rows += [[f"step latency (s), {k} sampling steps", v] for k, v in speed.step_latency_s.items()]
    rows += [
        ["FLOPs per generated frame", float(speed.flops_per_frame)],
        [f"matmul peak FLOP/s ({speed.matmul_peak_dtype})", speed.matmul_peak_flops],
        ["MFU", speed.mfu],
        ["peak process RSS (MiB)", speed.process_peak_rss_mib],
    ]
    if speed.gpu_peak_allocated_mib is not None:
        rows.append(["peak GPU memory allocated (MiB)", speed.gpu_peak_allocated_mib])
    return ["", "## Speed (measured in this run)", "", _table(["measure", "value"], rows)]


def report_markdown(results: EvalResults, plots: list[str]) -> str:
    """The human-readable report."""
    q = results.quality
    repro = results.reproducibility
    parts = [
        f"# worldsim evaluation: {q.suite} suite",
        "",
        f"checkpoint `{repro.checkpoint}` (sha256 `{repro.checkpoint_sha256[:16]}…`), "
        f"seed {repro.seed}, {q.fidelity.rows} rollouts of {q.fidelity.horizon} "
        f"steps for fidelity.",
        "",
        "## Fidelity against the true future",
        "",
    ]
    parts += _fidelity_part(results)
    parts += _adherence_part(results)
    parts += _drift_part(results)
    parts += _speed_part(results)
    parts += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    parts += [
        "",
        "## Reproducibility",
        "",
        f"- seed: {repro.seed}",
        f"- checkpoint sha256: `{repro.checkpoint_sha256}`",
        f"- heads sha256: `{repro.heads_sha256}`",
        f"- hardware: {repro.hardware}",
        f"- packages: {repro.packages}",
        "- config: see `metrics.json` → `reproducibility.config`",
        "",
    ]
    return "\n".join(parts)


def write_report(out_dir: Path, results: EvalResults, arrays: RolloutArrays) -> None:
    """Write ``metrics.json``, the plots and ``report.md`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = write_plots(out_dir, results, arrays)
    write_json(out_dir / "metrics.json", results.to_dict())
    (out_dir / "report.md").write_text(report_markdown(results, plots), encoding="utf-8")
