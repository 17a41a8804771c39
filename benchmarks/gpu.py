"""World-model throughput on one device: one stream and a batch, per frame size, dtype and
torch.compile setting.

Each row times ``WorldModel.step`` (the sampling steps of the DiT, the decode to pixels and the
commit of the new frame to the KV cache) after warm-up steps, as the learned env calls it. The
bundled networks run at every size: the tokenizer is convolutional and the DiT computes its
positions from the latent grid, so at 256x448 the same weights process 16 times the tokens. The
pictures there mean nothing (the model was trained at 64x112); the cost is what is measured.
``--compile on`` compiles every DiT block and the tokenizer's decoder with ``torch.compile``.
A setting that fails (no bf16 kernels, a compiler error) prints its error in the note column.

Usage (on a GPU machine; also runs on the CPU with --device cpu):
  python benchmarks/gpu.py [--checkpoint worldsim/assets/pretrained] [--device cuda]
      [--sizes 64x112,256x448] [--dtypes bfloat16,float32] [--compile both] [--batch 64]
      [--steps 20] [--sampling-steps 1]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from _table import BenchRow, print_rows

from worldsim.eval.speed import matmul_peak, peak_memory
from worldsim.models.dit import VideoDiT
from worldsim.runtime.checkpoint import load_world_model
from worldsim.runtime.world_model import WorldModel

GROUP = "gpu"
PROMPT = "day, clear weather, two-lane straight road"


def parse_size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} is not HxW, e.g. 64x112") from None
    if h <= 0 or w <= 0:
        raise argparse.ArgumentTypeError(f"size {text!r} must be positive")
    return h, w


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=None, help="default: the bundled model")
    p.add_argument("--device", default="cuda")
    p.add_argument("--sizes", default="64x112,256x448")
    p.add_argument("--dtypes", default="bfloat16,float32")
    p.add_argument("--compile", choices=("off", "on", "both"), default="both")
    p.add_argument("--batch", type=int, default=64, help="rows of the batched measurement")
    p.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (compiles)")
    p.add_argument("--sampling-steps", type=int, default=1)
    args = p.parse_args()
    try:
        args.sizes = [parse_size(s) for s in args.sizes.split(",")]
    except argparse.ArgumentTypeError as exc:
        p.error(f"--sizes: {exc}")
    args.dtypes = args.dtypes.split(",")
    for name in args.dtypes:
        if not isinstance(getattr(torch, name, None), torch.dtype):
            p.error(f"--dtypes: {name!r} is not a torch dtype (e.g. bfloat16, float16, float32)")
    if args.batch < 1 or args.steps < 1 or args.warmup < 1 or args.sampling_steps < 1:
        p.error("--batch, --steps, --warmup and --sampling-steps must be >= 1")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error("--device cuda: this torch sees no CUDA device; run with --device cpu")
    return args


def at_size(base: WorldModel, size: tuple[int, int], dtype: torch.dtype, device: str) -> WorldModel:
    """The bundled networks on frames of ``size`` (the DiT rebuilt for that latent grid)."""
    down = base.tokenizer.downsample
    h, w = size
    if h % down or w % down:
        raise ValueError(f"size {h}x{w} is not divisible by the tokenizer's factor {down}")
    cfg = replace(base.dit.config, latent_height=h // down, latent_width=w // down)
    dit = VideoDiT(cfg)
    dit.load_state_dict(base.dit.state_dict())
    parts = replace(base.parts, dit=dit)
    return WorldModel.from_parts(parts, base.sampling, device=device, dtype=dtype)


def compiled(model: WorldModel) -> WorldModel:
    for block in model.dit.blocks:
        block.compile()
    decoder = getattr(model.tokenizer, "decoder", None)
    if isinstance(decoder, torch.nn.Module):
        decoder.compile()
    return model


def frames_per_second(model: WorldModel, batch: int, steps: int, warmup: int) -> float:
    h, w = model.resolution
    device = model.device
    rng = np.random.default_rng(0)
    context = rng.integers(60, 200, (batch, 4, h, w, 3), dtype=np.uint8)
    g = torch.Generator(device).manual_seed(0)
    model.reset(context, PROMPT, generator=g)
    motion = np.tile([[10.0, 0.0]], (batch, 1))
    for _ in range(warmup):
        model.step(motion, generator=g)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        model.step(motion, generator=g)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return batch * steps / (time.perf_counter() - t0)


def main() -> None:
    args = parse_args()
    base = load_world_model(args.checkpoint).with_sampling(steps=args.sampling_steps)
    device = torch.device(args.device)
    rows: list[BenchRow] = []
    for name in args.dtypes:
        dtype = getattr(torch, name)
        try:
            peak = matmul_peak(device, dtype) / 1e12
            rows.append(BenchRow(GROUP, f"matmul peak {name}", peak, "TFLOP/s", "1024^2"))
        except RuntimeError as exc:
            rows.append(BenchRow(GROUP, f"matmul peak {name}", "failed", "", str(exc)[:80]))
    modes = {"off": [False], "on": [True], "both": [False, True]}[args.compile]
    for size in args.sizes:
        for name in args.dtypes:
            for use_compile in modes:
                label = f"{size[0]}x{size[1]} {name}{' compiled' if use_compile else ''}"
                model: WorldModel | None = None
                for batch in (1, args.batch):
                    metric = f"{label} batch {batch}"
                    try:
                        if model is None:  # one build (and compile) per setting
                            model = at_size(base, size, getattr(torch, name), args.device)
                            model = compiled(model) if use_compile else model
                        fps = frames_per_second(model, batch, args.steps, args.warmup)
                        rows.append(BenchRow(GROUP, metric, fps, "frames/s"))
                    except Exception as exc:  # report the failing setting, measure the rest
                        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:100]
                        rows.append(BenchRow(GROUP, metric, "failed", "", reason))
                del model
                if device.type == "cuda":
                    torch.cuda.empty_cache()
    memory = peak_memory(device)
    for key, value in memory.items():
        rows.append(BenchRow(GROUP, key, value, "MiB"))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "the CPU"
    print_rows(
        rows,
        f"# measured on {args.device} ({name}); torch.compile: {args.compile}",
        f"# {args.sampling_steps} sampling step(s), {args.steps} timed steps after "
        f"{args.warmup} warm-up steps, batched rows: {args.batch}",
    )


if __name__ == "__main__":
    main()
