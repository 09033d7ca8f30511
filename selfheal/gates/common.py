"""What every gate shares: `GateResult`, `summarize`, the float slack and input helpers."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from selfheal.validation import unit_number

__all__ = ["GATE_NAMES", "TOL", "GateResult", "fmt", "plain", "result", "summarize"]

GATE_NAMES = ("data_quality", "statistical", "stability", "consistency")

# Threshold comparisons allow this much floating-point slack, so that a gain that is exactly the
# required margin on paper (0.31 - 0.30 vs 0.01) is not rejected by a rounding error.
TOL = 1e-12


@dataclass(frozen=True)
class GateResult:
    """The verdict of one gate.

    Parameters
    ----------
    name : str
        One of `GATE_NAMES`.
    passed : bool
        Whether the challenger passed this gate.
    values : dict
        Measured values, as plain JSON types (None where a value does not apply; never NaN).
    thresholds : dict
        The thresholds that were applied.
    reason : str
        One human-readable sentence with the numbers behind the verdict.
    """

    name: str
    passed: bool
    values: dict[str, Any]
    thresholds: dict[str, Any]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable copy (``json.dumps(..., allow_nan=False)`` accepts it)."""
        return {
            "name": self.name,
            "passed": bool(self.passed),
            "values": plain(self.values),
            "thresholds": plain(self.thresholds),
            "reason": self.reason,
        }


def result(
    name: str, passed: bool, values: dict[str, Any], thresholds: dict[str, Any], reason: str
) -> GateResult:
    """A `GateResult` with its values and thresholds converted to plain JSON types."""
    return GateResult(
        name=name,
        passed=bool(passed),
        values=plain(values),
        thresholds=plain(thresholds),
        reason=reason,
    )


def summarize(results: Sequence[GateResult]) -> dict[str, Any]:
    """Combine gate verdicts into one record for the audit trail.

    Parameters
    ----------
    results : sequence of GateResult
        The verdicts, in the order the gates ran. Must not be empty: an empty list would
        otherwise "pass" without anything having been checked.

    Returns
    -------
    dict
        ``{"passed": bool, "failed": [names], "reasons": ["name: reason", ...],
        "results": [GateResult.to_dict(), ...]}``; ``reasons`` covers every gate, passed or not.
    """
    items = list(results)
    if not items:
        raise ValueError("results must contain at least one GateResult")
    for item in items:
        if not isinstance(item, GateResult):
            raise ValueError(f"results must contain GateResult objects, got {type(item).__name__}")
    return {
        "passed": all(r.passed for r in items),
        "failed": [r.name for r in items if not r.passed],
        "reasons": [f"{r.name}: {r.reason}" for r in items],
        "results": [r.to_dict() for r in items],
    }


def thresholds(threshold: Any, champion_threshold: Any | None, func: str) -> tuple[float, float]:
    """The challenger's and the champion's decision thresholds; the champion's defaults to
    the challenger's."""
    t_new = unit_number(threshold, func=func, arg="threshold")
    if champion_threshold is None:
        return t_new, t_new
    return t_new, unit_number(champion_threshold, func=func, arg="champion_threshold")


def seconds(value: Any, *, func: str, arg: str, positive: bool) -> float:
    """A finite duration in seconds, >= 0 (> 0 when `positive`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise ValueError(f"{func}: {arg} must be a number of seconds, got {value!r}")
    out = float(value)
    if not math.isfinite(out) or out < 0.0 or (positive and out == 0.0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{func}: {arg} must be finite and {bound}, got {value!r}")
    return out


def fmt(x: float) -> str:
    """A threshold as the shortest text (``0.01``, ``3``)."""
    return f"{x:g}"


def plain(value: Any) -> Any:
    """Convert to plain JSON types: numpy scalars to Python, NaN/inf to None, tuples to lists."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        out = float(value)
        return out if math.isfinite(out) else None
    return value
