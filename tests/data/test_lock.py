"""One writer per store: a second writer is refused naming the first, and a killed writer's
lock is recovered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from worldsim.data.lock import LOCK_NAME, StoreLockedError, store_lock
from worldsim.data.sources.procedural import ProceduralSource
from worldsim.data.store import EpisodeStore, write_store

HOLD = (
    "import sys, time; from worldsim.data.lock import store_lock\n"
    "with store_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)\n"
)


def _hold(root: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(root)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_second_writer_is_refused_naming_the_holder_and_a_killed_lock_is_recovered(
    tmp_path: Path,
) -> None:
    root = tmp_path / "store"
    holder = _hold(root)
    try:
        with pytest.raises(StoreLockedError, match=f"pid {holder.pid}"):
            write_store(ProceduralSource(episodes=1, frames=4), root, workers=1, progress=False)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert (root / LOCK_NAME).exists()  # the dead holder's file is still there...
    summary = write_store(ProceduralSource(episodes=2, frames=4), root, workers=1, progress=False)
    assert summary.num_episodes == 2  # ...and the next writer takes the lock anyway
    assert len(EpisodeStore(root).keys()) == 2


def test_concurrent_cli_writers_leave_one_complete_store(tmp_path: Path) -> None:
    root = tmp_path / "store"
    cli = Path(sys.executable).with_name("worldsim-data")
    args = [str(cli), f"out={root}", "episodes=3", "frames=4", "workers=1", "progress=false"]
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    second = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-2000:]
    if second.returncode != 0:  # refused while the first was writing: one line, no traceback
        assert "is being written by pid" in second.stderr and "Traceback" not in second.stderr
    store = EpisodeStore(root)
    assert sorted(store.keys()) == [f"procedural-{i:06d}" for i in range(3)]
    for key in store.keys():
        assert store.frames(key).shape[0] == 4


def test_lock_is_reentrant_across_sequential_writers(tmp_path: Path) -> None:
    with store_lock(tmp_path):
        pass
    with store_lock(tmp_path):
        pass


def test_a_latent_cache_build_beside_a_data_writer_is_refused_naming_it(tmp_path: Path) -> None:
    from worldsim.data.latents import build_latent_cache
    from worldsim.models.patch_tokenizer import PatchTokenizer, PatchTokenizerConfig

    root = tmp_path / "store"
    write_store(ProceduralSource(episodes=1, frames=4), root, workers=1, progress=False)
    holder = _hold(root)
    try:
        with pytest.raises(StoreLockedError, match=f"pid {holder.pid}"):
            build_latent_cache(root, PatchTokenizer(PatchTokenizerConfig()))
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert build_latent_cache(root, PatchTokenizer(PatchTokenizerConfig())).is_dir()
