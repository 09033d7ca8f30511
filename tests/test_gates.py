"""Tests for selfheal.gates: each gate's pass and fail paths on seeded synthetic data."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, f1_score, roc_auc_score

from selfheal.gates import (
    GateConfig,
    GateResult,
    consistency_gate,
    data_quality_gate,
    stability_gate,
    statistical_gate,
    summarize,
)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _holdout(seed: int = 0, n: int = 2000) -> dict[str, Any]:
    """A holdout where `good` outputs the true probabilities and `weak` is a noisier model."""
    rng = np.random.default_rng(seed)
    x0, x1 = rng.normal(size=(2, n))
    region = rng.choice(np.array(["a", "b", "c", "d"]), size=n)
    logit = 1.5 * x0 + 1.0 * x1 - 0.5
    good = _sigmoid(logit)
    y = (rng.random(n) < good).astype(int)
    weak = _sigmoid(logit + rng.normal(scale=1.5, size=n))
    noise = rng.random(n)  # a model that learned nothing (e.g. trained on shuffled labels)
    frame = pd.DataFrame({"x0": x0, "x1": x1, "region": region})
    return {"frame": frame, "y": y, "good": good, "weak": weak, "noise": noise, "rng": rng}


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    return _holdout()


def _collapse_on(d: dict[str, Any], level: str) -> np.ndarray:
    """The good model, but random on one region."""
    p = d["good"].copy()
    mask = (d["frame"]["region"] == level).to_numpy()
    p[mask] = np.random.default_rng(7).random(int(mask.sum()))
    return p


def _json_ok(result: GateResult) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    return loaded


# ---------------------------------------------------------------------------------------------
# GateConfig, GateResult, summarize
# ---------------------------------------------------------------------------------------------


def test_config_defaults_match_the_documented_values() -> None:
    assert GateConfig().to_dict() == {
        "min_rows": 500,
        "min_class_share": 0.05,
        "min_f1_gain": 0.01,
        "bootstrap_n": 1000,
        "bootstrap_confidence": 0.90,
        "max_brier_increase": 0.01,
        "max_slice_f1_drop": 0.10,
        "min_slice_rows": 30,
        "max_positive_rate_gap": 0.15,
        "max_latency_ratio": 3.0,
        "floor_auc": 0.6,
        "floor_f1": 0.3,
        "seed": 0,
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("min_rows", 0),
        ("min_rows", 1.5),
        ("bootstrap_n", 0),
        ("bootstrap_confidence", 1.0),
        ("bootstrap_confidence", 0.0),
        ("min_class_share", 0.6),
        ("max_slice_f1_drop", float("nan")),
        ("max_positive_rate_gap", -0.1),
        ("max_latency_ratio", 0.0),
        ("floor_auc", 1.2),
        ("seed", -1),
        ("min_slice_rows", True),
    ],
)
def test_config_rejects_bad_values_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        GateConfig(**{field: value})


def test_summarize_collects_failures_and_reasons(data: dict[str, Any]) -> None:
    ok = statistical_gate(data["y"], data["good"], data["weak"])
    bad = statistical_gate(data["y"], data["weak"], data["good"])
    summary = summarize([ok, bad])
    assert summary["passed"] is False
    assert summary["failed"] == ["statistical"]
    assert summary["reasons"] == [f"statistical: {ok.reason}", f"statistical: {bad.reason}"]
    json.dumps(summary, allow_nan=False)
    assert summarize([ok])["passed"] is True


def test_summarize_refuses_an_empty_list() -> None:
    with pytest.raises(ValueError, match="results"):
        summarize([])


# ---------------------------------------------------------------------------------------------
# Data quality
# ---------------------------------------------------------------------------------------------


def test_data_quality_passes_on_clean_training_data(data: dict[str, Any]) -> None:
    result = data_quality_gate(data["frame"], data["y"])
    assert result.passed
    assert result.name == "data_quality"
    assert result.values["n_rows"] == 2000
    assert result.values["class_shares"]["1"] == pytest.approx(data["y"].mean())
    assert result.reason.startswith("Training data accepted: 2,000 rows")
    _json_ok(result)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda f, y: (f.iloc[:400], y[:400]), "400 rows < 500 required"),
        (lambda f, y: (f, np.r_[np.ones(20, int), np.zeros(len(y) - 20, int)]), "class 1 share"),
        (lambda f, y: (f.assign(flag=7), y), "constant column(s) flag"),
        (lambda f, y: (f.assign(flag=[7.0] + [np.nan] * (len(f) - 1)), y), "constant column"),
        (lambda f, y: (f.assign(empty=np.nan), y), "all-null column(s) empty"),
        (lambda f, y: (f.assign(empty=None), y), "all-null column(s) empty"),
    ],
    ids=["few_rows", "rare_class", "constant", "constant_with_nulls", "all_nan", "all_none"],
)
def test_data_quality_fails(data: dict[str, Any], mutate: Any, expected: str) -> None:
    frame, y = mutate(data["frame"], data["y"])
    result = data_quality_gate(frame, y)
    assert not result.passed
    assert expected in result.reason
    assert result.reason.startswith("Training data rejected: ")
    _json_ok(result)


def test_data_quality_reports_schema_error_count_and_first_few(data: dict[str, Any]) -> None:
    errors = [{"field": f"f{i}", "problem": "missing", "row": i} for i in range(7)]
    result = data_quality_gate(data["frame"], data["y"], schema_errors=errors)
    assert not result.passed
    assert result.values["n_schema_errors"] == 7
    assert result.values["schema_errors"] == [
        {"field": f"f{i}", "problem": "missing"} for i in range(5)
    ]
    assert "7 schema error(s) (f0: missing, f1: missing and 5 more)" in result.reason


def test_data_quality_thresholds_are_configurable(data: dict[str, Any]) -> None:
    frame, y = data["frame"].iloc[:400], data["y"][:400]
    assert data_quality_gate(frame, y, config=GateConfig(min_rows=400)).passed
    result = data_quality_gate(frame, y, config=GateConfig(min_class_share=0.45))
    assert not result.passed and "class 1 share" in result.reason


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"frame": np.zeros((3, 2))}, "frame"),
        ({"y": np.array([0, 1])}, "y"),
        ({"y": np.full(2000, 2)}, "y"),
        ({"schema_errors": [{"field": "a"}]}, "schema_errors"),
        ({"schema_errors": {"field": "a", "problem": "b"}}, "schema_errors"),
    ],
)
def test_data_quality_bad_input_raises(data: dict[str, Any], kwargs: Any, name: str) -> None:
    args = {"frame": data["frame"], "y": data["y"], **kwargs}
    with pytest.raises(ValueError, match=name):
        data_quality_gate(args.pop("frame"), args.pop("y"), **args)


# ---------------------------------------------------------------------------------------------
# Statistical
# ---------------------------------------------------------------------------------------------


def test_statistical_passes_a_clearly_better_challenger(data: dict[str, Any]) -> None:
    result = statistical_gate(data["y"], data["good"], data["weak"])
    v = result.values
    assert result.passed
    assert v["gain"] == pytest.approx(v["challenger_f1"] - v["champion_f1"])
    assert v["gain"] >= 0.01 and v["ci_low"] > 0 and v["ci_low"] <= v["gain"] <= v["ci_high"]
    assert v["n"] == 2000
    assert "90% CI [+" in result.reason and "is above 0" in result.reason
    _json_ok(result)


def test_statistical_fails_a_noise_challenger_with_the_ci_in_the_reason(
    data: dict[str, Any],
) -> None:
    result = statistical_gate(data["y"], data["noise"], data["weak"])
    v = result.values
    assert not result.passed
    assert v["ci_high"] < 0
    assert result.reason.startswith(f"F1 gain {v['gain']:+.3f} < 0.01 required (90% CI [")
    assert f"[{v['ci_low']:+.3f}, {v['ci_high']:+.3f}]" in result.reason


def test_statistical_fails_identical_models(data: dict[str, Any]) -> None:
    result = statistical_gate(data["y"], data["good"], data["good"].copy())
    assert not result.passed
    assert result.values["gain"] == 0.0
    assert result.values["ci_low"] == result.values["ci_high"] == 0.0
    assert result.reason.startswith("F1 gain +0.000 < 0.01 required (90% CI [+0.000, +0.000]")


def test_statistical_fails_a_gain_whose_interval_reaches_zero() -> None:
    # 200 rows, the challenger fixes two of the champion's false negatives and nothing else:
    # the gain clears 0.01 but a resample that misses both rows shows no gain at all.
    y = np.r_[np.ones(50, int), np.zeros(150, int)]
    champion = np.r_[np.full(40, 0.9), np.full(10, 0.1), np.full(10, 0.9), np.full(140, 0.1)]
    challenger = champion.copy()
    challenger[[40, 41]] = 0.9
    result = statistical_gate(y, challenger, champion)
    assert not result.passed
    assert result.values["gain"] >= 0.01
    assert result.values["ci_low"] == 0.0
    assert "does not exclude 0" in result.reason


def test_statistical_bootstrap_is_deterministic_for_a_seed(data: dict[str, Any]) -> None:
    a = statistical_gate(data["y"], data["good"], data["weak"], config=GateConfig(seed=3))
    b = statistical_gate(data["y"], data["good"], data["weak"], config=GateConfig(seed=3))
    c = statistical_gate(data["y"], data["good"], data["weak"], config=GateConfig(seed=4))
    assert a == b
    assert (a.values["ci_low"], a.values["ci_high"]) != (c.values["ci_low"], c.values["ci_high"])


def test_statistical_bootstrap_matches_a_row_index_bootstrap(data: dict[str, Any]) -> None:
    # The gate draws cell counts from a multinomial; it must agree with literally resampling
    # row indices (same rows for both models) up to Monte Carlo error.
    y, new, old = data["y"][:500], data["good"][:500] >= 0.5, data["weak"][:500] >= 0.5
    b = 2000
    idx = np.random.default_rng(99).integers(0, len(y), size=(b, len(y)))

    def f1(pred: np.ndarray) -> np.ndarray:
        yy = y[idx] == 1
        tp = (yy & pred[idx]).sum(1)
        return 2 * tp / (2 * tp + (~yy & pred[idx]).sum(1) + (yy & ~pred[idx]).sum(1))

    expected = np.quantile(f1(new) - f1(old), [0.05, 0.95])
    result = statistical_gate(
        y, new.astype(float), old.astype(float), config=GateConfig(bootstrap_n=b)
    )
    assert result.values["ci_low"] == pytest.approx(expected[0], abs=0.006)
    assert result.values["ci_high"] == pytest.approx(expected[1], abs=0.006)


def test_statistical_metrics_match_scikit_learn(data: dict[str, Any]) -> None:
    y, p = data["y"], np.round(data["weak"], 2)  # rounding creates ties for the AUC ranks
    result = statistical_gate(y, p, data["good"], threshold=0.4, champion_threshold=0.6)
    assert result.values["challenger_f1"] == pytest.approx(f1_score(y, p >= 0.4))
    assert result.values["champion_f1"] == pytest.approx(f1_score(y, data["good"] >= 0.6))
    assert result.values["challenger_auc"] == pytest.approx(roc_auc_score(y, p))
    assert result.thresholds["champion_threshold"] == 0.6


@pytest.mark.parametrize(
    ("model", "config", "passed", "expected"),
    [
        ("good", GateConfig(), True, "AUC 0.8"),
        ("noise", GateConfig(), False, "< 0.6"),
        ("good", GateConfig(floor_f1=0.9), False, "< 0.9"),
    ],
)
def test_statistical_first_model_floors(
    data: dict[str, Any], model: str, config: GateConfig, passed: bool, expected: str
) -> None:
    result = statistical_gate(data["y"], data[model], None, config=config)
    assert result.passed is passed
    assert result.values["mode"] == "floors"
    assert result.values["champion_f1"] is None and result.values["ci_low"] is None
    assert result.reason.startswith("No champion, so judged against absolute first-model floors")
    assert expected in result.reason
    _json_ok(result)


@pytest.mark.parametrize("champion", [None, "weak"])
def test_statistical_single_class_holdout_fails_closed(
    data: dict[str, Any], champion: str | None
) -> None:
    y = np.zeros(100, int)
    old = None if champion is None else data[champion][:100]
    result = statistical_gate(y, data["good"][:100], old)
    assert not result.passed
    assert "single class" in result.reason


@pytest.mark.parametrize(
    ("y", "new", "name"),
    [
        (np.array([0, 1, 2]), np.array([0.1, 0.2, 0.3]), "y_true"),
        (np.array([0, 1, np.nan]), np.array([0.1, 0.2, 0.3]), "y_true"),
        (np.array(["a", "b", "a"]), np.array([0.1, 0.2, 0.3]), "y_true"),
        (np.array([0, 1, 1]), np.array([0.1, 0.2]), "challenger_proba"),
        (np.array([0, 1, 1]), np.array([0.1, np.nan, 0.3]), "challenger_proba"),
        (np.array([0, 1, 1]), np.array([0.1, 1.2, 0.3]), "challenger_proba"),
        (np.array([0, 1, 1]), np.array([[0.1, 0.2, 0.3]]), "challenger_proba"),
    ],
)
def test_statistical_bad_input_raises(y: Any, new: Any, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        statistical_gate(y, new, None)


def test_statistical_bad_threshold_raises() -> None:
    with pytest.raises(ValueError, match="champion_threshold"):
        statistical_gate([0, 1], [0.2, 0.8], [0.2, 0.8], champion_threshold=1.5)


# ---------------------------------------------------------------------------------------------
# Stability
# ---------------------------------------------------------------------------------------------


def _stability(d: dict[str, Any], new: np.ndarray, old: np.ndarray | None, **kw: Any) -> GateResult:
    return stability_gate(
        d["frame"], d["y"], new, old, numeric=["x0", "x1"], categorical=["region"], **kw
    )


def test_stability_passes_a_better_challenger_and_reports_every_slice(
    data: dict[str, Any],
) -> None:
    result = _stability(data, data["good"], data["weak"])
    v = result.values
    assert result.passed
    assert v["challenger_brier"] == pytest.approx(brier_score_loss(data["y"], data["good"]))
    assert v["champion_brier"] == pytest.approx(brier_score_loss(data["y"], data["weak"]))
    assert v["n_slices"] == 12 and v["n_judged"] == 12 and v["failing_slices"] == []
    slices = v["slices"]
    assert [s["slice"] for s in slices[-4:]] == ["a", "b", "c", "d"]
    for feature in ("x0", "x1", "region"):
        assert sum(s["n"] for s in slices if s["feature"] == feature) == 2000
    worst = min(slices, key=lambda s: s["delta"])
    assert v["worst_slice"] == worst
    assert f"worst {worst['feature']}={worst['slice']}, {worst['delta']:+.3f} F1" in result.reason
    region_a = slices[-4]
    mask = (data["frame"]["region"] == "a").to_numpy()
    assert region_a["challenger_f1"] == pytest.approx(
        f1_score(data["y"][mask], data["good"][mask] >= 0.5)
    )
    _json_ok(result)


def test_stability_slice_f1_rule_can_reject_the_true_model() -> None:
    # Documented false negative (docs/evaluation_gates.md): at threshold 0.5, on a slice where
    # positives are rare, a noisier champion predicts more positives and wins F1 there, so the
    # model that outputs the true probabilities can be rejected despite better F1 and Brier
    # overall. The Bonferroni correction over slices removed most such cases (51 of 100 seeds
    # before, 10 after); seed 1 now passes, seed 4 still fails beyond noise.
    d = _holdout(seed=1)
    assert statistical_gate(d["y"], d["good"], d["weak"]).passed
    result = _stability(d, d["good"], d["weak"])
    assert result.passed
    assert result.values["worst_slice"]["delta"] == pytest.approx(-0.1304, abs=1e-4)
    assert result.values["worst_slice"]["delta_ci"][1] > 0  # corrected: within noise
    d = _holdout(seed=4)
    assert statistical_gate(d["y"], d["good"], d["weak"]).passed
    result = _stability(d, d["good"], d["weak"])
    assert not result.passed
    assert result.values["brier_increase"] < 0
    assert result.values["failing_slices"] == ["x0=[-4.057, -0.6546]"]
    assert result.values["worst_slice"]["delta_ci"][1] < 0


def test_stability_slice_intervals_are_bonferroni_corrected() -> None:
    """An equally good challenger must not fail on noise because there are many slices: each
    slice's interval is widened to (1 - confidence) / m. The uncorrected rule fails seed 1."""
    d = _holdout(seed=1)
    corrected = _stability(d, d["good"], d["weak"])
    m = corrected.values["n_judged"]
    assert m == 12
    one_slice = _stability(
        {**d, "frame": d["frame"][["x0"]].assign(x1=0.0, region="a")},
        d["good"],
        d["weak"],
    )
    # Only x0's 4 quartiles (+ x1's one constant bin + one region level) are judged here, so
    # the same slice gets a narrower interval than with 12 judged slices.
    worst = corrected.values["worst_slice"]["delta_ci"]
    narrow = one_slice.values["worst_slice"]["delta_ci"]
    assert one_slice.values["n_judged"] < m and narrow[0] > worst[0] and narrow[1] < worst[1]


