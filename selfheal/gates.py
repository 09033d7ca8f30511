"""Promotion gates: the checks a retrained challenger must pass before it may replace the
production champion.

Every gate is a pure function over arrays and DataFrames that returns a `GateResult`; the
caller computes probabilities and timings, and decides what to do with a failure. Four gates:

* `data_quality_gate` - the training set is usable (schema, size, class balance, columns).
* `statistical_gate` - the challenger's F1 beats the champion's on the same time-split holdout,
  by a margin and with a paired bootstrap confidence interval that excludes zero; a first model
  (no champion) is held to absolute AUC and F1 floors instead.
* `stability_gate` - calibration (Brier) does not regress and no slice of the holdout loses
  more than a set amount of F1.
* `consistency_gate` - on recent live rows the challenger's outputs are valid, its positive
  rate is plausible and it is not much slower than the champion.

Conventions shared by all gates: labels are 0/1 (1 is the positive class), a row is predicted
positive when its probability is >= the threshold, and F1 is the positive-class F1 with the
zero-division case (no positive labels and no positive predictions) scored as 0. Metrics are
computed with NumPy rather than scikit-learn so that degenerate slices never emit warnings.
Malformed input raises `ValueError` naming the argument; a model that behaves badly produces a
failed `GateResult`, not an exception. See docs/evaluation_gates.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "GATE_NAMES",
    "GateConfig",
    "GateResult",
    "consistency_gate",
    "data_quality_gate",
    "stability_gate",
    "statistical_gate",
    "summarize",
]

GATE_NAMES = ("data_quality", "statistical", "stability", "consistency")

# Threshold comparisons allow this much floating-point slack, so that a gain that is exactly the
# required margin on paper (0.31 - 0.30 vs 0.01) is not rejected by a rounding error.
_TOL = 1e-12
# How many schema problems are copied into the result; the count is always complete.
_MAX_LISTED_SCHEMA_ERRORS = 5


@dataclass(frozen=True)
class GateConfig:
    """Thresholds for the promotion gates.

    Parameters
    ----------
    min_rows : int
        Minimum number of training rows.
    min_class_share : float
        Minimum share of each class (0 and 1) among the training labels.
    min_f1_gain : float
        Minimum challenger F1 minus champion F1 on the holdout.
    bootstrap_n : int
        Number of paired bootstrap replicates for the F1 gain interval.
    bootstrap_confidence : float
        Coverage of the two-sided percentile interval; its lower bound must be > 0.
    max_brier_increase : float
        Maximum allowed increase of the Brier score over the reference.
    max_slice_f1_drop : float
        Maximum allowed F1 drop on any judged slice of the holdout.
    min_slice_rows : int
        Slices with fewer rows are reported but not judged: on a few dozen rows one
        misclassified positive moves F1 by 0.05-0.2, so a verdict would be mostly noise.
    max_positive_rate_gap : float
        Maximum absolute gap between the live positive rate and the reference rate.
    max_latency_ratio : float
        Maximum challenger scoring time per row as a multiple of the champion's.
    floor_auc : float
        Minimum holdout AUC for a first model (no champion).
    floor_f1 : float
        Minimum holdout F1 for a first model (no champion).
    seed : int
        Seed of the bootstrap random generator.
    """

    min_rows: int = 500
    min_class_share: float = 0.05
    min_f1_gain: float = 0.01
    bootstrap_n: int = 1000
    bootstrap_confidence: float = 0.90
    max_brier_increase: float = 0.01
    max_slice_f1_drop: float = 0.10
    min_slice_rows: int = 30
    max_positive_rate_gap: float = 0.15
    max_latency_ratio: float = 3.0
    floor_auc: float = 0.6
    floor_f1: float = 0.3
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("min_rows", "bootstrap_n", "min_slice_rows", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"GateConfig.{name} must be an integer, got {value!r}")
        if self.min_rows < 1:
            raise ValueError(f"GateConfig.min_rows must be >= 1, got {self.min_rows}")
        if self.bootstrap_n < 1:
            raise ValueError(f"GateConfig.bootstrap_n must be >= 1, got {self.bootstrap_n}")
        if self.min_slice_rows < 1:
            raise ValueError(f"GateConfig.min_slice_rows must be >= 1, got {self.min_slice_rows}")
        if self.seed < 0:
            raise ValueError(f"GateConfig.seed must be >= 0, got {self.seed}")
        for name in (
            "min_class_share",
            "min_f1_gain",
            "bootstrap_confidence",
            "max_brier_increase",
            "max_slice_f1_drop",
            "max_positive_rate_gap",
            "max_latency_ratio",
            "floor_auc",
            "floor_f1",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise ValueError(f"GateConfig.{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"GateConfig.{name} must be finite, got {value!r}")
        # A class share above 0.5 cannot hold for both classes at once.
        if not 0.0 <= self.min_class_share <= 0.5:
            raise ValueError(
                f"GateConfig.min_class_share must be in [0, 0.5], got {self.min_class_share}"
            )
        if not 0.0 < self.bootstrap_confidence < 1.0:
            raise ValueError(
                "GateConfig.bootstrap_confidence must be in (0, 1), "
                f"got {self.bootstrap_confidence}"
            )
        for name in ("min_f1_gain", "max_brier_increase", "max_slice_f1_drop"):
            if not -1.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"GateConfig.{name} must be in [-1, 1], got {getattr(self, name)}")
        for name in ("max_positive_rate_gap", "floor_auc", "floor_f1"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"GateConfig.{name} must be in [0, 1], got {getattr(self, name)}")
        if self.max_latency_ratio <= 0:
            raise ValueError(
                f"GateConfig.max_latency_ratio must be > 0, got {self.max_latency_ratio}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Return the thresholds as a plain dict (for the audit trail)."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class GateResult:
    """The verdict of one gate.

    Parameters
    ----------
    name : str
        One of `GATE_NAMES`.
    passed : bool
        Whether the challenger passed this gate.
    values : dict
        Measured values, as plain JSON types (None where a value does not apply; never NaN).
    thresholds : dict
        The thresholds that were applied.
    reason : str
        One human-readable sentence with the numbers behind the verdict.
    """

    name: str
    passed: bool
    values: dict[str, Any]
    thresholds: dict[str, Any]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable copy (``json.dumps(..., allow_nan=False)`` accepts it)."""
        return {
            "name": self.name,
            "passed": bool(self.passed),
            "values": _plain(self.values),
            "thresholds": _plain(self.thresholds),
            "reason": self.reason,
        }


