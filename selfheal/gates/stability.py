"""Gate 3, stability: calibration (Brier) does not regress and no slice of the holdout is much
worse. Two rules: against the champion on the same rows, or, for a first model, against each
slice's own base rate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from selfheal import validation
from selfheal.binary_metrics import brier, f1, paired_f1_gain_interval
from selfheal.gates.common import TOL, GateResult, fmt, result, thresholds
from selfheal.gates.config import GateConfig, resolve
from selfheal.gates.slices import Groups, holdout_slices

__all__ = ["stability_gate"]

_FUNC = "stability_gate"


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
    """Check calibration and per-slice quality of the challenger on the holdout.

    Slices are the quartile bins of each numeric feature and the levels of each categorical
    feature (`selfheal.gates.slices`). Every slice is reported; only slices of at least
    ``min_slice_rows`` rows are judged.

    With a champion (:func:`_champion_rule`) the gate passes iff challenger Brier <= champion
    Brier + ``max_brier_increase`` and on no judged slice (one with a positive label: without
    positives F1 is 0 for any model) the challenger's F1 is lower than the champion's by more
    than ``max_slice_f1_drop`` with the upper end of its paired-bootstrap interval below 0.
    The intervals are Bonferroni-corrected over the m judged slices (coverage
    ``1 - (1 - bootstrap_confidence) / m`` each), so an equally good challenger fails on noise
    with probability at most ``1 - bootstrap_confidence`` overall.

    Without a champion (:func:`_first_model_rule`) there is no reference model on the same
    rows, so: overall Brier must be <= the Brier of the constant base-rate predictor
    (leave-one-out holdout positive rate) plus ``max_brier_increase``; and on no judged slice
    may the challenger's Brier exceed that slice's own base-rate Brier by more than
    ``2 * max_brier_increase``. Slice F1 is reported but not judged in this mode: F1 depends on
    a slice's prevalence, so comparing a slice with the overall F1 rejects even a model that
    outputs the true probabilities (on the low quartile of a strong feature, where positives
    are rare). Brier against the slice's own base rate cancels prevalence and still fails a
    model that is no better than a constant on a slice. The tolerance is doubled because
    slices are small and many. Judged slices need both classes (a single-class slice has a
    perfect base rate).

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
    cfg = resolve(config, _FUNC)
    if not isinstance(holdout, pd.DataFrame):
        raise ValueError(
            f"{_FUNC}: holdout must be a pandas DataFrame, got {type(holdout).__name__}"
        )
    y = validation.labels(y_true, func=_FUNC)
    n = len(y)
    if len(holdout) != n:
        raise ValueError(
            f"{_FUNC}: y_true has {n} rows but holdout has {len(holdout)}; they must match"
        )
    p_new = validation.probabilities(challenger_proba, func=_FUNC, arg="challenger_proba", n=n)
    p_old = (
        None
        if champion_proba is None
        else validation.probabilities(champion_proba, func=_FUNC, arg="champion_proba", n=n)
    )
    t_new, t_old = thresholds(threshold, champion_threshold, _FUNC)
    groups = holdout_slices(holdout, numeric, categorical, func=_FUNC)
    if p_old is None:
        return _first_model_rule(y, p_new, t_new, groups, cfg)
    return _champion_rule(y, p_new, p_old, t_new, t_old, groups, cfg)


