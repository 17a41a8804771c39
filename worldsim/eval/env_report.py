"""``metrics.json``, ``report.md`` and ``samples.png`` of ``worldsim-eval suite=env``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from worldsim.eval.env_suite import EnvRollouts
from worldsim.utils.io import write_json_atomic
from worldsim.utils.png import write_png

SAMPLE_ROWS = 4  # starts shown in samples.png


def _cell(value: dict[str, float] | None) -> str:
    if value is None:
        return "n/a"
    return f"{value['mean']:.3g} [{value['low']:.3g}, {value['high']:.3g}]"


def env_markdown(result: dict[str, Any]) -> str:
    """The report: PSNR against repeat-last-frame, action following, Fréchet, IDM confusion."""
    lines = [
        f"# Learned copy of {result['env_id']}",
        "",
        f"{result['starts']} real starts (seeds {result['eval_seeds'][0]}..."
        f"{result['eval_seeds'][-1]}), {result['context_frames']} context frames, "
        f"{result['horizon']} generated frames under the real env's actions. Means with 95% "
        "bootstrap intervals over starts.",
        "",
        "| measure | model | repeat last frame | model - repeat last (paired) |",
        "|---|---|---|---|",
    ]
    psnr = result["psnr"]
    for key in psnr["model"]:
        cells = [_cell(psnr[name][key]) for name in ("model", "repeat_last")]
        gain = _cell(psnr["gain_over_repeat_last"][key])
        lines.append(f"| {key.upper()} (dB) | {cells[0]} | {cells[1]} | {gain} |")
    following = result["action_following"]
    lines.append(f"| action-following score | {_cell(following['score'])} | | |")
    for bucket in result.get("frechet") or []:
        first, last = bucket["steps"]
        lines.append(
            f"| Fréchet distance, steps {first}-{last} | {bucket['model']:.3g} | "
            f"{bucket['repeat_last']:.3g} | |"
        )
    confusion = result.get("idm_confusion")
    if confusion:
        lines += [
            "",
            f"IDM accuracy on generated transitions: {confusion['model']['accuracy']:.3f} "
            f"(on the real ones: {confusion['real']['accuracy']:.3f}). Confusion of the "
            "generated transitions, rows commanded, columns predicted:",
            "",
        ]
        matrix = confusion["model"]["matrix"]
        lines.append("| commanded | " + " | ".join(str(i) for i in range(len(matrix))) + " |")
        lines.append("|---" * (len(matrix) + 1) + "|")
        for i, row in enumerate(matrix):
            lines.append(f"| {i} | " + " | ".join(str(v) for v in row) + " |")
    lines += ["", "![samples](samples.png): per start, real frames above generated ones.", ""]
    return "\n".join(lines)


def samples_sheet(ro: EnvRollouts, steps: tuple[int, ...] = (1, 5, 10, 20, 30)) -> np.ndarray:
    """Real (upper) and generated (lower) frames of the first starts at ``steps``."""
    at = [s - 1 for s in steps if s <= ro.truth_RNHWC.shape[1]]
    rows = []
    for r in range(min(SAMPLE_ROWS, len(ro.truth_RNHWC))):
        rows.append(np.concatenate([ro.truth_RNHWC[r, i] for i in at], axis=1))
        rows.append(np.concatenate([ro.generated_RNHWC[r, i] for i in at], axis=1))
    return np.concatenate(rows, axis=0)


def write_env_report(out_dir: Path, result: dict[str, Any], ro: EnvRollouts) -> None:
    """Write the three files into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / "metrics.json", result)
    write_png(out_dir / "samples.png", samples_sheet(ro))
    (out_dir / "report.md").write_text(env_markdown(result), encoding="utf-8")