def _result(
    name: str, passed: bool, values: dict[str, Any], thresholds: dict[str, Any], reason: str
) -> GateResult:
    return GateResult(
        name=name,
        passed=bool(passed),
        values=_plain(values),
        thresholds=_plain(thresholds),
        reason=reason,
    )


def summarize(results: Sequence[GateResult]) -> dict[str, Any]:
    """Combine gate verdicts into one record for the audit trail.

    Parameters
    ----------
    results : sequence of GateResult
        The verdicts, in the order the gates ran. Must not be empty: an empty list would
        otherwise "pass" without anything having been checked.

    Returns
    -------
    dict
        ``{"passed": bool, "failed": [names], "reasons": ["name: reason", ...],
        "results": [GateResult.to_dict(), ...]}``; ``reasons`` covers every gate, passed or not.
    """
    items = list(results)
    if not items:
        raise ValueError("results must contain at least one GateResult")
    for item in items:
        if not isinstance(item, GateResult):
            raise ValueError(f"results must contain GateResult objects, got {type(item).__name__}")
    return {
        "passed": all(r.passed for r in items),
        "failed": [r.name for r in items if not r.passed],
        "reasons": [f"{r.name}: {r.reason}" for r in items],
        "results": [r.to_dict() for r in items],
    }


# ---------------------------------------------------------------------------------------------
# Gate 1: data quality
# ---------------------------------------------------------------------------------------------


def data_quality_gate(
    frame: pd.DataFrame,
    y: Any,
    *,
    schema_errors: Sequence[Mapping[str, Any]] = (),
    config: GateConfig | None = None,
    known_constant: Sequence[str] = (),
) -> GateResult:
    """Check that a training set is fit to train on.

    Passes iff there are no schema errors, at least ``min_rows`` rows, each class (0 and 1)
    has a share >= ``min_class_share``, and no feature column is constant (a single distinct
    non-null value) or entirely null. A column in `known_constant` (already constant in the
    champion's own training data) is reported but does not fail the gate: the same rule at
    both ends, or a model trained on such a column could never be replaced.

    Parameters
    ----------
    frame : pandas.DataFrame
        The training features.
    y : array-like of 0/1
        The training labels, one per row of `frame`.
    schema_errors : sequence of mapping
        The problems schema validation found, each with at least "field" and "problem".
    config : GateConfig, optional
        Thresholds; defaults to ``GateConfig()``.
    known_constant : sequence of str
        Columns constant in the champion's training data; constant here too is no failure.

    Returns
    -------
    GateResult
        Named "data_quality".
    """
    cfg = _config(config)
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    labels = _labels(y, "y", allow_empty=True)
    if len(labels) != len(frame):
        raise ValueError(f"y has {len(labels)} labels but frame has {len(frame)} rows")
    problems = _schema_problems(schema_errors)

    n = len(frame)
    n_pos = int(labels.sum())
    shares = {"0": (n - n_pos) / n if n else 0.0, "1": n_pos / n if n else 0.0}
    constant: list[str] = []
    all_null: list[str] = []
    for column in frame.columns:
        distinct = _n_distinct(frame[column])
        if distinct == 0:
            all_null.append(str(column))
        elif distinct == 1:
            constant.append(str(column))

    failures: list[str] = []
    if problems:
        listed = ", ".join(f"{p['field']}: {p['problem']}" for p in problems[:2])
        more = f" and {len(problems) - 2} more" if len(problems) > 2 else ""
        failures.append(f"{len(problems)} schema error(s) ({listed}{more})")
    if n < cfg.min_rows:
        failures.append(f"{n:,} rows < {cfg.min_rows:,} required")
    for label in ("0", "1"):
        if shares[label] < cfg.min_class_share - _TOL:
            failures.append(
                f"class {label} share {shares[label]:.3f} < {_fmt(cfg.min_class_share)} required"
            )
    new_constant = [c for c in constant if c not in set(known_constant)]
    if new_constant:
        failures.append(f"constant column(s) {_names(new_constant)}")
    if all_null:
        failures.append(f"all-null column(s) {_names(all_null)}")

    values = {
        "n_rows": n,
        "n_columns": int(frame.shape[1]),
        "class_shares": shares,
        "n_schema_errors": len(problems),
        "schema_errors": problems[:_MAX_LISTED_SCHEMA_ERRORS],
        "constant_columns": constant,
        "known_constant_columns": [c for c in constant if c in set(known_constant)],
        "all_null_columns": all_null,
    }
    thresholds = {"min_rows": cfg.min_rows, "min_class_share": cfg.min_class_share}
    if failures:
        reason = "Training data rejected: " + "; ".join(failures) + "."
    else:
        reason = (
            f"Training data accepted: {n:,} rows (>= {cfg.min_rows:,}), class shares "
            f"{shares['0']:.3f}/{shares['1']:.3f} (each >= {_fmt(cfg.min_class_share)}), "
            f"no schema errors, and none of {frame.shape[1]} columns is constant or all-null."
        )
    return _result("data_quality", not failures, values, thresholds, reason)


