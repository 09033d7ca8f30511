"""Exact behaviour of selfheal.gates (issue 16): reason texts, values and boundaries.

Every test runs a gate on a small hand-made input and compares the whole result - the reason
an operator reads, the values and thresholds recorded in the audit trail, and the verdict at
the exact edge of each rule (``count >= min_slice_rows``, ``share >= min_class_share``, the
floors, the F1 margin, the Brier and latency tolerances). Bootstrap intervals are recomputed
with `selfheal.binary_metrics.paired_f1_gain_interval` (not a gate module), so a wrong
replicate count, seed or coverage passed by a gate shows up as a different interval.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from selfheal.binary_metrics import brier, f1, paired_f1_gain_interval, roc_auc
from selfheal.gates import (
    GATE_NAMES,
    GateConfig,
    GateResult,
    consistency_gate,
    data_quality_gate,
    stability_gate,
    statistical_gate,
    summarize,
)
from selfheal.gates.common import TOL, fmt, plain, result, seconds, thresholds
from selfheal.gates.config import resolve
from selfheal.gates.slices import holdout_slices

# ---------------------------------------------------------------------------------------------
# common: GateResult, result, summarize, plain, fmt, seconds, thresholds
# ---------------------------------------------------------------------------------------------


def test_gate_names_and_tolerance() -> None:
    assert GATE_NAMES == ("data_quality", "statistical", "stability", "consistency")
    assert TOL == 1e-12


def test_plain_converts_to_json_types() -> None:
    out = plain(
        {
            1: np.int64(3),
            "f": np.float32(0.5),
            "nan": float("nan"),
            "inf": np.float64(np.inf),
            "b": np.bool_(True),
            "t": (1, np.int32(2)),
            "a": np.array([1.5, np.nan]),
            "s": "text",
            "n": None,
        }
    )
    assert out == {
        "1": 3,
        "f": 0.5,
        "nan": None,
        "inf": None,
        "b": True,
        "t": [1, 2],
        "a": [1.5, None],
        "s": "text",
        "n": None,
    }
    assert type(out["1"]) is int
    assert type(out["f"]) is float
    assert type(out["b"]) is bool
    assert type(out["t"][1]) is int
    assert plain(True) is True and plain(np.bool_(False)) is False
    assert type(plain(np.uint8(7))) is int
    assert plain(-math.inf) is None


def test_result_and_to_dict_are_plain() -> None:
    r = result("stability", np.bool_(True), {"x": np.float64(0.25)}, {"t": (1, 2)}, "why")
    assert r == GateResult("stability", True, {"x": 0.25}, {"t": [1, 2]}, "why")
    assert r.passed is True
    raw = GateResult("consistency", np.bool_(False), {"v": np.nan}, {"k": np.int64(2)}, "no")
    assert raw.to_dict() == {
        "name": "consistency",
        "passed": False,
        "values": {"v": None},
        "thresholds": {"k": 2},
        "reason": "no",
    }
    assert raw.to_dict()["passed"] is False


def test_summarize_exact_record() -> None:
    ok = GateResult("data_quality", True, {}, {}, "fine")
    bad = GateResult("statistical", False, {"g": 1}, {}, "worse")
    assert summarize([ok, bad]) == {
        "passed": False,
        "failed": ["statistical"],
        "reasons": ["data_quality: fine", "statistical: worse"],
        "results": [ok.to_dict(), bad.to_dict()],
    }
    assert summarize((ok,))["passed"] is True
    assert summarize((ok,))["failed"] == []
    with pytest.raises(ValueError, match=r"^results must contain at least one GateResult$"):
        summarize([])
    with pytest.raises(ValueError, match=r"^results must contain GateResult objects, got dict$"):
        summarize([ok, {"name": "x"}])  # type: ignore[list-item]


def test_fmt_is_the_shortest_text() -> None:
    assert fmt(0.01) == "0.01"
    assert fmt(3.0) == "3"
    assert fmt(0.1 + 0.2) == "0.3"


@pytest.mark.parametrize(
    ("value", "positive", "expected"),
    [(0, False, 0.0), (0.0, False, 0.0), (np.float32(0.5), False, 0.5), (2, True, 2.0)],
)
def test_seconds_accepts(value: Any, positive: bool, expected: float) -> None:
    out = seconds(value, func="f", arg="a", positive=positive)
    assert out == expected and type(out) is float


@pytest.mark.parametrize(
    ("value", "positive", "message"),
    [
        (True, False, "f: a must be a number of seconds, got True"),
        ("1", False, "f: a must be a number of seconds, got '1'"),
        (None, True, "f: a must be a number of seconds, got None"),
        (float("nan"), False, "f: a must be finite and >= 0, got nan"),
        (float("inf"), True, "f: a must be finite and > 0, got inf"),
        (-1e-9, False, "f: a must be finite and >= 0, got -1e-09"),
        (0.0, True, "f: a must be finite and > 0, got 0.0"),
        (0, True, "f: a must be finite and > 0, got 0"),
    ],
)
def test_seconds_rejects(value: Any, positive: bool, message: str) -> None:
    with pytest.raises(ValueError) as err:
        seconds(value, func="f", arg="a", positive=positive)
    assert str(err.value) == message


def test_thresholds_default_the_champion_to_the_challenger() -> None:
    assert thresholds(0.3, None, "g") == (0.3, 0.3)
    assert thresholds(1, 0, "g") == (1.0, 0.0)
    with pytest.raises(ValueError) as err:
        thresholds(1.5, None, "g")
    assert str(err.value) == "g: threshold must be a number in [0, 1], got 1.5"
    with pytest.raises(ValueError) as err:
        thresholds(0.5, -0.5, "g")
    assert str(err.value) == "g: champion_threshold must be a number in [0, 1], got -0.5"


# ---------------------------------------------------------------------------------------------
# config: GateConfig's declared ranges, resolve
# ---------------------------------------------------------------------------------------------

# (field, the extreme values it admits, values just outside with the message's allowed range)
_RANGES: list[tuple[str, list[Any], list[Any], str]] = [
    ("min_rows", [1, np.int64(1)], [0, -1], ">= 1"),
    ("min_class_share", [0, 0.0, 0.5], [-1e-9, 0.5000001], "in [0, 0.5]"),
    ("min_f1_gain", [-1, -1.0, 1.0], [-1.0000001, 1.0000001], "in [-1, 1]"),
    ("bootstrap_n", [1], [0], ">= 1"),
    ("bootstrap_confidence", [1e-9, 0.999999], [0.0, 1.0, -0.1, 1.1], "in (0, 1)"),
    ("max_brier_increase", [-1.0, 1.0], [-1.0000001, 1.0000001], "in [-1, 1]"),
    ("max_slice_f1_drop", [-1.0, 1.0], [-1.0000001, 1.0000001], "in [-1, 1]"),
    ("min_slice_rows", [1], [0], ">= 1"),
    ("max_positive_rate_gap", [0.0, 1.0], [-1e-9, 1.0000001], "in [0, 1]"),
    ("max_latency_ratio", [1e-9, 1e9], [0.0, -1.0], "> 0"),
    ("floor_auc", [0.0, 1.0], [-1e-9, 1.0000001], "in [0, 1]"),
    ("floor_f1", [0.0, 1.0], [-1e-9, 1.0000001], "in [0, 1]"),
    ("seed", [0, 2**40], [-1], ">= 0"),
]


@pytest.mark.parametrize(("field", "good", "bad", "allowed"), _RANGES)
def test_config_ranges_are_exact(field: str, good: list[Any], bad: list[Any], allowed: str) -> None:
    for value in good:
        assert getattr(GateConfig(**{field: value}), field) == value
    for value in bad:
        with pytest.raises(ValueError) as err:
            GateConfig(**{field: value})
        assert str(err.value) == f"GateConfig: argument {field!r} must be {allowed}, got {value!r}"


@pytest.mark.parametrize("field", ["min_rows", "bootstrap_n", "min_slice_rows", "seed"])
def test_config_int_fields_refuse_floats(field: str) -> None:
    with pytest.raises(ValueError) as err:
        GateConfig(**{field: 2.0})
    assert str(err.value) == f"GateConfig: argument {field!r} must be an integer, got 2.0"


@pytest.mark.parametrize(
    "field",
    [
        "min_class_share",
        "min_f1_gain",
        "bootstrap_confidence",
        "max_brier_increase",
        "max_slice_f1_drop",
        "max_positive_rate_gap",
        "max_latency_ratio",
        "floor_auc",
        "floor_f1",
    ],
)
def test_config_number_fields_refuse_non_numbers_and_nan(field: str) -> None:
    with pytest.raises(ValueError) as err:
        GateConfig(**{field: "0.5"})
    assert str(err.value) == f"GateConfig: argument {field!r} must be a number, got '0.5'"
    with pytest.raises(ValueError) as err:
        GateConfig(**{field: float("nan")})
    assert str(err.value) == f"GateConfig: argument {field!r} must be finite, got nan"


def test_resolve() -> None:
    assert resolve(None, "g") == GateConfig()
    cfg = GateConfig(min_rows=3)
    assert resolve(cfg, "g") is cfg
    with pytest.raises(ValueError) as err:
        resolve({"min_rows": 3}, "stability_gate")  # type: ignore[arg-type]
    assert str(err.value) == "stability_gate: config must be a GateConfig, got dict"


def test_config_to_dict_is_plain() -> None:
    d = GateConfig(min_rows=np.int64(7), floor_auc=np.float64(0.7)).to_dict()
    assert d["min_rows"] == 7 and type(d["min_rows"]) is int
    assert d["floor_auc"] == 0.7 and type(d["floor_auc"]) is float
    assert list(d) == [
        "min_rows",
        "min_class_share",
        "min_f1_gain",
        "bootstrap_n",
        "bootstrap_confidence",
        "max_brier_increase",
        "max_slice_f1_drop",
        "min_slice_rows",
        "max_positive_rate_gap",
        "max_latency_ratio",
        "floor_auc",
        "floor_f1",
        "seed",
    ]


# ---------------------------------------------------------------------------------------------
# data_quality_gate
# ---------------------------------------------------------------------------------------------

_Y10 = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0])  # class shares 0.7 / 0.3 exactly


def _frame10() -> pd.DataFrame:
    return pd.DataFrame({"a": np.arange(10.0), "b": list("abcdefghij")})


def test_data_quality_passes_exactly_at_min_rows_and_min_class_share() -> None:
    cfg = GateConfig(min_rows=10, min_class_share=0.3)
    r = data_quality_gate(_frame10(), _Y10, config=cfg)
    assert r == GateResult(
        "data_quality",
        True,
        {
            "n_rows": 10,
            "n_columns": 2,
            "class_shares": {"0": 0.7, "1": 0.3},
            "n_schema_errors": 0,
            "schema_errors": [],
            "constant_columns": [],
            "known_constant_columns": [],
            "all_null_columns": [],
        },
        {"min_rows": 10, "min_class_share": 0.3},
        "Training data accepted: 10 rows (>= 10), class shares 0.700/0.300 (each >= 0.3), "
        "no schema errors, and none of 2 columns is constant or all-null.",
    )
    assert r.passed is True


def test_data_quality_one_row_short_and_a_share_just_below() -> None:
    r = data_quality_gate(_frame10(), _Y10, config=GateConfig(min_rows=11, min_class_share=0.31))
    assert r.passed is False
    assert r.reason == (
        "Training data rejected: 10 rows < 11 required; class 1 share 0.300 < 0.31 required."
    )
    r = data_quality_gate(
        _frame10(), 1 - _Y10, config=GateConfig(min_rows=10, min_class_share=0.31)
    )
    assert r.reason == "Training data rejected: class 0 share 0.300 < 0.31 required."


def test_data_quality_class_share_has_float_slack() -> None:
    # 0.3 is short of the required share by 1e-13, less than the 1e-12 slack: accepted
    cfg = GateConfig(min_rows=1, min_class_share=0.3 + 1e-13)
    assert data_quality_gate(_frame10(), _Y10, config=cfg).passed is True
    # short by 2e-12: rejected
    cfg = GateConfig(min_rows=1, min_class_share=0.3 + 2e-12)
    assert data_quality_gate(_frame10(), _Y10, config=cfg).passed is False


def test_data_quality_thousands_separators() -> None:
    n = 1500
    frame = pd.DataFrame({"a": np.arange(n, dtype=float)})
    y = np.arange(n) % 2
    r = data_quality_gate(frame, y, config=GateConfig(min_rows=2000))
    assert r.reason == "Training data rejected: 1,500 rows < 2,000 required."
    r = data_quality_gate(frame, y, config=GateConfig(min_rows=1000))
    assert r.reason.startswith("Training data accepted: 1,500 rows (>= 1,000), ")


def test_data_quality_empty_frame() -> None:
    r = data_quality_gate(_frame10().iloc[:0], [], config=GateConfig(min_rows=1))
    assert r.values["class_shares"] == {"0": 0.0, "1": 0.0}
    assert r.values["all_null_columns"] == ["a", "b"]
    assert r.reason == (
        "Training data rejected: 0 rows < 1 required; class 0 share 0.000 < 0.05 required; "
        "class 1 share 0.000 < 0.05 required; all-null column(s) a, b."
    )


def test_data_quality_every_failure_in_order() -> None:
    frame = _frame10().assign(c=5, d=np.nan, e=[None] * 10, k=1)
    errors = [
        {"field": "a", "problem": "missing", "row": 3},
        {"field": 7, "problem": 1.5},
        {"field": "c", "problem": "bad"},
    ]
    r = data_quality_gate(
        frame,
        np.r_[1, np.zeros(9, int)],
        schema_errors=errors,
        config=GateConfig(min_rows=11, min_class_share=0.2),
        known_constant=["k"],
    )
    assert r.passed is False
    assert r.reason == (
        "Training data rejected: 3 schema error(s) (a: missing, 7: 1.5 and 1 more); "
        "10 rows < 11 required; class 1 share 0.100 < 0.2 required; constant column(s) c; "
        "all-null column(s) d, e."
    )
    assert r.values == {
        "n_rows": 10,
        "n_columns": 6,
        "class_shares": {"0": 0.9, "1": 0.1},
        "n_schema_errors": 3,
        "schema_errors": [
            {"field": "a", "problem": "missing"},
            {"field": "7", "problem": "1.5"},
            {"field": "c", "problem": "bad"},
        ],
        "constant_columns": ["c", "k"],
        "known_constant_columns": ["k"],
        "all_null_columns": ["d", "e"],
    }


def test_data_quality_lists_at_most_two_schema_errors_in_the_reason() -> None:
    cfg = GateConfig(min_rows=1)
    two = [{"field": "a", "problem": "p"}, {"field": "b", "problem": "q"}]
    r = data_quality_gate(_frame10(), _Y10, schema_errors=two, config=cfg)
    assert r.reason == "Training data rejected: 2 schema error(s) (a: p, b: q)."
    one = two[:1]
    r = data_quality_gate(_frame10(), _Y10, schema_errors=one, config=cfg)
    assert r.reason == "Training data rejected: 1 schema error(s) (a: p)."
    six = [{"field": f"f{i}", "problem": "p"} for i in range(6)]
    r = data_quality_gate(_frame10(), _Y10, schema_errors=six, config=cfg)
    assert r.reason == "Training data rejected: 6 schema error(s) (f0: p, f1: p and 4 more)."
    assert r.values["n_schema_errors"] == 6
    assert [e["field"] for e in r.values["schema_errors"]] == ["f0", "f1", "f2", "f3", "f4"]


def test_data_quality_names_at_most_five_columns() -> None:
    cfg = GateConfig(min_rows=1)
    five = _frame10().assign(**{f"c{i}": 1 for i in range(5)})
    r = data_quality_gate(five, _Y10, config=cfg)
    assert r.reason == "Training data rejected: constant column(s) c0, c1, c2, c3, c4."
    six = five.assign(c5=1, c6=2)
    r = data_quality_gate(six, _Y10, config=cfg)
    assert r.reason == ("Training data rejected: constant column(s) c0, c1, c2, c3, c4 and 2 more.")
    nulls = _frame10().assign(**{f"n{i}": np.nan for i in range(6)})
    r = data_quality_gate(nulls, _Y10, config=cfg)
    assert r.reason == "Training data rejected: all-null column(s) n0, n1, n2, n3, n4 and 1 more."


def test_data_quality_counts_distinct_values_ignoring_nulls_and_unhashable_cells() -> None:
    cfg = GateConfig(min_rows=1)
    frame = _frame10().assign(
        same_lists=[[1, 2]] * 9 + [None],
        lists=[[i] for i in range(10)],
        two=[1.0] * 9 + [2.0],
        one_and_nan=[3.0] + [np.nan] * 9,
    )
    r = data_quality_gate(frame, _Y10, config=cfg)
    assert r.values["constant_columns"] == ["same_lists", "one_and_nan"]
    assert r.values["all_null_columns"] == []
    unhashable_nulls = pd.DataFrame({"a": np.arange(10), "u": [None] * 9 + [{"k": 1}]})
    r = data_quality_gate(unhashable_nulls, _Y10, config=cfg)
    assert r.values["constant_columns"] == ["u"]
    with_number_names = pd.DataFrame({0: np.arange(10), 1: 4})
    r = data_quality_gate(with_number_names, _Y10, config=cfg)
    assert r.values["constant_columns"] == ["1"]
    assert r.reason == "Training data rejected: constant column(s) 1."


def test_data_quality_known_constant_columns_only_are_reported() -> None:
    frame = _frame10().assign(k=1, j=2)
    r = data_quality_gate(frame, _Y10, config=GateConfig(min_rows=1), known_constant=("k", "j"))
    assert r.passed is True
    assert r.values["constant_columns"] == ["k", "j"]
    assert r.values["known_constant_columns"] == ["k", "j"]
    assert r.reason.endswith("no schema errors, and none of 4 columns is constant or all-null.")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"frame": np.zeros((10, 2))},
            "data_quality_gate: frame must be a pandas DataFrame, got ndarray",
        ),
        (
            {"y": np.zeros(9, int)},
            "data_quality_gate: y has 9 rows but frame has 10; they must match",
        ),
        (
            {"schema_errors": "bad"},
            "data_quality_gate: schema_errors must be a sequence of mappings, not a single value",
        ),
        (
            {"schema_errors": b"bad"},
            "data_quality_gate: schema_errors must be a sequence of mappings, not a single value",
        ),
        (
            {"schema_errors": {"field": "a", "problem": "b"}},
            "data_quality_gate: schema_errors must be a sequence of mappings, not a single value",
        ),
        (
            {"schema_errors": [{"field": "a", "problem": "b"}, {"field": "a"}]},
            "data_quality_gate: schema_errors[1] must be a mapping with 'field' and 'problem', "
            "got {'field': 'a'}",
        ),
        (
            {"schema_errors": [{"problem": "b"}]},
            "data_quality_gate: schema_errors[0] must be a mapping with 'field' and 'problem', "
            "got {'problem': 'b'}",
        ),
        (
            {"schema_errors": [("field", "problem")]},
            "data_quality_gate: schema_errors[0] must be a mapping with 'field' and 'problem', "
            "got ('field', 'problem')",
        ),
        (
            {"config": GateConfig(min_rows=1).to_dict()},
            "data_quality_gate: config must be a GateConfig, got dict",
        ),
    ],
)
def test_data_quality_bad_input_messages(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"frame": _frame10(), "y": _Y10, **kwargs}
    with pytest.raises(ValueError) as err:
        data_quality_gate(args.pop("frame"), args.pop("y"), **args)
    assert str(err.value) == message


# ---------------------------------------------------------------------------------------------
# consistency_gate
# ---------------------------------------------------------------------------------------------


def test_consistency_passes_exactly_at_the_rate_gap_and_latency_limits() -> None:
    r = consistency_gate(
        np.array([0.1, 0.5, 0.9, 0.3]),
        observed_label_rate=0.5,
        challenger_seconds_per_row=0.003,
        champion_seconds_per_row=0.001,
        champion_live_proba=[0.2, 0.6, 0.4, 0.2],
        threshold=0.5,
        champion_threshold=0.4,
        config=GateConfig(max_positive_rate_gap=0.0, max_latency_ratio=3),
    )
    assert r == GateResult(
        "consistency",
        True,
        {
            "n": 4,
            "n_invalid": 0,
            "n_nonfinite": 0,
            "positive_rate": 0.5,
            "reference_rate": 0.5,
            "reference": "observed label rate",
            "positive_rate_gap": 0.0,
            "champion_positive_rate": 0.5,
            "challenger_seconds_per_row": 0.003,
            "champion_seconds_per_row": 0.001,
            "latency_ratio": 0.003 / 0.001,
            "agreement": 1.0,
            "skipped": [],
        },
        {
            "max_positive_rate_gap": 0.0,
            "max_latency_ratio": 3,
            "threshold": 0.5,
            "champion_threshold": 0.4,
        },
        "Live outputs consistent on 4 rows: all 4 outputs are finite and in [0, 1]; "
        "positive rate 0.500 vs observed label rate 0.500 (gap 0.000 <= 0); "
        "scoring 0.003 s/row = 3.00x champion's 0.001 (<= 3x allowed); "
        "agreement with champion 100.0% (informational).",
    )


def test_consistency_fails_just_beyond_the_rate_gap_and_latency_limits() -> None:
    r = consistency_gate(
        [0.0, 1.0, 1.0, 1.0],
        observed_label_rate=0.5,
        challenger_seconds_per_row=2.5,
        champion_seconds_per_row=1,
        config=GateConfig(max_positive_rate_gap=0.2, max_latency_ratio=2.4),
    )
    assert r.passed is False
    assert r.reason == (
        "Live outputs rejected on 4 rows: positive rate 0.750 vs observed label rate 0.500 "
        "(gap 0.250 > 0.2); scoring 2.5 s/row = 2.50x champion's 1 (> 2.4x allowed); "
        "all 4 outputs are finite and in [0, 1]."
    )
    assert r.values["positive_rate_gap"] == 0.25
    assert r.values["latency_ratio"] == 2.5
    assert r.values["skipped"] == []
    assert r.thresholds["champion_threshold"] is None


def test_consistency_limits_have_float_slack() -> None:
    cfg = GateConfig(max_positive_rate_gap=0.25 - 5e-13, max_latency_ratio=2.5 - 5e-13)
    kwargs: dict[str, Any] = {"observed_label_rate": 0.5, "config": cfg}
    r = consistency_gate(
        [0.0, 1.0, 1.0, 1.0], challenger_seconds_per_row=2.5, champion_seconds_per_row=1, **kwargs
    )
    assert r.passed is True
    cfg = GateConfig(max_positive_rate_gap=0.25 - 5e-12, max_latency_ratio=2.5)
    r = consistency_gate(
        [0.0, 1.0, 1.0, 1.0],
        challenger_seconds_per_row=2.5,
        champion_seconds_per_row=1,
        observed_label_rate=0.5,
        config=cfg,
    )
    assert r.passed is False and "(gap 0.250 > 0.25)" in r.reason
    cfg = GateConfig(max_positive_rate_gap=0.25, max_latency_ratio=2.5 - 5e-12)
    r = consistency_gate(
        [0.0, 1.0, 1.0, 1.0],
        challenger_seconds_per_row=2.5,
        champion_seconds_per_row=1,
        observed_label_rate=0.5,
        config=cfg,
    )
    assert r.passed is False and "(> 2.5x allowed)" in r.reason


def test_consistency_invalid_outputs_and_skipped_checks() -> None:
    r = consistency_gate(
        [np.nan, 1.5, -0.1, 0.7],
        observed_label_rate=None,
        challenger_seconds_per_row=0,
        champion_seconds_per_row=None,
    )
    assert r == GateResult(
        "consistency",
        False,
        {
            "n": 4,
            "n_invalid": 3,
            "n_nonfinite": 1,
            "positive_rate": 1.0,
            "reference_rate": None,
            "reference": None,
            "positive_rate_gap": None,
            "champion_positive_rate": None,
            "challenger_seconds_per_row": 0.0,
            "champion_seconds_per_row": None,
            "latency_ratio": None,
            "agreement": None,
            "skipped": ["positive_rate", "latency"],
        },
        {
            "max_positive_rate_gap": 0.15,
            "max_latency_ratio": 3.0,
            "threshold": 0.5,
            "champion_threshold": None,
        },
        "Live outputs rejected on 4 rows: 3 of 4 outputs are not finite probabilities in "
        "[0, 1] (1 non-finite); positive-rate check skipped (no observed label rate and no "
        "champion); latency check skipped (no champion timing).",
    )


def test_consistency_with_no_valid_output() -> None:
    r = consistency_gate(
        [np.nan, np.inf],
        observed_label_rate=0.2,
        challenger_seconds_per_row=0,
        champion_seconds_per_row=None,
        champion_live_proba=[0.1, 0.9],
    )
    assert r.passed is False
    assert r.values["positive_rate"] is None
    assert r.values["positive_rate_gap"] is None
    assert r.values["agreement"] is None
    assert r.values["champion_positive_rate"] == 0.5
    assert r.values["reference_rate"] == 0.2
    assert r.values["skipped"] == ["latency"]
    assert r.thresholds["champion_threshold"] == 0.5
    assert r.reason == (
        "Live outputs rejected on 2 rows: 2 of 2 outputs are not finite probabilities in "
        "[0, 1] (2 non-finite); positive rate cannot be computed (no valid output); "
        "latency check skipped (no champion timing)."
    )


def test_consistency_falls_back_to_the_champion_rate_on_valid_rows_only() -> None:
    r = consistency_gate(
        [np.nan, 0.7, 0.2, 0.6],
        observed_label_rate=None,
        challenger_seconds_per_row=1e-4,
        champion_seconds_per_row=np.float64(1e-3),
        champion_live_proba=[0.9, 0.9, 0.9, 0.55],
        champion_threshold=0.6,
        config=GateConfig(max_positive_rate_gap=0.1),
    )
    assert r.values["positive_rate"] == pytest.approx(2 / 3)
    assert r.values["champion_positive_rate"] == 0.75
    assert r.values["reference"] == "champion live positive rate"
    assert r.values["agreement"] == pytest.approx(1 / 3)
    assert r.values["latency_ratio"] == pytest.approx(0.1)
    assert r.values["skipped"] == []
    assert r.thresholds["champion_threshold"] == 0.6
    assert r.reason == (
        "Live outputs rejected on 4 rows: 1 of 4 outputs are not finite probabilities in "
        "[0, 1] (1 non-finite); positive rate 0.667 vs champion live positive rate 0.750 "
        "(gap 0.083 <= 0.1); scoring 0.0001 s/row = 0.10x champion's 0.001 "
        "(<= 3x allowed); agreement with champion 33.3% (informational)."
    )


def test_consistency_observed_rate_wins_over_the_champion_rate() -> None:
    r = consistency_gate(
        [0.5, 0.5, 0.0, 0.0],
        observed_label_rate=0,
        challenger_seconds_per_row=1,
        champion_seconds_per_row=None,
        champion_live_proba=[0.0, 0.0, 0.0, 0.0],
        threshold=0.5,
        config=GateConfig(max_positive_rate_gap=0.5),
    )
    assert r.values["reference"] == "observed label rate"
    assert r.values["reference_rate"] == 0.0
    assert r.values["agreement"] == 0.5
    assert r.passed is True
    assert r.reason == (
        "Live outputs consistent on 4 rows: all 4 outputs are finite and in [0, 1]; "
        "positive rate 0.500 vs observed label rate 0.000 (gap 0.500 <= 0.5); "
        "latency check skipped (no champion timing); agreement with champion 50.0% "
        "(informational)."
    )


def test_consistency_thousands_separators() -> None:
    p = np.r_[np.full(1200, 0.2), [2.0]]
    r = consistency_gate(
        p, observed_label_rate=0.0, challenger_seconds_per_row=0, champion_seconds_per_row=None
    )
    assert r.reason.startswith(
        "Live outputs rejected on 1,201 rows: 1 of 1,201 outputs are not finite probabilities"
    )
    r = consistency_gate(
        p[:-1], observed_label_rate=0.0, challenger_seconds_per_row=0, champion_seconds_per_row=None
    )
    assert r.reason.startswith(
        "Live outputs consistent on 1,200 rows: all 1,200 outputs are finite and in [0, 1]; "
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"live_challenger_proba": []},
            "consistency_gate: live_challenger_proba is empty; with no live rows run this gate "
            "on holdout outputs",
        ),
        (
            {"live_challenger_proba": [[0.5]]},
            "consistency_gate: live_challenger_proba must be 1-D, got an array of shape (1, 1)",
        ),
        (
            {"observed_label_rate": 1.5},
            "consistency_gate: observed_label_rate must be a number in [0, 1], got 1.5",
        ),
        (
            {"challenger_seconds_per_row": -1},
            "consistency_gate: challenger_seconds_per_row must be finite and >= 0, got -1",
        ),
        (
            {"champion_seconds_per_row": 0},
            "consistency_gate: champion_seconds_per_row must be finite and > 0, got 0",
        ),
        (
            {"champion_live_proba": [0.5]},
            "consistency_gate: champion_live_proba has 1 rows but live_challenger_proba has 2; "
            "they must match",
        ),
        (
            {"threshold": 2},
            "consistency_gate: threshold must be a number in [0, 1], got 2",
        ),
        (
            {"champion_threshold": True},
            "consistency_gate: champion_threshold must be a number in [0, 1], got True",
        ),
        ({"config": 3}, "consistency_gate: config must be a GateConfig, got int"),
    ],
)
def test_consistency_bad_input_messages(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {
        "live_challenger_proba": [0.2, 0.8],
        "observed_label_rate": 0.5,
        "challenger_seconds_per_row": 1.0,
        "champion_seconds_per_row": 1.0,
        **kwargs,
    }
    with pytest.raises(ValueError) as err:
        consistency_gate(args.pop("live_challenger_proba"), **args)
    assert str(err.value) == message


# ---------------------------------------------------------------------------------------------
# statistical_gate
# ---------------------------------------------------------------------------------------------

_Y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
# challenger: TP 3, FP 1, FN 1 -> F1 0.75, AUC 23/24; champion: TP 1, FP 2, FN 3 -> F1 2/7
_NEW = np.array([0.9, 0.8, 0.7, 0.2, 0.6, 0.1, 0.1, 0.1, 0.1, 0.1])
_OLD = np.array([0.9, 0.4, 0.3, 0.2, 0.6, 0.7, 0.1, 0.1, 0.1, 0.1])
_Y50, _NEW50, _OLD50 = np.tile(_Y, 5), np.tile(_NEW, 5), np.tile(_OLD, 5)


def _ci(y: np.ndarray, new: np.ndarray, old: np.ndarray, cfg: GateConfig) -> tuple[float, float]:
    return paired_f1_gain_interval(
        y,
        new >= 0.5,
        old >= 0.5,
        n_boot=cfg.bootstrap_n,
        seed=cfg.seed,
        alpha=1.0 - cfg.bootstrap_confidence,
    )


def test_statistical_first_model_passes_exactly_at_the_floors() -> None:
    cfg = GateConfig(floor_auc=23 / 24, floor_f1=0.75)
    r = statistical_gate(_Y, _NEW, None, config=cfg)
    assert r == GateResult(
        "statistical",
        True,
        {
            "mode": "floors",
            "n": 10,
            "n_positive": 4,
            "challenger_f1": 0.75,
            "champion_f1": None,
            "gain": None,
            "ci_low": None,
            "ci_high": None,
            "challenger_auc": 23 / 24,
            "champion_auc": None,
        },
        {"floor_auc": 23 / 24, "floor_f1": 0.75, "threshold": 0.5},
        "No champion, so judged against absolute first-model floors: AUC 0.958 >= 0.958333 and "
        "F1 0.750 >= 0.75 (n=10).",
    )


def test_statistical_first_model_floors_have_float_slack() -> None:
    cfg = GateConfig(floor_auc=23 / 24 + 5e-13, floor_f1=0.75 + 5e-13)
    assert statistical_gate(_Y, _NEW, None, config=cfg).passed is True
    r = statistical_gate(_Y, _NEW, None, config=GateConfig(floor_auc=23 / 24 + 5e-12))
    assert r.passed is False
    assert "AUC 0.958 < 0.958333 and F1 0.750 >= 0.3" in r.reason
    r = statistical_gate(_Y, _NEW, None, config=GateConfig(floor_f1=0.75 + 5e-12))
    assert r.passed is False
    assert "AUC 0.958 >= 0.6 and F1 0.750 < 0.75" in r.reason


def test_statistical_first_model_below_each_floor() -> None:
    r = statistical_gate(_Y, _OLD, None)
    assert r.passed is False
    assert r.reason == (
        "No champion, so judged against absolute first-model floors: AUC 0.750 >= 0.6 and "
        "F1 0.286 < 0.3 (n=10)."
    )
    r = statistical_gate(_Y, _OLD, None, config=GateConfig(floor_auc=0.8, floor_f1=0.2))
    assert r.passed is False
    assert r.reason == (
        "No champion, so judged against absolute first-model floors: AUC 0.750 < 0.8 and "
        "F1 0.286 >= 0.2 (n=10)."
    )


def test_statistical_first_model_single_class() -> None:
    r = statistical_gate(np.zeros(1200, int), np.full(1200, 0.7), None)
    assert r.passed is False
    assert r.values["challenger_auc"] is None
    assert r.values["mode"] == "floors"
    assert r.reason == (
        "No champion, and the holdout of 1,200 rows has a single class, so AUC is undefined "
        "and the first-model floors cannot be checked."
    )


@pytest.mark.parametrize("label", [0, 1])
def test_statistical_champion_single_class(label: int) -> None:
    y = np.full(1200, label)
    r = statistical_gate(y, np.full(1200, 0.7), np.full(1200, 0.2))
    assert r.passed is False
    assert r.values["ci_low"] is None and r.values["ci_high"] is None
    f1_new = 1.0 if label else 0.0
    assert r.values["gain"] == f1_new
    assert r.reason == (
        "The holdout of 1,200 rows has a single class, so F1 cannot tell the models apart "
        f"(challenger F1 {f1_new:.3f}, champion F1 0.000)."
    )


def test_statistical_champion_passes() -> None:
    cfg = GateConfig(bootstrap_n=200)
    low, high = _ci(_Y50, _NEW50, _OLD50, cfg)
    assert (round(low, 3), round(high, 3)) == (0.282, 0.626)
    r = statistical_gate(_Y50, _NEW50, _OLD50, config=cfg)
    assert r == GateResult(
        "statistical",
        True,
        {
            "mode": "champion",
            "n": 50,
            "n_positive": 20,
            "challenger_f1": 0.75,
            "champion_f1": 2 / 7,
            "gain": 0.75 - 2 / 7,
            "ci_low": low,
            "ci_high": high,
            "challenger_auc": 23 / 24,
            "champion_auc": 0.75,
        },
        {
            "min_f1_gain": 0.01,
            "bootstrap_n": 200,
            "bootstrap_confidence": 0.9,
            "seed": 0,
            "threshold": 0.5,
            "champion_threshold": 0.5,
        },
        "F1 gain +0.464 >= 0.01 required and 90% CI [+0.282, +0.626] is above 0 "
        "(challenger F1 0.750 vs champion 0.286, n=50).",
    )


def test_statistical_bootstrap_uses_the_configured_coverage_replicates_and_seed() -> None:
    cfg = GateConfig(bootstrap_n=150, bootstrap_confidence=0.95, seed=3)
    low, high = _ci(_Y50, _NEW50, _OLD50, cfg)
    r = statistical_gate(_Y50, _NEW50, _OLD50, config=cfg)
    assert (r.values["ci_low"], r.values["ci_high"]) == (low, high)
    assert r.reason == (
        f"F1 gain +0.464 >= 0.01 required and 95% CI [{low:+.3f}, {high:+.3f}] is above 0 "
        "(challenger F1 0.750 vs champion 0.286, n=50)."
    )
    assert r.thresholds["bootstrap_n"] == 150
    assert r.thresholds["seed"] == 3


def test_statistical_gain_exactly_at_the_margin_passes() -> None:
    gain = 0.75 - 2 / 7
    assert statistical_gate(
        _Y50, _NEW50, _OLD50, config=GateConfig(bootstrap_n=200, min_f1_gain=gain)
    ).passed
    assert statistical_gate(
        _Y50, _NEW50, _OLD50, config=GateConfig(bootstrap_n=200, min_f1_gain=gain + 5e-13)
    ).passed
    r = statistical_gate(
        _Y50, _NEW50, _OLD50, config=GateConfig(bootstrap_n=200, min_f1_gain=gain + 5e-12)
    )
    assert r.passed is False


def test_statistical_gain_below_the_margin() -> None:
    r = statistical_gate(_Y50, _NEW50, _OLD50, config=GateConfig(bootstrap_n=200, min_f1_gain=0.5))
    assert r.passed is False
    assert r.reason == (
        "F1 gain +0.464 < 0.5 required (90% CI [+0.282, +0.626]; challenger F1 0.750 vs "
        "champion 0.286, n=50)."
    )


def test_statistical_interval_touching_zero_does_not_exclude_it() -> None:
    # on 10 rows over a fifth of the replicates draw no row where the models differ
    cfg = GateConfig(bootstrap_n=200)
    r = statistical_gate(_Y, _NEW, _OLD, config=cfg)
    assert r.values["ci_low"] == 0.0
    assert r.values["ci_high"] == _ci(_Y, _NEW, _OLD, cfg)[1]
    assert r.passed is False
    assert r.reason == (
        "F1 gain +0.464 >= 0.01 but its 90% CI [+0.000, +0.802] does not exclude 0 "
        "(challenger F1 0.750 vs champion 0.286, n=10)."
    )


def test_statistical_each_model_uses_its_own_threshold() -> None:
    cfg = GateConfig(bootstrap_n=200)
    r = statistical_gate(_Y50, _NEW50, _OLD50, champion_threshold=0.3, config=cfg)
    assert r.values["champion_f1"] == pytest.approx(2 / 3)
    assert r.values["challenger_f1"] == 0.75
    assert r.thresholds["champion_threshold"] == 0.3
    assert r.thresholds["threshold"] == 0.5
    # a probability equal to the threshold is a positive call: 0.7 here
    r = statistical_gate(_Y50, _NEW50, _OLD50, threshold=0.7, config=cfg)
    assert r.values["challenger_f1"] == pytest.approx(f1(_Y50, _NEW50 >= 0.7))
    assert r.values["champion_f1"] == pytest.approx(f1(_Y50, _OLD50 >= 0.7))
    assert r.values["challenger_f1"] == pytest.approx(6 / 7)
    assert r.values["champion_f1"] == pytest.approx(1 / 3)
    assert r.thresholds["champion_threshold"] == 0.7
    assert r.values["champion_auc"] == roc_auc(_Y50, _OLD50)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (
            (_Y, _NEW[:3], None),
            {},
            "statistical_gate: challenger_proba has 3 rows but y_true has 10; they must match",
        ),
        (
            (_Y, _NEW, _OLD[:3]),
            {},
            "statistical_gate: champion_proba has 3 rows but y_true has 10; they must match",
        ),
        (
            (_Y, _NEW, _OLD + 1),
            {},
            "statistical_gate: champion_proba must lie in [0, 1]; got values in [1.1, 1.9]",
        ),
        (
            (_Y * 2, _NEW, None),
            {},
            "statistical_gate: y_true must contain only 0 and 1; found [2]",
        ),
        (
            (_Y, _NEW, _OLD),
            {"champion_threshold": 1.5},
            "statistical_gate: champion_threshold must be a number in [0, 1], got 1.5",
        ),
        (
            (_Y, _NEW, _OLD),
            {"config": {}},
            "statistical_gate: config must be a GateConfig, got dict",
        ),
    ],
)
def test_statistical_bad_input_messages(args: Any, kwargs: Any, message: str) -> None:
    with pytest.raises(ValueError) as err:
        statistical_gate(*args, **kwargs)
    assert str(err.value) == message


# ---------------------------------------------------------------------------------------------
# slices: quartile bins and levels
# ---------------------------------------------------------------------------------------------


def _slices(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> list[Any]:
    return [
        (column, [(label, np.flatnonzero(mask).tolist()) for label, mask in parts])
        for column, parts in holdout_slices(frame, numeric, categorical, func="F")
    ]


def test_slices_quartile_bins_ties_missing_and_levels() -> None:
    frame = pd.DataFrame(
        {
            "x": [1.0, 2, 3, 4, 5, 6, 7, 8],
            "c": [5, 5, np.nan, 5, np.inf, 5, 5, -np.inf],
            "z": [0, 0, 0, 0, 0, 0, 0, 1],
            "b": [True, False] * 4,
            "big": [12345.678, 0.000123456, 1, 1, 1, 1, 1, 1],
            "r": ["b", "a", None, "b", 10, "a", np.nan, "b"],
        }
    )
    assert _slices(frame, ["x", "c", "z", "b", "big"], ["r"]) == [
        ("x", [("[1, 2.75]", [0, 1]), ("(2.75, 4.5]", [2, 3]), ("(4.5, 6.25]", [4, 5]),
               ("(6.25, 8]", [6, 7])]),
        ("c", [("= 5", [0, 1, 3, 5, 6]), ("missing", [2, 4, 7])]),
        ("z", [("= 0", [0, 1, 2, 3, 4, 5, 6]), ("(0, 1]", [7])]),
        ("b", [("= 0", [1, 3, 5, 7]), ("(0.5, 1]", [0, 2, 4, 6])]),
        ("big", [("[0.0001235, 1]", [1, 2, 3, 4, 5, 6, 7]), ("(1, 1.235e+04]", [0])]),
        ("r", [("10", [4]), ("a", [1, 5]), ("b", [0, 3, 7]), ("missing", [2, 6])]),
    ]  # fmt: skip


def test_slices_a_value_on_an_edge_goes_to_the_lower_bin() -> None:
    frame = pd.DataFrame({"x": [5, 4, 3, 2, 1], "n": [np.nan] * 5, "k": [None] * 5})
    assert _slices(frame, ["x", "n"], ["k"]) == [
        ("x", [("[1, 2]", [3, 4]), ("(2, 3]", [2]), ("(3, 4]", [1]), ("(4, 5]", [0])]),
        ("n", [("missing", [0, 1, 2, 3, 4])]),
        ("k", [("missing", [0, 1, 2, 3, 4])]),
    ]
    # without missing values there is no missing slice
    assert _slices(frame, [], ["x"]) == [
        ("x", [("1", [4]), ("2", [3]), ("3", [2]), ("4", [1]), ("5", [0])])
    ]


@pytest.mark.parametrize(
    ("numeric", "categorical", "message"),
    [
        ("x", [], "F: numeric must be a sequence of column names, not a single string"),
        ([], "r", "F: categorical must be a sequence of column names, not a single string"),
        (["x", "q"], [], "F: numeric names column(s) not in holdout: ['q']"),
        ([], ["q", "r", "s"], "F: categorical names column(s) not in holdout: ['q', 's']"),
        (["x", "x"], [], "F: numeric names a column more than once: ['x', 'x']"),
        ([], ["r", "r"], "F: categorical names a column more than once: ['r', 'r']"),
        (["x", "r"], ["r", "x"], "F: numeric and categorical both name column(s) ['r', 'x']"),
        (["x", "r"], [], "F: numeric column 'r' has non-numeric dtype object"),
    ],
)
def test_slices_bad_columns(numeric: Any, categorical: Any, message: str) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0], "r": pd.Series(["a", "b"], dtype=object)})
    with pytest.raises(ValueError) as err:
        holdout_slices(frame, numeric, categorical, func="F")
    assert str(err.value) == message


# ---------------------------------------------------------------------------------------------
# stability_gate
# ---------------------------------------------------------------------------------------------


def _level_data(spec: list[tuple[str, int, int, int]]) -> tuple[pd.DataFrame, Any, Any, Any]:
    """Rows per level of a categorical column `g`: (level, rows, positives, flipped).

    Positives come first in each level. The champion outputs 0.9 for a positive and 0.1 for a
    negative (perfect calls); the challenger is the champion with its first `flipped` rows of
    the level turned into the opposite output (1 - p)."""
    levels: list[str] = []
    ys: list[int] = []
    old: list[float] = []
    new: list[float] = []
    for level, n, n_pos, flipped in spec:
        y = [1] * n_pos + [0] * (n - n_pos)
        p = [0.9 if v else 0.1 for v in y]
        levels += [level] * n
        ys += y
        old += p
        new += [1.0 - v if i < flipped else v for i, v in enumerate(p)]
    return pd.DataFrame({"g": levels}), np.array(ys), np.array(new), np.array(old)


# a: collapsed; b: half its positives missed; c: collapsed but one row short of judged;
# d: collapsed, no positive; e: collapsed, only positives; f: unchanged
_SPEC = [
    ("a", 20, 10, 20),
    ("b", 20, 10, 5),
    ("c", 19, 10, 19),
    ("d", 20, 0, 20),
    ("e", 20, 20, 20),
    ("f", 20, 10, 0),
]


def test_stability_champion_rule_fails_slices_and_reports_the_worst() -> None:
    frame, y, new, old = _level_data(_SPEC)
    cfg = GateConfig(bootstrap_n=100, min_slice_rows=20, max_brier_increase=1.0)
    r = stability_gate(frame, y, new, old, numeric=[], categorical=["g"], config=cfg)
    v = r.values
    judged = {s["slice"]: s["judged"] for s in v["slices"]}
    # judged: at least 20 rows and a positive label (e has only positives, still judged)
    assert judged == {"a": True, "b": True, "c": False, "d": False, "e": True, "f": True}
    assert [s["slice"] for s in v["slices"] if s["failed"]] == ["a", "b", "e"]
    assert v["failing_slices"] == ["g=a", "g=b", "g=e"]
    assert (v["n_slices"], v["n_judged"], v["n"]) == (6, 4, 119)
    # Bonferroni over the 4 judged slices
    b = v["slices"][1]
    mask = (frame["g"] == "b").to_numpy()
    expected = paired_f1_gain_interval(
        y[mask], new[mask] >= 0.5, old[mask] >= 0.5, n_boot=100, seed=0, alpha=0.1 / 4
    )
    assert b["delta_ci"] == list(expected)
    assert b == {
        "feature": "g",
        "slice": "b",
        "n": 20,
        "n_positive": 10,
        "champion_f1": 1.0,
        "challenger_f1": 2 / 3,
        "delta": 2 / 3 - 1.0,
        "challenger_brier": pytest.approx(0.21, abs=1e-15),
        "base_rate_brier": 0.25 * (20 / 19) ** 2,
        "brier_excess": pytest.approx(0.21 - 0.25 * (20 / 19) ** 2, abs=1e-15),
        "delta_ci": list(expected),
        "judged": True,
        "failed": True,
    }
    assert "delta_ci" not in v["slices"][2] and "delta_ci" not in v["slices"][5]
    assert v["slices"][3]["base_rate_brier"] == 0.0
    assert v["worst_slice"]["slice"] == "a"
    assert v["challenger_brier"] == pytest.approx(brier(y, new))
    assert v["champion_brier"] == v["reference_brier"] == pytest.approx(brier(y, old))
    assert v["brier_increase"] == v["challenger_brier"] - v["champion_brier"]
    assert (v["mode"], v["reference"]) == ("champion", "champion")
    assert v["challenger_f1"] == f1(y, new >= 0.5)
    assert v["champion_f1"] == 1.0
    assert r.thresholds == {
        "max_brier_increase": 1.0,
        "max_slice_f1_drop": 0.1,
        "max_slice_brier_excess": None,
        "min_slice_rows": 20,
        "threshold": 0.5,
        "champion_threshold": 0.5,
    }
    assert r.passed is False
    assert r.reason == (
        "Unstable: Brier 0.5747 vs champion 0.0100 (increase +0.5647 <= 1 allowed); 3 of 4 "
        "judged slices fail (a slice fails if it loses more than 0.1 F1 against the champion "
        "and its 90% paired-bootstrap interval, Bonferroni-corrected over the judged slices, "
        "is below 0), worst g=a (n=20): F1 0.000 vs champion 1.000 (-1.000)."
    )


def test_stability_first_model_rule_judges_slices_by_their_base_rate_brier() -> None:
    # a: 8 of its 10 positives missed; b: collapsed; the rest as in _SPEC
    spec = [("a", 20, 10, 8), ("b", 20, 10, 20), *_SPEC[2:]]
    frame, y, new, _ = _level_data(spec)
    cfg = GateConfig(bootstrap_n=100, min_slice_rows=20)
    r = stability_gate(frame, y, new, None, numeric=[], categorical=["g"], config=cfg)
    v = r.values
    judged = {s["slice"]: s["judged"] for s in v["slices"]}
    # judged: at least 20 rows and both classes (e has only positives, d only negatives)
    assert judged == {"a": True, "b": True, "c": False, "d": False, "e": False, "f": True}
    assert v["failing_slices"] == ["g=a", "g=b"]
    assert (v["n_slices"], v["n_judged"], v["n"]) == (6, 3, 119)
    assert v["slices"][0] == {
        "feature": "g",
        "slice": "a",
        "n": 20,
        "n_positive": 10,
        "champion_f1": None,
        "challenger_f1": 1 / 3,
        "delta": None,
        "challenger_brier": pytest.approx(0.33, abs=1e-15),
        "base_rate_brier": 0.25 * (20 / 19) ** 2,
        "brier_excess": pytest.approx(0.33 - 0.25 * (20 / 19) ** 2, abs=1e-15),
        "judged": True,
        "failed": True,
    }
    assert v["slices"][4]["base_rate_brier"] == 0.0  # a single class: a perfect base rate
    assert v["worst_slice"]["slice"] == "b"
    rate = 60 / 119
    assert v["reference_brier"] == pytest.approx(rate * (1 - rate) * (119 / 118) ** 2)
    assert v["brier_increase"] == v["challenger_brier"] - v["reference_brier"]
    assert (v["mode"], v["reference"]) == ("no_champion", "base-rate predictor")
    assert v["champion_brier"] is None and v["champion_f1"] is None
    assert v["challenger_f1"] == f1(y, new >= 0.5)
    assert r.thresholds == {
        "max_brier_increase": 0.01,
        "max_slice_f1_drop": None,
        "max_slice_brier_excess": 0.02,
        "min_slice_rows": 20,
        "threshold": 0.5,
        "champion_threshold": None,
    }
    assert r.passed is False
    assert r.reason == (
        "Unstable: Brier 0.5949 vs base-rate predictor 0.2542 (increase +0.3406 > 0.01 "
        "allowed); 2 of 3 judged slices fail (a slice fails if it exceeds its own base-rate "
        "Brier by more than 0.02), worst g=b (n=20): Brier 0.8100 vs base rate 0.2770 "
        "(+0.5330) (no champion: slices judged by Brier, their F1 only reported)."
    )


def test_stability_first_model_slice_tolerance_is_twice_the_brier_tolerance() -> None:
    frame, y, new, _ = _level_data([("a", 20, 10, 8)])
    excess = 0.33 - 0.25 * (20 / 19) ** 2
    kwargs: dict[str, Any] = {"numeric": [], "categorical": ["g"]}
    for half, failing in [
        (excess / 2, []),
        (excess / 2 - 2.5e-13, []),
        (excess / 2 - 2.5e-12, ["g=a"]),
    ]:
        cfg = GateConfig(min_slice_rows=20, max_brier_increase=half)
        r = stability_gate(frame, y, new, None, config=cfg, **kwargs)
        assert r.values["failing_slices"] == failing, half
    r = stability_gate(
        frame, y, new, None, config=GateConfig(min_slice_rows=20, max_brier_increase=0.03), **kwargs
    )
    assert r.reason == (
        "Unstable: Brier 0.3300 vs base-rate predictor 0.2770 (increase +0.0530 > 0.03 "
        "allowed); none of 1 judged slices (1 reported) exceeds its own base-rate Brier by more "
        "than 0.06 (worst g=a, +0.0530 Brier) (no champion: slices judged by Brier, their F1 "
        "only reported)."
    )


def test_stability_overall_brier_tolerance_is_inclusive_with_float_slack() -> None:
    frame, y, new, old = _level_data([("a", 20, 10, 8)])
    increase = brier(y, new) - brier(y, old)
    kwargs: dict[str, Any] = {"numeric": [], "categorical": ["g"]}
    for limit, passed in [(increase, True), (increase - 5e-13, True), (increase - 5e-12, False)]:
        cfg = GateConfig(min_slice_rows=21, max_brier_increase=limit)
        r = stability_gate(frame, y, new, old, config=cfg, **kwargs)
        assert r.passed is passed, limit
        assert r.values["n_judged"] == 0
    base = 0.25 * (20 / 19) ** 2
    increase = brier(y, new) - base
    for limit, passed in [(increase, True), (increase - 5e-13, True), (increase - 5e-12, False)]:
        cfg = GateConfig(min_slice_rows=21, max_brier_increase=limit)
        r = stability_gate(frame, y, new, None, config=cfg, **kwargs)
        assert r.passed is passed, limit


def test_stability_unjudged_reasons() -> None:
    frame, y, new, old = _level_data([("a", 20, 10, 0), ("b", 5, 0, 0)])
    kwargs: dict[str, Any] = {"numeric": [], "categorical": ["g"]}
    cfg = GateConfig(min_slice_rows=21)
    r = stability_gate(frame, y, new, old, config=cfg, **kwargs)
    assert r.passed is True
    assert r.values["worst_slice"] is None
    assert r.values["n_judged"] == 0
    assert r.reason == (
        "Stable: Brier 0.0100 vs champion 0.0100 (increase +0.0000 <= 0.01 allowed); no slice "
        "was judged (2 reported; each needs >= 21 rows and a positive label)."
    )
    r = stability_gate(frame, y, new, None, config=cfg, **kwargs)
    assert r.passed is True
    assert r.values["worst_slice"] is None
    assert r.reason == (
        "Stable: Brier 0.0100 vs base-rate predictor 0.2604 (increase -0.2504 <= 0.01 "
        "allowed); no slice was judged (2 reported; each needs >= 21 rows and both classes) "
        "(no champion: slices judged by Brier, their F1 only reported)."
    )


def test_stability_min_slice_rows_is_inclusive() -> None:
    frame, y, new, old = _level_data([("a", 20, 10, 0), ("b", 5, 1, 0)])
    kwargs: dict[str, Any] = {"numeric": [], "categorical": ["g"]}
    for rows, judged in [(5, ["a", "b"]), (6, ["a"]), (20, ["a"]), (21, [])]:
        for champion in (old, None):
            r = stability_gate(
                frame, y, new, champion, config=GateConfig(min_slice_rows=rows), **kwargs
            )
            assert [s["slice"] for s in r.values["slices"] if s["judged"]] == judged


def test_stability_champion_rule_passing_reason() -> None:
    frame, y, new, old = _level_data([("a", 20, 10, 1), ("b", 20, 10, 0), ("c", 30, 15, 0)])
    cfg = GateConfig(min_slice_rows=20, bootstrap_n=50, max_brier_increase=0.05)
    r = stability_gate(frame, y, new, old, numeric=[], categorical=["g"], config=cfg)
    assert r.passed is True
    assert r.values["worst_slice"]["slice"] == "a"
    assert r.values["failing_slices"] == []
    assert r.reason == (
        "Stable: Brier 0.0214 vs champion 0.0100 (increase +0.0114 <= 0.05 allowed); none of 3 "
        "judged slices (3 reported) loses more than 0.1 F1 against the champion and its 90% "
        "paired-bootstrap interval, Bonferroni-corrected over the judged slices, is below 0 "
        "(worst g=a, -0.053 F1)."
    )


def test_stability_slice_f1_drop_edge_and_an_interval_reaching_zero() -> None:
    frame, y, new, old = _level_data([("a", 20, 10, 1)])
    kwargs: dict[str, Any] = {"numeric": [], "categorical": ["g"]}
    drop = 1.0 - 18 / 19  # one positive missed: F1 18/19 against 1
    for limit, judged_beyond in [(drop, False), (drop - 5e-13, False), (drop - 5e-12, True)]:
        cfg = GateConfig(min_slice_rows=20, bootstrap_n=50, max_slice_f1_drop=limit)
        s = stability_gate(frame, y, new, old, config=cfg, **kwargs).values["slices"][0]
        assert ("delta_ci" in s) is judged_beyond, limit
    # the drop is beyond the limit, but over a third of the replicates miss the one row that
    # differs, so the interval's upper end is exactly 0: not below 0, not failed
    cfg = GateConfig(
        min_slice_rows=20, bootstrap_n=50, max_slice_f1_drop=0.05, max_brier_increase=0.04
    )
    r = stability_gate(frame, y, new, old, config=cfg, **kwargs)
    s = r.values["slices"][0]
    assert s["delta_ci"][1] == 0.0
    assert s["delta_ci"][0] < 0.0
    assert s["failed"] is False and s["judged"] is True
    assert r.passed is True


def test_stability_slices_and_their_order_with_numeric_and_categorical_features() -> None:
    frame, y, new, old = _level_data([("b", 8, 4, 8), ("a", 8, 4, 0)])
    frame["x"] = np.arange(16.0)
    cfg = GateConfig(min_slice_rows=4, bootstrap_n=50, max_brier_increase=1.0)
    r = stability_gate(frame, y, new, old, numeric=["x"], categorical=["g"], config=cfg)
    names = [f"{s['feature']}={s['slice']}" for s in r.values["slices"]]
    assert names == [
        "x=[0, 3.75]",
        "x=(3.75, 7.5]",
        "x=(7.5, 11.25]",
        "x=(11.25, 15]",
        "g=a",
        "g=b",
    ]
    assert r.values["failing_slices"] == ["x=[0, 3.75]", "g=b"]
    assert r.values["n_judged"] == 4  # x's 2nd and 4th quartiles have no positive


def test_stability_thresholds_decide_the_calls() -> None:
    frame, y, _, old = _level_data([("a", 20, 10, 0)])
    new = np.where(y == 1, 0.6, 0.1)
    cfg = GateConfig(min_slice_rows=20, bootstrap_n=50)
    kwargs: dict[str, Any] = {"numeric": [], "categorical": ["g"], "config": cfg}
    r = stability_gate(frame, y, new, old, threshold=0.6, champion_threshold=0.95, **kwargs)
    assert r.values["challenger_f1"] == 1.0
    assert r.values["champion_f1"] == 0.0
    assert r.values["slices"][0]["delta"] == 1.0
    assert r.thresholds["threshold"] == 0.6
    assert r.thresholds["champion_threshold"] == 0.95
    r = stability_gate(frame, y, new, old, threshold=0.7, **kwargs)
    assert r.values["challenger_f1"] == 0.0
    assert r.values["champion_f1"] == 1.0
    assert r.thresholds["champion_threshold"] == 0.7
    r = stability_gate(frame, y, new, None, threshold=0.61, **kwargs)
    assert r.values["challenger_f1"] == 0.0
    assert r.values["slices"][0]["challenger_f1"] == 0.0
    assert r.thresholds["threshold"] == 0.61


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"holdout": np.zeros((20, 1))},
            "stability_gate: holdout must be a pandas DataFrame, got ndarray",
        ),
        (
            {"holdout": pd.DataFrame({"g": ["a"] * 19})},
            "stability_gate: y_true has 20 rows but holdout has 19; they must match",
        ),
        (
            {"challenger_proba": np.full(19, 0.5)},
            "stability_gate: challenger_proba has 19 rows but y_true has 20; they must match",
        ),
        (
            {"champion_proba": np.full(20, 1.5)},
            "stability_gate: champion_proba must lie in [0, 1]; got values in [1.5, 1.5]",
        ),
        (
            {"threshold": -0.1},
            "stability_gate: threshold must be a number in [0, 1], got -0.1",
        ),
        (
            {"categorical": ["q"]},
            "stability_gate: categorical names column(s) not in holdout: ['q']",
        ),
        ({"config": "x"}, "stability_gate: config must be a GateConfig, got str"),
    ],
)
def test_stability_bad_input_messages(change: dict[str, Any], message: str) -> None:
    frame, y, new, old = _level_data([("a", 20, 10, 0)])
    args: dict[str, Any] = {
        "holdout": frame,
        "y_true": y,
        "challenger_proba": new,
        "champion_proba": old,
        "numeric": [],
        "categorical": ["g"],
        **change,
    }
    with pytest.raises(ValueError) as err:
        stability_gate(**args)
    assert str(err.value) == message


def test_every_result_here_is_plain_json() -> None:
    frame, y, new, old = _level_data(_SPEC)
    cfg = GateConfig(bootstrap_n=20, min_slice_rows=20, min_rows=1)
    results = [
        data_quality_gate(frame, y, config=cfg),
        statistical_gate(y, new, old, config=cfg),
        stability_gate(frame, y, new, old, numeric=[], categorical=["g"], config=cfg),
        consistency_gate(
            new, observed_label_rate=0.5, challenger_seconds_per_row=1, champion_seconds_per_row=2
        ),
    ]
    assert [r.name for r in results] == list(GATE_NAMES)
    json.dumps(summarize(results), allow_nan=False)


# ---------------------------------------------------------------------------------------------
# Edges: a value exactly on the limit plus (or minus) the float slack is still within it
# ---------------------------------------------------------------------------------------------


def _limit_on_edge(value: float, sign: int) -> float:
    """A limit L with ``L + sign * TOL == value`` exactly in float64."""
    limit = value - sign * TOL
    for _ in range(64):
        edge = limit + sign * TOL
        if edge == value:
            return limit
        limit = math.nextafter(limit, math.inf if edge < value else -math.inf)
    raise AssertionError(f"no float limit puts {value} on the edge")


def test_edges_consistency_rate_gap_and_latency() -> None:
    gap_limit = _limit_on_edge(0.25, +1)
    ratio_limit = _limit_on_edge(2.5, +1)
    r = consistency_gate(
        [0.0, 1.0, 1.0, 1.0],
        observed_label_rate=0.5,
        challenger_seconds_per_row=2.5,
        champion_seconds_per_row=1.0,
        config=GateConfig(max_positive_rate_gap=gap_limit, max_latency_ratio=ratio_limit),
    )
    assert r.values["positive_rate_gap"] == 0.25 and r.values["latency_ratio"] == 2.5
    assert r.passed is True


def test_edges_data_quality_class_share() -> None:
    cfg = GateConfig(min_rows=1, min_class_share=_limit_on_edge(0.3, -1))
    assert data_quality_gate(_frame10(), _Y10, config=cfg).passed is True


def test_edges_statistical_floors_and_gain() -> None:
    cfg = GateConfig(floor_auc=_limit_on_edge(23 / 24, -1), floor_f1=_limit_on_edge(0.75, -1))
    assert statistical_gate(_Y, _NEW, None, config=cfg).passed is True
    gain = 0.75 - 2 / 7
    cfg = GateConfig(bootstrap_n=200, min_f1_gain=_limit_on_edge(gain, -1))
    r = statistical_gate(_Y50, _NEW50, _OLD50, config=cfg)
    assert r.values["gain"] == gain
    assert r.passed is True


def test_edges_stability_brier_and_slice_rules() -> None:
    frame, y, new, old = _level_data([("a", 20, 10, 8)])
    kwargs: dict[str, Any] = {"numeric": [], "categorical": ["g"]}
    # overall Brier increase exactly on the edge: stable (no slice judged)
    increase = brier(y, new) - brier(y, old)
    cfg = GateConfig(min_slice_rows=21, max_brier_increase=_limit_on_edge(increase, +1))
    r = stability_gate(frame, y, new, old, config=cfg, **kwargs)
    assert r.values["brier_increase"] == increase
    assert r.passed is True
    # first model: slice Brier excess exactly on the edge of twice the tolerance: not failed
    s = stability_gate(frame, y, new, None, config=GateConfig(min_slice_rows=20), **kwargs)
    excess = s.values["slices"][0]["brier_excess"]
    cfg = GateConfig(min_slice_rows=20, max_brier_increase=_limit_on_edge(excess, +1) / 2)
    r = stability_gate(frame, y, new, None, config=cfg, **kwargs)
    assert r.values["slices"][0]["judged"] is True
    assert r.values["failing_slices"] == []
    # champion: a slice F1 drop exactly on the edge is not beyond it (no interval computed)
    drop = 1.0 - r.values["slices"][0]["challenger_f1"]
    cfg = GateConfig(min_slice_rows=20, bootstrap_n=20, max_slice_f1_drop=_limit_on_edge(drop, +1))
    r = stability_gate(frame, y, new, old, config=cfg, **kwargs)
    assert r.values["slices"][0]["delta"] == -drop
    assert "delta_ci" not in r.values["slices"][0]
    assert r.values["failing_slices"] == []


# ---------------------------------------------------------------------------------------------
# More exact behaviour
# ---------------------------------------------------------------------------------------------


def test_to_dict_of_a_passed_result() -> None:
    assert GateResult("stability", True, {}, {}, "ok").to_dict()["passed"] is True


def test_data_quality_counts_equal_python_values_once() -> None:
    frame = pd.DataFrame({"a": np.arange(10), "mixed": pd.Series([1, 1.0] * 5, dtype=object)})
    r = data_quality_gate(frame, _Y10, config=GateConfig(min_rows=1))
    assert r.values["constant_columns"] == ["mixed"]


def test_slices_a_boolean_categorical_is_a_numeric_feature() -> None:
    frame = pd.DataFrame({"b": pd.Series([True, False, True, None], dtype="category")})
    assert _slices(frame, ["b"], []) == [
        ("b", [("[0, 0.5]", [1]), ("(0.5, 1]", [0, 2]), ("missing", [3])])
    ]


def test_stability_base_rate_brier_of_tiny_slices() -> None:
    # one row: a perfect base rate (0); two rows of both classes: each row is predicted by
    # the other one's label, Brier 1
    frame = pd.DataFrame({"g": ["one", "two", "two", "big", "big", "big", "big"]})
    y = np.array([1, 0, 1, 0, 1, 0, 1])
    p = np.full(7, 0.5)
    r = stability_gate(frame, y, p, None, numeric=[], categorical=["g"])
    base = {s["slice"]: s["base_rate_brier"] for s in r.values["slices"]}
    assert base == {"big": 0.25 * (4 / 3) ** 2, "one": 0.0, "two": 1.0}
    one = stability_gate(frame.iloc[:1], y[:1], p[:1], None, numeric=[], categorical=["g"])
    assert one.values["reference_brier"] == 0.0


def test_stability_bonferroni_counts_slices_with_a_single_positive() -> None:
    # a: half its positives missed (fails); b: one positive, unchanged (judged, m = 2)
    frame, y, new, old = _level_data([("a", 20, 10, 5), ("b", 20, 1, 0)])
    cfg = GateConfig(min_slice_rows=20, bootstrap_n=100)
    r = stability_gate(frame, y, new, old, numeric=[], categorical=["g"], config=cfg)
    assert r.values["n_judged"] == 2
    mask = (frame["g"] == "a").to_numpy()
    expected = paired_f1_gain_interval(
        y[mask], new[mask] >= 0.5, old[mask] >= 0.5, n_boot=100, seed=0, alpha=0.1 / 2
    )
    assert r.values["slices"][0]["delta_ci"] == list(expected)
    # a single judged slice gets the plain coverage
    r = stability_gate(
        frame[mask], y[mask], new[mask], old[mask], numeric=[], categorical=["g"], config=cfg
    )
    alone = paired_f1_gain_interval(
        y[mask], new[mask] >= 0.5, old[mask] >= 0.5, n_boot=100, seed=0, alpha=0.1
    )
    assert r.values["slices"][0]["delta_ci"] == list(alone)
    assert alone != expected


def test_stability_a_probability_at_the_threshold_is_a_positive_call() -> None:
    frame, y, _, old = _level_data([("a", 20, 10, 0)])
    new = np.where(y == 1, 0.6, 0.1)
    kwargs: dict[str, Any] = {"numeric": [], "categorical": ["g"]}
    r = stability_gate(frame, y, new, old, threshold=0.6, champion_threshold=0.9, **kwargs)
    assert (r.values["challenger_f1"], r.values["champion_f1"]) == (1.0, 1.0)
    r = stability_gate(frame, y, new, None, threshold=0.6, **kwargs)
    assert r.values["challenger_f1"] == 1.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"y_true": np.full(20, 2)}, "stability_gate: y_true must contain only 0 and 1; found [2]"),
        (
            {"champion_proba": np.full(19, 0.5)},
            "stability_gate: champion_proba has 19 rows but y_true has 20; they must match",
        ),
        (
            {"champion_proba": np.full(21, 0.5)},
            "stability_gate: champion_proba has 21 rows but y_true has 20; they must match",
        ),
    ],
)
def test_stability_more_bad_input_messages(change: dict[str, Any], message: str) -> None:
    test_stability_bad_input_messages(change, message)


def test_statistical_single_class_results_are_complete() -> None:
    y = np.ones(10, int)
    r = statistical_gate(y, np.full(10, 0.7), np.full(10, 0.2))
    assert r.name == "statistical"
    assert r.thresholds == {
        "min_f1_gain": 0.01,
        "bootstrap_n": 1000,
        "bootstrap_confidence": 0.9,
        "seed": 0,
        "threshold": 0.5,
        "champion_threshold": 0.5,
    }
    r = statistical_gate(y, np.full(10, 0.7), None)
    assert r.name == "statistical"
    assert r.thresholds == {"floor_auc": 0.6, "floor_f1": 0.3, "threshold": 0.5}


def test_consistency_failures_come_before_notes() -> None:
    r = consistency_gate(
        [np.nan, 2.0],
        observed_label_rate=0.5,
        challenger_seconds_per_row=4.0,
        champion_seconds_per_row=1.0,
    )
    assert r.reason == (
        "Live outputs rejected on 2 rows: 2 of 2 outputs are not finite probabilities in "
        "[0, 1] (1 non-finite); positive rate cannot be computed (no valid output); "
        "scoring 4 s/row = 4.00x champion's 1 (> 3x allowed)."
    )
