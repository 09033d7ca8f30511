"""The healing policy and the retrain recipe as pure functions: plain values in, a decision
or a cut of the history out (no database, no clock, no threads)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from selfheal.performance import labeled_metrics
from selfheal.policy import LastRun, Observation, PolicyConfig, PolicyState, decide, triggers
from selfheal.retrain import MIN_HOLDOUT_ROWS, ChangePoint, change_point, plan

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
CFG = PolicyConfig(
    drift_consecutive=2, f1_drop=0.05, min_labels=200, cooldown_seconds=3600, min_new_labels=200
)
COLLAPSE = Observation(
    version="v0001",
    n_window=1000,
    n_labels=400,
    live_f1=0.12,
    live_f1_upper=0.18,
    expected_f1=0.72,
)


def state(**kw: object) -> PolicyState:
    return PolicyState(now=T0 + timedelta(hours=10), **kw)  # type: ignore[arg-type]


def run(status: str, *, minutes_ago: float, labels_since: int, trained: bool = True) -> LastRun:
    return LastRun(
        id=7,
        status=status,
        started_at=T0 + timedelta(hours=10) - timedelta(minutes=minutes_ago),
        trained=trained,
        labels_since=labels_since,
    )


# -- triggers ---------------------------------------------------------------------------------
def test_labeled_trigger_fires_on_a_collapse_beyond_noise() -> None:
    assert set(triggers(COLLAPSE, CFG)) == {"labeled_f1"}
    assert triggers(COLLAPSE, CFG)["labeled_f1"]["drop"] == pytest.approx(0.60)


@pytest.mark.parametrize(
    "change",
    [
        {"live_f1": None},  # one class labeled: F1 undefined
        {"n_labels": 199},  # too few labels
        {"live_f1_upper": 0.75},  # the interval reaches the expected F1: noise
        {"live_f1": 0.68},  # a drop of 0.04 < f1_drop
        {"expected_f1": None},
    ],
)
def test_labeled_trigger_needs_defined_evidence_beyond_noise(change: dict[str, object]) -> None:
    from dataclasses import replace

    assert triggers(replace(COLLAPSE, **change), CFG) == {}  # type: ignore[arg-type]


def test_one_class_labels_give_null_f1_and_no_trigger() -> None:
    """300 labels, all 0 (only repaid loans confirmed yet): F1 is undefined, not 0.0."""
    y = np.zeros(300, dtype=np.int64)
    live = labeled_metrics(y, np.linspace(0.01, 0.9, 300), threshold=0.5)
    assert live.f1 is None and live.precision is None and live.recall is None
    assert live.auc is None and live.accuracy == pytest.approx(
        np.mean(np.linspace(0.01, 0.9, 300) < 0.5)
    )
    obs = Observation(version="v0001", n_labels=300, live_f1=live.f1, expected_f1=0.67)
    assert decide(obs, state(), CFG).action == "none"


def test_drift_trigger_needs_consecutive_cycles() -> None:
    one = Observation(version="v0001", dataset_drift=True, drift_cycles=1, drift_share=0.5)
    assert triggers(one, CFG) == {}
    two = Observation(version="v0001", dataset_drift=True, drift_cycles=2, drift_share=0.5)
    assert triggers(two, CFG)["drift"]["consecutive_cycles"] == 2


def test_estimated_trigger_and_trigger_order() -> None:
    obs = Observation(
        version="v0001",
        estimated_f1=0.50,
        reference_estimated_f1=0.60,
        dataset_drift=True,
        drift_cycles=3,
        n_labels=400,
        live_f1=0.1,
        live_f1_upper=0.2,
        expected_f1=0.7,
    )
    d = decide(obs, state(), CFG)
    assert set(d.triggers) == {"estimated_f1", "drift", "labeled_f1"}
    assert d.trigger == "labeled_f1" and d.action == "retrain"


# -- the evidence-driven cooldown -----------------------------------------------------------------
def test_first_retrain_starts() -> None:
    assert decide(COLLAPSE, state(), CFG).action == "retrain"


@pytest.mark.parametrize(
    ("kw", "action"),
    [
        ({"probation_active": True}, "probation"),
        ({"auto_retrain": False}, "disabled"),
        ({"retrain_running": True}, "retrain_running"),
    ],
)
def test_probation_switch_and_single_flight_come_first(kw: dict[str, bool], action: str) -> None:
    assert decide(COLLAPSE, state(**kw), CFG).action == action


def test_rejection_then_new_evidence_retrains_inside_the_cooldown() -> None:
    drift = Observation(version="v0001", dataset_drift=True, drift_cycles=2, drift_share=0.6)
    anchor = T0 + timedelta(hours=10) - timedelta(minutes=5)
    few = run("rejected", minutes_ago=5, labels_since=199)
    enough = run("rejected", minutes_ago=5, labels_since=200)
    held = decide(drift, state(last_run=few, last_trained_at=anchor), CFG)
    assert held.action == "cooldown" and "1 more labels" in held.reason
    early = decide(drift, state(last_run=enough, last_trained_at=anchor), CFG)
    assert early.action == "retrain" and "200 new labels since run 7" in early.reason


def test_new_labels_that_clear_the_champion_do_not_restart_a_drift_retrain() -> None:
    """A drift the champion handles (its live F1 is as expected) must not retrain every R
    labels: after a rejection, a label-free trigger then waits for the wall clock."""
    anchor = T0 + timedelta(hours=10) - timedelta(minutes=5)
    rejected = run("rejected", minutes_ago=5, labels_since=600)
    fine = Observation(
        version="v0003",
        dataset_drift=True,
        drift_cycles=5,
        drift_share=0.2,
        score_drifted=True,
        n_labels=1000,
        live_f1=0.97,
        live_f1_upper=0.98,
        expected_f1=0.95,
    )
    held = decide(fine, state(last_run=rejected, last_trained_at=anchor), CFG)
    assert held.action == "cooldown" and "performs as expected on 1000 labels" in held.reason
    from dataclasses import replace

    slipping = replace(fine, live_f1=0.89, live_f1_upper=0.96)  # below, within noise
    assert decide(slipping, state(last_run=rejected, last_trained_at=anchor), CFG).action == (
        "retrain"
    )
    few_labels = replace(fine, n_labels=150)  # not enough to clear it
    assert decide(few_labels, state(last_run=rejected, last_trained_at=anchor), CFG).action == (
        "retrain"
    )


def test_each_rejection_in_a_row_doubles_the_evidence_the_next_run_needs() -> None:
    """A gap no challenger can close (the concept got noisier) must not retrain every R
    labels: R, 2R, 4R... new labels after 1, 2, 3 rejections in a row."""
    anchor = T0 + timedelta(hours=10) - timedelta(minutes=5)

    def action(streak: int, labels: int) -> str:
        last = run("rejected", minutes_ago=5, labels_since=labels)
        st = state(last_run=last, last_trained_at=anchor, unpromoted_streak=streak)
        return decide(COLLAPSE, st, CFG).action

    assert action(1, 200) == "retrain"
    assert action(2, 399) == "cooldown" and action(2, 400) == "retrain"
    assert action(3, 799) == "cooldown" and action(3, 800) == "retrain"
    assert action(4, 999) == "cooldown" and action(4, 1000) == "retrain"  # capped: a window
    assert action(9, 1000) == "retrain"
    last = run("rejected", minutes_ago=5, labels_since=500)
    st = state(last_run=last, last_trained_at=anchor, unpromoted_streak=3)
    assert "300 more labels (3 runs in a row rejected)" in decide(COLLAPSE, st, CFG).reason
    # The wall clock still ends the cooldown whatever the streak.
    late = state(last_run=last, last_trained_at=anchor - timedelta(hours=1), unpromoted_streak=9)
    assert decide(COLLAPSE, late, CFG).action == "retrain"


def test_after_a_promotion_only_a_labeled_collapse_skips_the_cooldown() -> None:
    anchor = T0 + timedelta(hours=10) - timedelta(minutes=5)
    promoted = run("promoted", minutes_ago=5, labels_since=500)
    drift = Observation(version="v0002", dataset_drift=True, drift_cycles=2, drift_share=0.6)
    assert decide(drift, state(last_run=promoted, last_trained_at=anchor), CFG).action == (
        "cooldown"
    )
    assert decide(COLLAPSE, state(last_run=promoted, last_trained_at=anchor), CFG).action == (
        "retrain"
    )
    # ...and only on new labels: the same rows again are no new evidence.
    stale = run("promoted", minutes_ago=5, labels_since=10)
    assert decide(COLLAPSE, state(last_run=stale, last_trained_at=anchor), CFG).action == (
        "cooldown"
    )


def test_wall_clock_cooldown_expires() -> None:
    anchor = T0 + timedelta(hours=10) - timedelta(seconds=3600)
    last = run("promoted", minutes_ago=60, labels_since=0)
    drift = Observation(version="v0002", dataset_drift=True, drift_cycles=2, drift_share=0.6)
    assert decide(drift, state(last_run=last, last_trained_at=anchor), CFG).action == "retrain"
    inside = anchor + timedelta(seconds=1)
    assert decide(drift, state(last_run=last, last_trained_at=inside), CFG).action == "cooldown"


def test_automatic_rollback_starts_a_cooldown() -> None:
    rolled = T0 + timedelta(hours=10) - timedelta(minutes=1)
    drift = Observation(version="v0001", dataset_drift=True, drift_cycles=2, drift_share=0.6)
    assert decide(drift, state(last_rollback_at=rolled), CFG).action == "cooldown"


def test_a_run_that_stopped_before_training_starts_no_cooldown() -> None:
    """It is no anchor of the wall clock; the next run waits only for new labels."""
    failed = run("failed", minutes_ago=1, labels_since=50, trained=False)
    waiting = decide(COLLAPSE, state(last_run=failed), CFG)
    assert waiting.action == "awaiting_labels" and "50 so far" in waiting.reason
    fresh = run("failed", minutes_ago=1, labels_since=200, trained=False)
    assert decide(COLLAPSE, state(last_run=fresh), CFG).action == "retrain"
    # An older trained run's cooldown has expired: the failure added none of its own.
    old = T0 + timedelta(hours=8)
    assert decide(COLLAPSE, state(last_run=fresh, last_trained_at=old), CFG).action == "retrain"


# -- the recipe: change point, holdout, candidate windows -----------------------------------------
def test_change_point_finds_a_rise_in_loss_and_ignores_noise_and_falls() -> None:
    rng = np.random.default_rng(1)
    rise = np.r_[rng.normal(0.10, 0.05, 700), rng.normal(0.25, 0.05, 300)]
    cp = change_point(rise)
    assert cp is not None and abs(cp.index - 700) <= 5 and cp.after > cp.before
    assert change_point(rng.normal(0.1, 0.05, 1000)) is None
    fall = np.r_[rng.normal(0.25, 0.05, 700), rng.normal(0.10, 0.05, 300)]
    assert change_point(fall) is None  # the model got better: nothing to forget
    assert change_point(rise[:60]) is None  # too short for min_size on both sides


def test_change_point_finds_the_latest_rise_of_a_recurring_concept() -> None:
    """Bad (old concept), good (after a promotion), bad again (the old concept is back):
    the rise to heal from is the last one, not the earlier fall."""
    rng = np.random.default_rng(3)
    loss = np.r_[
        rng.normal(0.4, 0.1, 3300), rng.normal(0.05, 0.05, 4700), rng.normal(0.4, 0.1, 700)
    ]
    cp = change_point(loss)
    assert cp is not None and abs(cp.index - 8000) <= 5


def test_change_point_false_alarm_rate_on_bernoulli_losses_is_low() -> None:
    rng = np.random.default_rng(2)
    alarms = sum(
        change_point(rng.binomial(1, 0.2, 800).astype(float)) is not None for _ in range(200)
    )
    assert alarms <= 5  # critical 1.52 is the one-sided 1% point


def test_plan_caps_the_holdout_and_keeps_new_concept_rows_for_training() -> None:
    y = np.tile([0, 1], 3000)  # 1,000 reference rows, then 5,000 live rows
    p = plan(
        y,
        1000,
        change=None,
        holdout_fraction=0.3,
        holdout_max_rows=500,
        recent_rows=1000,
        half_life=1000,
    )
    assert p.holdout is not None and len(p.holdout) == 500
    assert p.holdout[-1] == len(y) - 1 and np.all(np.diff(p.holdout) == 1)
    names = [w.name for w in p.windows]
    assert names == ["weighted", "recent"]
    weighted, recent = p.windows
    assert weighted.train[-1] == p.holdout[0] - 1 and len(weighted.train) == 5500
    assert weighted.weights is not None and weighted.weights[-1] == 1.0
    assert weighted.weights[-1001] == pytest.approx(0.5)
    assert len(recent.train) == 1000 and recent.train[-1] == p.holdout[0] - 1
    assert len(recent.refit) == 1000 and recent.refit[-1] == len(y) - 1  # refit: holdout in
    assert len(weighted.refit) == len(y)


def test_plan_after_a_change_splits_the_new_rows_between_training_and_holdout() -> None:
    y = np.tile([0, 1], 2500)  # 1,000 reference + 4,000 live rows; change 300 rows ago
    cp = ChangePoint(index=3700, statistic=5.0, before=0.1, after=0.3)
    p = plan(
        y,
        1000,
        change=cp,
        holdout_fraction=0.3,
        holdout_max_rows=500,
        recent_rows=1000,
        half_life=1000,
    )
    assert p.holdout is not None and len(p.holdout) == 150  # half of the 300 new rows
    since = next(w for w in p.windows if w.name == "since_change")
    assert since.train[0] == 1000 + 3700 and len(since.train) == 150
    assert since.refit[0] == 1000 + 3700 and len(since.refit) == 300
    tiny = ChangePoint(index=3980, statistic=5.0, before=0.1, after=0.3)
    q = plan(
        y,
        1000,
        change=tiny,
        holdout_fraction=0.3,
        holdout_max_rows=500,
        recent_rows=1000,
        half_life=1000,
    )
    assert q.holdout is not None and len(q.holdout) == MIN_HOLDOUT_ROWS
    assert "since_change" not in [w.name for w in q.windows]  # too few rows to train on


def test_plan_with_few_live_rows_falls_back_to_one_weighted_window() -> None:
    y = np.tile([0, 1], 540)
    p = plan(
        y,
        1000,
        change=None,
        holdout_fraction=0.3,
        holdout_max_rows=500,
        recent_rows=1000,
        half_life=1000,
    )
    assert p.holdout is None and [w.name for w in p.windows] == ["weighted"]


# -- what a decision records: the evidence and the reason an operator reads -----------------------
# Values exact in binary, so the recorded evidence compares with ==.
EXACT = PolicyConfig(f1_drop=0.125, min_labels=200, cooldown_seconds=3600, min_new_labels=200)
FIVE_MIN_AGO = T0 + timedelta(hours=10) - timedelta(minutes=5)  # 3300 s of cooldown left
DRIFT = Observation(
    version="v0002",
    dataset_drift=True,
    drift_cycles=3,
    drift_share=0.5,
    drifted=("income", "age"),
    score_drifted=True,
)


def test_triggers_record_the_evidence_each_one_saw() -> None:
    obs = replace(
        DRIFT,
        n_labels=400,
        live_f1=0.25,
        live_f1_upper=0.375,
        expected_f1=0.75,
        holdout_f1=0.8125,
        estimated_f1=0.5,
        reference_estimated_f1=0.75,
        estimated_f1_band=(0.375, 0.625),
    )
    assert triggers(obs, EXACT) == {
        "drift": {
            "consecutive_cycles": 3,
            "drift_share": 0.5,
            "drifted": ["income", "age"],
            "score_drifted": True,
        },
        "labeled_f1": {
            "live_f1": 0.25,
            "expected_f1": 0.75,
            "holdout_f1": 0.8125,
            "live_f1_upper_90": 0.375,
            "n_labels": 400,
            "drop": 0.5,
        },
        "estimated_f1": {
            "estimated_f1": 0.5,
            "reference_estimated_f1": 0.75,
            "band": [0.375, 0.625],
            "drop": 0.25,
        },
    }
    no_band = triggers(replace(obs, estimated_f1_band=None), EXACT)["estimated_f1"]
    assert no_band["band"] is None


def test_estimated_trigger_needs_both_estimates_and_a_drop_of_more_than_f1_drop() -> None:
    obs = Observation(version="v0001", estimated_f1=0.5, reference_estimated_f1=0.75)
    assert set(triggers(obs, EXACT)) == {"estimated_f1"}
    assert triggers(replace(obs, reference_estimated_f1=None), EXACT) == {}
    assert triggers(replace(obs, estimated_f1=None), EXACT) == {}
    assert triggers(replace(obs, estimated_f1=0.625), EXACT) == {}  # exactly f1_drop
    assert triggers(replace(obs, estimated_f1=0.6875), EXACT) == {}  # a small drop
    assert triggers(replace(obs, estimated_f1=0.875), EXACT) == {}  # a rise


def test_labeled_trigger_holds_back_when_the_interval_ends_exactly_at_the_expected_f1() -> None:
    obs = Observation(
        version="v0001", n_labels=400, live_f1=0.25, live_f1_upper=0.75, expected_f1=0.75
    )
    assert triggers(obs, EXACT) == {}
    assert set(triggers(replace(obs, live_f1_upper=0.6875), EXACT)) == {"labeled_f1"}


@pytest.mark.parametrize(
    ("kw", "action", "reason"),
    [
        ({}, "retrain", "trigger labeled_f1"),
        (
            {"probation_active": True},
            "probation",
            "a promoted model is on probation; it is judged first",
        ),
        (
            {"auto_retrain": False},
            "disabled",
            "automatic retraining is off (SELFHEAL_AUTO_RETRAIN)",
        ),
        ({"retrain_running": True}, "retrain_running", "a retrain is already running"),
    ],
)
def test_decision_reason_names_what_held_the_retrain(
    kw: dict[str, bool], action: str, reason: str
) -> None:
    d = decide(COLLAPSE, state(**kw), CFG)
    assert (d.action, d.trigger, d.reason) == (action, "labeled_f1", reason)


def test_cooldown_reason_says_how_long_and_how_many_labels_are_left() -> None:
    def reason(obs: Observation, last: LastRun, streak: int = 0) -> tuple[str, str]:
        st = state(last_run=last, last_trained_at=FIVE_MIN_AGO, unpromoted_streak=streak)
        d = decide(obs, st, CFG)
        return d.action, d.reason

    promoted = run("promoted", minutes_ago=5, labels_since=500)
    assert reason(DRIFT, promoted) == ("cooldown", "3300 s of cooldown left")
    few = run("rejected", minutes_ago=5, labels_since=199)
    assert reason(DRIFT, few) == ("cooldown", "3300 s of cooldown left, or 1 more labels")
    assert reason(DRIFT, few, streak=1) == ("cooldown", "3300 s of cooldown left, or 1 more labels")
    some = run("rejected", minutes_ago=5, labels_since=500)
    assert reason(DRIFT, some, streak=3) == (
        "cooldown",
        "3300 s of cooldown left, or 300 more labels (3 runs in a row rejected)",
    )
    fine = replace(DRIFT, n_labels=1000, live_f1=0.97, live_f1_upper=0.98, expected_f1=0.95)
    assert reason(fine, some) == (
        "cooldown",
        "3300 s of cooldown left; the champion performs as expected on 1000 labels "
        "(live F1 0.970 vs expected 0.950)",
    )
    assert reason(COLLAPSE, promoted) == (
        "retrain",
        "inside the cooldown, but labeled F1 collapsed beyond noise with 500 new labels",
    )
    assert reason(DRIFT, some) == (
        "retrain",
        "inside the cooldown, but 500 new labels since run 7 (rejected) and the trigger still "
        "holds",
    )


def test_a_stopped_run_waits_for_its_single_new_label_when_one_is_required() -> None:
    one = replace(CFG, min_new_labels=1)
    none_yet = run("failed", minutes_ago=1, labels_since=0, trained=False)
    waiting = decide(COLLAPSE, state(last_run=none_yet), one)
    assert waiting.action == "awaiting_labels"
    assert waiting.reason == "run 7 stopped before training; waiting for 1 new labels (0 so far)"
    arrived = run("failed", minutes_ago=1, labels_since=1, trained=False)
    assert decide(COLLAPSE, state(last_run=arrived), one).action == "retrain"


def test_rejections_keep_doubling_the_evidence_up_to_the_largest_window() -> None:
    """min(R * 2 ** (k - 1), window) for every streak the store reports (up to 32), at the
    settings' extremes: R = 1 label, a window of 1,000,000 rows."""
    cfg = replace(CFG, min_new_labels=1, window=1_000_000)

    def action(streak: int, labels: int) -> str:
        last = run("rejected", minutes_ago=5, labels_since=labels)
        st = state(last_run=last, last_trained_at=FIVE_MIN_AGO, unpromoted_streak=streak)
        return decide(COLLAPSE, st, cfg).action

    assert action(20, 2**19 - 1) == "cooldown" and action(20, 2**19) == "retrain"
    assert action(21, 2**19) == "cooldown"  # 2 ** 20 labels needed, more than 2 ** 19
    assert action(21, 999_999) == "cooldown" and action(21, 1_000_000) == "retrain"
    assert action(32, 999_999) == "cooldown" and action(32, 1_000_000) == "retrain"
