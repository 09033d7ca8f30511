"""The schema's exact behaviour (issue 16, mutation testing of selfheal/schema.py): the texts
users read for every refused declaration, record and column (each names the field or the file
and says what to do), the boundaries of hard bounds, soft ranges, labels and message
truncation, the round trip of a schema, and what training infers. Real files in tmp_path,
no mocks."""

from __future__ import annotations

import locale
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from selfheal.errors import DataError, ValidationError
from selfheal.schema import (
    CATEGORICAL,
    NUMERIC,
    Feature,
    FeatureSchema,
    describe,
    infer_schema,
    label_hint,
    label_value,
    summarize,
)


def refusal(data: Any, where: str = "s.json") -> str:
    """The message of the DataError `FeatureSchema.from_dict` raises for `data`."""
    with pytest.raises(DataError) as err:
        FeatureSchema.from_dict(data, where=where)
    assert err.value.code == "invalid_data"
    return err.value.message


def feature(decl: dict[str, Any], name: str = "a") -> Feature:
    return FeatureSchema.from_dict({"features": {name: decl}})[name]


# -- constants ---------------------------------------------------------------------------------
def test_problem_codes_and_kinds_are_the_documented_strings() -> None:
    from selfheal import schema

    assert (schema.NUMERIC, schema.CATEGORICAL) == ("numeric", "categorical")
    assert (
        schema.MISSING,
        schema.UNKNOWN_FIELD,
        schema.WRONG_TYPE,
        schema.NOT_FINITE,
        schema.NULL,
        schema.BELOW_MIN,
        schema.ABOVE_MAX,
        schema.UNKNOWN_CATEGORY,
        schema.NOT_AN_OBJECT,
    ) == (
        "missing",
        "unknown_field",
        "wrong_type",
        "not_finite",
        "null",
        "below_min",
        "above_max",
        "unknown_category",
        "not_an_object",
    )


# -- declarations: what is read ----------------------------------------------------------------
def test_a_full_numeric_declaration_is_read_field_by_field() -> None:
    f = feature(
        {
            "type": "numeric",
            "min": 0,
            "max": 10,
            "soft_min": 1,
            "soft_max": 9,
            "nullable": True,
            "decimal": ",",
            "unit": "$",
        }
    )
    assert f == Feature(
        name="a",
        kind=NUMERIC,
        min=0.0,
        max=10.0,
        soft_min=1.0,
        soft_max=9.0,
        levels=(),
        closed=False,
        nullable=True,
        decimal=",",
        unit="$",
    )
    assert all(type(v) is float for v in (f.min, f.max, f.soft_min, f.soft_max))


def test_a_bare_declaration_takes_the_defaults() -> None:
    assert feature({"type": "numeric"}) == Feature("a", NUMERIC)
    f = feature({"type": "numeric"})
    assert (f.min, f.max, f.soft_min, f.soft_max, f.levels) == (None, None, None, None, ())
    assert (f.closed, f.nullable, f.decimal, f.unit) == (False, False, ".", None)
    c = feature({"type": "categorical", "levels": ["x", "y"], "closed": True})
    assert c == Feature("a", CATEGORICAL, levels=("x", "y"), closed=True)
    assert feature({"kind": "categorical"}) == Feature("a", CATEGORICAL)
    assert feature({"type": "categorical", "kind": "categorical"}).kind == CATEGORICAL
    assert feature({"type": "numeric", "name": "a"}).name == "a"
    assert feature({"type": "categorical", "levels": None}).levels == ()
    assert feature({"type": "numeric", "unit": None}).unit is None
    assert feature({"type": "numeric", "min": 3, "max": 3}).min == 3.0  # min == max is fine


def test_what_to_dict_writes_for_defaults_is_accepted_back_on_either_type() -> None:
    num = Feature("n", NUMERIC, min=1.5)
    assert num.to_dict() == {
        "name": "n",
        "kind": "numeric",
        "min": 1.5,
        "closed": False,
        "nullable": False,
        "decimal": ".",
    }
    cat = Feature("c", CATEGORICAL, levels=("x",), nullable=True)
    assert cat.to_dict() == {
        "name": "c",
        "kind": "categorical",
        "levels": ["x"],
        "closed": False,
        "nullable": True,
        "decimal": ".",
    }
    # A numeric feature may carry closed: false and levels: [] ...
    assert feature({"type": "numeric", "closed": False, "levels": []}) == Feature("a", NUMERIC)
    # ... and a categorical one decimal "." and unit null.
    assert feature({"type": "categorical", "decimal": ".", "unit": None}) == Feature(
        "a", CATEGORICAL
    )


def test_schema_to_dict_is_the_ordered_feature_list() -> None:
    s = FeatureSchema(
        features=(
            Feature("z", NUMERIC, max=2.0, unit="%"),
            Feature("a", CATEGORICAL, levels=("p", "q"), closed=True),
        ),
        target="t",
        positive="bad",
        negative="good",
    )
    assert s.to_dict() == {
        "target": "t",
        "positive": "bad",
        "negative": "good",
        "features": [
            {
                "name": "z",
                "type": "numeric",
                "max": 2.0,
                "closed": False,
                "nullable": False,
                "decimal": ".",
                "unit": "%",
            },
            {
                "name": "a",
                "type": "categorical",
                "levels": ["p", "q"],
                "closed": True,
                "nullable": False,
                "decimal": ".",
            },
        ],
    }
    assert FeatureSchema.from_dict(s.to_dict()) == s
    assert (s.names, s.numeric, s.categorical) == (["z", "a"], ["z"], ["a"])
    assert s["a"].closed is True


def test_from_dict_reads_the_list_form_and_the_target_values() -> None:
    s = FeatureSchema.from_dict(
        {
            "features": [{"name": " b ", "type": "numeric"}, {"name": "a", "type": "categorical"}],
            "target": "y",
            "positive": "yes",
            "negative": "no",
        }
    )
    assert s.names == ["b", "a"] and (s.target, s.positive, s.negative) == ("y", "yes", "no")
    assert s["b"] == Feature("b", NUMERIC)
    default = FeatureSchema.from_dict({"features": {"a": {"type": "numeric"}}, "target": ""})
    assert (default.target, default.positive, default.negative) == ("default", None, None)
    assert FeatureSchema.from_dict({"features": {"a": {"type": "numeric"}}}).target == "default"


