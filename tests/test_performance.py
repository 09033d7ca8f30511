"""Tests for selfheal.performance: labeled metrics, proxies, calibrator, CBPE and the gap."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from selfheal.performance import (
    Calibrator,
    LabeledMetrics,
    PerformanceEstimate,
    estimate_performance,
    estimation_gap,
    fit_calibrator,
    labeled_metrics,
    proxy_metrics,
)

MODULE_PATH = Path(__file__).resolve().parents[1] / "selfheal" / "performance.py"


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _true_p(X: np.ndarray) -> np.ndarray:
    """The world's P(y=1 | x); the monitored model can learn it (logistic in x)."""
    return _sigmoid(1.5 * X[:, 0] - X[:, 1] + 0.5 * X[:, 2] - 0.3)


@pytest.fixture(scope="module")
def world() -> tuple[LogisticRegression, Calibrator]:
    """A model fitted on seeded training data and a calibrator fitted on a separate holdout."""
    rng = np.random.default_rng(12345)
    X_train = rng.normal(size=(4000, 3))
    y_train = rng.binomial(1, _true_p(X_train))
    model = LogisticRegression().fit(X_train, y_train)
    X_hold = rng.normal(size=(5000, 3))
    y_hold = rng.binomial(1, _true_p(X_hold))
    cal = fit_calibrator(model.predict_proba(X_hold)[:, 1], y_hold)
    assert cal.kind == "isotonic"
    return model, cal


