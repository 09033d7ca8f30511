"""Gate 4, consistency: on recent live rows the challenger's outputs are valid, its positive
rate is plausible and it is not much slower than the champion."""

from __future__ import annotations

from typing import Any

import numpy as np

from selfheal import validation
from selfheal.gates.common import TOL, GateResult, fmt, result, seconds, thresholds
from selfheal.gates.config import GateConfig, resolve

__all__ = ["consistency_gate"]

_FUNC = "consistency_gate"


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
        instead, so an empty array is a caller error. Invalid values (NaN, outside [0, 1])
        fail the gate rather than raise: they are the challenger's behaviour.
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
    cfg = resolve(config, _FUNC)
    p = validation.numbers(live_challenger_proba, func=_FUNC, arg="live_challenger_proba")
    if p.size == 0:
        raise ValueError(
            f"{_FUNC}: live_challenger_proba is empty; with no live rows run this gate on "
            "holdout outputs"
        )
    n = len(p)
    if observed_label_rate is not None:
        observed_label_rate = validation.unit_number(
            observed_label_rate, func=_FUNC, arg="observed_label_rate"
        )
    t_new, t_old = thresholds(threshold, champion_threshold, _FUNC)
    secs_new, secs_old = _timings(challenger_seconds_per_row, champion_seconds_per_row)
    p_old = None
    if champion_live_proba is not None:
        p_old = validation.probabilities(
            champion_live_proba,
            func=_FUNC,
            arg="champion_live_proba",
            n=n,
            other="live_challenger_proba",
        )

    n_invalid, n_nonfinite, positive_rate, champion_rate, agreement = _outputs(
        p, p_old, t_new, t_old
    )
    rate = _rate_check(positive_rate, observed_label_rate, champion_rate, cfg)
    latency_ratio, latency = _latency_check(secs_new, secs_old, cfg)
    checks = [_validity_check(n, n_invalid, n_nonfinite), rate["check"], latency]
    if agreement is not None:
        checks.append((f"agreement with champion {agreement:.1%} (informational)", True))
    failures = [text for text, ok in checks if not ok]
    notes = [text for text, ok in checks if ok]
    skipped = [
        name
        for name, skip in (("positive_rate", rate["skipped"]), ("latency", secs_old is None))
        if skip
    ]

    values = {
        "n": n,
        "n_invalid": n_invalid,
        "n_nonfinite": n_nonfinite,
        "positive_rate": positive_rate,
        "reference_rate": rate["reference_rate"],
        "reference": rate["reference"],
        "positive_rate_gap": rate["gap"],
        "champion_positive_rate": champion_rate,
        "challenger_seconds_per_row": secs_new,
        "champion_seconds_per_row": secs_old,
        "latency_ratio": latency_ratio,
        "agreement": agreement,
        "skipped": skipped,
    }
    limits = {
        "max_positive_rate_gap": cfg.max_positive_rate_gap,
        "max_latency_ratio": cfg.max_latency_ratio,
        "threshold": t_new,
        "champion_threshold": t_old if p_old is not None else None,
    }
    if failures:
        reason = f"Live outputs rejected on {n:,} rows: " + "; ".join(failures + notes) + "."
    else:
        reason = f"Live outputs consistent on {n:,} rows: " + "; ".join(notes) + "."
    return result("consistency", not failures, values, limits, reason)


def _timings(challenger: Any, champion: Any | None) -> tuple[float, float | None]:
    """The measured seconds per row of the challenger and (None without one) the champion."""
    secs_new = seconds(challenger, func=_FUNC, arg="challenger_seconds_per_row", positive=False)
    if champion is None:
        return secs_new, None
    return secs_new, seconds(champion, func=_FUNC, arg="champion_seconds_per_row", positive=True)


def _outputs(
    p: np.ndarray, p_old: np.ndarray | None, t_new: float, t_old: float
) -> tuple[int, int, float | None, float | None, float | None]:
    """Invalid and non-finite output counts, the challenger's positive rate on its valid
    outputs, the champion's positive rate and the agreement of the two on those rows."""
    valid = np.isfinite(p) & (p >= 0.0) & (p <= 1.0)
    n_invalid = int(len(p) - valid.sum())
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
    return n_invalid, n_nonfinite, positive_rate, champion_rate, agreement


def _validity_check(n: int, n_invalid: int, n_nonfinite: int) -> tuple[str, bool]:
    if n_invalid:
        return (
            f"{n_invalid} of {n:,} outputs are not finite probabilities in [0, 1] "
            f"({n_nonfinite} non-finite)",
            False,
        )
    return f"all {n:,} outputs are finite and in [0, 1]", True


def _rate_check(
    positive_rate: float | None,
    observed_label_rate: float | None,
    champion_rate: float | None,
    cfg: GateConfig,
) -> dict[str, Any]:
    """The positive-rate check: against the observed label rate, else the champion's live
    positive rate, else skipped."""
    out: dict[str, Any] = {"reference_rate": None, "reference": None, "gap": None}
    if observed_label_rate is not None:
        out.update(reference_rate=observed_label_rate, reference="observed label rate")
    elif champion_rate is not None:
        out.update(reference_rate=champion_rate, reference="champion live positive rate")
    out["skipped"] = out["reference_rate"] is None
    if out["skipped"]:
        out["check"] = (
            "positive-rate check skipped (no observed label rate and no champion)",
            True,
        )
    elif positive_rate is None:
        out["check"] = ("positive rate cannot be computed (no valid output)", False)
    else:
        gap = abs(positive_rate - out["reference_rate"])
        ok = gap <= cfg.max_positive_rate_gap + TOL
        out["gap"] = gap
        out["check"] = (
            f"positive rate {positive_rate:.3f} vs {out['reference']} "
            f"{out['reference_rate']:.3f} "
            f"(gap {gap:.3f} {'<=' if ok else '>'} {fmt(cfg.max_positive_rate_gap)})",
            ok,
        )
    return out


def _latency_check(
    secs_new: float, secs_old: float | None, cfg: GateConfig
) -> tuple[float | None, tuple[str, bool]]:
    """The latency ratio (None without a champion timing) and its check."""
    if secs_old is None:
        return None, ("latency check skipped (no champion timing)", True)
    ratio = secs_new / secs_old
    ok = ratio <= cfg.max_latency_ratio + TOL
    text = (
        f"scoring {secs_new:.3g} s/row = {ratio:.2f}x champion's {secs_old:.3g} "
        f"({'<=' if ok else '>'} {fmt(cfg.max_latency_ratio)}x allowed)"
    )
    return ratio, (text, ok)
