"""data.mix: training clips drawn from two episode stores at a given share."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from worldsim.data.datamodule import EpisodeDataModule, StoreMix
from worldsim.data.sources.procedural import ProceduralSource
from worldsim.data.store import EpisodeStore
from worldsim.data.store.writer import write_store


@pytest.fixture(scope="module")
def switch_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three procedural drives of 16 frames whose look switches mid-way (64 x 112 frames)."""
    root = tmp_path_factory.mktemp("mix") / "switch"
    source = ProceduralSource(episodes=3, frames=16, seed=4, switch_prob=1.0)
    write_store(source, root, workers=1, val_fraction=0.34, progress=False)
    return root


def mixed(main: Path, other: Path, share: float, batch_size: int = 4) -> EpisodeDataModule:
    data = EpisodeDataModule(
        str(main), clip_len=6, batch_size=batch_size, stride=1, mix=StoreMix(str(other), share)
    )
    data.setup("fit")
    return data


def test_training_clips_come_from_both_stores_at_the_share(
    pristine_store: Path, switch_store: Path
) -> None:
    torch.manual_seed(0)
    data = mixed(pristine_store, switch_store, share=0.25)
    main_keys = set(EpisodeStore(pristine_store).keys())
    drawn = [key for batch in data.train_dataloader() for key in batch["key"]]
    assert len(drawn) == len(data._train) // 4 * 4  # an epoch: the main store's clips
    from_mix = np.mean([key not in main_keys for key in drawn])
    # 0.25 of a few hundred draws; a plain concatenation would give the stores' size ratio.
    sizes = len(data._mixed) / (len(data._mixed) + len(data._train))
    assert abs(from_mix - 0.25) < 0.08 and abs(sizes - 0.25) > 0.08
    # Validation stays on the main store.
    assert {key for batch in data.val_dataloader() for key in batch["key"]} <= main_keys


def test_switch_clips_reach_the_batch_with_their_switch(
    pristine_store: Path, switch_store: Path
) -> None:
    torch.manual_seed(1)
    data = mixed(pristine_store, switch_store, share=0.9)
    switches = torch.cat([batch["switch_at"] for batch in data.train_dataloader()])
    assert bool((switches > 0).any()) and bool((switches == 0).any())


def test_the_mixed_store_is_normalised_with_the_main_store_statistics(
    pristine_store: Path, switch_store: Path
) -> None:
    data = mixed(pristine_store, switch_store, share=0.5)
    main_stats = EpisodeStore(pristine_store).stats.ego_motion
    own_stats = EpisodeStore(switch_store).stats.ego_motion
    item = data._mixed[0]
    raw = item["ego_motion"].numpy()
    np.testing.assert_allclose(item["ego_motion_norm"].numpy(), main_stats.normalize(raw))
    assert not np.allclose(own_stats.normalize(raw), main_stats.normalize(raw))


@pytest.mark.parametrize("share", [0.0, 1.0, -0.5, 1.5])
def test_a_share_outside_zero_one_is_refused(
    pristine_store: Path, switch_store: Path, share: float
) -> None:
    with pytest.raises(ValueError, match=rf"data.mix.share={share} must lie strictly between"):
        mixed(pristine_store, switch_store, share=share)


def test_a_missing_or_mismatched_store_is_refused(
    pristine_store: Path, switch_store: Path, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError, match="data.mix.store=.*nowhere does not exist"):
        mixed(pristine_store, tmp_path / "nowhere", share=0.5)
    small = tmp_path / "small"
    write_store(
        ProceduralSource(episodes=2, frames=8, seed=1, height=32, width=56),
        small,
        workers=1,
        val_fraction=0.5,
        progress=False,
    )
    with pytest.raises(ValueError, match=r"holds \(32, 56\) frames but .* \(64, 112\)"):
        mixed(pristine_store, small, share=0.5)
    too_long = EpisodeDataModule(
        str(pristine_store), clip_len=18, stride=1, mix=StoreMix(str(switch_store), 0.5)
    )  # the main store's drives are 20 frames or longer, the mixed store's 16
    with pytest.raises(ValueError, match="switch has no training clips of 18 frames"):
        too_long.setup("fit")


def test_latents_must_be_cached_for_both_stores_or_neither(
    pristine_store: Path, switch_store: Path
) -> None:
    with pytest.raises(ValueError, match="latents must be cached exactly when"):
        EpisodeDataModule(
            str(pristine_store), latents_dir="somewhere", mix=StoreMix(str(switch_store), 0.5)
        )
