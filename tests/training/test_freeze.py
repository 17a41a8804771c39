"""train_only: fine-tuning a part of a model."""

import re

import pytest
import torch
from torch import nn

from worldsim.training.freeze import train_only


def small_model() -> nn.Module:
    model = nn.Module()
    model.blocks = nn.ModuleList(
        nn.ModuleDict({"attn": nn.Linear(4, 4), "mlp": nn.Linear(4, 4)}) for _ in range(2)
    )
    model.head = nn.Linear(4, 2)
    return model


def test_only_the_matching_parameters_stay_trainable_and_learn() -> None:
    model = small_model()
    kept = train_only(model, ["blocks.*.attn.*"])
    assert kept == [f"blocks.{i}.attn.{p}" for i in range(2) for p in ("weight", "bias")]
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    x = torch.randn(3, 4)
    for block in model.blocks:
        x = block["mlp"](block["attn"](x))
    model.head(x).pow(2).sum().backward()
    opt.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == set(kept)


def test_a_frozen_parameter_stays_frozen() -> None:
    model = small_model()
    model.head.requires_grad_(False)
    assert train_only(model, ["head.*", "blocks.0.*"]) == [
        f"blocks.0.{m}.{p}" for m in ("attn", "mlp") for p in ("weight", "bias")
    ]


@pytest.mark.parametrize(
    ("patterns", "message"),
    [
        (["blocks.*.atn.*"], "'blocks.*.atn.*'] match no parameter"),
        ("head.*", "must be a list of parameter-name patterns"),
        ([""], "must be a list of parameter-name patterns"),
    ],
)
def test_bad_patterns_are_refused_by_name(patterns: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        train_only(small_model(), patterns)  # type: ignore[arg-type]