# ---------------------------------------------------------------------------------------------
# Gate 2: statistical
# ---------------------------------------------------------------------------------------------


def statistical_gate(
    y_true: Any,
    challenger_proba: Any,
    champion_proba: Any | None,
    *,
    threshold: float = 0.5,
    champion_threshold: float | None = None,
    config: GateConfig | None = None,
) -> GateResult:
    """Judge the challenger's F1 against the champion's on the same holdout.

    With a champion the gate passes iff the F1 gain (challenger minus champion) is
    >= ``min_f1_gain`` and the lower bound of the paired bootstrap percentile interval of the
    gain (``bootstrap_confidence`` coverage, ``bootstrap_n`` replicates, seeded) is > 0.
    Without a champion (first model) it passes iff AUC >= ``floor_auc`` and F1 >= ``floor_f1``.

    The bootstrap resamples holdout rows with replacement, the same rows for both models. F1
    depends only on how many rows fall in each of the 8 cells (label, challenger call, champion
    call), and resampling n rows with replacement draws those cell counts from
    Multinomial(n, observed cell shares) - so the replicates are drawn that way, exactly
    equivalent and O(bootstrap_n) in memory instead of O(bootstrap_n * n).

    Parameters
    ----------
    y_true : array-like of 0/1
        Holdout labels.
    challenger_proba, champion_proba : array-like of float in [0, 1]
        Positive-class probabilities on the holdout rows; `champion_proba` is None when there
        is no production model yet.
    threshold : float
        Decision threshold of the challenger.
    champion_threshold : float, optional
        Decision threshold of the champion; defaults to `threshold`.
    config : GateConfig, optional
        Thresholds; defaults to ``GateConfig()``.

    Returns
    -------
    GateResult
        Named "statistical"; values hold challenger_f1, champion_f1, gain, ci_low, ci_high and n
        (None where not applicable).

    Notes
    -----
    A holdout with a single class cannot rank models (F1 or AUC is undefined or always 0), so
    the gate fails closed with that reason rather than raising.
    """
    cfg = _config(config)
    y = _labels(y_true, "y_true")
    n = len(y)
    p_new = _proba(challenger_proba, "challenger_proba", n)
    t_new = _threshold(threshold, "threshold")
    p_old = None if champion_proba is None else _proba(champion_proba, "champion_proba", n)
    t_old = (
        t_new
        if champion_threshold is None
        else _threshold(champion_threshold, "champion_threshold")
    )

    pred_new = p_new >= t_new
    f1_new = _f1(y, pred_new)
    auc_new = _auc(y, p_new)
    n_pos = int(y.sum())
    values: dict[str, Any] = {
        "mode": "champion" if p_old is not None else "floors",
        "n": n,
        "n_positive": n_pos,
        "challenger_f1": f1_new,
        "champion_f1": None,
        "gain": None,
        "ci_low": None,
        "ci_high": None,
        "challenger_auc": auc_new,
        "champion_auc": None,
    }
    single_class = n_pos in (0, n)

    if p_old is None:
        thresholds = {
            "floor_auc": cfg.floor_auc,
            "floor_f1": cfg.floor_f1,
            "threshold": t_new,
        }
        if single_class:
            return _result(
                "statistical",
                False,
                values,
                thresholds,
                f"No champion, and the holdout of {n:,} rows has a single class, so AUC is "
                "undefined and the first-model floors cannot be checked.",
            )
        assert auc_new is not None  # both classes are present
        auc_ok = auc_new >= cfg.floor_auc - _TOL
        f1_ok = f1_new >= cfg.floor_f1 - _TOL
        verdict = (
            f"AUC {auc_new:.3f} {'>=' if auc_ok else '<'} {_fmt(cfg.floor_auc)} and "
            f"F1 {f1_new:.3f} {'>=' if f1_ok else '<'} {_fmt(cfg.floor_f1)}"
        )
        reason = f"No champion, so judged against absolute first-model floors: {verdict} (n={n:,})."
        return _result("statistical", auc_ok and f1_ok, values, thresholds, reason)

    pred_old = p_old >= t_old
    f1_old = _f1(y, pred_old)
    gain = f1_new - f1_old
    values.update(champion_f1=f1_old, gain=gain, champion_auc=_auc(y, p_old))
    thresholds = {
        "min_f1_gain": cfg.min_f1_gain,
        "bootstrap_n": cfg.bootstrap_n,
        "bootstrap_confidence": cfg.bootstrap_confidence,
        "seed": cfg.seed,
        "threshold": t_new,
        "champion_threshold": t_old,
    }
    if single_class:
        return _result(
            "statistical",
            False,
            values,
            thresholds,
            f"The holdout of {n:,} rows has a single class, so F1 cannot tell the models apart "
            f"(challenger F1 {f1_new:.3f}, champion F1 {f1_old:.3f}).",
        )

    ci_low, ci_high = _bootstrap_gain_ci(y, pred_new, pred_old, cfg)
    values.update(ci_low=ci_low, ci_high=ci_high)
    gain_ok = gain >= cfg.min_f1_gain - _TOL
    ci_ok = ci_low > 0.0
    pct = f"{cfg.bootstrap_confidence * 100:g}%"
    ci_text = f"{pct} CI [{ci_low:+.3f}, {ci_high:+.3f}]"
    detail = f"challenger F1 {f1_new:.3f} vs champion {f1_old:.3f}, n={n:,}"
    if not gain_ok:
        reason = f"F1 gain {gain:+.3f} < {_fmt(cfg.min_f1_gain)} required ({ci_text}; {detail})."
    elif not ci_ok:
        reason = (
            f"F1 gain {gain:+.3f} >= {_fmt(cfg.min_f1_gain)} but its {ci_text} does not exclude "
            f"0 ({detail})."
        )
    else:
        reason = (
            f"F1 gain {gain:+.3f} >= {_fmt(cfg.min_f1_gain)} required and {ci_text} is above 0 "
            f"({detail})."
        )
    return _result("statistical", gain_ok and ci_ok, values, thresholds, reason)


