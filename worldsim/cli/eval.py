"""``worldsim-eval``: evaluate a world-model checkpoint and write metrics.json and a report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from worldsim.cli._hydra import UserError, out_dir, run_hydra, torch_placement


def eval_config(cfg: DictConfig) -> Any:
    """Plain ``EvalConfig`` from the Hydra config (bad values raise ``UserError``)."""
    from worldsim.eval.harness import (
        EvalConfig,
        ProceduralSuiteConfig,
        SpeedConfig,
        StoreSuiteConfig,
    )

    try:
        return EvalConfig(
            suite=str(cfg.suite),
            seed=int(cfg.seed),
            horizons=[int(h) for h in cfg.horizons],
            drift_edges=[int(e) for e in cfg.drift_edges],
            counterfactual_steps=int(cfg.counterfactual_steps),
            procedural=ProceduralSuiteConfig(**OmegaConf.to_container(cfg.procedural)),
            store=StoreSuiteConfig(**OmegaConf.to_container(cfg.store)),
            speed=SpeedConfig(**OmegaConf.to_container(cfg.speed)),
            progress=bool(cfg.progress),
        )
    except (TypeError, ValueError) as exc:
        raise UserError(str(exc)) from exc


def task(cfg: DictConfig) -> None:
    import torch

    from worldsim.eval.harness import evaluate
    from worldsim.eval.report import write_report
    from worldsim.runtime.bundle import HEADS_META, bundled_model_dir, is_bundle
    from worldsim.runtime.checkpoint import CheckpointError, load_world_model
    from worldsim.runtime.heads import load_eval_heads

    config = eval_config(cfg)
    bundled = cfg.checkpoint is None
    checkpoint = bundled_model_dir() if bundled else Path(str(cfg.checkpoint))
    if not (checkpoint.is_file() or is_bundle(checkpoint)):
        raise UserError(
            f"checkpoint={checkpoint} does not exist; train one with "
            "`worldsim-train experiment=world_model_tiny`, or leave checkpoint unset for the "
            "bundled model"
        )
    heads_path = cfg.heads
    if heads_path is None and bundled and (checkpoint / HEADS_META).is_file():
        heads_path = str(checkpoint)  # the bundled model ships its evaluation heads
    _, dtype = torch_placement(cfg.device, cfg.dtype)
    if str(cfg.device).startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device={cfg.device} but CUDA is not available; use device=cpu")
    sampling: dict[str, Any] = {}
    for key, name in (
        ("sampling_steps", "steps"),
        ("guidance_action", "guidance_action"),
        ("guidance_text", "guidance_text"),
    ):
        value = cfg.get(key)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UserError(f"{key}={value!r} must be a number")
            sampling[name] = int(value) if name == "steps" else float(value)
    try:
        model = load_world_model(
            checkpoint, device=str(cfg.device), dtype=dtype, sampling=sampling or None
        )
        heads = None
        if heads_path is not None:
            if not Path(str(heads_path)).exists():
                raise UserError(
                    f"heads={heads_path} does not exist; train them with "
                    "`worldsim-train experiment=idm`"
                )
            heads = load_eval_heads(str(heads_path), device=str(cfg.device))
    except CheckpointError as exc:
        raise UserError(str(exc)) from exc
    condition = model.metadata.get("config", {}).get("data", {}).get("condition", "ego_motion")
    if condition != "ego_motion":
        raise UserError(
            f"{checkpoint} is conditioned on data.condition={condition}; worldsim-eval compares "
            "against ego motion and needs a model trained with data.condition=ego_motion"
        )
    if heads is None:
        print("no heads=<ckpt>: action, counterfactual, text and Fréchet metrics are skipped")
    try:
        results, arrays = evaluate(
            model,
            heads,
            config,
            str(checkpoint),
            None if heads_path is None else str(heads_path),
            OmegaConf.to_container(cfg, resolve=True),
        )
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    out = out_dir(cfg.out)
    write_report(out, results, arrays)
    width = max(len(k) for k in results["summary"])
    for key, value in results["summary"].items():
        shown = "n/a" if value is None else f"{value:.4g}"
        print(f"{key:<{width}}  {shown}")
    for key, value in results["standard"].items():
        if key.endswith("_skipped"):
            print(value)
    print(f"metrics: {out / 'metrics.json'}")
    print(f"report:  {out / 'report.md'}")


def main() -> None:
    run_hydra(
        task,
        "eval",
        {
            "checkpoint": str | None,
            "heads": str | None,
            "sampling_steps": (int | None, 1, None),
            "guidance_action": (float | None, 0.0, None),
            "guidance_text": (float | None, 0.0, None),
            "seed": (int, 0, None),
            "counterfactual_steps": (int, 1, None),
            "procedural.starts": (int, 1, None),
            "procedural.horizon": (int, 1, None),
            "procedural.context_frames": (int, 1, None),
            "procedural.warmup_steps": (int, 0, None),
            "procedural.maneuver_steps": (int, 1, None),
            "procedural.drift_rollouts": (int, 0, None),
            "procedural.drift_horizon": (int, 1, None),
            "horizons": list[int],
            "drift_edges": list[int],
            "store.path": str | None,
        },
    )


if __name__ == "__main__":
    main()
