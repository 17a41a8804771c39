"""``worldsim-train``: train the tokenizer (stage 1), the world model (stage 2) or the
evaluation heads (task ``idm``: inverse dynamics and condition classifier)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf, open_dict

from worldsim.cli._hydra import UserError, instantiate, run_hydra

TASKS = ("tokenizer", "world_model", "eval_heads", "driving_heads")

# Types (where the default is null) and bounds of keys, checked before anything runs.
HINTS: dict[str, Any] = {
    **dict.fromkeys(("ckpt_path", "tokenizer_ckpt", "init_weights"), str | None),
    **dict.fromkeys(("lr_decay_steps", "torch_threads"), (int | None, 1, None)),
    **dict.fromkeys(("seed", "warmup_steps"), (int, 0, None)),
    **dict.fromkeys(
        ("model.dim", "model.depth", "model.heads", "model.patch_size", "model.context_window"),
        (int, 1, None),
    ),
    "optimizer.lr": (float, 1e-12, None),
    "data.batch_size": (int, 1, None),
    "data.clip_len": (int, 2, None),
}


def task(cfg: DictConfig) -> None:
    import lightning as L

    if cfg.task not in TASKS:
        raise UserError(f"task={cfg.task!r} is unknown; choose one of {list(TASKS)}")
    L.seed_everything(int(cfg.seed), workers=True)
    if cfg.get("torch_threads"):
        import torch

        torch.set_num_threads(int(cfg.torch_threads))
    ckpt = resolve_ckpt_path(cfg)  # before any data work, so a bad path fails at once
    needs_tokenizer = cfg.task == "world_model" and cfg.tokenizer.get("kind") != "patch"
    if needs_tokenizer and cfg.tokenizer_ckpt and not Path(str(cfg.tokenizer_ckpt)).exists():
        raise UserError(
            f"tokenizer_ckpt={cfg.tokenizer_ckpt} does not exist. Train the tokenizer first "
            "(`worldsim-train experiment=tokenizer_tiny`) or set tokenizer_ckpt=<path>"
        )
    store = ensure_store(cfg)
    if cfg.task == "tokenizer":
        module, datamodule = build_tokenizer_stage(cfg)
    elif cfg.task == "eval_heads":
        module, datamodule = build_eval_heads_stage(cfg, store)
    elif cfg.task == "driving_heads":
        module, datamodule = build_driving_heads_stage(cfg, store)
    else:
        module, datamodule = build_world_model_stage(cfg, store)
    trainer = build_trainer(cfg)
    # weights_only: a resumed checkpoint restores tensors and plain data, never pickled code.
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt, weights_only=True)
    last = Path(cfg.paths.run_dir) / "checkpoints" / "last.ckpt"
    if trainer.is_global_zero and last.is_file():
        print(f"checkpoint: {last}")


def ensure_store(cfg: DictConfig) -> Any:
    """Open the data store, generating the procedural one first when it is missing."""
    from worldsim.data.sources.procedural import ProceduralSource
    from worldsim.data.store import EpisodeStore, write_store

    root = Path(cfg.data.store)
    if not (root / "manifest.json").is_file():
        gen = cfg.data.get("generate")
        if gen is None:
            raise UserError(
                f"episode store {root} does not exist; create it with `worldsim-data out={root}`"
            )
        from worldsim.cli._smoke import SMOKE_STORE, smoke_enabled

        sizes = {k: int(gen[k]) for k in ("episodes", "frames", "workers")}
        if smoke_enabled():
            sizes = {k: min(v, SMOKE_STORE[k]) for k, v in sizes.items()}
        print(f"generating the procedural store {root} ({sizes['episodes']} episodes)")
        extra = {}
        if gen.get("source") is not None:
            extra = OmegaConf.to_container(gen.source, resolve=True)
        try:
            source = ProceduralSource(
                episodes=sizes["episodes"],
                frames=sizes["frames"],
                seed=int(gen.seed),
                height=int(cfg.data.height),
                width=int(cfg.data.width),
                **extra,  # type: ignore[arg-type]
            )
        except (TypeError, ValueError) as exc:
            raise UserError(f"data.generate.source={extra}: {exc}") from exc
        write_store(source, root, workers=sizes["workers"])
    store = EpisodeStore(root)
    if cfg.data.get("height") is None or cfg.data.get("width") is None:
        with open_dict(cfg):  # a preset that reads the frame size from the store
            cfg.data.height, cfg.data.width = (int(v) for v in store.resolution)
    if tuple(store.resolution) != (int(cfg.data.height), int(cfg.data.width)):
        raise UserError(
            f"store {root} holds {tuple(store.resolution)} frames but data.height/width are "
            f"({cfg.data.height}, {cfg.data.width}); set them to match or use another store"
        )
    return store


def _store_mix(cfg: DictConfig, tokenizer: Any | None = None) -> Any:
    """``data.mix`` as a :class:`StoreMix` (``None`` when ``data.mix.store`` is unset), its
    latents cached with ``tokenizer`` when given."""
    from worldsim.data.datamodule import StoreMix

    mix = cfg.data.get("mix")
    if mix is None or mix.get("store") is None:
        return None
    root = Path(str(mix.store))
    if not (root / "manifest.json").is_file():
        raise UserError(
            f"data.mix.store={root} is not an episode store; create it with "
            f"`worldsim-data out={root}` or set data.mix.store=null"
        )
    latents_dir = None
    if tokenizer is not None:
        from worldsim.data.latents import build_latent_cache
        from worldsim.data.lock import StoreLockedError

        try:
            latents_dir = str(build_latent_cache(root, tokenizer))
        except StoreLockedError as exc:
            raise UserError(str(exc)) from exc
    return StoreMix(str(root), float(mix.share), latents_dir)


def _datamodule(
    cfg: DictConfig, latents_dir: str | None = None, labels: bool = False, mix: Any = None
) -> Any:
    from worldsim.data.datamodule import EpisodeDataModule

    if mix is None:  # the stages that read frames, not cached latents
        mix = _store_mix(cfg)
    try:
        datamodule = EpisodeDataModule(
            store=str(cfg.data.store),
            clip_len=int(cfg.data.clip_len),
            batch_size=int(cfg.data.batch_size),
            num_workers=int(cfg.data.num_workers),
            stride=cfg.data.get("stride"),
            val_stride=cfg.data.get("val_stride"),
            latents_dir=latents_dir,
            condition=str(cfg.data.get("condition", "ego_motion")),
            labels=labels,
            mix=mix,
        )
        if mix is not None:  # check the mixed store before any training starts
            datamodule.setup("fit")
    except (ValueError, FileNotFoundError) as exc:
        raise UserError(str(exc)) from exc
    return datamodule


def build_tokenizer_stage(cfg: DictConfig) -> tuple[Any, Any]:
    from worldsim.models.tokenizer import FrameTokenizer
    from worldsim.training.tokenizer_module import TokenizerModule

    if cfg.tokenizer.get("kind") == "patch":
        raise UserError(
            "tokenizer=patch2 has no parameters and needs no training; train the world model "
            "directly (e.g. `worldsim-train experiment=world_model_pretrained`)"
        )
    tokenizer = FrameTokenizer(instantiate(cfg.tokenizer, "tokenizer"))
    module = TokenizerModule(
        tokenizer,
        optimizer=instantiate(cfg.optimizer, "optimizer"),
        warmup_steps=int(cfg.warmup_steps),
        lr_decay_steps=_decay_steps(cfg),
        **dict(cfg.get("tokenizer_loss") or {}),
    )
    return module, _datamodule(cfg)


def motion_stats(store: Any) -> tuple[list[float], list[float]]:
    """The store's ego-motion mean and std; a (near) constant field keeps std 1."""
    stats = store.stats.ego_motion
    mean = [float(v) for v in stats.mean]
    std = [float(v) if v > 1e-6 else 1.0 for v in stats.std]
    return mean, std


