from __future__ import annotations

import math
from pathlib import Path
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
        ({"features": {"a": {"type": "text"}}}, 'a.type must be "numeric" or "categorical"'),
        ({"features": {"a": {"type": "numeric", "min": 5, "max": 1}}}, "greater than max"),
        ({"features": {"a": {"type": "numeric", "mn": 5}}}, "unknown key(s) ['mn']; allowed"),
        ({"features": {"a": {"type": "categorical", "closed": True}}}, "declares no levels"),
        ({"feature": {}}, "unknown key(s) ['feature']; allowed keys are ['features'"),
        ({"target": "y"}, '"features" object'),
        ({"features": {}}, '"features" is empty'),
        # Booleans are JSON true/false: "false" is a string, and a non-empty one.
        (
            {"features": {"income": {"type": "numeric", "nullable": "false"}}},
            'features.income.nullable must be true or false, got "false"',
        ),
        (
            {"features": {"income": {"type": "numeric", "nullable": "yes"}}},
            'features.income.nullable must be true or false, got "yes"',
        ),
        (
            {"features": {"income": {"type": "numeric", "nullable": 0}}},
            "features.income.nullable must be true or false, got 0",
        ),
        (
            {"features": {"r": {"type": "categorical", "closed": "no", "levels": ["a", "b"]}}},
            'features.r.closed must be true or false, got "no"',
        ),
        (
            {"features": {"a": {"type": "numeric", "min": "0"}}},
            'a.min must be a finite number, got "0"',
        ),
        (
            {"features": {"a": {"type": "numeric", "max": True}}},
            "a.max must be a finite number, got true",
        ),
        ({"features": {"a": {"type": "numeric", "min": 10**400}}}, "a.min must be a finite number"),
        ({"features": {"a": {"type": "numeric", "soft_min": [1]}}}, "a.soft_min must be a finite"),
        (
            {"features": {"a": {"type": "categorical", "levels": [1, 2]}}},
            "a.levels must be a list of strings",
        ),
        (
            {"features": {"a": {"type": "categorical", "levels": "ab"}}},
            "a.levels must be a list of strings",
        ),
        ({"features": {"a": {"type": "categorical", "levels": ["x", " X"]}}}, "one level"),
        ({"features": {"a": {"type": "categorical", "levels": ["x", "NA"]}}}, "missing value"),
        ({"features": {"a": {"type": "categorical", "min": 0}}}, "categorical, which has no min"),
        ({"features": {"a": {"type": "numeric", "levels": ["x"]}}}, "numeric, which has no levels"),
        ({"features": {"a": {"type": "numeric", "decimal": ";"}}}, 'a.decimal must be "." or ","'),
        ({"features": {"a": {"type": "numeric", "unit": 5}}}, "a.unit must be a string or null"),
        ({"features": {"a": ["numeric"]}}, "features.a must be an object"),
        ({"features": {"a": {"type": "numeric", "name": "b"}}}, "it must be the key, 'a'"),
        (
            {"features": {"R\u00e9gion": {"type": "numeric"}, "Re\u0301gion": {"type": "numeric"}}},
            "'R\u00e9gion' is declared twice",
        ),
        (
            {"features": [{"name": "a", "type": "numeric"}, {"name": "a", "type": "numeric"}]},
            "twice",
        ),
        ({"features": {"a": {"type": "numeric"}}, "positive": 1}, "positive must be a string"),
    ],
)
def test_bad_schema_file_content_is_explained(data: dict[str, Any], message: str) -> None:
    with pytest.raises(DataError) as err:
        FeatureSchema.from_dict(data, where="schema.json")
    assert err.value.code == "invalid_data"
    assert err.value.message.startswith("schema.json: ")
    assert message in err.value.message and "\n" not in err.value.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"features": {"income": {"type": "numeric"}, "income": {"type": "categorical"}}}',
            "has the key 'income' twice in one object",
        ),
        ('{"features": {"a": {"type": "numeric", "type": "numeric"}}}', "the key 'type' twice"),
        ('{"features": {"a": {"type": "numeric", "min": ' + "9" * 5000 + "}}}", "4,300 digits"),
        ('{"features": ' + "[" * 100_000, "nested too deeply"),
        ('{"features": {"a": {"type": "numeric", "min": NaN}}}', "a.min must be a finite number"),
        ('{"features": {"a": {"type": "numeric"}}', "is not valid JSON"),
    ],
)
def test_bad_schema_files_are_refused_naming_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "schema.json"
    path.write_text(text)
    with pytest.raises(DataError) as err:
        FeatureSchema.from_file(path)
    assert err.value.code == "invalid_data" and str(path) in err.value.message
    assert message in err.value.message and "\n" not in err.value.message


def test_schema_levels_and_names_are_read_as_data_is() -> None:
    s = FeatureSchema.from_dict(
        {"features": {" Re\u0301gion ": {"type": "categorical", "levels": [" North\u00a0 East"]}}}
    )
    assert s.names == ["R\u00e9gion"] and s["R\u00e9gion"].levels == ("North East",)
    # What `Feature.to_dict` writes for defaults is accepted back.
    assert FeatureSchema.from_dict(s.to_dict()) == s


def test_to_matrix_mixed_types_and_nulls() -> None:
    s = FeatureSchema(
        features=(Feature("a", NUMERIC, nullable=True), Feature("b", CATEGORICAL, nullable=True))
    )
    m = s.to_matrix([(1.0, "x"), (None, None)])
    assert m.dtype == object and m[0, 0] == 1.0 and math.isnan(m[1, 0]) and m[0, 1] == "x"
    only_num = FeatureSchema(features=(Feature("a", NUMERIC),))
    assert only_num.to_matrix([(2,), (3,)]).dtype == np.float64
