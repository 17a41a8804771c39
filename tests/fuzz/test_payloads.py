"""A checkpoint carrying a pickle payload (one that would create a marker file) is refused by
every loader of a user-supplied file, and the marker never appears."""

from __future__ import annotations

import os
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from tests.cli_helpers import run_cli
from tests.fuzz.helpers import assert_clear_cli, assert_clear_error, count
from worldsim.cli import eval, rollout, train
from worldsim.data.latents import build_latent_cache, default_latents_dir
from worldsim.data.sources.procedural import ProceduralSource
from worldsim.data.store import EpisodeStore, write_store
from worldsim.models.patch_tokenizer import PatchTokenizer, PatchTokenizerConfig
from worldsim.runtime.checkpoint import load_world_model
from worldsim.runtime.heads import load_eval_heads


class Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def evil(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "payload-ran"
    path = tmp_path / "evil.ckpt"
    torch.save(
        {
            "state_dict": {},
            "global_step": 1,
            "loops": {},
            "hyper_parameters": {"worldsim": Payload(marker)},
        },
        path,
    )
    return path, marker


API = {
    "load_world_model": lambda p: load_world_model(p),
    "gym.make": lambda p: gym.make("worldsim/DrivingWorld-v0", checkpoint=str(p)),
    "gym.make_vec": lambda p: gym.make_vec("worldsim/DrivingWorld-v0", 2, checkpoint=str(p)),
    "load_eval_heads": lambda p: load_eval_heads(p),
}


@pytest.mark.parametrize("loader", sorted(API))
def test_api_loaders_refuse_the_payload(evil: tuple[Path, Path], loader: str) -> None:
    path, marker = evil
    with pytest.raises(Exception) as info:
        API[loader](path)
    assert_clear_error("payloads", info.value, str(path), path.name)
    assert not marker.exists()
    count("payloads:not_executed")


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data") / "procedural"
    write_store(ProceduralSource(episodes=2, frames=8), root, workers=1, progress=False)
    return root


def _cli_cases(path: Path, store: Path, runs: Path) -> dict[str, tuple]:
    data = [f"data.store={store}", "data.generate=null", f"paths.runs_dir={runs}"]
    return {
        "worldsim-eval checkpoint=": (eval.main, [f"checkpoint={path}", f"out={runs / 'e'}"]),
        "worldsim-eval heads=": (eval.main, [f"heads={path}", f"out={runs / 'e'}"]),
        "worldsim-rollout checkpoint=": (
            rollout.main,
            [f"checkpoint={path}", "scenarios=[hard_braking]", f"out={runs / 'r'}"],
        ),
        "worldsim-train tokenizer_ckpt=": (
            train.main,
            [*data, "experiment=world_model_tiny", f"tokenizer_ckpt={path}"],
        ),
        "worldsim-train ckpt_path=": (
            train.main,
            [*data, "experiment=world_model_tiny", "tokenizer=patch2", f"ckpt_path={path}"],
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "worldsim-eval checkpoint=",
        "worldsim-eval heads=",
        "worldsim-rollout checkpoint=",
        "worldsim-train tokenizer_ckpt=",
        "worldsim-train ckpt_path=",
    ],
)
def test_cli_loaders_refuse_the_payload(
    evil: tuple[Path, Path], tiny_store: Path, tmp_path: Path, case: str
) -> None:
    path, marker = evil
    main, args = _cli_cases(path, tiny_store, tmp_path / "runs")[case]
    code, _, err = run_cli(main, *args)
    assert_clear_cli("payloads", code, err, str(path))
    assert not marker.exists()
    count("payloads:not_executed")


def test_latent_cache_never_unpickles_a_planted_file(tiny_store: Path, tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"
    tokenizer = PatchTokenizer(PatchTokenizerConfig())
    folder = default_latents_dir(tiny_store, tokenizer)
    folder.mkdir(parents=True, exist_ok=True)
    keys = EpisodeStore(tiny_store).keys()
    for key in keys:
        np.save(folder / f"{key}.npy", np.array([Payload(marker)], dtype=object))
    build_latent_cache(tiny_store, tokenizer)  # re-encodes the unreadable files
    assert not marker.exists()
    for key in keys:
        assert np.load(folder / f"{key}.npy", allow_pickle=False).dtype == np.float16
    count("payloads:not_executed")
