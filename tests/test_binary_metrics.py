"""Tests for selfheal.binary_metrics: each statistic against scikit-learn, and each bootstrap
against the textbook row-index bootstrap it replaces."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, f1_score, roc_auc_score

from selfheal.binary_metrics import (
    average_ranks,
    brier,
    confusion_counts,
    f1,
    f1_from_counts,
    f1_interval,
    multinomial_replicates,
    paired_f1_gain_interval,
    percentile_interval,
    roc_auc,
)


def _sample(seed: int, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = np.round(rng.random(n), 2)  # rounding makes ties
    y = (rng.random(n) < p).astype(np.int64)
    return y, p


@pytest.mark.parametrize("seed", range(5))
def test_statistics_match_scikit_learn(seed: int) -> None:
    y, p = _sample(seed)
    pred = p >= 0.5
    assert f1(y, pred) == pytest.approx(f1_score(y, pred))
    assert roc_auc(y, p) == pytest.approx(roc_auc_score(y, p))
    assert brier(y, p) == pytest.approx(brier_score_loss(y, p))
    tp, fp, fn, tn = confusion_counts(y, pred)
    assert tp + fp + fn + tn == len(y) and tp == int(np.sum(pred & (y == 1)))


def test_average_ranks_match_scipy() -> None:
    ss = pytest.importorskip("scipy.stats")
    _, p = _sample(0)
    np.testing.assert_array_equal(average_ranks(p), ss.rankdata(p, method="average"))


def test_f1_zero_division_scores_zero() -> None:
    assert f1(np.zeros(4, dtype=np.int64), np.zeros(4, dtype=bool)) == 0.0
    assert f1_from_counts(np.array([0.0]), np.array([0.0]), np.array([0.0])).tolist() == [0.0]
    assert float(f1_from_counts(1.5, 0.5, 0.5)) == 0.75  # expected (fractional) counts


def test_roc_auc_single_class_is_none() -> None:
    assert roc_auc(np.ones(3, dtype=np.int64), np.array([0.1, 0.5, 0.9])) is None
    assert roc_auc(np.zeros(3, dtype=np.int64), np.array([0.1, 0.5, 0.9])) is None


def test_brier_of_no_rows_is_zero() -> None:
    assert brier(np.zeros(0, dtype=np.int64), np.zeros(0)) == 0.0


def test_percentile_interval_is_the_two_sided_quantiles() -> None:
    values = np.arange(101, dtype=float)
    assert percentile_interval(values, 0.1) == (5.0, 95.0)


def test_multinomial_replicates_keep_the_row_count() -> None:
    draws = multinomial_replicates([3, 0, 7], 50, seed=1)
    assert draws.shape == (50, 3)
    assert (draws.sum(axis=1) == 10).all() and (draws[:, 1] == 0).all()
    np.testing.assert_array_equal(draws, multinomial_replicates([3, 0, 7], 50, seed=1))


def _monitor_formula(y: np.ndarray, proba: np.ndarray, confidence: float, seed: int) -> float:
    """The labeled-F1 trigger's upper bound as the monitor first wrote it (the oracle)."""
    pred = proba >= 0.5
    cells = np.array(
        [
            np.sum(pred & (y == 1)),
            np.sum(pred & (y == 0)),
            np.sum(~pred & (y == 1)),
            np.sum(~pred & (y == 0)),
        ],
        dtype=float,
    )
    n = int(cells.sum())
    draws = np.random.default_rng(seed).multinomial(n, cells / n, size=1000)
    tp, fp, fn = draws[:, 0], draws[:, 1], draws[:, 2]
    denom = 2 * tp + fp + fn
    scores = np.divide(2 * tp, denom, out=np.zeros(1000), where=denom > 0)
    return float(np.quantile(scores, 1 - (1 - confidence) / 2))


@pytest.mark.parametrize(("seed", "confidence"), [(0, 0.9), (1, 0.99), (2, 0.5)])
def test_f1_interval_upper_end_is_exactly_the_monitor_bound(seed: int, confidence: float) -> None:
    y, p = _sample(seed)
    _, high = f1_interval(y, p >= 0.5, n_boot=1000, seed=seed, alpha=1.0 - confidence)
    assert high == _monitor_formula(y, p, confidence, seed)


def test_f1_interval_matches_a_row_index_bootstrap() -> None:
    y, p = _sample(3, n=400)
    pred = p >= 0.5
    rng = np.random.default_rng(11)
    rows = rng.integers(0, len(y), size=(2000, len(y)))
    reference = np.array([f1(y[i], pred[i]) for i in rows])
    low, high = f1_interval(y, pred, n_boot=2000, seed=0, alpha=0.1)
    assert low == pytest.approx(np.quantile(reference, 0.05), abs=0.015)
    assert high == pytest.approx(np.quantile(reference, 0.95), abs=0.015)
    assert low < f1(y, pred) < high


def test_paired_gain_interval_matches_a_paired_row_bootstrap() -> None:
    y, p = _sample(4, n=400)
    new, old = p >= 0.4, p >= 0.6
    rng = np.random.default_rng(5)
    rows = rng.integers(0, len(y), size=(2000, len(y)))
    gains = np.array([f1(y[i], new[i]) - f1(y[i], old[i]) for i in rows])
    low, high = paired_f1_gain_interval(y, new, old, n_boot=2000, seed=0, alpha=0.1)
    assert low == pytest.approx(np.quantile(gains, 0.05), abs=0.015)
    assert high == pytest.approx(np.quantile(gains, 0.95), abs=0.015)
    again = paired_f1_gain_interval(y, new, old, n_boot=2000, seed=0, alpha=0.1)
    assert again == (low, high)


def test_paired_gain_interval_of_identical_models_is_zero() -> None:
    y, p = _sample(5)
    pred = p >= 0.5
    assert paired_f1_gain_interval(y, pred, pred, n_boot=200, seed=0, alpha=0.1) == (0.0, 0.0)