# -- declarations: every refusal, word for word -------------------------------------------------
@pytest.mark.parametrize(
    ("decl", "message"),
    [
        (
            ["numeric"],
            's.json: features.a must be an object like {"type": "numeric", "min": 0, '
            '"max": 10}, got ["numeric"]',
        ),
        (
            {"type": "numeric", "mn": 1, "Max": 2},
            "s.json: features.a has unknown key(s) ['Max', 'mn']; allowed keys are ['closed', "
            "'decimal', 'levels', 'max', 'min', 'nullable', 'soft_max', 'soft_min', 'type', "
            "'unit']",
        ),
        (
            {"type": "numeric", "kind": "categorical"},
            's.json: features.a has both "type" and "kind"; keep "type"',
        ),
        (
            {"type": "text"},
            's.json: features.a.type must be "numeric" or "categorical", got "text"',
        ),
        ({}, 's.json: features.a.type must be "numeric" or "categorical", got null'),
        (
            {"kind": "Numeric"},
            's.json: features.a.type must be "numeric" or "categorical", got "Numeric"',
        ),
        (
            {"type": "numeric", "name": "b"},
            "s.json: features.a.name is \"b\"; it must be the key, 'a'",
        ),
        (
            {"type": "categorical", "min": 0},
            "s.json: features.a is categorical, which has no min; remove it (or declare the "
            "other type)",
        ),
        (
            {"type": "categorical", "unit": "$", "soft_max": 1, "decimal": ","},
            "s.json: features.a is categorical, which has no decimal, soft_max, unit; remove "
            "them (or declare the other type)",
        ),
        (
            {"type": "numeric", "closed": True, "levels": ["x"]},
            "s.json: features.a is numeric, which has no closed, levels; remove them (or "
            "declare the other type)",
        ),
        (
            {"type": "numeric", "closed": 0},
            "s.json: features.a is numeric, which has no closed; remove it (or declare the "
            "other type)",
        ),
        (
            {"type": "numeric", "levels": ""},
            "s.json: features.a is numeric, which has no levels; remove it (or declare the "
            "other type)",
        ),
        (
            {"type": "categorical", "closed": True},
            "s.json: features.a is closed but declares no levels; add levels or drop closed",
        ),
        (
            {"type": "categorical", "closed": True, "levels": []},
            "s.json: features.a is closed but declares no levels; add levels or drop closed",
        ),
        (
            {"type": "numeric", "nullable": 1},
            "s.json: features.a.nullable must be true or false, got 1",
        ),
        (
            {"type": "numeric", "nullable": None},
            "s.json: features.a.nullable must be true or false, got null",
        ),
        (
            {"type": "numeric", "decimal": ";"},
            's.json: features.a.decimal must be "." or ",", got ";"',
        ),
        (
            {"type": "numeric", "decimal": None},
            's.json: features.a.decimal must be "." or ",", got null',
        ),
        ({"type": "numeric", "unit": 5}, "s.json: features.a.unit must be a string or null, got 5"),
        (
            {"type": "numeric", "min": 5, "max": 1.5},
            "s.json: features.a.min (5) is greater than max (1.5)",
        ),
        (
            {"type": "numeric", "min": "0"},
            's.json: features.a.min must be a finite number, got "0"',
        ),
        (
            {"type": "numeric", "max": False},
            "s.json: features.a.max must be a finite number, got false",
        ),
        (
            {"type": "numeric", "soft_min": math.inf},
            "s.json: features.a.soft_min must be a finite number, got Infinity",
        ),
        (
            {"type": "numeric", "soft_max": math.nan},
            "s.json: features.a.soft_max must be a finite number, got NaN",
        ),
        (
            {"type": "numeric", "min": 10**400},
            "s.json: features.a.min must be a finite number, got 1" + "0" * 36 + "...",
        ),
        (
            {"type": "categorical", "levels": ["x", 1]},
            's.json: features.a.levels must be a list of strings, got ["x", 1]',
        ),
        (
            {"type": "categorical", "levels": "xy"},
            's.json: features.a.levels must be a list of strings, got "xy"',
        ),
        (
            {"type": "categorical", "levels": ["x", " n/a "]},
            "s.json: features.a.levels holds ' n/a ', which data files read as a missing value; "
            "remove it (set nullable instead)",
        ),
        (
            {"type": "categorical", "levels": ["East", "b", " EAST"]},
            "s.json: features.a.levels holds 'East' and ' EAST', one level (values are read in "
            "any case); keep one",
        ),
        (
            {"type": "categorical", "closed": "yes", "levels": ["x"]},
            's.json: features.a.closed must be true or false, got "yes"',
        ),
    ],
)
def test_a_refused_declaration_says_which_field_and_what_to_do(decl: Any, message: str) -> None:
    assert refusal({"features": {"a": decl}}) == message


def test_a_value_in_a_message_is_json_cut_at_40_characters() -> None:
    forty = "x" * 38  # json adds the two quotes: 40 characters, shown whole
    assert refusal({"features": {"a": {"type": "numeric", "unit": [forty]}}}).endswith(
        f'got ["{"x" * 35}...'
    )
    assert refusal({"features": {"a": {"type": forty}}}).endswith(f'got "{forty}"')
    assert refusal({"features": {"a": {"type": forty + "y"}}}).endswith(f'got "{"x" * 36}...')
    # Not ASCII-escaped, and any Python value is shown as text.
    assert refusal({"features": {"a": {"type": "numérique"}}}).endswith('got "numérique"')
    assert refusal({"features": {"a": {"type": "numeric", "unit": {1}}}}).endswith('got "{1}"')


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            ["features"],
            's.json: expected an object with "features", e.g. {"features": {"age": '
            '{"type": "numeric", "min": 18}}}',
        ),
        (
            {"features": {}, "Target": "y", "extra": 1},
            "s.json: unknown key(s) ['Target', 'extra']; allowed keys are ['features', "
            "'negative', 'positive', 'target']",
        ),
        (
            {"features": "age"},
            's.json: expected an object with a "features" object, e.g. {"features": {"age": '
            '{"type": "numeric", "min": 18}}}',
        ),
        (
            {"features": []},
            's.json: "features" is empty; declare at least one, e.g. {"features": {"age": '
            '{"type": "numeric", "min": 18}}}',
        ),
        ({"features": [{"type": "numeric"}]}, 's.json: features[0] needs a string "name"'),
        (
            {"features": [{"name": "a", "type": "numeric"}, "b"]},
            's.json: features[1] needs a string "name"',
        ),
        (
            {"features": [{"name": 3, "type": "numeric"}]},
            's.json: features[0] needs a string "name"',
        ),
        (
            {"features": {" ": {"type": "numeric"}}},
            "s.json: a feature has the empty name ' '; name it",
        ),
        (
            {"features": {"a": {"type": "numeric"}, " a": {"type": "numeric"}}},
            "s.json: the feature 'a' is declared twice (as 'a' and ' a'); keep one",
        ),
        (
            {"features": [{"name": "a", "type": "numeric"}, {"name": "a", "type": "numeric"}]},
            "s.json: the feature 'a' is declared twice; keep one",
        ),
        (
            {"features": {"a": {"type": "numeric"}}, "target": 1},
            "s.json: target must be a string or null, got 1",
        ),
        (
            {"features": {"a": {"type": "numeric"}}, "negative": False},
            "s.json: negative must be a string or null, got false",
        ),
        (
            {"features": {"a": {"type": "numeric"}}, "positive": ["y"]},
            's.json: positive must be a string or null, got ["y"]',
        ),
    ],
)
def test_a_refused_schema_says_what_a_schema_looks_like(data: Any, message: str) -> None:
    assert refusal(data) == message


