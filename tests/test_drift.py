"""Tests of selfheal.drift: sketch, detection, report, histogram and calibration."""

from __future__ import annotations

import json
import math
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