def test_stability_does_not_fail_a_slice_for_noise() -> None:
    # 40 rows, 4 positives: missing two of them moves the slice's F1 from 1.0 to 0.667. That
    # is more than the 0.10 allowed, but its paired-bootstrap interval reaches above 0.
    n = 400
    region = np.array(["big"] * 360 + ["small"] * 40, dtype=object)
    y = np.zeros(n, dtype=np.int64)
    y[:90] = 1
    y[360:364] = 1
    old = np.where(y == 1, 0.8, 0.2)
    new = old.copy()
    new[362:364] = 0.3  # the challenger misses two of the slice's four positives
    frame = pd.DataFrame({"region": region})
    result = stability_gate(frame, y, new, old, numeric=[], categorical=["region"])
    small = next(s for s in result.values["slices"] if s["slice"] == "small")
    assert small["delta"] < -0.10 and small["judged"]
    assert small["delta_ci"][1] >= 0 and not small["failed"]
    assert result.values["failing_slices"] == []


def test_stability_fails_a_challenger_that_collapses_on_one_level(data: dict[str, Any]) -> None:
    result = _stability(data, _collapse_on(data, "d"), data["good"])
    assert not result.passed
    # Region d is a quarter of every numeric slice too, so the collapse can spill into one
    # (here the low-x1 quartile); the worst slice is still the level itself.
    assert "region=d" in result.values["failing_slices"]
    assert result.values["worst_slice"]["feature"] == "region"
    assert result.values["worst_slice"]["slice"] == "d"
    assert "worst region=d (n=" in result.reason


