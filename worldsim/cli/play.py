"""``worldsim-play``: serve the play page on this machine and print its URL."""

from __future__ import annotations

from omegaconf import DictConfig

from worldsim.cli._hydra import UserError, out_dir, run_hydra, torch_placement

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def task(cfg: DictConfig) -> None:
    host = str(cfg.host)
    if host not in LOCAL_HOSTS and not cfg.allow_remote:
        raise UserError(
            f"host={host} would let other machines drive this server; pass allow_remote=true "
            "as well to listen there, or keep the default host=127.0.0.1"
        )
    torch_placement(cfg.device, "float32")
    import uvicorn

    from worldsim.env.scenarios import ScenarioError
    from worldsim.play.server import create_app
    from worldsim.play.session import PlayOptions

    try:
        options = PlayOptions(
            checkpoint=None if cfg.checkpoint is None else str(cfg.checkpoint),
            scenario=str(cfg.scenario),
            sampling_steps=None if cfg.sampling_steps is None else int(cfg.sampling_steps),
            device=str(cfg.device),
            ground_truth=bool(cfg.ground_truth),
            max_prompt_chars=int(cfg.max_prompt_chars),
            record_dir=str(out_dir(cfg.record_dir, "record_dir")),
        )
        app = create_app(options, max_sessions=int(cfg.max_sessions))
    except (ScenarioError, ValueError) as exc:
        raise UserError(str(exc)) from exc
    shown = f"[{host}]" if ":" in host else host
    print(f"worldsim-play: open http://{shown}:{cfg.port}/  (Ctrl-C stops the server)", flush=True)
    try:
        uvicorn.run(app, host=host, port=int(cfg.port), log_level=str(cfg.log_level))
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{cfg.port}: {exc}; pick another port=") from exc


def main() -> None:
    run_hydra(
        task,
        "play",
        {
            "checkpoint": str | None,
            "sampling_steps": (int | None, 1, None),
            "port": (int, 1, 65535),
            "max_sessions": (int, 1, None),
            "max_prompt_chars": (int, 1, 100_000),
        },
    )


if __name__ == "__main__":
    main()
