"""``worldsim-eval``: evaluate a world-model checkpoint and write metrics.json and a report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from worldsim.cli._hydra import UserError, out_dir, run_hydra, torch_placement
from worldsim.eval.config import EvalConfig, store_defaults

# Types (where the default is null) and bounds of keys, checked before anything runs; the
# other keys keep the type of their default (worldsim.eval.config.EvalConfig).
HINTS: dict[str, Any] = {
    **dict.fromkeys(("checkpoint", "heads", "store.path", "env_id"), str | None),
    "sampling_steps": (int | None, 1, None),
    **dict.fromkeys(("guidance_action", "guidance_text"), (float | None, 0.0, None)),
    "temperature": (float | None, 0.0, 1.0),
    "context_noise": (float | None, 0.0, 0.999),
    "shift": (float | None, 1e-6, None),
    **dict.fromkeys(
        ("seed", "procedural.warmup_steps", "procedural.drift_rollouts"), (int, 0, None)
    ),
    **dict.fromkeys(
        (
            "counterfactual_steps",
            "procedural.starts",
            "procedural.horizon",
            "procedural.context_frames",
            "procedural.maneuver_steps",
            "procedural.drift_horizon",
            "env.starts",
            "env.context_frames",
            "env.horizon",
        ),
        (int, 1, None),
    ),
    **dict.fromkeys(("horizons", "drift_edges"), list[int]),
}


def eval_config(cfg: DictConfig) -> EvalConfig:
    """The typed ``EvalConfig`` of the Hydra config (bad values raise ``UserError``)."""
    try:
        return EvalConfig.from_dict(OmegaConf.to_container(cfg, resolve=True))
    except (TypeError, ValueError) as exc:
        raise UserError(str(exc)) from exc


def task(cfg: DictConfig) -> None:
    """Load the model and heads, evaluate, and write metrics.json and report.md."""
    import torch

    from worldsim.eval.harness import evaluate
    from worldsim.eval.report import write_report
    from worldsim.runtime.bundle import HEADS_META, bundled_model_dir, is_bundle
    from worldsim.runtime.checkpoint import CheckpointError, load_world_model
    from worldsim.runtime.heads import load_eval_heads

    config = eval_config(cfg)
    bundled = config.checkpoint is None
    checkpoint = bundled_model_dir() if bundled else Path(str(config.checkpoint))
    if not (checkpoint.is_file() or is_bundle(checkpoint)):
        raise UserError(
            f"checkpoint={checkpoint} does not exist; train one with "
            "`worldsim-train experiment=world_model_tiny`, or leave checkpoint unset for the "
            "bundled model"
        )
    heads_path = config.heads
    if heads_path is None and bundled and (checkpoint / HEADS_META).is_file():
        heads_path = str(checkpoint)  # the bundled model ships its evaluation heads
    _, dtype = torch_placement(config.device, config.dtype)
    if str(config.device).startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device={config.device} but CUDA is not available; use device=cpu")
    sampling: dict[str, Any] = {}
    for key, name in (
        ("sampling_steps", "steps"),
        ("guidance_action", "guidance_action"),
        ("guidance_text", "guidance_text"),
        ("temperature", "temperature"),
        ("context_noise", "context_noise"),
        ("shift", "shift"),
    ):
        value = getattr(config, key)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UserError(f"{key}={value!r} must be a number")
            sampling[name] = int(value) if name == "steps" else float(value)
    try:
        model = load_world_model(
            checkpoint, device=str(config.device), dtype=dtype, sampling=sampling or None
        )
        heads = None
        if heads_path is not None:
            if not Path(str(heads_path)).exists():
                raise UserError(
                    f"heads={heads_path} does not exist; train them with "
                    "`worldsim-train experiment=eval_heads`"
                )
            heads = load_eval_heads(str(heads_path), device=str(config.device))
    except CheckpointError as exc:
        raise UserError(str(exc)) from exc
    condition = model.metadata.get("config", {}).get("data", {}).get("condition", "ego_motion")
    if config.suite == "env":
        env_task(model, config, checkpoint)
        return
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
    out = out_dir(config.out)
    write_report(out, results, arrays)
    width = max(len(k) for k in results.summary)
    for key, value in results.summary.items():
        shown = "n/a" if value is None else f"{value:.4g}"
        print(f"{key:<{width}}  {shown}")
    for key, value in results.standard.to_dict().items():
        if key.endswith("_skipped"):
            print(value)
    print(f"metrics: {out / 'metrics.json'}")
    print(f"report:  {out / 'report.md'}")


def env_task(model: Any, config: EvalConfig, checkpoint: Path) -> None:
    """``suite=env``: the learned copy against the real env it was recorded from."""
    from worldsim.data.store import EpisodeStore
    from worldsim.env.learned_copy.env_starts import real_env_available, recorded_env_id
    from worldsim.eval.env_report import write_env_report
    from worldsim.eval.env_suite import env_suite
    from worldsim.runtime.checkpoint import CheckpointError
    from worldsim.runtime.env_heads import load_env_heads

    if not model.metadata.get("action_space"):
        raise UserError(
            f"{checkpoint} is not conditioned on raw actions; suite=env evaluates models trained "
            "with `worldsim-train experiment=world_model_gym`"
        )
    path = config.store.path or model.metadata.get("config", {}).get("data", {}).get("store")
    if not path or not (Path(str(path)) / "manifest.json").is_file():
        raise UserError(
            f"store {path!r} (the one the model was trained on) is missing; pass "
            "store.path=<its folder>: its manifest says how the env was recorded"
        )
    store = EpisodeStore(str(path), verify=False)
    recorded = recorded_env_id(store)
    if recorded is None:
        raise UserError(f"store {path} was not recorded from a Gymnasium env (source=gym)")
    if config.env_id is not None and config.env_id != recorded:
        raise UserError(
            f"env_id={config.env_id} but the model's store was recorded from {recorded}; "
            f"pass env_id={recorded} or the store of {config.env_id}"
        )
    if not real_env_available(recorded):
        raise UserError(f"{recorded} cannot be made here; install it (e.g. gymnasium[box2d])")
    try:
        heads = load_env_heads(checkpoint, model.device)
        result, rollouts = env_suite(
            model,
            heads,
            store,
            config.env,
            config.seed,
            list(config.horizons),
            list(config.drift_edges),
        )
    except (CheckpointError, ValueError) as exc:
        raise UserError(str(exc)) from exc
    out = out_dir(config.out)
    write_env_report(out, result, rollouts)
    for key in result["psnr"]["model"]:
        model_value = result["psnr"]["model"][key]["mean"]
        repeat_value = result["psnr"]["repeat_last"][key]["mean"]
        gain = result["psnr"]["gain_over_repeat_last"][key]
        print(
            f"{key:<8} model {model_value:6.2f} dB   repeat-last {repeat_value:6.2f} dB   "
            f"gain {gain['mean']:+.2f} [{gain['low']:+.2f}, {gain['high']:+.2f}]"
        )
    score = result["action_following"]["score"]
    shown = "n/a" if score is None else f"{score['mean']:.3f}"
    print(f"action-following {shown}")
    print(f"metrics: {out / 'metrics.json'}")
    print(f"report:  {out / 'report.md'}")


def main() -> None:
    """Run ``worldsim-eval`` with ``conf/eval.yaml`` over the defaults of ``EvalConfig``."""
    store_defaults()
    run_hydra(task, "eval", HINTS)


if __name__ == "__main__":
    main()