def _bootstrap_gain_ci(
    y: np.ndarray,
    pred_new: np.ndarray,
    pred_old: np.ndarray,
    cfg: GateConfig,
    alpha: float | None = None,
) -> tuple[float, float]:
    """Percentile interval of F1(new) - F1(old) under a paired row bootstrap, with
    coverage 1 - alpha (default: ``1 - bootstrap_confidence``)."""
    n = len(y)
    cell = y.astype(np.int64) * 4 + pred_new.astype(np.int64) * 2 + pred_old.astype(np.int64)
    shares = np.bincount(cell, minlength=8) / n
    rng = np.random.default_rng(cfg.seed)
    counts = rng.multinomial(n, shares, size=cfg.bootstrap_n).astype(np.float64)
    # Cell index bits: 4 = label, 2 = challenger predicts 1, 1 = champion predicts 1.
    label1 = np.array([c >= 4 for c in range(8)])
    new1 = np.array([(c & 2) != 0 for c in range(8)])
    old1 = np.array([(c & 1) != 0 for c in range(8)])

    def f1_of(pos_pred: np.ndarray) -> np.ndarray:
        tp = counts[:, label1 & pos_pred].sum(axis=1)
        fp = counts[:, ~label1 & pos_pred].sum(axis=1)
        fn = counts[:, label1 & ~pos_pred].sum(axis=1)
        return _f1_from_counts(tp, fp, fn)

    gains = f1_of(new1) - f1_of(old1)
    alpha = 1.0 - cfg.bootstrap_confidence if alpha is None else alpha
    low, high = np.quantile(gains, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)


# ---------------------------------------------------------------------------------------------
# Gate 3: stability
# ---------------------------------------------------------------------------------------------


