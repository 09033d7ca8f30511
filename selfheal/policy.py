"""The healing policy as a pure function: `decide(observation, state, config) -> Decision`.

A monitor cycle first observes (`Observation`: plain values from one window), then decides
here, then acts (records, retrains). Nothing in this module reads the database, the clock
or the registry, so tests call it with plain values; docs/evaluation_gates.md states the
same rule in words and docs/architecture.md draws it.

Triggers (each needs its own evidence; an undefined metric is None and fires nothing):

* ``labeled_f1``: live F1 on at least ``min_labels`` labeled rows is below the version's
  expected (cross-validated) F1 by more than ``f1_drop``, and even the upper end of the
  live F1's 90% bootstrap interval is below the expected F1 (beyond noise);
* ``drift``: dataset drift on ``drift_consecutive`` cycles in a row;
* ``estimated_f1``: the label-free (CBPE) F1 estimate is below the estimate on the
  version's own reference scores by more than ``f1_drop``.

The cooldown is there to stop thrashing, not to ignore evidence. With ``R`` =
``min_new_labels`` and "new labels" = labeled rows of the monitor window (the serving
version's newest rows) logged after the previous run's data cutoff:

1. no trigger -> ``none``; a probation -> ``probation``; auto-retrain off -> ``disabled``;
   a retrain in flight -> ``retrain_running``;
2. the previous run stopped before training (too few rows, one class, refused by the
   data-quality gate): it starts no cooldown, but the same data would fail the same way,
   so the next run waits for ``R`` new labels or ``cooldown_seconds`` since it
   (``awaiting_labels``);
3. inside the wall-clock cooldown (``cooldown_seconds`` after the start of the newest run
   that trained a challenger, or after an automatic rollback) a retrain still starts when
   ``min(R * 2 ** (k - 1), window)`` new labels have arrived, ``k >= 1`` being the number
   of runs in a row that trained a challenger and did not promote it (``R`` when the last
   run promoted): each rejection doubles the evidence the next one needs, up to a whole
   monitor window of new labels, so a gap no challenger can close costs one retrain per
   window of fresh evidence instead of one every ``R`` labels; and either

   - the previous run was not promoted (rejected or failed: new evidence may change the
     verdict), unless those labels show the champion performing as expected (live F1 within
     ``f1_drop`` of its expected F1 on at least ``min_labels`` labels): new labels are
     evidence about performance, and when they clear the champion a label-free trigger
     (drift, estimated F1) waits for the wall clock instead of retraining every ``R``
     labels on a drift the champion handles; or
   - the trigger is ``labeled_f1`` (a collapse beyond noise is never held back by wall time
     alone);

   otherwise ``cooldown``;
4. otherwise ``retrain``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

TRIGGER_ORDER = ("labeled_f1", "drift", "estimated_f1")
ACTIONS = (
    "none",
    "retrain",
    "cooldown",
    "awaiting_labels",
    "probation",
    "disabled",
    "retrain_running",
)


@dataclass(frozen=True)
class PolicyConfig:
    """The policy's thresholds (from `Settings.policy_config()`)."""

    drift_consecutive: int = 2
    f1_drop: float = 0.05
    min_labels: int = 200
    cooldown_seconds: float = 3600.0
    min_new_labels: int = 200
    window: int = 1000  # the monitor window: new labels are counted in it


@dataclass(frozen=True)
class Observation:
    """What one monitor cycle saw in its window, as plain values.

    ``live_f1`` is None when the labeled window holds a single class (F1 is undefined);
    ``live_f1_upper`` is the upper end of its 90% bootstrap interval; ``expected_f1`` the
    serving version's cross-validated F1; ``drift_cycles`` the number of consecutive
    drifting cycles of this version, this one included (0 when this one does not drift).
    """

    version: str
    n_window: int = 0
    dataset_drift: bool = False
    drift_cycles: int = 0
    drift_share: float | None = None
    drifted: tuple[str, ...] = ()
    score_drifted: bool = False
    estimated_f1: float | None = None
    estimated_f1_band: tuple[float, float] | None = None
    reference_estimated_f1: float | None = None
    n_labels: int = 0
    live_f1: float | None = None
    live_f1_upper: float | None = None
    expected_f1: float | None = None
    holdout_f1: float | None = None


@dataclass(frozen=True)
class LastRun:
    """The newest finished retrain run, as the cooldown rule sees it."""

    id: int
    status: str  # promoted | rejected | failed
    started_at: datetime
    trained: bool  # False: it stopped before training a challenger (stage 'data')
    labels_since: int  # labeled rows of the monitor window logged after its data cutoff


@dataclass(frozen=True)
class PolicyState:
    now: datetime
    probation_active: bool = False
    auto_retrain: bool = True
    retrain_running: bool = False
    last_run: LastRun | None = None
    unpromoted_streak: int = 0  # runs in a row that trained a challenger, none promoted
    last_trained_at: datetime | None = None  # start of the newest run that trained
    last_rollback_at: datetime | None = None  # newest automatic rollback


