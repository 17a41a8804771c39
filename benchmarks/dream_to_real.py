"""Dream to real: PPO trained only inside the learned world, scored in the ground-truth world.

Four agents are scored on the same held-out seeds of ``worldsim/ProceduralDriving-v0`` (return,
distance driven, off-road rate, collision rate):
  1. PPO (stable-baselines3) trained only in ``worldsim/DrivingWorld-v0``, through the native
     vector env (one batched world-model pass per denoising step for all its envs);
  2. PPO trained in ``worldsim/ProceduralDriving-v0`` for the same number of env steps;
  3. a random policy;
  4. the scripted lane keeper of ``worldsim.sim.policies`` (it reads the simulator's state).

Both PPO agents see the same 64x112 camera frames and get the same reward function
(``progress_lane_comfort``) and termination (``collision_or_offroad``); in the dream both come
from the driving heads' predictions. Learning curves are scored in the real world at
checkpoints on the first ``--curve-seeds`` evaluation seeds. Prints one table, writes
``results.json`` and ``learning_curves.png`` to ``--out``.

Seeds: the dream starts are random frames of recorded drives of store seed 5 (``--dream-starts
procedural``: fresh worlds with seeds 500000 + i), the real agent's training worlds are drawn
from env seed 0 on, the evaluation worlds are env seeds 2000000 + i (tuning: 1000000 + i).

Usage:
  python benchmarks/dream_to_real.py [--steps 16384] [--ppo-seeds 0,1] [--seeds 20]
      [--horizon 150] [--checkpoint <bundle>] [--out outputs/dream_to_real]

Each PPO agent trains once per PPO seed (``--ppo-seeds``); its row pools the scoring worlds of
all its seeds, and the learning curve is their mean.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import yaml

import worldsim
from worldsim.env.sb3 import SB3VecEnv
from worldsim.sim.conditions import sample_conditions
from worldsim.sim.policies import lane_keeping_action

EVAL_SEED0 = 2_000_000
DREAM_NAME = "PPO in the dream (DrivingWorld-v0)"
REAL_NAME = "PPO in the real world (ProceduralDriving-v0)"
VAL_SEED0 = 1_000_000  # scoring seeds for choosing PPO's settings; nothing is reported on them
DREAM_STARTS = "store"
DREAM_HORIZON = 10  # chosen on the tuning seeds: 10 above 20 (2 PPO seeds), 50 and 150 worse
DREAM_STORE_SEED = 5  # the recorded drives the store starts come from
DREAM_STORE_EPISODES = 32
LOG_STD_INIT = -1.5  # std 0.22: unit-std noise makes every step pay jerk, so ending early pays
DREAM_SEED0 = 500_000
OBS_KEYS = {"image": None, "image_speed": ("image", "speed")}  # None: the camera frame alone
Policy = Callable[[Any, gym.Env], np.ndarray]  # (an observation of --obs, the env) -> action


def seed_list(text: str) -> list[int]:
    """``"0,1"`` -> ``[0, 1]``: distinct non-negative integers."""
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a list of distinct non-negative integers, e.g. 0,1"
        )
    return seeds


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--steps", type=int, default=16384, help="env steps per PPO agent and seed")
    p.add_argument(
        "--ppo-seeds",
        type=seed_list,
        default=[0, 1],
        help="PPO training seeds, comma-separated; each agent trains once per seed",
    )
    p.add_argument("--seeds", type=int, default=20, help="held-out evaluation worlds")
    p.add_argument("--horizon", type=int, default=150, help="steps per episode (train and eval)")
    p.add_argument("--checkpoint", default=None, help="world model (default: the bundled one)")
    p.add_argument("--dream-envs", type=int, default=16, help="batched learned-world envs")
    p.add_argument("--real-envs", type=int, default=8, help="procedural envs of the real PPO")
    p.add_argument("--starts", type=int, default=256, help="distinct dream start worlds")
    p.add_argument(
        "--dream-drives",
        type=int,
        default=DREAM_STORE_EPISODES,
        help="recorded drives (store seed 5) that the store starts are drawn from",
    )
    p.add_argument("--curve-points", type=int, default=3, help="learning-curve checkpoints")
    p.add_argument("--curve-seeds", type=int, default=5, help="seeds scored per checkpoint")
    p.add_argument("--rollout", type=int, default=1024, help="PPO env steps per update")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument(
        "--log-std-init",
        type=float,
        default=LOG_STD_INIT,
        help="PPO's initial log std of the action noise",
    )
    p.add_argument(
        "--eval-seed0",
        type=int,
        default=EVAL_SEED0,
        help=f"first scoring seed ({EVAL_SEED0}: held out; {VAL_SEED0}: for tuning)",
    )
    p.add_argument(
        "--dream-starts",
        choices=("store", "procedural"),
        default=DREAM_STARTS,
        help="store: random frames of recorded drives (store seed 5); procedural: fresh worlds",
    )
    p.add_argument(
        "--dream-horizon",
        type=int,
        default=DREAM_HORIZON,
        help="steps of a dream episode before it is truncated and restarted from a real start",
    )
    p.add_argument(
        "--obs",
        choices=tuple(OBS_KEYS),
        default="image",
        help="what both PPO agents observe: the camera frame, or the frame and the ego speed",
    )
    p.add_argument(
        "--agents",
        choices=("all", "real", "dream"),
        default="all",
        help="train both PPO agents, or only one (for tuning; baselines are always scored)",
    )
    p.add_argument("--out", type=Path, default=Path("outputs/dream_to_real"))
    args = p.parse_args()
    names = ("steps", "seeds", "horizon", "dream_envs", "real_envs", "starts", "dream_drives")
    for name in (*names, "curve_points", "dream_horizon", "rollout"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')}={getattr(args, name)} must be >= 1")
    if not 0 <= args.curve_seeds <= args.seeds:
        p.error(f"--curve-seeds={args.curve_seeds} must be in [0, --seeds={args.seeds}]")
    return args


# -- scoring in the real world ------------------------------------------------------------
def real_env(horizon: int, view: str) -> gym.Env:
    """``ProceduralDriving-v0`` observed as ``--obs`` says (``view``)."""
    keys = OBS_KEYS[view]
    if keys is None:
        return gym.make(worldsim.PROCEDURAL_ENV_ID, horizon=horizon)
    env = gym.make(worldsim.PROCEDURAL_ENV_ID, horizon=horizon, obs_mode="dict")
    return gym.wrappers.FilterObservation(env, list(keys))


def score(policy: Policy, seeds: list[int], horizon: int, view: str) -> dict[str, float]:
    """Mean return, distance (m along the road), off-road and collision rates over ``seeds``."""
    returns, distances, offroad, collision = [], [], [], []
    for seed in seeds:
        env = real_env(horizon, view)
        obs, info = env.reset(seed=seed)
        start_s, total, ended = info["s"], 0.0, False
        while not ended:
            obs, reward, terminated, truncated, info = env.step(policy(obs, env))
            total += float(reward)
            ended = terminated or truncated
        returns.append(total)
        distances.append(info["s"] - start_s)
        offroad.append(float(info["offroad"]))
        collision.append(float(info["collision"]))
        env.close()
    return {
        "return": float(np.mean(returns)),
        "return_std": float(np.std(returns)),
        "returns": [float(r) for r in returns],
        "distance": float(np.mean(distances)),
        "offroad_rate": float(np.mean(offroad)),
        "collision_rate": float(np.mean(collision)),
    }


def ppo_policy(model: Any) -> Policy:
    return lambda obs, env: model.predict(obs, deterministic=True)[0]


def random_policy(seed: int) -> Policy:
    rng = np.random.default_rng(seed)
    return lambda obs, env: rng.uniform(-1.0, 1.0, 2).astype(np.float32)


def lane_keeper_policy(obs: np.ndarray, env: gym.Env) -> np.ndarray:
    world = env.unwrapped.world
    target_d = float(world.road.lane_center(world.road.lane_of(world.state.d)))
    return lane_keeping_action(world, target_d, 14.0).astype(np.float32)


# -- training -----------------------------------------------------------------------------
def store_scenarios(
    folder: Path, count: int, horizon: int, drives: int, context: int = 4
) -> list[str]:
    """``count`` start scenarios at random frames of ``drives`` recorded drives (a store of
    store seed DREAM_STORE_SEED, written on first use)."""
    from worldsim.data.store import EpisodeStore

    store_dir = folder / ("store" if drives == DREAM_STORE_EPISODES else f"store_{drives}")
    if not (store_dir / "manifest.json").exists():
        data_cli = Path(sys.executable).with_name("worldsim-data")
        subprocess.run(
            [
                str(data_cli),
                f"out={store_dir}",
                f"episodes={drives}",
                "frames=80",
                f"seed={DREAM_STORE_SEED}",
                "progress=false",
            ],
            check=True,
        )
    store = EpisodeStore(str(store_dir))
    keys = store.keys()
    rng = np.random.default_rng(DREAM_STORE_SEED)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        key = keys[int(rng.integers(len(keys)))]
        frame = int(rng.integers(0, store.num_frames(key) - context + 1))
        spec = {
            "name": f"dream_store_start_{i:03d}",
            "start": {"type": "dataset", "store": str(store_dir), "episode": key, "frame": frame},
            "horizon": horizon,
            "context_frames": context,
        }
        path = folder / f"dream_store_start_{i:03d}.yaml"
        path.write_text(yaml.safe_dump(spec), encoding="utf-8")
        paths.append(str(path))
    return paths


def dream_scenarios(folder: Path, count: int, horizon: int) -> list[str]:
    """``count`` procedural start scenarios (random conditions, seeds DREAM_SEED0 + i)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        rng = np.random.default_rng(DREAM_SEED0 + i)
        conditions = sample_conditions(rng).to_dict()
        spec = {
            "name": f"dream_start_{i:03d}",
            "start": {
                "type": "procedural",
                "seed": DREAM_SEED0 + i,
                "conditions": conditions,
                "warmup_steps": 10,
            },
            "horizon": horizon,
            "context_frames": 4,
        }
        path = folder / f"dream_start_{i:03d}.yaml"
        path.write_text(yaml.safe_dump(spec), encoding="utf-8")
        paths.append(str(path))
    return paths