def _window(
    model: LogisticRegression, seed: int, n: int = 1000
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = rng.binomial(1, _true_p(X))
    return X, y, model.predict_proba(X)[:, 1]


# --------------------------------------------------------------------------------------------
# Labeled metrics
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n", [7, 60, 2000])
@pytest.mark.parametrize("threshold", [0.3, 0.5])
def test_labeled_metrics_match_sklearn(seed: int, n: int, threshold: float) -> None:
    rng = np.random.default_rng(seed)
    p_true = rng.uniform(size=n)
    y = rng.binomial(1, p_true)
    # Rounding the scores creates many ties, which the rank AUC must handle like sklearn.
    proba = np.round(np.clip(p_true + rng.normal(scale=0.2, size=n), 0, 1), 2)
    if y.min() == y.max():  # keep AUC defined for this comparison
        y[0] = 1 - y[0]
    yhat = (proba >= threshold).astype(int)
    m = labeled_metrics(y, proba, threshold=threshold)
    assert m.n == n
    assert m.n_positive == int(y.sum())
    assert m.f1 == pytest.approx(f1_score(y, yhat, zero_division=0), abs=1e-12)
    assert m.precision == pytest.approx(precision_score(y, yhat, zero_division=0), abs=1e-12)
    assert m.recall == pytest.approx(recall_score(y, yhat, zero_division=0), abs=1e-12)
    assert m.accuracy == pytest.approx(accuracy_score(y, yhat), abs=1e-12)
    assert m.auc == pytest.approx(roc_auc_score(y, proba), abs=1e-12)
    assert m.brier == pytest.approx(brier_score_loss(y, proba), abs=1e-12)


def test_auc_matches_pairwise_definition_with_ties() -> None:
    rng = np.random.default_rng(3)
    proba = rng.integers(0, 5, size=300) / 4.0  # only 5 distinct values: heavy ties
    y = rng.integers(0, 2, size=300)
    pos, neg = proba[y == 1], proba[y == 0]
    diff = pos[:, None] - neg[None, :]
    expected = (np.sum(diff > 0) + 0.5 * np.sum(diff == 0)) / diff.size
    assert labeled_metrics(y, proba).auc == pytest.approx(expected, abs=1e-12)


def test_single_class_gives_auc_none_and_no_nan() -> None:
    m = labeled_metrics([0, 0, 0, 0], [0.1, 0.7, 0.2, 0.9])
    assert m.auc is None
    assert m.n_positive == 0
    # One class: F1, precision and recall are undefined (None), never a 0.0 that reads as a
    # collapse; accuracy is still defined.
    assert (m.f1, m.precision, m.recall, m.accuracy) == (None, None, None, 0.5)
    d = m.to_dict()
    assert d["auc"] is None
    assert all(v is None or math.isfinite(v) for v in d.values())
    json.dumps(d)  # plain values only

    m1 = labeled_metrics([1, 1, 1], [0.9, 0.8, 0.6])
    assert m1.auc is None
    assert (m1.f1, m1.precision, m1.recall, m1.accuracy) == (None, None, None, 1.0)


def test_all_predicted_negative() -> None:
    y = np.array([0, 1, 0, 1, 1])
    proba = np.array([0.1, 0.2, 0.3, 0.4, 0.45])
    m = labeled_metrics(y, proba)
    yhat = np.zeros(5, dtype=int)
    assert m.precision == 0.0 == precision_score(y, yhat, zero_division=0)
    assert m.recall == 0.0
    assert m.f1 == 0.0 == f1_score(y, yhat, zero_division=0)
    assert m.accuracy == pytest.approx(0.4)
    assert m.auc == pytest.approx(roc_auc_score(y, proba))


def test_no_positives_at_all_gives_f1_none() -> None:
    m = labeled_metrics([0, 0, 0], [0.1, 0.2, 0.3])
    assert (m.f1, m.precision, m.recall) == (None, None, None)
    assert m.accuracy == 1.0


def test_no_predicted_positives_with_both_classes_gives_zero_not_none() -> None:
    m = labeled_metrics([0, 1, 0], [0.1, 0.2, 0.3])
    assert (m.f1, m.precision, m.recall) == (0.0, 0.0, 0.0)


def test_all_tied_scores_give_auc_half() -> None:
    m = labeled_metrics([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5])
    assert m.auc == 0.5
    # proba >= threshold: a tie at the threshold counts as a positive prediction.
    assert m.recall == 1.0 and m.precision == 0.5


def test_labels_accept_bool_and_float() -> None:
    a = labeled_metrics([True, False, True], [0.8, 0.3, 0.4])
    b = labeled_metrics([1.0, 0.0, 1.0], [0.8, 0.3, 0.4])
    c = labeled_metrics([1, 0, 1], [0.8, 0.3, 0.4])
    assert a == b == c


@pytest.mark.parametrize(
    ("y_true", "proba", "threshold", "match"),
    [
        ([], [], 0.5, "proba is empty"),
        ([], [0.5], 0.5, "y_true is empty"),
        ([0, 1], [], 0.5, "proba is empty"),
        ([0, 2], [0.1, 0.2], 0.5, "y_true must contain only 0 and 1"),
        ([0, -1], [0.1, 0.2], 0.5, "y_true must contain only 0 and 1"),
        ([0, float("nan")], [0.1, 0.2], 0.5, "y_true must contain only 0 and 1"),
        (["a", "b"], [0.1, 0.2], 0.5, "y_true must hold 0/1 labels"),
        ([0, 1, 1], [0.1, 0.2], 0.5, "y_true has 3 rows but proba has 2"),
        ([0, 1], [0.1, 1.2], 0.5, r"proba must lie in \[0, 1\]"),
        ([0, 1], [-0.1, 0.2], 0.5, r"proba must lie in \[0, 1\]"),
        ([0, 1], [0.1, float("nan")], 0.5, "proba must be finite"),
        ([0, 1], [0.1, float("inf")], 0.5, "proba must be finite"),
        ([[0, 1]], [[0.1, 0.2]], 0.5, "proba must be 1-D"),
        ([0, 1], [0.1, 0.2], 1.5, "threshold must be a number in"),
        ([0, 1], [0.1, 0.2], float("nan"), "threshold must be a number in"),
    ],
)
def test_labeled_metrics_rejects_bad_input(
    y_true: list, proba: list, threshold: float, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        labeled_metrics(y_true, proba, threshold=threshold)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.floats(0.0, 1.0, allow_nan=False)),
        min_size=1,
        max_size=40,
    ),
    st.floats(0.0, 1.0, allow_nan=False),
)
def test_labeled_metrics_never_nan(rows: list[tuple[int, float]], threshold: float) -> None:
    y = [r[0] for r in rows]
    p = [r[1] for r in rows]
    d = labeled_metrics(y, p, threshold=threshold).to_dict()
    for key, value in d.items():
        if key in ("auc", "f1", "precision", "recall") and value is None:
            assert min(y) == max(y)  # undefined only with a single class
            continue
        assert math.isfinite(value)
        if key not in ("n", "n_positive"):
            assert 0.0 <= value <= 1.0


