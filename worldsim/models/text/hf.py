"""Any Hugging Face encoder by hub name or local path, frozen and mean-pooled:
``pip install "worldsim[hf]"``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worldsim.models.text.base import as_encoder_config, check_kind
from worldsim.models.text.pretrained import FrozenPretrainedEncoder


@dataclass
class HFTextConfig:
    """Frozen Hugging Face encoder given by hub name or local path (``conf/text/hf.yaml``)."""

    name_or_path: str = ""
    max_len: int = 96
    kind: str = "hf"  # fixed: names this encoder in configs and checkpoints

    def __post_init__(self) -> None:
        check_kind(self, "hf")
        if not self.name_or_path:
            raise ValueError("text.kind='hf' needs text.name_or_path=<model name or local path>")
        if self.max_len < 2:
            raise ValueError(f"text.max_len={self.max_len} must be >= 2")


class HFTextEncoder(FrozenPretrainedEncoder):
    """Any Hugging Face encoder by hub name or local path, frozen and mean-pooled."""

    def __init__(self, config: HFTextConfig | Any) -> None:
        """``config``: an :class:`HFTextConfig` (or a legacy flat ``TextEncoderConfig``)."""
        super().__init__()
        self.config = as_encoder_config(config, HFTextConfig)
        self._load(self.config.name_or_path, "hf", "hf", local_files_only=False)