def test_stability_fails_a_brier_regression_with_identical_decisions(
    data: dict[str, Any],
) -> None:
    # Same side of 0.5 on every row (so every slice F1 is unchanged) but overconfident.
    overconfident = np.where(data["good"] >= 0.5, 0.99, 0.01)
    result = _stability(data, overconfident, data["good"])
    v = result.values
    assert not result.passed
    assert v["failing_slices"] == []
    assert v["brier_increase"] > 0.01
    assert f"(increase {v['brier_increase']:+.4f} > 0.01 allowed)" in result.reason


def test_stability_without_champion_passes_the_true_model(data: dict[str, Any]) -> None:
    result = _stability(data, data["good"], None)
    v = result.values
    assert result.passed
    rate = data["y"].mean()
    assert v["reference_brier"] == pytest.approx(rate * (1 - rate) * (2000 / 1999) ** 2)
    assert v["champion_brier"] is None and all(s["delta"] is None for s in v["slices"])
    # slice F1 differs widely (prevalence differs by quartile) yet nothing is judged on it
    f1s = [s["challenger_f1"] for s in v["slices"]]
    assert max(f1s) - min(f1s) > 0.4
    assert "base-rate predictor" in result.reason and "no champion" in result.reason
    _json_ok(result)


def test_stability_without_champion_fails_a_collapse(data: dict[str, Any]) -> None:
    result = _stability(data, _collapse_on(data, "d"), None)
    assert not result.passed
    assert "region=d" in result.values["failing_slices"]
    assert "worst region=d (n=" in result.reason