def ppo(env: Any, seed: int, log_std_init: float, rollout: int) -> Any:
    from stable_baselines3 import PPO

    n_steps = max(1, rollout // env.num_envs)
    policy = (
        "MultiInputPolicy" if isinstance(env.observation_space, gym.spaces.Dict) else "CnnPolicy"
    )
    return PPO(
        policy,
        env,
        n_steps=n_steps,
        batch_size=min(256, n_steps * env.num_envs),
        n_epochs=4,
        learning_rate=3e-4,
        gamma=0.97,
        ent_coef=0.01,
        policy_kwargs={"log_std_init": log_std_init},
        seed=seed,
        device="cpu",
        verbose=0,
    )


def train_with_curve(
    model: Any, args: argparse.Namespace, curve_seeds: list[int], name: str
) -> tuple[list[dict[str, float]], float]:
    """Learn ``args.steps`` env steps in ``args.curve_points`` chunks, scoring each checkpoint
    in the real world; returns the curve and the training seconds (scoring excluded)."""
    curve, train_s = [], 0.0
    for k in range(1, args.curve_points + 1):
        target = round(args.steps * k / args.curve_points)
        start = time.perf_counter()
        model.learn(target - model.num_timesteps, reset_num_timesteps=False)
        train_s += time.perf_counter() - start
        if curve_seeds:
            row = score(ppo_policy(model), curve_seeds, args.horizon, args.obs)
            curve.append({"steps": int(model.num_timesteps), **row})
            print(f"{name}: {model.num_timesteps} steps, real return {row['return']:.2f}")
    return curve, train_s


def dream_agent(
    args: argparse.Namespace, curve_seeds: list[int], seed: int
) -> tuple[Any, list, float]:
    folder = args.out / "dream_starts"
    if args.dream_starts == "store":
        starts = store_scenarios(folder, args.starts, args.dream_horizon, args.dream_drives)
    else:
        starts = dream_scenarios(folder, args.starts, args.dream_horizon)
    rng = np.random.default_rng(seed)
    keys = OBS_KEYS[args.obs]
    vec = gym.make_vec(
        worldsim.LEARNED_ENV_ID,
        num_envs=args.dream_envs,
        vectorization_mode="vector_entry_point",
        checkpoint=args.checkpoint,
        scenario=[starts[i % len(starts)] for i in range(args.dream_envs)],
        horizon=args.dream_horizon,
        obs_mode="rgb" if keys is None else "dict",
    )
    if keys is not None:
        vec = gym.wrappers.vector.FilterObservation(vec, list(keys))

    def fresh_starts(rows: np.ndarray) -> dict[str, Any]:
        return {"scenario": [starts[int(j)] for j in rng.integers(0, len(starts), len(rows))]}

    env = SB3VecEnv(vec, reset_options=fresh_starts)
    env.seed(seed * args.dream_envs)
    model = ppo(env, seed=seed, log_std_init=args.log_std_init, rollout=args.rollout)
    curve, seconds = train_with_curve(model, args, curve_seeds, f"dream PPO, seed {seed}")
    env.close()
    return model, curve, seconds


def real_agent(
    args: argparse.Namespace, curve_seeds: list[int], seed: int
) -> tuple[Any, list, float]:
    from stable_baselines3.common.vec_env import DummyVecEnv

    def make_env() -> gym.Env:
        return real_env(args.horizon, args.obs)

    env = DummyVecEnv([make_env] * args.real_envs)
    env.seed(seed * args.real_envs)  # the first training worlds of two seeds differ
    model = ppo(env, seed=seed, log_std_init=args.log_std_init, rollout=args.rollout)
    curve, seconds = train_with_curve(model, args, curve_seeds, f"real PPO, seed {seed}")
    env.close()
    return model, curve, seconds


# -- report -------------------------------------------------------------------------------
def pooled(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One agent's scores over several PPO seeds: every scoring world of every seed, pooled."""
    returns = [r for row in rows for r in row["returns"]]
    out: dict[str, Any] = {
        key: float(np.mean([row[key] for row in rows]))
        for key in ("distance", "offroad_rate", "collision_rate")
    }
    out.update(
        {
            "return": float(np.mean(returns)),
            "return_std": float(np.std(returns)),
            "returns": returns,
            "seed_returns": [row["return"] for row in rows],
        }
    )
    return out


def mean_curve(curves: list[list[dict[str, Any]]]) -> list[dict[str, float]]:
    """The learning curve averaged over PPO seeds, checkpoint by checkpoint."""
    return [
        {"steps": points[0]["steps"], "return": float(np.mean([p["return"] for p in points]))}
        for points in zip(*curves, strict=True)
    ]


def table(results: dict[str, dict[str, Any]]) -> str:
    header = "| agent | return | per PPO seed | distance (m) | off-road rate | collision rate |"
    lines = [header, "|---|---|---|---|---|---|"]
    for name, r in results.items():
        seeds = ", ".join(f"{x:.2f}" for x in r.get("seed_returns", [])) or "-"
        lines.append(
            f"| {name} | {r['return']:.2f} ± {r['return_std']:.2f} | {seeds} | "
            f"{r['distance']:.1f} | {r['offroad_rate']:.2f} | {r['collision_rate']:.2f} |"
        )
    return "\n".join(lines)


def plot(
    curves: dict[str, list[dict[str, float]]], baselines: dict[str, float], path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, curve in curves.items():
        if curve:
            ax.plot([c["steps"] for c in curve], [c["return"] for c in curve], "o-", label=name)
    for (name, value), color in zip(baselines.items(), ("tab:red", "tab:green"), strict=False):
        ax.axhline(value, linestyle="--", linewidth=1, label=name, color=color)
    ax.set_xlabel("env steps of training")
    ax.set_ylabel("return in ProceduralDriving-v0")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    seeds = [args.eval_seed0 + i for i in range(args.seeds)]
    curve_seeds = seeds[: args.curve_seeds]
    wall = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    curves: dict[str, list[dict[str, float]]] = {}
    seed_curves: dict[str, list[list[dict[str, float]]]] = {}
    steps: dict[str, int] = {}
    seconds: dict[str, float] = {}
    for key, name, train in (
        ("dream", DREAM_NAME, dream_agent),
        ("real", REAL_NAME, real_agent),
    ):
        if args.agents not in ("all", key):
            continue
        rows, seed_curves[key], seconds[key] = [], [], 0.0
        for ppo_seed in args.ppo_seeds:
            model, curve, train_s = train(args, curve_seeds, ppo_seed)
            rows.append(score(ppo_policy(model), seeds, args.horizon, args.obs))
            seed_curves[key].append(curve)
            seconds[key] += train_s
            steps[key] = int(model.num_timesteps)
            print(f"{name}, PPO seed {ppo_seed}: return {rows[-1]['return']:.2f}", flush=True)
        results[name] = pooled(rows)
        curves[key] = mean_curve(seed_curves[key])
    results["random"] = score(random_policy(0), seeds, args.horizon, args.obs)
    results["scripted lane keeper"] = score(lane_keeper_policy, seeds, args.horizon, args.obs)
    random_r = results["random"]["return"]
    dream_r = results[DREAM_NAME]["return"] if DREAM_NAME in results else float("nan")
    real_r = results[REAL_NAME]["return"] if REAL_NAME in results else float("nan")
    ratio = (dream_r - random_r) / (real_r - random_r) if real_r != random_r else float("nan")
    over_real = dream_r / real_r if real_r else float("nan")
    wall_s = time.perf_counter() - wall
    print(table(results))
    print(f"dream / real return: {over_real:.2f}; above random, dream / real: {ratio:.2f}")
    print(
        f"env steps per PPO seed {steps} (--steps {args.steps} rounded up to whole rollouts), "
        f"PPO seeds {args.ppo_seeds}; training "
        f"seconds { ({k: round(v) for k, v in seconds.items()}) }, {wall_s:.0f} s wall in all"
    )
    record = {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "eval_seeds": seeds,
        "results": results,
        "dream_over_real_return": None if np.isnan(over_real) else over_real,
        "dream_over_real_above_random": None if np.isnan(ratio) else ratio,
        "env_steps": steps,
        "curves": curves,
        "curves_per_seed": seed_curves,
        "seconds": {**{f"{k}_training": v for k, v in seconds.items()}, "wall": wall_s},
    }
    (args.out / "results.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    plot(
        {"PPO in the " + ("dream" if k == "dream" else "real world"): c for k, c in curves.items()},
        {"random": random_r, "lane keeper": results["scripted lane keeper"]["return"]},
        args.out / "learning_curves.png",
    )
    print(f"wrote {args.out / 'results.json'} and {args.out / 'learning_curves.png'}")


if __name__ == "__main__":
    main()
