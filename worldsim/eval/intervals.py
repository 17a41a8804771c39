"""95% bootstrap intervals over start contexts (Efron and Tibshirani 1993, percentile method)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

RESAMPLES = 1000


def bootstrap_interval(
    values_G: np.ndarray,
    statistic: Callable[[np.ndarray], float] = lambda v: float(np.nanmean(v)),
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of ``statistic`` over ``resamples`` resamplings of the ``G`` groups
    (one value, or one row of values, per start context)."""
    values = np.asarray(values_G, dtype=np.float64)
    if len(values) == 0:
        raise ValueError("bootstrap_interval needs at least one group")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(values), size=(resamples, len(values)))
    stats = np.array([statistic(values[p]) for p in picks])
    low, high = np.nanpercentile(stats, [2.5, 97.5])
    return float(low), float(high)


def mean_with_interval(values_G: np.ndarray, seed: int = 0) -> dict[str, float]:
    """``{"mean", "low", "high"}`` of per-context values (NaNs ignored)."""
    values = np.asarray(values_G, dtype=np.float64)
    low, high = bootstrap_interval(values, seed=seed)
    return {"mean": float(np.nanmean(values)), "low": low, "high": high}