def test_stability_without_champion_fails_worse_than_base_rate(data: dict[str, Any]) -> None:
    result = _stability(data, data["noise"], None)
    assert not result.passed
    assert result.values["brier_increase"] > 0.01
    assert "vs base-rate predictor" in result.reason


def test_stability_small_slices_are_reported_but_not_judged(data: dict[str, Any]) -> None:
    frame = data["frame"].copy()
    frame.loc[frame.index[:20], "region"] = "tiny"
    new = data["good"].copy()
    new[:20] = 1.0 - data["y"][:20]  # the challenger is wrong on every tiny-region row
    result = stability_gate(frame, data["y"], new, data["good"], numeric=[], categorical=["region"])
    tiny = next(s for s in result.values["slices"] if s["slice"] == "tiny")
    assert tiny["n"] == 20 and tiny["judged"] is False and tiny["failed"] is False
    assert tiny["delta"] < -0.5
    assert result.passed


def test_stability_quartiles_handle_ties_constants_and_missing() -> None:
    n = 200
    rng = np.random.default_rng(1)
    tied = np.where(np.arange(n) < 140, 0.0, rng.normal(size=n))  # 70% ties at 0
    with_nan = rng.normal(size=n)
    with_nan[:10] = np.nan
    frame = pd.DataFrame(
        {
            "const": np.full(n, 3.0),
            "tied": tied,
            "with_nan": with_nan,
            "ints": pd.array(np.r_[np.arange(n - 1), [None]], dtype="Int64"),
            "cat": pd.Series(["x"] * 100 + [None] * 100, dtype=object),
        }
    )
    y = (rng.random(n) < 0.5).astype(int)
    p = rng.random(n)
    result = stability_gate(
        frame, y, p, p, numeric=["const", "tied", "with_nan", "ints"], categorical=["cat"]
    )
    by_feature: dict[str, list[dict[str, Any]]] = {}
    for s in result.values["slices"]:
        by_feature.setdefault(s["feature"], []).append(s)
    assert [s["slice"] for s in by_feature["const"]] == ["= 3"]
    assert by_feature["const"][0]["n"] == n
    assert all(sum(s["n"] for s in group) == n for group in by_feature.values())
    assert by_feature["tied"][0]["slice"].startswith("[")  # ties merged into the first bin
    assert by_feature["tied"][0]["n"] >= 140 and len(by_feature["tied"]) <= 4
    assert by_feature["with_nan"][-1]["slice"] == "missing"
    assert by_feature["with_nan"][-1]["n"] == 10 and len(by_feature["with_nan"]) == 5
    assert by_feature["ints"][-1]["slice"] == "missing"
    assert [s["slice"] for s in by_feature["cat"]] == ["x", "missing"]
    assert result.passed  # identical models never lose F1 on any slice


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"numeric": ["nope"]}, "numeric"),
        ({"categorical": ["nope"]}, "categorical"),
        ({"numeric": ["region"]}, "region"),
        ({"numeric": ["x0"], "categorical": ["x0"]}, "x0"),
        ({"numeric": "x0"}, "numeric"),
    ],
)
def test_stability_bad_columns_raise(data: dict[str, Any], kwargs: Any, name: str) -> None:
    args = {"numeric": ["x0"], "categorical": ["region"], **kwargs}
    with pytest.raises(ValueError, match=name):
        stability_gate(data["frame"], data["y"], data["good"], None, **args)


