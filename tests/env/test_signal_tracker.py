"""The learned env's SignalTracker keeps the heads' inputs in a ring, so a step converts only
the new frame: its signals must equal the heads' own prediction on the uint8 windows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from worldsim.env.learned.signals import SIGNAL_INFO, SignalTracker
from worldsim.models.heads import DrivingHeads, DrivingHeadsConfig

H, W, K, N = 16, 24, 4, 5


@pytest.fixture(scope="module")
def heads() -> DrivingHeads:
    torch.manual_seed(0)
    return DrivingHeads(DrivingHeadsConfig(height=H, width=W, frames=K, channels=4)).eval()


def assert_matches(tracker: SignalTracker, heads: DrivingHeads, rows: np.ndarray) -> None:
    want = heads.predict(tracker.window_NKHWC[rows])
    # the same network on the same frames; the convolutions may sum in another order for
    # another batch size (seen with AVX-512 kernels), so allow float32 rounding
    for name in SIGNAL_INFO:
        np.testing.assert_allclose(tracker.values[name][rows], want[name], rtol=1e-5, atol=1e-5)


def test_ring_matches_the_windows(heads: DrivingHeads) -> None:
    rng = np.random.default_rng(0)
    tracker = SignalTracker(heads, N, (H, W))
    tracker.start(np.arange(N), rng.integers(0, 256, (N, 2, H, W, 3), dtype=np.uint8))
    # A context shorter than the window repeats its first frame.
    np.testing.assert_array_equal(tracker.window_NKHWC[:, 0], tracker.window_NKHWC[:, 1])
    assert_matches(tracker, heads, np.arange(N))
    for step in range(K + 3):  # past a full turn of the ring
        rows = np.arange(N) if step % 2 == 0 else np.array([1, 3])
        tracker.push(rows, rng.integers(0, 256, (len(rows), H, W, 3), dtype=np.uint8))
        assert_matches(tracker, heads, np.arange(N))
    # Restarting one row and loading another's state keep every row consistent.
    tracker.start(np.array([2]), rng.integers(0, 256, (1, 6, H, W, 3), dtype=np.uint8))
    tracker.set(4, tracker.get(0))
    tracker.push(np.arange(N), rng.integers(0, 256, (N, H, W, 3), dtype=np.uint8))
    assert_matches(tracker, heads, np.arange(N))
    np.testing.assert_array_equal(tracker.window_NKHWC[4, :-1], tracker.window_NKHWC[0, :-1])


def test_predict_inputs_checks_the_shape(heads: DrivingHeads) -> None:
    with pytest.raises(ValueError, match=r"inputs of shape \(N, 4, 3, 16, 24\)"):
        heads.predict_inputs(torch.zeros(2, K, 3, H, W + 2))