def build_eval_heads_stage(cfg: DictConfig, store: Any | None = None) -> tuple[Any, Any]:
    """The evaluation heads (inverse dynamics + condition classifier) on labelled clips."""
    from worldsim.data.store import EpisodeStore
    from worldsim.models.heads import ConditionClassifier, InverseDynamicsModel
    from worldsim.sim.conditions import TIMES_OF_DAY, WEATHERS
    from worldsim.training.heads_module import EvalHeadsModule

    if int(cfg.data.clip_len) < 2:
        raise UserError(
            f"data.clip_len={cfg.data.clip_len}: the inverse-dynamics model needs clips of at "
            "least 2 frames"
        )
    if store is None:
        store = EpisodeStore(cfg.data.store)
    config = instantiate(cfg.eval_heads, "eval_heads")
    mean, std = motion_stats(store)
    module = EvalHeadsModule(
        InverseDynamicsModel(config, mean, std),
        ConditionClassifier(config, TIMES_OF_DAY, WEATHERS),
        optimizer=instantiate(cfg.optimizer, "optimizer"),
        warmup_steps=int(cfg.warmup_steps),
        lr_decay_steps=_decay_steps(cfg),
        store=str(cfg.data.store),
    )
    return module, _datamodule(cfg, labels=True)


def build_driving_heads_stage(cfg: DictConfig, store: Any) -> tuple[Any, Any]:
    """The driving-signal heads on windows of frames labelled by the simulator."""
    mix = cfg.data.get("mix")
    if mix is not None and mix.get("store") is not None:
        raise UserError(
            f"data.mix.store={mix.store}: the driving heads train on one store's signals; "
            "set data.mix.store=null"
        )
    from worldsim.data.signals import SignalDataModule, signal_columns
    from worldsim.models.heads import DrivingHeads, DrivingHeadsConfig
    from worldsim.training.driving_heads_module import DrivingHeadsModule

    keys = store.keys()
    if not keys:
        raise UserError(f"store {cfg.data.store} holds no episodes")
    try:
        signal_columns(store, keys[0])
        settings = OmegaConf.to_container(cfg.driving_heads, resolve=True)
        config = DrivingHeadsConfig(
            height=int(cfg.data.height),
            width=int(cfg.data.width),
            **{k: v for k, v in settings.items() if k not in ("loss", "dreamed")},  # type: ignore[union-attr]
        )
    except (TypeError, ValueError) as exc:
        raise UserError(str(exc)) from exc
    loss = dict(cfg.driving_heads.get("loss") or {})
    module = DrivingHeadsModule(
        DrivingHeads(config),
        optimizer=instantiate(cfg.optimizer, "optimizer"),
        warmup_steps=int(cfg.warmup_steps),
        lr_decay_steps=_decay_steps(cfg),
        store=str(cfg.data.store),
        **loss,
    )
    extra = [ensure_dreamed_store(cfg.driving_heads.get("dreamed"), store)]
    datamodule = SignalDataModule(
        str(cfg.data.store),
        config.frames,
        int(cfg.data.batch_size),
        extra_stores=[s for s in extra if s is not None],
    )
    return module, datamodule


