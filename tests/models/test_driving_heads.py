"""The driving-signal heads: shapes and errors, the accuracy measures, a real training run,
the bundle round trip, and the shipped heads against the simulator's ground truth."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import worldsim
from worldsim.data.signals import signal_accuracy
from worldsim.env.learned.signals import SIGNAL_INFO
from worldsim.env.rewards import BATCHED, StepContext, progress_lane_comfort
from worldsim.models.heads import OUTPUTS, SIGNALS, DrivingHeads, DrivingHeadsConfig
from worldsim.runtime.bundle import bundled_model_dir, export_driving_heads
from worldsim.runtime.checkpoint import CheckpointError
from worldsim.runtime.driving_heads import has_driving_heads, load_driving_heads
from worldsim.sim.policies import DEFAULT_WEIGHTS, DrivingPolicy
from worldsim.utils.scores import auroc, pearson, precision_recall


def test_heads_predict_every_signal_for_each_window() -> None:
    heads = DrivingHeads(DrivingHeadsConfig(channels=4, feature_dim=8)).eval()
    frames = np.random.default_rng(0).integers(0, 256, (5, 2, 64, 112, 3), dtype=np.uint8)
    out = heads.predict(frames, batch_size=2)
    assert set(out) == set(SIGNAL_INFO)
    assert all(v.shape == (5,) and np.isfinite(v).all() for v in out.values())
    assert ((out["offroad_prob"] >= 0) & (out["offroad_prob"] <= 1)).all()
    assert (out["lead_gap"] <= heads.config.lead_gap_max).all()
    raw = heads(torch.zeros(3, 2, 3, 64, 112))
    assert raw.shape == (3, len(OUTPUTS))


@pytest.mark.parametrize(
    ("shape", "dtype", "match"),
    [
        ((2, 3, 64, 112, 3), np.uint8, "read 2 frames of 64x112"),
        ((2, 2, 32, 112, 3), np.uint8, "read 2 frames of 64x112"),
        ((2, 64, 112, 3), np.uint8, "uint8"),
        ((2, 2, 64, 112, 3), np.float32, "dtype"),
    ],
)
def test_heads_name_a_bad_input(shape: tuple[int, ...], dtype: type, match: str) -> None:
    heads = DrivingHeads(DrivingHeadsConfig(channels=4, feature_dim=8))
    with pytest.raises(ValueError, match=match):
        heads.predict(np.zeros(shape, dtype))


def test_config_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="driving_heads.frames=0"):
        DrivingHeadsConfig(frames=0)
    with pytest.raises(ValueError, match="lead_gap_max"):
        DrivingHeadsConfig(lead_gap_max=0.0)


def test_auroc_pearson_and_precision_recall_match_their_definitions() -> None:
    rng = np.random.default_rng(1)
    scores = rng.normal(size=200)
    labels = rng.random(200) < 1 / (1 + np.exp(-2 * scores))
    pos, neg = scores[labels], scores[~labels]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert auroc(scores, labels) == pytest.approx(pairs)
    assert auroc(np.ones(4), np.array([0, 1, 0, 1])) == pytest.approx(0.5)  # ties count half
    assert np.isnan(auroc(scores, np.zeros(200)))
    b = 2 * scores + rng.normal(size=200)
    assert pearson(scores, b) == pytest.approx(np.corrcoef(scores, b)[0, 1])
    p, r = precision_recall(np.array([1, 1, 0, 0], bool), np.array([1, 0, 1, 0], bool))
    assert (p, r) == (0.5, 0.5)


def test_store_records_the_signals_the_heads_learn(procedural_store: Path) -> None:
    from worldsim.data.signals import SignalWindows

    windows = SignalWindows(procedural_store, "train", frames=2)
    item = windows[0]
    assert item["frames"].shape == (2, 64, 112, 3) and item["signals"].shape == (len(SIGNALS),)
    signals = windows.all_signals()
    lane_offset, heading, offroad, collision, gap = signals.T
    assert (np.abs(lane_offset) < 4.0).all() and (np.abs(heading) < np.pi).all()
    assert set(np.unique(offroad)) <= {0.0, 1.0} and set(np.unique(collision)) <= {0.0, 1.0}
    assert (gap <= 50.0).all()


def test_trained_heads_load_from_checkpoint_and_bundle_alike(
    driving_heads_ckpt: Path, tmp_path: Path
) -> None:
    loaded = load_driving_heads(driving_heads_ckpt)
    k = loaded.heads.config.frames
    frames = np.random.default_rng(2).integers(0, 256, (3, k, 64, 112, 3), dtype=np.uint8)
    want = loaded.heads.predict(frames)
    export_driving_heads(driving_heads_ckpt, tmp_path)
    assert has_driving_heads(tmp_path)
    got = load_driving_heads(tmp_path).heads.predict(frames)
    for name in want:
        assert np.allclose(got[name], want[name], atol=1e-6)
    assert loaded.metadata["config"]["frames"] == k == 8  # conf/driving_heads/default.yaml


def test_loading_something_else_says_what_to_train(heads_ckpt: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="experiment=driving_heads"):
        load_driving_heads(heads_ckpt)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_driving_heads(tmp_path)


def record_drives(seeds: list[int], steps: int, k: int = 2) -> tuple[np.ndarray, np.ndarray, dict]:
    """Windows of ``k`` frames (the first frame repeated before there are ``k``, as the env
    does), true rewards and labels of ProceduralDriving-v0 drives (never terminated, so crashes
    continue) under the data policy with tailgating and exploring."""
    weights = {**DEFAULT_WEIGHTS, "explore": 0.3, "tailgate": 0.3}
    windows, rewards, labels = [], [], {"crash": [], "speed": [], "yaw": [], "accel": []}
    labels["prev_accel"] = []
    for seed in seeds:
        env = gym.make(worldsim.PROCEDURAL_ENV_ID, horizon=steps, termination_fn="never")
        obs, _ = env.reset(seed=seed)
        world = env.unwrapped.world
        policy = DrivingPolicy(np.random.default_rng(seed), weights)
        history, prev_accel = [obs] * k, 0.0
        for _ in range(steps):
            obs, reward, _, truncated, info = env.step(policy.act(world).astype(np.float32))
            history = [*history[1:], obs]
            windows.append(np.stack(history))
            rewards.append(reward)
            labels["crash"].append(info["offroad"] or info["collision"])
            labels["speed"].append(info["speed"])
            labels["yaw"].append(info["yaw_rate"])
            accel = world.state.ego.accel
            labels["accel"].append(accel)
            labels["prev_accel"].append(prev_accel)
            prev_accel = accel
            world = env.unwrapped.world
            if truncated:
                break
    return np.stack(windows), np.array(rewards), {k: np.array(v) for k, v in labels.items()}


@pytest.mark.slow
def test_shipped_heads_reward_and_terminations_match_the_true_ones() -> None:
    """On held-out ground-truth drives: the learned env's reward from the shipped heads
    correlates with the true reward (r >= 0.8), and predicted crashes match true ones
    (precision and recall >= 0.8)."""
    if not has_driving_heads(bundled_model_dir()):
        pytest.fail("the bundled model ships no driving heads")
    heads = load_driving_heads().heads
    seeds = [3_000_000 + i for i in range(8)]
    windows, true_reward, labels = record_drives(seeds, 100, heads.config.frames)
    pred = heads.predict(windows)
    ctx = StepContext(
        dt=0.1,
        progress=labels["speed"] * np.cos(pred["heading_error"]) * 0.1,
        speed=labels["speed"],
        yaw_rate=labels["yaw"],
        accel=labels["accel"],
        prev_accel=labels["prev_accel"],
        lateral_offset=np.abs(pred["lane_offset"]),
    )
    model_reward = BATCHED[progress_lane_comfort](ctx)  # what the learned env computes
    assert pearson(model_reward, true_reward) >= 0.8
    crash = np.maximum(pred["offroad_prob"], pred["collision_prob"]) > 0.5
    assert labels["crash"].sum() >= 10, "the drives must crash for the test to mean anything"
    precision, recall = precision_recall(crash, labels["crash"])
    assert precision >= 0.8 and recall >= 0.8, (precision, recall)


def test_accuracy_table_compares_with_a_constant() -> None:
    rng = np.random.default_rng(3)
    true = np.zeros((50, len(SIGNALS)))
    true[:, 0] = rng.normal(0, 0.5, 50)
    true[:, 2] = rng.random(50) < 0.3
    true[:, 4] = 50.0
    pred = {
        "lane_offset": true[:, 0],
        "heading_error": np.zeros(50),
        "offroad_prob": true[:, 2] * 0.9,
        "collision_prob": np.zeros(50),
        "lead_prob": np.zeros(50),
        "lead_gap": np.full(50, 50.0),
    }
    table = signal_accuracy(pred, true)
    assert table["lane_offset_mae"] == 0.0 < table["lane_offset_mae_constant"]
    assert table["offroad_auroc"] == 1.0
    assert np.isnan(table["collision_auroc"])  # no collision in the labels


def test_padding_repeats_a_later_frame_over_the_oldest_ones() -> None:
    from worldsim.training.driving_heads_module import pad_oldest

    x = torch.arange(4.0 * 5).reshape(4, 5, 1, 1, 1).expand(4, 5, 3, 2, 2)  # frame value = index
    torch.manual_seed(0)
    padded = pad_oldest(x, prob=1.0)
    for row, orig in zip(padded[:, :, 0, 0, 0], x[:, :, 0, 0, 0], strict=True):
        j = int((row == row[0]).sum()) - 1  # frames 0 .. j share frame j's value
        assert 1 <= j <= 4 and torch.equal(row[j:], orig[j:]) and (row[:j] == orig[j]).all()
    assert torch.equal(pad_oldest(x, prob=0.0), x)
