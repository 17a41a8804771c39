"""``LearnedCopy``: N rollouts of a world model trained on a recorded Gymnasium env, stepped in
one batched forward pass per denoising step, with rewards and episode ends from its heads."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldsim.data.action_codec import encode_actions, space_from_dict
from worldsim.data.store import EpisodeStore
from worldsim.env.learned.model_cache import load_model
from worldsim.env.learned_copy import outcome as outcomes
from worldsim.env.learned_copy.options import LearnedCopyOptions
from worldsim.env.learned_copy.outcome import Outcome
from worldsim.env.learned_copy.starts import Start, StoreStarts
from worldsim.models.env_heads import EnvHeads
from worldsim.runtime.world_model import WorldModel

DEFAULT_CONTEXT = 4
RENDER_MODES: tuple[str, ...] = ("rgb_array",)


class LearnedCopy:
    """The batched state of N learned-copy rollouts: frames, latents, steps, predictions."""

    def __init__(
        self,
        num: int,
        options: LearnedCopyOptions,
        model: WorldModel | None = None,
        heads: EnvHeads | None = None,
    ) -> None:
        """``model``/``heads``: already-loaded networks to share; None loads the checkpoint."""
        if model is None:
            if options.checkpoint is None:
                raise ValueError(
                    "worldsim/LearnedEnv-v0 needs checkpoint=<world model trained with "
                    "data.condition=actions>, e.g. from `worldsim-train experiment=world_model_gym`"
                )
            model = load_model(options.checkpoint, options.device, options.dtype)
            if heads is None:
                from worldsim.runtime.env_heads import load_env_heads

                heads = load_env_heads(options.checkpoint, model.device)
        space = model.metadata.get("action_space")
        if not space:
            raise ValueError(
                f"checkpoint {model.metadata.get('checkpoint')} was not trained on raw actions "
                "(data.condition=actions); use worldsim/DrivingWorld-v0 for driving models"
            )
        overrides = dict(options.sampling or {})
        if options.sampling_steps is not None:
            overrides["steps"] = options.sampling_steps
        self.model = model.with_sampling(**overrides)
        self.heads = heads
        self.num = num
        self.options = options
        self.space_dict: dict[str, Any] = dict(space)
        self.action_space = space_from_dict(self.space_dict)
        self.resolution = self.model.resolution
        self.context = options.context_frames or min(DEFAULT_CONTEXT, self.model.context_window)
        self.store = self._open_store()
        self.store_starts = StoreStarts(self.store, self.context)
        self.env_id = self._env_id()
        self.reward_fn = _resolve(options.reward_fn, "reward")
        self.termination_fn = _resolve(options.termination_fn, "termination")
        self.frames = np.zeros((num, *self.resolution, 3), np.uint8)
        self.latents: torch.Tensor | None = None  # (N, C, h, w) of the last frames
        self.steps = np.zeros(num, dtype=np.int64)
        self.reward = np.full(num, np.nan)
        self.terminated_prob = np.full(num, np.nan)
        self.origins = [""] * num
        self.started = False

    def _open_store(self) -> EpisodeStore:
        path = self.options.store
        if path is None:
            path = (self.model.metadata.get("config") or {}).get("data", {}).get("store")
        if not path or not (Path(path) / "manifest.json").is_file():
            raise ValueError(
                f"store={path!r} is not an episode store; pass store=<the store the model was "
                "trained on> (its held-out episodes give the starting frames)"
            )
        store = EpisodeStore(path, verify=False)
        if tuple(store.resolution) != tuple(self.resolution):
            raise ValueError(
                f"store {path} holds {tuple(store.resolution)} frames, the model makes "
                f"{tuple(self.resolution)}; pass the store it was trained on"
            )
        return store

    def _env_id(self) -> str | None:
        """The real env to start from, or None to start from the store."""
        if self.options.start == "store":
            return None
        from worldsim.env.learned_copy.env_starts import real_env_available, recorded_env_id

        env_id = recorded_env_id(self.store)
        if env_id is not None and real_env_available(env_id):
            return env_id
        if self.options.start == "env":
            raise ValueError(
                f"start='env' but the store's env {env_id!r} cannot be made here; install it "
                "or use start='store'"
            )
        return None

    # -- actions ----------------------------------------------------------------------------
    def encode(self, actions: Any) -> np.ndarray:
        """Raw actions of the recorded space ``(N, ...)`` -> encoded ``(N, A)``, checked."""
        from worldsim.env.learned_copy.actions import check_actions

        raw = check_actions(actions, self.action_space, self.num)
        return encode_actions(raw, self.space_dict)

    # -- rollouts ---------------------------------------------------------------------------
    def sample_start(self, rng: np.random.Generator) -> Start:
        if self.env_id is None:
            return self.store_starts.sample(rng)
        from worldsim.env.learned_copy.env_starts import env_start

        seed = int(rng.integers(0, 2**31 - 1))
        return env_start(self.store, seed, self.context)

    def reset(self, rows: np.ndarray, rng: np.random.Generator, generator: torch.Generator) -> None:
        """Start the rows of the bool mask ``rows`` from fresh real contexts."""
        idx = np.flatnonzero(rows)
        starts = [self.sample_start(rng) for _ in idx]
        frames = np.stack([s.frames_THWC for s in starts])
        past = np.stack([s.past_actions_TA for s in starts])
        prompts = [s.prompt for s in starts]
        for j, i in enumerate(idx):
            self.frames[i] = starts[j].frames_THWC[-1]
            self.origins[i] = starts[j].origin
        self.steps[idx] = 0
        self.reward[idx] = np.nan
        self.terminated_prob[idx] = np.nan
        if not self.started or rows.all():
            if not rows.all():
                raise RuntimeError("the first reset must start every env")
            self.model.reset(frames, prompts, past, generator)
            self.started = True
        else:
            self.model.reset_rows(rows, frames, prompts, past, generator)
        self.latents = self.model.encode(torch.from_numpy(self.frames))

    @torch.no_grad()
    def step(
        self, encoded_NA: np.ndarray, generator: torch.Generator, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Advance the rows of ``rows``; returns rewards, terminated and truncated ``(N,)``."""
        assert self.latents is not None, "reset() first"
        frames = self.model.step(encoded_NA, generator=generator, rows=rows)
        latents = self.model.encode(torch.from_numpy(frames))
        if self.heads is not None:
            param = next(self.heads.parameters())
            pred = self.heads(
                self.latents.to(param.device, param.dtype),
                latents.to(param.device, param.dtype),
                torch.as_tensor(encoded_NA, dtype=param.dtype, device=param.device),
            )
            reward = pred.reward_B.float().cpu().numpy()
            prob = torch.sigmoid(pred.terminated_logit_B.float()).cpu().numpy()
        else:
            reward = prob = np.full(self.num, np.nan)
        self.frames[rows] = frames[rows]
        self.latents[torch.from_numpy(rows)] = latents[torch.from_numpy(rows)]
        self.steps[rows] += 1
        self.reward[rows] = reward[rows]
        self.terminated_prob[rows] = prob[rows]
        rewards = np.zeros(self.num)
        terminated = np.zeros(self.num, dtype=bool)
        threshold = float(self.options.termination_threshold)
        for i in np.flatnonzero(rows):
            out = Outcome(float(reward[i]), float(prob[i]), int(self.steps[i]), threshold)
            rewards[i] = float(self.reward_fn(out))
            terminated[i] = bool(self.termination_fn(out))
        truncated = rows & ~terminated & (self.steps >= int(self.options.horizon))
        return rewards, terminated, truncated

    def info(self, i: int) -> dict[str, Any]:
        """Row ``i``'s step, predicted signals and start."""
        return {
            "step": int(self.steps[i]),
            "predicted_reward": float(self.reward[i]),
            "terminated_prob": float(self.terminated_prob[i]),
            "start": self.origins[i],
        }


def _resolve(fn: Any, kind: str) -> Any:
    """A reward or termination function from its name or the callable itself."""
    if callable(fn):
        return fn
    table: Mapping[str, Any] = (
        {"heads": outcomes.heads_reward, "zero": outcomes.zero_reward}
        if kind == "reward"
        else {"heads": outcomes.heads_termination, "never": outcomes.never}
    )
    return table[fn]
