"""Training files with faults a reviewer found (issue 12): each trains with the types a person
expects or is refused before fitting with one line naming the cause, the line or column and
the fix. Schema files, the target's spellings, the CSV's structure, units, header names and
names the API reserves."""

from __future__ import annotations

import subprocess
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfheal import datasets
from selfheal.errors import DataError
from selfheal.schema import FeatureSchema, infer_schema, label_value
from tests.conftest import PYTHON, ROOT, subprocess_env
from tests.test_csv_kinds import csv_with, refusal, write_csv


def _table(n: int = 30) -> dict[str, list[str]]:
    """A clean table: numbers, a category and a 0/1 target, in CSV lines 2..n+1."""
    return {
        "age": [str(20 + i) for i in range(n)],
        "region": [("east", "west", "north")[i % 3] for i in range(n)],
        "outcome": [str(i % 2) for i in range(n)],
    }


def _text(columns: dict[str, list[str]]) -> list[str]:
    names = list(columns)
    n = len(columns[names[0]])
    return [",".join(names)] + [",".join(columns[c][i] for c in names) for i in range(n)]


# -- 1. schema files are read strictly (see also tests/test_schema.py) ---------------------
def test_a_schema_string_where_a_boolean_belongs_is_refused_not_truthy(tmp_path: Path) -> None:
    path = csv_with(tmp_path, "income", [str(1000 + i) for i in range(30)])
    schema = tmp_path / "schema.json"
    schema.write_text('{"features": {"income": {"type": "numeric", "nullable": "false"}}}')
    with pytest.raises(DataError) as err:
        datasets.load_csv(path, target="outcome", schema=FeatureSchema.from_file(schema))
    assert err.value.message == (
        f'{schema}: features.income.nullable must be true or false, got "false"'
    )
    schema.write_text('{"features": {"income": {"type": "numeric", "nullable": false}}}')
    declared = FeatureSchema.from_file(schema)
    loaded = datasets.load_csv(path, target="outcome", schema=declared)
    inferred = infer_schema(loaded.features, target="outcome", declared=declared)
    assert inferred["income"].nullable is False


# -- 2. the target's spellings ------------------------------------------------------------
@pytest.mark.parametrize(
    ("cells", "positive", "ones", "spelled", "other"),
    [
        (["yes", "no", "YES", "no", "yes", "NO"], None, [1, 0, 1, 0, 1, 0], None, None),
        (["Yes", "No", "Yes", "No", "yes", "no"], "yes", [1, 0, 1, 0, 1, 0], "Yes", "No"),
        (["TRUE", "false", "TRUE", "false"], "true", [1, 0, 1, 0], "TRUE", "false"),
        (["bad", "good", "BAD", " Good ", "bad", "good"], "Bad", [1, 0, 1, 0, 1, 0], "bad", "good"),
        (["0", "1", "1.0", "0.0", "1", "1"], None, [0, 1, 1, 0, 1, 1], None, None),
        (['"yes\u00a0"', "no", " yes", "no"], "YES", [1, 0, 1, 0], "yes", "no"),
    ],
)
def test_target_values_are_read_as_categories_in_any_case(
    tmp_path: Path,
    cells: list[str],
    positive: str | None,
    ones: list[int],
    spelled: str | None,
    other: str | None,
) -> None:
    k = 30 // len(cells) + 1
    columns = {"age": [str(i) for i in range(len(cells) * k)], "outcome": cells * k}
    path = write_csv(tmp_path / "data.csv", columns)
    loaded = datasets.load_csv(path, target="outcome", positive=positive)
    assert loaded.y.tolist() == ones * k
    assert (loaded.positive, loaded.negative) == (spelled, other)
    schema = infer_schema(
        loaded.features, target="outcome", positive=loaded.positive, negative=loaded.negative
    )
    # Serving reads the label in any case, as training now does.
    for cell, one in zip(cells, ones, strict=True):
        assert label_value(cell.strip('"'), schema) == one


@pytest.mark.parametrize(
    ("cells", "positive", "code", "message"),
    [
        (["yes", "no", "maybe"], None, "invalid_target", "exactly two values (any case), found 3"),
        (["yes", "no"], "maybe", "invalid_target", "--positive 'maybe' is not a value"),
        (["bad", "good", "BAD", "bad"], None, "ambiguous_target", "values ['bad', 'good']"),
    ],
)
def test_target_refusals_name_the_values(
    tmp_path: Path, cells: list[str], positive: str | None, code: str, message: str
) -> None:
    err = refusal(
        write_csv(
            tmp_path / "d.csv",
            {"age": [str(i) for i in range(30)], "outcome": (cells * 30)[:30]},
        ),
        positive=positive,
    )
    assert err.code == code and message in err.message


