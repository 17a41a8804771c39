"""How well a patch discriminator tells a model's predicted frames from the true ones.

Usage: python benchmarks/discriminator_probe.py [--checkpoint PATH] [--starts 30] [--steps 200]

Rolls the model out for 10 steps from ``--starts`` procedural starts of evaluation seed 5
(starts ``SeedSequence([5·100003 + i, 7919])``, disjoint from every store and from the
selection and evaluation starts), then trains a fresh ``PatchDiscriminator`` on three
quarters of the starts and reports its accuracy on the rest, for predictions made from true
frames (step 1) and after the model's own rollout (steps 2-10), with and without the frame
each prediction was made from beside it: what a discriminator can learn from each kind of
prediction (``diffusion.adversarial_weight``, docs/world-model.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

import worldsim
from worldsim.diffusion.adversarial import PatchDiscriminator, adversarial_losses
from worldsim.eval.ground_truth import make_start, roll_future
from worldsim.runtime.world_model import WorldModel
from worldsim.sim.camera import Camera

SEED = 5  # start seed: not the selection (2) or the reported evaluation (1) one
HORIZON = 10


def rollouts(model: WorldModel, starts: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents ``(S, 1 + H, C, h, w)`` of the generated and the true frames, the last context
    frame first in both."""
    camera, dt = Camera(), 0.1
    generated, truth = [], []
    for i in range(starts):
        start = make_start(SEED * 100_003 + i, (camera.height, camera.width), dt, 4, 20)
        future = roll_future(start, HORIZON)
        motion = future.motion_H2.astype(np.float32)[None]
        frames = model.rollout(start.context_THWC[None], motion, start.conditions.caption())[0]
        last = start.context_THWC[-1:]
        generated.append(model.encode(torch.from_numpy(np.concatenate([last, frames]))))
        truth.append(model.encode(torch.from_numpy(np.concatenate([last, future.frames_HHWC]))))
    return torch.stack(generated).float(), torch.stack(truth).float()


def probe(
    generated: torch.Tensor, truth: torch.Tensor, steps: slice, paired: bool, iters: int
) -> float:
    """Held-out accuracy of a discriminator trained on the first three quarters of starts."""
    split = max(1, generated.shape[0] * 3 // 4)

    def pairs(rows: slice) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        before = slice(steps.start - 1, steps.stop - 1)
        context = generated[rows, before].flatten(0, 1)  # what each prediction started from
        return context, truth[rows, steps].flatten(0, 1), generated[rows, steps].flatten(0, 1)

    (c_tr, r_tr, g_tr), (c_te, r_te, g_te) = pairs(slice(0, split)), pairs(slice(split, None))
    torch.manual_seed(0)
    disc = PatchDiscriminator(generated.shape[2] * (2 if paired else 1), 32)
    optimizer = torch.optim.AdamW(disc.parameters(), lr=1.2e-3, betas=(0.9, 0.99))
    for _ in range(iters):
        idx = torch.randint(0, g_tr.shape[0], (min(24, g_tr.shape[0]),))
        context = c_tr[idx] if paired else None
        d_loss, _ = adversarial_losses(disc, r_tr[idx], g_tr[idx], context)
        optimizer.zero_grad()
        d_loss.backward()
        optimizer.step()
    with torch.no_grad():
        real = torch.cat([c_te, r_te], 1) if paired else r_te
        fake = torch.cat([c_te, g_te], 1) if paired else g_te
        right = (disc(real).mean((1, 2, 3)) > 0).float().mean()
        right = right + (disc(fake).mean((1, 2, 3)) < 0).float().mean()
    return float(right) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="default: the bundled model")
    parser.add_argument("--starts", type=int, default=30)
    parser.add_argument("--steps", type=int, default=200, help="discriminator training steps")
    args = parser.parse_args()
    if args.starts < 4 or args.steps < 1:
        parser.error("--starts must be >= 4 and --steps >= 1")
    if args.checkpoint is not None and not Path(args.checkpoint).exists():
        parser.error(f"--checkpoint {args.checkpoint} does not exist")
    torch.manual_seed(0)
    generated, truth = rollouts(worldsim.load_world_model(args.checkpoint), args.starts)
    print(
        f"{args.starts} starts (seed {SEED}), {args.steps} discriminator steps; held-out accuracy"
    )
    print("predictions                        alone   beside the frame they start from")
    for name, steps in (
        ("from true frames (step 1)", slice(1, 2)),
        ("after a rollout (2-10)", slice(2, 11)),
    ):
        alone = probe(generated, truth, steps, False, args.steps)
        paired = probe(generated, truth, steps, True, args.steps)
        print(f"{name:34s} {alone:5.2f}   {paired:5.2f}")


if __name__ == "__main__":
    main()