def test_stability_length_mismatch_raises(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="holdout"):
        stability_gate(
            data["frame"].iloc[:10], data["y"], data["good"], None, numeric=[], categorical=[]
        )


# ---------------------------------------------------------------------------------------------
# Consistency
# ---------------------------------------------------------------------------------------------


def _live(d: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    return d["good"][:1000], d["weak"][:1000]


def test_consistency_passes_and_reports_agreement(data: dict[str, Any]) -> None:
    new, old = _live(data)
    rate = float(np.mean(new >= 0.5))
    result = consistency_gate(
        new,
        observed_label_rate=0.4,
        challenger_seconds_per_row=2e-5,
        champion_seconds_per_row=1e-5,
        champion_live_proba=old,
    )
    v = result.values
    assert result.passed
    assert v["positive_rate"] == pytest.approx(rate)
    assert v["latency_ratio"] == pytest.approx(2.0)
    assert v["agreement"] == pytest.approx(np.mean((new >= 0.5) == (old >= 0.5)))
    assert v["skipped"] == []
    assert f"agreement with champion {v['agreement']:.1%} (informational)" in result.reason
    _json_ok(result)


@pytest.mark.parametrize(("ratio", "passed"), [(2.9, True), (3.0, True), (4.0, False)])
def test_consistency_latency_ratio(data: dict[str, Any], ratio: float, passed: bool) -> None:
    new, _ = _live(data)
    result = consistency_gate(
        new,
        observed_label_rate=None,
        challenger_seconds_per_row=ratio * 1e-4,
        champion_seconds_per_row=1e-4,
    )
    assert result.passed is passed
    if not passed:
        assert f"= {ratio:.2f}x champion's 0.0001 (> 3x allowed)" in result.reason


@pytest.mark.parametrize(("bad", "n_nonfinite"), [(np.nan, 1), (np.inf, 1), (1.5, 0), (-0.1, 0)])
def test_consistency_fails_invalid_outputs(
    data: dict[str, Any], bad: float, n_nonfinite: int
) -> None:
    new = _live(data)[0].copy()
    new[[3, 7]] = bad
    result = consistency_gate(
        new, observed_label_rate=0.4, challenger_seconds_per_row=1e-5, champion_seconds_per_row=None
    )
    assert not result.passed
    assert result.values["n_invalid"] == 2
    assert result.values["n_nonfinite"] == 2 * n_nonfinite
    assert "2 of 1,000 outputs are not finite probabilities in [0, 1]" in result.reason


def test_consistency_fails_a_positive_rate_gap(data: dict[str, Any]) -> None:
    new, _ = _live(data)
    result = consistency_gate(
        new, observed_label_rate=0.1, challenger_seconds_per_row=1e-5, champion_seconds_per_row=None
    )
    gap = result.values["positive_rate_gap"]
    assert not result.passed
    assert gap == pytest.approx(np.mean(new >= 0.5) - 0.1)
    assert f"vs observed label rate 0.100 (gap {gap:.3f} > 0.15)" in result.reason
    assert "latency check skipped (no champion timing)" in result.reason


def test_consistency_falls_back_to_the_champion_rate_then_skips() -> None:
    new = np.r_[np.full(60, 0.9), np.full(40, 0.1)]
    old = np.r_[np.full(30, 0.9), np.full(70, 0.1)]
    result = consistency_gate(
        new,
        observed_label_rate=None,
        challenger_seconds_per_row=1e-5,
        champion_seconds_per_row=1e-5,
        champion_live_proba=old,
    )
    assert not result.passed
    assert result.values["reference"] == "champion live positive rate"
    assert result.values["agreement"] == pytest.approx(0.7)
    assert "positive rate 0.600 vs champion live positive rate 0.300" in result.reason
    skipped = consistency_gate(
        new,
        observed_label_rate=None,
        challenger_seconds_per_row=1e-5,
        champion_seconds_per_row=None,
    )
    assert skipped.passed
    assert skipped.values["skipped"] == ["positive_rate", "latency"]
    assert "positive-rate check skipped" in skipped.reason


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"live_challenger_proba": np.array([])}, "live_challenger_proba"),
        ({"live_challenger_proba": ["a", "b"]}, "live_challenger_proba"),
        ({"observed_label_rate": 1.5}, "observed_label_rate"),
        ({"challenger_seconds_per_row": -1.0}, "challenger_seconds_per_row"),
        ({"champion_seconds_per_row": 0.0}, "champion_seconds_per_row"),
        ({"champion_live_proba": np.array([0.5])}, "champion_live_proba"),
        ({"threshold": float("nan")}, "threshold"),
    ],
)
def test_consistency_bad_input_raises(kwargs: Any, name: str) -> None:
    args: dict[str, Any] = {
        "live_challenger_proba": np.array([0.2, 0.8]),
        "observed_label_rate": 0.5,
        "challenger_seconds_per_row": 1e-5,
        "champion_seconds_per_row": 1e-5,
        **kwargs,
    }
    with pytest.raises(ValueError, match=name):
        consistency_gate(args.pop("live_challenger_proba"), **args)


