"""Gate 2, statistical: the challenger's F1 beats the champion's on the same holdout, by a
margin and beyond noise; a first model (no champion) is held to absolute AUC and F1 floors."""

from __future__ import annotations

from typing import Any

import numpy as np

from selfheal import validation
from selfheal.binary_metrics import f1, paired_f1_gain_interval, roc_auc
from selfheal.gates.common import TOL, GateResult, fmt, result, thresholds
from selfheal.gates.config import GateConfig, resolve

__all__ = ["statistical_gate"]

_FUNC = "statistical_gate"


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

    The bootstrap resamples holdout rows with replacement, the same rows for both models
    (`selfheal.binary_metrics.paired_f1_gain_interval`: the replicates' counts in the 8 cells
    label x challenger call x champion call are multinomial draws, exactly equivalent to
    resampling rows and O(bootstrap_n) in memory instead of O(bootstrap_n * n)).

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
    cfg = resolve(config, _FUNC)
    y = validation.labels(y_true, func=_FUNC)
    n = len(y)
    p_new = validation.probabilities(challenger_proba, func=_FUNC, arg="challenger_proba", n=n)
    p_old = (
        None
        if champion_proba is None
        else validation.probabilities(champion_proba, func=_FUNC, arg="champion_proba", n=n)
    )
    t_new, t_old = thresholds(threshold, champion_threshold, _FUNC)

    pred_new = p_new >= t_new
    n_pos = int(y.sum())
    values: dict[str, Any] = {
        "mode": "champion" if p_old is not None else "floors",
        "n": n,
        "n_positive": n_pos,
        "challenger_f1": f1(y, pred_new),
        "champion_f1": None,
        "gain": None,
        "ci_low": None,
        "ci_high": None,
        "challenger_auc": roc_auc(y, p_new),
        "champion_auc": None,
    }
    if p_old is None:
        return _first_model_rule(values, t_new, cfg)
    return _champion_rule(values, y, pred_new, p_old, t_new, t_old, cfg)


def _first_model_rule(values: dict[str, Any], t_new: float, cfg: GateConfig) -> GateResult:
    """No champion: absolute floors on the challenger's AUC and F1."""
    n, f1_new, auc_new = values["n"], values["challenger_f1"], values["challenger_auc"]
    thresholds = {"floor_auc": cfg.floor_auc, "floor_f1": cfg.floor_f1, "threshold": t_new}
    if auc_new is None:  # a single class
        return result(
            "statistical",
            False,
            values,
            thresholds,
            f"No champion, and the holdout of {n:,} rows has a single class, so AUC is "
            "undefined and the first-model floors cannot be checked.",
        )
    auc_ok = auc_new >= cfg.floor_auc - TOL
    f1_ok = f1_new >= cfg.floor_f1 - TOL
    verdict = (
        f"AUC {auc_new:.3f} {'>=' if auc_ok else '<'} {fmt(cfg.floor_auc)} and "
        f"F1 {f1_new:.3f} {'>=' if f1_ok else '<'} {fmt(cfg.floor_f1)}"
    )
    reason = f"No champion, so judged against absolute first-model floors: {verdict} (n={n:,})."
    return result("statistical", auc_ok and f1_ok, values, thresholds, reason)


def _champion_rule(
    values: dict[str, Any],
    y: np.ndarray,
    pred_new: np.ndarray,
    p_old: np.ndarray,
    t_new: float,
    t_old: float,
    cfg: GateConfig,
) -> GateResult:
    """A champion: the F1 gain must reach the margin and its paired interval exclude 0."""
    n, f1_new = values["n"], values["challenger_f1"]
    pred_old = p_old >= t_old
    f1_old = f1(y, pred_old)
    gain = f1_new - f1_old
    values.update(champion_f1=f1_old, gain=gain, champion_auc=roc_auc(y, p_old))
    thresholds = {
        "min_f1_gain": cfg.min_f1_gain,
        "bootstrap_n": cfg.bootstrap_n,
        "bootstrap_confidence": cfg.bootstrap_confidence,
        "seed": cfg.seed,
        "threshold": t_new,
        "champion_threshold": t_old,
    }
    if values["n_positive"] in (0, n):
        return result(
            "statistical",
            False,
            values,
            thresholds,
            f"The holdout of {n:,} rows has a single class, so F1 cannot tell the models apart "
            f"(challenger F1 {f1_new:.3f}, champion F1 {f1_old:.3f}).",
        )

    ci_low, ci_high = paired_f1_gain_interval(
        y,
        pred_new,
        pred_old,
        n_boot=cfg.bootstrap_n,
        seed=cfg.seed,
        alpha=1.0 - cfg.bootstrap_confidence,
    )
    values.update(ci_low=ci_low, ci_high=ci_high)
    gain_ok = gain >= cfg.min_f1_gain - TOL
    ci_ok = ci_low > 0.0
    pct = f"{cfg.bootstrap_confidence * 100:g}%"
    ci_text = f"{pct} CI [{ci_low:+.3f}, {ci_high:+.3f}]"
    detail = f"challenger F1 {f1_new:.3f} vs champion {f1_old:.3f}, n={n:,}"
    if not gain_ok:
        reason = f"F1 gain {gain:+.3f} < {fmt(cfg.min_f1_gain)} required ({ci_text}; {detail})."
    elif not ci_ok:
        reason = (
            f"F1 gain {gain:+.3f} >= {fmt(cfg.min_f1_gain)} but its {ci_text} does not exclude "
            f"0 ({detail})."
        )
    else:
        reason = (
            f"F1 gain {gain:+.3f} >= {fmt(cfg.min_f1_gain)} required and {ci_text} is above 0 "
            f"({detail})."
        )
    return result("statistical", gain_ok and ci_ok, values, thresholds, reason)