def test_an_empty_target_gives_its_physical_csv_line(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("age,outcome\n\n" + "".join(f"{i},{i % 2}\n" for i in range(30)) + "7,NA\n")
    err = refusal(path)
    assert "'outcome' has 1 empty value(s) (CSV line(s) 33)" in err.message


_PAIRS = [("bad", "good"), ("yes", "no"), ("Churned", "Stayed"), ("Ja", "Nein")]
_SPELL = [str.lower, str.upper, str.title, lambda w: f" {w} ", lambda w: w]


@settings(
    max_examples=60,
    deadline=2000,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    pair=st.sampled_from(_PAIRS),
    labels=st.lists(st.booleans(), min_size=30, max_size=60).filter(lambda b: 0 < sum(b) < len(b)),
    spellings=st.lists(st.integers(0, len(_SPELL) - 1), min_size=60, max_size=60),
    positive_spelling=st.integers(0, len(_SPELL) - 1),
)
def test_any_case_of_a_two_value_target_gives_the_same_labels(
    tmp_path: Path,
    pair: tuple[str, str],
    labels: list[bool],
    spellings: list[int],
    positive_spelling: int,
) -> None:
    cells = [
        f'"{_SPELL[s](pair[0] if one else pair[1])}"'
        for one, s in zip(labels, spellings, strict=False)
    ]
    columns = {"age": [str(i) for i in range(len(cells))], "outcome": cells}
    path = write_csv(tmp_path / "data.csv", columns)
    positive = _SPELL[positive_spelling](pair[0])
    loaded = datasets.load_csv(path, target="outcome", positive=positive)
    assert loaded.y.tolist() == [int(b) for b in labels]
    assert loaded.positive is not None and loaded.positive.casefold() == pair[0].casefold()
    assert loaded.negative is not None and loaded.negative.casefold() == pair[1].casefold()
    written = [c.strip('" ') for c in cells]
    assert loaded.positive in written and loaded.negative in written  # a spelling the data used


# -- 2b. declared levels in another case ----------------------------------------------------
def test_closed_levels_take_data_in_any_case_and_refuse_only_the_others(tmp_path: Path) -> None:
    declared = FeatureSchema.from_dict(
        {
            "features": {
                "region": {
                    "type": "categorical",
                    "levels": ["East", "WEST", "north", "south"],
                    "closed": True,
                }
            }
        }
    )
    cells = ["east", "west", " NORTH", "South", "EAST", "West"] * 5
    path = csv_with(tmp_path, "region", cells)
    loaded = datasets.load_csv(path, target="outcome", schema=declared)
    assert loaded.features["region"].tolist()[:6] == ["East", "WEST", "north", "south"] + [
        "East",
        "WEST",
    ]
    assert not loaded.notes  # the declared spelling is no case merge to report
    schema = infer_schema(
        loaded.features, target="outcome", declared=declared, names=["age", "region"]
    )
    assert schema["region"].levels == ("East", "WEST", "north", "south")
    assert schema.validate_frame(loaded.features) == []
    err = refusal(csv_with(tmp_path, "region", [*cells[:-1], "centre"]), schema=declared)
    assert err.code == "validation_failed"
    assert "'region' has 1 value(s) outside the declared levels" in err.message
    assert "'centre' (CSV line 31)" in err.message


def test_open_declared_levels_keep_their_spelling(tmp_path: Path) -> None:
    declared = FeatureSchema.from_dict(
        {"features": {"region": {"type": "categorical", "levels": ["East"]}}}
    )
    path = csv_with(tmp_path, "region", ["east", "west", "EAST"] * 10)
    loaded = datasets.load_csv(path, target="outcome", schema=declared)
    schema = infer_schema(
        loaded.features, target="outcome", declared=declared, names=["age", "region"]
    )
    assert schema["region"].levels == ("East", "west")


# -- 3. the CSV's structure ----------------------------------------------------------------
def test_a_row_with_fewer_fields_than_the_header_is_refused_with_its_line(tmp_path: Path) -> None:
    lines = _text(_table())
    lines[6] = "25,west"  # CSV line 7
    path = tmp_path / "data.csv"
    path.write_text("\n".join(lines) + "\n")
    err = refusal(path)
    assert err.message == (
        f"line 7 of {path} has 2 fields but the header has 3; fill in the missing fields (even "
        "an empty one needs its separator ',')"
    )
    # Rows may leave out the unnamed columns of a header's trailing separator.
    lines = _text(_table())
    lines[0] += ","
    path.write_text("\n".join(lines) + "\n")
    assert list(datasets.load_csv(path, target="outcome").features.columns) == ["age", "region"]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ('31,"west,1', "line 12 of {path} opens a quote that never closes"),
        ('31,west,"1', "line 12 of {path} opens a quote that never closes"),
        ('31,"west,1\n32,north,0\n33,"east,1', "line 12 of {path} opens a quote that closes only"),
    ],
    ids=["in-a-middle-field", "in-the-target", "closed-by-a-later-quote"],
)
def test_a_stray_quote_is_named_not_an_empty_target(tmp_path: Path, row: str, message: str) -> None:
    lines = _text(_table())
    lines[11] = row
    path = tmp_path / "data.csv"
    path.write_text("\n".join(lines) + "\n")
    err = refusal(path)
    assert message.format(path=path) in err.message and "quote" in err.message
    assert "empty value" not in err.message


