"""Gate 1, data quality: the training set is usable (schema, size, class balance, columns)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from selfheal import validation
from selfheal.gates.common import TOL, GateResult, fmt, result
from selfheal.gates.config import GateConfig, resolve

__all__ = ["data_quality_gate"]

_FUNC = "data_quality_gate"
# How many schema problems are copied into the result; the count is always complete.
_MAX_LISTED_SCHEMA_ERRORS = 5


def data_quality_gate(
    frame: pd.DataFrame,
    y: Any,
    *,
    schema_errors: Sequence[Mapping[str, Any]] = (),
    config: GateConfig | None = None,
    known_constant: Sequence[str] = (),
) -> GateResult:
    """Check that a training set is fit to train on.

    Passes iff there are no schema errors, at least ``min_rows`` rows, each class (0 and 1)
    has a share >= ``min_class_share``, and no feature column is constant (a single distinct
    non-null value) or entirely null. A column in `known_constant` (already constant in the
    champion's own training data) is reported but does not fail the gate: the same rule at
    both ends, or a model trained on such a column could never be replaced.

    Parameters
    ----------
    frame : pandas.DataFrame
        The training features.
    y : array-like of 0/1
        The training labels, one per row of `frame`.
    schema_errors : sequence of mapping
        The problems schema validation found, each with at least "field" and "problem".
    config : GateConfig, optional
        Thresholds; defaults to ``GateConfig()``.
    known_constant : sequence of str
        Columns constant in the champion's training data; constant here too is no failure.

    Returns
    -------
    GateResult
        Named "data_quality".
    """
    cfg = resolve(config, _FUNC)
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{_FUNC}: frame must be a pandas DataFrame, got {type(frame).__name__}")
    labels = validation.labels(
        y, func=_FUNC, arg="y", n=len(frame), other="frame", allow_empty=True
    )
    problems = _schema_problems(schema_errors)

    n = len(frame)
    n_pos = int(labels.sum())
    shares = {"0": (n - n_pos) / n if n else 0.0, "1": n_pos / n if n else 0.0}
    constant: list[str] = []
    all_null: list[str] = []
    for column in frame.columns:
        distinct = _n_distinct(frame[column])
        if distinct == 0:
            all_null.append(str(column))
        elif distinct == 1:
            constant.append(str(column))
    known = set(known_constant)
    failures = _failures(cfg, problems, n, shares, [c for c in constant if c not in known])
    if all_null:
        failures.append(f"all-null column(s) {_names(all_null)}")

    values = {
        "n_rows": n,
        "n_columns": int(frame.shape[1]),
        "class_shares": shares,
        "n_schema_errors": len(problems),
        "schema_errors": problems[:_MAX_LISTED_SCHEMA_ERRORS],
        "constant_columns": constant,
        "known_constant_columns": [c for c in constant if c in known],
        "all_null_columns": all_null,
    }
    thresholds = {"min_rows": cfg.min_rows, "min_class_share": cfg.min_class_share}
    if failures:
        reason = "Training data rejected: " + "; ".join(failures) + "."
    else:
        reason = (
            f"Training data accepted: {n:,} rows (>= {cfg.min_rows:,}), class shares "
            f"{shares['0']:.3f}/{shares['1']:.3f} (each >= {fmt(cfg.min_class_share)}), "
            f"no schema errors, and none of {frame.shape[1]} columns is constant or all-null."
        )
    return result("data_quality", not failures, values, thresholds, reason)


def _failures(
    cfg: GateConfig,
    problems: list[dict[str, str]],
    n: int,
    shares: dict[str, float],
    new_constant: list[str],
) -> list[str]:
    """The failed rules, in the order the reason lists them (all-null columns come last)."""
    failures: list[str] = []
    if problems:
        listed = ", ".join(f"{p['field']}: {p['problem']}" for p in problems[:2])
        more = f" and {len(problems) - 2} more" if len(problems) > 2 else ""
        failures.append(f"{len(problems)} schema error(s) ({listed}{more})")
    if n < cfg.min_rows:
        failures.append(f"{n:,} rows < {cfg.min_rows:,} required")
    for label in ("0", "1"):
        if shares[label] < cfg.min_class_share - TOL:
            failures.append(
                f"class {label} share {shares[label]:.3f} < {fmt(cfg.min_class_share)} required"
            )
    if new_constant:
        failures.append(f"constant column(s) {_names(new_constant)}")
    return failures


def _schema_problems(schema_errors: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    if isinstance(schema_errors, (str, bytes, Mapping)):
        raise ValueError(
            f"{_FUNC}: schema_errors must be a sequence of mappings, not a single value"
        )
    out = []
    for i, item in enumerate(schema_errors):
        if not isinstance(item, Mapping) or "field" not in item or "problem" not in item:
            raise ValueError(
                f"{_FUNC}: schema_errors[{i}] must be a mapping with 'field' and 'problem', "
                f"got {item!r}"
            )
        out.append({"field": str(item["field"]), "problem": str(item["problem"])})
    return out


def _n_distinct(series: pd.Series) -> int:
    try:
        return int(series.nunique(dropna=True))
    except TypeError:
        # unhashable cells (lists, dicts): compare their text form instead
        return int(series.dropna().map(repr).nunique())


def _names(columns: list[str], limit: int = 5) -> str:
    shown = ", ".join(columns[:limit])
    return shown + (f" and {len(columns) - limit} more" if len(columns) > limit else "")
