"""The shared forward of the frozen Hugging Face encoders (``hf`` and ``minilm``): the model's
mean-pooled last hidden state. The pretrained model is held outside the module tree, so it stays
out of ``state_dict()`` and training checkpoints stay small."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from worldsim.models.text.base import TextEncoding, check_prompts, import_optional, masked_mean


class PretrainedConfig(Protocol):
    """What the frozen encoders read from their config."""

    kind: str
    max_len: int


@dataclass
class _Pretrained:
    """Holds the frozen model outside the module tree, so it stays out of ``state_dict()``."""

    tokenizer: Any
    model: Any


class FrozenPretrainedEncoder(nn.Module):
    """Shared forward of the frozen Hugging Face encoders: mean-pooled last hidden state."""

    config: PretrainedConfig
    normalize_pooled: ClassVar[bool] = False

    def _load(self, path: str, kind: str, extra: str, local_files_only: bool) -> None:
        transformers = import_optional("transformers", kind, extra)
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(
                path, local_files_only=local_files_only
            )
            model = transformers.AutoModel.from_pretrained(path, local_files_only=local_files_only)
        except OSError as exc:
            raise OSError(
                f"could not load the text encoder text.name_or_path={path!r}: {exc}"
            ) from exc
        if getattr(model.config, "is_encoder_decoder", False):
            model = model.get_encoder()
        if tokenizer.pad_token is None:
            if tokenizer.eos_token is None:
                raise ValueError(f"the tokenizer of {path!r} has neither a PAD nor an EOS token")
            tokenizer.pad_token = tokenizer.eos_token
        model = model.float().eval().requires_grad_(False)
        self._pretrained = _Pretrained(tokenizer, model)
        self.dim = int(model.config.hidden_size)

    @property
    def tokenizer(self) -> Any:
        return self._pretrained.tokenizer

    @property
    def model(self) -> nn.Module:
        return self._pretrained.model

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _apply(self, fn: Callable[..., Any], recurse: bool = True) -> FrozenPretrainedEncoder:
        super()._apply(fn, recurse)
        self.model._apply(fn)  # .to(), .cuda(), .half() reach the hidden model
        return self

    def train(self, mode: bool = True) -> FrozenPretrainedEncoder:
        """The pretrained model stays in eval mode (no dropout) whatever the parent's mode."""
        super().train(mode)
        self.model.eval()
        return self

    def extra_repr(self) -> str:
        return f"kind={self.config.kind!r}, dim={self.dim}, max_len={self.config.max_len}"

    def forward(self, prompts: Sequence[str]) -> TextEncoding:
        prompts = check_prompts(prompts)
        batch = self.tokenizer(
            prompts,
            padding="longest",
            truncation=True,
            max_length=self.config.max_len,
            return_tensors="pt",
        )
        inputs = dict(batch)
        if inputs["input_ids"].shape[1] == 0:  # no special tokens and only empty prompts
            ids_BL = torch.full((len(prompts), 1), self.tokenizer.pad_token_id)
            inputs = {"input_ids": ids_BL, "attention_mask": torch.zeros_like(ids_BL)}
        mask_BL = inputs["attention_mask"].bool()
        mask_BL[~mask_BL.any(1), 0] = True  # the null prompt keeps at least one (PAD) token
        inputs["attention_mask"] = mask_BL.long()
        device = self.device
        with torch.no_grad():
            hidden_BLD = self.model(
                **{k: v.to(device) for k, v in inputs.items()}
            ).last_hidden_state  # (B, L, D)
        mask_BL = mask_BL.to(device)
        tokens_BLD = hidden_BLD * rearrange(mask_BL, "b l -> b l 1")
        pooled_BD = masked_mean(tokens_BLD, mask_BL)
        if self.normalize_pooled:
            pooled_BD = F.normalize(pooled_BD, dim=-1)
        return TextEncoding(tokens_BLD, mask_BL, pooled_BD)