def _champion_rule(
    y: np.ndarray,
    p_new: np.ndarray,
    p_old: np.ndarray,
    t_new: float,
    t_old: float,
    groups: Groups,
    cfg: GateConfig,
) -> GateResult:
    """Brier against the champion's; per slice, F1 against the champion's beyond noise."""
    pred_new, pred_old = p_new >= t_new, p_old >= t_old
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
    slices = [
        _judge_against_champion(entry, y[mask], pred_new[mask], pred_old[mask], slice_alpha, cfg)
        for entry, mask in _entries(groups, y, p_new, pred_new)
    ]

    judged_slices = [s for s in slices if s["judged"]]
    failing = [s for s in slices if s["failed"]]
    worst = min(judged_slices, key=lambda s: s["delta"], default=None)
    overall = _overall(y, p_new, brier(y, p_old), "champion", cfg)
    values = {
        "mode": "champion",
        "n": len(y),
        "challenger_brier": overall["brier"],
        "champion_brier": overall["reference_brier"],
        "reference_brier": overall["reference_brier"],
        "reference": "champion",
        "brier_increase": overall["increase"],
        "challenger_f1": f1(y, pred_new),
        "champion_f1": f1(y, pred_old),
        **_slice_values(slices, judged_slices, failing, worst),
    }
    limits = {
        "max_brier_increase": cfg.max_brier_increase,
        "max_slice_f1_drop": cfg.max_slice_f1_drop,
        "max_slice_brier_excess": None,
        "min_slice_rows": cfg.min_slice_rows,
        "threshold": t_new,
        "champion_threshold": t_old,
    }
    rule = (
        f"loses more than {fmt(cfg.max_slice_f1_drop)} F1 against the champion and its "
        f"{fmt(cfg.bootstrap_confidence * 100)}% paired-bootstrap interval, "
        "Bonferroni-corrected over the judged slices, is below 0"
    )
    if failing:
        w = min(failing, key=lambda s: s["delta"])
        detail = f"F1 {w['challenger_f1']:.3f} vs champion {w['champion_f1']:.3f}"
        slice_text = _failing_text(failing, judged_slices, rule, w, f"{detail} ({w['delta']:+.3f})")
    elif worst is not None:
        slice_text = _passing_text(slices, judged_slices, rule, worst, f"{worst['delta']:+.3f} F1")
    else:
        slice_text = _unjudged_text(slices, cfg, "a positive label")
    return _verdict(overall, failing, slice_text, values, limits)


def _judge_against_champion(
    entry: dict[str, Any],
    y_s: np.ndarray,
    new_s: np.ndarray,
    old_s: np.ndarray,
    alpha: float,
    cfg: GateConfig,
) -> dict[str, Any]:
    """Add the champion's F1 to a slice entry and judge the slice's F1 change."""
    f1_old = f1(y_s, old_s)
    entry["champion_f1"] = f1_old
    entry["delta"] = entry["challenger_f1"] - f1_old
    # with no positive label F1 is 0 for every model, so there is nothing to judge
    judged = entry["n"] >= cfg.min_slice_rows and entry["n_positive"] > 0
    failed = False
    if judged and entry["delta"] < -cfg.max_slice_f1_drop - TOL:
        # F1 on a slice of a hundred rows with a dozen positives moves by +-0.1 by chance
        # alone: fail only when the loss is also beyond noise, i.e. the paired-bootstrap
        # interval of the slice's F1 change is below 0.
        low, high = paired_f1_gain_interval(
            y_s, new_s, old_s, n_boot=cfg.bootstrap_n, seed=cfg.seed, alpha=alpha
        )
        entry["delta_ci"] = [low, high]
        failed = high < 0
    entry["judged"] = judged
    entry["failed"] = failed
    return entry


def _first_model_rule(
    y: np.ndarray, p_new: np.ndarray, t_new: float, groups: Groups, cfg: GateConfig
) -> GateResult:
    """Brier against the base-rate predictor's; per slice, Brier against its own base rate."""
    pred_new = p_new >= t_new
    # Slices are judged by Brier against their own base rate, with twice the overall
    # tolerance because small slices are noisy and there are many of them.
    slice_brier_tol = 2.0 * cfg.max_brier_increase
    slices: list[dict[str, Any]] = []
    for entry, _ in _entries(groups, y, p_new, pred_new):
        # a single-class slice has a perfect in-sample base rate, which no model beats
        judged = entry["n"] >= cfg.min_slice_rows and 0 < entry["n_positive"] < entry["n"]
        entry["judged"] = judged
        entry["failed"] = judged and entry["brier_excess"] > slice_brier_tol + TOL
        slices.append(entry)

    judged_slices = [s for s in slices if s["judged"]]
    failing = [s for s in slices if s["failed"]]
    worst = max(judged_slices, key=lambda s: s["brier_excess"], default=None)
    overall = _overall(y, p_new, _base_rate_brier(y), "base-rate predictor", cfg)
    values = {
        "mode": "no_champion",
        "n": len(y),
        "challenger_brier": overall["brier"],
        "champion_brier": None,
        "reference_brier": overall["reference_brier"],
        "reference": "base-rate predictor",
        "brier_increase": overall["increase"],
        "challenger_f1": f1(y, pred_new),
        "champion_f1": None,
        **_slice_values(slices, judged_slices, failing, worst),
    }
    limits = {
        "max_brier_increase": cfg.max_brier_increase,
        "max_slice_f1_drop": None,
        "max_slice_brier_excess": slice_brier_tol,
        "min_slice_rows": cfg.min_slice_rows,
        "threshold": t_new,
        "champion_threshold": None,
    }
    rule = f"exceeds its own base-rate Brier by more than {fmt(slice_brier_tol)}"
    if failing:
        w = max(failing, key=lambda s: s["brier_excess"])
        detail = f"Brier {w['challenger_brier']:.4f} vs base rate {w['base_rate_brier']:.4f}"
        slice_text = _failing_text(
            failing, judged_slices, rule, w, f"{detail} ({w['brier_excess']:+.4f})"
        )
    elif worst is not None:
        margin = f"{worst['brier_excess']:+.4f} Brier"
        slice_text = _passing_text(slices, judged_slices, rule, worst, margin)
    else:
        slice_text = _unjudged_text(slices, cfg, "both classes")
    slice_text += " (no champion: slices judged by Brier, their F1 only reported)"
    return _verdict(overall, failing, slice_text, values, limits)