def ensure_dreamed_store(dreamed: DictConfig | None, store: Any) -> str | None:
    """The store of world-model replays of ``store``'s drives (``driving_heads.dreamed``),
    written on first use and resumed after a kill; None when ``dreamed`` is null."""
    from worldsim.data.store import write_store
    from worldsim.runtime.checkpoint import CheckpointError
    from worldsim.training.dreamed import DreamedSource

    if dreamed is None:
        return None
    if dreamed.get("store") is None:
        raise UserError(
            "driving_heads.dreamed needs a store= folder; add the preset with "
            "+driving_heads/dreamed=default"
        )
    out = Path(str(dreamed.store))
    try:
        settings = {k: v for k, v in dreamed.items() if k != "store"}
        source = DreamedSource(store=str(store.root), **settings)  # type: ignore[arg-type]
        if not source.keys():
            raise ValueError(
                f"the drives of {store.root} are shorter than one replay of "
                f"context + horizon = {source.length} frames; lower dreamed.horizon, or set "
                "driving_heads.dreamed=null to train on real frames only"
            )
        print(f"world-model replays of {store.root}: {out} (written on first use)")
        write_store(source, out, workers=1, progress=False)  # resumes; keeps what is there
    except (TypeError, ValueError, CheckpointError) as exc:
        raise UserError(f"driving_heads.dreamed: {exc}") from exc
    return str(out)