def stability_gate(
    holdout: pd.DataFrame,
    y_true: Any,
    challenger_proba: Any,
    champion_proba: Any | None,
    *,
    numeric: Sequence[str],
    categorical: Sequence[str],
    threshold: float = 0.5,
    champion_threshold: float | None = None,
    config: GateConfig | None = None,
) -> GateResult:
    """Check calibration and per-slice F1 of the challenger on the holdout.

    Slices are the quartile bins of each numeric feature (edges are the holdout's own 25/50/75%
    quantiles; tied edges are merged, so a heavily tied or constant column has fewer bins, and
    missing or non-finite values form a "missing" slice) and the levels of each categorical
    feature (missing values form a "missing" slice). Every slice is reported; with a champion a
    slice is judged only if it has at least ``min_slice_rows`` rows and a positive label
    (without positives F1 is 0 for any model).

    With a champion the gate passes iff challenger Brier <= champion Brier +
    ``max_brier_increase`` and on no judged slice the challenger's F1 is lower than the
    champion's by more than ``max_slice_f1_drop`` with the upper end of its paired-bootstrap
    interval below 0. The intervals are Bonferroni-corrected over the m judged slices
    (coverage ``1 - (1 - bootstrap_confidence) / m`` each), so an equally good challenger
    fails on noise with probability at most ``1 - bootstrap_confidence`` overall.

    Without a champion there is no reference model on the same rows, so: overall Brier must be
    <= the Brier of the constant base-rate predictor (leave-one-out holdout positive rate) plus
    ``max_brier_increase``; and on no judged slice may the challenger's Brier exceed that
    slice's own base-rate Brier by more than ``2 * max_brier_increase``. Slice F1 is reported
    but not judged in this mode: F1 depends on a slice's prevalence, so comparing a slice with
    the overall F1 rejects even a model that outputs the true probabilities (on the low quartile
    of a strong feature, where positives are rare). Brier against the slice's own base rate
    cancels prevalence and still fails a model that is no better than a constant on a slice.
    The tolerance is doubled because slices are small and many. Judged slices need
    ``min_slice_rows`` rows and both classes (a single-class slice has a perfect base rate).

    Parameters
    ----------
    holdout : pandas.DataFrame
        Holdout features (only the columns named in `numeric` and `categorical` are used).
    y_true : array-like of 0/1
        Holdout labels.
    challenger_proba, champion_proba : array-like of float in [0, 1]
        Positive-class probabilities; `champion_proba` is None for a first model.
    numeric, categorical : sequence of str
        Columns of `holdout` to slice by.
    threshold : float
        Decision threshold of the challenger.
    champion_threshold : float, optional
        Decision threshold of the champion; defaults to `threshold`.
    config : GateConfig, optional
        Thresholds; defaults to ``GateConfig()``.

    Returns
    -------
    GateResult
        Named "stability"; values hold the Brier scores, every slice (feature, slice, n,
        n_positive, champion_f1, challenger_f1, delta = challenger minus champion F1,
        challenger_brier, base_rate_brier, brier_excess, judged, failed) and the worst judged
        slice (largest F1 drop with a champion, largest Brier excess without).
    """
    cfg = _config(config)
    if not isinstance(holdout, pd.DataFrame):
        raise ValueError(f"holdout must be a pandas DataFrame, got {type(holdout).__name__}")
    y = _labels(y_true, "y_true")
    n = len(y)
    if len(holdout) != n:
        raise ValueError(f"y_true has {n} labels but holdout has {len(holdout)} rows")
    p_new = _proba(challenger_proba, "challenger_proba", n)
    p_old = None if champion_proba is None else _proba(champion_proba, "champion_proba", n)
    t_new = _threshold(threshold, "threshold")
    t_old = (
        t_new
        if champion_threshold is None
        else _threshold(champion_threshold, "champion_threshold")
    )
    num_cols = _columns(numeric, "numeric", holdout)
    cat_cols = _columns(categorical, "categorical", holdout)
    overlap = sorted(set(num_cols) & set(cat_cols))
    if overlap:
        raise ValueError(f"numeric and categorical both name column(s) {overlap}")
    for column in num_cols:
        series = holdout[column]
        if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
            raise ValueError(f"numeric column {column!r} has non-numeric dtype {series.dtype}")

    has_champion = p_old is not None
    brier_new = _brier(y, p_new)
    if p_old is not None:
        reference_brier = _brier(y, p_old)
        reference_name = "champion"
    else:
        reference_brier = _base_rate_brier(y)
        reference_name = "base-rate predictor"
    brier_increase = brier_new - reference_brier
    brier_ok = brier_increase <= cfg.max_brier_increase + _TOL

    pred_new = p_new >= t_new
    pred_old = None if p_old is None else p_old >= t_old
    overall_new = _f1(y, pred_new)
    overall_old = None if pred_old is None else _f1(y, pred_old)
    # Without a champion, slices are judged by Brier against their own base rate, with twice
    # the overall tolerance because small slices are noisy and there are many of them.
    slice_brier_tol = 2.0 * cfg.max_brier_increase

    slices: list[dict[str, Any]] = []
    groups = [(c, _numeric_slices(holdout[c])) for c in num_cols]
    groups += [(c, _categorical_slices(holdout[c])) for c in cat_cols]
    # Bonferroni over the judged slices: each slice's interval gets coverage
    # 1 - (1 - bootstrap_confidence) / m, so the chance that any of m equally good slices
    # fails by noise stays below 1 - bootstrap_confidence (16 slices at 90% each would
    # reject an equal challenger about half the time).
    m_judged = sum(
        1
        for _, parts in groups
        for _, mask in parts
        if int(mask.sum()) >= cfg.min_slice_rows and int(y[mask].sum()) > 0
    )
    slice_alpha = (1.0 - cfg.bootstrap_confidence) / max(m_judged, 1)
    for column, parts in groups:
        for label, mask in parts:
            count = int(mask.sum())
            y_s = y[mask]
            n_pos = int(y_s.sum())
            f1_new = _f1(y_s, pred_new[mask])
            brier_s = _brier(y_s, p_new[mask])
            base_s = _base_rate_brier(y_s)
            entry: dict[str, Any] = {
                "feature": str(column),
                "slice": label,
                "n": count,
                "n_positive": n_pos,
                "champion_f1": None,
                "challenger_f1": f1_new,
                "delta": None,
                "challenger_brier": brier_s,
                "base_rate_brier": base_s,
                "brier_excess": brier_s - base_s,
            }
            if pred_old is not None:
                f1_old = _f1(y_s, pred_old[mask])
                entry["champion_f1"] = f1_old
                entry["delta"] = f1_new - f1_old
                # with no positive label F1 is 0 for every model, so there is nothing to judge
                judged = count >= cfg.min_slice_rows and n_pos > 0
                failed = False
                if judged and entry["delta"] < -cfg.max_slice_f1_drop - _TOL:
                    # F1 on a slice of a hundred rows with a dozen positives moves by +-0.1
                    # by chance alone: fail only when the loss is also beyond noise, i.e.
                    # the paired-bootstrap interval of the slice's F1 change is below 0.
                    low, high = _bootstrap_gain_ci(
                        y_s, pred_new[mask], pred_old[mask], cfg, alpha=slice_alpha
                    )
                    entry["delta_ci"] = [low, high]
                    failed = high < 0
            else:
                # a single-class slice has a perfect in-sample base rate, which no model beats
                judged = count >= cfg.min_slice_rows and 0 < n_pos < count
                failed = judged and entry["brier_excess"] > slice_brier_tol + _TOL
            entry["judged"] = judged
            entry["failed"] = failed
            slices.append(entry)
    judged_slices = [s for s in slices if s["judged"]]
    failing = [s for s in slices if s["failed"]]
    if has_champion:
        worst = min(judged_slices, key=lambda s: s["delta"], default=None)
    else:
        worst = max(judged_slices, key=lambda s: s["brier_excess"], default=None)

    values = {
        "mode": "champion" if has_champion else "no_champion",
        "n": n,
        "challenger_brier": brier_new,
        "champion_brier": reference_brier if has_champion else None,
        "reference_brier": reference_brier,
        "reference": reference_name,
        "brier_increase": brier_increase,
        "challenger_f1": overall_new,
        "champion_f1": overall_old,
        "n_slices": len(slices),
        "n_judged": len(judged_slices),
        "failing_slices": [f"{s['feature']}={s['slice']}" for s in failing],
        "worst_slice": worst,
        "slices": slices,
    }
    thresholds = {
        "max_brier_increase": cfg.max_brier_increase,
        "max_slice_f1_drop": cfg.max_slice_f1_drop if has_champion else None,
        "max_slice_brier_excess": None if has_champion else slice_brier_tol,
        "min_slice_rows": cfg.min_slice_rows,
        "threshold": t_new,
        "champion_threshold": t_old if has_champion else None,
    }

    brier_text = (
        f"Brier {brier_new:.4f} vs {reference_name} {reference_brier:.4f} "
        f"(increase {brier_increase:+.4f} {'<=' if brier_ok else '>'} "
        f"{_fmt(cfg.max_brier_increase)} allowed)"
    )
    if has_champion:
        rule = (
            f"loses more than {_fmt(cfg.max_slice_f1_drop)} F1 against the champion and its "
            f"{_fmt(cfg.bootstrap_confidence * 100)}% paired-bootstrap interval, "
            "Bonferroni-corrected over the judged slices, is below 0"
        )
    else:
        rule = f"exceeds its own base-rate Brier by more than {_fmt(slice_brier_tol)}"
    if failing:
        if has_champion:
            w = min(failing, key=lambda s: s["delta"])
            detail = f"F1 {w['challenger_f1']:.3f} vs champion {w['champion_f1']:.3f}"
            detail += f" ({w['delta']:+.3f})"
        else:
            w = max(failing, key=lambda s: s["brier_excess"])
            detail = f"Brier {w['challenger_brier']:.4f} vs base rate {w['base_rate_brier']:.4f}"
            detail += f" ({w['brier_excess']:+.4f})"
        slice_text = (
            f"{len(failing)} of {len(judged_slices)} judged slices fail (a slice fails if it "
            f"{rule}), worst "
            f"{w['feature']}={w['slice']} (n={w['n']:,}): {detail}"
        )
    elif worst is not None:
        margin = (
            f"{worst['delta']:+.3f} F1" if has_champion else f"{worst['brier_excess']:+.4f} Brier"
        )
        slice_text = (
            f"none of {len(judged_slices)} judged slices ({len(slices)} reported) {rule} "
            f"(worst {worst['feature']}={worst['slice']}, {margin})"
        )
    else:
        need = "a positive label" if has_champion else "both classes"
        slice_text = (
            f"no slice was judged ({len(slices)} reported; each needs >= {cfg.min_slice_rows} "
            f"rows and {need})"
        )
    if not has_champion:
        slice_text += " (no champion: slices judged by Brier, their F1 only reported)"
    passed = brier_ok and not failing
    reason = f"{'Stable' if passed else 'Unstable'}: {brier_text}; {slice_text}."
    return _result("stability", passed, values, thresholds, reason)


