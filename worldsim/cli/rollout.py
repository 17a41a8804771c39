"""``worldsim-rollout``: batched scenario rollouts in the learned env, written as mp4, PNG and
CSV."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig
from tqdm import tqdm

from worldsim.cli._hydra import UserError, out_dir, run_hydra, torch_placement
from worldsim.utils.loading import Policy, load_callable


def make_policy(spec: str, constant: list[float], rng: np.random.Generator) -> Policy | None:
    """``None`` means scripted (from the scenario); otherwise a per-env callable."""
    if spec == "scripted":
        return None
    if spec == "random":
        return lambda obs, info: rng.uniform(-1.0, 1.0, 2).astype(np.float32)
    if spec == "constant":
        action = np.asarray(constant, dtype=np.float32)
        if action.shape != (2,):
            raise UserError(f"constant_action={list(constant)} must hold two numbers")
        return lambda obs, info: action
    if ":" in spec:
        try:
            return load_callable(spec, "policy")
        except ValueError as exc:
            raise UserError(str(exc)) from exc
    raise UserError(
        f"policy={spec!r} is unknown; use scripted, random, constant or module:callable"
    )


def task(cfg: DictConfig) -> None:
    from worldsim.env.learned import DrivingWorldVectorEnv, ModelCache
    from worldsim.env.scenarios import ScenarioError, load_scenario
    from worldsim.runtime.checkpoint import CheckpointError

    names = list(cfg.scenarios)
    if not names:
        raise UserError("scenarios=[] is empty; name at least one scenario")
    try:
        scenarios = [load_scenario(n) for n in names]
    except ScenarioError as exc:
        raise UserError(str(exc)) from exc
    rng = np.random.default_rng(int(cfg.seed))
    policy = make_policy(str(cfg.policy), list(cfg.constant_action), rng)
    if policy is None:
        missing = [s.name for s in scenarios if s.actions is None]
        if missing:
            raise UserError(
                f"policy=scripted but scenario(s) {missing} have no scripted actions; use "
                "policy=random, policy=constant or policy=module:callable"
            )
    groups: dict[tuple[str, int], list[int]] = {}
    for i, s in enumerate(scenarios):
        mode = cfg.action_mode or (
            s.actions.mode if policy is None and s.actions else "steer_accel"
        )
        frames = cfg.context_frames or s.context_frames
        groups.setdefault((mode, int(frames)), []).append(i)
    out = out_dir(cfg.out)
    torch_placement(cfg.device, cfg.dtype)
    written: list[Path] = []
    models = ModelCache()  # the groups share one set of networks
    checkpoint = None if cfg.checkpoint is None else str(cfg.checkpoint)
    for (mode, ctx_frames), members in groups.items():
        try:
            env = DrivingWorldVectorEnv(
                num_envs=len(members),
                checkpoint=checkpoint,
                scenario=[names[i] for i in members],
                action_mode=mode,
                sampling_steps=cfg.sampling_steps,
                guidance=dict(cfg.guidance),
                context_frames=ctx_frames,
                device=str(cfg.device),
                dtype=str(cfg.dtype),
                render_mode="rgb_array",
                model=models.get(checkpoint, str(cfg.device), str(cfg.dtype)),
            )
        except (CheckpointError, ValueError) as exc:
            raise UserError(str(exc)) from exc
        group = [scenarios[i] for i in members]
        written += run_group(env, group, policy, cfg, out)
    for path in written:
        print(f"wrote {path}")


def run_group(
    env: Any, scenarios: list[Any], policy: Policy | None, cfg: DictConfig, out: Path
) -> list[Path]:
    """Roll every env of the group to its horizon once; write its outputs."""
    from worldsim.data.video import write_video
    from worldsim.utils.png import write_png

    n = len(scenarios)
    horizons = [int(cfg.steps or s.horizon) for s in scenarios]
    obs, info = env.reset(
        seed=int(cfg.seed), options={"prompt": cfg.prompt} if cfg.prompt else None
    )
    frames: list[list[np.ndarray]] = [[env.core.frames[i].copy()] for i in range(n)]
    rows: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    done = np.zeros(n, dtype=bool)
    for t in tqdm(range(max(horizons)), disable=not cfg.progress, desc="rollout", unit="step"):
        actions = np.zeros((n, 2), np.float32)
        for i, s in enumerate(scenarios):
            if policy is None:
                actions[i] = s.actions.action_at(t)
            else:
                single_obs = (
                    obs[i] if not isinstance(obs, dict) else {k: v[i] for k, v in obs.items()}
                )
                actions[i] = np.asarray(policy(single_obs, {k: v[i] for k, v in info.items()}))
        obs, reward, terminated, truncated, info = env.step(actions)
        for i in range(n):
            if done[i] or t >= horizons[i]:
                continue
            frames[i].append(env.core.frames[i].copy())
            rows[i].append(
                {
                    "step": t + 1,
                    "action_0": float(actions[i, 0]),
                    "action_1": float(actions[i, 1]),
                    "speed": float(info["speed"][i]),
                    "yaw_rate": float(info["yaw_rate"][i]),
                    "x": float(info["x"][i]),
                    "y": float(info["y"][i]),
                    "heading": float(info["heading"][i]),
                    "reward": float(reward[i]),
                    "terminated": bool(terminated[i]),
                    "truncated": bool(truncated[i]),
                }
            )
            done[i] |= bool(terminated[i] or truncated[i]) or t + 1 >= horizons[i]
        if done.all():
            break
    written = []
    fps = 1.0 / env.core.model.dt
    for i, s in enumerate(scenarios):
        folder = out / s.name
        folder.mkdir(parents=True, exist_ok=True)
        video = np.stack(frames[i])
        write_video(folder / "rollout.mp4", video, fps=fps)
        picks = (
            np.linspace(0, len(video) - 1, min(int(cfg.sheet_frames), len(video)))
            .round()
            .astype(int)
        )
        write_png(folder / "contact_sheet.png", np.concatenate(list(video[picks]), axis=1))
        with open(folder / "steps.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[i][0]) if rows[i] else ["step"])
            writer.writeheader()
            writer.writerows(rows[i])
        (folder / "prompt.txt").write_text(env.core.prompt(i) + "\n")
        written += [folder / "rollout.mp4", folder / "contact_sheet.png", folder / "steps.csv"]
    return written


def main() -> None:
    run_hydra(
        task,
        "rollout",
        {
            "checkpoint": str | None,
            "action_mode": str | None,
            "prompt": str | None,
            "steps": (int | None, 1, None),
            "sampling_steps": (int | None, 1, None),
            "context_frames": (int | None, 1, None),
            "constant_action": list[float],
            "guidance": dict[str, float],
            "seed": (int, 0, None),
            "sheet_frames": (int, 1, None),
            "guidance.text": (float, 0.0, None),
            "guidance.action": (float, 0.0, None),
        },
    )


if __name__ == "__main__":
    main()
