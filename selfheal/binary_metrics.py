r"""Binary classification metrics in NumPy: F1, ROC AUC, Brier and the bootstraps of F1.

The one copy of each statistic that the gates (:mod:`selfheal.gates`), the performance views
(:mod:`selfheal.performance`) and the monitor's labeled-F1 trigger use. Inputs are validated
by the caller (:mod:`selfheal.validation`); these functions take clean arrays: labels 0/1,
predictions as bools, probabilities finite in [0, 1].

Conventions:

* F1 is the positive-class F1, :math:`F_1 = 2TP / (2TP + FP + FN)`, and the zero-division
  case (no positive label and no positive prediction) scores 0, never NaN, as scikit-learn's
  ``zero_division=0``;
* AUC is ``None`` when the labels hold a single class (it is undefined), never NaN;
* a bootstrap draws its replicates' confusion counts from a multinomial over the observed
  cells, which is exactly the distribution of resampling the rows with replacement, at
  :math:`O(n_{boot})` instead of :math:`O(n \cdot n_{boot})`; the generator is
  ``numpy.random.default_rng(seed)`` and each call draws once, so a seed fixes the result.

scikit-learn is not used: degenerate slices would emit warnings, and warnings are errors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "average_ranks",
    "brier",
    "confusion_counts",
    "f1",
    "f1_from_counts",
    "f1_interval",
    "multinomial_replicates",
    "paired_f1_gain_interval",
    "percentile_interval",
    "roc_auc",
]

FloatArray = NDArray[np.float64]


def confusion_counts(y: NDArray[np.integer], pred: NDArray[np.bool_]) -> tuple[int, int, int, int]:
    """``(TP, FP, FN, TN)`` of predictions `pred` against labels `y`.

    >>> confusion_counts(np.array([1, 1, 0, 0]), np.array([True, False, True, False]))
    (1, 1, 1, 1)
    """
    pos = y == 1
    tp = int(np.count_nonzero(pos & pred))
    fp = int(np.count_nonzero(~pos & pred))
    fn = int(np.count_nonzero(pos & ~pred))
    return tp, fp, fn, int(len(y) - tp - fp - fn)


def f1_from_counts(tp: ArrayLike, fp: ArrayLike, fn: ArrayLike) -> FloatArray:
    r"""F1 from confusion counts, elementwise; 0 where :math:`2TP + FP + FN = 0`.

    Counts may be expected (fractional) counts, as in CBPE.

    >>> f1_from_counts(np.array([3, 0]), np.array([1, 0]), np.array([1, 0])).tolist()
    [0.75, 0.0]
    """
    numerator = 2.0 * np.asarray(tp, dtype=np.float64)
    denominator = numerator + np.asarray(fp) + np.asarray(fn)
    # zero_division=0: no positive labels and no positive predictions score 0, not NaN
    return np.divide(numerator, denominator, out=np.zeros_like(denominator), where=denominator > 0)


def f1(y: NDArray[np.integer], pred: NDArray[np.bool_]) -> float:
    """F1 of predictions `pred` against labels `y` (0.0 in the zero-division case)."""
    tp, fp, fn, _ = confusion_counts(y, pred)
    return float(f1_from_counts(np.array([tp]), np.array([fp]), np.array([fn]))[0])


def brier(y: NDArray[np.integer], p: FloatArray) -> float:
    r"""Brier score :math:`\frac{1}{n}\sum_i (p_i - y_i)^2`; 0.0 for no rows.

    References
    ----------
    .. [1] Brier, G. W. (1950). Verification of forecasts expressed in terms of probability.
       Monthly Weather Review 78(1), 1-3.
    """
    return float(np.mean((p - y) ** 2)) if len(y) else 0.0


def average_ranks(values: FloatArray) -> FloatArray:
    """1-based ranks with ties given the mean of the ranks they span (SciPy's "average").

    >>> average_ranks(np.array([0.3, 0.1, 0.3])).tolist()
    [2.5, 1.0, 2.5]
    """
    order = np.argsort(values, kind="mergesort")
    sorted_vals = values[order]
    n = sorted_vals.size
    # A tie group starts wherever the sorted value changes.
    starts = np.flatnonzero(np.r_[True, sorted_vals[1:] != sorted_vals[:-1]])
    ends = np.r_[starts[1:], n]  # exclusive
    # Group covering positions start..end-1 (0-based) -> ranks start+1..end, mean (start+1+end)/2.
    group_rank = (starts + 1 + ends) / 2.0
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = np.repeat(group_rank, ends - starts)
    return ranks


def roc_auc(y: NDArray[np.integer], score: FloatArray) -> float | None:
    r"""ROC AUC by the Mann-Whitney rank sum; None when `y` holds a single class.

    Notes
    -----
    With :math:`R_i` the average rank of :math:`s_i` among all scores (ties share the mean of
    their ranks), :math:`n_1` positives and :math:`n_0` negatives,

    .. math::

        \text{AUC} = \frac{\sum_{i: y_i = 1} R_i - n_1(n_1 + 1)/2}{n_1 n_0},

    the probability that a random positive outscores a random negative, ties counting one
    half; it equals the trapezoidal ROC area of ``sklearn.metrics.roc_auc_score``.

    References
    ----------
    .. [1] Mann, H. B. and Whitney, D. R. (1947). On a test of whether one of two random
       variables is stochastically larger than the other. Ann. Math. Statist. 18(1), 50-60.
    .. [2] Hanley, J. A. and McNeil, B. J. (1982). The meaning and use of the area under a
       receiver operating characteristic (ROC) curve. Radiology 143(1), 29-36.

    Examples
    --------
    >>> roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    0.75
    >>> roc_auc(np.array([1, 1]), np.array([0.2, 0.9])) is None
    True
    """
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = average_ranks(score)
    u = float(ranks[y == 1].sum()) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


# --------------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------------


def percentile_interval(replicates: ArrayLike, alpha: float) -> tuple[float, float]:
    """Two-sided percentile interval of `replicates` with coverage ``1 - alpha``.

    References
    ----------
    .. [1] Efron, B. and Tibshirani, R. J. (1993). An Introduction to the Bootstrap. Chapman &
       Hall, ch. 13.
    """
    low, high = np.quantile(np.asarray(replicates), [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)


def multinomial_replicates(cell_counts: ArrayLike, n_boot: int, seed: int | None) -> NDArray[Any]:
    """`n_boot` bootstrap replicates of the cell counts of ``n = sum(cell_counts)`` rows.

    Resampling n rows with replacement draws the number of rows in each cell from
    Multinomial(n, observed cell shares); row ``b`` of the result is replicate ``b``.
    """
    cells = np.asarray(cell_counts)
    n = int(cells.sum())
    return np.random.default_rng(seed).multinomial(n, cells / n, size=n_boot)


def f1_interval(
    y: NDArray[np.integer], pred: NDArray[np.bool_], *, n_boot: int, seed: int, alpha: float
) -> tuple[float, float]:
    """Percentile interval (coverage ``1 - alpha``) of F1 under a row bootstrap.

    The cells are drawn in the order TP, FP, FN, TN; the monitor's labeled-F1 trigger uses the
    upper end.

    Examples
    --------
    >>> y = np.array([1, 1, 1, 0, 0, 0, 1, 0])
    >>> pred = np.array([True, True, False, False, True, False, True, False])
    >>> low, high = f1_interval(y, pred, n_boot=500, seed=0, alpha=0.1)
    >>> bool(low < f1(y, pred) < high)
    True
    """
    tp, fp, fn, tn = confusion_counts(y, pred)
    draws = multinomial_replicates(np.array([tp, fp, fn, tn], dtype=float), n_boot, seed)
    return percentile_interval(f1_from_counts(draws[:, 0], draws[:, 1], draws[:, 2]), alpha)


def paired_f1_gain_interval(
    y: NDArray[np.integer],
    pred_new: NDArray[np.bool_],
    pred_old: NDArray[np.bool_],
    *,
    n_boot: int,
    seed: int,
    alpha: float,
) -> tuple[float, float]:
    """Percentile interval (coverage ``1 - alpha``) of F1(new) - F1(old) under a paired row
    bootstrap: each replicate resamples the same rows for both models.

    F1 depends only on how many rows fall in each of the 8 cells (label, new call, old call),
    so the replicates are multinomial draws over those cells (see the module notes).
    """
    cell = y.astype(np.int64) * 4 + pred_new.astype(np.int64) * 2 + pred_old.astype(np.int64)
    counts = multinomial_replicates(np.bincount(cell, minlength=8), n_boot, seed)
    counts = counts.astype(np.float64)
    # Cell index bits: 4 = label, 2 = new model predicts 1, 1 = old model predicts 1.
    label1 = np.array([c >= 4 for c in range(8)])
    new1 = np.array([(c & 2) != 0 for c in range(8)])
    old1 = np.array([(c & 1) != 0 for c in range(8)])

    def f1_of(pos_pred: NDArray[np.bool_]) -> FloatArray:
        tp = counts[:, label1 & pos_pred].sum(axis=1)
        fp = counts[:, ~label1 & pos_pred].sum(axis=1)
        fn = counts[:, label1 & ~pos_pred].sum(axis=1)
        return f1_from_counts(tp, fp, fn)

    return percentile_interval(f1_of(new1) - f1_of(old1), alpha)
