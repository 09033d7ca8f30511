"""Decision boundaries of the pure verdicts (issue 16): the consistency gate's positive-rate
gap in both directions, the drift verdict's Benjamini-Hochberg adjustment, the dataset-drift
share at exactly its threshold and over judged features only, and the labeled-F1 trigger's
bootstrap upper bound. Each test fails when the boundary it names is moved."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
import scipy.stats as ss

from selfheal import drift
from selfheal.drift import DriftConfig
from selfheal.gates import GateConfig, consistency_gate, statistical_gate
from selfheal.monitor import f1_upper_bound
from selfheal.performance import labeled_metrics
from selfheal.policy import LastRun, Observation, PolicyConfig, PolicyState, decide, triggers

# Quantile grids instead of random draws: every statistic below is exact and reproducible.
N_REF, N_WIN = 2000, 300
REF_GRID = ss.norm.ppf((np.arange(N_REF) + 0.5) / N_REF)
WIN_GRID = ss.norm.ppf((np.arange(N_WIN) + 0.5) / N_WIN)


def grid_frames(
    shifts: dict[str, float], n_features: int
) -> tuple[drift.ReferenceSketch, pd.DataFrame]:
    """A reference of `n_features` standard-normal grids and a window shifted per feature."""
    names = [f"x{i}" for i in range(n_features)]
    ref = pd.DataFrame({n: REF_GRID for n in names})
    win = pd.DataFrame({n: WIN_GRID + shifts.get(n, 0.0) for n in names})
    return drift.build_sketch(ref, names, []), win


# -- consistency gate: the positive-rate gap has no sign --------------------------------------
def live_proba(positive_rate: float, n: int = 1000) -> np.ndarray:
    """`n` outputs of which exactly round(positive_rate * n) are >= 0.5."""
    k = round(positive_rate * n)
    return np.r_[np.full(k, 0.8), np.full(n - k, 0.2)]


@pytest.mark.parametrize(
    ("positive_rate", "passed"),
    [
        (0.10, False),  # far below the label rate: a model that stopped flagging defaults
        (0.349, False),  # just beyond the allowed gap, below
        (0.35, True),  # exactly the allowed gap (0.15), below
        (0.50, True),
        (0.65, True),  # exactly the allowed gap, above
        (0.651, False),  # just beyond, above
        (0.90, False),  # far above
    ],
)
def test_consistency_gate_rejects_a_positive_rate_gap_in_either_direction(
    positive_rate: float, passed: bool
) -> None:
    result = consistency_gate(
        live_proba(positive_rate),
        observed_label_rate=0.5,
        challenger_seconds_per_row=1e-5,
        champion_seconds_per_row=1e-5,
        config=GateConfig(max_positive_rate_gap=0.15),
    )
    assert result.passed is passed, result.reason
    assert result.values["positive_rate"] == pytest.approx(positive_rate)
    assert result.values["positive_rate_gap"] == pytest.approx(abs(positive_rate - 0.5))


def test_consistency_gate_rejects_a_challenger_far_below_the_champion_rate() -> None:
    """Without observed labels the champion's live rate is the reference, with the same rule."""
    result = consistency_gate(
        live_proba(0.05),
        observed_label_rate=None,
        champion_live_proba=live_proba(0.40),
        challenger_seconds_per_row=1e-5,
        champion_seconds_per_row=1e-5,
    )
    assert not result.passed
    assert result.values["reference"] == "champion live positive rate"
    assert result.values["positive_rate_gap"] == pytest.approx(0.35)


def test_gates_call_a_probability_equal_to_the_threshold_positive() -> None:
    """The documented convention (positive when p >= threshold), for the challenger and the
    champion alike; 0 and 1 are valid outputs."""
    y = np.r_[np.ones(50, dtype=int), np.zeros(50, dtype=int)]
    at_threshold = np.r_[np.full(50, 0.5), np.full(50, 0.2)]
    first = statistical_gate(y, at_threshold, None, threshold=0.5)
    assert first.passed and first.values["challenger_f1"] == 1.0
    versus = statistical_gate(y, at_threshold, at_threshold, threshold=0.5)
    assert versus.values["champion_f1"] == 1.0 and versus.values["gain"] == 0.0
    live = consistency_gate(
        np.r_[np.full(40, 0.5), np.full(50, 0.0), np.full(10, 1.0)],
        observed_label_rate=None,
        champion_live_proba=np.r_[np.full(50, 0.5), np.full(50, 0.2)],
        challenger_seconds_per_row=1e-5,
        champion_seconds_per_row=1e-5,
    )
    assert live.values["n_invalid"] == 0
    assert live.values["positive_rate"] == 0.5 and live.values["champion_positive_rate"] == 0.5
    assert live.passed, live.reason