def test_the_default_place_named_is_schema_and_features_are_checked_where_named() -> None:
    with pytest.raises(DataError) as err:
        FeatureSchema.from_dict({"features": {}})
    assert err.value.message.startswith('schema: "features" is empty')
    with pytest.raises(DataError) as err:
        Feature.from_dict("q", {"type": "x"})
    assert (
        err.value.message == 'schema: features.q.type must be "numeric" or "categorical", got "x"'
    )


def test_a_name_in_the_list_form_is_cleaned_with_its_declaration() -> None:
    s = FeatureSchema.from_dict({"features": [{"name": " Re\u0301gion ", "type": "numeric"}]})
    assert s.names == ["R\u00e9gion"] and s["R\u00e9gion"].name == "R\u00e9gion"


def test_a_schema_needs_distinct_features() -> None:
    with pytest.raises(DataError) as err:
        FeatureSchema(features=())
    assert err.value.message == "a schema needs at least one feature"
    with pytest.raises(DataError) as err:
        FeatureSchema(
            features=(Feature("a", NUMERIC), Feature("b", NUMERIC), Feature("a", NUMERIC))
        )
    assert err.value.message == "duplicate feature names in schema: ['a', 'b', 'a']"


# -- schema files ----------------------------------------------------------------------------
def test_a_schema_file_is_read_and_its_errors_name_it(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"features": {"a": {"type": "numeric", "min": 1}}}', encoding="utf-8")
    assert FeatureSchema.from_file(str(path)) == FeatureSchema(
        features=(Feature("a", NUMERIC, min=1.0),)
    )
    path.write_text('{"features": {"a": {"type": "text"}}}', encoding="utf-8")
    with pytest.raises(DataError) as err:
        FeatureSchema.from_file(path)
    assert err.value.message == (
        f'{path}: features.a.type must be "numeric" or "categorical", got "text"'
    )


def test_schema_file_errors_word_for_word(tmp_path: Path) -> None:
    def message(path: Path) -> tuple[str, str]:
        with pytest.raises(DataError) as err:
            FeatureSchema.from_file(path)
        return err.value.code, err.value.message

    missing = tmp_path / "none.json"
    assert message(missing) == ("file_not_found", f"schema file {missing} does not exist")
    assert message(tmp_path) == (
        "invalid_data",
        f"schema file {tmp_path} is a folder; pass a JSON file",
    )
    p = tmp_path / "s.json"
    p.write_bytes(b'{"features": "\xff"}')
    code, text = message(p)
    assert code == "invalid_data" and text.startswith(f"cannot read schema file {p}: ")
    assert "can't decode byte 0xff" in text
    p.write_text('{"features":\n {"a": }}', encoding="utf-8")
    assert message(p) == (
        "invalid_data",
        f"schema file {p} is not valid JSON: Expecting value at line 2; fix the file",
    )
    p.write_text('{"features": {}, "features": {}}', encoding="utf-8")
    assert message(p) == (
        "invalid_data",
        f"schema file {p} has the key 'features' twice in one object; keep one (JSON readers "
        "disagree on which copy wins)",
    )
    p.write_text('{"features": {"a": {"type": "numeric", "min": ' + "9" * 5000 + "}}}")
    assert message(p) == (
        "invalid_data",
        f"schema file {p} holds a number of more than 4,300 digits, which JSON readers refuse; "
        "write bounds as ordinary numbers (e.g. 1e12)",
    )
    p.write_text('{"features": ' + "[" * 100_000)
    assert message(p) == (
        "invalid_data",
        f"schema file {p} is nested too deeply to read; a schema is "
        '{"features": {"name": {"type": ...}}}',
    )


def test_an_unreadable_schema_file_is_explained(tmp_path: Path) -> None:
    p = tmp_path / "file.json"
    p.write_text("{}")
    with pytest.raises(DataError) as err:
        FeatureSchema.from_file(p / "s.json")
    assert err.value.code == "invalid_data"
    assert err.value.message == (
        f"cannot read schema file {p / 's.json'}: [Errno 20] Not a directory: '{p / 's.json'}'"
    )


# -- records ---------------------------------------------------------------------------------
SCHEMA = FeatureSchema(
    features=(
        Feature("age", NUMERIC, min=18, max=100, soft_min=20, soft_max=80),
        Feature("income", NUMERIC, nullable=True),
        Feature("region", CATEGORICAL, levels=("north", "south")),
        Feature("plan", CATEGORICAL, levels=("basic", "pro"), closed=True),
    ),
    target="y",
)
GOOD: dict[str, Any] = {"age": 40, "income": 50_000.5, "region": "north", "plan": "pro"}


def problems_of(schema: FeatureSchema, record: Any) -> list[dict[str, Any]]:
    valid, problems = schema.validate_record(record)
    assert valid is None and problems
    return problems


def only_problem(schema: FeatureSchema, record: Any) -> tuple[Any, str, str]:
    (p,) = problems_of(schema, record)
    assert set(p) == {"field", "problem", "message"}
    return p["field"], p["problem"], p["message"]


def test_a_valid_record_gives_its_values_in_order_and_a_clean_record() -> None:
    valid, problems = SCHEMA.validate_record(
        {"plan": "PRO", "region": " North ", "income": None, "age": "20"}
    )
    assert problems == [] and valid is not None
    assert valid.values == (20.0, None, "north", "pro")
    assert valid.record == {"age": 20.0, "income": None, "region": "north", "plan": "pro"}
    assert valid.out_of_range == ()
    assert SCHEMA.check_record(GOOD).record == {
        "age": 40.0,
        "income": 50_000.5,
        "region": "north",
        "plan": "pro",
    }


