"""Hydra overrides for every CLI: unknown keys, wrong types and out-of-range values end with a
one-line message that names the key, and nothing runs."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.cli_helpers import run_cli
from tests.fuzz.helpers import assert_clear_cli
from worldsim.cli import data, eval, export, rollout, train


def _int(lo: int | None = None, hi: int | None = None, null: bool = False) -> Callable:
    def ok(v: Any) -> bool:
        if v is None:
            return null
        return (
            isinstance(v, int)
            and not isinstance(v, bool)
            and (lo is None or v >= lo)
            and (hi is None or v <= hi)
        )

    return ok


def _float(lo: float, hi: float, null: bool = False, closed_hi: bool = False) -> Callable:
    def ok(v: Any) -> bool:
        if v is None:
            return null
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return False
        return lo <= v and (v <= hi if closed_hi else v < hi)

    return ok


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


def _one_of(*allowed: Any) -> Callable:
    return lambda v: v in allowed


# (main, base arguments that keep a valid run small, {key: is_valid})
CLIS: dict[str, tuple[Callable[[], None], list[str], dict[str, Callable[[Any], bool]]]] = {
    "worldsim-data": (
        data.main,
        ["episodes=1", "frames=4", "workers=1", "progress=false"],
        {
            "episodes": _int(1),
            "frames": _int(2),
            "seed": _int(0),
            "workers": _int(1),
            "height": lambda v: _int(16)(v) and v % 2 == 0,
            "val_fraction": _float(0.0, 1.0),
            "crf": _int(0, 51),
            "dt": _float(1e-6, math.inf),
            "progress": _bool,
            "extend": _bool,
            "source.hfov_deg": _float(20.0, 150.0, closed_hi=True),
        },
    ),
    "worldsim-rollout": (
        rollout.main,
        ["scenarios=[hard_braking]", "steps=1", "sampling_steps=1", "progress=false"],
        {
            "steps": _int(1, null=True),
            "sampling_steps": _int(1, null=True),
            "context_frames": _int(1, null=True),
            "seed": _int(0),
            "sheet_frames": _int(1),
            "dtype": _one_of("float32", "bfloat16", "float16"),
            "device": _one_of("cpu"),
            "policy": _one_of("scripted", "random", "constant"),
            "guidance.text": _float(0.0, math.inf),
        },
    ),
    "worldsim-eval": (
        eval.main,
        [
            "progress=false",
            "speed.enabled=false",
            "procedural.starts=1",
            "procedural.horizon=2",
            "procedural.drift_rollouts=1",
            "procedural.drift_horizon=2",
            "drift_edges=[2]",
            "horizons=[1]",
            "sampling_steps=1",
        ],
        {
            "seed": _int(0),
            "sampling_steps": _int(1, null=True),
            "guidance_action": _float(0.0, math.inf, null=True),
            "procedural.starts": _int(1),
            "procedural.horizon": _int(1),
            "procedural.context_frames": _int(1),
            "counterfactual_steps": _int(1),
            "suite": _one_of("procedural", "store"),
            "dtype": _one_of("float32", "bfloat16", "float16"),
        },
    ),
    "worldsim-train": (
        train.main,
        ["trainer.max_steps=1", "data.generate=null"],
        {
            "task": _one_of("tokenizer", "world_model", "eval_heads"),
            "seed": _int(0),
            "warmup_steps": _int(0),
            "model.dim": _int(1),
            "model.depth": _int(1),
            "model.heads": _int(1),
            "optimizer.lr": _float(1e-12, math.inf),
            "data.batch_size": _int(1),
            "data.clip_len": _int(2),
            "torch_threads": _int(1, null=True),
        },
    ),
    "worldsim-export": (export.main, ["checkpoint=missing.ckpt"], {"recipe": lambda v: True}),
}

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet="abcxyz019.,-_ ", max_size=6),
    st.lists(st.integers(-2, 2), max_size=2),
)


def _override(key: str, value: Any) -> str:
    if value is None:
        return f"{key}=null"
    if isinstance(value, bool):
        return f"{key}={str(value).lower()}"
    if isinstance(value, float):
        text = "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return f"{key}={text if not math.isfinite(value) else repr(value)}"
    if isinstance(value, list):
        return f"{key}=[{','.join(str(v) for v in value)}]"
    if isinstance(value, str):
        return f"{key}='{value}'"
    return f"{key}={value}"


CASES = [
    (cli, key) for cli, (_, _, keys) in CLIS.items() for key in keys if cli != "worldsim-export"
]


@settings(max_examples=50)
@given(case=st.sampled_from(CASES), value=VALUES)
def test_bad_values_are_refused_naming_the_key(tmp_path_factory, case, value) -> None:
    cli, key = case
    main, base, keys = CLIS[cli]
    assume(not keys[key](value))
    root = tmp_path_factory.mktemp("cli")
    paths = [f"out={root / 'out'}"] if cli != "worldsim-train" else [f"paths.runs_dir={root}"]
    code, _, err = run_cli(main, *base, *paths, _override(key, value))
    assert_clear_cli(f"cli:{cli}", code, err, key, f"{key.split('.')[-1]}=")
    assert not (root / "out" / "manifest.json").exists()


@pytest.mark.parametrize("cli", sorted(CLIS))
@settings(max_examples=8)
@given(key=st.from_regex(re.compile(r"[a-z][a-z_]{2,10}(\.[a-z_]{2,8})?"), fullmatch=True))
def test_unknown_keys_are_refused_naming_them(tmp_path_factory, cli: str, key: str) -> None:
    main, base, _ = CLIS[cli]
    known = ("out", "seed", "task", "paths", "data", "model", "source", "store", "speed")
    assume(key.split(".")[0] not in known)
    code, _, err = run_cli(main, *base, f"{key}=1")
    assert_clear_cli(f"cli:{cli}", code, err, key.split(".")[0])


@pytest.mark.parametrize(
    ("cli", "override", "names"),
    [
        ("worldsim-data", "out=", "out="),
        ("worldsim-rollout", "scenarios=[no_such_scenario]", "no_such_scenario"),
        ("worldsim-rollout", "checkpoint=nowhere.ckpt", "nowhere.ckpt"),
        ("worldsim-eval", "heads=nowhere.ckpt", "nowhere.ckpt"),
        ("worldsim-eval", "horizons=[0]", "horizons"),
        ("worldsim-export", "out=", "out="),
        ("worldsim-train", "ckpt_path=nowhere.ckpt", "nowhere.ckpt"),
        ("worldsim-train", "tokenizer_ckpt=nowhere.ckpt", "nowhere.ckpt"),
        ("worldsim-train", "prompt='night, fog'", "prompt"),
    ],
)
def test_bad_paths_and_names(tmp_path: Path, cli: str, override: str, names: str) -> None:
    main, base, _ = CLIS[cli]
    extra = [f"paths.runs_dir={tmp_path}"] if cli == "worldsim-train" else []
    if cli == "worldsim-train" and "tokenizer_ckpt" in override:
        extra += ["tokenizer=tiny"]
    code, _, err = run_cli(main, *base, *extra, override)
    assert_clear_cli(f"cli:{cli}", code, err, names)
