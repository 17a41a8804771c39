"""``worldsim-data``: write an episode store from a source (procedural by default)."""

from __future__ import annotations

from omegaconf import DictConfig

from worldsim.cli._hydra import UserError, instantiate, out_dir, run_hydra
from worldsim.data.lock import StoreLockedError
from worldsim.data.preview import write_preview
from worldsim.data.store import EpisodeStore, write_store


def task(cfg: DictConfig) -> None:
    if cfg.workers < 1:
        raise UserError(f"workers={cfg.workers} must be at least 1")
    if not 0.0 <= cfg.val_fraction < 1.0:
        raise UserError(f"val_fraction={cfg.val_fraction} must lie in [0, 1)")
    source = instantiate(cfg.source, "source")
    out = out_dir(cfg.out)
    try:
        summary = write_store(
            source,
            out,
            workers=int(cfg.workers),
            val_fraction=float(cfg.val_fraction),
            progress=bool(cfg.progress),
            crf=int(cfg.crf),
            extend=bool(cfg.extend),
        )
    except (ValueError, OSError, StoreLockedError) as exc:
        raise UserError(str(exc)) from exc
    print(summary)
    if cfg.preview:
        paths = write_preview(EpisodeStore(out), out / "preview")
        for path in paths:
            print(f"wrote {path}")


def main() -> None:
    run_hydra(
        task,
        "data_cli",  # conf/data_cli.yaml (conf/data/ is worldsim-train's data group)
        {
            "episodes": (int, 1, None),
            "frames": (int, 2, None),
            "height": int,  # from conf/frame/, so not type-checked against data_cli.yaml
            "width": int,
            "seed": (int, 0, None),
            "dt": (float, 1e-6, None),
            "workers": (int, 1, None),
            "crf": (int, 0, 51),
        },
    )


if __name__ == "__main__":
    main()