def build_world_model_stage(cfg: DictConfig, store: Any) -> tuple[Any, Any]:
    from worldsim.data.latents import build_latent_cache
    from worldsim.models.dit import VideoDiT
    from worldsim.models.text import build_text_encoder, text_encoder_state
    from worldsim.runtime.checkpoint import CheckpointError, load_tokenizer
    from worldsim.training.world_model_module import WorldModelModule

    try:
        if cfg.tokenizer.get("kind") == "patch":  # parameter-free: nothing to train or load
            from worldsim.models.patch_tokenizer import PatchTokenizer

            tokenizer = PatchTokenizer(instantiate(cfg.tokenizer, "tokenizer"))
        else:
            tokenizer = load_tokenizer(cfg.tokenizer_ckpt)
    except CheckpointError as exc:
        raise UserError(
            f"{exc}. Train the tokenizer first (`worldsim-train experiment=tokenizer_tiny`) "
            "or set tokenizer_ckpt=<path>"
        ) from exc
    down = tokenizer.downsample
    if int(cfg.data.height) % down or int(cfg.data.width) % down:
        raise UserError(
            f"frames of {cfg.data.height}x{cfg.data.width} are not divisible by the tokenizer's "
            f"downsampling factor {down}"
        )
    text = build_text_encoder(instantiate(cfg.text, "text"))
    condition = str(cfg.data.get("condition", "ego_motion"))
    if condition == "actions":
        from worldsim.data.action_codec import action_dim

        if store.action_space is None:
            raise UserError(
                f"data.condition=actions but store {store.root} records no action space; "
                "write it with `worldsim-data source=gym ...`"
            )
        dim = action_dim(store.action_space)
        mean, std = [0.0] * dim, [1.0] * dim
        action_space = store.action_space
    else:
        dim = 2
        mean, std = motion_stats(store)
        action_space = None
    with open_dict(cfg):
        cfg.model.action_dim = dim
        fill = {
            "latent_channels": tokenizer.latent_channels,
            "latent_height": int(cfg.data.height) // down,
            "latent_width": int(cfg.data.width) // down,
            "text_dim": int(text.dim),
        }
        for key, value in fill.items():
            given = cfg.model.get(key)
            if given is not None and int(given) != value:
                raise UserError(f"model.{key}={given} disagrees with the data/tokenizer ({value})")
            cfg.model[key] = value
    dit = VideoDiT(instantiate(cfg.model, "model"))
    if cfg.get("compile"):
        import torch

        dit = torch.compile(dit)
    latents_dir = None
    if cfg.data.get("latent_cache"):
        from worldsim.data.lock import StoreLockedError

        try:
            latents_dir = str(build_latent_cache(store.root, tokenizer))
        except StoreLockedError as exc:
            raise UserError(str(exc)) from exc
    module = WorldModelModule(
        tokenizer,
        dit,
        text,
        optimizer=instantiate(cfg.optimizer, "optimizer"),
        flow=instantiate(cfg.diffusion, "diffusion"),
        motion_mean=mean,
        motion_std=std,
        dt=float(store.dt),
        sampling=instantiate(cfg.sampler, "sampler"),
        warmup_steps=int(cfg.warmup_steps),
        lr_decay_steps=_decay_steps(cfg),
        text_state=text_encoder_state(text)["config"],
        run_config=OmegaConf.to_container(cfg, resolve=True),
        action_space=action_space,
        env_heads=build_env_heads(cfg, store, tokenizer.latent_channels, condition),
        env_heads_weight=float(cfg.env_heads.weight),
    )
    if cfg.get("init_weights"):
        load_init_weights(module, str(cfg.init_weights))
    if cfg.get("train_only") is not None:
        from worldsim.training.freeze import train_only

        only = cfg.train_only
        patterns = OmegaConf.to_container(only) if OmegaConf.is_config(only) else only
        try:
            train_only(module, patterns)
        except ValueError as exc:
            raise UserError(str(exc)) from exc
    mix = _store_mix(cfg, tokenizer if latents_dir is not None else None)
    return module, _datamodule(cfg, latents_dir, mix=mix)


