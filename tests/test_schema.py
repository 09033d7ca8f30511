from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from selfheal.datasets import CREDIT_SCHEMA
from selfheal.errors import DataError, ValidationError
from selfheal.schema import CATEGORICAL, NUMERIC, Feature, FeatureSchema, infer_schema

SCHEMA = FeatureSchema(
    features=(
        Feature("age", NUMERIC, min=18, max=100, soft_min=20, soft_max=80),
        Feature("income", NUMERIC, soft_min=1000, soft_max=200_000),
        Feature("region", CATEGORICAL, levels=("north", "south")),
        Feature("plan", CATEGORICAL, levels=("basic", "pro"), closed=True),
    ),
    target="y",
)
GOOD: dict[str, Any] = {"age": 40, "income": 50_000.5, "region": "north", "plan": "pro"}


def test_valid_record_gives_values_in_schema_order() -> None:
    valid, problems = SCHEMA.validate_record(GOOD)
    assert problems == [] and valid is not None
    assert valid.values == (40.0, 50_000.5, "north", "pro")
    assert valid.out_of_range == ()


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"age": None}, "age", "null"),
        ({"age": True}, "age", "wrong_type"),
        ({"age": "forty"}, "age", "wrong_type"),
        ({"age": [1]}, "age", "wrong_type"),
        ({"income": math.nan}, "income", "not_finite"),
        ({"income": math.inf}, "income", "not_finite"),
        ({"income": -math.inf}, "income", "not_finite"),
        ({"age": 17}, "age", "below_min"),
        ({"age": 101}, "age", "above_max"),
        ({"region": 3}, "region", "wrong_type"),
        ({"plan": "gold"}, "plan", "unknown_category"),
        ({"colour": "red"}, "colour", "unknown_field"),
    ],
)
def test_each_error_kind_is_reported_by_field(
    change: dict[str, Any], field: str, problem: str
) -> None:
    valid, problems = SCHEMA.validate_record({**GOOD, **change})
    assert valid is None
    assert [(p["field"], p["problem"]) for p in problems] == [(field, problem)]
    assert field in problems[0]["message"]


def test_missing_field_is_reported() -> None:
    record = {k: v for k, v in GOOD.items() if k != "income"}
    _, problems = SCHEMA.validate_record(record)
    assert [(p["field"], p["problem"]) for p in problems] == [("income", "missing")]


def test_every_problem_is_reported_at_once() -> None:
    bad = {"age": "old", "income": math.nan, "plan": "gold", "extra": 1}
    _, problems = SCHEMA.validate_record(bad)
    assert {(p["field"], p["problem"]) for p in problems} == {
        ("age", "wrong_type"),
        ("income", "not_finite"),
        ("region", "missing"),
        ("plan", "unknown_category"),
        ("extra", "unknown_field"),
    }
    with pytest.raises(ValidationError) as err:
        SCHEMA.check_record(bad)
    assert len(err.value.details) == 5 and err.value.message.startswith("5 invalid field(s)")


@pytest.mark.parametrize("record", [[1, 2], "x", None, 3])
def test_non_object_record_is_refused(record: Any) -> None:
    _, problems = SCHEMA.validate_record(record)
    assert problems[0]["problem"] == "not_an_object"


def test_soft_range_and_unseen_open_category_are_flagged_not_refused() -> None:
    valid, problems = SCHEMA.validate_record({**GOOD, "age": 95, "income": 0.5, "region": "east"})
    assert problems == [] and valid is not None
    assert valid.out_of_range == ("age", "income", "region")


def test_frame_validation_reports_every_problem_with_rows() -> None:
    frame = pd.DataFrame(
        {
            "age": [40, 10, 130, np.nan],
            "income": [1.0, np.inf, 3.0, 4.0],
            "region": ["north", 5, "south", "east"],
            "plan": ["pro", "gold", "basic", "basic"],
        }
    )
    got = {(p["field"], p["problem"]): p["count"] for p in SCHEMA.validate_frame(frame)}
    assert got == {
        ("age", "null"): 1,
        ("age", "below_min"): 1,
        ("age", "above_max"): 1,
        ("income", "not_finite"): 1,
        ("region", "wrong_type"): 1,
        ("plan", "unknown_category"): 1,
    }


def test_frame_missing_column_and_wrong_dtype() -> None:
    frame = pd.DataFrame({"age": ["a", "b"], "region": ["x", "y"], "plan": ["pro", "pro"]})
    got = {(p["field"], p["problem"]) for p in SCHEMA.validate_frame(frame)}
    assert got == {("income", "missing"), ("age", "wrong_type")}


def test_infer_schema_types_levels_soft_ranges_without_hard_bounds() -> None:
    frame = pd.DataFrame({"n": [1.5, 3.0, 2.0], "c": ["b", "a", None], "y": [0, 1, 0]})
    s = infer_schema(frame, target="y")
    assert s.names == ["n", "c"]
    assert (s["n"].kind, s["n"].soft_min, s["n"].soft_max, s["n"].min) == (NUMERIC, 1.5, 3.0, None)
    assert (s["c"].kind, s["c"].levels, s["c"].nullable, s["c"].closed) == (
        CATEGORICAL,
        ("a", "b"),
        True,
        False,
    )


def test_declared_schema_keeps_hard_bounds_and_adds_soft_ranges() -> None:
    frame = pd.DataFrame(
        {
            "age": [30.0, 50.0],
            "income": [1.0, 2.0],
            "credit_score": [500.0, 700.0],
            "employment_years": [1.0, 2.0],
        }
    )
    s = infer_schema(frame, target="default", declared=CREDIT_SCHEMA)
    assert (s["age"].min, s["age"].max, s["age"].soft_min, s["age"].soft_max) == (18, 100, 30, 50)


def test_schema_round_trips_through_json_dict() -> None:
    assert FeatureSchema.from_dict(SCHEMA.to_dict()) == SCHEMA


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"features": {"a": {"type": "text"}}}, 'use "numeric" or "categorical"'),
        ({"features": {"a": {"type": "numeric", "min": 5, "max": 1}}}, "greater than max"),
        ({"features": {"a": {"type": "numeric", "mn": 5}}}, "unknown key"),
        ({"features": {"a": {"type": "categorical", "closed": True}}}, "declares no levels"),
        ({"feature": {}}, '"features" object'),
    ],
)
def test_bad_schema_file_content_is_explained(data: dict[str, Any], message: str) -> None:
    with pytest.raises(DataError, match=message):
        FeatureSchema.from_dict(data)


def test_to_matrix_mixed_types_and_nulls() -> None:
    s = FeatureSchema(
        features=(Feature("a", NUMERIC, nullable=True), Feature("b", CATEGORICAL, nullable=True))
    )
    m = s.to_matrix([(1.0, "x"), (None, None)])
    assert m.dtype == object and m[0, 0] == 1.0 and math.isnan(m[1, 0]) and m[0, 1] == "x"
    only_num = FeatureSchema(features=(Feature("a", NUMERIC),))
    assert only_num.to_matrix([(2,), (3,)]).dtype == np.float64