def _numeric_slices(series: pd.Series) -> list[tuple[str, np.ndarray]]:
    """Quartile bins by the column's own quantiles; tied edges merge bins."""
    x = series.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(x)
    parts: list[tuple[str, np.ndarray]] = []
    if finite.any():
        xf = x[finite]
        lo, hi = float(xf.min()), float(xf.max())
        edges = np.unique(np.quantile(xf, [0.25, 0.5, 0.75]))
        # bin b holds edges[b-1] < x <= edges[b]; the last bin holds x > edges[-1]
        bins = np.full(len(x), -1, dtype=np.int64)
        bins[finite] = np.searchsorted(edges, xf, side="left")
        for b in range(len(edges) + 1):
            mask = bins == b
            if not mask.any():
                continue
            lower = lo if b == 0 else float(edges[b - 1])
            upper = float(edges[b]) if b < len(edges) else hi
            if b == 0 and lower == upper:
                label = f"= {lower:.4g}"
            elif b == 0:
                label = f"[{lower:.4g}, {upper:.4g}]"
            else:
                label = f"({lower:.4g}, {upper:.4g}]"
            parts.append((label, mask))
    if not finite.all():
        parts.append(("missing", ~finite))
    return parts


def _categorical_slices(series: pd.Series) -> list[tuple[str, np.ndarray]]:
    codes, uniques = pd.factorize(series, sort=False)
    order = sorted(range(len(uniques)), key=lambda i: str(uniques[i]))
    parts = [(str(uniques[i]), codes == i) for i in order]
    missing = codes < 0
    if missing.any():
        parts.append(("missing", missing))
    return parts


# ---------------------------------------------------------------------------------------------
# Gate 4: consistency on live traffic
# ---------------------------------------------------------------------------------------------