# --------------------------------------------------------------------------------------------
# Proxies
# --------------------------------------------------------------------------------------------


def test_proxy_metrics_values() -> None:
    pm = proxy_metrics([0.1, 0.5, 0.8, 0.3], threshold=0.5)
    assert pm.n == 4
    assert pm.positive_rate == pytest.approx(0.5)
    assert pm.mean_probability == pytest.approx(0.425)
    assert pm.mean_confidence == pytest.approx((0.9 + 0.5 + 0.8 + 0.7) / 4)
    assert json.loads(json.dumps(pm.to_dict())) == pm.to_dict()
    assert proxy_metrics([0.1, 0.5, 0.8, 0.3], threshold=0.9).positive_rate == 0.0


def test_proxy_metrics_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="proba is empty"):
        proxy_metrics([])
    with pytest.raises(ValueError, match="proba must be finite"):
        proxy_metrics([0.2, float("nan")])
    with pytest.raises(ValueError, match="threshold"):
        proxy_metrics([0.2], threshold=-0.1)


# --------------------------------------------------------------------------------------------
# Calibrator
# --------------------------------------------------------------------------------------------


def test_calibrator_json_round_trip_is_exact(world: tuple[LogisticRegression, Calibrator]) -> None:
    _, cal = world
    restored = Calibrator.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert restored == cal
    grid = np.linspace(0.0, 1.0, 2001)
    assert np.array_equal(restored.transform(grid), cal.transform(grid))


def test_calibrator_reproduces_sklearn_predict() -> None:
    rng = np.random.default_rng(5)
    p = rng.uniform(size=3000)
    y = rng.binomial(1, p**2)
    cal = fit_calibrator(p, y)
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
    grid = np.r_[np.linspace(0.0, 1.0, 501), p[:200]]
    np.testing.assert_allclose(cal.transform(grid), iso.predict(grid), atol=1e-12)
    assert np.all(np.diff(cal.transform(np.linspace(0, 1, 1001))) >= 0)  # monotone


def test_calibrator_improves_brier_of_miscalibrated_model() -> None:
    rng = np.random.default_rng(11)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        z = rng.normal(size=n)
        p_true = _sigmoid(z)
        # Deliberately overconfident and biased: right ranking, wrong probabilities.
        return _sigmoid(3.0 * z + 1.0), rng.binomial(1, p_true), p_true

    p_hold, y_hold, _ = draw(4000)
    cal = fit_calibrator(p_hold, y_hold)
    p_new, y_new, p_true = draw(4000)  # fresh data, not the holdout
    raw = labeled_metrics(y_new, p_new).brier
    fixed = labeled_metrics(y_new, cal.transform(p_new)).brier
    best = labeled_metrics(y_new, p_true).brier  # the true probabilities: best achievable
    assert fixed < raw - 0.02
    assert fixed < best + 0.01


def test_calibrator_single_class_is_identity() -> None:
    cal = fit_calibrator([0.2, 0.6, 0.9], [0, 0, 0])
    assert cal.kind == "identity"
    assert cal.n_samples == 3
    grid = np.linspace(0, 1, 11)
    np.testing.assert_array_equal(cal.transform(grid), grid)
    assert fit_calibrator([0.2, 0.6], [1, 1]).kind == "identity"