@dataclass(frozen=True)
class Decision:
    action: str  # one of ACTIONS
    trigger: str | None = None
    triggers: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


def triggers(obs: Observation, cfg: PolicyConfig) -> dict[str, Any]:
    """Every trigger that holds for `obs`, each with the evidence it saw (JSON-safe)."""
    out: dict[str, Any] = {}
    if obs.dataset_drift and obs.drift_cycles >= cfg.drift_consecutive:
        out["drift"] = {
            "consecutive_cycles": obs.drift_cycles,
            "drift_share": obs.drift_share,
            "drifted": list(obs.drifted),
            "score_drifted": obs.score_drifted,
        }
    if (
        obs.live_f1 is not None
        and obs.expected_f1 is not None
        and obs.n_labels >= cfg.min_labels
        and obs.live_f1 < obs.expected_f1 - cfg.f1_drop
        and obs.live_f1_upper is not None
        and obs.live_f1_upper < obs.expected_f1  # beyond noise
    ):
        out["labeled_f1"] = {
            "live_f1": obs.live_f1,
            "expected_f1": obs.expected_f1,
            "holdout_f1": obs.holdout_f1,
            "live_f1_upper_90": obs.live_f1_upper,
            "n_labels": obs.n_labels,
            "drop": obs.expected_f1 - obs.live_f1,
        }
    if (
        obs.estimated_f1 is not None
        and obs.reference_estimated_f1 is not None
        and obs.estimated_f1 < obs.reference_estimated_f1 - cfg.f1_drop
    ):
        out["estimated_f1"] = {
            "estimated_f1": obs.estimated_f1,
            "reference_estimated_f1": obs.reference_estimated_f1,
            "band": list(obs.estimated_f1_band) if obs.estimated_f1_band else None,
            "drop": obs.reference_estimated_f1 - obs.estimated_f1,
        }
    return out


def decide(obs: Observation, state: PolicyState, cfg: PolicyConfig) -> Decision:
    """The monitor's decision for one cycle (the rule in the module docstring)."""
    found = triggers(obs, cfg)
    if not found:
        return Decision("none")
    trigger = next(t for t in TRIGGER_ORDER if t in found)

    def made(action: str, reason: str) -> Decision:
        return Decision(action, trigger, found, reason)

    if state.probation_active:
        return made("probation", "a promoted model is on probation; it is judged first")
    if not state.auto_retrain:
        return made("disabled", "automatic retraining is off (SELFHEAL_AUTO_RETRAIN)")
    if state.retrain_running:
        return made("retrain_running", "a retrain is already running")
    last = state.last_run
    new = last.labels_since if last is not None else None
    if last is not None and not last.trained and (new or 0) < cfg.min_new_labels:
        since = (state.now - last.started_at).total_seconds()
        if since < cfg.cooldown_seconds:
            return made(
                "awaiting_labels",
                f"run {last.id} stopped before training; waiting for "
                f"{cfg.min_new_labels} new labels ({new} so far)",
            )
    anchors = [t for t in (state.last_trained_at, state.last_rollback_at) if t is not None]
    # Each run in a row that could not beat the champion doubles the evidence needed. No cap
    # on the exponent: the store counts at most 32 runs, and a cap of 20 stopped the doubling
    # below a window of up to 1,000,000 rows when min_new_labels is 1.
    needed = cfg.min_new_labels * 2 ** max(0, state.unpromoted_streak - 1)
    needed = min(needed, max(cfg.window, cfg.min_new_labels))
    enough = new is None or new >= needed
    if anchors:
        left = cfg.cooldown_seconds - (state.now - max(anchors)).total_seconds()
        if left > 0:
            performing = (
                obs.live_f1 is not None
                and obs.expected_f1 is not None
                and obs.n_labels >= cfg.min_labels
                and obs.live_f1 >= obs.expected_f1 - cfg.f1_drop
            )
            if enough and last is not None and last.status != "promoted" and not performing:
                return made(
                    "retrain",
                    f"inside the cooldown, but {new} new labels since run {last.id} "
                    f"({last.status}) and the trigger still holds",
                )
            if enough and trigger == "labeled_f1":
                return made(
                    "retrain",
                    f"inside the cooldown, but labeled F1 collapsed beyond noise with {new} "
                    "new labels",
                )
            wait = f"{left:.0f} s of cooldown left"
            if performing:
                wait += (
                    f"; the champion performs as expected on {obs.n_labels} labels (live F1 "
                    f"{obs.live_f1:.3f} vs expected {obs.expected_f1:.3f})"
                )
            elif new is not None and not enough:
                wait += f", or {needed - new} more labels"
                if needed > cfg.min_new_labels:
                    wait += f" ({state.unpromoted_streak} runs in a row rejected)"
            return made("cooldown", wait)
    return made("retrain", f"trigger {trigger}")