@pytest.mark.parametrize(
    ("record", "kind"),
    [
        ([1], "array"),
        ((1,), "array"),
        ("x", "string"),
        (None, "null"),
        (3, "number"),
        (2.5, "number"),
        (True, "boolean"),
        ({1}, "set"),
    ],
)
def test_a_record_that_is_not_an_object_is_named_by_its_json_type(record: Any, kind: str) -> None:
    assert only_problem(SCHEMA, record) == (
        None,
        "not_an_object",
        f"each record must be a JSON object of features, got {kind}",
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"age": None}, ("age", "null", "field 'age' is null; send a number")),
        ({"age": "n/a"}, ("age", "null", "field 'age' is null; send a number")),
        ({"region": None}, ("region", "null", "field 'region' is null; send a string")),
        ({"region": " NA "}, ("region", "null", "field 'region' is null; send a string")),
        ({"age": True}, ("age", "wrong_type", "field 'age' must be a number, got boolean true")),
        (
            {"age": "forty"},
            ("age", "wrong_type", "field 'age' must be a number, got string 'forty'"),
        ),
        ({"age": [1, 2]}, ("age", "wrong_type", "field 'age' must be a number, got array [1, 2]")),
        (
            {"age": {"v": 1}},
            ("age", "wrong_type", "field 'age' must be a number, got object {\"v\": 1}"),
        ),
        (
            {"age": "x" * 41},
            ("age", "wrong_type", f"field 'age' must be a number, got string '{'x' * 36}..."),
        ),
        (
            {"age": "x" * 38},
            ("age", "wrong_type", f"field 'age' must be a number, got string '{'x' * 38}'"),
        ),
        (
            {"age": "x" * 39},
            ("age", "wrong_type", f"field 'age' must be a number, got string '{'x' * 36}..."),
        ),
        ({"age": math.nan}, ("age", "not_finite", "field 'age' must be finite, got nan")),
        ({"age": -math.inf}, ("age", "not_finite", "field 'age' must be finite, got -inf")),
        (
            {"age": 10**400},
            ("age", "not_finite", f"field 'age' must be finite, got {10**400!r}"),
        ),
        ({"age": 17.5}, ("age", "below_min", "field 'age' is 17.5, below the minimum 18")),
        ({"age": 17}, ("age", "below_min", "field 'age' is 17, below the minimum 18")),
        ({"age": 100.5}, ("age", "above_max", "field 'age' is 100.5, above the maximum 100")),
        ({"region": 3}, ("region", "wrong_type", "field 'region' must be a string, got number 3")),
        (
            {"region": False},
            ("region", "wrong_type", "field 'region' must be a string, got boolean false"),
        ),
        (
            {"plan": "gold"},
            ("plan", "unknown_category", "field 'plan' is 'gold'; allowed values are basic, pro"),
        ),
        (
            {"colour": "red"},
            (
                "colour",
                "unknown_field",
                "field 'colour' is not a feature of this model; expected age, income, region, plan",
            ),
        ),
    ],
)
def test_each_refused_value_is_explained_word_for_word(
    change: dict[str, Any], expected: tuple[str, str, str]
) -> None:
    assert only_problem(SCHEMA, {**GOOD, **change}) == expected


def test_a_missing_field_and_an_unknown_one_are_both_reported_in_order() -> None:
    record = {"age": 40, "plan": "pro", 7: 1, "extra": 2}
    assert problems_of(SCHEMA, record) == [
        {
            "field": "income",
            "problem": "missing",
            "message": "field 'income' is required (numeric)",
        },
        {
            "field": "region",
            "problem": "missing",
            "message": "field 'region' is required (categorical)",
        },
        {
            "field": "7",
            "problem": "unknown_field",
            "message": "field 7 is not a feature of this model; expected age, income, region, plan",
        },
        {
            "field": "extra",
            "problem": "unknown_field",
            "message": "field 'extra' is not a feature of this model; expected age, income, "
            "region, plan",
        },
    ]


def test_hard_bounds_are_closed_and_soft_ranges_flag_only_beyond_them() -> None:
    def flagged(age: float) -> tuple[str, ...]:
        return SCHEMA.check_record({**GOOD, "age": age}).out_of_range

    assert flagged(18) == ("age",) and flagged(100) == ("age",)
    assert flagged(20) == () and flagged(80) == () and flagged(50) == ()
    assert flagged(19.99) == ("age",) and flagged(80.01) == ("age",)
    only_low = FeatureSchema(features=(Feature("x", NUMERIC, soft_min=0),))
    only_high = FeatureSchema(features=(Feature("x", NUMERIC, soft_max=0),))
    assert only_low.check_record({"x": 5}).out_of_range == ()
    assert only_low.check_record({"x": -5}).out_of_range == ("x",)
    assert only_high.check_record({"x": -5}).out_of_range == ()
    assert only_high.check_record({"x": 5}).out_of_range == ("x",)
    only_max = FeatureSchema(features=(Feature("x", NUMERIC, max=0),))
    assert only_max.check_record({"x": -(10**300)}).values == (-1e300,)
    only_min = FeatureSchema(features=(Feature("x", NUMERIC, min=0),))
    assert only_min.check_record({"x": 1e300}).values == (1e300,)


def test_unseen_levels_of_an_open_feature_are_flagged_in_any_case() -> None:
    valid = SCHEMA.check_record({**GOOD, "region": "NORTH"})
    assert valid.values[2] == "north" and valid.out_of_range == ()
    valid = SCHEMA.check_record({**GOOD, "region": "East"})
    assert valid.values[2] == "East" and valid.out_of_range == ("region",)
    free = FeatureSchema(features=(Feature("c", CATEGORICAL),))
    assert free.check_record({"c": "any"}).out_of_range == ()
    both = SCHEMA.check_record({**GOOD, "age": 90, "region": "west"})
    assert both.out_of_range == ("age", "region")


def test_levels_that_clash_in_case_are_matched_exactly_only() -> None:
    s = FeatureSchema(features=(Feature("c", CATEGORICAL, levels=("a", "A"), closed=True),))
    assert s.check_record({"c": "A"}).values == ("A",)
    assert only_problem(s, {"c": "b"})[2] == "field 'c' is 'b'; allowed values are a, A"