def load_init_weights(module: Any, path: str) -> None:
    """Start the DiT and text encoder from a trained world model of the same architecture
    (a checkpoint or bundle, read without pickle); the optimizer and step start afresh."""
    from worldsim.runtime.checkpoint import CheckpointError, load_world_model

    try:
        source = load_world_model(path)
    except CheckpointError as exc:
        raise UserError(f"init_weights={path}: {exc}") from exc
    ours, theirs = module.dit.config.to_dict(), source.dit.config.to_dict()
    # How the warp resamples changes no weight, so a model may be fine-tuned for another one.
    retuned = {"yaw_warp_interpolation"}
    differ = sorted(k for k in (set(ours) | set(theirs)) - retuned if ours.get(k) != theirs.get(k))
    # A turn-only model may grow the ground-moved input (its new weights start at zero).
    grown = {"yaw_warp_mount_height", "yaw_warp_base"}
    grows = bool(differ) and set(differ) <= grown and not theirs["yaw_warp_mount_height"]
    if differ and not grows:
        pairs = ", ".join(f"{k}: {theirs.get(k)} there, {ours.get(k)} here" for k in differ)
        raise UserError(
            f"init_weights={path} is a different architecture ({pairs}); start from a model "
            "trained with the same model settings, or set init_weights=null"
        )
    try:
        module.text_encoder.load_state_dict(source.text_encoder.state_dict())
    except RuntimeError as exc:
        raise UserError(f"init_weights={path}: its text encoder differs: {exc}") from exc
    state = source.dit.state_dict()
    if grows:
        state["patch_in.weight"] = grown_patch_in(state["patch_in.weight"], module.dit.config)
    module.dit.load_state_dict(state)


def grown_patch_in(weight_DI: Any, config: Any) -> Any:
    """A turn-only model's input projection for a model that also takes the previous frame
    moved along the ground: the new input channels get zero weights, so the grown model
    starts as exactly the source model."""
    import torch

    p, c = config.patch_size, config.latent_channels
    per_pixel = weight_DI.reshape(weight_DI.shape[0], p, p, -1)  # (D, p, p, 2C): (p1 p2 c)
    extra = torch.zeros(*per_pixel.shape[:3], (config.prev_views - 1) * c, dtype=weight_DI.dtype)
    return torch.cat([per_pixel, extra], dim=-1).reshape(weight_DI.shape[0], -1)


