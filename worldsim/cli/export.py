"""``worldsim-export``: write a world-model checkpoint (and its heads) as a bundle folder of
safetensors weights and JSON metadata, the format that loads without running code."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from worldsim.cli._hydra import UserError, out_dir, run_hydra


def git_commit() -> str | None:
    """The commit of the source tree this runs from, when it is a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _evaluation(eval_dir: Path) -> dict[str, Any] | None:
    from worldsim.runtime.bundle import read_json

    metrics = eval_dir / "metrics.json"
    if not metrics.is_file():
        raise UserError(f"eval_dir={eval_dir} holds no metrics.json; run worldsim-eval first")
    data = read_json(metrics)
    return {"summary": data.get("summary"), "seed": data.get("reproducibility", {}).get("seed")}


def _export_heads(cfg: DictConfig, out: Path) -> None:
    """Write the evaluation heads and the driving heads the config names into ``out``."""
    from worldsim.runtime.bundle import export_driving_heads, export_heads

    if cfg.heads is not None:
        export_heads(str(cfg.heads), out)
    if cfg.driving_heads_ckpt is not None:
        export_driving_heads(str(cfg.driving_heads_ckpt), out)


def task(cfg: DictConfig) -> None:
    from worldsim.runtime.bundle import BundleError, export_world_model, is_bundle
    from worldsim.runtime.checkpoint import CheckpointError

    out = out_dir(cfg.out)
    for key in ("heads", "driving_heads_ckpt"):
        if cfg[key] is not None and not Path(str(cfg[key])).is_file():
            raise UserError(f"{key}={cfg[key]} does not exist")
    if cfg.checkpoint is None:
        # add heads to a bundle that exists already
        if cfg.driving_heads_ckpt is None and cfg.heads is None:
            raise UserError("give checkpoint=<world-model .ckpt>, or heads= / driving_heads_ckpt=")
        if not is_bundle(out):
            raise UserError(
                f"out={out} is not a model bundle; without checkpoint= the heads are added to an "
                "existing bundle folder"
            )
        try:
            _export_heads(cfg, out)
        except (BundleError, CheckpointError) as exc:
            raise UserError(str(exc)) from exc
        print(f"bundle: {out} (heads added)")
        return
    checkpoint = Path(str(cfg.checkpoint))
    if not checkpoint.is_file():
        raise UserError(f"checkpoint={checkpoint} does not exist")
    eval_dir = None if cfg.eval_dir is None else Path(str(cfg.eval_dir))
    extra: dict[str, Any] = {
        "recipe": None if cfg.recipe is None else str(cfg.recipe),
        "git_commit": git_commit(),
        "train_seconds": None if cfg.train_seconds is None else float(cfg.train_seconds),
        "source_checkpoint": str(checkpoint),
        "evaluation": None if eval_dir is None else _evaluation(eval_dir),
    }
    try:
        export_world_model(checkpoint, out, extra)
        _export_heads(cfg, out)
    except (BundleError, CheckpointError) as exc:
        raise UserError(str(exc)) from exc
    if eval_dir is not None:
        for name in ("metrics.json", "report.md", "samples.png", "fidelity.png", "drift.png"):
            if (eval_dir / name).is_file():
                shutil.copyfile(eval_dir / name, out / name)
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"bundle: {out} ({size / 2**20:.1f} MiB)")


def main() -> None:
    run_hydra(
        task,
        "export",
        {
            "checkpoint": str | None,
            "heads": str | None,
            "driving_heads_ckpt": str | None,
            "out": str,
            "eval_dir": str | None,
            "recipe": str | None,
            "train_seconds": float | None,
        },
    )


if __name__ == "__main__":
    main()