# ---------------------------------------------------------------------------------------------
# Serialisation
# ---------------------------------------------------------------------------------------------


def test_every_result_is_plain_json(data: dict[str, Any]) -> None:
    results = [
        data_quality_gate(data["frame"].assign(empty=np.nan), data["y"]),
        statistical_gate(data["y"], data["good"], data["weak"]),
        statistical_gate(data["y"], data["good"], None),
        _stability(data, data["good"], data["weak"]),
        _stability(data, data["good"], None),
        consistency_gate(
            np.array([np.nan, 0.5, 0.7]),
            observed_label_rate=None,
            challenger_seconds_per_row=0.0,
            champion_seconds_per_row=None,
        ),
    ]
    for result in results:
        loaded = _json_ok(result)
        assert loaded == result.to_dict()
        assert set(loaded) == {"name", "passed", "values", "thresholds", "reason"}
        assert result.reason.endswith(".") and "\n" not in result.reason


def test_data_quality_allows_a_column_already_constant_in_the_champion_data() -> None:
    """One rule at both ends: a column constant in the champion's own training data (a
    model trained before `train` refused such columns) must not fail every retrain."""
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"x": rng.normal(size=600), "branch_flag": ["Y"] * 600})
    y = (rng.random(600) < 0.3).astype(int)
    refused = data_quality_gate(frame, y)
    assert not refused.passed and "constant column(s) branch_flag" in refused.reason
    allowed = data_quality_gate(frame, y, known_constant=["branch_flag"])
    assert allowed.passed
    assert allowed.values["constant_columns"] == ["branch_flag"]
    assert allowed.values["known_constant_columns"] == ["branch_flag"]
    frame["x"] = 1.0  # a column that became constant now still fails
    newly = data_quality_gate(frame, y, known_constant=["branch_flag"])
    assert not newly.passed and "constant column(s) x" in newly.reason
