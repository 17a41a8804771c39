"""The settings of ``worldsim-eval``: typed dataclasses, the one definition of their defaults."""

# conf/eval.yaml holds no values of its own: its defaults list names ``eval_defaults``, which
# ``store_defaults`` registers in Hydra's ConfigStore from ``EvalConfig()``. The node is stored
# untyped on purpose: a typed node would make OmegaConf coerce ``seed='1'`` to ``1`` and answer
# a bad value with its own multi-line error, while ``worldsim.cli._hydra.check_config`` refuses
# both with one line naming the key (it checks overrides against these defaults and the CLI's
# hints); ``EvalConfig.from_dict`` then builds the typed config and checks the ranges.

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SUITES = ("procedural", "store", "env")
CONFIG_NAME = "eval_defaults"  # the ConfigStore entry named by conf/eval.yaml's defaults list


@dataclass
class ProceduralSuiteConfig:
    """Start states, horizons and rollout counts of the procedural suite."""

    starts: int = 48  # seeded start states (conditions sampled from the seed)
    context_frames: int = 4
    warmup_steps: int = 20  # data-policy steps before the context is recorded
    horizon: int = 60  # fidelity horizon (steps of 0.1 s)
    maneuver_steps: int = 10  # length of the scripted left/right/brake/accelerate manoeuvres
    drift_rollouts: int = 4
    drift_horizon: int = 600  # 60 s at 10 Hz

    def __post_init__(self) -> None:
        """Refuse counts below one and more drift rollouts than start states."""
        for name in ("starts", "context_frames", "horizon", "maneuver_steps", "drift_rollouts"):
            if getattr(self, name) < 1:
                raise ValueError(f"procedural.{name}={getattr(self, name)} must be >= 1")
        if self.drift_rollouts > self.starts:
            raise ValueError(
                f"procedural.drift_rollouts={self.drift_rollouts} must be <= procedural.starts="
                f"{self.starts} (each drift rollout starts from one start state)"
            )
        if self.drift_horizon < 2 or self.horizon < 2:
            raise ValueError(
                f"procedural.horizon={self.horizon} and procedural.drift_horizon="
                f"{self.drift_horizon} must be >= 2"
            )


@dataclass
class StoreSuiteConfig:
    """Held-out windows of a recorded store."""

    path: str | None = None  # episode store for suite=store
    split: str = "val"
    context_frames: int = 4
    horizon: int = 60
    max_windows: int = 16

    def __post_init__(self) -> None:
        """Refuse counts below one."""
        for name in ("context_frames", "horizon", "max_windows"):
            if getattr(self, name) < 1:
                raise ValueError(f"store.{name}={getattr(self, name)} must be >= 1")


@dataclass
class EnvSuiteConfig:
    """Starts and horizon of the env suite."""

    starts: int = 32
    context_frames: int = 4
    horizon: int = 30

    def __post_init__(self) -> None:
        for name in ("starts", "context_frames", "horizon"):
            if getattr(self, name) < 1:
                raise ValueError(f"env.{name}={getattr(self, name)} must be >= 1")
        if self.starts < 2:
            raise ValueError(f"env.starts={self.starts} must be >= 2 (rollouts swap actions)")


@dataclass
class SpeedConfig:
    """What the speed section measures: latency per sampling-step count and env frames/s."""

    enabled: bool = True
    sampling_steps: list[int] = field(default_factory=lambda: [1, 2, 4, 8])
    repeats: int = 5
    env_steps: int = 10
    vector_envs: int = 16


SECTIONS: dict[str, type] = {
    "procedural": ProceduralSuiteConfig,
    "store": StoreSuiteConfig,
    "env": EnvSuiteConfig,
    "speed": SpeedConfig,
}


@dataclass
class EvalConfig:
    """Every setting of ``worldsim-eval`` (the keys of ``conf/eval.yaml``, in its order)."""

    checkpoint: str | None = None  # world-model checkpoint or bundle folder (None: the bundled)
    heads: str | None = None  # IDM + condition classifier (None: the bundled model's own heads)
    suite: str = "procedural"  # procedural | store | env
    env_id: str | None = None  # suite=env: the real env (None: the one the store was recorded from)
    out: str = "outputs/eval/${suite}"  # metrics.json, report.md and plots go here
    seed: int = 1  # evaluation starts; seed 2 is for model selection (docs/evaluation.md)
    device: str = "cpu"
    dtype: str = "float32"
    sampling_steps: int | None = None  # None: the checkpoint's setting
    guidance_action: float | None = None  # guidance scale on the action (None: the checkpoint's)
    guidance_text: float | None = None  # and on the prompt
    temperature: float | None = (
        None  # scale of the sampler's initial noise (None: the checkpoint's)
    )
    context_noise: float | None = None  # noise level of committed frames (None: the checkpoint's)
    shift: float | None = None  # timestep shift of the sampling schedule (None: the checkpoint's)
    progress: bool = True
    # fidelity is tabulated at these steps; Fréchet-distance horizon buckets end at these steps
    horizons: list[int] = field(default_factory=lambda: [1, 5, 10, 30, 60])
    drift_edges: list[int] = field(default_factory=lambda: [10, 30, 60, 150, 300, 600])
    counterfactual_steps: int = 10
    procedural: ProceduralSuiteConfig = field(default_factory=ProceduralSuiteConfig)
    store: StoreSuiteConfig = field(default_factory=StoreSuiteConfig)
    env: EnvSuiteConfig = field(default_factory=EnvSuiteConfig)
    speed: SpeedConfig = field(default_factory=SpeedConfig)

    def __post_init__(self) -> None:
        """Refuse an unknown suite, a store suite without a store and empty step lists."""
        if self.suite not in SUITES:
            raise ValueError(f"suite={self.suite!r} is unknown; choose one of {list(SUITES)}")
        if self.suite == "store" and not self.store.path:
            raise ValueError("suite=store needs store.path=<episode store folder>")
        for name in ("horizons", "drift_edges"):
            values = list(getattr(self, name))
            if not values or any(v < 1 for v in values):
                raise ValueError(f"{name}={values} must be a non-empty list of steps >= 1")
        if self.counterfactual_steps < 1:
            raise ValueError(f"counterfactual_steps={self.counterfactual_steps} must be >= 1")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> EvalConfig:
        """The config of plain resolved values; keys it does not know (``+key=``) are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in values.items() if k in names}
        for name, kind in SECTIONS.items():
            if name in kwargs:
                section = kwargs[name]
                if not isinstance(section, Mapping):
                    raise ValueError(f"{name}={section!r} must be a mapping of its settings")
                kwargs[name] = kind(**section)
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain values, nested like ``conf/eval.yaml``."""
        return dataclasses.asdict(self)


def store_defaults() -> None:
    """Register ``EvalConfig()``'s values in Hydra's ConfigStore as ``eval_defaults``."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name=CONFIG_NAME, node=EvalConfig().to_dict())
