"""`GateConfig`: the thresholds of the four promotion gates, as declared constraints.

Each field states what it allows (`selfheal.validation.constraint`) and one function checks
them all, so an invalid value raises `ValueError` naming the field, what was passed and what
is allowed, e.g. ``GateConfig: argument 'min_rows' must be >= 1, got 0``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from selfheal.gates.common import plain
from selfheal.validation import check_fields, constraint

__all__ = ["GateConfig", "resolve"]


@dataclass(frozen=True)
class GateConfig:
    """Thresholds for the promotion gates.

    Parameters
    ----------
    min_rows : int
        Minimum number of training rows, >= 1.
    min_class_share : float
        Minimum share of each class (0 and 1) among the training labels, in [0, 0.5].
    min_f1_gain : float
        Minimum challenger F1 minus champion F1 on the holdout, in [-1, 1].
    bootstrap_n : int
        Number of paired bootstrap replicates for the F1 gain interval, >= 1.
    bootstrap_confidence : float
        Coverage of the two-sided percentile interval, in (0, 1); its lower bound must be > 0.
    max_brier_increase : float
        Maximum allowed increase of the Brier score over the reference, in [-1, 1].
    max_slice_f1_drop : float
        Maximum allowed F1 drop on any judged slice of the holdout, in [-1, 1].
    min_slice_rows : int
        Slices with fewer rows are reported but not judged: on a few dozen rows one
        misclassified positive moves F1 by 0.05-0.2, so a verdict would be mostly noise. >= 1.
    max_positive_rate_gap : float
        Maximum absolute gap between the live positive rate and the reference rate, in [0, 1].
    max_latency_ratio : float
        Maximum challenger scoring time per row as a multiple of the champion's, > 0.
    floor_auc : float
        Minimum holdout AUC for a first model (no champion), in [0, 1].
    floor_f1 : float
        Minimum holdout F1 for a first model (no champion), in [0, 1].
    seed : int
        Seed of the bootstrap random generator, >= 0.

    Notes
    -----
    Every float must be a finite real number and every int an integer (bools are neither).
    """

    min_rows: int = constraint(500, "int", low=1)
    # A class share above 0.5 cannot hold for both classes at once.
    min_class_share: float = constraint(0.05, "number", low=0.0, high=0.5)
    min_f1_gain: float = constraint(0.01, "number", low=-1.0, high=1.0)
    bootstrap_n: int = constraint(1000, "int", low=1)
    bootstrap_confidence: float = constraint(
        0.90, "number", low=0.0, high=1.0, low_open=True, high_open=True
    )
    max_brier_increase: float = constraint(0.01, "number", low=-1.0, high=1.0)
    max_slice_f1_drop: float = constraint(0.10, "number", low=-1.0, high=1.0)
    min_slice_rows: int = constraint(30, "int", low=1)
    max_positive_rate_gap: float = constraint(0.15, "number", low=0.0, high=1.0)
    max_latency_ratio: float = constraint(3.0, "number", low=0.0, low_open=True)
    floor_auc: float = constraint(0.6, "number", low=0.0, high=1.0)
    floor_f1: float = constraint(0.3, "number", low=0.0, high=1.0)
    seed: int = constraint(0, "int", low=0)

    def __post_init__(self) -> None:
        check_fields(self)

    def to_dict(self) -> dict[str, Any]:
        """Return the thresholds as a plain dict (for the audit trail)."""
        return {f.name: plain(getattr(self, f.name)) for f in fields(self)}


def resolve(config: GateConfig | None, func: str) -> GateConfig:
    """`config`, or the defaults when it is None; `func` names the gate for the message."""
    if config is None:
        return GateConfig()
    if not isinstance(config, GateConfig):
        raise ValueError(f"{func}: config must be a GateConfig, got {type(config).__name__}")
    return config
