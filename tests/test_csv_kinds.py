"""Training CSVs as people write them (issue 10): each kind of fault trains with the types a
person expects, or is refused before fitting with one line naming the column and the fix.
The same value rules hold when the served model validates a live record."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from selfheal import datasets
from selfheal.errors import DataError
from selfheal.home import Home, train_version
from selfheal.schema import CATEGORICAL, NUMERIC, FeatureSchema, infer_schema
from selfheal.values import parse_number
from tests.conftest import PYTHON, ROOT, subprocess_env

N = 120


def _rows(n: int = N, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    score = rng.integers(300, 850, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(650 - score) / 60))).astype(int)
    return age, score, y


def write_csv(path: Path, columns: dict[str, list[str]], *, sep: str = ",", **kw: Any) -> Path:
    """`columns` of cell texts (already quoted where wanted) -> a CSV file."""
    names = list(columns)
    n = len(columns[names[0]])
    lines = [sep.join(names)] + [sep.join(columns[c][i] for c in names) for i in range(n)]
    text = "\n".join(lines) + "\n"
    path.write_bytes(
        (("\ufeff" if kw.get("bom") else "") + text).encode(kw.get("encoding", "utf-8"))
    )
    return path


def csv_with(tmp_path: Path, name: str, cells: list[str], **kw: Any) -> Path:
    age, _, y = _rows(len(cells))
    return write_csv(
        tmp_path / "data.csv",
        {"age": [str(a) for a in age], name: cells, "outcome": [str(v) for v in y]},
        **kw,
    )


def refusal(path: Path, **kw: Any) -> DataError:
    with pytest.raises(DataError) as err:
        datasets.load_csv(path, target="outcome", **kw)
    assert "\n" not in err.value.message
    return err.value


# -- numbers written for people ----------------------------------------------------------
@pytest.mark.parametrize(
    ("cells", "sep", "values", "decimal", "unit"),
    [
        (['"55,544.44"', '"1,234"', "12"], ",", [55544.44, 1234, 12], ".", None),
        (["1.234,5", "12,5", "7"], ";", [1234.5, 12.5, 7], ",", None),
        (["1 234,5", "2 000,25", "3"], ";", [1234.5, 2000.25, 3], ",", None),
        (["1,234", "2,5", "3"], ";", [1.234, 2.5, 3], ",", None),
        (["1,234", "2,000", "3"], ";", [1.234, 2.0, 3], ",", None),
        (['"$1,200.50"', "$-3", "-$4"], ",", [1200.5, -3, -4], ".", "$"),
        (['"1.234,50 €"', "€ 2", "3"], ";", [1234.5, 2, 3], ",", "€"),
        (["12.5%", "3%", "0"], ",", [12.5, 3, 0], ".", "%"),
        (["1.5e3", "2E-4", "+3"], ",", [1500, 0.0002, 3], ".", None),
        (['"(1,234.50)"', "(5)", "6"], ",", [-1234.5, -5, 6], ".", None),
        (["1'234.5", "USD 5", "7"], ",", [1234.5, 5, 7], ".", "USD"),
        (['"12,5"', '"1,25"', "3"], ",", [12.5, 1.25, 3], ",", None),  # only ',' reads them
    ],
)
def test_numbers_written_for_people_are_numeric(
    tmp_path: Path,
    cells: list[str],
    sep: str,
    values: list[float],
    decimal: str,
    unit: str | None,
) -> None:
    cells = (cells * 10)[:30]
    path = csv_with(tmp_path, "amount", cells, sep=sep)
    loaded = datasets.load_csv(path, target="outcome")
    assert loaded.features["amount"].tolist()[:3] == pytest.approx(values)
    assert loaded.formats["amount"] == {"decimal": decimal, "unit": unit}
    schema = infer_schema(loaded.features, target="outcome", formats=loaded.formats)
    assert (schema["amount"].kind, schema["amount"].decimal, schema["amount"].unit) == (
        NUMERIC,
        decimal,
        unit,
    )


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        (["1,234.5", "1.234,5", "3"], "mixes decimal marks"),
        (["$5", "€5", "3"], "mixes the units '$' (CSV lines 2, 5, 8 ...) and '€'"),
        ([*[str(i) for i in range(1, 28)], "12abc", "inf", "5-"], "looks numeric (27 of 30"),
        ([*[str(i) for i in range(1, 29)], "1,23,456", "7"], "looks numeric (29 of 30"),
    ],
)
def test_almost_numbers_are_refused_as_looks_numeric(
    tmp_path: Path, cells: list[str], message: str
) -> None:
    cells = (cells * 10)[:30] if len(cells) < 30 else cells
    err = refusal(csv_with(tmp_path, "amount", [f'"{c}"' for c in cells]))
    assert err.code == "looks_numeric" and "'amount'" in err.message and message in err.message


def test_looks_numeric_names_the_fix_and_categorical_overrides_it(tmp_path: Path) -> None:
    cells = [str(i % 9 + 1) for i in range(29)] + ["XL"]
    path = csv_with(tmp_path, "size", cells)
    err = refusal(path)
    assert "'XL' (CSV line 31)" in err.message and "--categorical size" in err.message
    loaded = datasets.load_csv(path, target="outcome", categorical=["size"])
    assert loaded.features["size"].tolist()[-2:] == ["2", "XL"]


def test_text_with_one_value_per_row_trains_with_a_warning(tmp_path: Path) -> None:
    loaded = datasets.load_csv(
        csv_with(tmp_path, "customer", [f"C{i:04d}" for i in range(40)]), target="outcome"
    )
    assert loaded.notes and "'customer'" in loaded.notes[0] and "40 distinct" in loaded.notes[0]


# -- the header ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "code", "message"),
    [
        ("age,income,score,income,outcome", "duplicate_column", "'income' twice (columns 2 and 4)"),
        ("age,income,score, income ,outcome", "duplicate_column", "'income' twice"),
        ("age,income,,score,outcome", "invalid_header", "column 3 of"),
    ],
)
def test_header_is_checked_as_written(tmp_path: Path, header: str, code: str, message: str) -> None:
    path = tmp_path / "data.csv"
    path.write_text(header + "\n" + "".join(f"{i},{i},{i},{i},{i % 2}\n" for i in range(20)))
    err = refusal(path)
    assert err.code == code and message in err.message


@pytest.mark.parametrize(
    "raw",
    [
        b"sep=;\nage;x;outcome\n" + b"".join(b"%d;%d,5;%d\n" % (i, i, i % 2) for i in range(30)),
        b"age,x,outcome\r" + b"".join(b"%d,%d.5,%d\r" % (i, i, i % 2) for i in range(30)),
        b"age,x,outcome,,\r\n" + b"".join(b"%d,%d.5,%d,,\r\n" % (i, i, i % 2) for i in range(30)),
        b"age,x,outcome\n\n" + b"".join(b"%d,%d.5,%d\n\n" % (i, i, i % 2) for i in range(30)),
    ],
    ids=["excel-sep-line", "cr-line-ends", "trailing-separators", "blank-lines"],
)
def test_spreadsheet_dialects_are_read(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(raw)
    loaded = datasets.load_csv(path, target="outcome")
    assert list(loaded.features.columns) == ["age", "x"]
    assert loaded.features["x"].tolist()[:2] == [0.5, 1.5] and len(loaded.y) == 30


def test_a_row_with_more_fields_than_the_header_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("age,income,outcome\n1,2,0\n3,55,544.44,1\n")
    err = refusal(path)
    assert "line 3 of" in err.message and "has 4 fields but the header has 3" in err.message
    assert "quote values that contain the separator ','" in err.message


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("age;outcome\n1;é\n".encode("latin-1"), "not UTF-8 text (byte 0xe9 on line 2"),
        (b"age,outcome\n1,\x000\n", "NUL bytes"),
        (b"", "no header row"),
    ],
)
def test_undecodable_files_are_refused(tmp_path: Path, raw: bytes, message: str) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(raw)
    assert message in refusal(path).message


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_bom_and_utf16_files_are_read(tmp_path: Path, encoding: str) -> None:
    path = csv_with(tmp_path, "city", ["Zürich", "Genève"] * 15, bom=True, encoding=encoding)
    loaded = datasets.load_csv(path, target="outcome")
    assert list(loaded.features.columns) == ["age", "city"]
    assert loaded.features["city"].tolist()[:2] == ["Zürich", "Genève"]


# -- empty, constant, boolean and code columns --------------------------------------------
@pytest.mark.parametrize("marker", ["", "NA", "n/a", "null", "?", "-", "None", '""'])
def test_an_all_empty_column_is_refused_before_fitting(tmp_path: Path, marker: str) -> None:
    err = refusal(csv_with(tmp_path, "notes", [marker] * 30))
    assert err.code == "empty_column" and "'notes' is empty in every row" in err.message


@pytest.mark.parametrize(
    ("cells", "shown"),
    [(["Y"] * 30, "'Y'"), (["Y", ""] * 15, "'Y'"), (["3.0", "3", "+3"] * 10, "3")],
)
def test_a_constant_column_is_refused_with_the_gates_rule(
    tmp_path: Path, cells: list[str], shown: str
) -> None:
    from selfheal.gates import data_quality_gate

    err = refusal(csv_with(tmp_path, "branch_flag", cells))
    assert err.code == "constant_column"
    assert f"'branch_flag' holds the single value {shown}" in err.message
    # The same column is what the retrain gate calls constant.
    column = datasets.read_csv(tmp_path / "data.csv")[["branch_flag"]]
    numbers = column["branch_flag"].map(lambda v: parse_number(v) if v else None)
    if numbers.notna().all():  # live records hold the numbers, as training does
        column = numbers.map(lambda p: p[0]).to_frame()
    gate = data_quality_gate(column, np.r_[[0, 1] * 15])
    assert gate.values["constant_columns"] == ["branch_flag"]


@pytest.mark.parametrize(
    ("cells", "levels"),
    [
        (["True", "False", ""], ("False", "True")),
        (["true", "FALSE", "NA"], ("False", "True")),
        (["yes", "no", ""], ("no", "yes")),
        (["Y", "N", "?"], ("N", "Y")),
    ],
)
def test_booleans_with_gaps_are_nullable_categoricals(
    tmp_path: Path, cells: list[str], levels: tuple[str, ...]
) -> None:
    loaded = datasets.load_csv(
        csv_with(tmp_path, "is_homeowner", (cells * 10)[:30]), target="outcome"
    )
    f = infer_schema(loaded.features, target="outcome")["is_homeowner"]
    assert (f.kind, f.levels, f.nullable) == (CATEGORICAL, levels, True)
    assert loaded.features["is_homeowner"].isna().sum() == 10
    # A live record may send the level, or the JSON boolean meaning it.
    schema = FeatureSchema(features=(f,))
    for sent, got in [(levels[1], levels[1]), (True, levels[1]), (False, levels[0])]:
        valid, problems = schema.validate_record({"is_homeowner": sent})
        assert problems == [] and valid is not None and valid.values == (got,)


@pytest.mark.parametrize("quoted", [False, True])
def test_declared_or_flagged_codes_are_categories(tmp_path: Path, quoted: bool) -> None:
    codes = [str(i % 5 + 1) for i in range(30)]
    path = csv_with(tmp_path, "region_code", [f'"{c}"' if quoted else c for c in codes])
    declared = FeatureSchema.from_dict({"features": {"region_code": {"type": "categorical"}}})
    for kw in ({"schema": declared}, {"categorical": ["region_code"]}):
        loaded = datasets.load_csv(path, target="outcome", **kw)  # type: ignore[arg-type]
        schema = infer_schema(
            loaded.features,
            target="outcome",
            declared=kw.get("schema"),  # type: ignore[arg-type]
            names=list(loaded.features.columns),
        )
        assert schema.names == ["age", "region_code"]  # the undeclared column is inferred
        f = schema["region_code"]
        assert (f.kind, f.levels) == (CATEGORICAL, ("1", "2", "3", "4", "5"))
        for sent in ("3", 3, 3.0, " 3 "):
            valid, problems = schema.validate_record({"age": 40, "region_code": sent})
            assert problems == [] and valid is not None and valid.values == (40.0, "3")


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"categorical": ["outcome"]}, "names the target"),
        ({"categorical": ["nope"]}, "'nope' is not a column"),
    ],
)
def test_bad_categorical_flags_are_explained(
    tmp_path: Path, kw: dict[str, Any], message: str
) -> None:
    err = refusal(csv_with(tmp_path, "x", [str(i) for i in range(30)]), **kw)
    assert err.code == "invalid_arguments" and message in err.message


@pytest.mark.parametrize("big", ["1e300", "-2.5e101", "(1e200)"])
def test_numbers_too_large_to_standardise_are_refused(tmp_path: Path, big: str) -> None:
    err = refusal(csv_with(tmp_path, "x", [big] + [str(i) for i in range(29)]))
    assert err.code == "invalid_data" and "'x' has 1 value(s) beyond +-1e+100" in err.message
    assert "(CSV line 2)" in err.message and "rescale" in err.message


def test_declared_numeric_with_text_is_refused(tmp_path: Path) -> None:
    declared = FeatureSchema.from_dict({"features": {"x": {"type": "numeric"}}})
    err = refusal(csv_with(tmp_path, "x", ["1", "two", "3"] * 10), schema=declared)
    assert err.code == "looks_numeric" and "'x' is declared numeric" in err.message


# -- serving reads values with the same rules ----------------------------------------------
@pytest.fixture
def csv_client(tmp_path: Path, trained_home: Home) -> Iterator[Any]:
    """A served model trained (and promoted) on a CSV with incomes written for people."""
    from selfheal.service import Service
    from selfheal.web import create_app

    age, score, y = _rows(600, seed=3)
    income = np.random.default_rng(3).lognormal(np.log(52_000), 0.4, 600)
    path = write_csv(
        tmp_path / "loans.csv",
        {
            "age": [str(a) for a in age],
            "income": [f'"{v:,.2f}"' for v in income],
            "score": [str(s) for s in score],
            "outcome": [str(v) for v in y],
        },
    )
    trained = train_version(trained_home, data=path, target="outcome", promote=True, force=True)
    assert trained.schema["income"].kind == NUMERIC
    svc = Service(trained_home.settings.replace(model_poll_seconds=0.05))
    svc.start(monitor=False)
    yield create_app(svc).test_client()
    svc.stop()


def test_served_model_scores_numbers_as_training_read_them(csv_client: Any) -> None:
    answers = []
    for income in (52000.0, 52000, "52,000.00", " 52,000 ", "52000"):
        resp = csv_client.post(
            "/predict",
            data=json.dumps({"age": 40, "income": income, "score": 640}),
            content_type="application/json",
        )
        assert resp.status_code == 200, resp.get_data(as_text=True)
        body = resp.get_json()
        answers.append((body["probability"], body["out_of_range"]))
    assert len(set(map(str, answers))) == 1 and answers[0][1] == []
    huge = csv_client.post(
        "/predict",
        data=json.dumps({"age": 40, "income": "1e300", "score": 640}),
        content_type="application/json",
    )
    assert huge.status_code == 200 and huge.get_json()["out_of_range"] == ["income"]
    bad = csv_client.post(
        "/predict",
        data=json.dumps({"age": 40, "income": "lots", "score": 640}),
        content_type="application/json",
    )
    assert bad.status_code == 422
    assert bad.get_json()["error"]["details"][0]["problem"] == "wrong_type"


# -- the CLI: refusals are one line, exit 2; train prints the features ----------------------
def test_cli_train_prints_features_and_refuses_with_one_line(tmp_path: Path) -> None:
    age, score, y = _rows(300, seed=5)
    good = write_csv(
        tmp_path / "good.csv",
        {
            "age": [str(a) for a in age],
            "score": [f'"{s:,}"' for s in score * 10],
            "region_code": [str(i % 5 + 1) for i in range(300)],
            "is_homeowner": ["" if i % 25 == 0 else ("True", "False")[i % 2] for i in range(300)],
            "outcome": [str(v) for v in y],
        },
    )
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"features": {"age": {"type": "numeric", "min": 18}}}))
    env = subprocess_env(tmp_path / "home")
    run = [PYTHON, "-m", "selfheal", "train", "--data", str(good), "--target", "outcome"]
    r = subprocess.run(
        [*run, "--schema", str(schema), "--categorical", "region_code"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    tail = r.stdout.split("features (4):\n", 1)[1].splitlines()
    assert [line.split()[:3] for line in tail] == [
        ["age", "numeric", "required"],
        ["score", "numeric", "required"],
        ["region_code", "categorical", "required"],
        ["is_homeowner", "categorical", "nullable"],
    ]
    assert "hard bounds [18, -]" in tail[0] and "no hard bounds" in tail[1]
    assert "5 seen level(s): 1, 2, 3, 4, 5" in tail[2] and "False, True" in tail[3]

    bad = write_csv(
        tmp_path / "bad.csv", {"age": ["1", "2"], "notes": ["", ""], "outcome": ["0", "1"]}
    )
    r = subprocess.run(
        [*run[:5], str(bad), "--target", "outcome"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        "selfheal: error: column 'notes' is empty in every row; delete the column (a model "
        "cannot learn from it)"
    ]


# -- property: any generated CSV trains with the expected types or is refused in one line --
def _comma(text: str) -> str:
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


_FORMATS = {
    "plain": lambda x: f"{x:.2f}",
    "thousands": lambda x: f"{x:,.2f}",
    "currency": lambda x: f"${x:,.2f}",
    "euro": lambda x: _comma(f"{x:,.2f}") + " €",
    "decimal comma": lambda x: _comma(f"{x:,.2f}"),
    "spaced comma": lambda x: _comma(f"{x:,.2f}").replace(".", "\u00a0"),
    "percent": lambda x: f"{x:.1f}%",
    "scientific": lambda x: f"{x:.3e}",
    "plus": lambda x: f"+{x:.1f}",
    "accounting": lambda x: f"({x:,.2f})",
}
_SIGN = {"accounting": -1.0}
_MISSING = ["", "NA", "N/A", "null", "?", "-", "nan", "NULL", "None", "#N/A"]
_KINDS = ["number"] * 4 + ["boolean", "boolean", "text", "code", "empty", "constant", "almost"]
Generated = tuple[bytes, dict[str, str], dict[str, list[float | None]], list[str]]


@st.composite
def csv_files(draw: Any) -> Generated:
    """A CSV with a target and 1-4 features of known kinds, in a drawn dialect: separator,
    quoting, padding, BOM, encoding, missing markers, and sometimes a faulty header."""
    n = draw(st.integers(30, 60))
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    kinds = draw(st.lists(st.sampled_from(_KINDS), min_size=1, max_size=4))
    columns: dict[str, list[str]] = {}
    expected: dict[str, str] = {}
    numbers: dict[str, list[float | None]] = {}
    categorical: list[str] = []
    for j, kind in enumerate(kinds):
        name = f"f{j}"
        gaps = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        marker = draw(st.sampled_from(_MISSING))
        if kind == "almost":  # numbers but for one typo: refused, never a category
            bad = draw(st.sampled_from(["12abc", "inf", "5-", "1,23,456", "0x1F", "n.a."]))
            cells = [str(i * 3 + 1) for i in range(n)]
            cells[draw(st.integers(0, n - 1))] = bad
            expected[name] = "looks_numeric"
        elif kind == "number":
            fmt = draw(st.sampled_from(sorted(_FORMATS)))
            xs = draw(
                st.lists(
                    st.integers(0, 10**8).map(lambda v: v / 10),
                    min_size=n,
                    max_size=n,
                    unique=True,
                )
            )
            gaps[:2] = [False, False]  # at least two distinct values
            cells = [marker if g else _FORMATS[fmt](x) for g, x in zip(gaps, xs, strict=True)]
            sign = _SIGN.get(fmt, 1.0)
            numbers[name] = [None if g else sign * x for g, x in zip(gaps, xs, strict=True)]
            expected[name] = NUMERIC
        elif kind in ("boolean", "text", "code"):
            words = {
                "boolean": draw(st.sampled_from([("True", "False"), ("yes", "no"), ("Y", "N")])),
                "text": ("north", "Zürich", "south-east"),
                "code": ("1", "2", "3", "4", "5"),
            }[kind]
            gaps[: len(words)] = [False] * len(words)
            cells = [marker if g else words[i % len(words)] for i, g in enumerate(gaps)]
            expected[name] = CATEGORICAL
            if kind == "code":
                categorical.append(name)
        elif kind == "empty":
            cells = [marker] * n
            expected[name] = "empty_column"
        else:
            cells = [marker if g else "Y" for g in gaps]
            cells[0] = "Y"
            expected[name] = "constant_column"
        if draw(st.booleans()):
            cells = [f" {c} " if c else c for c in cells]  # spaces around values
        columns[name] = cells
    columns["outcome"] = [str(i % 2) for i in range(n)]
    header = list(columns)
    fault = draw(st.sampled_from(["none", "none", "none", "duplicate", "blank"]))
    if fault == "duplicate" and len(kinds) > 1:
        header[1] = header[0]
        expected = {"header": "duplicate_column"}
    elif fault == "blank" and kinds[0] != "empty":  # an unnamed empty column is dropped
        header[0] = ""
        expected = {"header": "invalid_header"}
    out = io.StringIO()
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    writer = csv.writer(out, delimiter=sep, quoting=quoting, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(zip(*columns.values(), strict=True))
    text = ("\ufeff" if draw(st.booleans()) else "") + out.getvalue()
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "latin-1"]))
    if encoding == "latin-1" and any(ord(ch) > 127 for ch in text):
        text = text.replace("\ufeff", "").replace("€", "EUR")
        if any(ord(ch) > 127 for ch in text):  # Latin-1 bytes that are not UTF-8
            expected = {"encoding": "invalid_data"}
    return text.encode(encoding), expected, numbers, categorical


@settings(
    max_examples=150,
    deadline=2000,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=csv_files())
def test_generated_csvs_train_with_expected_types_or_one_line_refusal(
    tmp_path: Path, data: Generated
) -> None:
    raw, expected, numbers, categorical = data
    path = tmp_path / "gen.csv"
    path.write_bytes(raw)
    refused = {c: k for c, k in expected.items() if k not in (NUMERIC, CATEGORICAL)}
    try:
        loaded = datasets.load_csv(path, target="outcome", categorical=categorical)
    except DataError as exc:
        event(f"refused: {exc.code}")
        assert refused, exc.message
        assert "\n" not in exc.message
        first = next(iter(refused))
        assert exc.code == refused[first], exc.message
        if first.startswith("f"):
            assert f"column {first!r}" in exc.message
        return
    event(f"trained: {sorted(set(expected.values()))}")
    assert not refused
    schema = infer_schema(
        loaded.features,
        target="outcome",
        names=list(loaded.features.columns),
        formats=loaded.formats,
    )
    assert {f.name: f.kind for f in schema.features} == expected
    for name, xs in numbers.items():
        got = loaded.features[name].tolist()
        assert len(got) == len(xs)
        for g, x in zip(got, xs, strict=True):
            assert (math.isnan(g) and x is None) or g == pytest.approx(x, rel=1e-3, abs=1e-9)
        # A live record carrying one of the CSV's cells is read to the same number.
        cells = datasets.read_csv(path)[name].tolist()
        cell = next(c for c, x in zip(cells, xs, strict=True) if x is not None)
        f = schema[name]
        valid, problems = FeatureSchema(features=(f,)).validate_record({name: cell})
        assert problems == [] and valid is not None
        assert valid.values[0] == pytest.approx(next(x for x in xs if x is not None), rel=1e-3)


@given(x=st.floats(-1e9, 1e9, allow_nan=False), dec=st.sampled_from([".", ","]))
@settings(max_examples=200, deadline=500, derandomize=True)
def test_number_formats_round_trip(x: float, dec: str) -> None:
    plain = f"{x:,.2f}"
    if dec == ",":
        plain = plain.replace(",", " ").replace(".", ",")
    got = parse_number(plain, dec)
    assert got is not None and got[0] == pytest.approx(round(x, 2), abs=0.006)
    assert parse_number(f"({abs(x):.2f})", ".") == (pytest.approx(-round(abs(x), 2)), None)


def test_load_frame_keeps_rows_aligned_for_a_sliced_typed_frame() -> None:
    import pandas as pd

    frame = pd.DataFrame(
        {
            "x": np.arange(40, dtype=float),
            "flag": [True, False] * 20,
            "code": [1, 2, 3, 4] * 10,
            "city": ["a", "b", "c", "d"] * 10,
            "t": [0, 1] * 20,
        }
    ).iloc[7:]
    loaded = datasets.load_frame(frame, target="t", categorical=["code"])
    assert loaded.features["x"].tolist() == list(np.arange(7, 40, dtype=float))
    assert loaded.features["flag"].tolist()[:2] == ["False", "True"]
    assert loaded.features["code"].tolist()[:2] == ["4", "1"]
    assert loaded.features["city"].tolist()[:2] == ["d", "a"]
    assert loaded.y.tolist()[:2] == [1, 0]


def test_a_retrain_keeps_the_number_format_of_its_champion() -> None:
    import pandas as pd

    from selfheal.schema import Feature

    champion = FeatureSchema(features=(Feature("price", NUMERIC, decimal=",", unit="€"),))
    again = infer_schema(pd.DataFrame({"price": [1.5, 2.5]}), target="y", declared=champion)
    assert (again["price"].decimal, again["price"].unit) == (",", "€")
    assert FeatureSchema.from_dict(again.to_dict()) == again
    valid, problems = again.validate_record({"price": "1.234,5 €"})
    assert problems == [] and valid is not None and valid.values == (1234.5,)
    _, problems = again.validate_record({"price": "$5"})
    assert [(p["field"], p["problem"]) for p in problems] == [("price", "wrong_type")]
    assert "trained on values in '€'" in problems[0]["message"]


def test_categorical_flag_needs_data(trained_home: Home) -> None:
    with pytest.raises(DataError, match="need --data CSV") as err:
        train_version(trained_home, categorical=["x"])
    assert err.value.code == "invalid_arguments"


def test_a_partial_schema_for_synthetic_data_infers_the_rest(
    tmp_path: Path, trained_home: Home
) -> None:
    path = tmp_path / "schema.json"
    path.write_text(json.dumps({"features": {"age": {"type": "numeric", "min": 18}}}))
    trained = train_version(trained_home, schema_path=path, rows=600)
    assert trained.schema.names == list(datasets.FEATURES)
    assert (trained.schema["age"].min, trained.schema["income"].min) == (18, None)
    path.write_text(json.dumps({"features": {"colour": {"type": "categorical"}}}))
    with pytest.raises(DataError, match=r"\['colour'\] of the schema are not in the synthetic"):
        train_version(trained_home, schema_path=path, rows=600)


def test_messages_give_the_physical_csv_line(tmp_path: Path) -> None:
    # A cell spanning lines 2-3, a blank line 4, rows on lines 5-34, the bad value on 35.
    text = 'note,x,outcome\n"two\nlines",1,0\n\n'
    text += "".join(f"a,{i},{i % 2}\n" for i in range(30)) + "b,oops,1\n"
    path = tmp_path / "data.csv"
    path.write_text(text)
    err = refusal(path)
    assert err.code == "looks_numeric" and "'oops' (CSV line 35)" in err.message


def test_a_huge_string_for_a_number_is_refused_quickly() -> None:
    import time

    from selfheal.schema import Feature

    schema = FeatureSchema(features=(Feature("income", NUMERIC),))
    t0 = time.monotonic()
    _, problems = schema.validate_record({"income": "1" + " " * 200_000 + "x"})
    assert time.monotonic() - t0 < 0.5
    assert [p["problem"] for p in problems] == ["wrong_type"]
