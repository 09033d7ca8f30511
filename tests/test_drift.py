"""Tests of selfheal.drift: sketch, detection, report, histogram and calibration."""

from __future__ import annotations

import json
import math
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats as ss

from selfheal import drift
from selfheal.drift import SCORE_NAME, DriftConfig, DriftReport, ReferenceSketch

NUMERIC = ["age", "income", "credit_score", "employment_years"]


def credit_frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Synthetic credit-like rows (seeded by the caller's generator)."""
    return pd.DataFrame(
        {
            "age": np.clip(rng.normal(42.0, 12.0, n), 18, 90),
            "income": rng.lognormal(10.8, 0.5, n),
            "credit_score": np.clip(rng.normal(680.0, 70.0, n), 300, 850),
            "employment_years": np.clip(rng.gamma(2.0, 4.0, n), 0, 50),
            "region": rng.choice(["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )


def score_of(frame: pd.DataFrame) -> np.ndarray:
    """A fixed logistic 'model' so the scores move only when the inputs move."""
    z = (
        -0.02 * (frame["age"] - 42)
        - 0.8 * (np.log(frame["income"]) - 10.8)
        - 0.01 * (frame["credit_score"] - 680)
    )
    return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)


@pytest.fixture()
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(42)
    return credit_frame(rng, 2000), credit_frame(rng, 1500)


def test_build_sketch_contents(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, _ = data
    scores = score_of(ref)
    ref = ref.copy()
    ref.loc[:9, "age"] = np.nan
    sk = drift.build_sketch(ref, NUMERIC, ["region"], scores=scores)
    age = sk.numeric["age"]
    assert age.n == 1990 and age.n_nan == 10
    assert np.all(np.diff(age.sorted_values) >= 0)
    assert age.edges.size == 9
    assert age.counts.sum() == 1990 and age.counts.size == 10
    assert age.mean == pytest.approx(np.nanmean(ref["age"]))
    assert age.std == pytest.approx(np.nanstd(ref["age"]))
    assert sk.categorical["region"].levels == ["east", "north", "south", "west"]
    assert sk.categorical["region"].n == 2000
    assert sk.score is not None and sk.score.n == 2000
    assert sk.features == [*NUMERIC, "region"]
    assert sk.n_reference == 2000


def test_build_sketch_errors(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, _ = data
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['nope'\]"):
        drift.build_sketch(ref, ["age", "nope"], [])
    with pytest.raises(ValueError, match="numeric column 'region' must be numeric"):
        drift.build_sketch(ref, ["region"], [])
    with pytest.raises(ValueError, match="argument 'frame' is empty"):
        drift.build_sketch(ref.iloc[:0], ["age"], [])
    with pytest.raises(ValueError, match="more than once"):
        drift.build_sketch(ref, ["age"], ["age"])
    with pytest.raises(ValueError, match="no finite value"):
        drift.build_sketch(pd.DataFrame({"x": [np.nan, np.nan]}), ["x"], [])


def test_no_drift_same_distribution(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, win = data
    sk = drift.build_sketch(ref, NUMERIC, ["region"], scores=score_of(ref))
    report = drift.detect(sk, win, scores=score_of(win))
    assert report.status == "ok"
    assert not report.dataset_drift
    assert report.drift_share == 0.0
    assert report.n_reference == 2000 and report.n_window == 1500
    assert [f.name for f in report.features] == [*NUMERIC, "region"]
    for f in report.features:
        assert f.drifted is False
        assert f.p_adjusted is not None and f.p_value is not None
        assert f.p_adjusted >= f.p_value
    assert report.score is not None and report.score.name == SCORE_NAME


def test_numeric_feature_matches_scipy(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, win = data
    win = win.copy()
    win["income"] *= 1.2
    sk = drift.build_sketch(ref, NUMERIC, ["region"])
    report = drift.detect(sk, win)
    inc = report.feature("income")
    oracle = ss.ks_2samp(ref["income"], win["income"], method="asymp")
    assert inc.test == "ks" and inc.kind == "numeric"
    assert inc.statistic == oracle.statistic
    n, m = len(ref), len(win)
    assert inc.p_value == pytest.approx(
        ss.kstwobign.sf(oracle.statistic * math.sqrt(n * m / (n + m))), abs=1e-12
    )
    w = ss.wasserstein_distance(ref["income"], win["income"]) / np.std(ref["income"])
    assert inc.effect_name == "normed_wasserstein"
    assert inc.effect_size == pytest.approx(w, rel=1e-9)
    assert inc.psi is not None and inc.psi > 0.1
    assert inc.drifted is True
    assert report.drifted_features == ["income"]
    assert report.drift_share == pytest.approx(1 / 5)
    assert report.status == "ok"  # one of five features is below the 0.5 share


def test_exact_ks_used_for_small_samples() -> None:
    rng = np.random.default_rng(5)
    ref, win = credit_frame(rng, 800), credit_frame(rng, 600)
    sk = drift.build_sketch(ref, ["age"], [])
    f = drift.detect(sk, win).feature("age")
    oracle = ss.ks_2samp(ref["age"], win["age"], method="exact")
    assert f.statistic == pytest.approx(oracle.statistic, abs=1e-15)
    assert f.p_value == pytest.approx(oracle.pvalue, abs=1e-6)


def test_categorical_feature_and_unseen_level(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, win = data
    win = win.copy()
    win.loc[win.index[:400], "region"] = "mars"
    sk = drift.build_sketch(ref, [], ["region"])
    f = drift.detect(sk, win).feature("region")
    assert f.unseen_levels == ["mars"]
    levels = ["east", "north", "south", "west", "mars"]
    r = ref["region"].value_counts().reindex(levels, fill_value=0).to_numpy()
    c = win["region"].value_counts().reindex(levels, fill_value=0).to_numpy()
    oracle = ss.chi2_contingency(np.vstack([r, c]), correction=False)
    assert f.test == "chi2" and f.effect_name == "jensen_shannon"
    assert f.statistic == pytest.approx(oracle.statistic, rel=1e-12)
    assert f.p_value == pytest.approx(oracle.pvalue, rel=1e-9, abs=1e-300)
    from scipy.spatial.distance import jensenshannon

    assert f.effect_size == pytest.approx(jensenshannon(r, c, base=2), abs=1e-9)
    assert f.drifted is True
    h = drift.histogram(sk, win, "region")
    assert h.kind == "categorical" and h.levels == levels
    assert h.reference[-1] == 0.0 and h.current[-1] == pytest.approx(400 / 1500)


def test_categorical_integer_levels_survive_nan_in_window() -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"grade": rng.integers(1, 4, 500)})
    win = pd.DataFrame({"grade": rng.integers(1, 4, 500).astype(float)})
    win.loc[:4, "grade"] = np.nan
    sk = drift.build_sketch(ref, [], ["grade"])
    f = drift.detect(sk, win).feature("grade")
    assert f.unseen_levels == []
    assert f.n_nan == 5 and f.n_window == 495
    assert f.drifted is False


def test_insufficient_data_below_min_window(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, win = data
    sk = drift.build_sketch(ref, NUMERIC, ["region"], scores=score_of(ref))
    small = win.iloc[:199].copy()
    small["income"] *= 3.0
    report = drift.detect(sk, small, scores=score_of(small))
    assert report.status == "insufficient_data"
    assert report.dataset_drift is False and report.drift_share is None
    assert all(f.drifted is None and f.p_adjusted is None for f in report.features)
    assert report.score is not None and report.score.drifted is None
    # Statistics are still reported for display.
    assert report.feature("income").statistic is not None
    json.loads(report.to_json())
    assert drift.detect(sk, win.iloc[:200], scores=score_of(win.iloc[:200])).status == "ok"


def test_min_window_is_configurable(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, win = data
    sk = drift.build_sketch(ref, NUMERIC, [])
    report = drift.detect(sk, win.iloc[:50], config=DriftConfig(min_window=20))
    assert report.status in ("ok", "drift")
    assert report.config.min_window == 20


def test_constant_column_never_nan() -> None:
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"c": np.full(500, 7.0), "x": rng.normal(size=500)})
    sk = drift.build_sketch(ref, ["c", "x"], [])
    assert sk.numeric["c"].edges.tolist() == [7.0]
    same = drift.detect(sk, pd.DataFrame({"c": np.full(400, 7.0), "x": rng.normal(size=400)}))
    f = same.feature("c")
    assert (f.statistic, f.p_value, f.effect_size, f.psi) == (0.0, 1.0, 0.0, 0.0)
    assert f.drifted is False
    moved = drift.detect(sk, pd.DataFrame({"c": np.full(400, 7.5), "x": rng.normal(size=400)}))
    g = moved.feature("c")
    assert g.statistic == 1.0 and g.drifted is True
    assert g.effect_size == pytest.approx(0.5 / 1e-3)
    for fd in (*same.features, *moved.features):
        for v in (fd.statistic, fd.p_value, fd.p_adjusted, fd.effect_size, fd.psi):
            assert v is not None and math.isfinite(v)


def test_nan_in_window_dropped_and_counted(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, win = data
    win = win.copy()
    win.loc[win.index[:30], "age"] = np.nan
    win.loc[win.index[:7], "region"] = None
    sk = drift.build_sketch(ref, NUMERIC, ["region"])
    report = drift.detect(sk, win)
    assert report.feature("age").n_nan == 30
    assert report.feature("age").n_window == 1470
    assert report.feature("region").n_nan == 7
    assert report.feature("income").n_nan == 0


def test_a_feature_that_goes_missing_is_drifted(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """No value left to test, but the jump of its missing share is drift on its own."""
    ref, win = data
    win = win.copy()
    win["age"] = np.nan
    sk = drift.build_sketch(ref, NUMERIC, [])
    report = drift.detect(sk, win)
    age = report.feature("age")
    assert age.statistic is None and age.p_value is None and age.n_nan == 1500
    assert age.missing_share_reference == 0.0 and age.missing_share == 1.0
    assert age.missing_drifted is True and age.drifted is True
    assert report.drifted_features == ["age"]
    out = json.loads(report.to_json())["features"][0]
    assert out["statistic"] is None and out["missing_drifted"] is True


def test_all_nan_window_without_a_reference_gap_gets_no_verdict(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    """A feature that was (almost) always missing and still is: nothing to judge."""
    ref, win = data
    ref, win = ref.copy(), win.copy()
    ref["age"] = np.nan
    ref.loc[ref.index[0], "age"] = 40.0  # a reference needs one finite value
    win["age"] = np.nan
    report = drift.detect(drift.build_sketch(ref, NUMERIC, []), win)
    age = report.feature("age")
    assert age.missing_drifted is False and age.drifted is None
    assert report.status == "ok" and report.drift_share == 0.0


def test_missing_column_error(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, win = data
    sk = drift.build_sketch(ref, NUMERIC, ["region"])
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['income'\]"):
        drift.detect(sk, win.drop(columns=["income"]))
    with pytest.raises(ValueError, match="argument 'scores'"):
        drift.detect(sk, win, scores=np.zeros(len(win)))
    with pytest.raises(ValueError, match="window column 'age' must be numeric"):
        drift.detect(sk, win.assign(age="x"))


def test_score_drift_alone_triggers_dataset_drift(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    ref, win = data
    sk = drift.build_sketch(ref, NUMERIC, ["region"], scores=score_of(ref))
    shifted = np.clip(score_of(win) + 0.15, 0, 1)
    report = drift.detect(sk, win, scores=shifted)
    assert report.drifted_features == []
    assert report.drift_share == 0.0
    assert report.score is not None and report.score.drifted is True
    assert report.dataset_drift is True and report.status == "drift"


def test_dataset_drift_by_share(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, win = data
    win = win.copy()
    win["age"] += 10
    win["income"] *= 1.5
    win["credit_score"] -= 40
    sk = drift.build_sketch(ref, NUMERIC, ["region"])
    report = drift.detect(sk, win)
    assert set(report.drifted_features) == {"age", "income", "credit_score"}
    assert report.drift_share == pytest.approx(3 / 5)
    assert report.dataset_drift and report.status == "drift"
    relaxed = drift.detect(sk, win, config=DriftConfig(dataset_drift_share=0.8))
    assert not relaxed.dataset_drift


def test_effect_threshold_gates_significance() -> None:
    # A tiny but significant shift at a large window is not drift.
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"x": rng.normal(size=50_000)})
    win = pd.DataFrame({"x": rng.normal(0.05, 1.0, 50_000)})
    sk = drift.build_sketch(ref, ["x"], [])
    f = drift.detect(sk, win).feature("x")
    assert f.p_adjusted is not None and f.p_adjusted < 1e-6
    assert f.effect_size is not None and f.effect_size < 0.1
    assert f.drifted is False


def test_report_json_round_trip(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, win = data
    win = win.copy()
    win["income"] *= 1.3
    win.loc[win.index[:5], "region"] = "mars"
    sk = drift.build_sketch(ref, NUMERIC, ["region"], scores=score_of(ref))
    report = drift.detect(sk, win, scores=score_of(win))
    text = report.to_json()
    assert "NaN" not in text
    plain = json.loads(text)

    def check_plain(x: object) -> None:
        assert x is None or type(x) in (str, int, float, bool, list, dict)
        if isinstance(x, dict):
            for v in x.values():
                check_plain(v)
        if isinstance(x, list):
            for v in x:
                check_plain(v)

    check_plain(report.to_dict())
    assert plain["drifted_features"] == report.drifted_features
    again = DriftReport.from_dict(plain)
    assert again == report
    assert DriftReport.from_json(text).to_dict() == report.to_dict()


def test_sketch_save_load_round_trip(
    tmp_path: Path, data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, win = data
    ref = ref.copy()
    ref.loc[:3, "income"] = np.nan
    ref = ref.rename(columns={"credit_score": "credit score/ü"})
    win = win.rename(columns={"credit_score": "credit score/ü"})
    numeric = ["age", "income", "credit score/ü", "employment_years"]
    sk = drift.build_sketch(ref, numeric, ["region"], scores=score_of(data[0]))
    path = tmp_path / "ref.sketch.npz"
    sk.save(path)
    assert path.exists() and len(list(tmp_path.iterdir())) == 1
    with np.load(path, allow_pickle=False) as npz:
        for key in npz.files:
            assert npz[key].dtype != object
    with zipfile.ZipFile(path) as zf:
        assert "meta.npy" in zf.namelist()
    loaded = ReferenceSketch.load(path)
    assert list(loaded.numeric) == numeric
    assert loaded.n_reference == sk.n_reference and loaded.bins == sk.bins
    assert loaded.numeric["income"].n_nan == 4
    for name in numeric:
        a, b = sk.numeric[name], loaded.numeric[name]
        np.testing.assert_array_equal(a.sorted_values, b.sorted_values)
        np.testing.assert_array_equal(a.edges, b.edges)
        np.testing.assert_array_equal(a.counts, b.counts)
        assert (a.mean, a.std) == (b.mean, b.std)
    assert loaded.categorical["region"].levels == sk.categorical["region"].levels
    assert loaded.score is not None
    r1 = drift.detect(sk, win, scores=score_of(data[1]))
    r2 = drift.detect(loaded, win, scores=score_of(data[1]))
    assert r1.to_dict() == r2.to_dict()


def test_sketch_load_rejects_other_npz(tmp_path: Path) -> None:
    path = tmp_path / "x.npz"
    np.savez(path, a=np.arange(3))
    with pytest.raises(ValueError, match="is not a sketch"):
        ReferenceSketch.load(path)


def test_numeric_histogram(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, win = data
    sk = drift.build_sketch(ref, NUMERIC, ["region"], scores=score_of(ref))
    report = drift.detect(sk, win, scores=score_of(win))
    h = report.feature("age").histogram(sk, win, bins=20)
    assert h.kind == "numeric" and h.levels is None and h.edges is not None
    assert len(h.edges) == 21 and len(h.reference) == 20 and len(h.current) == 20
    edges = np.asarray(h.edges)
    expected_ref, _ = np.histogram(ref["age"], bins=edges)
    expected_cur, _ = np.histogram(win["age"], bins=edges)
    np.testing.assert_allclose(h.reference, expected_ref / expected_ref.sum())
    np.testing.assert_allclose(h.current, expected_cur / expected_cur.sum())
    json.dumps(h.to_dict())
    hs = drift.histogram(sk, None, SCORE_NAME, bins=5, scores=score_of(win))
    assert sum(hs.reference) == pytest.approx(1.0) and sum(hs.current) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="argument 'feature'"):
        drift.histogram(sk, win, "nope")
    const = drift.build_sketch(pd.DataFrame({"c": np.ones(10)}), ["c"], [])
    hc = drift.histogram(const, pd.DataFrame({"c": np.ones(5)}), "c", bins=4)
    assert hc.edges == [0.5, 0.75, 1.0, 1.25, 1.5]
    assert sum(hc.reference) == pytest.approx(1.0)


def test_config_validation_and_round_trip() -> None:
    cfg = DriftConfig()
    assert (cfg.alpha, cfg.wasserstein_threshold, cfg.js_threshold, cfg.psi_threshold) == (
        0.05,
        0.1,
        0.1,
        0.2,
    )
    assert (cfg.min_window, cfg.dataset_drift_share, cfg.ks_exact_max) == (200, 0.5, 1000)
    assert DriftConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="argument 'alpha'"):
        DriftConfig(alpha=0)
    with pytest.raises(ValueError, match="argument 'min_window'"):
        DriftConfig(min_window=0)


# --------------------------------------------------------------------------------------
# calibration (500 seeded trials each, n = 1,000 versus 1,000)
# --------------------------------------------------------------------------------------

TRIALS = 500


def test_false_alarm_rate_reference_vs_reference() -> None:
    alarms = 0
    for seed in range(TRIALS):
        rng = np.random.default_rng(10_000 + seed)
        ref, win = credit_frame(rng, 1000), credit_frame(rng, 1000)
        sk = drift.build_sketch(ref, NUMERIC, ["region"], scores=score_of(ref))
        alarms += drift.detect(sk, win, scores=score_of(win)).dataset_drift
    assert alarms / TRIALS <= 0.05


def test_income_shift_is_detected() -> None:
    hits = 0
    for seed in range(TRIALS):
        rng = np.random.default_rng(20_000 + seed)
        ref, win = credit_frame(rng, 1000), credit_frame(rng, 1000)
        win["income"] *= 1.2
        sk = drift.build_sketch(ref, NUMERIC, ["region"])
        hits += bool(drift.detect(sk, win).feature("income").drifted)
    assert hits / TRIALS >= 0.95


# --------------------------------------------------------------------------------------
# exact behaviour at the edges: missing shares, odd column types, histograms, files
# --------------------------------------------------------------------------------------


def test_categorical_result_names_its_kind_and_reports_psi(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    ref, win = data
    win = win.copy()
    win.loc[win.index[:300], "region"] = "north"
    f = drift.detect(drift.build_sketch(ref, [], ["region"]), win).feature("region")
    levels = ["east", "north", "south", "west"]
    r = ref["region"].value_counts().reindex(levels).to_numpy(dtype=np.float64)
    c = win["region"].value_counts().reindex(levels).to_numpy(dtype=np.float64)
    pr, pc = r / r.sum(), c / c.sum()
    assert (f.kind, f.test, f.effect_name) == ("categorical", "chi2", "jensen_shannon")
    assert f.psi == pytest.approx(float(np.sum((pc - pr) * np.log(pc / pr))), rel=1e-12)


def test_category_levels_that_print_alike_are_counted_together() -> None:
    """3, 3.0 and "3" in an object column are one level "3", as in the reference."""
    ref = pd.DataFrame({"grade": np.repeat([1, 2, 3], 200)})
    win = pd.DataFrame({"grade": pd.Series([1] * 100 + [3] * 100 + [3.0] * 50 + ["3"] * 50)})
    sk = drift.build_sketch(ref, [], ["grade"])
    f = drift.detect(sk, win).feature("grade")
    assert f.unseen_levels == [] and f.n_window == 300 and f.n_nan == 0
    h = drift.histogram(sk, win, "grade")
    assert h.levels == ["1", "2", "3"] and h.current == [pytest.approx(1 / 3), 0.0, 2 / 3]


def test_a_category_the_reference_never_held_is_unseen_even_if_its_dtype_declares_it() -> None:
    """A pandas categorical column declares levels it may not hold; a declared level with no
    reference row is no reference level, and its first rows in a window are unseen."""
    declared = ["a", "b", "c"]
    ref = pd.DataFrame({"k": pd.Categorical(["a"] * 300 + ["b"] * 300, categories=declared)})
    win = pd.DataFrame({"k": pd.Categorical(["a"] * 150 + ["c"] * 150, categories=declared)})
    sk = drift.build_sketch(ref, [], ["k"])
    assert sk.categorical["k"].levels == ["a", "b"]
    single = pd.DataFrame({"k": pd.Categorical(["a", "b", "b"], categories=declared)})
    assert drift.build_sketch(single, [], ["k"]).categorical["k"].as_mapping() == {"a": 1, "b": 2}
    f = drift.detect(sk, win).feature("k")
    assert f.unseen_levels == ["c"] and f.drifted is True


def test_numbers_held_as_python_objects_are_tested_as_numbers(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    ref, win = data
    sk = drift.build_sketch(ref, ["age"], [])
    ages = win["age"].to_numpy()
    as_objects = pd.Series([None, *ages[1:].tolist()], dtype=object)
    as_floats = pd.Series([np.nan, *ages[1:]])
    f = drift.detect(sk, pd.DataFrame({"age": as_objects})).feature("age")
    g = drift.detect(sk, pd.DataFrame({"age": as_floats})).feature("age")
    assert f.to_dict() == g.to_dict()
    assert (f.n_window, f.n_nan) == (1499, 1)


def test_scores_that_are_not_numbers_are_refused_by_name(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    ref, win = data
    sk = drift.build_sketch(ref, ["age"], [], scores=score_of(ref))
    with pytest.raises(ValueError, match="^detect: argument 'scores' must be numeric$"):
        drift.detect(sk, win, scores=np.array(["high"] * len(win)))


def test_missing_shares_are_reported_for_every_feature_of_a_short_window(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    """Below min_window there is no verdict, but each feature's missing share is shown."""
    ref, win = data
    short = win.iloc[:150].copy()
    short.loc[short.index[:15], "age"] = np.nan
    short.loc[short.index[:30], "region"] = None
    report = drift.detect(drift.build_sketch(ref, NUMERIC, ["region"]), short)
    assert report.status == "insufficient_data"
    shares = {f.name: f.missing_share for f in report.features}
    assert shares == {
        "age": 0.1,
        "income": 0.0,
        "credit_score": 0.0,
        "employment_years": 0.0,
        "region": 0.2,
    }
    assert all(f.missing_drifted is None and f.missing_p_value is None for f in report.features)
    assert all(f.missing_share_reference == 0.0 for f in report.features)


def test_an_empty_window_has_no_missing_share(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref, win = data
    report = drift.detect(drift.build_sketch(ref, NUMERIC, ["region"]), win.iloc[:0])
    assert report.status == "insufficient_data" and report.n_window == 0
    assert all(f.missing_share is None and f.n_window == 0 for f in report.features)
    json.loads(report.to_json())


def test_a_one_row_window_and_a_one_row_reference_report_missing_shares() -> None:
    one = DriftConfig(min_window=1)
    ref = pd.DataFrame({"x": [1.0, np.nan, 3.0, 4.0]})
    sk = drift.build_sketch(ref, ["x"], [])
    f = drift.detect(sk, pd.DataFrame({"x": [np.nan]}), config=one).feature("x")
    assert (f.missing_share_reference, f.missing_share) == (0.25, 1.0)
    single = drift.build_sketch(pd.DataFrame({"x": [2.0]}), ["x"], [])
    g = drift.detect(single, pd.DataFrame({"x": [2.0, np.nan]}), config=one).feature("x")
    assert (g.missing_share_reference, g.missing_share) == (0.0, 0.5)
    assert g.missing_drifted is False


def test_missing_share_tests_are_adjusted_together_and_reported(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    ref, win = data
    ref, win = ref.copy(), win.copy()
    ref.loc[ref.index[:40], "income"] = np.nan  # 2% missing in the reference, 2% in the window
    win.loc[win.index[:30], "income"] = np.nan
    win.loc[win.index[:60], "age"] = np.nan  # 0% -> 4%
    win.loc[win.index[:7], "region"] = None  # 0% -> 0.47%
    report = drift.detect(drift.build_sketch(ref, NUMERIC, ["region"]), win)
    tested = ["age", "income", "region"]
    tables = {
        "age": [[0, 2000], [60, 1440]],
        "income": [[40, 1960], [30, 1470]],
        "region": [[0, 2000], [7, 1493]],
    }
    p = [ss.chi2_contingency(tables[n], correction=False).pvalue for n in tested]
    adjusted = ss.false_discovery_control(p)
    for name, p_raw, p_adj in zip(tested, p, adjusted, strict=True):
        f = report.feature(name)
        assert f.missing_p_value == pytest.approx(p_raw, rel=1e-9)
        assert f.missing_p_adjusted == pytest.approx(p_adj, rel=1e-9)
        out = f.to_dict()
        assert (out["missing_p_value"], out["missing_p_adjusted"], out["missing_effect"]) == (
            f.missing_p_value,
            f.missing_p_adjusted,
            f.missing_effect,
        )
    assert report.feature("age").missing_effect == pytest.approx(2 * math.asin(math.sqrt(0.04)))
    assert [report.feature(n).missing_drifted for n in tested] == [True, False, False]
    for name in ("credit_score", "employment_years"):  # nothing missing on either side
        f = report.feature(name)
        assert f.missing_drifted is False and f.missing_p_value is None
        assert f.drifted is False


def test_missing_share_verdict_at_exactly_alpha_and_exactly_the_threshold(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    """p_adjusted < alpha (strictly) and Cohen's h >= missing_threshold (inclusive)."""
    ref, win = data
    win = win.copy()
    win.loc[win.index[:60], "age"] = np.nan
    sk = drift.build_sketch(ref, ["age"], [])
    age = drift.detect(sk, win).feature("age")
    assert age.missing_drifted is True
    assert age.missing_p_adjusted is not None and age.missing_effect is not None
    at_alpha = DriftConfig(alpha=age.missing_p_adjusted)
    assert drift.detect(sk, win, config=at_alpha).feature("age").missing_drifted is False
    at_h = DriftConfig(missing_threshold=age.missing_effect)
    assert drift.detect(sk, win, config=at_h).feature("age").missing_drifted is True


def test_json_of_a_report_refuses_nan_and_passes_options_on(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    ref, win = data
    report = drift.detect(drift.build_sketch(ref, ["age"], []), win)
    assert report.to_json(indent=2).startswith('{\n  "status": "ok"')
    f = report.feature("age")
    f.effect_size, f.psi = math.nan, math.inf
    assert (f.to_dict()["effect_size"], f.to_dict()["psi"]) == (None, None)
    f.threshold = math.nan  # from a hand-edited report: refused, never written as NaN
    with pytest.raises(ValueError, match="Out of range float values"):
        report.to_json()


def test_report_round_trip_keeps_its_config_and_a_missing_score(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    ref, win = data
    cfg = DriftConfig(alpha=0.01, min_window=100, dataset_drift_share=0.25, ks_exact_max=10)
    assert DriftConfig.from_dict({**cfg.to_dict(), "unknown": 1}) == cfg
    report = drift.detect(drift.build_sketch(ref, NUMERIC, []), win, config=cfg)
    assert report.to_dict()["config"] == cfg.to_dict() and report.score is None
    again = DriftReport.from_json(report.to_json())
    assert again == report and again.config == cfg
    short = drift.detect(drift.build_sketch(ref, NUMERIC, []), win.iloc[:50])
    assert all(f["drifted"] is None for f in short.to_dict()["features"])


def test_report_finds_the_score_and_names_an_unknown_feature(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    ref, win = data
    report = drift.detect(drift.build_sketch(ref, ["age"], [], scores=score_of(ref)), win)
    assert report.score is None
    with pytest.raises(KeyError, match=SCORE_NAME):
        report.feature(SCORE_NAME)
    sk = drift.build_sketch(ref, ["age"], [], scores=score_of(ref))
    scored = drift.detect(sk, win, scores=score_of(win))
    assert scored.feature(SCORE_NAME) is scored.score
    with pytest.raises(KeyError, match="nope"):
        scored.feature("nope")


def test_histogram_edges_span_both_samples(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ref = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]})
    sk = drift.build_sketch(ref, ["x"], [])

    def edges(values: list[float]) -> tuple[float, float]:
        h = drift.histogram(sk, pd.DataFrame({"x": values}), "x", bins=2)
        assert h.edges is not None
        return h.edges[0], h.edges[-1]

    assert edges([2.0, 3.0]) == (1.0, 4.0)  # inside the reference range
    assert edges([0.0, 9.0]) == (0.0, 9.0)  # wider on both sides
    assert edges([-2.0]) == (-2.0, 4.0)  # a single value below
    assert edges([7.0]) == (1.0, 7.0)  # a single value above
    assert edges([math.nan]) == (1.0, 4.0)  # no value: the reference range
    lone = drift.histogram(sk, pd.DataFrame({"x": [-2.0]}), "x", bins=2)
    assert lone.current == [1.0, 0.0] and lone.reference == [0.0, 1.0]
    empty = drift.histogram(sk, pd.DataFrame({"x": [math.nan]}), "x", bins=2)
    assert empty.current == [0.0, 0.0] and empty.reference == [0.5, 0.5]
    one_bin = drift.histogram(sk, pd.DataFrame({"x": [2.0]}), "x", bins=1)
    assert one_bin.edges == [1.0, 4.0] and one_bin.reference == one_bin.current == [1.0]


def test_histogram_of_each_kind_names_its_feature_and_bins(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    ref, win = data
    sk = drift.build_sketch(ref, ["age"], ["region"], scores=score_of(ref))
    report = drift.detect(sk, win, scores=score_of(win))
    age = report.feature("age")
    assert drift.histogram(sk, win, "age").edges is not None
    assert len(drift.histogram(sk, win, "age").edges or []) == 21  # 20 bins by default
    assert len(age.histogram(sk, win).edges or []) == 21
    assert len(age.histogram(sk, win, bins=5).edges or []) == 6
    assert age.histogram(sk, win).feature == "age"
    region = report.feature("region").histogram(sk, win)
    assert region.feature == "region" and region.kind == "categorical"
    missing = win.assign(region=None)
    assert drift.histogram(sk, missing, "region").current == [0.0, 0.0, 0.0, 0.0]
    assert report.score is not None
    hs = report.score.histogram(sk, None, bins=4, scores=score_of(win))
    assert hs.feature == SCORE_NAME and sum(hs.current) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda sk, w: drift.histogram(sk, w, "age", bins=0),
            "argument 'bins' must be >= 1, got 0",
        ),
        (lambda sk, w: drift.histogram(sk, None, "age"), "argument 'window' lacks column 'age'"),
        (
            lambda sk, w: drift.histogram(sk, w.drop(columns=["age"]), "age"),
            "argument 'window' lacks column 'age'",
        ),
        (
            lambda sk, w: drift.histogram(sk, w.assign(age="old"), "age"),
            "column 'age' must be numeric",
        ),
        (
            lambda sk, w: drift.histogram(sk, w, SCORE_NAME),
            "argument 'scores' is required for the score",
        ),
    ],
)
def test_histogram_errors_name_the_argument(
    data: tuple[pd.DataFrame, pd.DataFrame], call: object, message: str
) -> None:
    ref, win = data
    sk = drift.build_sketch(ref, ["age"], ["region"], scores=score_of(ref))
    with pytest.raises(ValueError, match=f"^histogram: {message}$"):
        call(sk, win)  # type: ignore[operator]


def test_histogram_of_the_score_needs_reference_scores(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    ref, win = data
    sk = drift.build_sketch(ref, ["age"], [])
    with pytest.raises(ValueError, match="^histogram: the sketch has no reference scores$"):
        drift.histogram(sk, win, SCORE_NAME, scores=score_of(win))


def test_a_categorical_sketch_whose_levels_and_counts_disagree_is_refused() -> None:
    broken = drift.CategoricalSketch(levels=["a", "b"], counts=np.array([5], dtype=np.int64))
    with pytest.raises(ValueError, match="zip"):
        broken.as_mapping()


def test_sketch_file_keeps_bins_every_categorical_feature_and_no_score(
    tmp_path: Path, data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    ref, win = data
    ref = ref.copy()
    ref["tier"] = np.where(ref["age"] > 50, "senior", "junior")
    ref.loc[ref.index[:3], "tier"] = None
    win = win.assign(tier=np.where(win["age"] > 45, "senior", "junior"))
    sk = drift.build_sketch(ref, ["age"], ["region", "tier"], bins=5)
    sk.save(tmp_path / "s.npz")
    loaded = ReferenceSketch.load(tmp_path / "s.npz")
    assert loaded.bins == 5 and loaded.score is None
    assert loaded.categorical["region"].as_mapping() == sk.categorical["region"].as_mapping()
    assert loaded.categorical["tier"].as_mapping() == sk.categorical["tier"].as_mapping()
    assert loaded.categorical["tier"].n_nan == 3
    assert drift.detect(loaded, win).to_dict() == drift.detect(sk, win).to_dict()


def test_sketch_load_refuses_pickled_arrays_and_names_an_unknown_format(tmp_path: Path) -> None:
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, meta=np.array([{"format": drift.SKETCH_FORMAT}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle=False"):
        ReferenceSketch.load(pickled)
    other = tmp_path / "other.npz"
    np.savez(other, meta=np.array(json.dumps({"format": "other/2"}), dtype=np.str_))
    expected = f"unknown sketch format 'other/2'; expected '{drift.SKETCH_FORMAT}'"
    with pytest.raises(ValueError, match=expected):
        ReferenceSketch.load(other)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (({"x": [1.0]}, ["x"], []), "argument 'frame' must be a pandas DataFrame"),
        ((pd.DataFrame({"x": []}), ["x"], []), "argument 'frame' is empty; pass at least one row"),
        ((pd.DataFrame({"x": [1.0]}), ["x"], [], None, 0), "argument 'bins' must be >= 1, got 0"),
        (
            (pd.DataFrame({SCORE_NAME: [1.0]}), [SCORE_NAME], []),
            f"'{SCORE_NAME}' is reserved for the prediction score",
        ),
        (
            (pd.DataFrame({"k": [None, None]}), [], ["k"]),
            "categorical column 'k' has no non-missing value",
        ),
        (
            (pd.DataFrame({"x": [1.0]}), ["x"], [], np.array(["high"])),
            "argument 'scores' must be numeric",
        ),
    ],
)
def test_build_sketch_errors_name_the_argument(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(ValueError, match=f"^build_sketch: {message}$"):
        drift.build_sketch(*args)  # type: ignore[arg-type]


def test_a_one_bin_sketch_is_allowed_and_bins_set_the_psi_edges() -> None:
    ref = pd.DataFrame({"x": np.arange(100, dtype=np.float64)})
    assert drift.build_sketch(ref, ["x"], [], bins=1).numeric["x"].edges.size == 0
    five = drift.build_sketch(ref, ["x"], [], bins=5)
    assert five.bins == 5 and five.numeric["x"].edges.size == 4
    assert five.numeric["x"].counts.tolist() == [20, 20, 20, 20, 20]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda sk, w: drift.detect(sk, w.to_dict()),
            "argument 'window' must be a pandas DataFrame",
        ),
        (
            lambda sk, w: drift.detect(drift.build_sketch(w, ["age"], []), w, scores=score_of(w)),
            "argument 'scores' was given but the sketch has no reference scores; "
            "build the sketch with scores=...",
        ),
    ],
)
def test_detect_errors_name_the_argument(
    data: tuple[pd.DataFrame, pd.DataFrame], call: object, message: str
) -> None:
    ref, win = data
    sk = drift.build_sketch(ref, ["age"], [], scores=score_of(ref))
    with pytest.raises(ValueError, match=f"^detect: {re.escape(message)}$"):
        call(sk, win)  # type: ignore[operator]


def test_a_window_with_nothing_to_judge_has_a_drift_share_of_zero() -> None:
    ref = pd.DataFrame({"x": [1.0] + [np.nan] * 299})
    report = drift.detect(drift.build_sketch(ref, ["x"], []), pd.DataFrame({"x": [np.nan] * 300}))
    assert report.feature("x").drifted is None
    assert (report.status, report.dataset_drift, report.drift_share) == ("ok", False, 0.0)


def test_a_feature_with_exactly_min_window_values_gets_a_verdict(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    ref, win = data
    win = win.iloc[:200]  # 200 values = min_window
    age = drift.detect(drift.build_sketch(ref, ["age"], []), win).feature("age")
    assert age.n_window == 200 and age.drifted is False and age.p_adjusted is not None


def test_a_shift_whose_p_value_underflows_to_zero_is_drift(
    data: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    ref, win = data
    income = drift.detect(
        drift.build_sketch(ref, ["income"], []), win.assign(income=win["income"] * 5)
    ).feature("income")
    assert income.p_value == 0.0 and income.p_adjusted == 0.0 and income.drifted is True


def test_feature_verdict_at_exactly_alpha_and_exactly_the_effect_threshold() -> None:
    """p_adjusted < alpha (strictly) and effect >= threshold (inclusive)."""
    rng = np.random.default_rng(7)
    ref = pd.DataFrame({"x": rng.normal(size=2000)})
    win = pd.DataFrame({"x": rng.normal(0.25, 1.0, 1500)})
    sk = drift.build_sketch(ref, ["x"], [])
    x = drift.detect(sk, win).feature("x")
    assert x.drifted is True and x.p_adjusted is not None and x.effect_size is not None
    assert 0.0 < x.p_adjusted < 0.05 and x.effect_size > 0.1
    at_alpha = DriftConfig(alpha=x.p_adjusted)
    assert drift.detect(sk, win, config=at_alpha).feature("x").drifted is False
    at_effect = DriftConfig(wasserstein_threshold=x.effect_size)
    assert drift.detect(sk, win, config=at_effect).feature("x").drifted is True


def test_a_boolean_column_is_compared_and_plotted_as_zeros_and_ones() -> None:
    ref = pd.DataFrame({"flag": [True] * 150 + [False] * 250})
    win = pd.DataFrame({"flag": [True] * 300 + [False] * 100})
    sk = drift.build_sketch(ref, ["flag"], [])
    assert sk.numeric["flag"].mean == 0.375
    f = drift.detect(sk, win).feature("flag")
    assert f.statistic == pytest.approx(0.375) and f.drifted is True
    h = drift.histogram(sk, win, "flag", bins=2)
    assert h.edges == [0.0, 0.5, 1.0]
    assert (h.reference, h.current) == ([0.625, 0.375], [0.25, 0.75])


def test_a_nullable_integer_column_counts_its_missing_values_as_missing() -> None:
    ref = pd.DataFrame({"n": pd.array(list(range(300)), dtype="Int64")})
    win = pd.DataFrame({"n": pd.array([None] * 20 + list(range(280)), dtype="Int64")})
    f = drift.detect(drift.build_sketch(ref, ["n"], []), win).feature("n")
    assert (f.n_nan, f.n_window) == (20, 280)
    assert f.statistic == pytest.approx(20 / 300)