def test_calibrator_constant_proba_gives_base_rate() -> None:
    cal = fit_calibrator([0.4] * 8, [1, 0, 0, 0, 1, 0, 0, 0])
    assert cal.kind == "constant"
    np.testing.assert_array_equal(cal.transform([0.0, 0.4, 1.0]), [0.25, 0.25, 0.25])
    assert Calibrator.from_dict(json.loads(json.dumps(cal.to_dict()))) == cal


def test_calibrator_identity_factory() -> None:
    ident = Calibrator.identity()
    np.testing.assert_array_equal(ident.transform([0.0, 0.3, 1.0]), [0.0, 0.3, 1.0])


@pytest.mark.parametrize(
    ("d", "match"),
    [
        ([1, 2], "d must be a mapping"),
        ({"y": [0.0]}, "missing required key"),
        ({"x": "abc", "y": [0.0]}, "must be lists"),
        ({"x": [0.0, 1.0], "y": [0.0]}, "equal length"),
        ({"x": [0.5, 0.2], "y": [0.0, 1.0]}, "strictly increasing"),
        ({"x": [0.2, 0.5], "y": [0.9, 0.1]}, "non-decreasing"),
        ({"x": [0.2, 1.5], "y": [0.0, 1.0]}, r"\[0, 1\]"),
        ({"x": [0.2, 0.5], "y": [0.0, None]}, "valid calibrator"),
        ({"x": [0.2], "y": [0.3], "kind": "platt"}, "kind must be one of"),
        ({"x": [0.2], "y": [0.3], "format": 99}, "format"),
    ],
)
def test_calibrator_from_dict_rejects_bad_input(d: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Calibrator.from_dict(d)  # type: ignore[arg-type]


def test_fit_calibrator_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="proba is empty"):
        fit_calibrator([], [])
    with pytest.raises(ValueError, match="y_true must contain only 0 and 1"):
        fit_calibrator([0.1, 0.2], [0, 3])


# --------------------------------------------------------------------------------------------
# CBPE estimate
# --------------------------------------------------------------------------------------------


def test_cbpe_tracks_realized_f1_without_concept_drift(
    world: tuple[LogisticRegression, Calibrator],
) -> None:
    model, cal = world
    gaps, inside, inside_acc, widths = [], [], [], []
    for w in range(100):
        _, y, p = _window(model, seed=1000 + w)
        est = estimate_performance(cal, p, seed=w)
        gap = estimation_gap(est, labeled_metrics(y, p))
        gaps.append(gap["f1_gap"])
        inside.append(not gap["f1_outside"])
        inside_acc.append(not gap["accuracy_outside"])
        widths.append(est.f1_high - est.f1_low)
    gaps_arr = np.asarray(gaps)
    assert np.mean(np.abs(gaps_arr)) < 0.03
    assert abs(np.mean(gaps_arr)) < 0.02  # no systematic bias (calibrator error is ~0.01)
    assert np.mean(inside) >= 0.80
    assert np.mean(inside_acc) >= 0.80
    # Covering by being uselessly wide would not count.
    assert np.mean(widths) < 0.10


def test_cbpe_flags_concept_drift(world: tuple[LogisticRegression, Calibrator]) -> None:
    model, cal = world
    flagged = []
    for w in range(10):
        X, y, p = _window(model, seed=5000 + w)
        flip = X[:, 0] > 0.5  # the world changed its mind for part of the space
        y = np.where(flip, 1 - y, y)
        gap = estimation_gap(estimate_performance(cal, p, seed=w), labeled_metrics(y, p))
        assert gap["f1_gap"] < -0.15
        flagged.append(gap["flagged"])
    assert all(flagged)


