"""The evaluation heads: shapes, units, input checks and config validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from worldsim.models.heads import ConditionClassifier, HeadsConfig, InverseDynamicsModel

CONFIG = HeadsConfig(width=4, feature_dim=8)
TIMES = ["day", "dusk", "night"]
WEATHERS = ["clear", "rain", "fog", "snow"]


def clips(b: int, t: int, h: int = 16, w: int = 24, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (b, t, h, w, 3), dtype=np.uint8)


@pytest.fixture
def idm() -> InverseDynamicsModel:
    torch.manual_seed(0)
    return InverseDynamicsModel(CONFIG, motion_mean=[10.0, -0.5], motion_std=[2.0, 0.1]).eval()


@pytest.fixture
def classifier() -> ConditionClassifier:
    torch.manual_seed(0)
    return ConditionClassifier(CONFIG, TIMES, WEATHERS).eval()


def test_idm_forward_shape(idm: InverseDynamicsModel) -> None:
    x0, x1 = torch.rand(2, 3, 3, 16, 20) * 2 - 1
    assert idm(x0, x1).shape == (3, 2)
    with pytest.raises(ValueError, match="same shape"):
        idm(x0, x1[:, :, :8])


def test_idm_predict_is_denormalised_per_pair(idm: InverseDynamicsModel) -> None:
    frames = clips(2, 5)
    motion = idm.predict(frames, batch_size=3)  # chunks that split clips
    assert motion.shape == (2, 4, 2) and motion.dtype == np.float32
    x = torch.from_numpy(frames[1, 2:4]).float() / 127.5 - 1.0
    x = x.permute(0, 3, 1, 2)
    with torch.no_grad():
        expected = idm(x[:1], x[1:])[0] * torch.tensor([2.0, 0.1]) + torch.tensor([10.0, -0.5])
    np.testing.assert_allclose(motion[1, 2], expected.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(idm.predict(torch.from_numpy(frames)), motion, atol=1e-5)
    assert idm.predict(frames[:0]).shape == (0, 4, 2)


def test_idm_predict_rejects_bad_input(idm: InverseDynamicsModel) -> None:
    with pytest.raises(ValueError, match="uint8"):
        idm.predict(clips(1, 3).astype(np.float32))
    with pytest.raises(ValueError, match="shape"):
        idm.predict(clips(1, 3)[0])
    with pytest.raises(ValueError, match="T=1"):
        idm.predict(clips(1, 1))
    with pytest.raises(ValueError, match="at least 16x16"):
        idm.predict(clips(1, 3, h=8))
    with pytest.raises(ValueError, match="batch_size"):
        idm.predict(clips(1, 3), batch_size=0)


def test_idm_rejects_bad_statistics() -> None:
    with pytest.raises(ValueError, match="2 values"):
        InverseDynamicsModel(CONFIG, [0.0], [1.0])
    with pytest.raises(ValueError, match="> 0"):
        InverseDynamicsModel(CONFIG, [0.0, 0.0], [1.0, 0.0])


def test_classifier_outputs(classifier: ConditionClassifier) -> None:
    x = torch.rand(5, 3, 16, 16) * 2 - 1
    time_logits, weather_logits = classifier(x)
    assert time_logits.shape == (5, 3) and weather_logits.shape == (5, 4)
    assert classifier.features(x).shape == (5, 8)
    assert classifier.time_labels == TIMES and classifier.weather_labels == WEATHERS

    frames = clips(1, 7, h=20, w=32)[0]
    times, weathers = classifier.predict(frames, batch_size=3)
    assert times.shape == weathers.shape == (7,)
    assert times.dtype.kind == "i" and set(times) <= {0, 1, 2} and set(weathers) <= {0, 1, 2, 3}
    emb = classifier.embed(frames, batch_size=2)
    assert emb.shape == (7, 8) and emb.dtype == np.float64
    np.testing.assert_allclose(emb, classifier.embed(frames), rtol=1e-5, atol=1e-6)
    assert classifier.embed(frames[:0]).shape == (0, 8)


def test_classifier_rejects_bad_input(classifier: ConditionClassifier) -> None:
    with pytest.raises(ValueError, match="uint8"):
        classifier.predict(np.zeros((2, 16, 16, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        classifier.embed(np.zeros((2, 16, 16, 4), np.uint8))
    with pytest.raises(ValueError, match="unique"):
        ConditionClassifier(CONFIG, ["day", "day"], WEATHERS)
    with pytest.raises(ValueError, match="weather_labels"):
        ConditionClassifier(CONFIG, TIMES, [])


@pytest.mark.parametrize("field", ["width", "feature_dim"])
@pytest.mark.parametrize("value", [0, -3, 2.5])
def test_config_validation_names_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"heads.{field}"):
        HeadsConfig(**{field: value})
