"""Accuracy of the driving-signal heads on held-out ground-truth frames and on generated ones.

Held-out drives come from the procedural source at a store seed nothing trained on (``--seed``,
default 4), driven by the same data policy as the heads' training store (tailgating and
exploring included). The heads read each window of real frames; then the world model continues
the first ``--context`` frames of each drive under its recorded ego motion for ``--horizon``
steps, and the heads read the generated windows against the labels of the true frames at the
same time. Each figure is printed beside a constant prediction's.

Usage:
  python benchmarks/driving_heads.py [--heads <ckpt or bundle>] [--checkpoint <bundle>]
      [--episodes 16] [--frames 120] [--seed 4] [--context 4] [--horizon 10]
  python benchmarks/driving_heads.py --heads <ckpt> --val-stores <store> [<store> ...]
      (only the windows of each store's val split, e.g. a store and its world-model replays,
      for choosing heads without the held-out drives)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from worldsim.data.signals import signal_accuracy
from worldsim.data.sources.procedural import ProceduralSource
from worldsim.models.heads import SIGNALS
from worldsim.runtime.checkpoint import load_world_model
from worldsim.runtime.driving_heads import load_driving_heads
from worldsim.training.dreamed import replay

CONF = Path(__file__).resolve().parent.parent / "conf" / "data" / "procedural_signals.yaml"
TARGETS = {
    "lane_offset_mae": "<= 0.3 m",
    "heading_error_mae": "<= 0.05 rad",
    "offroad_auroc": ">= 0.95",
    "collision_auroc": ">= 0.95",
}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--heads", default=None, help="driving heads (default: the bundled ones)")
    p.add_argument("--checkpoint", default=None, help="world model (default: the bundled one)")
    p.add_argument("--episodes", type=int, default=16)
    p.add_argument("--frames", type=int, default=120, help="frames per held-out drive")
    p.add_argument("--seed", type=int, default=4, help="store seed of the held-out drives")
    p.add_argument("--context", type=int, default=4, help="real frames before generating")
    p.add_argument("--horizon", type=int, default=10, help="generated frames per drive")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("outputs/driving_heads_eval"))
    p.add_argument("--val-stores", type=Path, nargs="+", default=None, help="score val splits only")
    args = p.parse_args()
    if args.context < 2 or args.horizon < 1 or args.context + args.horizon > args.frames:
        p.error("need --context >= 2, --horizon >= 1 and --context + --horizon <= --frames")
    for name in ("checkpoint", "heads"):
        path = getattr(args, name)
        if path is not None and not Path(path).exists():
            p.error(f"--{name} {path} does not exist")
    return args


def held_out_drives(args: argparse.Namespace) -> list:
    """Episodes of the training store's source settings at another seed."""
    extra = OmegaConf.to_container(OmegaConf.load(CONF).generate.source, resolve=True)
    source = ProceduralSource(episodes=args.episodes, frames=args.frames, seed=args.seed, **extra)  # type: ignore[arg-type]
    return [source.load(key) for key in source.keys()]


def signals_of(episode) -> np.ndarray:  # noqa: ANN001 - an Episode
    fields = list(episode.ego_state_fields)
    return episode.ego_state_TK[:, [fields.index(n) for n in SIGNALS]].astype(np.float64)


def windows(frames_THWC: np.ndarray, k: int) -> np.ndarray:
    """The window of ``k`` frames ending on each frame, ``(T, k, H, W, 3)``; before frame
    ``k - 1`` the first frame is repeated, as the learned env fills a window from a short
    context (so every ``k`` is scored on the same frames)."""
    t = np.arange(len(frames_THWC))
    pick = np.clip(t[:, None] + np.arange(-k + 1, 1)[None, :], 0, None)  # (T, k)
    return frames_THWC[pick]


def generate(model, episodes: list, context: int, horizon: int) -> np.ndarray:  # noqa: ANN001
    """Generated frames ``(B, context + horizon, H, W, 3)``: the real context, then the world
    model under each drive's recorded ego motion."""
    length = context + horizon
    return replay(
        model,
        np.stack([e.frames_THWC[:context] for e in episodes]),
        [e.caption for e in episodes],
        np.stack([e.ego_motion_T2[:length] for e in episodes]),
        torch.Generator().manual_seed(0),
    )