def test_cbpe_bootstrap_matches_explicit_index_bootstrap(
    world: tuple[LogisticRegression, Calibrator],
) -> None:
    """The closed-form replicates equal, in distribution, an index-matrix row bootstrap with
    per-row Bernoulli(q) labels."""
    model, cal = world
    _, _, p = _window(model, seed=77)
    n, n_boot = p.size, 4000
    rng = np.random.default_rng(0)
    q = cal.transform(p)
    yhat = p >= 0.5
    idx = rng.integers(0, n, size=(n_boot, n))
    labels = rng.random((n_boot, n)) < q[idx]
    pred = yhat[idx]
    tp = np.sum(labels & pred, axis=1)
    fp = np.sum(~labels & pred, axis=1)
    fn = np.sum(labels & ~pred, axis=1)
    f1_rep = 2 * tp / (2 * tp + fp + fn)
    acc_rep = 1.0 - (fp + fn) / n
    est = estimate_performance(cal, p, n_boot=n_boot, confidence=0.90, seed=1)
    lo, hi = np.quantile(f1_rep, [0.05, 0.95])
    assert est.f1_low == pytest.approx(lo, abs=0.003)
    assert est.f1_high == pytest.approx(hi, abs=0.003)
    lo, hi = np.quantile(acc_rep, [0.05, 0.95])
    assert est.accuracy_low == pytest.approx(lo, abs=0.003)
    assert est.accuracy_high == pytest.approx(hi, abs=0.003)


def test_cbpe_point_estimate_formulas() -> None:
    cal = Calibrator.identity()
    p = np.array([0.9, 0.7, 0.4, 0.2])
    est = estimate_performance(cal, p, threshold=0.5)
    tp, fp, fn, tn = 0.9 + 0.7, 0.1 + 0.3, 0.4 + 0.2, 0.6 + 0.8
    assert est.f1 == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert est.accuracy == pytest.approx((tp + tn) / 4)
    assert est.precision == pytest.approx(tp / (tp + fp))
    assert est.recall == pytest.approx(tp / (tp + fn))
    assert est.n == 4


def test_cbpe_invariant_to_row_order_and_reproducible(
    world: tuple[LogisticRegression, Calibrator],
) -> None:
    model, cal = world
    _, _, p = _window(model, seed=31)
    base = estimate_performance(cal, p, seed=3)
    perm = np.random.default_rng(9).permutation(p.size)
    assert estimate_performance(cal, p[perm], seed=3) == base
    assert estimate_performance(cal, p[::-1], seed=3) == base
    assert estimate_performance(cal, p, seed=3) == base
    other = estimate_performance(cal, p, seed=4)
    assert (other.f1, other.accuracy) == (base.f1, base.accuracy)  # point needs no randomness
    assert (other.f1_low, other.f1_high) != (base.f1_low, base.f1_high)


def test_cbpe_band_shrinks_with_window_size(world: tuple[LogisticRegression, Calibrator]) -> None:
    model, cal = world
    _, _, p = _window(model, seed=41, n=5000)
    small = estimate_performance(cal, p[:50])
    large = estimate_performance(cal, p)
    assert (small.f1_high - small.f1_low) > 3 * (large.f1_high - large.f1_low)


def test_cbpe_band_contains_point_and_is_json_safe(
    world: tuple[LogisticRegression, Calibrator],
) -> None:
    model, cal = world
    _, _, p = _window(model, seed=51, n=300)
    for n in (1, 2, 5, 300):
        est = estimate_performance(cal, p[:n])
        assert est.f1_low <= est.f1 <= est.f1_high
        assert est.accuracy_low <= est.accuracy <= est.accuracy_high
        d = est.to_dict()
        assert all(math.isfinite(v) for v in d.values())
        assert PerformanceEstimate(**json.loads(json.dumps(d))) == est