def consistency_gate(
    live_challenger_proba: Any,
    *,
    observed_label_rate: float | None,
    challenger_seconds_per_row: float,
    champion_seconds_per_row: float | None,
    champion_live_proba: Any | None = None,
    threshold: float = 0.5,
    champion_threshold: float | None = None,
    config: GateConfig | None = None,
) -> GateResult:
    """Check the challenger's behaviour on the latest live rows.

    Passes iff every output is finite and in [0, 1]; the positive rate is within
    ``max_positive_rate_gap`` of the reference rate; and scoring time per row is at most
    ``max_latency_ratio`` times the champion's. The reference rate is `observed_label_rate`,
    else the champion's live positive rate when `champion_live_proba` is given, else the
    positive-rate check is skipped (and the reason says so). Without a champion timing the
    latency check is skipped (and the reason says so). Agreement with the champion's
    predictions is reported but never judged.

    Parameters
    ----------
    live_challenger_proba : array-like of float
        Challenger probabilities on the latest live rows (the caller passes up to 1,000).
        Must not be empty: with no live traffic the caller runs this gate on holdout outputs
        instead, so an empty array is a caller error.
    observed_label_rate : float or None
        Positive rate of recently labelled rows, in [0, 1].
    challenger_seconds_per_row : float
        Measured challenger scoring time per row, >= 0.
    champion_seconds_per_row : float or None
        Measured champion scoring time per row (> 0), None without a champion.
    champion_live_proba : array-like of float, optional
        Champion probabilities on the same live rows, finite and in [0, 1].
    threshold : float
        Decision threshold of the challenger.
    champion_threshold : float, optional
        Decision threshold of the champion; defaults to `threshold`.
    config : GateConfig, optional
        Thresholds; defaults to ``GateConfig()``.

    Returns
    -------
    GateResult
        Named "consistency".
    """
    cfg = _config(config)
    try:
        p = np.asarray(live_challenger_proba, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"live_challenger_proba must be numeric: {exc}") from None
    if p.ndim != 1:
        raise ValueError(f"live_challenger_proba must be 1-D, got shape {p.shape}")
    if p.size == 0:
        raise ValueError(
            "live_challenger_proba is empty; with no live rows run this gate on holdout outputs"
        )
    n = len(p)
    if observed_label_rate is not None:
        observed_label_rate = _unit_float(observed_label_rate, "observed_label_rate")
    t_new = _threshold(threshold, "threshold")
    t_old = (
        t_new
        if champion_threshold is None
        else _threshold(champion_threshold, "champion_threshold")
    )
    secs_new = _seconds(challenger_seconds_per_row, "challenger_seconds_per_row", positive=False)
    secs_old = (
        None
        if champion_seconds_per_row is None
        else _seconds(champion_seconds_per_row, "champion_seconds_per_row", positive=True)
    )
    p_old = None
    if champion_live_proba is not None:
        p_old = _proba(champion_live_proba, "champion_live_proba", n)

    valid = np.isfinite(p) & (p >= 0.0) & (p <= 1.0)
    n_invalid = int(n - valid.sum())
    n_nonfinite = int((~np.isfinite(p)).sum())
    pred_new = p[valid] >= t_new
    positive_rate = float(pred_new.mean()) if valid.any() else None

    champion_rate = None
    agreement = None
    if p_old is not None:
        pred_old = p_old >= t_old
        champion_rate = float(pred_old.mean())
        if valid.any():
            agreement = float(np.mean(pred_new == pred_old[valid]))

    failures: list[str] = []
    notes: list[str] = []
    skipped: list[str] = []
    if n_invalid:
        failures.append(
            f"{n_invalid} of {n:,} outputs are not finite probabilities in [0, 1] "
            f"({n_nonfinite} non-finite)"
        )
    else:
        notes.append(f"all {n:,} outputs are finite and in [0, 1]")

    if observed_label_rate is not None:
        reference_rate, reference_name = observed_label_rate, "observed label rate"
    elif champion_rate is not None:
        reference_rate, reference_name = champion_rate, "champion live positive rate"
    else:
        reference_rate, reference_name = None, None
    rate_gap = None
    if reference_rate is None:
        skipped.append("positive_rate")
        notes.append("positive-rate check skipped (no observed label rate and no champion)")
    elif positive_rate is None:
        failures.append("positive rate cannot be computed (no valid output)")
    else:
        rate_gap = abs(positive_rate - reference_rate)
        rate_ok = rate_gap <= cfg.max_positive_rate_gap + _TOL
        text = (
            f"positive rate {positive_rate:.3f} vs {reference_name} {reference_rate:.3f} "
            f"(gap {rate_gap:.3f} {'<=' if rate_ok else '>'} {_fmt(cfg.max_positive_rate_gap)})"
        )
        (notes if rate_ok else failures).append(text)

    latency_ratio = None
    if secs_old is None:
        skipped.append("latency")
        notes.append("latency check skipped (no champion timing)")
    else:
        latency_ratio = secs_new / secs_old
        latency_ok = latency_ratio <= cfg.max_latency_ratio + _TOL
        text = (
            f"scoring {secs_new:.3g} s/row = {latency_ratio:.2f}x champion's {secs_old:.3g} "
            f"({'<=' if latency_ok else '>'} {_fmt(cfg.max_latency_ratio)}x allowed)"
        )
        (notes if latency_ok else failures).append(text)

    if agreement is not None:
        notes.append(f"agreement with champion {agreement:.1%} (informational)")

    values = {
        "n": n,
        "n_invalid": n_invalid,
        "n_nonfinite": n_nonfinite,
        "positive_rate": positive_rate,
        "reference_rate": reference_rate,
        "reference": reference_name,
        "positive_rate_gap": rate_gap,
        "champion_positive_rate": champion_rate,
        "challenger_seconds_per_row": secs_new,
        "champion_seconds_per_row": secs_old,
        "latency_ratio": latency_ratio,
        "agreement": agreement,
        "skipped": skipped,
    }
    thresholds = {
        "max_positive_rate_gap": cfg.max_positive_rate_gap,
        "max_latency_ratio": cfg.max_latency_ratio,
        "threshold": t_new,
        "champion_threshold": t_old if p_old is not None else None,
    }
    if failures:
        reason = f"Live outputs rejected on {n:,} rows: " + "; ".join(failures + notes) + "."
    else:
        reason = f"Live outputs consistent on {n:,} rows: " + "; ".join(notes) + "."
    return _result("consistency", not failures, values, thresholds, reason)