def test_a_closed_feature_lists_at_most_20_levels() -> None:
    levels = tuple(f"l{i:02d}" for i in range(21))
    twenty = FeatureSchema(features=(Feature("c", CATEGORICAL, levels=levels[:20], closed=True),))
    many = FeatureSchema(features=(Feature("c", CATEGORICAL, levels=levels, closed=True),))
    assert only_problem(twenty, {"c": "z"})[2] == (
        f"field 'c' is 'z'; allowed values are {', '.join(levels[:20])}"
    )
    assert only_problem(many, {"c": "z"})[2] == (
        f"field 'c' is 'z'; allowed values are {', '.join(levels[:20])} ..."
    )


def test_numbers_sent_as_text_are_read_with_the_features_decimal_and_unit() -> None:
    s = FeatureSchema(
        features=(
            Feature("eu", NUMERIC, decimal=",", unit="€"),
            Feature("any", NUMERIC),
        )
    )
    assert s.check_record({"eu": "1.234,5 €", "any": "$7"}).values == (1234.5, 7.0)
    assert s.check_record({"eu": "2,5", "any": "1e3"}).values == (2.5, 1000.0)
    assert only_problem(s, {"eu": "$3", "any": 1}) == (
        "eu",
        "wrong_type",
        "field 'eu' is '$3', in '$'; the model was trained on values in '€'",
    )
    assert only_problem(s, {"eu": 1, "any": "7 kg"}) == (
        "any",
        "wrong_type",
        "field 'any' must be a number, got string '7 kg'",
    )


def test_a_categorical_value_is_read_as_a_csv_cell_is() -> None:
    codes = FeatureSchema(features=(Feature("c", CATEGORICAL, levels=("1", "2", "-3")),))
    assert codes.check_record({"c": 2}).values == ("2",)
    assert codes.check_record({"c": 2.0}).values == ("2",)
    assert codes.check_record({"c": -3}).values == ("-3",)
    assert only_problem(codes, {"c": 2.5})[2] == "field 'c' must be a string, got number 2.5"
    assert only_problem(codes, {"c": math.inf})[2] == (
        "field 'c' must be a string, got number Infinity"
    )
    mixed = FeatureSchema(features=(Feature("c", CATEGORICAL, levels=("1", "x")),))
    assert only_problem(mixed, {"c": 1})[2] == "field 'c' must be a string, got number 1"
    free = FeatureSchema(features=(Feature("c", CATEGORICAL),))
    assert only_problem(free, {"c": 1})[2] == "field 'c' must be a string, got number 1"
    assert only_problem(free, {"c": True})[2] == "field 'c' must be a string, got boolean true"
    bools = FeatureSchema(features=(Feature("c", CATEGORICAL, levels=("True", "False")),))
    assert bools.check_record({"c": True}).values == ("True",)
    assert bools.check_record({"c": False}).values == ("False",)
    assert bools.check_record({"c": " true "}).values == ("True",)
    assert bools.check_record({"c": "FALSE"}).values == ("False",)
    yn = FeatureSchema(features=(Feature("c", CATEGORICAL, levels=("Y", "N"), closed=True),))
    assert yn.check_record({"c": True}).values == ("Y",)
    assert yn.check_record({"c": False}).values == ("N",)
    assert yn.check_record({"c": "y"}).values == ("Y",)
    words = FeatureSchema(features=(Feature("c", CATEGORICAL, levels=("yes", "no")),))
    assert words.check_record({"c": "true"}).values == ("true",)
    assert words.check_record({"c": "true"}).out_of_range == ("c",)
    other = FeatureSchema(features=(Feature("c", CATEGORICAL, levels=("a", "b")),))
    assert only_problem(other, {"c": True})[2] == "field 'c' must be a string, got boolean true"
    assert other.check_record({"c": "  a\u00a0 b "}).values == ("a b",)
    assert other.check_record({"c": "true"}).values == ("true",)


def test_check_record_raises_every_problem_with_a_summary() -> None:
    with pytest.raises(ValidationError) as err:
        SCHEMA.check_record({"age": 1, "plan": "x", "region": 5})
    assert err.value.code == "validation_failed"
    assert err.value.message == (
        "4 invalid field(s): field 'age' is 1, below the minimum 18; field 'income' is "
        "required (numeric); field 'region' must be a string, got number 5 (and 1 more)"
    )
    assert [p["field"] for p in err.value.details] == ["age", "income", "region", "plan"]
    with pytest.raises(ValidationError) as err:
        SCHEMA.check_record({"age": 1, "income": 1, "plan": "x", "region": 5})
    assert err.value.message == (
        "3 invalid field(s): field 'age' is 1, below the minimum 18; field 'region' must be a "
        "string, got number 5; field 'plan' is 'x'; allowed values are basic, pro"
    )


def test_summarize_counts_and_shows_the_first_three() -> None:
    items = [{"message": f"m{i}"} for i in range(5)]
    assert summarize(items[:1]) == "1 invalid field(s): m0"
    assert summarize(iter(items)) == "5 invalid field(s): m0; m1; m2 (and 2 more)"
    assert summarize(items[:4]) == "4 invalid field(s): m0; m1; m2 (and 1 more)"


@pytest.mark.parametrize(
    ("x", "shown"),
    [
        (17.0, "17"),
        (-0.5, "-0.5"),
        (1e15, "1e+15"),
        (999_999_999_999_999.0, "999999999999999"),
        (-1e15, "-1e+15"),
        (1.25e-7, "1.25e-07"),
    ],
)
def test_numbers_in_messages_are_integers_when_whole(x: float, shown: str) -> None:
    s = FeatureSchema(features=(Feature("x", NUMERIC, min=1e16),))
    assert only_problem(s, {"x": x})[2] == f"field 'x' is {shown}, below the minimum 1e+16"