def test_a_quoted_value_spanning_lines_at_the_end_still_trains(tmp_path: Path) -> None:
    columns = {"note": [f'"a, {i}\nb"' for i in range(30)], **_table()}
    path = write_csv(tmp_path / "data.csv", columns)
    loaded = datasets.load_csv(path, target="outcome", categorical=["note"])
    assert loaded.features["note"].tolist()[0] == "a, 0 b"  # read as categories are


def test_long_cells_are_read_up_to_the_documented_limit(tmp_path: Path) -> None:
    cells = ["x" * 140_000 if i == 3 else f"t{i % 3}" for i in range(30)]
    loaded = datasets.load_csv(csv_with(tmp_path, "note", cells), target="outcome")
    assert len(loaded.features["note"][3]) == 140_000
    cells[3] = "x" * (datasets.MAX_CELL_CHARS + 1)
    path = csv_with(tmp_path, "note", cells)
    err = refusal(path)
    assert err.message == (
        f"line 5 of {path} has a value of 10,000,001 characters in 'note'; values are limited "
        "to 10,000,000 characters: shorten it or delete the column"
    )


@pytest.mark.parametrize(
    ("header_sep", "rows_sep", "refused"),
    [(False, True, None), (True, True, None), (True, False, None), (False, "line 9", "line 9")],
)
def test_trailing_separators_are_dropped_where_every_row_has_one(
    tmp_path: Path, header_sep: bool, rows_sep: bool | str, refused: str | None
) -> None:
    lines = _text(_table())
    lines[0] += "," if header_sep else ""
    for i in range(1, len(lines)):
        if rows_sep is True or (rows_sep == "line 9" and i == 8):
            lines[i] += ","
    path = tmp_path / "data.csv"
    path.write_text("\n".join(lines) + "\n")
    if refused:
        err = refusal(path)
        assert err.message.startswith(f"line 9 of {path} has 4 fields but the header has 3")
        assert "its last 1 field(s) are empty: delete the separator(s) ending the line" in (
            err.message
        )
        return
    loaded = datasets.load_csv(path, target="outcome")
    assert list(loaded.features.columns) == ["age", "region"] and len(loaded.y) == 30


@st.composite
def faulty_files(draw: Any) -> tuple[str, int | None, str]:
    """A clean 30-row table, then one structural fault at a drawn row: `(text, CSV line the
    refusal names or None when the file trains, words the message holds)`."""
    columns = _table()
    lines = _text(columns)
    sep_all = draw(st.booleans())
    fault = draw(st.sampled_from(["none", "short", "long", "quote", "trailing"]))
    row = draw(st.integers(1, len(lines) - 1))
    if fault == "short":
        lines[row] = lines[row].rsplit(",", 1)[0]
        expected: tuple[int | None, str] = (row + 1, "fill in the missing fields")
    elif fault == "long":
        lines[row] += ",x"
        expected = (row + 1, "quote values that contain the separator")
    elif fault == "quote":
        cells = lines[row].split(",")
        j = draw(st.integers(0, 2))
        cells[j] = '"' + cells[j]
        lines[row] = ",".join(cells)
        expected = (row + 1, "quote")
    elif fault == "trailing":
        lines[row] += ","
        expected = (row + 1, "delete the separator(s) ending the line")
    else:
        expected = (None, "")
    if sep_all and fault in ("none", "short"):  # every row ends with a separator: dropped
        lines = [lines[0]] + [ln + "," for ln in lines[1:]]
    return "\n".join(lines) + "\n", *expected