def build_env_heads(cfg: DictConfig, store: Any, latent_channels: int, condition: str) -> Any:
    """The learned-env heads, when ``env_heads.enabled`` (``auto``: when the model is
    conditioned on raw actions and the store records reward and termination)."""
    from worldsim.data.action_codec import action_dim
    from worldsim.data.datamodule import OUTCOME_FIELDS
    from worldsim.models.env_heads import EnvHeads, EnvHeadsConfig

    enabled = cfg.env_heads.enabled
    labelled = all(name in store.ego_state_fields for name in OUTCOME_FIELDS)
    if enabled not in (True, False, "auto"):
        raise UserError(f"env_heads.enabled={enabled!r} must be true, false or auto")
    if enabled == "auto":
        enabled = condition == "actions" and labelled
    if not enabled:
        return None
    if condition != "actions" or not labelled:
        raise UserError(
            f"env_heads.enabled=true needs data.condition=actions and a store whose ego state "
            f"records {list(OUTCOME_FIELDS)} (the gym source's); {store.root} records "
            f"{list(store.ego_state_fields)} with data.condition={condition}"
        )
    column = list(store.ego_state_fields).index("reward")
    rewards = [store.ego_state(key)[1:, column] for key in store.keys("train")]
    flat = np.concatenate(rewards) if rewards else np.zeros(1)
    space = store.action_space
    config = EnvHeadsConfig(
        latent_channels=int(latent_channels),
        action_dim=action_dim(space),
        action_kind="discrete" if space["type"] == "Discrete" else "box",
        width=int(cfg.env_heads.width),
        feature_dim=int(cfg.env_heads.feature_dim),
        reward_mean=float(flat.mean()),
        reward_std=float(max(flat.std(), 1e-3)),
    )
    return EnvHeads(config)


def _decay_steps(cfg: DictConfig) -> int | None:
    """``lr_decay_steps``: null keeps the learning rate constant after warm-up."""
    value = cfg.get("lr_decay_steps")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise UserError(f"lr_decay_steps={value!r} must be a positive integer or null")
    warmup = int(cfg.get("warmup_steps") or 0)
    if value <= warmup:
        raise UserError(
            f"lr_decay_steps={value} (often ${{trainer.max_steps}}) must be larger than "
            f"warmup_steps={warmup}; lower warmup_steps or train for more steps"
        )
    return int(value)


def build_trainer(cfg: DictConfig) -> Any:
    callbacks = []
    for name, node in (cfg.get("callbacks") or {}).items():
        if node is None:
            continue
        if name == "rollout" and cfg.task != "world_model":
            continue
        callbacks.append(instantiate(node, f"callbacks.{name}"))
    loggers = [
        instantiate(node, f"logger.{name}")
        for name, node in (cfg.get("logger") or {}).items()
        if node is not None
    ]
    return instantiate_trainer(cfg.trainer, callbacks, loggers)


def instantiate_trainer(node: DictConfig, callbacks: list[Any], loggers: list[Any]) -> Any:
    import hydra

    try:
        return hydra.utils.instantiate(node, callbacks=callbacks, logger=loggers or False)
    except Exception as exc:
        root: BaseException = exc
        while root.__cause__ is not None:
            root = root.__cause__
        raise UserError(f"invalid trainer config: {root}") from exc


def resolve_ckpt_path(cfg: DictConfig) -> str | None:
    """``last`` means this run's ``checkpoints/last.ckpt`` when it exists (else a fresh run)."""
    value = cfg.get("ckpt_path")
    if value in (None, "", "null"):
        return None
    if value == "last":
        last = Path(cfg.paths.run_dir) / "checkpoints" / "last.ckpt"
        if last.is_file():
            print(f"resuming from {last}")
            return _checked_resume(last)
        print(f"no {last} yet; starting a fresh run")
        return None
    if not Path(value).is_file():
        raise UserError(f"ckpt_path={value} does not exist")
    return _checked_resume(Path(value))


def _checked_resume(path: Path) -> str:
    """Refuse a resume checkpoint that is unreadable, unsafe or not a Lightning checkpoint."""
    from worldsim.runtime.checkpoint import CheckpointError, read_checkpoint

    try:
        ckpt = read_checkpoint(path)
    except CheckpointError as exc:
        raise UserError(f"ckpt_path: {exc}") from exc
    missing = [k for k in ("state_dict", "global_step", "loops") if k not in ckpt]
    if missing:
        raise UserError(
            f"ckpt_path={path} is not a Lightning training checkpoint (no {missing}); "
            "pass the last.ckpt of a worldsim-train run, or ckpt_path=null for a fresh run"
        )
    return str(path)


def main() -> None:
    run_hydra(task, "train", HINTS)


if __name__ == "__main__":
    main()