# -- training frames ----------------------------------------------------------------------------
def test_frame_problems_word_for_word_with_counts_and_lines() -> None:
    frame = pd.DataFrame(
        {
            "age": [40.0, 10.0, 130.0, np.nan, np.inf, 5.0],
            "region": ["north", 5, None, "east", "x", "y"],
            "plan": ["pro", "gold", "basic", None, "PRO", "pro"],
        }
    )
    assert SCHEMA.validate_frame(frame) == [
        {
            "field": "age",
            "problem": "null",
            "message": "column 'age' has 1 empty value(s) (CSV lines 5)",
            "count": 1,
            "rows": [3],
        },
        {
            "field": "age",
            "problem": "not_finite",
            "message": "column 'age' has 1 infinite value(s) (CSV lines 6)",
            "count": 1,
            "rows": [4],
        },
        {
            "field": "age",
            "problem": "below_min",
            "message": "column 'age' has 2 value(s) below the minimum 18 (CSV lines 3, 7)",
            "count": 2,
            "rows": [1, 5],
        },
        {
            "field": "age",
            "problem": "above_max",
            "message": "column 'age' has 2 value(s) above the maximum 100 (CSV lines 4, 6)",
            "count": 2,
            "rows": [2, 4],
        },
        {
            "field": "income",
            "problem": "missing",
            "message": "column 'income' is missing",
            "count": 6,
        },
        {
            "field": "region",
            "problem": "null",
            "message": "column 'region' has 1 empty value(s) (CSV lines 4)",
            "count": 1,
            "rows": [2],
        },
        {
            "field": "region",
            "problem": "wrong_type",
            "message": "column 'region' has 1 non-string value(s) (CSV lines 3)",
            "count": 1,
            "rows": [1],
        },
        {
            "field": "plan",
            "problem": "null",
            "message": "column 'plan' has 1 empty value(s) (CSV lines 5)",
            "count": 1,
            "rows": [3],
        },
        {
            "field": "plan",
            "problem": "unknown_category",
            "message": "column 'plan' has 2 value(s) outside the declared levels ['basic', 'pro'] "
            "(CSV lines 3, 6)",
            "count": 2,
            "rows": [1, 4],
        },
    ]


def test_frame_problems_show_at_most_limit_lines() -> None:
    s = FeatureSchema(features=(Feature("x", NUMERIC, min=0),))
    frame = pd.DataFrame({"x": [-1.0] * 6 + [1.0]})
    (p,) = s.validate_frame(frame)
    assert p["message"] == (
        "column 'x' has 6 value(s) below the minimum 0 (CSV lines 2, 3, 4, 5, 6 ...)"
    )
    assert (p["count"], p["rows"]) == (6, [0, 1, 2, 3, 4])
    (p,) = s.validate_frame(frame, limit=6)
    assert p["message"] == (
        "column 'x' has 6 value(s) below the minimum 0 (CSV lines 2, 3, 4, 5, 6, 7)"
    )
    assert p["rows"] == [0, 1, 2, 3, 4, 5]
    (p,) = s.validate_frame(frame, limit=2)
    assert p["message"].endswith("(CSV lines 2, 3 ...)") and p["rows"] == [0, 1]


def test_a_frame_column_of_the_wrong_dtype_is_counted_once() -> None:
    s = FeatureSchema(features=(Feature("x", NUMERIC, min=0, nullable=True),))
    assert s.validate_frame(pd.DataFrame({"x": pd.Series(["a", None, "b"], dtype=object)})) == [
        {
            "field": "x",
            "problem": "wrong_type",
            "message": "column 'x' must be numeric, has dtype object",
            "count": 2,
        }
    ]
    assert s.validate_frame(pd.DataFrame({"x": [True, False]}))[0]["message"] == (
        "column 'x' must be numeric, has dtype bool"
    )
    assert s.validate_frame(pd.DataFrame({"x": [np.nan, 1.0]})) == []
    assert s.validate_frame(pd.DataFrame({"x": pd.array([1, None], dtype="Int64")})) == []


def test_a_closed_feature_shows_ten_levels_and_an_open_one_takes_any() -> None:
    levels = tuple(f"l{i}" for i in range(12))
    closed = FeatureSchema(features=(Feature("c", CATEGORICAL, levels=levels, closed=True),))
    (p,) = closed.validate_frame(pd.DataFrame({"c": ["l0", "l11", "zz"]}))
    assert p["message"] == (
        f"column 'c' has 1 value(s) outside the declared levels {list(levels[:10])} (CSV lines 4)"
    )
    open_ = FeatureSchema(features=(Feature("c", CATEGORICAL, levels=("a",)),))
    assert open_.validate_frame(pd.DataFrame({"c": ["a", "zz"]})) == []
    odd = FeatureSchema(features=(Feature("c", CATEGORICAL, closed=True),))
    assert odd.validate_frame(pd.DataFrame({"c": ["a", "zz"]})) == []
    nullable = FeatureSchema(
        features=(Feature("c", CATEGORICAL, levels=("a",), closed=True, nullable=True),)
    )
    assert nullable.validate_frame(pd.DataFrame({"c": ["a", None, 3]})) == [
        {
            "field": "c",
            "problem": "wrong_type",
            "message": "column 'c' has 1 non-string value(s) (CSV lines 4)",
            "count": 1,
            "rows": [2],
        },
        {
            "field": "c",
            "problem": "unknown_category",
            "message": "column 'c' has 1 value(s) outside the declared levels ['a'] (CSV lines 4)",
            "count": 1,
            "rows": [2],
        },
    ]


# -- model input -------------------------------------------------------------------------------
def test_to_matrix_numeric_and_mixed() -> None:
    num = FeatureSchema(features=(Feature("a", NUMERIC), Feature("b", NUMERIC)))
    m = num.to_matrix([(1, None), (2.5, 3)])
    assert m.dtype == np.float64 and m.shape == (2, 2)
    np.testing.assert_array_equal(m, [[1.0, np.nan], [2.5, 3.0]])
    empty = num.to_matrix([])
    assert empty.shape == (0, 2) and empty.dtype == np.float64
    mixed = FeatureSchema(features=(Feature("a", NUMERIC), Feature("c", CATEGORICAL)))
    m = mixed.to_matrix([(1, "x"), (None, None)])
    assert m.dtype == object and m.shape == (2, 2)
    assert m[0, 0] == 1.0 and type(m[0, 0]) is float and math.isnan(m[1, 0])
    assert m[0, 1] == "x" and isinstance(m[1, 1], float) and math.isnan(m[1, 1])
    assert mixed.to_matrix([]).shape == (0, 2)


def test_frame_to_matrix_numeric_and_mixed() -> None:
    num = FeatureSchema(features=(Feature("b", NUMERIC), Feature("a", NUMERIC)))
    frame = pd.DataFrame({"a": [1, 2], "b": [np.nan, 4.0], "y": [0, 1]})
    m = num.frame_to_matrix(frame)
    assert m.dtype == np.float64
    np.testing.assert_array_equal(m, [[np.nan, 1.0], [4.0, 2.0]])
    mixed = FeatureSchema(features=(Feature("c", CATEGORICAL), Feature("a", NUMERIC)))
    frame = pd.DataFrame({"a": pd.array([1, None], dtype="Int64"), "c": ["x", None]})
    m = mixed.frame_to_matrix(frame)
    assert m.dtype == object and m.shape == (2, 2)
    assert m[0, 0] == "x" and isinstance(m[1, 0], float) and math.isnan(m[1, 0])
    assert m[0, 1] == 1.0 and type(m[0, 1]) is float and math.isnan(m[1, 1])