# -- drift verdict: adjusted p-values, the share threshold, judged features only ---------------
def test_drift_verdict_uses_the_benjamini_hochberg_adjusted_p_value() -> None:
    """x0 moves by 0.22 sd: raw KS p = 0.031 < alpha, but among 8 features its adjusted p
    is 0.245, so it is not drifted although its effect size clears the threshold."""
    sketch, window = grid_frames({"x0": 0.22}, n_features=8)
    report = drift.detect(sketch, window)
    x0 = report.feature("x0")
    assert x0.p_value is not None and x0.p_adjusted is not None and x0.effect_size is not None
    assert x0.p_value == pytest.approx(0.0306195, abs=1e-6)
    assert x0.p_value < report.config.alpha <= x0.p_adjusted
    assert x0.effect_size >= x0.threshold
    assert x0.drifted is False
    assert report.drifted_features == [] and report.status == "ok"
    raw = [float(report.feature(f"x{i}").p_value or 0.0) for i in range(8)]
    expected = ss.false_discovery_control(raw, method="bh")
    adjusted = [float(report.feature(f"x{i}").p_adjusted or 0.0) for i in range(8)]
    np.testing.assert_allclose(adjusted, expected, rtol=1e-12)
    # Alone, the same shift is not adjusted (m = 1) and is drifted: only the family differs.
    alone_sketch, alone_window = grid_frames({"x0": 0.22}, n_features=1)
    alone = drift.detect(alone_sketch, alone_window).feature("x0")
    assert alone.p_adjusted == pytest.approx(x0.p_value) and alone.drifted is True


def test_dataset_drift_holds_at_exactly_the_share_threshold() -> None:
    """2 of 4 features drifted is a share of exactly 0.5, the default threshold: drift."""
    sketch, window = grid_frames({"x0": 1.0, "x1": 1.0}, n_features=4)
    report = drift.detect(sketch, window, config=DriftConfig(dataset_drift_share=0.5))
    assert report.drifted_features == ["x0", "x1"]
    assert report.drift_share == 0.5
    assert report.dataset_drift is True and report.status == "drift"
    one = drift.detect(*grid_frames({"x0": 1.0}, n_features=4))
    assert one.drift_share == 0.25 and one.dataset_drift is False and one.status == "ok"


def test_dataset_drift_share_counts_only_judged_features() -> None:
    """x3 has 150 finite values in a 300-row window (< min_window 200): it is shifted as
    much as x0 and x1 but gets no verdict, and the share is 2 of the 3 judged features.
    Its reference was half missing too, so its missing share did not move (which would be
    a verdict of its own)."""
    _, window = grid_frames({"x0": 1.0, "x1": 1.0, "x3": 1.0}, n_features=4)
    ref = pd.DataFrame({f"x{i}": REF_GRID for i in range(4)})
    ref.loc[::2, "x3"] = np.nan
    sketch = drift.build_sketch(ref, [f"x{i}" for i in range(4)], [])
    window.loc[::2, "x3"] = np.nan
    cfg = DriftConfig(min_window=200, dataset_drift_share=0.6)
    report = drift.detect(sketch, window, config=cfg)
    x3 = report.feature("x3")
    assert (x3.n_window, x3.n_nan) == (150, 150)
    assert x3.p_value is not None and x3.effect_size is not None  # measured, not judged
    assert x3.missing_share == x3.missing_share_reference == 0.5
    assert x3.missing_drifted is False
    assert x3.drifted is None and x3.p_adjusted is None
    assert report.feature("x2").drifted is False
    assert report.drifted_features == ["x0", "x1"]
    assert report.drift_share == pytest.approx(2 / 3)
    assert report.dataset_drift is True  # 2/3 >= 0.6, where 2/4 would not be


# -- the labeled-F1 trigger's noise guard: the UPPER end of the interval ------------------------
def noisy_labels() -> tuple[np.ndarray, np.ndarray]:
    """300 seeded labeled rows scored by a weak model: a live F1 with a wide interval."""
    rng = np.random.default_rng(7)
    y = rng.binomial(1, 0.3, 300)
    proba = np.clip(0.3 + 0.25 * (y - 0.3) + rng.normal(0, 0.2, 300), 0, 1)
    return y, proba