@settings(
    max_examples=80,
    deadline=2000,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(case=faulty_files())
def test_structural_faults_train_unchanged_or_are_refused_at_their_line(
    tmp_path: Path, case: tuple[str, int | None, str]
) -> None:
    text, line, words = case
    path = tmp_path / "data.csv"
    path.write_text(text)
    if line is None:
        loaded = datasets.load_csv(path, target="outcome")
        assert loaded.features["age"].tolist() == [float(20 + i) for i in range(30)]
        assert loaded.y.tolist() == [i % 2 for i in range(30)]
        return
    err = refusal(path)
    assert err.code == "invalid_data", err.message
    assert f"line {line} of" in err.message or f"lines {line}-" in err.message, err.message
    assert words in err.message and "empty value" not in err.message


# -- 4. units: a bare number beside a `%` is ambiguous; beside a currency it is not ------
@pytest.mark.parametrize(
    ("cells", "unit", "values"),
    [
        (["12%", "3.5%", "0"], "%", [12, 3.5, 0]),  # zero is zero in either reading
        (["$5", "5", "$1,200"], "$", [5, 5, 1200]),  # a currency labels, never scales
        (["USD 5", "7", "USD 1"], "USD", [5, 7, 1]),
    ],
)
def test_bare_numbers_beside_a_currency_are_in_that_currency(
    tmp_path: Path, cells: list[str], unit: str, values: list[float]
) -> None:
    loaded = datasets.load_csv(
        csv_with(tmp_path, "x", [f'"{c}"' for c in cells] * 10), target="outcome"
    )
    assert loaded.formats["x"]["unit"] == unit
    assert loaded.features["x"].tolist()[:3] == values


def test_bare_numbers_beside_percentages_are_refused_with_both_readings(tmp_path: Path) -> None:
    err = refusal(csv_with(tmp_path, "rate", ["12%", "0.12"] * 15))
    assert err.code == "looks_numeric"
    assert err.message == (
        "column 'rate' mixes numbers with '%' (e.g. '12%', CSV lines 2, 4, 6 ...) and without "
        "(e.g. '0.12', CSV lines 3, 5, 7 ...): '0.12' may mean 0.12% or the fraction 12%; "
        "write every value with '%' or none"
    )


# -- 5. header names are read as people read them -----------------------------------------
def test_header_names_are_nfc_so_composed_and_decomposed_are_one_name(tmp_path: Path) -> None:
    composed, decomposed = "R\u00e9gion", "Re\u0301gion"
    path = tmp_path / "data.csv"
    path.write_text(f"age,{composed},{decomposed},outcome\n" + "1,a,b,0\n2,b,a,1\n")
    err = refusal(path)
    assert err.code == "duplicate_column"
    assert f"column name {composed!r} twice (columns 2 and 3)" in err.message
    path = csv_with(tmp_path, decomposed, ["a", "b", "c"] * 10)
    loaded = datasets.load_csv(path, target="outcome", categorical=[decomposed])
    assert list(loaded.features.columns) == ["age", composed]
    assert unicodedata.is_normalized("NFC", loaded.features.columns[1])


# -- 6. names the API reads itself ---------------------------------------------------------
def test_a_feature_named_instances_is_refused_as_reserved(tmp_path: Path) -> None:
    err = refusal(csv_with(tmp_path, "instances", ["east", "west"] * 15))
    assert err.code == "invalid_header"
    assert "column 'instances' of" in err.message and "reserved by the API" in err.message
    assert '{"instances": [...]}' in err.message and "rename the column" in err.message


# -- the CLI: every one of these is one stderr line and exit 2 -----------------------------
def _files(tmp_path: Path) -> dict[str, list[str]]:
    good = csv_with(tmp_path, "region", ["east", "west"] * 15)
    lines = _text(_table())
    lines[11] = '54,"east,1'
    quote = tmp_path / "quote.csv"
    quote.write_text("\n".join(lines) + "\n")
    deep = tmp_path / "deep.json"
    deep.write_text('{"features":' + "[" * 100_000)
    big = tmp_path / "big.json"
    big.write_text('{"features": {"age": {"type": "numeric", "min": ' + "9" * 5000 + "}}}")
    boolean = tmp_path / "bool.json"
    boolean.write_text('{"features": {"age": {"type": "numeric", "nullable": "false"}}}')
    (tmp_path / "pct").mkdir()
    pct = csv_with(tmp_path / "pct", "rate", ["12%", "0.12"] * 15)
    return {
        "quote": ["--data", str(quote)],
        "deep": ["--data", str(good), "--schema", str(deep)],
        "big": ["--data", str(good), "--schema", str(big)],
        "bool": ["--data", str(good), "--schema", str(boolean)],
        "pct": ["--data", str(pct)],
    }


def test_cli_refuses_each_fault_in_one_line_with_exit_2(tmp_path: Path) -> None:
    expected = {
        "quote": "line 12 of",
        "deep": "is nested too deeply",
        "big": "more than 4,300 digits",
        "bool": 'features.age.nullable must be true or false, got "false"',
        "pct": "may mean 0.12% or the fraction 12%",
    }
    env = subprocess_env(tmp_path / "home")
    for key, args in _files(tmp_path).items():
        r = subprocess.run(
            [PYTHON, "-m", "selfheal", "train", *args, "--target", "outcome"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1, (key, r.stderr[-2000:])
        assert lines[0].startswith("selfheal: error: ") and expected[key] in lines[0], lines
        assert "unexpected" not in lines[0] and "Traceback" not in r.stderr