# -- inference ---------------------------------------------------------------------------------
def test_infer_schema_from_data_alone() -> None:
    frame = pd.DataFrame(
        {
            "n": [1.5, np.inf, 3.0, -np.inf],
            "e": [np.nan] * 4,
            "b": [True, False, True, True],
            "c": ["b", "a", None, "b"],
            "k": [3, 1, 2, 2],
            "y": [0, 1, 0, 1],
        }
    )
    s = infer_schema(frame, target="y", positive="1", negative="0")
    assert (s.target, s.positive, s.negative) == ("y", "1", "0")
    assert s.features == (
        Feature("n", NUMERIC, soft_min=1.5, soft_max=3.0),
        Feature("e", NUMERIC, nullable=True),
        Feature("b", CATEGORICAL, levels=("False", "True")),
        Feature("c", CATEGORICAL, levels=("a", "b"), nullable=True),
        Feature("k", NUMERIC, soft_min=1.0, soft_max=3.0),
    )
    assert type(s["k"].soft_min) is float


def test_infer_schema_keeps_declarations_and_fills_in_the_rest() -> None:
    declared = FeatureSchema(
        features=(
            Feature("n", NUMERIC, min=0, max=10, nullable=True, decimal=",", unit="€"),
            Feature("open", CATEGORICAL, levels=("East", "west")),
            Feature("shut", CATEGORICAL, levels=("a", "b", "z"), closed=True),
        )
    )
    frame = pd.DataFrame(
        {
            "n": [1.0, 2.0],
            "open": ["EAST", "north"],
            "shut": ["a", "b"],
            "free": ["q", "p"],
            "y": [0, 1],
        }
    )
    s = infer_schema(frame, target="y", declared=declared)
    assert s.names == ["n", "open", "shut"] and s.target == "y"
    assert s["n"] == Feature(
        "n",
        NUMERIC,
        min=0,
        max=10,
        soft_min=1.0,
        soft_max=2.0,
        nullable=True,
        decimal=",",
        unit="€",
    )
    assert s["open"] == Feature("open", CATEGORICAL, levels=("East", "west", "north"))
    assert s["shut"] == Feature("shut", CATEGORICAL, levels=("a", "b", "z"), closed=True)

    picked = infer_schema(
        frame,
        target="y",
        declared=declared,
        names=["free", "n"],
        formats={"n": {"decimal": ".", "unit": None}, "free": {}},
    )
    assert picked.features == (
        Feature("free", CATEGORICAL, levels=("p", "q")),
        Feature("n", NUMERIC, min=0, max=10, soft_min=1.0, soft_max=2.0, nullable=True),
    )
    # A declared categorical column read as numbers stays categorical; formats set decimal
    # and unit of an undeclared numeric column.
    coded = FeatureSchema(features=(Feature("g", CATEGORICAL),))
    frame2 = pd.DataFrame({"g": [2, 1, 2], "m": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    s2 = infer_schema(
        frame2, target="y", declared=coded, names=["g", "m"], formats={"m": {"decimal": ","}}
    )
    assert s2.features == (
        Feature("g", CATEGORICAL, levels=("1", "2")),
        Feature("m", NUMERIC, soft_min=1.0, soft_max=3.0, decimal=","),
    )
    s3 = infer_schema(frame2, target="y", names=["m"], formats={"m": {"unit": "%"}})
    assert s3["m"] == Feature("m", NUMERIC, soft_min=1.0, soft_max=3.0, unit="%")


# -- labels ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "label"),
    [
        (True, 1),
        (False, 0),
        (1, 1),
        (0, 0),
        (2, None),
        (-1, None),
        (1.0, 1),
        (0.0, 0),
        (0.5, None),
        ("1", 1),
        (" +1 ", 1),
        ("1.0", 1),
        ("1e0", 1),
        ("0.0", 0),
        ("-0", 0),
        ("YES", 1),
        ("t", 1),
        ("Y", 1),
        ("true", 1),
        ("No", 0),
        ("f", 0),
        ("n", 0),
        ("FALSE", 0),
        ("2", None),
        ("maybe", None),
        ("", None),
        (None, None),
        ([1], None),
        (math.nan, None),
        (math.inf, None),
        (10**15, None),
        (1e15, None),
        ("1" + " " * 256, None),
        ("1" + " " * 255, 1),
        ("0" * 32 + "1", None),
        ("0" * 31 + "1", 1),
    ],
)
def test_label_value_without_target_values(value: Any, label: int | None) -> None:
    assert label_value(value) == label
    assert label_value(value, FeatureSchema(features=(Feature("a", NUMERIC),))) == label


def test_label_value_prefers_the_targets_own_values() -> None:
    words = FeatureSchema(features=(Feature("a", NUMERIC),), positive=" Bad ", negative="good")
    assert [label_value(v, words) for v in ("bad", "BAD ", "Good", "1", "no", "x")] == [
        1,
        1,
        0,
        1,
        0,
        None,
    ]
    flipped = FeatureSchema(features=(Feature("a", NUMERIC),), positive="0", negative="1")
    assert [label_value(v, flipped) for v in (0, 1, "0.0", "+1", True, "yes")] == [1, 0, 1, 0, 1, 1]
    codes = FeatureSchema(features=(Feature("a", NUMERIC),), positive="2", negative="1")
    assert [label_value(v, codes) for v in (2, 2.0, "2e0", 1, 0)] == [1, 1, 1, 0, 0]
    only_positive = FeatureSchema(features=(Feature("a", NUMERIC),), positive="2")
    assert [label_value(v, only_positive) for v in (2, 1, 0, 3)] == [1, 1, 0, None]
    # A value with a unit is not the bare number: "1" is not the target's "1$".
    unit = FeatureSchema(features=(Feature("a", NUMERIC),), positive="0$", negative="1$")
    assert [label_value(v, unit) for v in ("1$", "1", "0", "0$")] == [0, 1, 0, 1]
    # Integers and whole floats are read up to (not including) 10**15 in size.
    for n in (10**15, -(10**15)):
        own = FeatureSchema(features=(Feature("a", NUMERIC),), positive=str(n), negative="x")
        assert label_value(n, own) is None and label_value(float(n), own) is None
        assert label_value(str(n), own) == 1
        near = n - 1 if n > 0 else n + 1
        own = FeatureSchema(features=(Feature("a", NUMERIC),), positive=str(near), negative="x")
        assert label_value(near, own) == 1 and label_value(float(near), own) == 1
    big = FeatureSchema(features=(Feature("a", NUMERIC),), positive="999999999999999")
    assert label_value(999_999_999_999_999, big) == 1
    assert label_value(999_999_999_999_999.0, big) == 1
    assert label_value(-999_999_999_999_999.0) is None


def test_target_values_are_read_as_numbers_up_to_32_characters() -> None:
    def schema(negative: str) -> FeatureSchema:
        return FeatureSchema(features=(Feature("a", NUMERIC),), positive="x", negative=negative)

    # 32 characters: "000...01" is the number 1, so "1" means the target's negative value.
    assert label_value("1", schema("0" * 31 + "1")) == 0
    # 33 characters: read as text only; "1" is then the usual 1.
    assert label_value("1", schema("0" * 32 + "1")) == 1
    assert label_value("0" * 32 + "1", schema("0" * 32 + "1")) == 0


def test_label_hint_names_the_targets_values_when_both_are_known() -> None:
    base = "label must be 0 or 1 (or true/false, yes/no)"
    assert label_hint() == base
    assert label_hint(FeatureSchema(features=(Feature("a", NUMERIC),), positive="bad")) == base
    assert label_hint(FeatureSchema(features=(Feature("a", NUMERIC),), negative="good")) == base
    both = FeatureSchema(features=(Feature("a", NUMERIC),), positive="bad", negative="good")
    assert label_hint(both) == base + ", or the target's values 'good'/'bad'"


# -- what `train` prints -----------------------------------------------------------------------
def test_describe_prints_one_aligned_line_per_feature() -> None:
    s = FeatureSchema(
        features=(
            Feature("age", NUMERIC, min=18, max=100.5, soft_min=20, soft_max=80, nullable=True),
            Feature("income", NUMERIC, soft_min=1.5, decimal=",", unit="€"),
            Feature("pct", NUMERIC, max=1, unit="%"),
            Feature("dec", NUMERIC, decimal=","),
            Feature("c", CATEGORICAL, levels=tuple("abcdefgh")),
            Feature("d", CATEGORICAL, levels=tuple("abcdefghi"), closed=True),
        )
    )
    assert describe(s) == [
        "age     numeric      nullable  hard bounds [18, 100.5], training range [20, 80]",
        "income  numeric      required  no hard bounds, training range [1.5, -]  "
        "written with decimal ',', unit '€'",
        "pct     numeric      required  hard bounds [-, 1], training range [-, -]  "
        "written with decimal '.', unit '%'",
        "dec     numeric      required  no hard bounds, training range [-, -]  "
        "written with decimal ','",
        "c       categorical  required  8 seen level(s): a, b, c, d, e, f, g, h",
        "d       categorical  required  9 declared (closed) level(s): a, b, c, d, e, f, g, h ...",
    ]
    lo = FeatureSchema(features=(Feature("x", NUMERIC, min=0),))
    assert describe(lo) == ["x  numeric      required  hard bounds [0, -], training range [-, -]"]


@pytest.mark.skipif(bool(sys.flags.utf8_mode), reason="UTF-8 mode ignores the locale")
def test_a_schema_file_is_read_as_utf8_whatever_the_locale(tmp_path: Path) -> None:
    """Under the C locale without UTF-8 mode, Python's default text encoding is ASCII. In
    this process (not a subprocess), so that mutation testing links the test to from_file."""
    path = tmp_path / "s.json"
    path.write_text('{"features": {"R\u00e9gion": {"type": "numeric"}}}', encoding="utf-8")
    before = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    try:
        with pytest.raises(UnicodeDecodeError):
            path.read_text()  # the locale's codec is ASCII now
        assert FeatureSchema.from_file(path).names == ["R\u00e9gion"]
    finally:
        locale.setlocale(locale.LC_CTYPE, before)


def test_a_declared_numeric_column_of_python_numbers_gets_its_training_range() -> None:
    declared = FeatureSchema(features=(Feature("n", NUMERIC),))
    frame = pd.DataFrame({"n": pd.Series([2.0, None, 1.0], dtype=object), "y": [0, 1, 0]})
    s = infer_schema(frame, target="y", declared=declared)
    assert s["n"] == Feature("n", NUMERIC, soft_min=1.0, soft_max=2.0, nullable=True)


# -- matrices: float64 numeric columns whatever the input's dtype ------------------------------
NUMS = FeatureSchema(features=(Feature("a", NUMERIC), Feature("b", NUMERIC, nullable=True)))
MIXED = FeatureSchema(
    features=(Feature("a", NUMERIC, nullable=True), Feature("c", CATEGORICAL, levels=("p",)))
)


def test_frame_to_matrix_gives_float64_for_integer_columns() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": pd.array([3, None], dtype="Int64"), "z": [0, 0]})
    m = NUMS.frame_to_matrix(frame)
    assert m.dtype == np.float64 and m[:, 0].tolist() == [1.0, 2.0]
    assert m[0, 1] == 3.0 and np.isnan(m[1, 1])
    assert NUMS.frame_to_matrix(frame[["a", "z"]].assign(b=[4, 5])).dtype == np.float64


def test_frame_to_matrix_of_a_mixed_schema_holds_floats_and_nan() -> None:
    frame = pd.DataFrame(
        {"a": pd.Series([1, pd.NA, 3], dtype=object), "c": pd.Series(["p", None, "p"])}
    )
    m = MIXED.frame_to_matrix(frame)
    assert m.dtype == object
    assert [type(v) for v in m[:, 0]] == [float, float, float]
    assert m[0, 0] == 1.0 and np.isnan(m[1, 0]) and m[2, 0] == 3.0
    assert m[0, 1] == "p" and isinstance(m[1, 1], float) and np.isnan(m[1, 1])
    ints = MIXED.frame_to_matrix(pd.DataFrame({"a": [1, 2], "c": ["p", "p"]}))
    assert [type(v) for v in ints[:, 0]] == [float, float]


def test_to_matrix_of_a_mixed_schema_holds_floats_and_nan() -> None:
    m = MIXED.to_matrix([(1, "p"), (None, None)])
    assert m.dtype == object and [type(v) for v in m[:, 0]] == [float, float]
    assert m[0, 0] == 1.0 and np.isnan(m[1, 0])
    assert m[0, 1] == "p" and np.isnan(m[1, 1])
    assert NUMS.to_matrix([(1, None)]).tolist()[0][0] == 1.0
    ints = MIXED.to_matrix([(1, "p"), (2, "p")])  # no NaN to make the column float
    assert [type(v) for v in ints[:, 0]] == [float, float]