# ---------------------------------------------------------------------------------------------
# What the two rules share: slice entries, the overall Brier check and the reason's parts
# ---------------------------------------------------------------------------------------------


def _entries(
    groups: Groups, y: np.ndarray, p_new: np.ndarray, pred_new: np.ndarray
) -> list[tuple[dict[str, Any], np.ndarray]]:
    """Each slice's challenger figures, with its row mask, in report order."""
    return [
        (_slice_entry(column, label, y[mask], p_new[mask], pred_new[mask]), mask)
        for column, parts in groups
        for label, mask in parts
    ]


def _slice_entry(
    column: str, label: str, y_s: np.ndarray, p_s: np.ndarray, pred_s: np.ndarray
) -> dict[str, Any]:
    """A slice's challenger figures; the champion's (None here) are the champion rule's."""
    brier_s = brier(y_s, p_s)
    base_s = _base_rate_brier(y_s)
    return {
        "feature": str(column),
        "slice": label,
        "n": len(y_s),
        "n_positive": int(y_s.sum()),
        "champion_f1": None,
        "challenger_f1": f1(y_s, pred_s),
        "delta": None,
        "challenger_brier": brier_s,
        "base_rate_brier": base_s,
        "brier_excess": brier_s - base_s,
    }


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


def _overall(
    y: np.ndarray, p_new: np.ndarray, reference_brier: float, reference: str, cfg: GateConfig
) -> dict[str, Any]:
    """The overall Brier check against `reference` and its sentence."""
    brier_new = brier(y, p_new)
    increase = brier_new - reference_brier
    ok = increase <= cfg.max_brier_increase + TOL
    text = (
        f"Brier {brier_new:.4f} vs {reference} {reference_brier:.4f} "
        f"(increase {increase:+.4f} {'<=' if ok else '>'} "
        f"{fmt(cfg.max_brier_increase)} allowed)"
    )
    return {
        "brier": brier_new,
        "reference_brier": reference_brier,
        "increase": increase,
        "ok": ok,
        "text": text,
    }


def _slice_values(
    slices: list[dict[str, Any]],
    judged: list[dict[str, Any]],
    failing: list[dict[str, Any]],
    worst: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "n_slices": len(slices),
        "n_judged": len(judged),
        "failing_slices": [f"{s['feature']}={s['slice']}" for s in failing],
        "worst_slice": worst,
        "slices": slices,
    }


def _failing_text(
    failing: list[dict[str, Any]],
    judged: list[dict[str, Any]],
    rule: str,
    w: dict[str, Any],
    detail: str,
) -> str:
    return (
        f"{len(failing)} of {len(judged)} judged slices fail (a slice fails if it "
        f"{rule}), worst "
        f"{w['feature']}={w['slice']} (n={w['n']:,}): {detail}"
    )


def _passing_text(
    slices: list[dict[str, Any]],
    judged: list[dict[str, Any]],
    rule: str,
    worst: dict[str, Any],
    margin: str,
) -> str:
    return (
        f"none of {len(judged)} judged slices ({len(slices)} reported) {rule} "
        f"(worst {worst['feature']}={worst['slice']}, {margin})"
    )


def _unjudged_text(slices: list[dict[str, Any]], cfg: GateConfig, need: str) -> str:
    return (
        f"no slice was judged ({len(slices)} reported; each needs >= {cfg.min_slice_rows} "
        f"rows and {need})"
    )


def _verdict(
    overall: dict[str, Any],
    failing: list[dict[str, Any]],
    slice_text: str,
    values: dict[str, Any],
    limits: dict[str, Any],
) -> GateResult:
    passed = overall["ok"] and not failing
    reason = f"{'Stable' if passed else 'Unstable'}: {overall['text']}; {slice_text}."
    return result("stability", passed, values, limits, reason)
