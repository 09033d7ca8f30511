"""Tests for selfheal.validation: the shared input checks and the declared field constraints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from selfheal import validation
from selfheal.drift import DriftConfig
from selfheal.gates import GateConfig


@pytest.mark.parametrize(
    ("y", "kwargs", "message"),
    [
        ([[0, 1]], {}, r"f: y_true must be 1-D, got an array of shape \(1, 2\)"),
        ([], {}, "f: y_true is empty; at least one row is required"),
        ([0, 1], {"n": 3}, "f: y_true has 2 rows but proba has 3; they must match"),
        (["a", "b"], {}, "f: y_true must hold 0/1 labels, got dtype <U1"),
        ([0, 2, 2, -1], {}, r"f: y_true must contain only 0 and 1; found \[-1, 2\]"),
        ([0.0, float("nan")], {}, r"must contain only 0 and 1; found \[nan\]"),
        (pd.Series([0.0, None]), {}, "f: y_true contains missing labels"),
    ],
)
def test_labels_reject_naming_function_and_argument(y: Any, kwargs: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validation.labels(y, func="f", **kwargs)


@pytest.mark.parametrize(
    "y", [[0, 1], [0.0, 1.0], [False, True], np.array([0, 1], dtype=np.int8), pd.Series([0, 1])]
)
def test_labels_accept_any_zero_one_encoding(y: Any) -> None:
    out = validation.labels(y, func="f")
    assert out.dtype == np.int64 and out.tolist() == [0, 1]


def test_labels_may_be_empty_when_allowed() -> None:
    assert validation.labels([], func="f", allow_empty=True).size == 0
    with pytest.raises(ValueError, match="f: y has 0 rows but frame has 2"):
        validation.labels([], func="f", arg="y", n=2, other="frame", allow_empty=True)


@pytest.mark.parametrize(
    ("p", "kwargs", "message"),
    [
        (["a"], {}, r"f: proba must be a 1-D sequence of numbers in \[0, 1\]"),
        ([[0.1]], {}, "f: proba must be 1-D"),
        ([], {}, "f: proba is empty"),
        ([0.1], {"n": 2}, "f: proba has 1 rows but y_true has 2; they must match"),
        ([0.1, float("inf")], {}, "f: proba must be finite; found NaN or infinity"),
        ([0.1, 1.5], {}, r"f: proba must lie in \[0, 1\]; got values in \[0.1, 1.5\]"),
    ],
)
def test_probabilities_reject_naming_function_and_argument(
    p: Any, kwargs: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        validation.probabilities(p, func="f", **kwargs)


@pytest.mark.parametrize("value", [True, "0.5", None, float("nan"), -0.1, 1.1])
def test_unit_number_rejects(value: Any) -> None:
    with pytest.raises(ValueError, match=r"f: t must be a number in \[0, 1\], got"):
        validation.unit_number(value, func="f", arg="t")


def test_unit_number_accepts_numpy_numbers() -> None:
    assert validation.unit_number(np.float32(0.5), func="f", arg="t") == 0.5
    assert validation.unit_number(1, func="f", arg="t") == 1.0


@dataclass(frozen=True)
class _Limits:
    count: int = validation.constraint(1, "int", low=1)
    share: float = validation.constraint(0.5, "number", low=0.0, high=1.0, low_open=True)
    free: float = validation.constraint(0.0, "number")
    cap: float = validation.constraint(0.0, "number", high=1.0, high_open=True)

    def __post_init__(self) -> None:
        validation.check_fields(self)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count": 0}, "_Limits: argument 'count' must be >= 1, got 0"),
        ({"count": 1.0}, "_Limits: argument 'count' must be an integer, got 1.0"),
        ({"count": True}, "_Limits: argument 'count' must be an integer, got True"),
        ({"share": 0.0}, r"_Limits: argument 'share' must be in \(0, 1\], got 0.0"),
        ({"share": "x"}, "_Limits: argument 'share' must be a number, got 'x'"),
        ({"free": float("inf")}, "_Limits: argument 'free' must be finite, got inf"),
        ({"cap": 1.0}, "_Limits: argument 'cap' must be < 1, got 1.0"),
    ],
)
def test_check_fields_names_field_value_and_what_is_allowed(kwargs: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _Limits(**kwargs)


def test_check_fields_accepts_bounds_and_numpy_values() -> None:
    _Limits(count=np.int64(3), share=1.0, free=-5, cap=np.float64(0.99))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_rows": 0}, "GateConfig: argument 'min_rows' must be >= 1, got 0"),
        ({"min_class_share": 0.6}, r"'min_class_share' must be in \[0, 0.5\], got 0.6"),
        ({"bootstrap_confidence": 1.0}, r"'bootstrap_confidence' must be in \(0, 1\)"),
        ({"min_f1_gain": -2.0}, r"'min_f1_gain' must be in \[-1, 1\], got -2.0"),
        ({"max_latency_ratio": 0}, "'max_latency_ratio' must be > 0, got 0"),
    ],
)
def test_gate_config_constraints(kwargs: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GateConfig(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 1.0}, r"DriftConfig: argument 'alpha' must be in \(0, 1\), got 1.0"),
        ({"js_threshold": -0.1}, "argument 'js_threshold' must be >= 0, got -0.1"),
        ({"psi_threshold": float("nan")}, "argument 'psi_threshold' must be finite"),
        ({"min_window": 0}, "argument 'min_window' must be >= 1, got 0"),
        ({"dataset_drift_share": 0.0}, r"'dataset_drift_share' must be in \(0, 1\], got 0.0"),
        ({"ks_exact_max": -1}, "argument 'ks_exact_max' must be >= 0, got -1"),
    ],
)
def test_drift_config_constraints(kwargs: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DriftConfig(**kwargs)
