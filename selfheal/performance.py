"""Model performance on a window of traffic: with labels, without labels, and estimated.

Three views of how well the served binary classifier is doing:

* :func:`labeled_metrics` -- the realized metrics once ground truth has arrived;
* :func:`proxy_metrics` -- cheap label-free summaries of the scores (positive rate, confidence);
* :func:`estimate_performance` -- a Confidence-Based Performance Estimate (CBPE) of F1 and
  accuracy from the scores alone, using a :class:`Calibrator` fitted on a training holdout
  and stored as JSON with the model version.

:func:`estimation_gap` compares an estimate with the realized metrics of the same window once
labels arrive; a realized value outside the estimate's band means the relation between scores
and outcomes has changed (concept drift), which covariate monitoring cannot see.

Everything here is plain NumPy at run time. scikit-learn is used only inside
:func:`fit_calibrator` (training time); SciPy is never imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from selfheal import validation
from selfheal.binary_metrics import (
    brier,
    confusion_counts,
    f1_from_counts,
    percentile_interval,
    roc_auc,
)

__all__ = [
    "MIN_RELIABLE_N",
    "Calibrator",
    "LabeledMetrics",
    "PerformanceEstimate",
    "ProxyMetrics",
    "estimate_performance",
    "estimation_gap",
    "fit_calibrator",
    "labeled_metrics",
    "proxy_metrics",
]

#: Below this many rows an estimate is still computed, but its band is wide (F1 on a few dozen
#: rows swings by tenths from label noise alone) and should not drive automatic actions.
MIN_RELIABLE_N = 100

#: Version of the JSON layout written by :meth:`Calibrator.to_dict`.
CALIBRATOR_FORMAT = 1

_CALIBRATOR_KINDS = ("isotonic", "identity", "constant")


def _ratio(num: float, den: float) -> float:
    """num / den with the sklearn ``zero_division=0`` convention: 0.0 when den is 0."""
    return float(num / den) if den > 0 else 0.0


# --------------------------------------------------------------------------------------------
# 1. Labeled metrics
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabeledMetrics:
    """Realized metrics of a labeled window.

    Attributes
    ----------
    n : int
        Number of rows.
    n_positive : int
        Number of rows with ``y_true == 1``.
    f1, precision, recall : float or None
        Threshold metrics of ``proba >= threshold``; ``None`` when ``y_true`` holds a single
        class (see :func:`labeled_metrics`), never NaN.
    accuracy : float
        Share of rows called correctly.
    auc : float or None
        ROC AUC; ``None`` when ``y_true`` holds a single class (AUC is undefined).
    brier : float
        Brier score, the mean squared error of the probabilities (lower is better).
    """

    n: int
    n_positive: int
    f1: float | None
    precision: float | None
    recall: float | None
    accuracy: float
    auc: float | None
    brier: float

    def to_dict(self) -> dict[str, Any]:
        """Plain ``int``/``float``/``None`` values, safe for ``json.dumps``."""
        return asdict(self)


def labeled_metrics(y_true: ArrayLike, proba: ArrayLike, threshold: float = 0.5) -> LabeledMetrics:
    r"""Realized classification metrics of one labeled window.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Ground-truth labels, 0 or 1 (bools and 0.0/1.0 accepted).
    proba : array-like of shape (n,)
        Predicted probability of the positive class, finite and in [0, 1].
    threshold : float, default 0.5
        A row is predicted positive when ``proba >= threshold``.

    Returns
    -------
    LabeledMetrics

    Raises
    ------
    ValueError
        If either input is empty, not 1-D, of different lengths, if ``y_true`` holds anything
        but 0/1, if ``proba`` is non-finite or outside [0, 1], or ``threshold`` outside [0, 1].

    Notes
    -----
    With :math:`\hat y_i = [p_i \ge t]` and the confusion counts TP, FP, FN, TN:

    .. math::

        \text{precision} = \frac{TP}{TP + FP}, \quad
        \text{recall} = \frac{TP}{TP + FN}, \quad
        F_1 = \frac{2TP}{2TP + FP + FN}, \quad
        \text{accuracy} = \frac{TP + TN}{n}, \quad
        \text{Brier} = \frac{1}{n}\sum_i (p_i - y_i)^2 .

    Edge cases never produce NaN. With a single class in ``y_true`` (only repaid loans
    confirmed so far, say) F1, precision, recall and AUC are ``None``: with no actual
    positives F1 is 0 whatever the model does, and reporting that 0 as a collapse would fire
    a retrain on no evidence. With both classes, a ratio whose denominator is zero is 0.0
    (scikit-learn's ``zero_division=0``): precision with no predicted positives is 0.0.

    AUC uses the Mann-Whitney form: with :math:`R_i` the average rank of :math:`p_i` among all
    scores (ties share the mean of their ranks), :math:`n_1` positives and :math:`n_0`
    negatives,

    .. math::

        \text{AUC} = \frac{\sum_{i: y_i = 1} R_i - n_1(n_1 + 1)/2}{n_1 n_0},

    which equals the probability that a random positive outscores a random negative, ties
    counting one half; it matches the trapezoidal ROC area of ``sklearn.metrics.roc_auc_score``.

    References
    ----------
    .. [1] Mann, H. B. and Whitney, D. R. (1947). On a test of whether one of two random
       variables is stochastically larger than the other. Ann. Math. Statist. 18(1), 50-60.
    .. [2] Hanley, J. A. and McNeil, B. J. (1982). The meaning and use of the area under a
       receiver operating characteristic (ROC) curve. Radiology 143(1), 29-36.
    .. [3] Brier, G. W. (1950). Verification of forecasts expressed in terms of probability.
       Monthly Weather Review 78(1), 1-3.
    """
    func = "labeled_metrics"
    p = validation.probabilities(proba, func=func)
    y = validation.labels(y_true, func=func, n=p.size)
    t = validation.unit_number(threshold, func=func, arg="threshold")

    tp, fp, fn, tn = confusion_counts(y, p >= t)
    both = 0 < tp + fn < p.size
    return LabeledMetrics(
        n=int(p.size),
        n_positive=int(tp + fn),
        f1=float(f1_from_counts(tp, fp, fn)) if both else None,
        precision=_ratio(tp, tp + fp) if both else None,
        recall=_ratio(tp, tp + fn) if both else None,
        accuracy=(tp + tn) / p.size,
        auc=roc_auc(y, p),
        brier=brier(y, p),
    )


# --------------------------------------------------------------------------------------------
# 2. Label-free proxies
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProxyMetrics:
    """Label-free summaries of a window's scores.

    Attributes
    ----------
    n : int
        Number of rows.
    positive_rate : float
        Share of rows predicted positive (``proba >= threshold``).
    mean_probability : float
        Mean predicted probability of the positive class.
    mean_confidence : float
        Mean of ``max(p, 1 - p)``; 0.5 is a coin flip, 1.0 is certainty.
    """

    n: int
    positive_rate: float
    mean_probability: float
    mean_confidence: float

    def to_dict(self) -> dict[str, Any]:
        """Plain ``int``/``float`` values, safe for ``json.dumps``."""
        return asdict(self)


def proxy_metrics(proba: ArrayLike, threshold: float = 0.5) -> ProxyMetrics:
    r"""Label-free proxies of model behaviour on one window.

    Parameters
    ----------
    proba : array-like of shape (n,)
        Predicted probability of the positive class, finite and in [0, 1].
    threshold : float, default 0.5
        A row is predicted positive when ``proba >= threshold``.

    Returns
    -------
    ProxyMetrics

    Raises
    ------
    ValueError
        If ``proba`` is empty, not 1-D, non-finite or outside [0, 1], or ``threshold`` is
        outside [0, 1].

    Notes
    -----
    .. math::

        \text{positive\_rate} = \frac{1}{n}\sum_i [p_i \ge t], \quad
        \text{mean\_probability} = \frac{1}{n}\sum_i p_i, \quad
        \text{mean\_confidence} = \frac{1}{n}\sum_i \max(p_i, 1 - p_i).

    A falling mean confidence or a shifting positive rate is a hint, not a measurement: they
    move under covariate shift even when accuracy does not, and they stay still under concept
    drift (the model is just as confident, only wrong). Use :func:`estimate_performance` for a
    number in the units of the metric.
    """
    p = validation.probabilities(proba, func="proxy_metrics")
    t = validation.unit_number(threshold, func="proxy_metrics", arg="threshold")
    return ProxyMetrics(
        n=int(p.size),
        positive_rate=float(np.mean(p >= t)),
        mean_probability=float(np.mean(p)),
        mean_confidence=float(np.mean(np.maximum(p, 1.0 - p))),
    )


# --------------------------------------------------------------------------------------------
# 3. Calibrator
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibrator:
    """A monotone piecewise-linear map from raw model probability to calibrated probability.

    Stored as knots ``(x[k], y[k])``; :meth:`transform` interpolates linearly between knots and
    clips to ``y[0]`` / ``y[-1]`` outside ``[x[0], x[-1]]`` (``np.interp``). No scikit-learn
    object is needed at run time and :meth:`to_dict` / :meth:`from_dict` round-trip exactly
    through ``json.dumps`` / ``json.loads`` (Python floats serialise with ``repr``, which is
    exact for IEEE doubles).

    Attributes
    ----------
    x : tuple of float
        Strictly increasing knot positions in [0, 1].
    y : tuple of float
        Non-decreasing calibrated values in [0, 1], one per knot.
    kind : {"isotonic", "identity", "constant"}
        How the map was obtained (see :func:`fit_calibrator`).
    n_samples : int
        Number of holdout rows the map was fitted on (0 for a hand-made identity).
    """

    x: tuple[float, ...]
    y: tuple[float, ...]
    kind: str = "isotonic"
    n_samples: int = 0

    def __post_init__(self) -> None:
        # Validate here so a corrupt stored calibrator fails on load, not mid-monitoring.
        xs = np.asarray(self.x, dtype=np.float64)
        ys = np.asarray(self.y, dtype=np.float64)
        if xs.ndim != 1 or xs.size == 0 or xs.shape != ys.shape:
            raise ValueError(
                "calibrator x and y must be non-empty 1-D sequences of equal length, "
                f"got {xs.shape} and {ys.shape}"
            )
        if not (np.all(np.isfinite(xs)) and np.all(np.isfinite(ys))):
            raise ValueError("calibrator x and y must be finite")
        if xs.min() < 0.0 or xs.max() > 1.0 or ys.min() < 0.0 or ys.max() > 1.0:
            raise ValueError("calibrator x and y must lie in [0, 1]")
        if np.any(np.diff(xs) <= 0.0):
            raise ValueError("calibrator x must be strictly increasing")
        if np.any(np.diff(ys) < 0.0):
            raise ValueError("calibrator y must be non-decreasing (the map is monotone)")
        if self.kind not in _CALIBRATOR_KINDS:
            raise ValueError(
                f"calibrator kind must be one of {_CALIBRATOR_KINDS}, got {self.kind!r}"
            )
        if int(self.n_samples) < 0:
            raise ValueError(f"calibrator n_samples must be >= 0, got {self.n_samples!r}")
        # Normalise to tuples of Python floats so equality and JSON are exact and hashable.
        object.__setattr__(self, "x", tuple(float(v) for v in xs))
        object.__setattr__(self, "y", tuple(float(v) for v in ys))
        object.__setattr__(self, "n_samples", int(self.n_samples))

    @classmethod
    def identity(cls) -> Calibrator:
        """The map ``q = p``: trust the model's probabilities as they are."""
        return cls(x=(0.0, 1.0), y=(0.0, 1.0), kind="identity", n_samples=0)

    def transform(self, proba: ArrayLike) -> NDArray[np.float64]:
        """Calibrated probabilities for ``proba`` (finite, in [0, 1]).

        Raises
        ------
        ValueError
            If ``proba`` is empty, not 1-D, non-finite or outside [0, 1].
        """
        p = validation.probabilities(proba, func="Calibrator.transform")
        return np.interp(p, np.asarray(self.x), np.asarray(self.y))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form; :meth:`from_dict` of it gives an equal calibrator."""
        return {
            "format": CALIBRATOR_FORMAT,
            "kind": self.kind,
            "n_samples": self.n_samples,
            "x": list(self.x),
            "y": list(self.y),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Calibrator:
        """Rebuild a calibrator from :meth:`to_dict` output (e.g. after ``json.loads``).

        Raises
        ------
        ValueError
            If ``d`` is not a mapping with list ``x`` and ``y`` of equal length, a known
            ``kind`` and ``format``, or if the knots are not a valid monotone map in [0, 1].
        """
        if not isinstance(d, Mapping):
            raise ValueError(
                f"d must be a mapping from Calibrator.to_dict(), got {type(d).__name__}"
            )
        fmt = d.get("format", CALIBRATOR_FORMAT)
        if fmt != CALIBRATOR_FORMAT:
            raise ValueError(f"d['format'] must be {CALIBRATOR_FORMAT}, got {fmt!r}")
        missing = [k for k in ("x", "y") if k not in d]
        if missing:
            raise ValueError(f"d is missing required key(s) {missing}; expected 'x' and 'y'")
        x, y = d["x"], d["y"]
        if not isinstance(x, (list, tuple)) or not isinstance(y, (list, tuple)):
            raise ValueError("d['x'] and d['y'] must be lists of numbers")
        try:
            return cls(
                x=tuple(float(v) for v in x),
                y=tuple(float(v) for v in y),
                kind=str(d.get("kind", "isotonic")),
                n_samples=int(d.get("n_samples", 0)),
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"d does not describe a valid calibrator: {exc}") from None


def fit_calibrator(proba: ArrayLike, y_true: ArrayLike) -> Calibrator:
    r"""Fit an isotonic calibration map on a labeled holdout (training time).

    Parameters
    ----------
    proba : array-like of shape (n,)
        The model's probabilities on holdout rows not used to fit the model.
    y_true : array-like of shape (n,)
        The holdout labels, 0/1.

    Returns
    -------
    Calibrator
        A piecewise-linear map to store (as :meth:`Calibrator.to_dict`) with the model version.

    Raises
    ------
    ValueError
        On invalid ``proba`` or ``y_true`` (see :func:`labeled_metrics`).

    Notes
    -----
    Isotonic regression finds the non-decreasing :math:`g` minimising
    :math:`\sum_i (y_i - g(p_i))^2` (pool-adjacent-violators), i.e. the Brier-optimal monotone
    recalibration on the holdout. It is fitted with ``sklearn.isotonic.IsotonicRegression
    (y_min=0, y_max=1, out_of_bounds="clip")`` and its knots ``X_thresholds_``,
    ``y_thresholds_`` are kept; scikit-learn itself predicts by linear interpolation between
    exactly these knots, so ``np.interp`` over them reproduces ``predict``.

    Degenerate holdouts get a defined map instead of an error:

    * a single class in ``y_true`` -- the **identity** map (``kind="identity"``). Isotonic
      regression would return the constant 0 or 1, claiming certainty from a holdout that
      carries no information about the other class; trusting the raw model is the safer
      default, and ``kind`` records that no calibration was learned.
    * constant ``proba`` with both classes -- the **constant** map at the holdout positive rate
      (``kind="constant"``): the scores carry no ranking information, so the base rate is the
      best calibrated probability for every row.

    Isotonic maps overfit small holdouts (each plateau is a local mean); a few thousand rows
    are advisable. Calibration is what makes :func:`estimate_performance` work: CBPE is only as
    accurate as the calibrated probabilities are.

    References
    ----------
    .. [1] Zadrozny, B. and Elkan, C. (2002). Transforming classifier scores into accurate
       multiclass probability estimates. KDD '02, 694-699.
    .. [2] Niculescu-Mizil, A. and Caruana, R. (2005). Predicting good probabilities with
       supervised learning. ICML '05, 625-632.
    """
    p = validation.probabilities(proba, func="fit_calibrator")
    y = validation.labels(y_true, func="fit_calibrator", n=p.size)
    n = int(p.size)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == n:
        return Calibrator(x=(0.0, 1.0), y=(0.0, 1.0), kind="identity", n_samples=n)
    if float(p.min()) == float(p.max()):
        return Calibrator(x=(float(p[0]),), y=(n_pos / n,), kind="constant", n_samples=n)

    # Imported here: scikit-learn is needed only when fitting, never to apply the map.
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    iso.fit(p, y.astype(np.float64))
    xs = np.asarray(iso.X_thresholds_, dtype=np.float64)
    ys = np.clip(np.asarray(iso.y_thresholds_, dtype=np.float64), 0.0, 1.0)
    # PAVA can leave rounding-level decreases (~1e-17) between pooled blocks; enforce the
    # monotonicity the validator (and the maths) expects.
    ys = np.maximum.accumulate(ys)
    return Calibrator(x=tuple(xs.tolist()), y=tuple(ys.tolist()), kind="isotonic", n_samples=n)


# --------------------------------------------------------------------------------------------
# 4. CBPE estimate
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PerformanceEstimate:
    """Label-free estimate of a window's F1 and accuracy with a bootstrap band.

    Attributes
    ----------
    n : int
        Number of rows in the window.
    f1, accuracy, precision, recall : float
        Point estimates from expected confusion counts (see :func:`estimate_performance`).
    f1_low, f1_high : float
        Band for the realized F1 of a window like this one, at ``confidence``.
    accuracy_low, accuracy_high : float
        Band for the realized accuracy, at ``confidence``.
    confidence : float
        Nominal coverage of the bands.
    """

    n: int
    f1: float
    accuracy: float
    precision: float
    recall: float
    f1_low: float
    f1_high: float
    accuracy_low: float
    accuracy_high: float
    confidence: float = 0.90

    def to_dict(self) -> dict[str, Any]:
        """Plain ``int``/``float`` values, safe for ``json.dumps``."""
        return asdict(self)


def _sorted_sum(values: NDArray[np.float64]) -> float:
    # Summing in sorted order makes the result a function of the multiset of values only, so
    # the estimate (and the binomial draws it feeds) is bit-for-bit invariant to row order.
    return float(np.sort(values).sum())


def estimate_performance(
    calibrator: Calibrator,
    proba: ArrayLike,
    threshold: float = 0.5,
    n_boot: int = 200,
    confidence: float = 0.90,
    seed: int | None = 0,
) -> PerformanceEstimate:
    r"""Confidence-Based Performance Estimation (CBPE) of F1 and accuracy without labels.

    Parameters
    ----------
    calibrator : Calibrator
        The calibration map stored with the model version (:func:`fit_calibrator`).
    proba : array-like of shape (n,)
        The model's raw probabilities on the window, finite and in [0, 1].
    threshold : float, default 0.5
        A row is predicted positive when ``proba >= threshold`` (raw, not calibrated, since
        that is what the service acts on).
    n_boot : int, default 200
        Bootstrap replicates for the band, at least 10.
    confidence : float, default 0.90
        Nominal coverage of the band, in (0, 1).
    seed : int or None, default 0
        Seed of the bootstrap generator; a fixed seed gives identical output.

    Returns
    -------
    PerformanceEstimate

    Raises
    ------
    ValueError
        If ``calibrator`` is not a :class:`Calibrator`, ``proba`` is empty or invalid,
        ``threshold`` is outside [0, 1], ``n_boot < 10`` or ``confidence`` outside (0, 1).

    Notes
    -----
    **Point estimate.** With calibrated :math:`q_i = g(p_i)` read as
    :math:`P(y_i = 1 \mid p_i)` and predictions :math:`\hat y_i = [p_i \ge t]`, the expected
    confusion counts are

    .. math::

        TP = \sum_i q_i \hat y_i, \quad FP = \sum_i (1 - q_i) \hat y_i, \quad
        FN = \sum_i q_i (1 - \hat y_i), \quad TN = \sum_i (1 - q_i)(1 - \hat y_i),

    and :math:`F_1 = 2TP / (2TP + FP + FN)`, accuracy :math:`= (TP + TN)/n`, precision
    :math:`= TP/(TP + FP)`, recall :math:`= TP/(TP + FN)`, with 0.0 for a zero denominator as
    in :func:`labeled_metrics`. This is a ratio of expectations, not the expectation of the
    ratio; for F1 the difference is :math:`O(1/n)` and negligible at a few hundred rows.

    **Band.** Each replicate redraws the window's rows with replacement *and* draws every
    drawn row's label as :math:`y^* \sim \text{Bernoulli}(q)`, then computes the realized F1
    and accuracy of those labels; the band is the percentile interval of the replicates, widened
    if needed so it contains the point estimate. The Bernoulli step is what matters most: the
    quantity to be covered is the *realized* F1 of a labeled window, which varies around its
    expectation from label noise even when the model and the world are unchanged, and a row
    bootstrap of expected counts alone would give a band that is far too narrow. Row
    resampling adds the variability of the window's composition, so the band speaks for any
    same-size window from the same traffic; for the realized F1 of *this* window it is
    therefore somewhat conservative (coverage at or above ``confidence``). Not included: error
    in the calibrator itself, which is small when it was fitted on thousands of rows.

    **Vectorised exactly.** Drawing a row uniformly from the window and then its label from
    Bernoulli(:math:`q`) makes every draw independent, so the replicate's counts have a closed
    form. Writing :math:`n_+` for the predicted positives and :math:`\bar q_+`,
    :math:`\bar q_-` for the mean :math:`q` among predicted positives and negatives,

    .. math::

        m^* \sim \text{Binomial}(n, n_+/n), \quad
        TP^* \sim \text{Binomial}(m^*, \bar q_+), \quad
        FN^* \sim \text{Binomial}(n - m^*, \bar q_-),

    :math:`FP^* = m^* - TP^*`, :math:`TN^* = n - m^* - FN^*`. This is the same distribution as
    an explicit index-matrix bootstrap with per-row Bernoulli labels, at :math:`O(n_{boot})`
    cost instead of :math:`O(n \cdot n_{boot})`, so windows of any size are cheap.

    **Small windows.** Any ``n >= 1`` is computed; below :data:`MIN_RELIABLE_N` rows the band
    is honest but wide and the point estimate is sensitive to a few rows.

    **Assumptions.** CBPE holds under covariate shift provided :math:`P(y \mid x)` is
    unchanged and the calibrator was fitted on data like the reference. Under concept drift the
    estimate is wrong by construction; :func:`estimation_gap` detects that once labels arrive.

    References
    ----------
    .. [1] NannyML documentation, "Performance Estimation: Deep Dive -- Confidence-based
       Performance Estimation (CBPE)".
       https://nannyml.readthedocs.io/en/stable/how_it_works/performance_estimation.html
    .. [2] Efron, B. and Tibshirani, R. J. (1993). An Introduction to the Bootstrap. Chapman &
       Hall, ch. 13 (percentile intervals).
    """
    if not isinstance(calibrator, Calibrator):
        raise ValueError(
            f"calibrator must be a Calibrator (see fit_calibrator), got {type(calibrator).__name__}"
        )
    p = validation.probabilities(proba, func="estimate_performance")
    t = validation.unit_number(threshold, func="estimate_performance", arg="threshold")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 10:
        raise ValueError(f"n_boot must be an integer >= 10, got {n_boot!r}")
    try:
        conf = float(confidence)
    except (TypeError, ValueError):
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}") from None
    if not (0.0 < conf < 1.0):
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ValueError(f"seed must be an integer or None, got {seed!r}")

    n = int(p.size)
    q = calibrator.transform(p)
    yhat = p >= t
    q_pos = q[yhat]  # calibrated P(y=1) among predicted positives
    q_neg = q[~yhat]
    n_pos = int(q_pos.size)
    n_neg = n - n_pos

    tp = _sorted_sum(q_pos)
    fp = n_pos - tp
    fn = _sorted_sum(q_neg)
    tn = n_neg - fn
    f1 = float(f1_from_counts(tp, fp, fn))
    accuracy = (tp + tn) / n
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)

    # Bootstrap in closed form (see Notes): B replicate counts from three binomial draws.
    rng = np.random.default_rng(seed)
    qbar_pos = min(max(tp / n_pos, 0.0), 1.0) if n_pos else 0.0
    qbar_neg = min(max(fn / n_neg, 0.0), 1.0) if n_neg else 0.0
    m = rng.binomial(n, n_pos / n, size=int(n_boot))
    tp_b = rng.binomial(m, qbar_pos)
    fn_b = rng.binomial(n - m, qbar_neg)
    fp_b = m - tp_b
    tn_b = (n - m) - fn_b
    f1_b = f1_from_counts(tp_b, fp_b, fn_b)
    acc_b = (tp_b + tn_b) / n

    alpha = 1.0 - conf
    f1_lo, f1_hi = percentile_interval(f1_b, alpha)
    acc_lo, acc_hi = percentile_interval(acc_b, alpha)
    return PerformanceEstimate(
        n=n,
        f1=f1,
        accuracy=accuracy,
        precision=precision,
        recall=recall,
        # A percentile band can miss a skewed point estimate on tiny windows; a dashboard
        # showing an estimate outside its own band would be nonsense, so widen to include it.
        f1_low=min(float(f1_lo), f1),
        f1_high=max(float(f1_hi), f1),
        accuracy_low=min(float(acc_lo), accuracy),
        accuracy_high=max(float(acc_hi), accuracy),
        confidence=conf,
    )


# --------------------------------------------------------------------------------------------
# 5. Estimate vs realized
# --------------------------------------------------------------------------------------------


def estimation_gap(estimate: PerformanceEstimate, realized: LabeledMetrics) -> dict[str, Any]:
    r"""Compare a CBPE estimate with the realized metrics once the window's labels arrive.

    Parameters
    ----------
    estimate : PerformanceEstimate
        From :func:`estimate_performance` on the window's scores.
    realized : LabeledMetrics
        From :func:`labeled_metrics` on the same window (same scores, now with labels).

    Returns
    -------
    dict
        ``f1_gap`` (realized minus estimated F1), ``f1_outside`` (realized F1 outside
        ``[f1_low, f1_high]``), the same two for accuracy (``accuracy_gap``,
        ``accuracy_outside``), ``flagged`` (equal to ``f1_outside``), the values compared
        (``estimated_f1``, ``realized_f1``, ``f1_low``, ``f1_high``, ``estimated_accuracy``,
        ``realized_accuracy``, ``accuracy_low``, ``accuracy_high``), ``confidence`` and the row
        counts ``n_estimate``, ``n_realized``. All plain Python values. When the realized F1 is
        undefined (one class labeled), ``f1_gap`` and ``realized_f1`` are ``None`` and
        ``f1_outside``/``flagged`` are False.

    Raises
    ------
    ValueError
        If ``estimate`` or ``realized`` is of the wrong type.

    Notes
    -----
    :math:`\Delta F_1 = F_1^{\text{realized}} - \hat F_1`. With no concept drift the realized
    value falls outside the band about :math:`1 - \text{confidence}` of the time, so one flag is
    weak evidence and a run of flags, or a large :math:`|\Delta F_1|`, is strong evidence that
    :math:`P(y \mid x)` has changed (concept drift) or that the calibrator no longer fits.
    A negative gap means the model does worse than its own confidence implies.

    The band was built for a window of ``estimate.n`` rows; when labels arrive for only a subset
    (``n_realized < n_estimate``), the realized value is noisier than the band allows and flags
    are more frequent than nominal -- compare on the labeled rows' scores instead.

    References
    ----------
    .. [1] NannyML documentation, "Performance Estimation: Deep Dive -- Confidence-based
       Performance Estimation (CBPE)", section on the assumptions and limitations.
       https://nannyml.readthedocs.io/en/stable/how_it_works/performance_estimation.html
    """
    if not isinstance(estimate, PerformanceEstimate):
        raise ValueError(f"estimate must be a PerformanceEstimate, got {type(estimate).__name__}")
    if not isinstance(realized, LabeledMetrics):
        raise ValueError(f"realized must be a LabeledMetrics, got {type(realized).__name__}")
    r_f1 = realized.f1
    f1_outside = r_f1 is not None and not (estimate.f1_low <= r_f1 <= estimate.f1_high)
    acc_outside = not (estimate.accuracy_low <= realized.accuracy <= estimate.accuracy_high)
    f1_gap = None if r_f1 is None else float(r_f1 - estimate.f1)
    acc_gap = float(realized.accuracy - estimate.accuracy)
    return {
        "f1_gap": f1_gap,
        "f1_outside": bool(f1_outside),
        "accuracy_gap": acc_gap,
        "accuracy_outside": bool(acc_outside),
        "flagged": bool(f1_outside),
        "estimated_f1": float(estimate.f1),
        "realized_f1": None if r_f1 is None else float(r_f1),
        "f1_low": float(estimate.f1_low),
        "f1_high": float(estimate.f1_high),
        "estimated_accuracy": float(estimate.accuracy),
        "realized_accuracy": float(realized.accuracy),
        "accuracy_low": float(estimate.accuracy_low),
        "accuracy_high": float(estimate.accuracy_high),
        "confidence": float(estimate.confidence),
        "n_estimate": int(estimate.n),
        "n_realized": int(realized.n),
    }


def latency_percentiles(latencies_ms: ArrayLike) -> dict[str, float] | None:
    """p50 and p99 of logged latencies (linear interpolation, as ``numpy.percentile``);
    None when there are none. The one definition behind /monitoring/stats, the dashboard's
    figures and its per-minute chart, so they agree on the same rows."""
    arr = np.asarray(latencies_ms, dtype=np.float64)
    if arr.size == 0:
        return None
    p50, p99 = np.percentile(arr, [50, 99])
    return {"p50": float(p50), "p99": float(p99)}