# ---------------------------------------------------------------------------------------------
# Metrics and validation helpers
# ---------------------------------------------------------------------------------------------


def _f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    numerator = 2.0 * np.asarray(tp, dtype=np.float64)
    denominator = numerator + fp + fn
    # zero_division=0: no positive labels and no positive predictions score 0, not NaN
    return np.divide(numerator, denominator, out=np.zeros_like(denominator), where=denominator > 0)


def _f1(y: np.ndarray, pred: np.ndarray) -> float:
    pos = y == 1
    tp = np.count_nonzero(pos & pred)
    fp = np.count_nonzero(~pos & pred)
    fn = np.count_nonzero(pos & ~pred)
    return float(_f1_from_counts(np.array([tp]), np.array([fp]), np.array([fn]))[0])


def _brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((p - y) ** 2)) if len(y) else 0.0


def _base_rate_brier(y: np.ndarray) -> float:
    """Brier of predicting each row by the positive rate of the *other* rows (leave-one-out).

    The in-sample constant ``mean(y)`` is the best constant in hindsight; its Brier is lower
    than the leave-one-out one, ``rate * (1 - rate) * (n / (n - 1)) ** 2``, by about
    ``2 * rate * (1 - rate) / n`` (0.017 on a 30-row balanced slice), which alone would use up
    most of the slice tolerance.
    """
    n = len(y)
    if n < 2:
        return 0.0
    rate = float(y.mean())
    return rate * (1.0 - rate) * (n / (n - 1)) ** 2


def _auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """ROC AUC via the Mann-Whitney rank sum, ties get average ranks; None for one class."""
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(score, kind="mergesort")
    _, inverse, counts = np.unique(score[order], return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    average_rank = ends - (counts - 1) / 2.0
    ranks = np.empty(len(score), dtype=np.float64)
    ranks[order] = average_rank[inverse]
    rank_sum = float(ranks[y == 1].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def _config(config: GateConfig | None) -> GateConfig:
    if config is None:
        return GateConfig()
    if not isinstance(config, GateConfig):
        raise ValueError(f"config must be a GateConfig, got {type(config).__name__}")
    return config


def _labels(y: Any, name: str, *, allow_empty: bool = False) -> np.ndarray:
    if isinstance(y, (pd.Series, pd.Index)):
        if y.isna().any():
            raise ValueError(f"{name} contains missing labels")
        y = y.to_numpy()
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        if allow_empty:
            return np.zeros(0, dtype=np.int8)
        raise ValueError(f"{name} is empty")
    if arr.dtype == bool:
        return arr.astype(np.int8)
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must hold 0/1 labels, got dtype {arr.dtype}")
    if not np.isin(arr, (0, 1)).all():
        bad = arr[~np.isin(arr, (0, 1))][:3].tolist()
        raise ValueError(f"{name} must hold only 0/1 labels, found {bad}")
    return arr.astype(np.int8)


def _proba(p: Any, name: str, n: int) -> np.ndarray:
    try:
        arr = np.asarray(p, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if len(arr) != n:
        raise ValueError(f"{name} has {len(arr)} values, expected {n}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
        raise ValueError(f"{name} must lie in [0, 1], got [{arr.min():g}, {arr.max():g}]")
    return arr


def _threshold(t: Any, name: str) -> float:
    return _unit_float(t, name)


def _unit_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    out = float(value)
    if not (math.isfinite(out) and 0.0 <= out <= 1.0):
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return out


def _seconds(value: Any, name: str, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise ValueError(f"{name} must be a number of seconds, got {value!r}")
    out = float(value)
    if not math.isfinite(out) or out < 0.0 or (positive and out == 0.0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value!r}")
    return out


def _columns(names: Sequence[str], arg: str, frame: pd.DataFrame) -> list[str]:
    if isinstance(names, str):
        raise ValueError(f"{arg} must be a sequence of column names, not a single string")
    out = list(names)
    missing = [c for c in out if c not in frame.columns]
    if missing:
        raise ValueError(f"{arg} names column(s) not in holdout: {missing}")
    if len(set(out)) != len(out):
        raise ValueError(f"{arg} names a column more than once: {out}")
    return out


def _schema_problems(schema_errors: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    if isinstance(schema_errors, (str, bytes, Mapping)):
        raise ValueError("schema_errors must be a sequence of mappings, not a single value")
    out = []
    for i, item in enumerate(schema_errors):
        if not isinstance(item, Mapping) or "field" not in item or "problem" not in item:
            raise ValueError(
                f"schema_errors[{i}] must be a mapping with 'field' and 'problem', got {item!r}"
            )
        out.append({"field": str(item["field"]), "problem": str(item["problem"])})
    return out


def _n_distinct(series: pd.Series) -> int:
    try:
        return int(series.nunique(dropna=True))
    except TypeError:
        # unhashable cells (lists, dicts): compare their text form instead
        return int(series.dropna().map(repr).nunique())


def _names(columns: list[str], limit: int = 5) -> str:
    shown = ", ".join(columns[:limit])
    return shown + (f" and {len(columns) - limit} more" if len(columns) > limit else "")


def _fmt(x: float) -> str:
    return f"{x:g}"


def _plain(value: Any) -> Any:
    """Convert to plain JSON types: numpy scalars to Python, NaN/inf to None, tuples to lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        out = float(value)
        return out if math.isfinite(out) else None
    return value
