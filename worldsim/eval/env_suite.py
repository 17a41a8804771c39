"""``worldsim-eval suite=env``: the learned copy of a recorded Gymnasium env against the real
env, under the same action sequences from the same real starts.

Each start is the real env reset with an evaluation seed and driven by the store's own
recording policy for ``context_frames + horizon`` frames (``record_real``); the first
``context_frames`` frames are the context, the rest is the truth the model must reproduce under
the actions that produced it. Evaluation seeds (``EVAL_SEED_BASE`` onward) never overlap the
recording's seeds, which the manifest keeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from einops import rearrange

from worldsim.data.action_codec import encode_actions
from worldsim.data.store import EpisodeStore
from worldsim.env.learned_copy.env_starts import record_real, recorded_settings
from worldsim.eval.config import EnvSuiteConfig
from worldsim.eval.intervals import mean_with_interval
from worldsim.eval.metrics import frechet_distance, horizon_buckets
from worldsim.eval.quality import generate
from worldsim.models.env_heads import EnvHeads
from worldsim.runtime.world_model import WorldModel
from worldsim.utils.psnr import psnr_frames

EVAL_SEED_BASE = 1_000_000  # eval seed i of run seed s: EVAL_SEED_BASE + 1000 * s + 50 * i


@dataclass
class EnvRollouts:
    """Real starts, their futures, and what the model made of them."""

    context_RTHWC: np.ndarray
    truth_RNHWC: np.ndarray
    actions_RNA: np.ndarray  # encoded actions leading to each future frame
    raw_actions_RN: np.ndarray  # the raw actions, (R, N, ...) as recorded
    generated_RNHWC: np.ndarray
    swapped_RNHWC: np.ndarray  # from the same start, under the next row's actions
    seeds: list[int] = field(default_factory=list)


def eval_seeds(store: EpisodeStore, run_seed: int, count: int) -> list[int]:
    """First seeds of the ``count`` evaluation starts; refuses any overlap with recording."""
    settings = recorded_settings(store) or {}
    first = EVAL_SEED_BASE + 1000 * int(run_seed)
    seeds = [first + 50 * i for i in range(count)]
    low = int(settings.get("seed", 0))
    high = low + len(store.keys()) + 50
    if any(low <= s < high for s in seeds):
        raise ValueError(
            f"evaluation seeds {seeds[0]}..{seeds[-1]} overlap the recording's seeds {low}.."
            f"{high}; use another seed"
        )
    return seeds


def roll_out(
    model: WorldModel, store: EpisodeStore, cfg: EnvSuiteConfig, run_seed: int
) -> EnvRollouts:
    """Record the real starts and futures, and roll the model out under the same actions."""
    k, n = cfg.context_frames, cfg.horizon
    space = store.action_space
    assert space is not None
    recorded = [record_real(store, s, k + n) for s in eval_seeds(store, run_seed, cfg.starts)]
    episodes = [episode for episode, _ in recorded]
    frames = np.stack([e.frames_THWC[: k + n] for e in episodes])
    raw = np.stack([np.asarray(e.actions_TA)[: k + n] for e in episodes])
    encoded = np.stack([encode_actions(r, space) for r in raw])  # (R, k + n, A)
    context, truth = frames[:, :k], frames[:, k:]
    past, future = encoded[:, : k - 1], encoded[:, k - 1 : k - 1 + n]
    prompts = [e.caption for e in episodes]
    generator = torch.Generator(device=model.device).manual_seed(int(run_seed))
    generated = generate(model, context, past, future, prompts, generator)
    swapped = generate(model, context, past, np.roll(future, -1, axis=0), prompts, generator)
    return EnvRollouts(
        context,
        truth,
        future,
        raw[:, k - 1 : k - 1 + n],
        generated,
        swapped,
        [seed for _, seed in recorded],
    )


def _pair_features(heads: EnvHeads, model: WorldModel, frames_RTHWC: np.ndarray) -> torch.Tensor:
    """Heads features ``(R * (T-1), F)`` of every consecutive pair of frames, row-major."""
    r, t = frames_RTHWC.shape[:2]
    with torch.no_grad():
        flat = rearrange(torch.from_numpy(frames_RTHWC), "r t h w c -> (r t) h w c")
        param = next(heads.parameters())
        z = rearrange(model.encode(flat), "(r t) c h w -> r t c h w", r=r)
        z = z.to(param.device, param.dtype)
        return heads.features(
            rearrange(z[:, :-1], "r t c h w -> (r t) c h w"),
            rearrange(z[:, 1:], "r t c h w -> (r t) c h w"),
        )


def pair_features(heads: EnvHeads, model: WorldModel, frames_RTHWC: np.ndarray) -> np.ndarray:
    """Heads features ``(R, T-1, F)`` (float64) of every consecutive pair of frames."""
    r, t = frames_RTHWC.shape[:2]
    f = _pair_features(heads, model, frames_RTHWC)
    return f.double().cpu().numpy().reshape(r, t - 1, -1)


def idm_confusion(
    heads: EnvHeads, model: WorldModel, frames_RTHWC: np.ndarray, actions_RN: np.ndarray, n: int
) -> dict[str, Any]:
    """Discrete: counts ``[commanded][predicted]`` of the heads' IDM on every transition."""
    t = frames_RTHWC.shape[1]
    with torch.no_grad():
        logits = heads.idm(_pair_features(heads, model, frames_RTHWC))
    predicted = logits.argmax(dim=1).cpu().numpy()
    commanded = actions_RN[:, : t - 1].reshape(-1)
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (commanded, predicted), 1)
    accuracy = float(np.trace(matrix) / max(matrix.sum(), 1))
    return {"matrix": matrix.tolist(), "accuracy": accuracy}