def row_bootstrap_f1(y: np.ndarray, proba: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """F1 on `n_boot` resamples of the rows (the textbook bootstrap, O(n_boot * n))."""
    rng = np.random.default_rng(seed)
    pred = proba >= 0.5
    out = np.empty(n_boot)
    for b in range(n_boot):
        i = rng.integers(0, len(y), len(y))
        tp = np.sum(pred[i] & (y[i] == 1))
        denom = 2 * tp + np.sum(pred[i] & (y[i] == 0)) + np.sum(~pred[i] & (y[i] == 1))
        out[b] = 2 * tp / denom if denom else 0.0
    return out


def test_f1_upper_bound_is_the_upper_quantile_of_the_bootstrap() -> None:
    y, proba = noisy_labels()
    f1 = labeled_metrics(y, proba, threshold=0.5).f1
    assert f1 is not None
    upper = f1_upper_bound(y, proba, 0.5, confidence=0.90, n_boot=2000, seed=0)
    assert upper == f1_upper_bound(y, proba, 0.5, confidence=0.90, n_boot=2000, seed=0)
    reference = row_bootstrap_f1(y, proba, 2000, seed=1)
    assert upper == pytest.approx(np.quantile(reference, 0.95), abs=0.01)
    assert upper > f1 + 0.05  # the upper end, well above the point estimate
    wider = f1_upper_bound(y, proba, 0.5, confidence=0.99, n_boot=2000, seed=0)
    assert wider > upper


def test_labeled_f1_trigger_holds_back_when_the_upper_bound_reaches_the_expected_f1() -> None:
    """Live F1 more than f1_drop below the expected F1, on enough labels, but the interval's
    upper end is above the expected F1: noise, no trigger. A lower-quantile bound (below the
    point estimate) would fire it."""
    cfg = PolicyConfig(f1_drop=0.05, min_labels=200)
    y, proba = noisy_labels()
    f1 = labeled_metrics(y, proba, threshold=0.5).f1
    assert f1 is not None
    upper = f1_upper_bound(y, proba, 0.5, confidence=0.90, seed=0)
    expected = f1 + 0.055  # a drop beyond f1_drop, below the upper end
    assert upper > expected
    obs = Observation(
        version="v0001",
        n_labels=len(y),
        live_f1=f1,
        live_f1_upper=upper,
        expected_f1=expected,
    )
    assert triggers(obs, cfg) == {}
    beyond = replace(obs, expected_f1=upper + 0.001)  # the whole interval is below it
    assert set(triggers(beyond, cfg)) == {"labeled_f1"}


# -- the policy's own boundaries, on values exact in binary ------------------------------------
EXACT = PolicyConfig(f1_drop=0.125, min_labels=200, cooldown_seconds=3600, min_new_labels=200)
NOW = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)


def test_labeled_f1_trigger_needs_a_drop_of_more_than_f1_drop_on_at_least_min_labels() -> None:
    at_edge = Observation(
        version="v0001", n_labels=200, live_f1=0.625, live_f1_upper=0.6875, expected_f1=0.75
    )
    assert triggers(at_edge, EXACT) == {}  # a drop of exactly f1_drop is not "more than"
    beyond = replace(at_edge, live_f1=0.5)
    assert set(triggers(beyond, EXACT)) == {"labeled_f1"}  # exactly min_labels labels count
    assert triggers(replace(beyond, n_labels=199), EXACT) == {}


def test_policy_counts_a_champion_exactly_at_the_allowed_drop_as_performing() -> None:
    """Inside the cooldown after a rejection, with enough new labels, a drift trigger waits
    when the champion performs as expected: live F1 within f1_drop on >= min_labels labels,
    both at their edge here. One label fewer, and the rejection's new evidence retrains."""
    drift = Observation(
        version="v0001",
        dataset_drift=True,
        drift_cycles=2,
        n_labels=200,
        live_f1=0.625,
        live_f1_upper=0.6875,
        expected_f1=0.75,
    )
    rejected = LastRun(
        id=3,
        status="rejected",
        started_at=NOW - timedelta(minutes=5),
        trained=True,
        labels_since=400,
    )
    inside = PolicyState(
        now=NOW, last_run=rejected, unpromoted_streak=1, last_trained_at=rejected.started_at
    )
    held = decide(drift, inside, EXACT)
    assert held.action == "cooldown" and "performs as expected on 200 labels" in held.reason
    assert decide(replace(drift, n_labels=199), inside, EXACT).action == "retrain"
    assert decide(replace(drift, live_f1=0.5), inside, EXACT).action == "retrain"


def test_policy_waits_exactly_the_cooldown_after_a_run_stopped_before_training() -> None:
    collapse = Observation(
        version="v0001", n_labels=400, live_f1=0.25, live_f1_upper=0.375, expected_f1=0.75
    )

    def stopped(seconds_ago: float) -> PolicyState:
        last = LastRun(
            id=4,
            status="failed",
            started_at=NOW - timedelta(seconds=seconds_ago),
            trained=False,
            labels_since=199,
        )
        return PolicyState(now=NOW, last_run=last)

    assert decide(collapse, stopped(3599), EXACT).action == "awaiting_labels"
    assert decide(collapse, stopped(3600), EXACT).action == "retrain"