def table(real: dict[str, float], gen: dict[str, float]) -> str:
    lines = [
        "| measure | target | heads, real frames | constant, real | heads, generated | "
        "constant, generated |",
        "|---|---|---|---|---|---|",
    ]
    names = [
        "lane_offset_mae",
        "lane_offset_mae_all",
        "heading_error_mae",
        "heading_error_mae_all",
        "offroad_auroc",
        "collision_auroc",
        "lead_auroc",
        "lead_gap_mae",
    ]
    for name in names:
        const = f"{name}_constant"
        default = "0.500" if name.endswith("auroc") else "-"

        def cell(d: dict[str, float], key: str, fallback: str = "-") -> str:
            v = d.get(key)
            return fallback if v is None or not np.isfinite(v) else f"{v:.3f}"

        lines.append(
            f"| {name} | {TARGETS.get(name, '')} | {cell(real, name)} | "
            f"{cell(real, const, default)} | {cell(gen, name)} | {cell(gen, const, default)} |"
        )
    for name in ("frames", "onroad_frames", "offroad_positives", "collision_positives"):
        lines.append(f"| {name} | | {real.get(name, 0):.0f} | | {gen.get(name, 0):.0f} | |")
    return "\n".join(lines)


def score_val_splits(heads, stores: list[Path]) -> None:  # noqa: ANN001 - DrivingHeads
    """One line per store: the heads on every window of its val split."""
    from worldsim.data.signals import SignalWindows

    k = heads.config.frames
    for store in stores:
        if not (store / "manifest.json").is_file():
            raise SystemExit(f"--val-stores: {store} is not an episode store (no manifest.json)")
        data = SignalWindows(store, "val", k)
        if len(data) == 0:
            raise SystemExit(f"--val-stores: {store} has no val windows of {k} frames")
        windows_NK = np.stack([data[i]["frames"].numpy() for i in range(len(data))])
        acc = signal_accuracy(
            heads.predict(windows_NK),
            data.all_signals().astype(np.float64),
            heads.config.lead_gap_max,
        )
        print(
            f"{store} (val, {len(data)} windows): lane offset MAE {acc['lane_offset_mae']:.3f} m, "
            f"heading MAE {acc['heading_error_mae']:.3f} rad, off-road AUROC "
            f"{acc['offroad_auroc']:.3f}, collision AUROC {acc['collision_auroc']:.3f} "
            f"({acc['collision_positives']:.0f} positives)"
        )


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    heads = load_driving_heads(args.heads).heads
    if args.val_stores:
        score_val_splits(heads, args.val_stores)
        return
    k = heads.config.frames
    episodes = held_out_drives(args)
    # Frames 1 .. T-1 of each drive (frame 0 has no motion before it), whatever k is.
    real_windows = np.concatenate([windows(e.frames_THWC, k)[1:] for e in episodes])
    real_labels = np.concatenate([signals_of(e)[1:] for e in episodes])
    real = signal_accuracy(heads.predict(real_windows), real_labels, heads.config.lead_gap_max)

    model = load_world_model(args.checkpoint)
    generated = generate(model, episodes, args.context, args.horizon)
    first = args.context  # the first generated frame
    gen_windows = np.concatenate(
        [windows(g, k)[first:] for g in generated]
    )  # windows ending on generated frames
    gen_labels = np.concatenate([signals_of(e)[first : first + args.horizon] for e in episodes])
    gen = signal_accuracy(heads.predict(gen_windows), gen_labels, heads.config.lead_gap_max)
    print(table(real, gen))
    print(
        f"{args.episodes} held-out drives (store seed {args.seed}) of {args.frames} frames; "
        f"generated: {args.horizon} steps after {args.context} real frames; "
        f"{time.perf_counter() - start:.0f} s"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    record = {"args": {k: str(v) for k, v in vars(args).items()}, "real": real, "generated": gen}
    (args.out / "driving_heads.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    print(f"wrote {args.out / 'driving_heads.json'}")


if __name__ == "__main__":
    main()