def test_cbpe_degenerate_windows_never_nan() -> None:
    cal = Calibrator.identity()
    none_pos = estimate_performance(cal, [0.0, 0.0, 0.0])  # certain negatives
    assert (none_pos.f1, none_pos.precision, none_pos.recall) == (0.0, 0.0, 0.0)
    assert none_pos.accuracy == 1.0
    assert (none_pos.f1_low, none_pos.f1_high) == (0.0, 0.0)
    all_pos = estimate_performance(cal, [1.0, 1.0])
    assert (all_pos.f1, all_pos.accuracy, all_pos.f1_low, all_pos.f1_high) == (1, 1, 1, 1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"proba": []}, "proba is empty"),
        ({"proba": [0.2, 2.0]}, r"proba must lie in \[0, 1\]"),
        ({"n_boot": 5}, "n_boot must be an integer >= 10"),
        ({"n_boot": 20.0}, "n_boot must be an integer >= 10"),
        ({"confidence": 1.0}, r"confidence must be a number in \(0, 1\)"),
        ({"confidence": 0.0}, r"confidence must be a number in \(0, 1\)"),
        ({"threshold": 2.0}, "threshold must be a number in"),
        ({"seed": "x"}, "seed must be an integer or None"),
        ({"calibrator": {"x": [0.0], "y": [0.0]}}, "calibrator must be a Calibrator"),
    ],
)
def test_estimate_performance_rejects_bad_input(kwargs: dict, match: str) -> None:
    args: dict = {"calibrator": Calibrator.identity(), "proba": [0.2, 0.7]}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        estimate_performance(**args)


# --------------------------------------------------------------------------------------------
# Estimation gap
# --------------------------------------------------------------------------------------------


def _estimate(**kw: float) -> PerformanceEstimate:
    base = {
        "n": 100,
        "f1": 0.8,
        "accuracy": 0.85,
        "precision": 0.8,
        "recall": 0.8,
        "f1_low": 0.75,
        "f1_high": 0.85,
        "accuracy_low": 0.8,
        "accuracy_high": 0.9,
    }
    base.update(kw)
    return PerformanceEstimate(**base)  # type: ignore[arg-type]


def _realized(f1: float, accuracy: float) -> LabeledMetrics:
    return LabeledMetrics(
        n=100, n_positive=40, f1=f1, precision=f1, recall=f1, accuracy=accuracy, auc=None, brier=0.1
    )


def test_estimation_gap_values() -> None:
    inside = estimation_gap(_estimate(), _realized(0.82, 0.86))
    assert inside["f1_gap"] == pytest.approx(0.02)
    assert inside["f1_outside"] is False and inside["flagged"] is False
    assert inside["accuracy_gap"] == pytest.approx(0.01)
    assert inside["accuracy_outside"] is False
    json.dumps(inside)

    outside = estimation_gap(_estimate(), _realized(0.6, 0.7))
    assert outside["f1_gap"] == pytest.approx(-0.2)
    assert outside["f1_outside"] is True and outside["flagged"] is True
    assert outside["accuracy_outside"] is True
    # The band edges themselves count as inside.
    assert estimation_gap(_estimate(), _realized(0.85, 0.9))["flagged"] is False


def test_estimation_gap_rejects_wrong_types() -> None:
    with pytest.raises(ValueError, match="estimate must be a PerformanceEstimate"):
        estimation_gap({"f1": 0.5}, _realized(0.5, 0.5))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="realized must be a LabeledMetrics"):
        estimation_gap(_estimate(), {"f1": 0.5})  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Module hygiene
# --------------------------------------------------------------------------------------------


def test_module_never_imports_scipy_and_sklearn_only_lazily() -> None:
    tree = ast.parse(MODULE_PATH.read_text())
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        assert not any(name.split(".")[0] == "scipy" for name in names)
    top_level = [
        n.module if isinstance(n, ast.ImportFrom) else n.names[0].name
        for n in tree.body
        if isinstance(n, (ast.Import, ast.ImportFrom))
    ]
    assert not any((name or "").startswith("sklearn") for name in top_level)


def test_latency_percentiles_interpolate_and_handle_no_rows() -> None:
    from selfheal.performance import latency_percentiles

    assert latency_percentiles([]) is None
    got = latency_percentiles([1.0, 2.0, 3.0, 4.0, 100.0])
    assert got == {"p50": 3.0, "p99": pytest.approx(96.16)}