def env_suite(
    model: WorldModel,
    heads: EnvHeads | None,
    store: EpisodeStore,
    cfg: EnvSuiteConfig,
    run_seed: int,
    horizons: list[int],
    edges: list[int],
) -> tuple[dict[str, Any], EnvRollouts]:
    """The env suite's metrics (``metrics.json``'s ``quality``) and the rollouts behind them."""
    ro = roll_out(model, store, cfg, run_seed)
    steps = ro.truth_RNHWC.shape[1]
    repeat = np.broadcast_to(ro.context_RTHWC[:, -1:], ro.truth_RNHWC.shape)
    curves = {
        "model": psnr_frames(ro.generated_RNHWC, ro.truth_RNHWC),  # (R, N)
        "repeat_last": psnr_frames(np.ascontiguousarray(repeat), ro.truth_RNHWC),
    }
    at = [h for h in horizons if 1 <= h <= steps]
    psnr = {
        name: {f"psnr@{h}": mean_with_interval(c[:, h - 1]) for h in at}
        for name, c in curves.items()
    }
    gain = curves["model"] - curves["repeat_last"]  # paired per start: (R, N)
    psnr["gain_over_repeat_last"] = {f"psnr@{h}": mean_with_interval(gain[:, h - 1]) for h in at}
    truth = ro.truth_RNHWC.astype(np.float32)
    own = ((ro.generated_RNHWC.astype(np.float32) - truth) ** 2).mean(axis=(1, 2, 3, 4))
    other = ((ro.swapped_RNHWC.astype(np.float32) - truth) ** 2).mean(axis=(1, 2, 3, 4))
    distinct = ~np.all(np.isclose(ro.actions_RNA, np.roll(ro.actions_RNA, -1, axis=0)), (1, 2))
    hits = (own < other)[distinct].astype(np.float64)
    following = mean_with_interval(hits) if hits.size else None
    result: dict[str, Any] = {
        "suite": "env",
        "env_id": (recorded_settings(store) or {}).get("env_id"),
        "starts": int(ro.truth_RNHWC.shape[0]),
        "context_frames": cfg.context_frames,
        "horizon": steps,
        "eval_seeds": ro.seeds,
        "psnr": psnr,
        "psnr_curves": {name: [float(v) for v in c.mean(0)] for name, c in curves.items()},
        "action_following": {"score": following, "rollouts": int(hits.size)},
        "frechet": None,
        "idm_confusion": None,
    }
    if heads is not None:
        last = ro.context_RTHWC[:, -1:]
        real = pair_features(heads, model, np.concatenate([last, ro.truth_RNHWC], 1))
        fake = pair_features(heads, model, np.concatenate([last, ro.generated_RNHWC], 1))
        stay = pair_features(heads, model, np.concatenate([last, np.ascontiguousarray(repeat)], 1))
        buckets = []
        for first, end in horizon_buckets(steps, edges):
            part = slice(first - 1, end)
            flat = [x[:, part].reshape(-1, x.shape[-1]) for x in (real, fake, stay)]
            buckets.append(
                {
                    "steps": [first, end],
                    "model": frechet_distance(flat[1], flat[0]),
                    "repeat_last": frechet_distance(flat[2], flat[0]),
                }
            )
        result["frechet"] = buckets
        space = store.action_space or {}
        if space.get("type") == "Discrete":
            n = int(space["n"])
            commanded = ro.raw_actions_RN.reshape(len(ro.raw_actions_RN), -1).astype(np.int64)
            commanded = commanded - int(space.get("start", 0))
            result["idm_confusion"] = {
                "model": idm_confusion(
                    heads, model, np.concatenate([last, ro.generated_RNHWC], 1), commanded, n
                ),
                "real": idm_confusion(
                    heads, model, np.concatenate([last, ro.truth_RNHWC], 1), commanded, n
                ),
            }
    return result, ro
